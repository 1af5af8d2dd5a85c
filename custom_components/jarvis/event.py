"""Wake word event of a satellite: fired each time it hears its wake word."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .satellite_runtime import SatelliteConfigEntry, SatelliteEntity

PARALLEL_UPDATES = 0
EVENT_DETECTED = "detected"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The satellite's wake word event."""
    async_add_entities([SatelliteWakeEvent(entry)])


class SatelliteWakeEvent(SatelliteEntity, EventEntity):
    """`detected` with the wake word's name, score and speech level."""

    _attr_event_types = [EVENT_DETECTED]

    def __init__(self, entry: SatelliteConfigEntry) -> None:
        """The wake word event of `entry`'s satellite."""
        super().__init__(entry, "wake_word_detected")
        self._last: Any = entry.runtime_data.link.state.get("last_wake")  # heard before HA

    def _async_link_changed(self) -> None:
        last = self.link.state.get("last_wake")
        if isinstance(last, dict) and last != self._last:
            self._last = last
            data = {k: last[k] for k in ("name", "score", "level_dbfs") if k in last}
            self._trigger_event(EVENT_DETECTED, data)
        super()._async_link_changed()
