"""Reading and writing Wyoming events defensively.

The `wyoming` library's reader gives up on the whole connection at the first bad line and
raises on headers that are JSON but not an object. Here a malformed header is reported and
skipped (the newline framing lets the stream recover); only a stream that cannot be resynced
(truncated data or payload, oversized lengths) ends the connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
from typing import Any

from wyoming.event import Event, async_write_event

MAX_HEADER_BYTES = 64 * 1024
MAX_DATA_BYTES = 1024 * 1024
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024


@dataclass
class BadEvent:
    """A header line that could not be understood; it was skipped."""

    reason: str


class StreamBroken(Exception):
    """The peer sent something after which the stream cannot be read any further."""


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StreamBroken(f"invalid {key}: {value!r}")
    if value > limit:
        raise StreamBroken(f"{key} {value} exceeds the limit of {limit} bytes")
    return value


async def read_event(reader: asyncio.StreamReader) -> Event | BadEvent | None:
    """Read one event; None at end of stream; BadEvent for a skipped malformed header."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial.strip():
            return None
        raise StreamBroken("connection closed in the middle of an event header") from err
    except asyncio.LimitOverrunError as err:
        raise StreamBroken(f"event header longer than {MAX_HEADER_BYTES} bytes") from err

    if not line.strip():
        return BadEvent("empty line")
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return BadEvent(f"header is not JSON: {err}")
    if not isinstance(header, dict):
        return BadEvent("header is not a JSON object")
    event_type = header.get("type")
    data = header.get("data") or {}
    if not isinstance(event_type, str) or not event_type:
        reason = "header has no event type"
    elif not isinstance(data, dict):
        reason = "event data is not a JSON object"
    else:
        reason = ""

    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
    try:
        extra = await reader.readexactly(data_length) if data_length else b""
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError as err:
        raise StreamBroken("connection closed in the middle of an event body") from err

    if reason:
        return BadEvent(reason)
    if extra:
        try:
            more = json.loads(extra)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return BadEvent(f"event data is not JSON: {err}")
        if not isinstance(more, dict):
            return BadEvent("event data is not a JSON object")
        data = {**data, **more}
    assert isinstance(event_type, str)
    return Event(type=event_type, data=data, payload=payload)


async def write_event(event: Event, writer: asyncio.StreamWriter) -> None:
    """Write one event (the `wyoming` library's framing)."""
    await async_write_event(event, writer)
