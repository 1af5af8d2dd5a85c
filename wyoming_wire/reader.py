"""Reading one Wyoming event under `Limits`.

A Wyoming event is a JSON header line, then `data_length` bytes of JSON data, then
`payload_length` bytes of payload. `read_event` returns the event, None at a clean end of stream,
or raises:

- `BadEvent`: the header or data is not a valid event but was fully read, so the stream can go
  on (answer with `error` and skip it);
- `StreamBroken`: the stream cannot be trusted any further (lengths missing, negative or over the
  limits, a header or body that did not arrive in time): answer and close;
- `ConnectionError`: the peer closed in the middle of an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from typing import Any

from wyoming.event import Event

from .limits import MAX_HEADER_BYTES, Limits


class WireError(Exception):
    """An event could not be read; `code` is the Wyoming `error` event's code."""

    def __init__(self, text: str, code: str) -> None:
        """Describe the problem with a message and a machine-readable code."""
        super().__init__(text)
        self.code = code


class BadEvent(WireError):
    """A malformed event that was read whole and skipped; the connection can go on."""


class StreamBroken(WireError):
    """The stream cannot be read any further; the connection must be closed."""


def _too_deep(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json_object(raw: bytes, what: str, code: str, limits: Limits) -> dict[str, Any]:
    """Parse a JSON object (header or data); BadEvent if it is not one or nests too deep."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        reason = "nests too deep" if isinstance(err, RecursionError) else "is not JSON"
        raise BadEvent(f"event {what} {reason}: {raw[:40]!r}", code) from None
    if not isinstance(value, dict):
        raise BadEvent(f"event {what} must be a JSON object", code)
    if _too_deep(value, limits.max_json_depth):
        raise BadEvent(f"event {what} nests deeper than {limits.max_json_depth} levels", code)
    return value


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StreamBroken(f"{key} must be a non-negative integer, got {value!r}", "bad-header")
    if value > limit:
        raise StreamBroken(f"{key} {value} exceeds the limit of {limit} bytes", "too-large")
    return value


async def _read_line(
    reader: asyncio.StreamReader, limits: Limits, started: Callable[[], None] | None
) -> bytes | None:
    """The header line; None at a clean end of stream."""
    first = await reader.read(1)
    if not first:
        return None
    if started is not None:
        started()
    if first == b"\n":
        return first
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            return first + await reader.readuntil(b"\n")
    except TimeoutError:
        raise StreamBroken(
            f"event header not finished within {limits.body_timeout_s:g} s", "timeout"
        ) from None
    except asyncio.IncompleteReadError as err:
        raise ConnectionError("peer closed the connection in the middle of a header") from err
    except asyncio.LimitOverrunError:
        raise StreamBroken(
            f"event header longer than {MAX_HEADER_BYTES} bytes", "bad-header"
        ) from None


def _check_header(line: bytes, limits: Limits) -> dict[str, Any]:
    if not line.strip():
        raise BadEvent("empty event header line", "bad-header")
    header = parse_json_object(line, "header", "bad-header", limits)
    if not isinstance(header.get("type"), str) or not header["type"]:
        raise BadEvent("event header must have a 'type' string", "bad-header")
    if not isinstance(header.get("data") or {}, dict):
        raise BadEvent("event 'data' must be a JSON object", "bad-header")
    return header


async def read_event(
    reader: asyncio.StreamReader, limits: Limits, started: Callable[[], None] | None = None
) -> Event | None:
    """Read one event (see the module docstring for what it raises).

    Waits for the first byte without a time limit (idle time is the caller's business);
    `started` is called when it arrives, then the event must complete within the body timeout.
    """
    line = await _read_line(reader, limits, started)
    if line is None:
        return None
    problem: BadEvent | None = None
    header: dict[str, Any] = {}
    try:
        header = _check_header(line, limits)
    except BadEvent as err:
        problem = err
    data_length = _length(header, "data_length", limits.max_data_bytes)
    payload_length = _length(header, "payload_length", limits.max_payload_bytes)
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            raw_data = await reader.readexactly(data_length) if data_length else b""
            payload = await reader.readexactly(payload_length) if payload_length else None
    except TimeoutError:
        raise StreamBroken(
            f"event body did not arrive within {limits.body_timeout_s:g} s "
            "(wrong data_length or payload_length?)",
            "timeout",
        ) from None
    except asyncio.IncompleteReadError as err:
        raise ConnectionError("peer closed the connection in the middle of an event") from err
    if problem is not None:
        raise problem
    data: dict[str, Any] = dict(header.get("data") or {})
    if raw_data:
        data.update(parse_json_object(raw_data, "data", "bad-data", limits))
    return Event(type=header["type"], data=data, payload=payload)
