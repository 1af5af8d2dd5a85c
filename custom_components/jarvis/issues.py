"""Repair issues of Jarvis: Ollama unreachable, an agent's model missing.

Raised and cleared automatically by the health coordinator; the agent may call them too when a
chat request fails (or succeeds again).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, ISSUE_MODEL_MISSING, ISSUE_UNREACHABLE
from .runtime import JarvisData

REDACTED = "**REDACTED**"  # as HA's diagnostics write it


def redact_url(url: str) -> str:
    """The URL without user, password, query or fragment (host and port are kept: they help)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def unreachable_issue_id(entry: ConfigEntry) -> str:
    """Issue id of 'Ollama unreachable' for an entry."""
    return f"{ISSUE_UNREACHABLE}_{entry.entry_id}"


def model_missing_issue_id(subentry_id: str) -> str:
    """Issue id of 'model missing' for an agent (subentry)."""
    return f"{ISSUE_MODEL_MISSING}_{subentry_id}"


@callback
def async_report_unreachable(
    hass: HomeAssistant, entry: ConfigEntry, *, from_poll: bool = False
) -> None:
    """Raise (or keep) the 'Ollama unreachable' issue of this entry.

    When the agent reports it, the server is polled at once so that 'Reachable' agrees.
    """
    if not from_poll:
        _async_poll_if_not(hass, entry, reachable=False)
    ir.async_create_issue(
        hass,
        DOMAIN,
        unreachable_issue_id(entry),
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_UNREACHABLE,
        translation_placeholders={"url": redact_url(entry.data[CONF_URL]), "title": entry.title},
        data={"entry_id": entry.entry_id},
    )


@callback
def async_clear_unreachable(
    hass: HomeAssistant, entry: ConfigEntry, *, from_poll: bool = False
) -> None:
    """Clear the 'Ollama unreachable' issue of this entry (no-op when not raised)."""
    if not from_poll:
        _async_poll_if_not(hass, entry, reachable=True)
    ir.async_delete_issue(hass, DOMAIN, unreachable_issue_id(entry))


@callback
def _async_poll_if_not(hass: HomeAssistant, entry: ConfigEntry, *, reachable: bool) -> None:
    """Poll the server now if the last poll saw it otherwise than the agent just did."""
    data = getattr(entry, "runtime_data", None)
    if isinstance(data, JarvisData) and data.coordinator.reachable is not reachable:
        entry.async_create_background_task(
            hass, data.coordinator.async_request_refresh(), "Jarvis: poll Ollama after a chat"
        )


@callback
def async_report_model_missing(
    hass: HomeAssistant, entry: ConfigEntry, subentry: ConfigSubentry, model: str
) -> None:
    """Raise (or keep) the 'model missing' issue of an agent; fixable by picking a model."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        model_missing_issue_id(subentry.subentry_id),
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_MODEL_MISSING,
        translation_placeholders={
            "model": model,
            "agent": subentry.title,
            "url": redact_url(entry.data[CONF_URL]),
        },
        data={"entry_id": entry.entry_id, "subentry_id": subentry.subentry_id},
    )


@callback
def async_clear_model_missing(hass: HomeAssistant, subentry: ConfigSubentry) -> None:
    """Clear the 'model missing' issue of an agent (no-op when not raised)."""
    ir.async_delete_issue(hass, DOMAIN, model_missing_issue_id(subentry.subentry_id))


@callback
def async_clear_entry_issues(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Remove every issue this entry raised (on unload: nothing is left behind)."""
    registry = ir.async_get(hass)
    for (domain, issue_id), issue in list(registry.issues.items()):
        if domain == DOMAIN and (issue.data or {}).get("entry_id") == entry.entry_id:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
