"""Selects of a satellite: Assist pipeline, finished-speaking detection, wake word, sensitivity."""

from __future__ import annotations

from homeassistant.components.assist_pipeline import AssistPipelineSelect, VadSensitivitySelect
from homeassistant.components.select import SelectEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .satellite_runtime import SatelliteConfigEntry, SatelliteEntity

PARALLEL_UPDATES = 0
WAKE_SENSITIVITIES = ["low", "default", "high"]


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The satellite's selects."""
    async_add_entities(
        [
            SatellitePipelineSelect(hass, entry),
            SatelliteVadSensitivitySelect(hass, entry),
            SatelliteWakeWordSelect(entry),
            SatelliteWakeSensitivitySelect(entry),
        ]
    )


class SatellitePipelineSelect(SatelliteEntity, AssistPipelineSelect):
    """Which Assist pipeline the satellite uses (HA's own select, kept by HA)."""

    def __init__(self, hass: HomeAssistant, entry: SatelliteConfigEntry) -> None:
        """The pipeline of `entry`'s satellite."""
        SatelliteEntity.__init__(self, entry, "pipeline")
        AssistPipelineSelect.__init__(self, hass, DOMAIN, entry.runtime_data.satellite_id)

    @property
    def available(self) -> bool:
        """A setting of HA: always available."""
        return True


class SatelliteVadSensitivitySelect(SatelliteEntity, VadSensitivitySelect):
    """How long a silence ends the command (HA's "finished speaking detection")."""

    def __init__(self, hass: HomeAssistant, entry: SatelliteConfigEntry) -> None:
        """The VAD sensitivity of `entry`'s satellite."""
        SatelliteEntity.__init__(self, entry, "vad_sensitivity")
        VadSensitivitySelect.__init__(self, hass, entry.runtime_data.satellite_id)

    @property
    def available(self) -> bool:
        """A setting of HA: always available."""
        return True


class SatelliteWakeWordSelect(SatelliteEntity, SelectEntity):
    """The satellite's wake word, among its bundled models."""

    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, entry: SatelliteConfigEntry) -> None:
        """The wake word of `entry`'s satellite."""
        super().__init__(entry, "wake_word")

    @property
    def available(self) -> bool:
        """Connected, and the satellite says which wake words it has."""
        return super().available and bool(self.options)

    @property
    def options(self) -> list[str]:
        """The bundled wake word models."""
        state = self.link.state
        options = [str(w) for w in state.get("wake_words_available") or []]
        if isinstance(current := state.get("wake_word"), str) and current not in options:
            options.append(current)
        return options

    @property
    def current_option(self) -> str | None:
        """The active wake word."""
        current = self.link.state.get("wake_word")
        return current if isinstance(current, str) else None

    async def async_select_option(self, option: str) -> None:
        """Switch the satellite's wake word."""
        await self.link.async_control(wake_word=option)


class SatelliteWakeSensitivitySelect(SatelliteEntity, SelectEntity):
    """How readily the wake word fires (the satellite's threshold)."""

    _attr_entity_category = EntityCategory.CONFIG
    _attr_options = WAKE_SENSITIVITIES

    def __init__(self, entry: SatelliteConfigEntry) -> None:
        """The wake sensitivity of `entry`'s satellite."""
        super().__init__(entry, "wake_sensitivity")

    @property
    def available(self) -> bool:
        """Connected, and the satellite knows this setting."""
        return super().available and self.current_option is not None

    @property
    def current_option(self) -> str | None:
        """The satellite's sensitivity."""
        value = self.link.state.get("wake_sensitivity")
        return value if value in WAKE_SENSITIVITIES else None

    async def async_select_option(self, option: str) -> None:
        """Set the satellite's sensitivity."""
        await self.link.async_control(wake_sensitivity=option)
