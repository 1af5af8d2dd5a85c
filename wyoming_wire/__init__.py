"""The small Wyoming wire library shared by the Jarvis satellite and the Jarvis speech servers.

It knows the Wyoming framing and nothing of either part (it imports neither):

- `limits`: the cost limits of a connection (`Limits`).
- `reader`: reading one event under those limits (`read_event`), with the error policy.
- `handler`: `SafeEventHandler`, one connection's read loop, serialised writes, background tasks.
- `server`: `serve()` runs listeners with connection caps until a signal; `parse_uri`; each
  listener's `ConnectionStats`, and an optional per-connection event observer (metrics).
- `http`: a tiny GET-only HTTP server under limits, run by `serve()` beside the listeners.
- `metrics`: Prometheus `/metrics` (own registry, connection counts) and `/health` on `http`
  (needs `prometheus_client`, in both parts' extras; imported only by their metrics modules).
- `zeroconf`: `_wyoming._tcp.local.` advertisement.
- `mqtt`: one MQTT connection that stays up (last will, persistent session, reconnect with
  backoff, a non-blocking send queue; needs `aiomqtt`, in both parts' extras; imported only by
  their MQTT modules).
- `logs`: plain or JSON log lines, and `LogOnce` for messages an attacker could repeat.
- `cli`: the flags every server shares and `run_main`, the console-script wrapper.
- `heap`: glibc heap settings (large blocks mapped and given back, or kept for Whisper's
  decodes) and `heap_trimmer`.

Error policy: a header line that is not a valid event is answered with an `error` event and
skipped (the newline framing lets the stream go on), up to `Limits.max_bad_events` per
connection; anything after which the stream cannot be trusted (oversized or bad lengths, a body
that does not arrive, an idle or half-sent header past its timeout) gets an `error` event and the
connection is closed. A peer that vanishes mid-event is logged once and its work is dropped.
"""

from .handler import RequestError, SafeEventHandler
from .limits import Limits
from .reader import BadEvent, StreamBroken, read_event
from .server import ConnectionStats, Endpoint, ServerSpec, parse_uri, serve

__all__ = [
    "BadEvent",
    "ConnectionStats",
    "Endpoint",
    "Limits",
    "RequestError",
    "SafeEventHandler",
    "ServerSpec",
    "StreamBroken",
    "parse_uri",
    "read_event",
    "serve",
]
