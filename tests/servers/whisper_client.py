"""Helpers for the speech-to-text tests: WAV clips, a server subprocess, a Wyoming client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np
import soxr
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event, async_read_event, async_write_event

import audio_clips
from tests.conftest import ROOT

ENGLISH = audio_clips.ENGLISH_COMMANDS
NOISE = audio_clips.NOISE
FRENCH = audio_clips.FRENCH


@dataclass
class Clip:
    """Raw PCM plus its format."""

    audio: bytes
    rate: int
    width: int
    channels: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / (self.rate * self.width * self.channels)


def load_clip(path: Path) -> Clip:
    with wave.open(str(path), "rb") as wav:
        return Clip(
            wav.readframes(wav.getnframes()),
            wav.getframerate(),
            wav.getsampwidth(),
            wav.getnchannels(),
        )


def convert_clip(clip: Clip, rate: int, width: int, channels: int) -> Clip:
    """The same speech in another format, resampled with soxr (to test the server's input side)."""
    dtype = np.int16 if clip.width == 2 else np.int32
    samples = np.frombuffer(clip.audio, dtype=dtype).astype(np.float64) / 2 ** (8 * clip.width - 1)
    samples = samples.reshape(-1, clip.channels).mean(axis=1)
    samples = soxr.resample(samples, clip.rate, rate)
    samples = np.repeat(samples[:, None], channels, axis=1).reshape(-1)
    scale = 2 ** (8 * width - 1) - 1
    out = np.clip(np.round(samples * scale), -scale - 1, scale)
    return Clip(out.astype(np.int16 if width == 2 else np.int32).tobytes(), rate, width, channels)


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


@dataclass
class ServerProcess:
    """A `python -m wyoming_servers.whisper` child process."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    final_log: str = ""
    """The whole log, kept after the process ended."""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


_READY = re.compile(r"whisper ready on tcp://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def whisper_process(*args: str, timeout: float = 60.0) -> Iterator[ServerProcess]:
    """Start the server on a free port (read back from its log), SIGTERM it after.

    No socket is opened here: session fixtures run before sockets are allowed.
    """
    with tempfile.NamedTemporaryFile(prefix="whisper-", suffix=".log", delete=False) as logf:
        log = Path(logf.name)
        proc = subprocess.Popen(
            [sys.executable, "-m", "wyoming_servers.whisper", "--uri", "tcp://127.0.0.1:0", *args],
            cwd=ROOT,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while not (found := _READY.search(log.read_text(errors="replace"))):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"whisper server did not start: {log.read_text()}")
            time.sleep(0.05)
        yield ServerProcess(proc, int(found.group(1)), log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def async_whisper_process(*args: str, timeout: float = 60.0) -> AsyncIterator[ServerProcess]:
    """`whisper_process` for async tests: waits without blocking the event loop."""
    with tempfile.NamedTemporaryFile(prefix="whisper-", suffix=".log", delete=False) as logf:
        log = Path(logf.name)
        proc = subprocess.Popen(
            [sys.executable, "-m", "wyoming_servers.whisper", "--uri", "tcp://127.0.0.1:0", *args],
            cwd=ROOT,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    try:
        async with asyncio.timeout(timeout):
            while not (found := _READY.search(log.read_text(errors="replace"))):
                if proc.poll() is not None:
                    raise RuntimeError(f"whisper server did not start: {log.read_text()}")
                await asyncio.sleep(0.05)
        server = ServerProcess(proc, int(found.group(1)), log)
        yield server
    finally:
        proc.terminate()
        async with asyncio.timeout(15):
            while proc.poll() is None:
                await asyncio.sleep(0.05)
        with contextlib.suppress(NameError):
            server.final_log = log.read_text(errors="replace")
        log.unlink(missing_ok=True)


class Client:
    """A bare Wyoming connection (the library's event reader/writer)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def read(self, timeout: float = 30.0) -> Event | None:
        return await asyncio.wait_for(async_read_event(self.reader), timeout)

    async def read_until(self, *types: str, timeout: float = 30.0) -> list[Event]:
        """Events up to and including the first one of `types` (or an error)."""
        events: list[Event] = []
        while True:
            event = await self.read(timeout)
            assert event is not None, f"connection closed after {[e.type for e in events]}"
            events.append(event)
            if event.type in types or event.type == "error":
                return events

    async def stream(
        self,
        clip: Clip,
        language: str | None = None,
        chunk_ms: int = 20,
        realtime: bool = False,
        transcribe: bool = True,
        names: list[str] | None = None,
    ) -> list[Event]:
        """Send one utterance, return the events up to `transcript`.

        `names`: the home's names, as the Jarvis integration sends them (`transcript_names`).
        """
        if transcribe:
            await self.send(Transcribe(language=language, transcript_names=names).event())
        fmt = {"rate": clip.rate, "width": clip.width, "channels": clip.channels}
        await self.send(AudioStart(**fmt).event())
        step = clip.rate * clip.width * clip.channels * chunk_ms // 1000
        step -= step % (clip.width * clip.channels)
        started = time.monotonic()
        for offset in range(0, len(clip.audio), step):
            await self.send(AudioChunk(audio=clip.audio[offset : offset + step], **fmt).event())
            if realtime:
                due = started + (offset + step) / (clip.rate * clip.width * clip.channels)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        await self.send(AudioStop().event())
        return await self.read_until("transcript")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def transcript_text(events: list[Event]) -> str:
    last = events[-1]
    assert last.type == "transcript", f"expected a transcript, got {last.type}: {last.data}"
    return str(last.data["text"])


async def transcribe_pcm(port: int, audio: bytes, rate: int) -> str:
    """What the server at `port` hears in 16-bit mono PCM."""
    c = await Client.connect(port)
    try:
        await c.send(Transcribe(language="en").event())
        await c.send(AudioStart(rate=rate, width=2, channels=1).event())
        step = rate // 10 * 2
        for offset in range(0, len(audio), step):
            chunk = AudioChunk(rate=rate, width=2, channels=1, audio=audio[offset : offset + step])
            await c.send(chunk.event())
        await c.send(AudioStop().event())
        while not Transcript.is_type((event := await c.read(timeout=60)).type):
            assert event.type != "error", event
        return Transcript.from_event(event).text
    finally:
        await c.close()
