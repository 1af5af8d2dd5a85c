"""One MQTT connection that stays up: last will, reconnect with backoff, a send queue.

Shared by the satellite and the speech servers (it knows neither). `MqttLink.run()` connects
with a fixed client id and a persistent session (`clean_session` false: the broker keeps the
subscriptions and the QoS 1 messages sent while the link is down, and delivers them, once, when
it comes back), publishes `online` (retained) on its availability topic with `offline` as its
last will, calls `on_connected()` (re-publish state), subscribes, and hands every message to
`on_message()`. When the broker goes away it waits 1 s, then doubles up to 60 s, and starts
over. `publish()` never blocks the caller: the message is queued and sent by the link's own
task; while disconnected, non-retained messages are dropped (retained state is re-published by
`on_connected`).

Needs `aiomqtt` (in both parts' extras); imported only by their MQTT modules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
import json
import logging
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
    password: str | None = None
    tls: bool = False


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
        self.dropped = 0  # messages not sent (queue full, or not connected)

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
                        "MQTT broker %s:%s: %s; retrying in %.0f s",
                        self.target.host,
                        self.target.port,
                        err,
                        delay,
                    )
                else:
                    _LOGGER.debug("MQTT reconnect failed: %s; retrying in %.0f s", err, delay)
                attempt = 0 if self.connected else attempt + 1
                self.connected = False
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
            _LOGGER.info("MQTT connected to %s:%s", target.host, target.port)
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
