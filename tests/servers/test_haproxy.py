"""Two jarvis-servers nodes behind a real HAProxy (deploy/haproxy/haproxy.cfg) on loopback.

Transcriptions and syntheses run through HAProxy in a loop; one node is killed with SIGKILL mid-load.
Every request that started after the kill must get a right transcript / a whole reply (through the
surviving node: first by HAProxy's redispatch of the refused connection, then because its Wyoming
health check marked the dead node down). Requests in flight on the killed node when it died may
fail with a connection error; they are counted apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.tts import Synthesize

from tests.conftest import ROOT
from tests.servers.whisper_client import ENGLISH, Clip, convert_clip, load_clip, normalise
from wyoming_servers.models import bundled_joe_voice, bundled_tiny_en

EXAMPLE = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
_READY = re.compile(r"(\w+) ready on tcp://([\d.]+):(\d+)")
COMMANDS = [
    ("wfw_turn_on_the_living_room_lamp", "turn on the living room lamp"),
    ("stp_en_what_time_is_it", "what time is it"),
]
REPLY = "The living room lamp is on."
LOAD_BEFORE_S = 4.0
LOAD_AFTER_S = 9.0

pytestmark = [
    pytest.mark.skipif(
        HAPROXY is None, reason="haproxy not installed (Debian: apt install haproxy)"
    ),
    pytest.mark.skipif(
        bundled_joe_voice() is None or bundled_tiny_en() is None, reason="bundled models missing"
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


def spawn(*argv: str) -> Proc:
    log = Path(tempfile.mkstemp(prefix="haproxy-test-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    return Proc(proc, log)


def wait_ready(node: Proc, timeout: float = 90) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = {m[1]: int(m[3]) for m in _READY.finditer(node.text())}
        if {"whisper", "piper"} <= ports.keys():
            return ports
        assert node.proc.poll() is None, node.text()
        time.sleep(0.05)
    raise AssertionError(f"node did not start:\n{node.text()}")


def config_for(stt: int, tts: int, nodes: list[dict[str, int]]) -> str:
    """The example, with its frontends on `stt`/`tts` and its servers on the nodes' ports."""
    text = EXAMPLE.read_text()
    text = text.replace("bind :10300", f"bind 127.0.0.1:{stt}")
    text = text.replace("bind :10200", f"bind 127.0.0.1:{tts}")
    for index, node in enumerate(nodes, 1):
        for default, name in ((10300, "whisper"), (10200, "piper")):
            old = re.compile(rf"(server node{index}) [\d.]+:{default}\b")
            text, count = old.subn(rf"\1 127.0.0.1:{node[name]}", text)
            assert count == 1, f"node{index}:{default} not in {EXAMPLE}"
    assert text.count("127.0.0.1:") == 2 + 2 * len(nodes), text
    return text


@pytest.fixture
def cluster() -> Iterator[tuple[int, int, list[Proc], Proc]]:
    """Two nodes (started together) and HAProxy in the foreground in front of them."""
    nodes = [
        spawn(
            sys.executable,
            "-m",
            "wyoming_servers",
            "--stt-uri",
            "tcp://127.0.0.1:0",
            "--tts-uri",
            "tcp://127.0.0.1:0",
            "--max-connections-per-peer",
            "64",
        )  # fmt: skip
        for _ in range(2)
    ]
    haproxy: Proc | None = None
    try:
        ports = [wait_ready(node) for node in nodes]
        stt, tts = free_port(), free_port()
        haproxy = start_haproxy(stt, tts, ports)
        yield stt, tts, nodes, haproxy
    finally:
        if haproxy is not None:
            haproxy.stop()
        for node in nodes:
            node.stop()


def start_haproxy(stt: int, tts: int, nodes: list[dict[str, int]]) -> Proc:
    """HAProxy in the foreground (-db) with the example config; returns once it listens."""
    cfg = Path(tempfile.mkdtemp(prefix="haproxy-test-")) / "haproxy.cfg"
    cfg.write_text(config_for(stt, tts, nodes))
    assert HAPROXY is not None
    checked = subprocess.run(
        [HAPROXY, "-c", "-f", str(cfg)], check=False, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    haproxy = spawn(HAPROXY, "-db", "-f", str(cfg))
    deadline = time.monotonic() + 10
    while not all(_listening(port) for port in (stt, tts)):
        if haproxy.proc.poll() is not None or time.monotonic() > deadline:
            text = haproxy.text()
            haproxy.stop()
            raise AssertionError(f"haproxy did not start:\n{text}")
        time.sleep(0.05)
    return haproxy


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _until(reader: asyncio.StreamReader, wanted: str) -> Event:
    while True:
        event = await async_read_event(reader)
        if event is None:
            raise ConnectionError("connection closed")
        assert event.type != "error", event.data
        if event.type == wanted:
            return event


async def transcribe(port: int, clip: Clip) -> str:
    """Stream `clip` at twice real time (100 ms chunks), return the transcript."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fmt = {"rate": clip.rate, "width": 2, "channels": 1}
    try:
        await async_write_event(Transcribe(language="en").event(), writer)
        await async_write_event(AudioStart(**fmt).event(), writer)
        step = clip.rate // 10 * 2
        for offset in range(0, len(clip.audio), step):
            chunk = AudioChunk(audio=clip.audio[offset : offset + step], **fmt)
            await async_write_event(chunk.event(), writer)
            await asyncio.sleep(0.05)
        await async_write_event(AudioStop().event(), writer)
        return str((await _until(reader, "transcript")).data["text"])
    finally:
        writer.close()


async def synthesize(port: int, text: str) -> float:
    """Seconds of audio spoken for `text`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await async_write_event(Synthesize(text=text).event(), writer)
        start = await _until(reader, "audio-start")
        size = 0
        while (event := await async_read_event(reader)) is not None:
            assert event.type != "error", event.data
            if event.type == "audio-chunk":
                size += len(event.payload or b"")
            elif event.type == "audio-stop":
                return size / (int(start.data["rate"]) * int(start.data["width"]))
        raise ConnectionError("connection closed")
    finally:
        writer.close()


@dataclass
class Outcome:
    kind: str
    started: float
    ended: float
    error: str | None


def test_node_killed_behind_haproxy(cluster: tuple[int, int, list[Proc], Proc]) -> None:
    stt, tts, nodes, haproxy = cluster
    clips = [
        (convert_clip(load_clip(ENGLISH / f"{name}.wav"), 16000, 2, 1), ref)
        for name, ref in COMMANDS
    ]
    victim = nodes[0]

    async def scenario() -> tuple[list[Outcome], float, float, float | None]:
        # Both nodes answer through HAProxy before the load starts (and are warm).
        for clip, ref in clips:
            assert normalise(await transcribe(stt, clip)) == ref
        assert await synthesize(tts, REPLY) > 0.5
        outcomes: list[Outcome] = []
        stop = asyncio.Event()
        down_at: float | None = None

        async def worker(index: int, kind: str) -> None:
            turn = index
            while not stop.is_set():
                clip, ref = clips[turn % len(clips)]
                turn += 1
                started = time.monotonic()
                error = None
                try:
                    if kind == "stt":
                        text = await asyncio.wait_for(transcribe(stt, clip), 30)
                        if normalise(text) != ref:
                            error = f"heard {text!r} for {ref!r}"
                    else:
                        seconds = await asyncio.wait_for(synthesize(tts, REPLY), 30)
                        if seconds < 1.0:
                            error = f"only {seconds:.2f} s of audio"
                except (OSError, TimeoutError, AssertionError) as err:
                    error = repr(err)
                outcomes.append(Outcome(kind, started, time.monotonic(), error))

        tasks = [asyncio.create_task(worker(i, "stt")) for i in range(3)]
        tasks += [asyncio.create_task(worker(i, "tts")) for i in range(2)]
        await asyncio.sleep(LOAD_BEFORE_S)
        killed_at = time.monotonic()
        victim.proc.send_signal(signal.SIGKILL)
        # The node is dead once the process is gone: until then its listening sockets may still
        # accept connections, which then die with it (in flight, as on a real crash).
        await asyncio.to_thread(victim.proc.wait)
        dead_at = time.monotonic()
        deadline = killed_at + LOAD_AFTER_S
        while time.monotonic() < deadline:
            if down_at is None and _marked_down(haproxy.text()) == {"stt_nodes", "tts_nodes"}:
                down_at = time.monotonic()
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)
        return outcomes, killed_at, dead_at, down_at

    outcomes, killed_at, dead_at, down_at = asyncio.run(scenario())
    time.sleep(0.5)  # HAProxy logs each session when it ends
    log = haproxy.text()
    assert down_at is not None, f"HAProxy never marked node1 down in both backends:\n{log}"
    assert down_at - killed_at < 5, f"node1 marked down {down_at - killed_at:.1f} s after the kill"

    before = [o for o in outcomes if o.started < dead_at]
    after = [o for o in outcomes if o.started >= dead_at]
    after_down = [o for o in after if o.started >= down_at]
    in_flight = [o for o in before if o.ended >= killed_at]
    failed_before = [o for o in before if o.error]
    lost_after = [o for o in after if o.error]
    summary = (
        f"{len(before)} before the node was gone ({dead_at - killed_at:.2f} s after SIGKILL; "
        f"{len(failed_before)} failed, {len(in_flight)} in flight), "
        f"{len(after)} after ({len(after_down)} after HAProxy marked it down "
        f"{down_at - killed_at:.1f} s later)"
    )
    # Nothing that started after the kill is lost: right transcript, whole reply.
    assert not lost_after, f"{summary}; lost: {[(o.kind, o.error) for o in lost_after]}"
    # The only failures are requests that were on the killed node when it died.
    assert all(o in in_flight for o in failed_before), f"{summary}: {failed_before}"
    assert len(failed_before) <= 5, summary
    # Enough went through both before and after, of both kinds, through the surviving node.
    assert len([o for o in before if not o.error]) >= 4, summary
    for kind in ("stt", "tts"):
        assert len([o for o in after_down if o.kind == kind]) >= 2, summary
    assert nodes[1].proc.poll() is None
    assert "node2 is DOWN" not in log, log
    survivors = re.findall(r"\b(stt|tts)_nodes/node2\b", log)
    assert len(survivors) >= len(after), log
    print(summary)


def _marked_down(log: str) -> set[str]:
    """Backends whose node1 HAProxy's health check marked DOWN."""
    return set(re.findall(r"Server (\w+)/node1 is DOWN", log))


def test_health_check_speaks_wyoming() -> None:
    """A node that accepts connections but does not answer `describe` with `info` is marked down;
    one that answers stays up and gets the traffic."""

    async def scenario() -> str:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                await reader.read()  # accepts, never answers
            writer.close()

        async def wyoming(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while (event := await async_read_event(reader)) is not None:
                    if event.type == "describe":
                        await async_write_event(Event("info", {"asr": [], "tts": []}), writer)
            writer.close()

        mute = await asyncio.start_server(silent, "127.0.0.1", 0)
        good = await asyncio.start_server(wyoming, "127.0.0.1", 0)
        ports = [s.sockets[0].getsockname()[1] for s in (mute, good)]
        nodes = [{"whisper": port, "piper": port} for port in ports]
        stt, tts = free_port(), free_port()
        haproxy = start_haproxy(stt, tts, nodes)
        try:
            deadline = time.monotonic() + 8
            while _marked_down(haproxy.text()) != {"stt_nodes", "tts_nodes"}:
                assert time.monotonic() < deadline, haproxy.text()
                await asyncio.sleep(0.1)
            for port in (stt, tts):  # through HAProxy: the node that speaks Wyoming answers
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                await async_write_event(Event("describe"), writer)
                event = await asyncio.wait_for(async_read_event(reader), 5)
                assert event is not None and event.type == "info"
                writer.close()
            await asyncio.sleep(2.5)  # the good node stays up over several checks
            return haproxy.text()
        finally:
            haproxy.stop()
            mute.close()
            good.close()

    log = asyncio.run(scenario())
    assert "node2 is DOWN" not in log, log
    down = [line for line in log.splitlines() if "node1 is DOWN" in line]
    assert all("Layer7" in line or "TCPCHK" in line for line in down), down
