"""Run `python -m satellite` as a real subprocess, for the tests and the benches.

Audio comes in as raw 48 kHz PCM on the satellite's stdin (so a test decides when the
"hey jarvis …" recording is "said"); replies go to a WAV file sink.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from functools import cache
import os
from pathlib import Path
import signal
import sys
from typing import Self
import wave

import numpy as np
import soxr
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from audio_clips import clip

MIC_RATE = 48000
ROOT = Path(__file__).resolve().parents[1]
# The satellite must run on Python 3.11+: point this at another interpreter (with the
# satellite's requirements) to run these tests against it.
SATELLITE_PYTHON = os.environ.get("JARVIS_SATELLITE_PYTHON", sys.executable)
WAKE_CLIP = clip("wakeword/pmw_hey_jarvis_1.wav")
COMMAND_CLIP = clip("english_commands/wfw_turn_on_the_living_room_lamp.wav")


def read_mono(path: Path, rate: int) -> np.ndarray:
    """A WAV file as mono float32 at `rate`."""
    with wave.open(str(path), "rb") as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels, src_rate = wav.getnchannels(), wav.getframerate()
    mono = frames.reshape(-1, channels).astype(np.float32).mean(axis=1)
    if src_rate != rate:
        mono = soxr.resample(mono, src_rate, rate)
    return np.asarray(mono, dtype=np.float32)


def to_pcm(samples: np.ndarray) -> bytes:
    """float32 samples -> s16le bytes."""
    pcm: bytes = np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()
    return pcm


def silence(seconds: float, rate: int = MIC_RATE) -> bytes:
    """Digital silence plus a very low noise floor (like a real mic)."""
    rng = np.random.default_rng(7)
    return to_pcm(rng.normal(0, 3.0, int(seconds * rate)).astype(np.float32))


@dataclass(frozen=True)
class Utterance:
    """'hey jarvis' + 'turn on the living room lamp' at 48 kHz, and where the command is."""

    pcm: bytes  # s16le mono 48 kHz
    command_16k: np.ndarray  # the command alone, 16 kHz float32 (what STT should get)
    command_s: float


@cache
def utterance(gap_s: float = 0.0, tail_s: float = 2.0) -> Utterance:
    """The recorded wake word then the command in one breath, then silence."""
    # The wake clip's speech ends at 1.2 s; cut its long silent tail ("in one breath").
    wake = read_mono(WAKE_CLIP, MIC_RATE)[: int(1.5 * MIC_RATE)]
    command = read_mono(COMMAND_CLIP, MIC_RATE)
    pcm = silence(0.5) + to_pcm(wake) + silence(gap_s) + to_pcm(command) + silence(tail_s)
    return Utterance(pcm, read_mono(COMMAND_CLIP, 16000), len(command) / MIC_RATE)


class SatelliteProcess:
    """A running `python -m satellite` with stdin audio and a WAV sink."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, sink: Path, log: Path) -> None:
        """Wrap a started process."""
        self.proc = proc
        self.port = port
        self.sink = sink
        self.log = log

    @classmethod
    async def start(
        cls, tmp: Path, *extra: str, wake_local: bool = True, state_file: Path | None = None
    ) -> SatelliteProcess:
        """Start on a free port; returns once it listens.

        `state_file`: where it remembers its trusted driver (default: in `tmp`, not the user's).
        """
        sink = tmp / "speaker.wav"
        log = tmp / "satellite.log"
        args = [
            SATELLITE_PYTHON,
            "-m",
            "satellite",
            "--name",
            "Test satellite",
            "--area",
            "Kitchen",
            "--server-host",
            "127.0.0.1",
            "--server-port",
            "0",
            "--server-zeroconf",
            "false",
            "--mic-file",
            "-",
            "--speaker-file",
            str(sink),
            "--speaker-rate",
            "22050",
            "--wake-local",
            "true" if wake_local else "false",
            "--log-level",
            "DEBUG",
            "--server-state-file",
            str(state_file or tmp / "satellite-state.json"),
            *extra,
        ]
        return await cls.spawn(args, sink, log)

    @classmethod
    async def spawn(cls, args: list[str], sink: Path, log: Path) -> SatelliteProcess:
        """Run the satellite command `args` (stderr to `log`) until it prints `READY host:port`."""
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                cwd=ROOT,
            )
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(60):
                while not (line := (await proc.stdout.readline()).decode()).startswith("READY "):
                    if not line:
                        raise RuntimeError(f"satellite exited early:\n{log.read_text()}")  # noqa: TRY301, ASYNC240
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        return cls(proc, int(line.rsplit(":", 1)[1]), sink, log)

    async def say(self, pcm: bytes) -> None:
        """Feed microphone audio."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(pcm)
        await self.proc.stdin.drain()

    async def say_live(self, pcm: bytes) -> None:
        """Say `pcm` at the pace of a real microphone (20 ms blocks).

        Fed at full speed, the listener thread holds the satellite's loop back for the whole
        recording: states pass faster than anything that watches them could see.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        block = MIC_RATE // 50 * 2
        for at in range(0, len(pcm), block):
            await self.say(pcm[at : at + block])
            ahead = (at + block) / (MIC_RATE * 2) - (loop.time() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)

    def log_text(self) -> str:
        """What the satellite logged so far."""
        return self.log.read_text(errors="replace")

    def played_seconds(self) -> float:
        """Seconds of audio that came out of the speaker (WAV sink)."""
        try:
            with wave.open(str(self.sink), "rb") as wav:
                return wav.getnframes() / wav.getframerate()
        except (OSError, EOFError, wave.Error):  # not written yet
            return 0.0

    def speaker_audio(self) -> np.ndarray:
        """Everything the speaker played, as int16."""
        with wave.open(str(self.sink), "rb") as wav:
            return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")

    async def stop(self) -> int:
        """Close stdin, SIGTERM, wait."""
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(ConnectionError, OSError):
                self.proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.stdout is not None
        await self.proc.stdout.read()
        return self.proc.returncode if self.proc.returncode is not None else -1


class Peer:
    """A Wyoming client playing Home Assistant's part, for protocol tests."""

    def __init__(self, port: int) -> None:
        """Not connected yet."""
        self.client = AsyncTcpClient("127.0.0.1", port)

    async def __aenter__(self) -> Self:
        """Connect."""
        await self.client.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Disconnect."""
        await self.client.disconnect()

    async def send(self, event: Event) -> None:
        """Write an event."""
        await self.client.write_event(event)

    async def send_raw(self, data: bytes) -> None:
        """Write raw bytes (malformed input)."""
        writer = self.client._writer
        assert writer is not None
        writer.write(data)
        await writer.drain()

    async def next(self, event_type: str, timeout: float = 15.0) -> Event:
        """Read until an event of `event_type` arrives."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.client.read_event()
                if event is None:
                    raise ConnectionError(f"closed while waiting for {event_type}")
                if event.type == event_type:
                    return event

    async def collect_until(self, event_type: str, timeout: float = 15.0) -> list[Event]:
        """Every event up to and including the first `event_type`."""
        events: list[Event] = []
        async with asyncio.timeout(timeout):
            while True:
                event = await self.client.read_event()
                if event is None:
                    raise ConnectionError(f"closed while waiting for {event_type}")
                events.append(event)
                if event.type == event_type:
                    return events


def speech_span(samples: np.ndarray, rate: int = 16000) -> tuple[float, float]:
    """(start, end) seconds of the loud part of a clip (10 dB above its quietest 100 ms)."""
    hop = rate // 10
    levels = np.array(
        [
            np.sqrt(np.mean(samples[i : i + hop] ** 2)) + 1e-9
            for i in range(0, len(samples) - hop, hop)
        ]
    )
    loud = np.nonzero(20 * np.log10(levels / levels.min()) > 10)[0]
    return float(loud[0] * hop / rate), float((loud[-1] + 1) * hop / rate)


def command_position(received: bytes) -> tuple[float, float]:
    """Where the command recording sits in streamed 16 kHz audio: (offset s, streamed s).

    Found by cross-correlation, so it survives the satellite's noise suppression and gain.
    """
    got = np.frombuffer(received, dtype="<i2").astype(np.float32)
    ref = utterance().command_16k
    size = 1 << int(np.ceil(np.log2(len(got) + len(ref))))
    corr = np.fft.irfft(np.fft.rfft(got, size) * np.conj(np.fft.rfft(ref, size)), size)
    lag = int(np.argmax(corr))
    if lag > size // 2:
        lag -= size
    return lag / 16000, len(got) / 16000


@cache
def command_only(tail_s: float = 2.0) -> bytes:
    """Just 'turn on the living room lamp' (an answer to a follow-up question), 48 kHz."""
    return to_pcm(read_mono(COMMAND_CLIP, MIC_RATE)) + silence(tail_s)
