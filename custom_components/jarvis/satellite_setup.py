"""Setting up and unloading a satellite entry (the Jarvis entry of kind "satellite")."""

from __future__ import annotations

import asyncio

from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady

from .arbiter import async_get_arbiter
from .const import CONF_ARBITRATION, CONF_PAIRING_SECRET, DEFAULT_ARBITRATION, DOMAIN
from .satellite_link import SatelliteLink
from .satellite_runtime import SatelliteConfigEntry, SatelliteData

SATELLITE_PLATFORMS = (
    Platform.ASSIST_SATELLITE,
    Platform.EVENT,
    Platform.MEDIA_PLAYER,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
)
FIRST_CONNECT_TIMEOUT_S = 10.0


async def async_setup_satellite_entry(hass: HomeAssistant, entry: SatelliteConfigEntry) -> bool:
    """Connect to the satellite (not ready until it answers), then create its entities."""
    link = SatelliteLink(
        hass,
        entry.data[CONF_HOST],
        entry.data[CONF_PORT],
        pairing_code=entry.data.get(CONF_PAIRING_SECRET),
        arbitration=entry.options.get(CONF_ARBITRATION, DEFAULT_ARBITRATION),
    )
    arbiter = async_get_arbiter(hass)
    source = entry.title

    async def claim(data: dict[str, object]) -> bool:
        return await arbiter.async_claim(source, data)

    link.on_claim = claim
    link.on_auth_failed = lambda: entry.async_start_reauth(hass)
    settled = asyncio.Event()  # connected, or the first attempt failed

    def first_attempt() -> None:
        if (link.connected and link.info is not None) or link.last_error is not None:
            settled.set()

    remove = link.async_add_listener(first_attempt)
    link.async_start(entry)
    try:
        async with asyncio.timeout(FIRST_CONNECT_TIMEOUT_S):
            await settled.wait()
    except TimeoutError:
        pass
    if not (link.connected and link.info is not None):
        remove()
        await link.async_stop()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="satellite_unreachable",
            translation_placeholders={
                "address": f"{entry.data[CONF_HOST]}:{entry.data[CONF_PORT]}",
                "error": link.last_error or "no answer",
            },
        )
    remove()
    assert entry.unique_id is not None
    entry.runtime_data = SatelliteData(link=link, satellite_id=entry.unique_id)
    await hass.config_entries.async_forward_entry_setups(entry, SATELLITE_PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_changed))
    return True


async def _async_options_changed(hass: HomeAssistant, entry: SatelliteConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_satellite_entry(hass: HomeAssistant, entry: SatelliteConfigEntry) -> bool:
    """Remove the entities, then pause the satellite and close the connection."""
    if not await hass.config_entries.async_unload_platforms(entry, SATELLITE_PLATFORMS):
        return False  # pragma: no cover - only when a platform refuses to unload
    await entry.runtime_data.link.async_stop()
    return True
