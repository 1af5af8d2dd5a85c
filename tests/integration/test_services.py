"""The `jarvis.ask` action: text in, Jarvis's reply out as response data."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import service, translation
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import DOMAIN

from .agent_helpers import KITCHEN_LIGHT, agent_id, async_setup_kitchen, satellite_in
from .fake_ollama import FakeOllama, text_reply, tool_call_reply


async def test_ask_returns_the_reply_and_keeps_the_conversation(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    fake_ollama.queue(text_reply("Which one, the red or the blue?"), text_reply("Blue it is."))

    first = await hass.services.async_call(
        DOMAIN, "ask", {"text": "Pick a colour"}, blocking=True, return_response=True
    )
    assert first is not None
    assert first["response"] == "Which one, the red or the blue?"
    assert first["continue_conversation"] is True
    assert first["error"] is False
    assert first["agent_id"] == agent_id(hass)

    second = await hass.services.async_call(
        DOMAIN,
        "ask",
        {"text": "Blue", "conversation_id": first["conversation_id"], "agent_id": agent_id(hass)},
        blocking=True,
        return_response=True,
    )
    assert second == {
        "response": "Blue it is.",
        "conversation_id": first["conversation_id"],
        "continue_conversation": False,
        "agent_id": agent_id(hass),
        "error": False,
    }
    assert len(fake_ollama.conversation_requests[1]["messages"]) == 4  # system + 3 turns


async def test_ask_from_a_device_targets_its_room(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """An automation can ask as if from a satellite: "the light" is the light of its room."""
    area = await async_setup_kitchen(hass)
    satellite = satellite_in(hass, setup_jarvis, area.id)
    fake_ollama.queue(
        tool_call_reply("intent__HassTurnOn", {"domain": ["light"]}), text_reply("Light on.")
    )

    reply = await hass.services.async_call(
        DOMAIN,
        "ask",
        {"text": "turn on the light", "device_id": satellite, "language": "en"},
        blocking=True,
        return_response=True,
    )
    assert reply is not None
    assert reply["response"] == "Light on."
    assert hass.states.get(KITCHEN_LIGHT).state == "on"  # type: ignore[union-attr]
    system = fake_ollama.conversation_requests[0]["messages"][0]["content"]
    assert "You are in area Kitchen" in system  # HA's Assist API, from the satellite's device


async def test_ask_errors(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "ask",
            {"text": "hi", "agent_id": "conversation.home_assistant"},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "agent_not_found"

    await hass.config_entries.async_unload(setup_jarvis.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "ask", {"text": "hi"}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "no_agent"


async def test_ask_exists_before_any_entry(hass: HomeAssistant) -> None:
    """Registered in async_setup (HA's rule for actions), so automations validate at start."""
    assert await async_setup_component(hass, DOMAIN, {})
    assert hass.services.has_service(DOMAIN, "ask")


async def test_ask_is_described_for_the_ui(hass: HomeAssistant) -> None:
    """services.yaml and its translations load as HA's action editor reads them."""
    assert await async_setup_component(hass, DOMAIN, {})
    ask = (await service.async_get_all_descriptions(hass))[DOMAIN]["ask"]
    fields = {"text", "agent_id", "conversation_id", "language", "device_id"}
    assert ask["fields"]["text"]["required"] is True
    assert set(ask["fields"]) == fields
    assert ask["response"] == {"optional": False}
    for language, title in (("en", "Ask Jarvis"), ("fr", "Demander à Jarvis")):
        strings = await translation.async_get_translations(hass, language, "services", [DOMAIN])
        assert strings[f"component.{DOMAIN}.services.ask.name"] == title
        for field in fields:
            assert strings[f"component.{DOMAIN}.services.ask.fields.{field}.name"]
            assert strings[f"component.{DOMAIN}.services.ask.fields.{field}.description"]
