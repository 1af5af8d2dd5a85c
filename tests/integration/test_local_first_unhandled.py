"""Local first leaves to the model what HA recognises but no integration handles here."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import CONF_PREFER_LOCAL

from .agent_helpers import KITCHEN_LIGHT, ask, async_setup_kitchen, speech, state_of
from .fake_ollama import FakeOllama, text_reply


@pytest.fixture
def agent_options(agent_options: dict[str, object]) -> dict[str, object]:
    """Local first on."""
    return {**agent_options, CONF_PREFER_LOCAL: True}


@pytest.mark.parametrize(
    ("language", "text", "answer"),
    [
        ("en", "what's the weather", "Sunny, 18 degrees."),
        ("fr", "quel temps fait-il", "Ensoleillé, 18 degrés."),
    ],
)
async def test_weather_without_a_weather_integration_goes_to_the_model(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    text: str,
    answer: str,
) -> None:
    """HA recognises the sentence (HassGetWeather) but nothing handles it: the model answers."""
    await async_setup_kitchen(hass)
    fake_ollama.queue(text_reply(answer))

    result = await ask(hass, text, language=language)

    assert speech(result) == answer
    assert "Unknown intent" not in speech(result)
    (request,) = fake_ollama.conversation_requests
    # The model gets the request alone: no trace of the intent HA could not run.
    assert request["messages"][1:] == [{"role": "user", "content": text}]


async def test_handled_intents_stay_local(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """The check only lets through intents nobody handles: a light command is still local."""
    await async_setup_kitchen(hass)
    fake_ollama.queue(text_reply("Sunny."))

    await ask(hass, "what's the weather")
    result = await ask(hass, "turn on the kitchen light")

    assert state_of(hass, KITCHEN_LIGHT) == "on"
    assert speech(result) == "Turned on the light"
    assert len(fake_ollama.conversation_requests) == 1  # the weather question only
