"""Diagnostics of a satellite entry: its link, what it says about itself, the arbiter."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .arbiter import async_get_arbiter
from .const import CONF_PAIRING_SECRET
from .satellite_runtime import SatelliteConfigEntry


def satellite_diagnostics(hass: HomeAssistant, entry: SatelliteConfigEntry) -> dict[str, Any]:
    """What support needs to understand a satellite (the pairing code is never shown)."""
    link = entry.runtime_data.link
    data = dict(entry.data)
    if CONF_PAIRING_SECRET in data:
        data[CONF_PAIRING_SECRET] = "**REDACTED**"
    return {
        "entry": {
            "entry_id": entry.entry_id,
            "version": f"{entry.version}.{entry.minor_version}",
            "state": entry.state.value,
            "data": data,
            "options": dict(entry.options),
        },
        "link": {
            "connected": link.connected,
            "extended_protocol": link.extended,
            "arbitration": link.arbitration,
            "last_error": link.last_error,
        },
        "info": link.info.to_dict() if link.info is not None else None,
        "state": dict(link.state),
        "arbiter_decisions": [
            {"satellite": source, "run": run} for source, run in async_get_arbiter(hass).decisions
        ],
        "entities": {
            entity.entity_id: {
                "unique_id": entity.unique_id,
                "disabled": entity.disabled,
                "state": state.state if (state := hass.states.get(entity.entity_id)) else None,
            }
            for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        },
    }
