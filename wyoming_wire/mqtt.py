"""One MQTT connection that stays up: last will, reconnect with backoff, a send queue.

Shared by the satellite and the speech servers (it knows neither). `MqttLink.run()` connects
with a fixed client id and a persistent session (`clean_session` false: the broker keeps the
subscriptions and the QoS 1 messages sent while the link is down, and delivers them, once, when
it comes back), publishes `online` (retained) on its availability topic with `offline` as its
last will, calls `on_connected()` (re-publish state), subscribes, and hands every message to
`on_message()`. When the broker goes away it waits 1 s, then doubles up to 60 s, and starts
over. `publish()` never blocks the caller: the message is queued and sent by the link's own
task; while disconnected, non-retained messages are dropped (retained state is re-published by
`on_connected`). The link keeps its own figures for metrics and health reports (`report()`):
connected or not, connections, reconnects, failed attempts, the last error and when.

The password (from a URI or a password file) is never logged and not in the target's repr.

Needs `aiomqtt` (in both parts' extras); imported only by their MQTT modules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import json
import logging
from pathlib import Path
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt

_LOGGER = logging.getLogger(__name__)

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
MAX_QUEUED = 1000


@dataclass
class MqttTarget:
    """Where the broker is and how to log in."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never logged
    tls: bool = False

    def __str__(self) -> str:
        """`host:port` (no credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_mqtt_uri(uri: str) -> MqttTarget:
    """`mqtt://[user[:password]@]host[:port]` or `mqtts://…` (TLS) as a target."""
    parts = urlsplit(uri)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"expected mqtt://host[:port] or mqtts://host[:port], got {uri!r}")
    tls = parts.scheme == "mqtts"
    return MqttTarget(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def read_password_file(path: str | Path) -> str:
    """An MQTT password kept in a file (surrounding whitespace stripped); ValueError if unusable."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ValueError(f"cannot read the MQTT password file {path}: {why}") from err
    if not text:
        raise ValueError(f"the MQTT password file {path} is empty")
    return text


def backoff_delays(first: float = BACKOFF_FIRST_S, most: float = BACKOFF_MAX_S) -> list[float]:
    """The waits before each reconnect attempt, until they stay at `most`."""
    delays, delay = [], first
    while delay < most:
        delays.append(delay)
        delay *= 2
    return [*delays, most]


OnMessage = Callable[[str, bytes], Awaitable[None]]


@dataclass
class _Out:
    topic: str
    payload: str
    qos: int
    retain: bool


class MqttLink:
    """A client that keeps its connection, publishes from a queue and dispatches messages."""

    def __init__(
        self,
        target: MqttTarget,
        *,
        client_id: str,
        availability_topic: str,
        subscriptions: list[str],
        on_connected: Callable[[], None],
        on_message: OnMessage,
    ) -> None:
        """Nothing connects until `run()`."""
        self.target = target
        self.client_id = client_id
        self.availability_topic = availability_topic
        self.subscriptions = subscriptions
        self._on_connected = on_connected
        self._on_message = on_message
        self._queue: asyncio.Queue[_Out] = asyncio.Queue(MAX_QUEUED)
        self.connected = False
        self.connections = 0  # successful connections so far
        self.errors = 0  # failed connection attempts and lost connections
        self.dropped = 0  # messages not sent (queue full, or not connected)
        self.last_error: str | None = None
        self.last_error_at: float | None = None  # time.time() of the last error
        self.connected_since: float | None = None  # time.time() of the current connection

    @property
    def reconnects(self) -> int:
        """Connections after the first one."""
        return max(0, self.connections - 1)

    def report(self) -> dict[str, Any]:
        """The link's state for a health report (no credentials)."""
        now = time.time()
        return {
            "broker": str(self.target),
            "connected": self.connected,
            "connected_for_s": (
                round(now - self.connected_since, 1) if self.connected_since is not None else None
            ),
            "connections": self.connections,
            "reconnects": self.reconnects,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_age_s": (
                round(now - self.last_error_at, 1) if self.last_error_at is not None else None
            ),
            "dropped_messages": self.dropped,
        }

    def publish(self, topic: str, payload: Any, *, qos: int = 1, retain: bool = False) -> None:
        """Queue a message (a dict/list is sent as JSON); never blocks."""
        if not self.connected and not retain:
            self.dropped += 1
            return
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        try:
            self._queue.put_nowait(_Out(topic, text, qos, retain))
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; until cancelled."""
        delays = backoff_delays()
        attempt = 0
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as err:
                delay = delays[min(attempt, len(delays) - 1)]
                if self.connected or attempt == 0:
                    _LOGGER.warning(
                        "MQTT broker %s: %s; retrying in %.0f s", self.target, err, delay
                    )
                else:
                    _LOGGER.debug("MQTT reconnect failed: %s; retrying in %.0f s", err, delay)
                attempt = 0 if self.connected else attempt + 1
                self.connected = False
                self.connected_since = None
                self.errors += 1
                self.last_error, self.last_error_at = str(err) or type(err).__name__, time.time()
                await asyncio.sleep(delay)

    async def _session(self) -> None:
        target = self.target
        client = aiomqtt.Client(
            target.host,
            target.port,
            username=target.username,
            password=target.password,
            identifier=self.client_id,
            clean_session=False,
            will=aiomqtt.Will(self.availability_topic, "offline", qos=1, retain=True),
            tls_params=aiomqtt.TLSParameters() if target.tls else None,
            keepalive=30,
        )
        async with client:
            self.connected = True
            self.connections += 1
            self.connected_since = time.time()
            _LOGGER.info("MQTT connected to %s", target)
            await client.publish(self.availability_topic, "online", qos=1, retain=True)
            for topic in self.subscriptions:
                await client.subscribe(topic, qos=1)
            self._on_connected()
            loop = asyncio.get_running_loop()
            tasks = {
                loop.create_task(self._send(client), name="mqtt send"),
                loop.create_task(self._receive(client), name="mqtt receive"),
            }
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # A clean disconnect drops the last will: say offline first.
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    async with asyncio.timeout(2):
                        await client.publish(self.availability_topic, "offline", 1, retain=True)
                raise
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await task
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error
        raise aiomqtt.MqttError("disconnected")

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            out = await self._queue.get()
            await client.publish(out.topic, out.payload, qos=out.qos, retain=out.retain)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload or "").encode()
            try:
                await self._on_message(str(message.topic), data)
            except Exception:
                _LOGGER.exception("MQTT message on %s failed", message.topic)
