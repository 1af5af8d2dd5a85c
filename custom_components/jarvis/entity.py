"""Base classes and device info of Jarvis's entities.

Two kinds of devices, as HA's LLM integrations have them: one service device per agent
(conversation subentry) holding its conversation entity and figures, and one for the Ollama
server of the entry holding its health.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_MODEL, CONF_URL
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import JarvisCoordinator
from .runtime import JarvisConfigEntry


def server_name(url: str) -> str:
    """A short name for the server at `url`: 'Ollama 192.168.1.10:11434' (no credentials)."""
    host = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return f"Ollama {host or url}"


def server_device_info(entry: JarvisConfigEntry) -> DeviceInfo:
    """The device of the entry's Ollama server."""
    coordinator = entry.runtime_data.coordinator
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        name=server_name(entry.data[CONF_URL]),
        manufacturer=MANUFACTURER,
        model="Ollama server",
        sw_version=coordinator.data.version if coordinator.data else None,
        entry_type=DeviceEntryType.SERVICE,
    )


def agent_device_info(entry: JarvisConfigEntry, subentry: ConfigSubentry) -> DeviceInfo:
    """The device of one agent (conversation subentry); shared with the conversation entity."""
    return DeviceInfo(
        identifiers={(DOMAIN, subentry.subentry_id)},
        name=subentry.title,
        manufacturer="Jarvis",
        model=subentry.data.get(CONF_MODEL),
        entry_type=DeviceEntryType.SERVICE,
    )


class JarvisServerEntity(CoordinatorEntity[JarvisCoordinator]):
    """An entity of the Ollama server device, fed by the health coordinator."""

    _attr_has_entity_name = True

    def __init__(self, entry: JarvisConfigEntry, key: str) -> None:
        """Create the entity `key` of `entry`'s server."""
        super().__init__(entry.runtime_data.coordinator)
        self._attr_unique_id = f"{entry.entry_id}_{key}"
        self._attr_translation_key = key
        self._attr_device_info = server_device_info(entry)


class JarvisAgentEntity(Entity):
    """An entity of an agent's device, updated when the agent records a response."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: JarvisConfigEntry, subentry: ConfigSubentry, key: str) -> None:
        """Create the entity `key` of the agent `subentry`."""
        self.entry = entry
        self.subentry = subentry
        self._attr_unique_id = f"{subentry.subentry_id}_{key}"
        self._attr_translation_key = key
        self._attr_device_info = agent_device_info(entry, subentry)
