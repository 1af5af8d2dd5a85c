"""The gate every event from a peer passes before the satellite sees it.

In order: who may send it (`access`: `describe`/`ping` and pairing are open to all; control
and driving events only from trusted, allowed or paired peers), then whether it is well
formed (`events.parse`: every field checked). A driving event that passes makes its sender
the remembered driver (trust on first use). The gate counts what it turned away, and is the
one place that reads and changes the access policy (the control command's "forget driver",
the status).
"""

from __future__ import annotations

import asyncio
from typing import Any

from wyoming.event import Event

from satellite.config import ServerSettings
from wyoming_wire import RequestError

from .access import Access, state_path
from .events import Kind, Value, kind_of, parse


class NotAllowed(Exception):
    """This peer may not send this event (the connection is then closed)."""

    def __init__(self, why: str) -> None:
        """`why` is told to the peer and logged."""
        super().__init__(why)
        self.why = why


class Gate:
    """Access control and event checks for every connection of one satellite."""

    def __init__(self, access: Access) -> None:
        """Use this access policy."""
        self._access = access
        self.refused = 0  # events and pairings refused
        self.bad_events = 0  # events answered with an `error`

    @classmethod
    def from_settings(cls, server: ServerSettings) -> Gate:
        """The gate the `[server]` settings describe."""
        secret = server.pairing_secret
        return cls(
            Access(
                server.allowed_peers,
                state_path(server.state_file),
                secret.encode() if secret else None,
            )
        )

    @property
    def pairing_secret(self) -> bytes | None:
        """The pairing secret, if peers must pair."""
        return self._access.secret

    @staticmethod
    def is_pairing(event_type: str) -> bool:
        """The event is part of the pairing exchange."""
        return kind_of(event_type) is Kind.PAIRING

    async def load(self) -> None:
        """Read the remembered driver (in a thread)."""
        await asyncio.to_thread(self._access.load)

    async def admit(self, event: Event, host: str, *, paired: bool) -> Value | None:
        """The checked value of `event` from `host` (None: a type the satellite ignores).

        Raises NotAllowed if `host` may not send it, RequestError if it is malformed.
        """
        kind = kind_of(event.type)
        if kind in (Kind.CONTROL, Kind.DRIVE):
            why = self._access.refusal(host, paired=paired, driving=kind is Kind.DRIVE)
            if why is not None:
                self.refused += 1
                raise NotAllowed(why)
        value = parse(event)
        if kind is Kind.DRIVE and value is not None:
            await self._access.remember(host)
        return value

    def pairing_failed(self) -> None:
        """Count a failed pairing attempt."""
        self.refused += 1

    def bad_event(self) -> None:
        """Count an event answered with an `error`."""
        self.bad_events += 1

    def check_forget_driver(self) -> None:
        """Raise RequestError if there is no remembered driver to forget (not trust on first use)."""
        mode = self._access.mode
        if mode != "tofu":
            raise RequestError(
                f"no remembered driver to forget: access is by {mode}", "bad-request"
            )

    async def forget_driver(self) -> None:
        """Forget the remembered driver: the next one is trusted."""
        await self._access.forget()

    def status(self) -> dict[str, Any]:
        """The access policy, for the control command's status."""
        return self._access.status()
