"""Jarvis: a local-first voice assistant for Home Assistant, backed by Ollama."""

from __future__ import annotations

from homeassistant.const import CONF_URL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .chat_api import async_setup_chat_api
from .const import DOMAIN, LOGGER
from .coordinator import JarvisCoordinator
from .frontend_card import async_register_card
from .issues import async_clear_entry_issues, redact_url
from .llm_api import async_register_llm_api
from .memory_actions import async_setup_memory_actions
from .pipeline_check import async_check_pipelines, async_watch_pipelines
from .runtime import JarvisConfigEntry, JarvisData
from .satellite_runtime import SatelliteConfigEntry, is_satellite_entry
from .satellite_setup import async_setup_satellite_entry, async_unload_satellite_entry
from .server import create_client
from .services import async_setup_services
from .user_tools import async_setup_user_tools

PLATFORMS = (Platform.BINARY_SENSOR, Platform.CONVERSATION, Platform.SENSOR)
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the parts of Jarvis that do not depend on an entry."""
    async_setup_services(hass)
    async_setup_memory_actions(hass)
    async_register_llm_api(hass)
    await async_setup_user_tools(hass)
    async_setup_chat_api(hass)
    await async_register_card(hass)
    async_watch_pipelines(hass)
    return True


async def async_setup_entry(
    hass: HomeAssistant, entry: JarvisConfigEntry | SatelliteConfigEntry
) -> bool:
    """Set up an Ollama server entry (agents, health) or a satellite entry."""
    if is_satellite_entry(entry):
        return await async_setup_satellite_entry(hass, entry)  # type: ignore[arg-type]
    return await _async_setup_server_entry(hass, entry)  # type: ignore[arg-type]


async def _async_setup_server_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> bool:
    """Set up Jarvis from a config entry: reach the server, then the agents and entities."""
    client = create_client(entry.data[CONF_URL])
    coordinator = JarvisCoordinator(hass, entry, client)
    # Local first: HA's own intents work without Ollama, so the entry loads even when the server
    # is down; the reachable sensor, a repair issue and polling with backoff report the outage.
    await coordinator.async_refresh()
    if not coordinator.last_update_success:
        LOGGER.warning(
            "Ollama at %s is unreachable; Jarvis handles local commands until it is back",
            redact_url(entry.data[CONF_URL]),
        )
    entry.runtime_data = JarvisData(client=client, coordinator=coordinator)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Adding, changing or removing an agent (subentry) or the URL reloads the entry.
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    async_check_pipelines(hass)  # a pipeline that would run safe actions without asking
    return True


async def _async_update_listener(hass: HomeAssistant, entry: JarvisConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(
    hass: HomeAssistant, entry: JarvisConfigEntry | SatelliteConfigEntry
) -> bool:
    """Unload a config entry: entities, polling, client, and the issues it raised."""
    if is_satellite_entry(entry):
        return await async_unload_satellite_entry(hass, entry)  # type: ignore[arg-type]
    return await _async_unload_server_entry(hass, entry)  # type: ignore[arg-type]


async def _async_unload_server_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> bool:
    if not await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        return False  # pragma: no cover - only when a platform refuses to unload
    await entry.runtime_data.client.close()  # type: ignore[no-untyped-call]
    async_clear_entry_issues(hass, entry)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> None:
    """Forget the issues of a removed entry (also those of an entry that was not loaded)."""
    async_clear_entry_issues(hass, entry)
