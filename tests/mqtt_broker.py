"""A real Mosquitto broker for tests: started on a free loopback port, killed and restarted.

`broker` (a pytest fixture, imported by the tests that use it) runs `mosquitto -c <conf>` with
an anonymous listener on 127.0.0.1 and stops it at the end; `Broker.kill()` is a kill -9 and
`Broker.start()` brings it back on the same port. `Subscriber` collects messages with aiomqtt.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import json
from pathlib import Path
import shutil
import socket
from typing import Any, Self

import aiomqtt
import pytest


def _mosquitto() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        pytest.skip("mosquitto is not installed (script/setup installs it)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """One mosquitto process on `port`."""

    def __init__(self, tmp: Path) -> None:
        """Configured, not started."""
        self.port = _free_port()
        self.conf = tmp / "mosquitto.conf"
        self.log = tmp / "mosquitto.log"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {self.log}\nlog_type all\n"
        )
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start and wait until it accepts connections."""
        self.proc = await asyncio.create_subprocess_exec(
            _mosquitto(),
            "-c",
            str(self.conf),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    if self.proc.returncode is not None:
                        raise RuntimeError(f"mosquitto exited: {self.log.read_text()}") from None
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                return

    async def kill(self) -> None:
        """kill -9."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM (kill -9 if it lingers)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await self.proc.wait()
            except TimeoutError:
                await self.kill()


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """A running mosquitto, stopped after the test."""
    running = Broker(tmp_path)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


class Subscriber:
    """An aiomqtt client that collects every message on its topics."""

    def __init__(self, port: int, *topics: str) -> None:
        """Not connected yet."""
        self.client = aiomqtt.Client("127.0.0.1", port)
        self.topics = topics
        self.messages: list[tuple[str, bytes, bool]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        """Connect, subscribe, collect in the background."""
        await self.client.__aenter__()
        for topic in self.topics:
            await self.client.subscribe(topic, qos=1)
        self._task = asyncio.get_running_loop().create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop collecting and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        async for message in self.client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            self.messages.append((str(message.topic), payload, bool(message.retain)))

    def on(self, topic: str) -> list[Any]:
        """Payloads received on `topic` (JSON decoded where it is JSON)."""
        out: list[Any] = []
        for got, payload, _ in self.messages:
            if got == topic:
                try:
                    out.append(json.loads(payload))
                except ValueError:
                    out.append(payload.decode())
        return out

    async def wait_for(self, topic: str, check: Any = None, timeout: float = 20.0) -> Any:
        """The first payload on `topic` for which `check(payload)` holds."""
        async with asyncio.timeout(timeout):
            while True:
                for payload in self.on(topic):
                    if check is None or check(payload):
                        return payload
                await asyncio.sleep(0.05)

    async def publish(self, topic: str, payload: Any, qos: int = 1) -> None:
        """Publish (a dict as JSON)."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await self.client.publish(topic, text, qos=qos)
