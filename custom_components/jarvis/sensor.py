"""Sensors of each agent: last response latency, duration and generation speed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SUBENTRY_CONVERSATION
from .entity import JarvisAgentEntity
from .runtime import JarvisConfigEntry, ResponseStats
from .satellite_runtime import is_satellite_entry
from .satellite_sensor import async_setup_satellite_sensors

PARALLEL_UPDATES = 0  # pushed by the agent, nothing to poll

UNIT_TOKENS_PER_SECOND = "tokens/s"


@dataclass(frozen=True, kw_only=True)
class JarvisSensorDescription(SensorEntityDescription):
    """A sensor reading one figure of an agent's last response."""

    value_fn: Callable[[ResponseStats], float | None]  # None: this response has no such figure


SENSORS: tuple[JarvisSensorDescription, ...] = (
    JarvisSensorDescription(
        key="response_latency",
        translation_key="response_latency",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.latency_s,
    ),
    JarvisSensorDescription(
        key="response_duration",
        translation_key="response_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda stats: stats.duration_s,
    ),
    JarvisSensorDescription(
        key="tokens_per_second",
        translation_key="tokens_per_second",
        native_unit_of_measurement=UNIT_TOKENS_PER_SECOND,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Replies handled locally have no generation speed: keep the last model's figure.
        value_fn=lambda stats: stats.tokens_per_second,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of each agent, on the agent's device (or a satellite's sensors)."""
    if is_satellite_entry(entry):
        await async_setup_satellite_sensors(hass, entry, async_add_entities)  # type: ignore[arg-type]
        return
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_CONVERSATION:
            continue
        async_add_entities(
            [JarvisResponseSensor(entry, subentry, description) for description in SENSORS],
            config_subentry_id=subentry.subentry_id,
        )


class JarvisResponseSensor(JarvisAgentEntity, RestoreSensor):
    """One figure of the agent's last response; kept across restarts."""

    entity_description: JarvisSensorDescription

    def __init__(
        self,
        entry: JarvisConfigEntry,
        subentry: ConfigSubentry,
        description: JarvisSensorDescription,
    ) -> None:
        """Create the sensor `description` of the agent `subentry`."""
        super().__init__(entry, subentry, description.key)
        self.entity_description = description
        self._stats: ResponseStats | None = None

    async def async_added_to_hass(self) -> None:
        """Restore the last figure, then follow the agent's responses."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_sensor_data()) is not None:
            self._attr_native_value = last.native_value
        self.async_on_remove(self.entry.runtime_data.async_add_listener(self._async_on_response))

    @callback
    def _async_on_response(self) -> None:
        stats = self.entry.runtime_data.last_response.get(self.subentry.subentry_id)
        if stats is None or stats is self._stats:
            return  # another agent's response
        self._stats = stats
        value = self.entity_description.value_fn(stats)
        if value is None:
            return
        self._attr_native_value = value
        self.async_write_ha_state()
