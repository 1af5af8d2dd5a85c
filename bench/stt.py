"""Speech-to-text latency benchmark: jarvis-whisper's decode-while-streaming vs decode-after-stop.

Run: .venv/bin/python -m bench.stt [--repeat 3] [--model tiny.en] [--silence 0.7]

Each utterance is a real recorded command from audio_clips/, followed by recorded quiet room
tone and cut the way Home Assistant's endpointer cuts it: the stream ends once pymicro-vad (HA's
VAD) has reported `--silence` seconds (HA's default 0.7) of non-speech after the speech. It is streamed in
real time (20 ms chunks) to the server; latency = `audio-stop` sent -> `transcript` received.

Rows, all in the same run with the same model, beam size and compute type:
- plain decode-after-stop: faster-whisper `transcribe()` of the whole utterance, started when the
  audio ends (what a plain Wyoming faster-whisper server does; no protocol cost counted);
- jarvis-whisper --no-speculate: this server, decoding only at audio-stop (protocol included);
- jarvis-whisper: this server with its default speculative decoding in the trailing silence.
The three are interleaved utterance by utterance so they share whatever load the machine has.
Also: the server's time from process start to answering `describe`, and its resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
import importlib.metadata
import os
from pathlib import Path
import platform
import re
import socket
import statistics
import sys
import time
import wave

import numpy as np
from numpy.typing import NDArray
import soxr
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe

from audio_clips import ENGLISH_COMMANDS, NOISE
from wyoming_servers.whisper.engine import EngineOptions, WhisperEngine
from wyoming_servers.whisper.scheduler import DecodeScheduler
from wyoming_servers.whisper.stream import StreamingTranscriber
from wyoming_servers.whisper.vad import SpeechProbability, SpeechTracker

ROOT = Path(__file__).resolve().parent.parent

ROOM_TONE = NOISE / "pymicro_vad_silence.wav"
CLIPS: list[tuple[str, tuple[str, ...], str]] = [
    ("lamp", ("wfw_turn_on_the_living_room_lamp",), "turn on the living room lamp"),
    ("timer", ("stp_en_set_a_timer_for_5_minutes",), "set a timer for five minutes"),
    ("what time", ("stp_en_what_time_is_it",), "what time is it"),
    (
        "time+lamp",
        ("stp_en_what_time_is_it", "wfw_turn_on_the_living_room_lamp"),
        "what time is it turn on the living room lamp",
    ),
    (
        "timer+lamp",
        ("stp_en_set_a_timer_for_5_minutes", "wfw_turn_on_the_living_room_lamp"),
        "set a timer for five minutes turn on the living room lamp",
    ),
    (
        "quilter",
        ("leopard_test_en",),
        "mister quilter is the apostle of the middle classes and we are glad to welcome his gospel",
    ),
]
NUMBERS = {"5": "five", "10": "ten", "mr": "mister"}
RATE = 16000
READY_S = 0.01
"""A transcript sent within this time after audio-stop was ready when the audio ended."""
CHUNK_S = 0.02


def _load(name: str) -> np.ndarray:
    return _load_path(ENGLISH_COMMANDS / f"{name}.wav")


def _load_path(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    mono = data.reshape(-1, channels).astype(np.float32).mean(axis=1) / 32768
    out = soxr.resample(mono, rate, RATE) if rate != RATE else mono
    pcm: np.ndarray = np.asarray(np.clip(out * 32768, -32768, 32767), dtype=np.int16)
    return pcm


def utterance(names: tuple[str, ...], silence_s: float) -> np.ndarray:
    """The clips one after the other, then room tone, cut where HA's endpointer would stop:
    once the VAD has reported `silence_s` of continuous non-speech after speech."""
    return endpointed(np.concatenate([_load(name) for name in names]), silence_s)


def phrase(names: tuple[str, ...], silence_s: float) -> np.ndarray:
    """Clips said in one go: each but the last cut where the VAD heard its speech end."""
    parts = []
    for name in names[:-1]:
        pcm = _load(name)
        tracker = SpeechTracker()
        tracker.feed(pcm.tobytes())
        end = tracker.span.end if tracker.span else len(pcm)
        parts.append(pcm[:end])
    return endpointed(np.concatenate([*parts, _load(names[-1])]), silence_s)


def endpointed(speech: np.ndarray, silence_s: float) -> np.ndarray:
    """Speech plus room tone, cut once the VAD reported `silence_s` of non-speech after speech."""
    pcm: np.ndarray = np.concatenate([speech, np.resize(_load_path(ROOM_TONE), 4 * RATE)])
    prob = SpeechProbability()
    frame, needed, heard, quiet = 160, int(silence_s * 100), False, 0
    for index in range(len(pcm) // frame):
        if prob(pcm[index * frame : (index + 1) * frame].tobytes()) > 0.5:
            heard, quiet = True, 0
        elif heard:
            quiet += 1
            if quiet >= needed:
                cut: np.ndarray = pcm[: (index + 1) * frame]
                return cut
    return pcm


def to_float(pcm: np.ndarray) -> NDArray[np.float32]:
    return np.asarray(pcm, dtype=np.float32) / np.float32(32768)


def normalise(text: str) -> list[str]:
    words = re.sub(r"[^\w\s']", " ", text.lower()).split()
    return [NUMBERS.get(word, word) for word in words]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


@dataclass
class Result:
    latencies: list[float]
    errors: int = 0
    words: int = 0
    per_clip: dict[str, list[float]] = field(default_factory=dict)

    def add(self, label: str, latency: float, reference: str, text: str) -> None:
        self.latencies.append(latency)
        self.per_clip.setdefault(label, []).append(latency)
        ref = normalise(reference)
        self.errors += edit_distance(ref, normalise(text))
        self.words += len(ref)


async def accuracy(
    engine: WhisperEngine, silence_s: float
) -> tuple[int, Result, Result, list[str]]:
    """WER over every clip alone and every ordered pair of the short ones, said in one go:
    plain decode of the whole utterance vs the server's streaming path (same code, in-process)."""
    short = [clip for clip in CLIPS if len(clip[1]) == 1 and clip[0] != "quilter"]
    cases: list[tuple[str, tuple[str, ...], str]] = [
        (label, names, ref) for label, names, ref in CLIPS if len(names) == 1
    ]
    cases += [
        (f"{a[0]}+{b[0]}", (a[1][0], b[1][0]), f"{a[2]} {b[2]}")
        for a in short
        for b in short
        if a is not b
    ]
    plain, ours = Result([]), Result([])
    diffs: list[str] = []
    scheduler = DecodeScheduler(workers=1)
    try:
        for label, names, ref in cases:
            pcm = phrase(names, silence_s)
            plain_text = engine.decode(to_float(pcm), "en").text
            plain.add(label, 0.0, ref, plain_text)
            stream = StreamingTranscriber(engine, scheduler, "en")
            for offset in range(0, len(pcm), int(CHUNK_S * RATE)):
                stream.add(pcm[offset : offset + int(CHUNK_S * RATE)])
                await asyncio.sleep(0)
            text = (await stream.finish()).text
            ours.add(label, 0.0, ref, text)
            if text != plain_text:
                diffs.append(f"  {label}: plain {plain_text.strip()!r} / jarvis {text.strip()!r}")
    finally:
        scheduler.close(wait=True)
    return len(cases), plain, ours, diffs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _describe(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        await async_write_event(Describe().event(), writer)
        event = await asyncio.wait_for(async_read_event(reader), 5)
        return event is not None and event.type == "info"
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def server(model: str, *extra: str) -> AsyncIterator[tuple[int, int, float]]:
    """The server as a subprocess: its pid, port, and seconds from start to answering `describe`."""
    port = free_port()
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wyoming_servers.whisper", "--uri", f"tcp://127.0.0.1:{port}",
        "--model", model, *extra,
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while not await _describe(port):
            if proc.returncode is not None:
                raise RuntimeError("server exited")
            await asyncio.sleep(0.02)
        yield proc.pid, port, time.monotonic() - started
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


async def stream(port: int, pcm: np.ndarray, realtime: bool) -> tuple[float, str]:
    """Send one utterance; seconds from audio-stop to transcript, and its text."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fmt = {"rate": RATE, "width": 2, "channels": 1}
    try:
        await async_write_event(Transcribe(language="en").event(), writer)
        await async_write_event(AudioStart(**fmt).event(), writer)
        step = int(CHUNK_S * RATE)
        started = time.monotonic()
        for offset in range(0, len(pcm), step):
            chunk = pcm[offset : offset + step].tobytes()
            await async_write_event(AudioChunk(audio=chunk, **fmt).event(), writer)
            if realtime:
                due = started + (offset + step) / RATE
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        await async_write_event(AudioStop().event(), writer)
        stopped = time.monotonic()
        event: Event | None = None
        while event is None or event.type not in ("transcript", "error"):
            event = await async_read_event(reader)
            if event is None:
                raise RuntimeError("connection closed")
        if event.type == "error":
            raise RuntimeError(event.data)
        return time.monotonic() - stopped, str(event.data["text"])
    finally:
        writer.close()


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak) in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def machine() -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for pkg in ("faster-whisper", "ctranslate2", "wyoming", "numpy", "soxr", "pymicro-vad"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{pkg} {importlib.metadata.version(pkg)}")
    return [
        (
            f"machine: {platform.machine()} {cpu}, {os.cpu_count()} CPUs, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        ),
        f"python {platform.python_version()}; " + ", ".join(versions),
    ]


async def run(args: argparse.Namespace) -> None:
    utterances = [(label, utterance(names, args.silence), ref) for label, names, ref in CLIPS]
    print("\n".join(machine()))
    print(
        f"model {args.model}, beam 5, compute int8, {args.repeat} runs of {len(utterances)} "
        f"utterances ({', '.join(f'{lbl} {len(p) / RATE:.1f} s' for lbl, p, _ in utterances)}), "
        f"stream ends {args.silence:g} s after speech"
    )

    # Plain decode-after-stop, same model and settings, in this process.
    engine = WhisperEngine(EngineOptions(model=args.model))
    engine.decode(to_float(utterances[0][1]), "en")  # warm-up
    plain, reference, ours = Result([]), Result([]), Result([])
    rows = [
        ("plain decode-after-stop", plain),
        ("jarvis-whisper --no-speculate", reference),
        ("jarvis-whisper", ours),
    ]
    ready: dict[str, float] = {}
    mem: dict[str, tuple[float, float]] = {}
    async with contextlib.AsyncExitStack() as stack:
        ports: dict[str, tuple[int, int]] = {}
        for name, extra in (
            ("jarvis-whisper --no-speculate", ("--no-speculate",)),
            ("jarvis-whisper", tuple(args.server_args.split())),
        ):
            pid, port, ready[name] = await stack.enter_async_context(server(args.model, *extra))
            ports[name] = (pid, port)
            await stream(port, utterances[0][1], realtime=False)  # warm-up
        # Interleaved, so that the three see the same load from whatever else runs.
        for _ in range(args.repeat):
            for label, pcm, ref in utterances:
                started = time.monotonic()
                decoded = engine.decode(to_float(pcm), "en")
                plain.add(label, time.monotonic() - started, ref, decoded.text)
                for name, result in rows[1:]:
                    latency, text = await stream(ports[name][1], pcm, realtime=True)
                    result.add(label, latency, ref, text)
        for name, (pid, _port) in ports.items():
            mem[name] = memory_mb(pid)

    base = statistics.median(plain.latencies)
    print()
    print(
        f"{'STT latency after audio-stop':32} {'median s':>9} {'p95 s':>7} {'vs plain':>9} "
        f"{'WER':>6} {'ready at stop':>14}"
    )
    for name, res in rows:
        med = statistics.median(res.latencies)
        ready_n = sum(1 for latency in res.latencies if latency < READY_S)
        print(
            f"{name:32} {med:9.3f} {p95(res.latencies):7.3f} {med / base:8.3f}x "
            f"{res.errors / res.words:6.1%} {f'{ready_n}/{len(res.latencies)}':>14}"
        )
    if args.detail:
        print()
        labels = [label for label, _p, _r in utterances]
        print(f"{'median s per utterance':32} " + " ".join(f"{lbl:>10}" for lbl in labels))
        for name, res in rows:
            cells = " ".join(f"{statistics.median(res.per_clip[lbl]):10.3f}" for lbl in labels)
            print(f"{name:32} {cells}")
    print(f"(ready at stop: transcript within {READY_S * 1000:.0f} ms of audio-stop)")
    count, plain_acc, ours_acc, diffs = await accuracy(engine, args.silence)
    print(
        f"\nWER on {count} utterances (each clip, and every ordered pair of the short ones said "
        f"in one go): plain decode {plain_acc.errors / plain_acc.words:.1%}, "
        f"jarvis-whisper streaming path {ours_acc.errors / ours_acc.words:.1%}"
    )
    if args.detail:
        print("\n".join(diffs) or "  (identical transcripts)")
    print()
    for name, ready_s in ready.items():
        rss, peak = mem[name]
        print(f"{name}: ready {ready_s:.2f} s after start, RSS {rss:.0f} MB (peak {peak:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--silence", type=float, default=0.7, help="endpointer silence, seconds")
    parser.add_argument("--detail", action="store_true", help="also print medians per utterance")
    parser.add_argument(
        "--server-args",
        default="",
        help="extra flags for the speculative server, e.g. '--threads 2'",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
