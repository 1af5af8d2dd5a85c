"""Sensors of a satellite: connection, last wake word score, capture chain cost per frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .satellite_link import SatelliteLink
from .satellite_runtime import SatelliteConfigEntry, SatelliteEntity

CONNECTED, DISCONNECTED = "connected", "disconnected"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _last_wake_score(link: SatelliteLink) -> float | None:
    last = link.state.get("last_wake")
    return _number(last.get("score")) if isinstance(last, dict) else None


@dataclass(frozen=True, kw_only=True)
class SatelliteSensorDescription(SensorEntityDescription):
    """A sensor reading the satellite's link."""

    value_fn: Callable[[SatelliteLink], str | float | None]
    always_available: bool = False


SATELLITE_SENSORS: tuple[SatelliteSensorDescription, ...] = (
    SatelliteSensorDescription(
        key="connection",
        translation_key="connection",
        device_class=SensorDeviceClass.ENUM,
        options=[CONNECTED, DISCONNECTED],
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda link: CONNECTED if link.connected else DISCONNECTED,
        always_available=True,
    ),
    SatelliteSensorDescription(
        key="last_wake_score",
        translation_key="last_wake_score",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_last_wake_score,
    ),
    SatelliteSensorDescription(
        key="chain_ms_per_frame",
        translation_key="chain_ms_per_frame",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda link: _number(link.state.get("chain_ms_per_frame")),
    ),
)


async def async_setup_satellite_sensors(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The satellite's sensors (called by the sensor platform for satellite entries)."""
    async_add_entities(SatelliteSensor(entry, description) for description in SATELLITE_SENSORS)


class SatelliteSensor(SatelliteEntity, SensorEntity):
    """One figure of the satellite."""

    entity_description: SatelliteSensorDescription

    def __init__(
        self, entry: SatelliteConfigEntry, description: SatelliteSensorDescription
    ) -> None:
        """The sensor `description` of `entry`'s satellite."""
        super().__init__(entry, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """The connection sensor always; the others while connected."""
        return self.entity_description.always_available or super().available

    @property
    def native_value(self) -> str | float | None:
        """The figure."""
        return self.entity_description.value_fn(self.link)
