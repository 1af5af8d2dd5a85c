"""The 'Ollama server reachable' binary sensor, following a real server going away and back."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.jarvis.const import DOMAIN

from .agent_helpers import ask, speech
from .fake_ollama import OLLAMA_VERSION, FakeOllama, text_reply


def reachable_id(fake_ollama: FakeOllama) -> str:
    return f"binary_sensor.ollama_127_0_0_1_{fake_ollama.port}_reachable"


async def test_reachable_sensor_on_the_server_device(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    entity_id = reachable_id(fake_ollama)
    state = hass.states.get(entity_id)
    assert state.state == "on"
    assert state.attributes["device_class"] == "connectivity"
    assert state.attributes["friendly_name"] == f"Ollama 127.0.0.1:{fake_ollama.port} Reachable"

    entry = er.async_get(hass).async_get(entity_id)
    assert entry is not None
    assert entry.unique_id == f"{setup_jarvis.entry_id}_server_reachable"
    assert entry.entity_category is EntityCategory.DIAGNOSTIC
    assert entry.config_subentry_id is None
    device = dr.async_get(hass).async_get(entry.device_id)
    assert device is not None
    assert device.identifiers == {(DOMAIN, setup_jarvis.entry_id)}
    assert device.manufacturer == "Ollama"
    assert device.model == "Ollama server"
    assert device.sw_version == OLLAMA_VERSION
    assert device.entry_type is dr.DeviceEntryType.SERVICE


async def test_off_not_unavailable_while_the_server_is_down(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    entity_id = reachable_id(fake_ollama)
    coordinator = setup_jarvis.runtime_data.coordinator

    await fake_ollama.stop()
    await coordinator.async_refresh()
    assert hass.states.get(entity_id).state == "off"

    await fake_ollama.start()
    await coordinator.async_refresh()
    assert hass.states.get(entity_id).state == "on"


async def test_names_in_french(
    hass: HomeAssistant, fake_ollama: FakeOllama, mock_config_entry: MockConfigEntry
) -> None:
    await hass.config.async_update(language="fr")
    assert await async_setup_component(hass, "conversation", {})
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    names = {
        state.attributes["friendly_name"]
        for state in hass.states.async_all()
        if state.entity_id.startswith(("binary_sensor.", "sensor."))
    }
    assert names == {
        f"Ollama 127.0.0.1:{fake_ollama.port} Joignable",
        "Jarvis Latence de réponse",
        "Jarvis Vitesse de génération",
    }


async def test_a_failed_chat_turns_it_off_at_once(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """The agent notices first; the sensor does not wait for the next poll to agree."""
    entity_id = reachable_id(fake_ollama)
    await fake_ollama.stop()
    await ask(hass, "What time is it in Tokyo?")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(entity_id).state == "off"

    await fake_ollama.start()
    fake_ollama.queue(text_reply("It is nine in the morning in Tokyo."))
    result = await ask(hass, "What time is it in Tokyo?")
    assert speech(result) == "It is nine in the morning in Tokyo."
    # Polls asked for by the agent are at most one per 10 s (HA's refresh debouncer).
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(entity_id).state == "on"


async def test_server_version_shows_once_the_server_answers(
    hass: HomeAssistant, fake_ollama: FakeOllama, mock_config_entry: MockConfigEntry
) -> None:
    await fake_ollama.stop()
    assert await async_setup_component(hass, "conversation", {})
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    devices = dr.async_get(hass)
    identifier = (DOMAIN, mock_config_entry.entry_id)
    device = devices.async_get_device_by_identifier(identifier, mock_config_entry.entry_id)
    assert device is not None
    assert device.sw_version is None

    await fake_ollama.start()
    await mock_config_entry.runtime_data.coordinator.async_refresh()
    device = devices.async_get_device_by_identifier(identifier, mock_config_entry.entry_id)
    assert device is not None
    assert device.sw_version == OLLAMA_VERSION
