"""The health report of `GET /api/jarvis/health`: each Ollama server and its agents, checked now.

Per Jarvis entry (one Ollama server): whether the server answers now (its model list and loaded
models, asked at once with a short timeout, not the last 30-s poll), its version, and per agent
its model, whether the model is installed and loaded, and the figures of its last reply.
No secrets: the URL without credentials or query, no prompts, errors by their kind only.
`status` is `ok` when every Jarvis server answers, else `degraded` (HA's own intents still work).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import time
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_MODEL, CONF_URL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import ollama

from .const import DOMAIN, SUBENTRY_CONVERSATION
from .issues import redact_url
from .runtime import JarvisConfigEntry, ResponseStats
from .server import ServerError, async_fetch_models, normalize_model

HEALTH_TIMEOUT = 3.0  # seconds a server may take to answer the health check


async def _async_loaded_models(client: ollama.AsyncClient) -> list[str]:
    async with asyncio.timeout(HEALTH_TIMEOUT):
        listing = await client.ps()
    return sorted(normalize_model(m.model) for m in listing.models if m.model)


def _last_response(stats: ResponseStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "latency_ms": round(stats.latency_s * 1000, 1),
        "duration_ms": round(stats.duration_s * 1000, 1),
        "tokens_per_second": stats.tokens_per_second,
        "local": stats.local,
        "at": datetime.fromtimestamp(stats.at, UTC).isoformat(),
    }


async def _async_server(hass: HomeAssistant, entry: JarvisConfigEntry) -> dict[str, Any]:
    """One entry's server and agents."""
    report: dict[str, Any] = {
        "entry_id": entry.entry_id,
        "title": entry.title,
        "state": entry.state.value,
        "url": redact_url(entry.data[CONF_URL]),
        "reachable": None,  # not checked: the entry is not loaded
        "error": None,
        "check_ms": None,
        "version": None,
        "installed_models": [],
        "loaded_models": [],
    }
    installed: list[str] | None = None
    loaded: list[str] | None = None
    data = entry.runtime_data if entry.state is ConfigEntryState.LOADED else None
    if data is not None:
        started = time.perf_counter()
        models, in_memory = await asyncio.gather(
            async_fetch_models(data.client),
            _async_loaded_models(data.client),
            return_exceptions=True,
        )
        report["check_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if isinstance(models, BaseException) or isinstance(in_memory, BaseException):
            error = models if isinstance(models, BaseException) else in_memory
            assert isinstance(error, BaseException)
            if not isinstance(error, Exception):
                raise error  # cancelled
            report["error"] = (
                error.reason if isinstance(error, ServerError) else type(error).__name__
            )
        else:
            installed, loaded = models, in_memory
        report["reachable"] = report["error"] is None
        report["installed_models"] = installed or []
        report["loaded_models"] = loaded or []
        if data.coordinator.data is not None:
            report["version"] = data.coordinator.data.version

    agent_ids = {
        reg.config_subentry_id: reg.entity_id
        for reg in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if reg.domain == Platform.CONVERSATION and reg.config_subentry_id
    }
    agents = []
    for subentry in entry.subentries.values():
        if subentry.subentry_type != SUBENTRY_CONVERSATION:
            continue
        model = normalize_model(str(subentry.data.get(CONF_MODEL, "")))
        stats = data.last_response.get(subentry.subentry_id) if data is not None else None
        agents.append(
            {
                "agent_id": agent_ids.get(subentry.subentry_id),
                "name": subentry.title,
                "model": model,
                "model_installed": None if installed is None else model in installed,
                "model_loaded": None if loaded is None else model in loaded,
                "last_response": _last_response(stats),
            }
        )
    report["agents"] = agents
    return report


async def async_health_report(hass: HomeAssistant) -> dict[str, Any]:
    """The report of every enabled Jarvis entry, its server checked now."""
    entries: list[JarvisConfigEntry] = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if not entry.disabled_by and CONF_URL in entry.data  # satellites have no server
    ]
    servers = list(await asyncio.gather(*(_async_server(hass, entry) for entry in entries)))
    healthy = bool(servers) and all(server["reachable"] for server in servers)
    return {"status": "ok" if healthy else "degraded", "servers": servers}
