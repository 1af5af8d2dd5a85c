"""Switches of a satellite: microphone mute, follow-up questions, stop word."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .satellite_runtime import SatelliteConfigEntry, SatelliteEntity

PARALLEL_UPDATES = 0

# key (entity and state/control field), entity category
SWITCHES: tuple[tuple[str, EntityCategory | None], ...] = (
    ("muted", None),
    ("follow_up", EntityCategory.CONFIG),
    ("stop_word", EntityCategory.CONFIG),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The satellite's switches."""
    async_add_entities(SatelliteSwitch(entry, key, category) for key, category in SWITCHES)


class SatelliteSwitch(SatelliteEntity, SwitchEntity):
    """A switch mirroring one boolean of the satellite's state."""

    def __init__(
        self, entry: SatelliteConfigEntry, key: str, category: EntityCategory | None
    ) -> None:
        """The switch for the state/control field `key`."""
        super().__init__(entry, key)
        self._key = key
        self._attr_entity_category = category

    @property
    def available(self) -> bool:
        """Connected, and the satellite knows this setting."""
        return super().available and isinstance(self.link.state.get(self._key), bool)

    @property
    def is_on(self) -> bool | None:
        """The satellite's value."""
        value = self.link.state.get(self._key)
        return value if isinstance(value, bool) else None

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Set it on the satellite (the state it answers updates the switch)."""
        await self.link.async_control(**{self._key: True})

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Set it off on the satellite."""
        await self.link.async_control(**{self._key: False})
