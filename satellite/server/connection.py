"""One Wyoming connection to the satellite, on the shared wire library's guarded read loop.

Any number of peers may connect (Home Assistant also opens short `describe` connections to
refresh its info); the one that sends a driving event (`run-satellite`, audio, …) drives the
satellite and a newer one replaces it. Each event goes through the satellite's `gate.Gate`
(access control, then every field checked): a peer that may not drive or control gets `error`
(code `not-allowed`) and is disconnected; a bad event gets `error` (`bad-request`) and changes
nothing. What passes goes to the `Satellite`. The pairing exchange (`satellite.pairing`) is
held here, per connection.

A connection must send its first event within `FIRST_EVENT_TIMEOUT_S`, so idle connections
free their slot quickly; the driving one may then be quiet for as long as it likes.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
import itertools
import logging

from wyoming.event import Event

from satellite.pairing import MAX_FAILURES, OK_TYPE, PairingServer, PairRequest, PairResponse
from wyoming_wire import Limits, RequestError, SafeEventHandler
from wyoming_wire.logs import LogOnce

from .gate import NotAllowed
from .satellite import Satellite

_LOGGER = logging.getLogger(__name__)
_log_once = LogOnce(_LOGGER)
_ids = itertools.count(1)

LIMITS = Limits(
    max_payload_bytes=8 * 1024 * 1024,
    idle_timeout_s=60.0,
    write_timeout_s=5.0,
    max_connections=16,
    max_connections_per_peer=8,
)
"""A satellite has one driver and a few short `describe`/control connections."""
FIRST_EVENT_TIMEOUT_S = 10.0
"""Home Assistant and the control command speak at once; a silent connection is dropped."""


class SatelliteConnection(SafeEventHandler):
    """Feeds one connection's events to the `Satellite`; the `Peer` it writes back to."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: Limits,
        satellite: Satellite,
    ) -> None:
        """Wrap an accepted connection."""
        first = limits.idle_timeout_s
        if first is None or first > FIRST_EVENT_TIMEOUT_S:
            first = FIRST_EVENT_TIMEOUT_S
        super().__init__(reader, writer, replace(limits, idle_timeout_s=first))
        self._idle_timeout_s = limits.idle_timeout_s
        self.satellite = satellite
        self.name = f"connection {next(_ids)} ({self.client})"
        secret = satellite.gate.pairing_secret
        self._pairing = PairingServer(secret) if secret is not None else None

    @property
    def paired(self) -> bool:
        """This connection proved it knows the pairing secret."""
        return self._pairing is not None and self._pairing.paired

    async def handle_event(self, event: Event) -> bool:
        """Check the event and hand it to the satellite; False closes the connection."""
        gate = self.satellite.gate
        if gate.is_pairing(event.type):
            return await self._pair(event)
        try:
            value = await gate.admit(event, self.host, paired=self.paired)
        except NotAllowed as err:
            await self._refuse(event.type, err.why)
            return False
        await self.satellite.handle_event(self, event.type, value)
        self._after_event()
        return True

    def _after_event(self) -> None:
        """Back to the normal idle timeout; none at all while driving."""
        # The driving connection may be quiet for long (HA stops pinging while muted).
        self.set_idle_timeout(None if self.satellite.driver is self else self._idle_timeout_s)

    async def _refuse(self, event_type: str, why: str) -> None:
        _log_once(
            logging.WARNING, f"not allowed {self.host}",
            "%s is not allowed to drive or control this satellite (%s, sent %s); disconnected",
            self.host, why, event_type,
        )  # fmt: skip
        await self.send_error(f"not allowed: {why}", "not-allowed")

    async def _pair(self, event: Event) -> bool:
        pairing = self._pairing
        if pairing is None:
            # HA's config flow probes every discovered satellite this way: an answer, not a fault.
            _LOGGER.debug("%s asked to pair; this satellite has no pairing secret", self.name)
            await self.send_error("this satellite has no pairing secret", "pairing-not-configured")
            self._after_event()
            return True
        value = await self.satellite.gate.admit(event, self.host, paired=self.paired)
        if isinstance(value, PairRequest):
            await self.send(pairing.challenge(value).event())
        elif isinstance(value, PairResponse):
            if pairing.verify(value):
                _LOGGER.info("%s paired", self.name)
                await self.send(Event(type=OK_TYPE))
            else:
                _log_once(
                    logging.WARNING, f"pairing {self.host}", "%s failed to pair (%d of %d)",
                    self.name, pairing.failures, MAX_FAILURES,
                )  # fmt: skip
                self.satellite.gate.pairing_failed()
                await self.send_error("pairing failed", "pairing-failed")
                return not pairing.exhausted
        self._after_event()
        return True

    async def report(self, err: Exception) -> None:
        """Count and answer an event the satellite could not handle (logged once a minute)."""
        self.satellite.gate.bad_event()
        if not isinstance(err, RequestError):
            await super().report(err)
            return
        _LOGGER.debug("Client %s: %s", self.client, err)
        _log_once(logging.WARNING, f"bad {self.host}", "Client %s: %s", self.client, err)
        await self.send_error(str(err), err.code)

    async def send(self, event: Event) -> bool:
        """Write an event; False if the connection is gone (a stalled peer is dropped)."""
        try:
            await self.write_event(event)
        except ConnectionError:
            return False
        return True

    async def disconnect(self) -> None:
        """The connection ended: the satellite forgets it if it was driving."""
        self.satellite.connection_lost(self)
