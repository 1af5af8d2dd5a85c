"""Connections the satellite opens to Wyoming services itself.

The TTS server of MQTT announcements, the STT server of the stop word (`tcp://host:port` or
`unix:///path`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib

from wyoming_wire.limits import MAX_HEADER_BYTES
from wyoming_wire.reader import WireError
from wyoming_wire.server import parse_uri


async def open_service(
    uri: str, what: str, timeout_s: float, error: type[Exception]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the `what` ("TTS server") at `uri`; `error` with the reason if it cannot."""
    try:
        endpoint = parse_uri(uri)
    except ValueError as err:
        raise error(str(err)) from None
    try:
        async with asyncio.timeout(timeout_s):
            if endpoint.scheme == "unix":
                return await asyncio.open_unix_connection(endpoint.path, limit=MAX_HEADER_BYTES)
            return await asyncio.open_connection(
                endpoint.host, endpoint.port, limit=MAX_HEADER_BYTES
            )
    except TimeoutError:
        raise error(
            f"the {what} at {uri} did not accept a connection within {timeout_s:g} s"
        ) from None
    except OSError as err:
        raise error(f"cannot reach the {what} at {uri}: {err.strerror or err}") from None


async def close_service(writer: asyncio.StreamWriter) -> None:
    """Close a connection, waiting a second at most for the peer."""
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(1.0):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def service_call(
    uri: str,
    what: str,
    error: type[Exception],
    *,
    connect_s: float,
    answer_s: float,
    no_answer: str,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """One request to the `what` at `uri`, answered within `answer_s` or `error`.

    `no_answer` says what did not happen in time ("did not finish").
    """
    reader, writer = await open_service(uri, what, connect_s, error)
    try:
        async with asyncio.timeout(answer_s):
            yield reader, writer
    except TimeoutError:
        raise error(f"the {what} at {uri} {no_answer} within {answer_s:g} s") from None
    except (OSError, WireError) as err:
        raise error(f"the {what} at {uri} failed: {err}") from None
    finally:
        await close_service(writer)
