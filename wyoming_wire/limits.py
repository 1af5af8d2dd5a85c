"""What one Wyoming connection may cost a process."""

from __future__ import annotations

from dataclasses import dataclass, replace

MAX_HEADER_BYTES = 64 * 1024
"""Longest JSON header line accepted (also the stream reader's buffer limit)."""


@dataclass(frozen=True)
class Limits:
    """Cost limits of a listener and of each of its connections."""

    max_data_bytes: int = 1024 * 1024
    """Largest `data_length`."""
    max_payload_bytes: int = 4 * 1024 * 1024
    """Largest binary payload (4 MiB is about 2 min of 16 kHz 16-bit audio)."""
    max_json_depth: int = 16
    """Deepest nesting of the header and data JSON (Wyoming events use 3-4 levels)."""
    idle_timeout_s: float | None = 120.0
    """Close a connection that sends no event for this long (None: never)."""
    body_timeout_s: float = 10.0
    """Once an event has started, the rest of its header, data and payload must follow in this."""
    write_timeout_s: float = 10.0
    """A peer that does not read what it is sent for this long is dropped."""
    max_bad_events: int = 20
    """Malformed events skipped on one connection before it is closed."""
    max_connections: int = 128
    """Open connections per listener; more are closed at once."""
    max_connections_per_peer: int = 48
    """Open connections per remote address."""

    def with_payload(self, max_payload_bytes: int) -> Limits:
        """A copy with another payload limit (the `--max-payload` flag)."""
        return replace(self, max_payload_bytes=max_payload_bytes)
