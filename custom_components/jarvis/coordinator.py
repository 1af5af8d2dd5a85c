"""Health of the Ollama server: reachable or not, installed models, version.

Polls every 30 s while the server answers; after a failure retries sooner and backs off
(5 s, 10 s, 20 s ... 120 s). Raises and clears the repair issues as the server comes and goes
and as the agents' models appear or disappear.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from homeassistant.const import CONF_MODEL, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.httpx_client import get_async_client
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
import httpx
import ollama

from .const import (
    DEFAULT_TIMEOUT,
    DOMAIN,
    LOGGER,
    RETRY_INTERVAL_MAX,
    RETRY_INTERVAL_MIN,
    SUBENTRY_CONVERSATION,
    UPDATE_INTERVAL_HEALTHY,
)
from .issues import (
    async_clear_model_missing,
    async_clear_unreachable,
    async_report_model_missing,
    async_report_unreachable,
    redact_url,
)
from .runtime import JarvisConfigEntry
from .server import ServerError, async_fetch_models, normalize_model


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What the last successful poll saw."""

    models: tuple[str, ...]  # canonical names, e.g. "llama3.2:latest"
    version: str | None  # None when the server does not say

    def has_model(self, model: str) -> bool:
        """Whether `model` is installed on the server."""
        return normalize_model(model) in self.models


class JarvisCoordinator(DataUpdateCoordinator[ServerStatus]):
    """Polls the Ollama server of one config entry."""

    config_entry: JarvisConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: JarvisConfigEntry, client: ollama.AsyncClient
    ) -> None:
        """Create the coordinator for `entry`, polling through `client`."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"Ollama at {redact_url(entry.data[CONF_URL])}",
            update_interval=timedelta(seconds=UPDATE_INTERVAL_HEALTHY),
            always_update=False,
        )
        self.client = client
        self.failures = 0  # consecutive failed polls

    @property
    def reachable(self) -> bool:
        """Whether the last poll reached the server."""
        return self.last_update_success

    def next_retry(self) -> float:
        """Seconds until the next poll after `failures` failed ones (exponential backoff)."""
        return min(RETRY_INTERVAL_MAX, RETRY_INTERVAL_MIN * 2.0 ** max(self.failures - 1, 0))

    async def _async_update_data(self) -> ServerStatus:
        entry = self.config_entry
        try:
            models = await async_fetch_models(self.client)
        except ServerError as server_error:
            err = server_error.__cause__ or server_error
            self.failures += 1
            async_report_unreachable(self.hass, entry, from_poll=True)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="unreachable",
                translation_placeholders={
                    "url": redact_url(entry.data[CONF_URL]),
                    "error": str(err) or type(err).__name__,
                },
                retry_after=self.next_retry(),
            ) from server_error
        self.failures = 0
        async_clear_unreachable(self.hass, entry, from_poll=True)
        status = ServerStatus(
            models=tuple(models),
            version=await self._async_version(),
        )
        self._check_models(status)
        if status.version and (self.data is None or self.data.version != status.version):
            self._update_server_device(status.version)
        return status

    def _update_server_device(self, version: str) -> None:
        """Show the server's version on its device (Ollama was upgraded, or came up late)."""
        devices = dr.async_get(self.hass)
        entry_id = self.config_entry.entry_id
        if device := devices.async_get_device_by_identifier((DOMAIN, entry_id), entry_id):
            devices.async_update_device(device.id, sw_version=version)

    async def _async_version(self) -> str | None:
        """The server's version from /api/version (through HA's shared HTTP client)."""
        url = self.config_entry.data[CONF_URL].rstrip("/") + "/api/version"
        try:
            async with asyncio.timeout(DEFAULT_TIMEOUT):
                response = await get_async_client(self.hass).get(url)
            response.raise_for_status()
            version = response.json().get("version")
        except (TimeoutError, httpx.HTTPError, ValueError, AttributeError) as err:
            LOGGER.debug("No version from %s: %s", redact_url(url), err)
            return None
        return version if isinstance(version, str) else None

    def _check_models(self, status: ServerStatus) -> None:
        """Raise or clear each agent's 'model missing' issue."""
        entry = self.config_entry
        for subentry in entry.subentries.values():
            if subentry.subentry_type != SUBENTRY_CONVERSATION:
                continue
            model = subentry.data.get(CONF_MODEL)
            if not model or status.has_model(model):
                async_clear_model_missing(self.hass, subentry)
            else:
                async_report_model_missing(self.hass, entry, subentry, model)
