"""The Wyoming connection to one Jarvis satellite: connect, drive, subscribe, reconnect.

One TCP connection per satellite (the `wyoming` library's client). On connecting, the link
pairs (when the entry has a pairing code), sends `run-satellite` (Home Assistant drives the
satellite), `describe`, and a `jarvis-satellite-control` asking to be pushed the satellite's
state (`subscribe`) and, when on, to arbitrate its wake words. It pings every few seconds; a
silent or closed connection is retried with backoff (1 s doubling to 15 s). Listeners hear of
every change of connection or state; the assist satellite gets the pipeline events.

A satellite older than the issue-11 protocol refuses the new control fields (`bad-request`
"unknown field"): the link then asks for its state with an empty control event on each ping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.satellite import PauseSatellite, RunSatellite

from .satellite_pairing import NOT_CONFIGURED, PairingError, async_pair

_LOGGER = logging.getLogger(__name__)

CONTROL_TYPE = "jarvis-satellite-control"
STATE_TYPE = "jarvis-satellite-state"
CLAIM_TYPE = "jarvis-wake-claim"
DECISION_TYPE = "jarvis-wake-decision"

CONNECT_TIMEOUT_S = 10.0
PING_INTERVAL_S = 5.0
SILENCE_TIMEOUT_S = 3 * PING_INTERVAL_S  # nothing heard for this long: the link is dead
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 15.0
REFUSED_CODES = frozenset({"pairing-failed", "satellite-unproven"})

type EventHandler = Callable[[Event], None]
type ClaimHandler = Callable[[dict[str, Any]], Awaitable[bool]]


class SatelliteLink:
    """Keeps one connection to a satellite and what it last said about itself."""

    def __init__(
        self,
        hass: HomeAssistant,
        host: str,
        port: int,
        *,
        pairing_code: str | None = None,
        arbitration: bool = False,
    ) -> None:
        """Not connected until `async_start`."""
        self.hass = hass
        self.host = host
        self.port = port
        self.pairing_code = pairing_code
        self.arbitration = arbitration
        self.connected = False
        self.info: Info | None = None
        self.state: dict[str, Any] = {}
        self.extended = True  # the satellite knows the issue-11 control fields
        self.last_error: str | None = None
        self.on_event: EventHandler | None = None  # the assist satellite's handler
        self.on_claim: ClaimHandler | None = None  # arbitration: True = this one runs
        self.on_auth_failed: Callable[[], None] | None = None  # the pairing code is refused
        self._client: AsyncTcpClient | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._logged_down = False

    # --- life cycle ----------------------------------------------------------------------

    @callback
    def async_start(self, entry: ConfigEntry) -> None:
        """Connect in the background, and keep connecting until stopped."""
        self._running = True
        self._task = entry.async_create_background_task(
            self.hass, self._async_run(), f"jarvis satellite {self.host}:{self.port}"
        )

    async def async_stop(self) -> None:
        """Pause the satellite and close the connection."""
        self._running = False
        client = self._client
        if client is not None:
            with contextlib.suppress(OSError, ConnectionError, TimeoutError):
                async with asyncio.timeout(2):
                    await client.write_event(PauseSatellite().event())
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._async_close()

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener` on each change of connection or state; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    # --- sending -------------------------------------------------------------------------

    async def async_send(self, event: Event) -> bool:
        """Write an event; False when the satellite is not connected or the write failed."""
        client = self._client
        if client is None:
            return False
        try:
            await client.write_event(event)
        except (OSError, ConnectionError) as err:
            _LOGGER.debug("Writing %s to %s:%s failed: %s", event.type, self.host, self.port, err)
            return False
        return True

    async def async_control(self, **fields: Any) -> bool:
        """Send `jarvis-satellite-control` with `fields` (the satellite answers with its state)."""
        return await self.async_send(Event(type=CONTROL_TYPE, data=fields))

    @property
    def name(self) -> str:
        """The satellite's own name, from its `info`."""
        if self.info is not None and self.info.satellite is not None:
            return self.info.satellite.name
        return f"{self.host}:{self.port}"

    # --- the connection ------------------------------------------------------------------

    async def _async_run(self) -> None:
        backoff = BACKOFF_MIN_S
        while self._running:
            try:
                await self._async_connect()
                backoff = BACKOFF_MIN_S
                await self._async_serve()
            except (OSError, ConnectionError, TimeoutError, PairingError) as err:
                self.last_error = str(err) or type(err).__name__
                self._notify()
                if isinstance(err, PairingError) and err.code in REFUSED_CODES:
                    if self.on_auth_failed is not None:
                        self.on_auth_failed()
                if not self._logged_down:
                    _LOGGER.warning(
                        "Satellite at %s:%s is unavailable: %s", self.host, self.port, err
                    )
                    self._logged_down = True
            finally:
                await self._async_close()
            if self._running:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _async_connect(self) -> None:
        client = AsyncTcpClient(self.host, self.port)
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await client.connect()
        self._client = client
        if self.pairing_code:
            try:
                await async_pair(client, self.pairing_code)
            except PairingError as err:
                if err.code != NOT_CONFIGURED:
                    raise
                _LOGGER.debug("Satellite at %s:%s no longer asks to pair", self.host, self.port)
        await client.write_event(RunSatellite().event())
        await client.write_event(Describe().event())
        await self._async_ask_state(subscribe=True)

    async def _async_ask_state(self, *, subscribe: bool = False) -> None:
        fields: dict[str, Any] = {}
        if self.extended and subscribe:
            fields = {"subscribe": True, "arbitration": self.arbitration}
        await self.async_control(**fields)

    async def _async_serve(self) -> None:
        client = self._client
        assert client is not None
        pinger = asyncio.create_task(self._async_ping())
        try:
            while self._running:
                async with asyncio.timeout(SILENCE_TIMEOUT_S):
                    event = await client.read_event()
                if event is None:
                    raise ConnectionError("the satellite closed the connection")
                self._handle(event)
        finally:
            pinger.cancel()

    async def _async_ping(self) -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL_S)
            await self.async_send(Ping().event())
            if not self.extended:
                await self._async_ask_state()  # no push: poll

    async def _async_close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError, ConnectionError):
                await client.disconnect()
        if self.connected:
            self.connected = False
            self._notify()

    # --- what the satellite says ---------------------------------------------------------

    @callback
    def _handle(self, event: Event) -> None:
        if event.type == STATE_TYPE:
            self.state = dict(event.data)
            if not self.connected:
                self.connected = True
                self.last_error = None
                if self._logged_down:
                    _LOGGER.info("Satellite at %s:%s is back", self.host, self.port)
                    self._logged_down = False
            self._notify()
        elif Info.is_type(event.type):
            self.info = Info.from_event(event)
            self._notify()
        elif Ping.is_type(event.type):
            self.hass.async_create_task(self.async_send(Pong(text=event.data.get("text")).event()))
        elif Pong.is_type(event.type):
            pass
        elif event.type == CLAIM_TYPE:
            self.hass.async_create_task(self._async_decide(dict(event.data)))
        elif event.type == "error" and self._is_unknown_control_field(event):
            _LOGGER.info(
                "Satellite at %s:%s predates state push and arbitration: polling its state",
                self.host, self.port,
            )  # fmt: skip
            self.extended = False
            self.hass.async_create_task(self._async_ask_state())
        elif event.type == "error" and event.data.get("code") == "not-allowed":
            self.last_error = str(event.data.get("text", "not allowed"))
            _LOGGER.warning(
                "Satellite at %s:%s refuses Home Assistant: %s", self.host, self.port,
                self.last_error,
            )  # fmt: skip
        elif self.on_event is not None:
            self.on_event(event)

    @staticmethod
    def _is_unknown_control_field(event: Event) -> bool:
        text = str(event.data.get("text", ""))
        return text.startswith(CONTROL_TYPE) and "unknown field" in text

    async def _async_decide(self, claim: dict[str, Any]) -> None:
        run = True if self.on_claim is None else await self.on_claim(claim)
        await self.async_send(Event(type=DECISION_TYPE, data={"id": claim.get("id"), "run": run}))
