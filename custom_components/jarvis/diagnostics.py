"""Diagnostics of a Jarvis entry: server health, agents and their last figures (secrets redacted)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PROMPT, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from ollama._client import __version__ as OLLAMA_CLIENT_VERSION

from .const import DOMAIN
from .issues import redact_url
from .memory import async_get_memory
from .runtime import JarvisConfigEntry
from .satellite_diagnostics import satellite_diagnostics
from .satellite_runtime import is_satellite_entry
from .user_tools import DATA_USER_TOOLS

# The persona may hold personal details (names, habits); the URL may carry credentials.
TO_REDACT = {CONF_PROMPT}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: JarvisConfigEntry
) -> dict[str, Any]:
    """What support needs to understand a Jarvis set-up (a server, or a satellite)."""
    if is_satellite_entry(entry):
        return satellite_diagnostics(hass, entry)  # type: ignore[arg-type]
    data = entry.runtime_data
    coordinator = data.coordinator
    status = coordinator.data
    return {
        "client": f"ollama=={OLLAMA_CLIENT_VERSION}",
        "entry": {
            "entry_id": entry.entry_id,
            "version": f"{entry.version}.{entry.minor_version}",
            "state": entry.state.value,
            "url": redact_url(entry.data[CONF_URL]),
        },
        "server": {
            "reachable": coordinator.reachable,
            "version": status.version if status else None,
            "models": list(status.models) if status else [],
            "failed_polls": coordinator.failures,
            "last_error": repr(coordinator.last_exception) if coordinator.last_exception else None,
        },
        "agents": {
            subentry.subentry_id: {
                "title": subentry.title,
                "subentry_type": subentry.subentry_type,
                "data": async_redact_data(dict(subentry.data), TO_REDACT),
                "last_response": asdict(stats)
                if (stats := data.last_response.get(subentry.subentry_id))
                else None,
                # What its last request to the model listed, counted and left out for space.
                "last_context": asdict(context)
                if (context := data.last_context.get(subentry.subentry_id))
                else None,
            }
            for subentry in entry.subentries.values()
        },
        "issues": sorted(
            issue_id
            for (domain, issue_id), issue in ir.async_get(hass).issues.items()
            if domain == DOMAIN and (issue.data or {}).get("entry_id") == entry.entry_id
        ),
        # The memory is the home's (all entries'): counts, and each memory with its text redacted.
        "memory": await async_get_memory(hass).async_diagnostics(),
        # jarvis_tools.yaml: names, kinds and problems (no URL, header or template).
        "user_tools": user_tools.diagnostics()
        if (user_tools := hass.data.get(DATA_USER_TOOLS))
        else None,
        "entities": {
            entity.entity_id: {
                "unique_id": entity.unique_id,
                "disabled": entity.disabled,
                "state": state.state if (state := hass.states.get(entity.entity_id)) else None,
            }
            for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        },
    }
