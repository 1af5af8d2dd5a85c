"""Binary sensor: is the Ollama server reachable."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import JarvisServerEntity
from .runtime import JarvisConfigEntry

PARALLEL_UPDATES = 0  # state comes from the coordinator


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the server's reachability sensor."""
    async_add_entities([ServerReachableSensor(entry)])


class ServerReachableSensor(JarvisServerEntity, BinarySensorEntity):
    """On while the Ollama server answers; off (not unavailable) when it does not."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, entry: JarvisConfigEntry) -> None:
        """Create the sensor of `entry`'s server."""
        super().__init__(entry, "server_reachable")

    @property
    def available(self) -> bool:
        """Always available while the entry is loaded: 'off' is the answer when unreachable."""
        return True

    @property
    def is_on(self) -> bool:
        """Whether the last poll reached the server."""
        return self.coordinator.reachable
