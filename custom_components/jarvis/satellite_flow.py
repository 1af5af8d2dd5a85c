"""Config flow steps for Jarvis satellites (mixed into Jarvis's config flow).

A satellite comes from zeroconf (`_wyoming._tcp.local.` with `jarvis=satellite`) or by hand
(`tcp://host:port` in the user step). The flow reads its `info`, asks for its pairing code
when it wants one, and creates one entry per satellite. A satellite is never driven twice:
HA's own `wyoming` discovery of the same service is aborted and ignored, and a `wyoming`
entry already driving it is disabled (it can be enabled again once the Jarvis entry is gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_REAUTH,
    ConfigEntry,
    ConfigEntryDisabler,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.helpers.selector import BooleanSelector, TextSelector
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import probatio
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from .const import (
    CONF_ARBITRATION,
    CONF_ENTRY_KIND,
    CONF_PAIRING_SECRET,
    DEFAULT_ARBITRATION,
    DEFAULT_SATELLITE_PORT,
    ENTRY_KIND_SATELLITE,
    ZEROCONF_JARVIS_PROPERTY,
    ZEROCONF_JARVIS_SATELLITE,
)
from .satellite_pairing import PairingError, async_needs_pairing, async_pair

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigFlow

    _Base = ConfigFlow
else:
    _Base = object

_LOGGER = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10.0
WYOMING = "wyoming"
CODE_SCHEMA = probatio.Schema({probatio.Required(CONF_PAIRING_SECRET): TextSelector()})


class SatelliteUnreachable(Exception):
    """The satellite did not answer (`reason`: a config flow error key)."""

    def __init__(self, reason: str) -> None:
        """`reason` names the form error."""
        super().__init__(reason)
        self.reason = reason


async def async_probe(host: str, port: int, code: str | None = None) -> tuple[Info, bool]:
    """The satellite's `info`, and whether it wants a pairing code (checked when given)."""
    client = AsyncTcpClient(host, port)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await client.connect()
            await client.write_event(Describe().event())
            while True:
                event = await client.read_event()
                if event is None:
                    raise SatelliteUnreachable("satellite_unreachable")
                if Info.is_type(event.type):
                    info = Info.from_event(event)
                    break
            if info.satellite is None:
                raise SatelliteUnreachable("not_a_satellite")
            if code:
                await async_pair(client, code)
                return info, True
            return info, await async_needs_pairing(client)
    except PairingError as err:
        _LOGGER.debug("Pairing with %s:%s failed: %s", host, port, err)
        raise SatelliteUnreachable("invalid_code") from err
    except (OSError, TimeoutError) as err:
        _LOGGER.debug("Satellite at %s:%s unreachable: %s", host, port, err)
        raise SatelliteUnreachable("satellite_unreachable") from err
    finally:
        await client.disconnect()


def parse_satellite_address(text: str) -> tuple[str, int] | None:
    """`tcp://host:port` (port 10700 if left out) -> (host, port); None if not such an address."""
    if not text.strip().lower().startswith("tcp://"):
        return None
    parts = urlsplit(text.strip())
    try:
        port = parts.port or DEFAULT_SATELLITE_PORT
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname else None


class SatelliteFlowMixin(_Base):
    """The satellite steps of Jarvis's config flow."""

    _sat_host: str = ""
    _sat_port: int = 0
    _sat_name: str = ""
    _sat_zeroconf_name: str | None = None

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """A Jarvis satellite announced itself."""
        props = discovery_info.properties
        if props.get(ZEROCONF_JARVIS_PROPERTY) != ZEROCONF_JARVIS_SATELLITE:
            return self.async_abort(reason="not_jarvis_satellite")
        if discovery_info.port is None:
            return self.async_abort(reason="satellite_unreachable")
        host, port = discovery_info.host, discovery_info.port
        self._sat_zeroconf_name = discovery_info.name
        self._abort_wyoming_flows(discovery_info.name)
        satellite_id = str(props.get("id") or discovery_info.name.split(".", 1)[0])
        for entry in self._async_current_entries(include_ignore=False):
            if (entry.data.get(CONF_HOST), entry.data.get(CONF_PORT)) == (host, port) or (
                entry.unique_id == satellite_id
            ):
                # Already Jarvis's (e.g. added by hand): keep HA's wyoming from offering it.
                self._ignore_wyoming_discovery(str(props.get("name") or entry.title))
                break
        self._async_abort_entries_match({CONF_HOST: host, CONF_PORT: port})
        await self.async_set_unique_id(satellite_id)
        self._abort_if_unique_id_configured(updates={CONF_HOST: host, CONF_PORT: port})
        self._sat_host, self._sat_port = host, port
        try:
            info, needs_code = await async_probe(host, port)
        except SatelliteUnreachable as err:
            return self.async_abort(reason=err.reason)
        assert info.satellite is not None
        self._sat_name = info.satellite.name
        self.context["title_placeholders"] = {"name": self._sat_name}
        if needs_code:
            return await self.async_step_pair()
        return await self.async_step_satellite_confirm()

    async def async_step_satellite_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm adding a discovered satellite."""
        if user_input is not None:
            return await self._async_create_satellite(None)
        return self.async_show_form(
            step_id="satellite_confirm", description_placeholders={"name": self._sat_name}
        )

    async def async_step_satellite_address(self, host: str, port: int) -> ConfigFlowResult:
        """A satellite typed in by hand (from the user step)."""
        self._async_abort_entries_match({CONF_HOST: host, CONF_PORT: port})
        info, needs_code = await async_probe(host, port)  # SatelliteUnreachable: form error
        assert info.satellite is not None
        self._sat_host, self._sat_port, self._sat_name = host, port, info.satellite.name
        await self.async_set_unique_id(f"{host}:{port}")
        self._abort_if_unique_id_configured()
        if needs_code:
            return await self.async_step_pair()
        return await self._async_create_satellite(None)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The satellite refuses the stored pairing code (it was changed there): ask again."""
        entry = self._get_reauth_entry()
        self._sat_host, self._sat_port = entry_data[CONF_HOST], entry_data[CONF_PORT]
        self._sat_name = entry.title
        return await self.async_step_pair()

    async def async_step_pair(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the satellite's pairing code and prove it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            code = str(user_input[CONF_PAIRING_SECRET]).strip()
            try:
                await async_probe(self._sat_host, self._sat_port, code)
            except SatelliteUnreachable as err:
                errors["base"] = err.reason
            else:
                if self.source == SOURCE_REAUTH:
                    return self.async_update_reload_and_abort(
                        self._get_reauth_entry(), data_updates={CONF_PAIRING_SECRET: code}
                    )
                return await self._async_create_satellite(code)
        return self.async_show_form(
            step_id="pair",
            data_schema=CODE_SCHEMA,
            errors=errors,
            description_placeholders={"name": self._sat_name},
        )

    async def _async_create_satellite(self, code: str | None) -> ConfigFlowResult:
        self._take_over_from_wyoming()
        data: dict[str, Any] = {
            CONF_ENTRY_KIND: ENTRY_KIND_SATELLITE,
            CONF_HOST: self._sat_host,
            CONF_PORT: self._sat_port,
        }
        if code:
            data[CONF_PAIRING_SECRET] = code
        return self.async_create_entry(
            title=self._sat_name, data=data, options={CONF_ARBITRATION: DEFAULT_ARBITRATION}
        )

    # --- never driven twice --------------------------------------------------------------

    def _abort_wyoming_flows(self, zeroconf_name: str) -> None:
        """Abort HA's wyoming discovery of this service (its unique id starts with its name)."""
        flows = self.hass.config_entries.flow
        for flow in flows.async_progress_by_handler(WYOMING, include_uninitialized=True):
            unique_id = str(flow.get("context", {}).get("unique_id") or "")
            if unique_id.startswith(f"{zeroconf_name}_"):
                _LOGGER.debug("Aborting HA's wyoming discovery of %s", zeroconf_name)
                flows.async_abort(flow["flow_id"])

    def _take_over_from_wyoming(self) -> None:
        """Disable a wyoming entry driving this satellite; ignore its wyoming discovery."""
        hass = self.hass
        for entry in hass.config_entries.async_entries(WYOMING, include_ignore=False):
            if (
                entry.data.get(CONF_HOST) == self._sat_host
                and entry.data.get(CONF_PORT) == self._sat_port
                and not entry.disabled_by
            ):
                _LOGGER.warning(
                    "Jarvis drives the satellite %s now: HA's wyoming entry for it is disabled",
                    self._sat_name,
                )
                hass.async_create_task(
                    hass.config_entries.async_set_disabled_by(
                        entry.entry_id, ConfigEntryDisabler.USER
                    )
                )
        self._ignore_wyoming_discovery(self._sat_name)

    def _ignore_wyoming_discovery(self, name: str) -> None:
        """Abort HA's wyoming discovery of this service and ignore it from now on."""
        if self._sat_zeroconf_name is None:
            return
        hass = self.hass
        self._abort_wyoming_flows(self._sat_zeroconf_name)
        unique_id = f"{self._sat_zeroconf_name}_{name}"  # HA's wyoming unique id
        if hass.config_entries.async_entry_for_domain_unique_id(WYOMING, unique_id) is None:
            hass.async_create_task(
                hass.config_entries.flow.async_init(
                    WYOMING,
                    context={
                        "source": SOURCE_IGNORE,
                        "unique_id": unique_id,
                        "title_placeholders": {"name": name},
                    },
                    data={"unique_id": unique_id, "title": name},
                )
            )


class SatelliteOptionsFlow(OptionsFlow):
    """A satellite's options: wake word arbitration."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Arbitration on or off."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_ARBITRATION,
                    default=self.config_entry.options.get(CONF_ARBITRATION, DEFAULT_ARBITRATION),
                ): BooleanSelector()
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)


def is_satellite(entry: ConfigEntry) -> bool:
    """Whether an entry is a satellite's."""
    return entry.data.get(CONF_ENTRY_KIND) == ENTRY_KIND_SATELLITE
