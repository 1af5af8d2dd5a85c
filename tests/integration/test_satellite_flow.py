"""Adding Jarvis satellites: by hand, by zeroconf (taking over from HA's wyoming), with pairing.

Each test runs a real `python -m satellite` on loopback; HA's real config flow talks to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import ip_address
from pathlib import Path

from homeassistant import config_entries
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.const import (
    CONF_ARBITRATION,
    CONF_ENTRY_KIND,
    CONF_PAIRING_SECRET,
    DOMAIN,
    ENTRY_KIND_SATELLITE,
)

from .satellite_helpers import SatelliteProcess, add_satellite, start_satellite, wait_for

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def satellite(tmp_path: Path) -> AsyncIterator[SatelliteProcess]:
    """A running satellite without pairing."""
    proc = await start_satellite(tmp_path)
    yield proc
    assert await proc.stop() == 0, proc.log_text()


def discovery(port: int, properties: dict[str, str]) -> ZeroconfServiceInfo:
    """What HA's zeroconf hands to flows for the satellite's announcement."""
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        port=port,
        hostname="kitchen.local.",
        type="_wyoming._tcp.local.",
        name="aabbccddeeff._wyoming._tcp.local.",
        properties=properties,
    )


async def test_manual_address_adds_the_satellite_as_a_device_in_its_area(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    entry = await add_satellite(hass, satellite.port)
    assert entry.title == "Test satellite"
    assert entry.data == {
        CONF_ENTRY_KIND: ENTRY_KIND_SATELLITE,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: satellite.port,
    }
    assert entry.options == {CONF_ARBITRATION: True}
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert len(devices) == 1
    assert devices[0].name == "Test satellite"
    assert devices[0].suggested_area == "Kitchen"
    # The same satellite again: refused.
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: f"tcp://127.0.0.1:{satellite.port}"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_manual_address_where_nothing_answers_is_a_form_error(
    hass: HomeAssistant, unused_tcp_port: int
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: f"tcp://127.0.0.1:{unused_tcp_port}"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "satellite_unreachable"}


async def test_zeroconf_takes_the_satellite_over_from_hass_wyoming(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    info = discovery(
        satellite.port, {"name": "Test satellite", "jarvis": "satellite", "id": "aabbccddeeff"}
    )
    # HA's wyoming integration saw the same announcement first (its flow waits for the user).
    wyoming = await hass.config_entries.flow.async_init(
        "wyoming", context={"source": config_entries.SOURCE_ZEROCONF}, data=info
    )
    assert wyoming["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_ZEROCONF}, data=info
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "satellite_confirm"
    assert result["description_placeholders"] == {"name": "Test satellite"}
    # The wyoming discovery of this satellite is gone: it is not driven twice.
    assert hass.config_entries.flow.async_progress_by_handler("wyoming") == []
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == "aabbccddeeff"
    await hass.async_block_till_done()
    # ... and HA's wyoming will not offer it again (an ignored discovery, which a user can undo).
    ignored = hass.config_entries.async_entries("wyoming", include_ignore=True)
    assert [e.source for e in ignored] == [config_entries.SOURCE_IGNORE]
    assert ignored[0].unique_id == "aabbccddeeff._wyoming._tcp.local._Test satellite"
    again = await hass.config_entries.flow.async_init(
        "wyoming", context={"source": config_entries.SOURCE_ZEROCONF}, data=info
    )
    assert again["type"] is FlowResultType.ABORT
    # Jarvis's own discovery of it again: already configured.
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_ZEROCONF}, data=info
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_zeroconf_leaves_other_wyoming_services_to_hass(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": config_entries.SOURCE_ZEROCONF},
        data=discovery(satellite.port, {"name": "Whisper"}),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_jarvis_satellite"


async def test_a_wyoming_entry_driving_the_satellite_is_disabled(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    wyoming = MockConfigEntry(
        domain="wyoming", data={CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port}
    )
    wyoming.add_to_hass(hass)
    entry = await add_satellite(hass, satellite.port)
    await hass.async_block_till_done()
    assert wyoming.disabled_by is config_entries.ConfigEntryDisabler.USER
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_pairing_code_is_asked_checked_and_used(hass: HomeAssistant, tmp_path: Path) -> None:
    sat = await start_satellite(tmp_path, "--server-pairing-secret", "correct horse battery")
    try:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": config_entries.SOURCE_USER}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_URL: f"tcp://127.0.0.1:{sat.port}"}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "pair"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PAIRING_SECRET: "wrong"}
        )
        assert result["errors"] == {"base": "invalid_code"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PAIRING_SECRET: "correct horse battery"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry = result["result"]
        assert entry.data[CONF_PAIRING_SECRET] == "correct horse battery"
        await hass.async_block_till_done()
        # The entry pairs on each connection: it loads and drives the satellite.
        assert entry.state is config_entries.ConfigEntryState.LOADED
        assert entry.runtime_data.link.connected
        assert "paired" in sat.log_text()
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sat.stop()


async def test_options_turn_arbitration_off(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    entry = await add_satellite(hass, satellite.port)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ARBITRATION: False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {CONF_ARBITRATION: False}
    assert entry.runtime_data.link.arbitration is False  # reloaded with the new option
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_changed_pairing_code_asks_for_the_new_one(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    sat = await start_satellite(tmp_path, "--server-pairing-secret", "the first pairing code")
    port = sat.port
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Test satellite",
        unique_id=f"127.0.0.1:{port}",
        data={
            CONF_ENTRY_KIND: ENTRY_KIND_SATELLITE,
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            CONF_PAIRING_SECRET: "the first pairing code",
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.runtime_data.link.connected
    await sat.stop()
    # The satellite comes back with another code: HA asks the user for it.
    sat = await start_satellite(
        tmp_path,
        "--server-pairing-secret",
        "the second pairing code",
        "--server-port",
        str(port),
        name="new",
    )
    try:
        await wait_for(lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN), 40, sat)
        flow = hass.config_entries.flow.async_progress_by_handler(DOMAIN)[0]
        assert flow["context"]["source"] == config_entries.SOURCE_REAUTH
        assert flow["step_id"] == "pair"
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {CONF_PAIRING_SECRET: "the second pairing code"}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reauth_successful"
        await hass.async_block_till_done()
        assert entry.data[CONF_PAIRING_SECRET] == "the second pairing code"
        await wait_for(lambda: entry.runtime_data.link.connected, 20, sat)
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sat.stop()


async def test_diagnostics_show_the_link_and_hide_the_pairing_code(
    hass: HomeAssistant, tmp_path: Path, hass_client: ClientSessionGenerator
) -> None:
    sat = await start_satellite(tmp_path, "--server-pairing-secret", "a pairing code of 24 chars")
    try:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Test satellite",
            unique_id="kitchen",
            data={
                CONF_ENTRY_KIND: ENTRY_KIND_SATELLITE,
                CONF_HOST: "127.0.0.1",
                CONF_PORT: sat.port,
                CONF_PAIRING_SECRET: "a pairing code of 24 chars",
            },
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        diag = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert "a pairing code of 24 chars" not in str(diag)
        assert diag["entry"]["data"][CONF_PAIRING_SECRET] == "**REDACTED**"
        assert diag["link"]["connected"] is True
        assert diag["info"]["satellite"]["name"] == "Test satellite"
        assert diag["state"]["access"] == {"mode": "pairing"}
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sat.stop()


async def test_a_satellite_added_by_hand_is_not_offered_to_hass_wyoming_when_discovered(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    entry = await add_satellite(hass, satellite.port)
    info = discovery(
        satellite.port, {"name": "Test satellite", "jarvis": "satellite", "id": "aabbccddeeff"}
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_ZEROCONF}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    wyoming = await hass.config_entries.flow.async_init(
        "wyoming", context={"source": config_entries.SOURCE_ZEROCONF}, data=info
    )
    assert wyoming["type"] is FlowResultType.ABORT
    assert wyoming["reason"] == "already_configured"  # HA's way of saying "ignored"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_unreachable_satellite_is_retried_later(
    hass: HomeAssistant, unused_tcp_port: int
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Gone satellite",
        unique_id="gone",
        data={
            CONF_ENTRY_KIND: ENTRY_KIND_SATELLITE,
            CONF_HOST: "127.0.0.1",
            CONF_PORT: unused_tcp_port,
        },
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is config_entries.ConfigEntryState.SETUP_RETRY
    assert "does not answer" in str(entry.reason)
