"""What a loaded satellite entry holds, its device, and the base class of its entities."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import CONF_ENTRY_KIND, DOMAIN, ENTRY_KIND_SATELLITE, SATELLITE_MANUFACTURER
from .satellite_link import SatelliteLink


@dataclass(kw_only=True)
class SatelliteData:
    """Runtime data of a satellite entry: its link (connection + last state)."""

    link: SatelliteLink
    satellite_id: str


type SatelliteConfigEntry = ConfigEntry[SatelliteData]


def is_satellite_entry(entry: ConfigEntry) -> bool:
    """Whether a Jarvis entry is a satellite (else an Ollama server)."""
    return entry.data.get(CONF_ENTRY_KIND) == ENTRY_KIND_SATELLITE


def satellite_device_info(entry: SatelliteConfigEntry) -> DeviceInfo:
    """The satellite's device, in the area the satellite names (or its name suggests)."""
    link = entry.runtime_data.link
    sat = link.info.satellite if link.info is not None else None
    area = sat.area if sat is not None and sat.area else None
    return DeviceInfo(
        identifiers={(DOMAIN, entry.runtime_data.satellite_id)},
        name=entry.title,
        manufacturer=SATELLITE_MANUFACTURER,
        model="Jarvis satellite",
        sw_version=sat.version if sat is not None else None,
        suggested_area=area or suggested_area(entry.title),
    )


def suggested_area(name: str) -> str | None:
    """An area from a satellite's name: "Kitchen satellite" -> "Kitchen"."""
    words = [w for w in name.replace("-", " ").replace("_", " ").split() if w]
    words = [w for w in words if w.lower() not in {"satellite", "jarvis", "voice", "speaker"}]
    return " ".join(words).capitalize() if words else None


class SatelliteEntity(Entity):
    """An entity of a satellite's device: available while connected, updated on its state."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: SatelliteConfigEntry, key: str) -> None:
        """The entity `key` of the satellite of `entry`."""
        self.entry = entry
        self.link = entry.runtime_data.link
        self._attr_unique_id = f"{entry.runtime_data.satellite_id}-{key}"
        self._attr_translation_key = key
        self._attr_device_info = satellite_device_info(entry)

    @property
    def available(self) -> bool:
        """Only while the satellite is connected."""
        return self.link.connected

    async def async_added_to_hass(self) -> None:
        """Follow the link's connection and state."""
        await super().async_added_to_hass()
        self.async_on_remove(self.link.async_add_listener(self._async_link_changed))

    def _async_link_changed(self) -> None:
        self.async_write_ha_state()


def satellite_entity_id(
    hass_registry: er.EntityRegistry, domain: str, satellite_id: str, key: str
) -> str | None:
    """The entity id of one of a satellite's entities, by its key."""
    return hass_registry.async_get_entity_id(domain, DOMAIN, f"{satellite_id}-{key}")
