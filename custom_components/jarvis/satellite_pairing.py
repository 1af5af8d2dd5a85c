r"""Pairing with a Jarvis satellite: the peer's side of its HMAC challenge-response.

The satellite's side lives in the satellite package; this is the same exchange written for
the integration (which never imports the satellite). k = the pairing code's UTF-8 bytes::

    HA        -> jarvis-pair-request   {"nonce": C}
    satellite -> jarvis-pair-challenge {"nonce": S,
                                        "proof": HMAC(k, "jarvis-pair satellite\nC\nS")}
    HA        -> jarvis-pair-response  {"mac": HMAC(k, "jarvis-pair peer\nS\nC")}
    satellite -> jarvis-pair-ok        {}   (or `error` "pairing-failed")

HA checks the proof first, so a satellite that does not know the code learns nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from wyoming.client import AsyncClient
from wyoming.event import Event

REQUEST_TYPE = "jarvis-pair-request"
CHALLENGE_TYPE = "jarvis-pair-challenge"
RESPONSE_TYPE = "jarvis-pair-response"
OK_TYPE = "jarvis-pair-ok"
NOT_CONFIGURED = "pairing-not-configured"
NONCE_BYTES = 32
_HEX_LEN = 2 * NONCE_BYTES


class PairingError(Exception):
    """Pairing failed; `code` says why (the satellite's error code or our own)."""

    def __init__(self, text: str, code: str) -> None:
        """A message and a machine-readable code."""
        super().__init__(f"{code}: {text}")
        self.code = code


def _mac(secret: bytes, label: str, first: str, second: str) -> str:
    return hmac.new(secret, f"{label}\n{first}\n{second}".encode(), hashlib.sha256).hexdigest()


def _is_hex(value: object) -> bool:
    return isinstance(value, str) and len(value) == _HEX_LEN and not value.strip("0123456789abcdef")


async def _expect(client: AsyncClient, event_type: str) -> Event:
    """The next event of `event_type` (others are skipped); `error` raises PairingError."""
    while True:
        event = await client.read_event()
        if event is None:
            raise PairingError("the satellite closed the connection", "connection-closed")
        if event.type == event_type:
            return event
        if event.type == "error":
            raise PairingError(str(event.data.get("text", "")), str(event.data.get("code")))


async def async_needs_pairing(client: AsyncClient, timeout: float = 5.0) -> bool:
    """Whether the satellite asks peers to pair (a request it cannot serve says no)."""
    async with asyncio.timeout(timeout):
        await client.write_event(
            Event(type=REQUEST_TYPE, data={"nonce": secrets.token_hex(NONCE_BYTES)})
        )
        try:
            await _expect(client, CHALLENGE_TYPE)
        except PairingError as err:
            if err.code == NOT_CONFIGURED:
                return False
            raise
    return True


async def async_pair(client: AsyncClient, code: str, timeout: float = 10.0) -> None:
    """Pair a connected client with the satellite using the pairing code; PairingError if not."""
    secret = code.encode()
    nonce = secrets.token_hex(NONCE_BYTES)
    async with asyncio.timeout(timeout):
        await client.write_event(Event(type=REQUEST_TYPE, data={"nonce": nonce}))
        challenge = await _expect(client, CHALLENGE_TYPE)
        their_nonce, proof = challenge.data.get("nonce"), challenge.data.get("proof")
        if not _is_hex(their_nonce) or not _is_hex(proof):
            raise PairingError("malformed challenge", "bad-challenge")
        assert isinstance(their_nonce, str) and isinstance(proof, str)
        expected = _mac(secret, "jarvis-pair satellite", nonce, their_nonce)
        if not hmac.compare_digest(expected, proof):
            raise PairingError("the satellite does not know this code", "satellite-unproven")
        mac = _mac(secret, "jarvis-pair peer", their_nonce, nonce)
        await client.write_event(Event(type=RESPONSE_TYPE, data={"mac": mac}))
        await _expect(client, OK_TYPE)
