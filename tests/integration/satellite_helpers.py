"""Helpers of the satellite tests: real `python -m satellite` processes and Jarvis entries.

The satellites are the ones of tests/satellite (48 kHz PCM fed on stdin, replies into a WAV
sink); Home Assistant adds them through Jarvis's own config flow, as a user does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from pathlib import Path
from typing import Any

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from custom_components.jarvis.const import DOMAIN
from tests.satellite.satellite_process import SatelliteProcess

__all__ = ["SatelliteProcess", "add_satellite", "entity_of", "satellite_status", "wait_for"]


async def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, sat: SatelliteProcess | None = None
) -> None:
    """Poll until `predicate()` is true (on failure, show the satellite's log)."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        detail = sat.log_text()[-6000:] if sat is not None else ""
        raise AssertionError(f"timed out waiting\n{detail}") from None


async def wait_log(sat: SatelliteProcess, text: str, count: int = 1, timeout: float = 30.0) -> None:
    """Wait until the satellite has logged `text` `count` times."""
    await wait_for(lambda: sat.log_text().count(text) >= count, timeout, sat)


async def add_satellite(hass: HomeAssistant, port: int) -> ConfigEntry:
    """Add a satellite by hand (tcp://host:port in Jarvis's user step) and wait until loaded."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: f"tcp://127.0.0.1:{port}"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is config_entries.ConfigEntryState.LOADED
    return entry


def entity_of(hass: HomeAssistant, entry: ConfigEntry, domain: str, key: str = "") -> str:
    """The entity id of `entry`'s entity of `domain` (whose unique id ends with `-key`)."""
    for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        if item.domain == domain and (not key or item.unique_id.endswith(f"-{key}")):
            return item.entity_id
    raise AssertionError(f"no {domain} {key} entity")


async def satellite_status(port: int) -> dict[str, Any]:
    """The satellite's own state, asked the way its local `control` command asks."""
    client = AsyncTcpClient("127.0.0.1", port)
    await client.connect()
    try:
        await client.write_event(Event(type="jarvis-satellite-control", data={}))
        async with asyncio.timeout(10):
            while (event := await client.read_event()) is not None:
                if event.type == "jarvis-satellite-state":
                    return dict(event.data)
        raise AssertionError("no state from the satellite")
    finally:
        await client.disconnect()


def dump(data: Any) -> str:
    """For assertion messages."""
    return json.dumps(data, default=str)[:2000]


async def start_satellite(tmp: Path, *extra: str, name: str = "sat") -> SatelliteProcess:
    """A satellite process with its own folder."""
    folder = tmp / name
    folder.mkdir(exist_ok=True)
    return await SatelliteProcess.start(folder, *extra)
