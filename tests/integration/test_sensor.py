"""The agents' response sensors, fed by real conversations through HA's conversation API."""

from __future__ import annotations

from types import MappingProxyType

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL, EntityCategory
from homeassistant.core import Context, HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er, llm
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.jarvis.const import CONF_MAX_HISTORY, CONF_PREFER_LOCAL, DOMAIN

from .agent_helpers import KITCHEN_LIGHT, ask, async_setup_kitchen, speech
from .fake_ollama import FakeOllama, text_reply

LATENCY = "sensor.jarvis_response_latency"
DURATION = "sensor.jarvis_response_duration"
SPEED = "sensor.jarvis_generation_speed"


@pytest.fixture
def agent_options() -> dict[str, object]:
    """An agent that handles HA's own commands locally and the rest with the model."""
    return {
        CONF_MODEL: "llama3.2:latest",
        CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
        CONF_PREFER_LOCAL: True,
        CONF_MAX_HISTORY: 20,
    }


def subentry_of(entry: MockConfigEntry) -> str:
    (subentry_id,) = entry.subentries
    return subentry_id


async def test_sensors_registered_on_the_agent_device(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry
) -> None:
    sub_id = subentry_of(setup_jarvis)
    registry = er.async_get(hass)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, sub_id), setup_jarvis.entry_id
    )
    assert device is not None
    assert device.name == "Jarvis"
    assert device.model == "llama3.2:latest"
    assert device.entry_type is dr.DeviceEntryType.SERVICE

    for entity_id, key in ((LATENCY, "response_latency"), (SPEED, "tokens_per_second")):
        entry = registry.async_get(entity_id)
        assert entry is not None
        assert entry.unique_id == f"{sub_id}_{key}"
        assert entry.device_id == device.id
        assert entry.config_subentry_id == sub_id
        assert entry.entity_category is EntityCategory.DIAGNOSTIC
        assert entry.translation_key == key
        assert hass.states.get(entity_id).state == "unknown"

    # The total duration is for those who look for it: disabled by default.
    duration = registry.async_get(DURATION)
    assert duration is not None
    assert duration.disabled_by is er.RegistryEntryDisabler.INTEGRATION

    latency = hass.states.get(LATENCY)
    assert latency.attributes["device_class"] == "duration"
    assert latency.attributes["state_class"] == "measurement"
    assert latency.attributes["unit_of_measurement"] == "s"
    assert latency.attributes["friendly_name"] == "Jarvis Response latency"
    speed = hass.states.get(SPEED)
    assert speed.attributes["unit_of_measurement"] == "tokens/s"
    assert speed.attributes["state_class"] == "measurement"


async def test_sensors_follow_model_and_local_replies(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    # Enable the duration sensor as a user would, then reload so it is created.
    er.async_get(hass).async_update_entity(DURATION, disabled_by=None)
    await hass.config_entries.async_reload(setup_jarvis.entry_id)
    await hass.async_block_till_done()
    await async_setup_kitchen(hass)

    # 42 tokens generated in 0.5 s (the server's own figures): 84 tokens/s.
    fake_ollama.queue(text_reply("Paris is the capital of France.", delay=0.05))
    result = await ask(hass, "What is the capital of France?")
    assert speech(result) == "Paris is the capital of France."

    latency = float(hass.states.get(LATENCY).state)
    duration = float(hass.states.get(DURATION).state)
    assert 0.05 <= latency <= duration < 5
    assert float(hass.states.get(SPEED).state) == pytest.approx(84.0)

    # A command HA handles itself: new latency, and the model's speed stays on the dashboard.
    requests = len(fake_ollama.conversation_requests)
    result = await ask(hass, "turn on the kitchen light")
    assert hass.states.get(KITCHEN_LIGHT).state == "on"
    assert len(fake_ollama.conversation_requests) == requests  # no model involved
    assert float(hass.states.get(LATENCY).state) != latency
    assert float(hass.states.get(SPEED).state) == pytest.approx(84.0)


async def test_another_agents_reply_leaves_the_sensors_alone(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    butler = ConfigSubentry(
        data=MappingProxyType({CONF_MODEL: "qwen3:4b", CONF_PREFER_LOCAL: False}),
        subentry_type="conversation",
        title="Butler",
        unique_id=None,
    )
    hass.config_entries.async_add_subentry(setup_jarvis, butler)
    await hass.async_block_till_done()
    butler_agent = er.async_get(hass).async_get_entity_id(
        "conversation", DOMAIN, butler.subentry_id
    )
    assert butler_agent is not None

    fake_ollama.queue(text_reply("At your service."))
    await conversation.async_converse(
        hass, "Hello", None, Context(), language="en", agent_id=butler_agent
    )
    assert hass.states.get(LATENCY).state == "unknown"
    assert float(hass.states.get("sensor.butler_response_latency").state) > 0


async def test_last_figures_survive_a_restart(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(LATENCY, "0.42"),
                {"native_value": 0.42, "native_unit_of_measurement": "s"},
            ),
            (
                State(SPEED, "31.5"),
                {"native_value": 31.5, "native_unit_of_measurement": "tokens/s"},
            ),
        ],
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(LATENCY).state == "0.42"
    assert hass.states.get(SPEED).state == "31.5"
