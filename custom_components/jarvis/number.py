"""The satellite's speaker volume."""

from __future__ import annotations

from homeassistant.components.number import NumberEntity, NumberMode
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .satellite_runtime import SatelliteConfigEntry, SatelliteEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The satellite's volume."""
    async_add_entities([SatelliteVolume(entry)])


class SatelliteVolume(SatelliteEntity, NumberEntity):
    """Speaker volume in percent (the satellite's 0.0-1.0)."""

    _attr_native_min_value = 0
    _attr_native_max_value = 100
    _attr_native_step = 1
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_mode = NumberMode.SLIDER

    def __init__(self, entry: SatelliteConfigEntry) -> None:
        """The volume of `entry`'s satellite."""
        super().__init__(entry, "volume")

    @property
    def native_value(self) -> float | None:
        """The satellite's volume."""
        volume = self.link.state.get("volume")
        return round(volume * 100) if isinstance(volume, int | float) else None

    async def async_set_native_value(self, value: float) -> None:
        """Set the satellite's volume."""
        await self.link.async_control(volume=max(0.0, min(1.0, value / 100)))
