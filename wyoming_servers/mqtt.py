"""The speech servers on an MQTT broker (`jarvis-servers --mqtt-uri mqtt://host:port`).

Topics, under `<prefix>/<node id>/` (`--mqtt-prefix`, default `jarvis`; `--mqtt-id`, default
`servers_<host name>`):

| topic | retained | payload |
|---|---|---|
| `availability` | yes | `online`; `offline` as the last will and on a clean stop |
| `event/transcript` | no | `{"server", "latency_s", "audio_s", "chars"}`: a transcript sent (`audio-stop` → `transcript`) |
| `event/synthesis` | no | `{"server", "latency_s", "first_audio_s", "audio_s"}`: speech sent (request → `audio-stop`, → first chunk) |
| `event/busy` | no | `{"server"}`: a request refused with `busy` |
| `event/error` | no | `{"server", "code"}`: any other `error` sent |

Login: `mqtt://user@host` (or `--mqtt-username`) with `--mqtt-password-file PATH` (the
password on the file's first line; never logged, never in the process list as a password in the
URI would be). With `--metrics-uri` too, the link's state is in `/metrics` (`jarvis_mqtt_*`) and
`/health` (`mqtt`).

No text leaves the process: transcripts and replies are the users' words (the satellite, which
belongs to them, may publish them). Events are seen on the wire by a connection observer
(`wyoming_wire`), chained after the metrics' one when both are on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import socket
import time
from typing import TYPE_CHECKING, Any

from wyoming.event import Event

from wyoming_wire import ServerSpec, serve
from wyoming_wire.handler import EventObserver
from wyoming_wire.http import HttpSpec
from wyoming_wire.mqtt import MqttLink, MqttTarget, parse_mqtt_uri, read_password_file

if TYPE_CHECKING:
    from wyoming_servers.metrics import ServerMetrics


def default_node_id() -> str:
    """`servers_<host name>`, lower case, [a-z0-9_]."""
    host = re.sub(r"[^a-z0-9_]+", "_", socket.gethostname().lower()).strip("_")
    return f"servers_{host or 'node'}"


def add_mqtt_args(parser: argparse.ArgumentParser) -> None:
    """`--mqtt-uri`, `--mqtt-username`, `--mqtt-password-file`, `--mqtt-prefix`, `--mqtt-id`."""
    parser.add_argument(
        "--mqtt-uri",
        help="publish availability and request events to this broker: "
        "mqtt://[user@]host[:port] (mqtts:// for TLS); off by default",
    )
    parser.add_argument(
        "--mqtt-username", default=None, help="broker login (default: the URI's user, if any)"
    )
    parser.add_argument(
        "--mqtt-password-file",
        default=None,
        metavar="PATH",
        help="file holding the broker password (first line; keep it readable only by the "
        "server's user); replaces a password in the URI",
    )
    parser.add_argument("--mqtt-prefix", default="jarvis", help="topic prefix (default jarvis)")
    parser.add_argument(
        "--mqtt-id", default=None, help="node id in topics (default servers_<host name>)"
    )


def mqtt_target(args: argparse.Namespace) -> MqttTarget:
    """The broker and login the flags ask for; ValueError with a clear message if unusable."""
    target = parse_mqtt_uri(args.mqtt_uri)
    if args.mqtt_username:
        target.username = args.mqtt_username
    if args.mqtt_password_file:
        target.password = read_password_file(args.mqtt_password_file)
    if target.password and not target.username:
        raise ValueError("an MQTT password needs a user name (mqtt://user@host or --mqtt-username)")
    return target


async def serve_with_mqtt(
    args: argparse.Namespace,
    specs: list[ServerSpec],
    http: list[HttpSpec],
    metrics: ServerMetrics | None = None,
) -> None:
    """`serve()` the servers, publishing their events when `--mqtt-uri` is given.

    `metrics`: also report the broker link there (`jarvis_mqtt_*`, `/health`).
    """
    mqtt = None
    if args.mqtt_uri:
        mqtt = ServersMqtt(mqtt_target(args), args.mqtt_prefix, args.mqtt_id)
        for spec in specs:
            mqtt.watch(spec)
        if metrics is not None:
            metrics.watch_mqtt(mqtt.link)
        mqtt.start()
    try:
        await serve(specs, http=http)
    finally:
        if mqtt is not None:
            await mqtt.stop()


def _audio_seconds(event: Event, fmt: dict[str, Any]) -> float:
    data = {**fmt, **event.data}
    try:
        rate, width, channels = int(data["rate"]), int(data["width"]), int(data["channels"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    if min(rate, width, channels) <= 0 or event.payload is None:
        return 0.0
    return len(event.payload) / (rate * width * channels)


class ServersMqtt:
    """Availability and request events of the speech servers in this process."""

    def __init__(
        self, broker: str | MqttTarget, prefix: str = "jarvis", node_id: str | None = None
    ) -> None:
        """`broker`: a target, or `mqtt://[user:password@]host[:port]` (`mqtts://` for TLS)."""
        self.node_id = node_id or default_node_id()
        self.base = f"{prefix.rstrip('/')}/{self.node_id}"
        self.link = MqttLink(
            parse_mqtt_uri(broker) if isinstance(broker, str) else broker,
            client_id=f"jarvis-{self.node_id}",
            availability_topic=f"{self.base}/availability",
            subscriptions=[],
            on_connected=lambda: None,
            on_message=self._ignore,
        )
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    async def _ignore(topic: str, payload: bytes) -> None:
        """No commands for the servers."""

    def watch(self, spec: ServerSpec) -> None:
        """Publish the events of the server `spec` serves (after its metrics observer, if any)."""
        inner = spec.observer_factory
        name = spec.name

        def factory() -> EventObserver:
            observer = _RequestObserver(self, name)
            if inner is None:
                return observer
            return _Both(inner(), observer)

        spec.observer_factory = factory

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """An event (never blocks)."""
        self.link.publish(f"{self.base}/event/{kind}", data)

    def start(self) -> None:
        """Connect in the background (reconnects with backoff)."""
        self._task = asyncio.get_running_loop().create_task(self.link.run(), name="servers mqtt")

    async def stop(self) -> None:
        """Say offline and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _Both:
    """Two observers of one connection."""

    def __init__(self, first: EventObserver, second: EventObserver) -> None:
        self._all = (first, second)

    def received(self, event: Event) -> None:
        for observer in self._all:
            observer.received(event)

    def handled(self, event: Event) -> None:
        for observer in self._all:
            observer.handled(event)

    def sent(self, event: Event) -> None:
        for observer in self._all:
            observer.sent(event)

    def closed(self) -> None:
        for observer in self._all:
            observer.closed()


class _RequestObserver:
    """Follows one connection's requests and publishes how each ended."""

    def __init__(self, mqtt: ServersMqtt, server: str) -> None:
        self._mqtt = mqtt
        self._server = server
        self._fmt: dict[str, Any] = {}
        self._audio_in = 0.0
        self._audio_out = 0.0
        self._stop_at: float | None = None
        self._request_at: float | None = None
        self._first_at: float | None = None

    def received(self, event: Event) -> None:
        now = time.perf_counter()
        if event.type == "audio-start":
            self._fmt, self._audio_in, self._stop_at = dict(event.data), 0.0, None
        elif event.type == "audio-chunk":
            self._audio_in += _audio_seconds(event, self._fmt)
        elif event.type == "audio-stop":
            self._stop_at = now
        elif event.type in ("synthesize", "synthesize-start") and self._request_at is None:
            self._request_at, self._first_at, self._audio_out = now, None, 0.0
            self._fmt = {}

    def handled(self, event: Event) -> None:
        pass

    def sent(self, event: Event) -> None:
        now = time.perf_counter()
        if event.type == "transcript":
            latency = now - self._stop_at if self._stop_at is not None else None
            text = str(event.data.get("text") or "")
            self._mqtt.publish(
                "transcript",
                {
                    "server": self._server,
                    "latency_s": None if latency is None else round(latency, 4),
                    "audio_s": round(self._audio_in, 3),
                    "chars": len(text),
                },
            )
            self._stop_at = None
        elif event.type == "audio-start" and self._request_at is not None:
            self._fmt = dict(event.data)
        elif event.type == "audio-chunk" and self._request_at is not None:
            if self._first_at is None:
                self._first_at = now
            self._audio_out += _audio_seconds(event, self._fmt)
        elif event.type == "audio-stop" and self._request_at is not None:
            start, first = self._request_at, self._first_at
            self._mqtt.publish(
                "synthesis",
                {
                    "server": self._server,
                    "latency_s": round(now - start, 4),
                    "first_audio_s": None if first is None else round(first - start, 4),
                    "audio_s": round(self._audio_out, 3),
                },
            )
            self._request_at = None
        elif event.type == "error":
            code = str(event.data.get("code") or "error")
            if code == "busy":
                self._mqtt.publish("busy", {"server": self._server})
            else:
                self._mqtt.publish("error", {"server": self._server, "code": code})
            self._request_at = None
            self._stop_at = None

    def closed(self) -> None:
        pass
