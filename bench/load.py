"""Many satellites on one speech node: N rooms streaming recorded commands to jarvis-servers at once.

Run: .venv/bin/python -m bench.load [--satellites 1,5,10,20] [--rounds 3] [--chunk-ms 100] [--quick]

One real `jarvis-servers` process (STT + TTS on the embedded defaults) per run. Each simulated
satellite streams a recorded English command (audio_clips/, followed by quiet room tone and cut
where Home Assistant's endpointer cuts it, 0.7 s after the speech) in real time, in `--chunk-ms`
chunks, then sends `audio-stop`, waits for the transcript and asks the TTS server for a short
reply. Every satellite does this `--rounds` times with a random pause of 0-0.5 s between rounds;
all satellites of a level start together. Measured per level:

- STT: `audio-stop` sent -> `transcript` received (p50, p95);
- TTS: `synthesize` sent -> first `audio-chunk` received (p50, p95);
- busy: requests refused with a Wyoming `error` whose code is `busy` (a clear refusal, not a loss);
- lost: requests that got neither an answer nor a clear error (connection dropped, timeout,
  other error) -- should be 0;
- wrong: transcripts whose words differ from the command.

Then, unless `--no-probe`, the counts between the largest level served and the next level are
measured one room more at a time until one is not served (rows marked "probe").

A level "serves" its rooms when nothing is refused or lost and both p95 are within 1 s. The client
runs on the same machine as the server, so it takes some of its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import random
import re
import sys
import tempfile
import time

import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.tts import Synthesize

from bench.common import machine, median_p95, table
from bench.stt import RATE, normalise, utterance

ROOT = Path(__file__).resolve().parent.parent
COMMANDS: list[tuple[str, str]] = [
    ("wfw_turn_on_the_living_room_lamp", "turn on the living room lamp"),
    ("stp_en_set_a_timer_for_5_minutes", "set a timer for five minutes"),
    ("stp_en_what_time_is_it", "what time is it"),
]
REPLY = "Done, the living room lamp is on."
TIMEOUT_S = 60.0
TARGET_S = 1.0
_READY = re.compile(r"(\w+) ready on tcp://([\d.]+):(\d+)")


@dataclass
class Level:
    """What one level (N satellites at once) measured."""

    satellites: int
    probe: bool = False
    stt: list[float] = field(default_factory=list)
    tts: list[float] = field(default_factory=list)
    requests: int = 0
    busy: int = 0
    lost: int = 0
    wrong: int = 0
    problems: list[str] = field(default_factory=list)

    def serves(self) -> bool:
        return (
            not self.busy
            and not self.lost
            and bool(self.stt)
            and median_p95(self.stt)[1] <= TARGET_S
            and bool(self.tts)
            and median_p95(self.tts)[1] <= TARGET_S
        )


class Refused(Exception):
    """The server answered with a Wyoming error; `code` says which."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


def _remove(log: Path) -> None:
    log.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def node(*extra: str) -> AsyncIterator[tuple[int, int, int]]:
    """A `jarvis-servers` subprocess on free ports: its pid, STT port and TTS port."""
    fd, name = tempfile.mkstemp(prefix="jarvis-servers-", suffix=".log")
    log = Path(name)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wyoming_servers",
        "--stt-uri", "tcp://127.0.0.1:0", "--tts-uri", "tcp://127.0.0.1:0", *extra,
        cwd=ROOT, stdout=fd, stderr=fd, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    os.close(fd)
    try:
        deadline = time.monotonic() + 120
        ports: dict[str, int] = {}
        while not {"whisper", "piper"} <= ports.keys():
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jarvis-servers did not start:\n{_read(log)}")
            await asyncio.sleep(0.05)
            ports = {m[1]: int(m[3]) for m in _READY.finditer(_read(log))}
        yield proc.pid, ports["whisper"], ports["piper"]
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        _remove(log)


async def _answer(reader: asyncio.StreamReader, wanted: str) -> Event:
    """The next event of type `wanted`; raises Refused on `error`, ConnectionError on EOF."""
    while True:
        event = await async_read_event(reader)
        if event is None:
            raise ConnectionError("connection closed")
        if event.type == "error":
            raise Refused(str(event.data.get("code")), str(event.data.get("text")))
        if event.type == wanted:
            return event


async def transcribe(port: int, pcm: np.ndarray, chunk_s: float) -> tuple[float, str]:
    """Stream `pcm` in real time; seconds from audio-stop to transcript, and its text."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fmt = {"rate": RATE, "width": 2, "channels": 1}
    try:
        await async_write_event(Transcribe(language="en").event(), writer)
        await async_write_event(AudioStart(**fmt).event(), writer)
        step = int(chunk_s * RATE)
        started = time.monotonic()
        for offset in range(0, len(pcm), step):
            chunk = pcm[offset : offset + step].tobytes()
            await async_write_event(AudioChunk(audio=chunk, **fmt).event(), writer)
            due = started + (offset + step) / RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await async_write_event(AudioStop().event(), writer)
        stopped = time.monotonic()
        event = await _answer(reader, "transcript")
        return time.monotonic() - stopped, str(event.data.get("text", ""))
    finally:
        writer.close()


async def synthesize(port: int, text: str) -> float:
    """Ask for `text`; seconds to the first audio chunk (the whole reply is read)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        started = time.monotonic()
        await async_write_event(Synthesize(text=text).event(), writer)
        await _answer(reader, "audio-chunk")
        first = time.monotonic() - started
        await _answer(reader, "audio-stop")
        return first
    finally:
        writer.close()


async def satellite(
    index: int,
    level: Level,
    ports: tuple[int, int],
    clips: list[tuple[np.ndarray, str]],
    args: argparse.Namespace,
) -> None:
    """One room: `rounds` times a command, its transcript, then a spoken reply."""
    rng = random.Random(index)
    for round_ in range(args.rounds):
        if round_:
            await asyncio.sleep(rng.uniform(0, 0.5))
        pcm, reference = clips[(index + round_) % len(clips)]
        level.requests += 1
        try:
            latency, text = await asyncio.wait_for(
                transcribe(ports[0], pcm, args.chunk_ms / 1000), TIMEOUT_S
            )
        except Refused as err:
            if err.code == "busy":
                level.busy += 1
            else:
                level.lost += 1
                level.problems.append(f"stt: {err}")
            continue
        except (OSError, TimeoutError) as err:
            level.lost += 1
            level.problems.append(f"stt: {err!r}")
            continue
        level.stt.append(latency)
        if normalise(text) != normalise(reference):
            level.wrong += 1
            level.problems.append(f"stt heard {text!r} for {reference!r}")
        level.requests += 1
        try:
            level.tts.append(await asyncio.wait_for(synthesize(ports[1], REPLY), TIMEOUT_S))
        except Refused as err:
            if err.code == "busy":
                level.busy += 1
            else:
                level.lost += 1
                level.problems.append(f"tts: {err}")
        except (OSError, TimeoutError) as err:
            level.lost += 1
            level.problems.append(f"tts: {err!r}")


async def run(args: argparse.Namespace) -> None:
    counts = [int(x) for x in args.satellites.split(",")]
    clips = [(utterance((name,), 0.7), reference) for name, reference in COMMANDS]
    levels: list[Level] = []
    async with node(*args.server_args.split()) as (_pid, stt_port, tts_port):
        # Warm-up: one request of each kind, so that the first level does not pay for loading.
        await transcribe(stt_port, clips[0][0], 0.1)
        await synthesize(tts_port, REPLY)
        for count in counts:
            level = Level(count)
            await asyncio.gather(
                *(satellite(i, level, (stt_port, tts_port), clips, args) for i in range(count))
            )
            levels.append(level)
            await asyncio.sleep(1)  # let the server drain anything left before the next level
        if not args.no_probe:
            # Between the largest level served and the next one measured: go up one room at a time.
            served = [lvl.satellites for lvl in levels if lvl.serves()]
            above = [lvl.satellites for lvl in levels if not lvl.serves()]
            if served and above and min(above) > max(served) + 1:
                for count in range(max(served) + 1, min(above)):
                    level = Level(count, probe=True)
                    await asyncio.gather(
                        *(
                            satellite(i, level, (stt_port, tts_port), clips, args)
                            for i in range(count)
                        )
                    )
                    levels.append(level)
                    await asyncio.sleep(1)
                    if not level.serves():
                        break
        levels.sort(key=lambda lvl: lvl.satellites)

    print("# bench.load: many satellites on one jarvis-servers node")
    table(
        "Machine",
        ("what", "value"),
        machine(("faster-whisper", "ctranslate2", "piper-tts", "wyoming", "numpy")),
    )
    seconds = ", ".join(f"{len(pcm) / RATE:.1f} s" for pcm, _ in clips)
    print(
        f"\nEach satellite: {args.rounds} rounds of a recorded command ({seconds} incl. 0.7 s "
        f"of room tone) streamed in real time in {args.chunk_ms:g} ms chunks, then a TTS reply "
        f"({len(REPLY)} characters). Server: jarvis-servers {args.server_args or '(defaults)'}."
    )
    rows = []
    for level in levels:
        stt50, stt95 = median_p95(level.stt) if level.stt else (float("nan"),) * 2
        tts50, tts95 = median_p95(level.tts) if level.tts else (float("nan"),) * 2
        rows.append(
            (
                f"{level.satellites}{' (probe)' if level.probe else ''}",
                level.requests,
                f"{stt50:.3f}",
                f"{stt95:.3f}",
                f"{tts50:.3f}",
                f"{tts95:.3f}",
                level.busy,
                level.lost,
                level.wrong,
                "yes" if level.serves() else "no",
            )
        )
    table(
        "Satellites at once",
        (
            "satellites",
            "requests",
            "audio-stop→transcript p50 s",
            "p95 s",
            "TTS first audio p50 s",
            "p95 s",
            "busy",
            "lost",
            "wrong",
            f"within {TARGET_S:g} s p95",
        ),
        rows,
    )
    served = [level.satellites for level in levels if level.serves()]
    print(
        f"\nThis machine serves {max(served) if served else 0} simultaneous rooms within "
        f"{TARGET_S:g} s p95 (largest count measured with no busy, nothing lost, both p95 "
        f"<= {TARGET_S:g} s)."
    )
    for level in levels:
        for problem in level.problems[:5]:
            print(f"  {level.satellites} satellites: {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--satellites", default="1,5,10,20", help="levels, comma separated")
    parser.add_argument("--rounds", type=int, default=3, help="commands per satellite and level")
    parser.add_argument("--chunk-ms", type=float, default=100, help="audio chunk, 10 or 100 ms")
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="do not measure the counts between the last level served and the next one",
    )
    parser.add_argument("--quick", action="store_true", help="one round per satellite")
    parser.add_argument(
        "--server-args", default="", help="extra jarvis-servers flags, e.g. '--workers 2'"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
