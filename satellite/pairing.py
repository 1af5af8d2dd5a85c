r"""Pairing: a peer proves it knows the satellite's shared secret before it may drive it.

Both sides are here: `PairingServer` (one per satellite connection) and `pair()` (the peer,
e.g. the Jarvis integration or `jarvis-satellite control`). The exchange, as custom Wyoming
events (nonces and MACs are lowercase hex; k = the secret's UTF-8 bytes)::

    peer      -> jarvis-pair-request   {"nonce": C}                       C: 32 random bytes
    satellite -> jarvis-pair-challenge {"nonce": S, "proof": P}           S: 32 random bytes
                 P = HMAC-SHA256(k, "jarvis-pair satellite\n" + C + "\n" + S)
    peer      -> jarvis-pair-response  {"mac": M}   (after checking P: the satellite is genuine)
                 M = HMAC-SHA256(k, "jarvis-pair peer\n" + S + "\n" + C)
    satellite -> jarvis-pair-ok        {}   or `error` code "pairing-failed"

Each challenge answers one response; MACs are compared in constant time; after
`MAX_FAILURES` failed responses the satellite closes the connection. A satellite without a
secret answers a request with `error` code "pairing-not-configured". Pairing authenticates
the connection, not each byte on it: Wyoming has no encryption, so audio still crosses the
LAN in the clear.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import hashlib
import hmac
import secrets
from typing import Any

from wyoming.client import AsyncClient
from wyoming.event import Event, Eventable

REQUEST_TYPE = "jarvis-pair-request"
CHALLENGE_TYPE = "jarvis-pair-challenge"
RESPONSE_TYPE = "jarvis-pair-response"
OK_TYPE = "jarvis-pair-ok"
PAIR_TYPES = frozenset({REQUEST_TYPE, RESPONSE_TYPE})
"""The pairing events a satellite receives."""

MAX_FAILURES = 3
NONCE_BYTES = 32
_HEX_LEN = 2 * NONCE_BYTES  # nonces and SHA-256 MACs alike
_SATELLITE_LABEL = "jarvis-pair satellite"
_PEER_LABEL = "jarvis-pair peer"


class PairingError(Exception):
    """Pairing failed; `code` is the satellite's error code (or the peer's own reason)."""

    def __init__(self, text: str, code: str) -> None:
        """A message and a machine-readable code (both in str())."""
        super().__init__(f"{code}: {text}")
        self.code = code


def _hex(value: Any, name: str) -> str:
    """A lowercase hex string of 64 characters, or ValueError."""
    if not isinstance(value, str) or len(value) != _HEX_LEN or value.strip("0123456789abcdef"):
        raise ValueError(f"{name} must be {_HEX_LEN} lowercase hex characters")
    return value


def new_nonce() -> str:
    """A fresh random nonce (hex)."""
    return secrets.token_hex(NONCE_BYTES)


def _mac(secret: bytes, label: str, first: str, second: str) -> str:
    return hmac.new(secret, f"{label}\n{first}\n{second}".encode(), hashlib.sha256).hexdigest()


def satellite_proof(secret: bytes, peer_nonce: str, satellite_nonce: str) -> str:
    """What the satellite sends to show it knows the secret."""
    return _mac(secret, _SATELLITE_LABEL, peer_nonce, satellite_nonce)


def client_mac(secret: bytes, satellite_nonce: str, peer_nonce: str) -> str:
    """What the peer answers the challenge with."""
    return _mac(secret, _PEER_LABEL, satellite_nonce, peer_nonce)


@dataclass
class PairRequest(Eventable):
    """The peer asks for a challenge."""

    nonce: str

    @staticmethod
    def is_type(event_type: str) -> bool:
        """Whether an event type is this one."""
        return event_type == REQUEST_TYPE

    def event(self) -> Event:
        """As a Wyoming event."""
        return Event(type=REQUEST_TYPE, data={"nonce": self.nonce})

    @staticmethod
    def from_event(event: Event) -> PairRequest:
        """From a Wyoming event (ValueError if malformed)."""
        return PairRequest(nonce=_hex(event.data.get("nonce"), "nonce"))


@dataclass
class PairChallenge(Eventable):
    """The satellite's nonce, and its proof that it knows the secret."""

    nonce: str
    proof: str

    @staticmethod
    def is_type(event_type: str) -> bool:
        """Whether an event type is this one."""
        return event_type == CHALLENGE_TYPE

    def event(self) -> Event:
        """As a Wyoming event."""
        return Event(type=CHALLENGE_TYPE, data={"nonce": self.nonce, "proof": self.proof})

    @staticmethod
    def from_event(event: Event) -> PairChallenge:
        """From a Wyoming event (ValueError if malformed)."""
        return PairChallenge(
            nonce=_hex(event.data.get("nonce"), "nonce"),
            proof=_hex(event.data.get("proof"), "proof"),
        )


@dataclass
class PairResponse(Eventable):
    """The peer's answer to a challenge."""

    mac: str

    @staticmethod
    def is_type(event_type: str) -> bool:
        """Whether an event type is this one."""
        return event_type == RESPONSE_TYPE

    def event(self) -> Event:
        """As a Wyoming event."""
        return Event(type=RESPONSE_TYPE, data={"mac": self.mac})

    @staticmethod
    def from_event(event: Event) -> PairResponse:
        """From a Wyoming event (ValueError if malformed)."""
        return PairResponse(mac=_hex(event.data.get("mac"), "mac"))


class PairingServer:
    """The satellite's side of pairing, for one connection."""

    def __init__(self, secret: bytes) -> None:
        """Check peers against `secret`."""
        self._secret = secret
        self._pending: tuple[str, str] | None = None  # (peer nonce, satellite nonce)
        self.failures = 0
        self.paired = False

    def challenge(self, request: PairRequest) -> PairChallenge:
        """A fresh challenge for a request (replaces any earlier one)."""
        nonce = new_nonce()
        self._pending = (request.nonce, nonce)
        return PairChallenge(nonce, satellite_proof(self._secret, request.nonce, nonce))

    def verify(self, response: PairResponse) -> bool:
        """Whether the response answers the pending challenge (which is used up either way)."""
        pending, self._pending = self._pending, None
        expected = "" if pending is None else client_mac(self._secret, pending[1], pending[0])
        # Constant time; a response without a challenge compares against "" and fails.
        if pending is not None and hmac.compare_digest(expected, response.mac):
            self.paired = True
            return True
        self.failures += 1
        return False

    @property
    def exhausted(self) -> bool:
        """Too many failures: close the connection."""
        return self.failures >= MAX_FAILURES


async def _expect(client: AsyncClient, event_type: str) -> Event:
    while True:
        event = await client.read_event()
        if event is None:
            raise PairingError("the satellite closed the connection", "connection-closed")
        if event.type == event_type:
            return event
        if event.type == "error":
            code = str(event.data.get("code") or "error")
            raise PairingError(str(event.data.get("text", "")), code)


async def pair(client: AsyncClient, secret: bytes, timeout: float = 10.0) -> None:
    """Pair a connected Wyoming client with the satellite; raise PairingError if it fails.

    Events other than the answers (e.g. `pong`) that arrive meanwhile are skipped.
    """
    nonce = new_nonce()
    async with asyncio.timeout(timeout):
        await client.write_event(PairRequest(nonce).event())
        try:
            challenge = PairChallenge.from_event(await _expect(client, CHALLENGE_TYPE))
        except ValueError as err:
            raise PairingError(str(err), "bad-challenge") from None
        expected = satellite_proof(secret, nonce, challenge.nonce)
        if not hmac.compare_digest(expected, challenge.proof):
            raise PairingError("the satellite does not know the secret", "satellite-unproven")
        await client.write_event(PairResponse(client_mac(secret, challenge.nonce, nonce)).event())
        await _expect(client, OK_TYPE)
