"""Stop word bench: `python -m bench.stop_word [--quick]`.

The satellite's real listening chain (48 kHz mic -> soxr -> echo cancellation (speex, the
default) -> DSP) runs on the simulated room of `satellite.audio.room` with the stop word's
segmenter on its cleaned audio, exactly as the satellite wires it (`Listener.on_chunk`); each
utterance it cuts is checked by the real jarvis whisper server (tiny.en) over Wyoming.

The user's "stop" is synthesised by the real Piper server with its bundled joe-medium voice (the
only English voice we have): "Stop!" and "Stop." at length_scale 0.8 / 1.0 / 1.3, said 0, -5 and
-10 dB under the echo of what the satellite plays (synthetic music, or its own replies: the
held-out clips of bench/echo.py). A single synthetic voice: the rate says the mechanism works,
not how it does on real voices.

Prints: detection per content and level (on the first playback since start, and once the
satellite has played before: `bench.echo.played_before`); false stops (utterances cut,
checked, and heard as a stop word) over minutes of the satellite's own replies (recorded clips plus Piper replies that
say "stop" in sentences) and music; the delay from the end of the spoken word to the decision
(the segmenter's `GAP_S` of silence + the STT server's decode) and the segmenter's CPU.
`--energy-only` runs the previous design for comparison: the energy gate alone (the speaker's
reference unused, nothing attenuated) and one plain decode per utterance.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import numpy.typing as npt
import soxr
from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize

from satellite import stop_word
from satellite.audio.room import EchoPath, Room, RoomSink, RoomSource, synthetic_music
from satellite.config import StopWordSettings
from satellite.listening import Listener, ListenSettings
from satellite.stop_word import Segmenter, heard, normalise, stop_hints, stop_words, transcribe

from .common import machine, median_p95, table
from .echo import PLAY_DBFS, RATE, WARM_S, content, played_before

ECHO = EchoPath(delay_s=0.04, rt60_s=0.3, gain_db=-6.0)
ECHO_DBFS = PLAY_DBFS + ECHO.gain_db  # the echo's level at the microphone (unit-energy RIR)
WORDS = stop_words(StopWordSettings())
HINTS = stop_hints(StopWordSettings())
ENERGY_ONLY = False  # --energy-only: the previous gate (no reference) and one plain decode
STOP_TEXTS = ("Stop!", "Stop.")
SCALES = (0.8, 1.0, 1.3)
REPLIES_SAYING_STOP = (
    "All right, I will stop the music in the kitchen when this song ends.",
    "The bus stop is two minutes away, and the bakery does not stop selling bread until six.",
    "Do not stop the timer in the living room. It has four minutes left.",
    "Stop. That is what the sign at the corner says, in big red letters.",
    "I turned off the lights. Say stop when you want me to stop the music.",
)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(module: str, *args: str) -> Iterator[str]:
    """`python -m module --uri tcp://127.0.0.1:PORT args` until it accepts connections."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-stop-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--uri", f"tcp://127.0.0.1:{port}", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start: {log.read_text()}")
            time.sleep(0.2)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)
        log.unlink(missing_ok=True)


async def piper(
    uri: str, text: str, length_scale: float = 1.0
) -> tuple[npt.NDArray[np.float64], int]:
    """Piper's speech of `text`: float samples and rate."""
    host, port = uri.removeprefix("tcp://").rsplit(":", 1)
    client = AsyncTcpClient(host, int(port))
    await client.connect()
    try:
        event = Synthesize(text=text).event()
        event.data["length_scale"] = length_scale
        await client.write_event(event)
        parts: list[bytes] = []
        rate = 22050
        while True:
            got = await client.read_event()
            if got is None:
                raise RuntimeError("piper closed the connection")
            if AudioChunk.is_type(got.type):
                chunk = AudioChunk.from_event(got)
                parts.append(chunk.audio)
                rate = chunk.rate
            elif AudioStop.is_type(got.type):
                break
    finally:
        await client.disconnect()
    samples = np.frombuffer(b"".join(parts), dtype="<i2").astype(np.float64)
    return samples, rate


@dataclass
class Cut:
    """One utterance the segmenter cut."""

    pcm: bytes
    t: float  # seconds of 16 kHz audio at its emission (the end of the trailing gap)


def run_room(
    room: Room, played: npt.NDArray[np.int16], idle: tuple[float, float] | None = None
) -> tuple[list[Cut], float]:
    """The chain + segmenter on the room (speaker playing `played`); cuts and segmenter ms/frame.

    `idle`: seconds (start, end) when nothing plays, so the segmenter is off (as the
    satellite's spotter is between two things it plays).
    """
    cuts: list[Cut] = []
    reference = None if ENERGY_ONLY else room.reference
    segmenter = Segmenter(
        lambda pcm, t: cuts.append(Cut(pcm, t)), gap_s=stop_word.GAP_S, reference=reference
    )
    segmenter.active = True
    RoomSink(room, buffer_s=None).write(played.reshape(-1, 1))
    listener = Listener(
        RoomSource(room), ListenSettings(), lambda _e: None, reference=room.reference
    )
    if idle is None:
        listener.on_chunk = segmenter.feed
    else:

        def feed(chunk: bytes, t: float) -> None:
            segmenter.active = not idle[0] <= t < idle[1]
            segmenter.feed(chunk, t)

        listener.on_chunk = feed
    listener.start()
    listener.wait_finished(600)
    frames = max(1.0, listener.metrics()["frames"])
    listener.stop()
    return cuts, segmenter.vad_ns / frames / 1e6


async def check(stt: str, cut: Cut) -> tuple[str, float]:
    """The transcript of a cut (as the satellite sends it) and the decode time."""
    t0 = time.perf_counter()
    pcm = stop_word.SEND_PAD + cut.pcm + stop_word.SEND_PAD
    text = await (
        transcribe(stt, pcm, "en") if ENERGY_ONLY else heard(stt, pcm, "en", WORDS, HINTS)
    )
    return text, time.perf_counter() - t0


async def detection(
    stt: str, tts: str, quick: bool, warm: bool = False
) -> tuple[list[list[object]], list[float], list[float]]:
    """Rows per content and level; decode times and word-end -> decision delays of the hits.

    Cold: what plays is the first sound the satellite ever plays. Warm: it played
    `bench.echo.played_before` first (6 s of the other content, 1 s of silence).
    """
    lead = WARM_S if warm else 0.0
    voices = [
        (text, scale, *(await piper(tts, text, scale))) for text in STOP_TEXTS for scale in SCALES
    ]
    offsets = [3.0] if quick else [3.0, 5.5]
    levels = [0.0, -10.0] if quick else [0.0, -5.0, -10.0]
    rows: list[list[object]] = []
    decode: list[float] = []
    delays: list[float] = []
    for kind in ("music", "reply"):
        for under in levels:
            hits = trials = 0
            misheard: list[str] = []
            for i, (text, scale, voice, rate) in enumerate(voices):
                for at in offsets:
                    trials += 1
                    room = Room(rate=RATE, duration_s=lead + at + 3.0, echo=ECHO)
                    start, end = room.add_voice(
                        voice, at_s=lead + at, rate=rate, level_dbfs=ECHO_DBFS + under
                    )
                    played = content(kind, at + 3.0, seed=i)
                    if warm:
                        played = np.concatenate([played_before(kind, i), played])
                    idle = (lead - 1.0, lead) if warm else None
                    cuts, _ = run_room(room, played, idle)
                    heard = False
                    for cut in cuts:
                        if cut.t < start:  # before the word: the echo, not the user
                            continue
                        said, took = await check(stt, cut)
                        decode.append(took)
                        if normalise(said) in WORDS:
                            heard = True
                            delays.append(cut.t - end + took)
                        else:
                            misheard.append(f"{text}@{scale}: {said.strip()!r}")
                    hits += heard
                    if not heard and not cuts:
                        misheard.append(f"{text}@{scale}: not cut")
            rows.append(
                [
                    "played before" if warm else "first playback",
                    kind,
                    f"{under:+.0f} dB",
                    trials,
                    f"{hits}/{trials} ({100 * hits / trials:.0f} %)",
                    "; ".join(misheard[:3]),
                ]
            )
    return rows, decode, delays


async def false_stops(stt: str, tts: str, minutes: float) -> list[list[object]]:
    """Cuts, checks and stop words heard while only the satellite's own audio plays."""
    said = []
    for text in REPLIES_SAYING_STOP:
        samples, rate = await piper(tts, text)
        floats = soxr.resample(samples, rate, RATE)
        floats *= 10 ** (
            (PLAY_DBFS - 20 * np.log10(np.sqrt(np.mean(floats**2)) / 32768 + 1e-12)) / 20
        )
        said += [floats, np.zeros(RATE // 2)]
    piper_replies = np.concatenate(said)
    seconds = minutes * 60 / 3
    sessions = {
        "recorded replies": content("reply", seconds, seed=0),
        'Piper replies saying "stop"': np.resize(piper_replies, round(seconds * RATE)),
        "synthetic music": synthetic_music(seconds, RATE, seed=11, level_dbfs=PLAY_DBFS),
    }
    rows: list[list[object]] = []
    for name, played in sessions.items():
        pcm = np.clip(np.rint(played), -32768, 32767).astype(np.int16)
        room = Room(rate=RATE, duration_s=len(pcm) / RATE + 1.0, echo=ECHO)
        cuts, cost = run_room(room, pcm)
        stops = []
        for cut in cuts:
            text, _ = await check(stt, cut)
            if normalise(text) in WORDS:
                stops.append(text)
        rows.append([name, f"{len(pcm) / RATE / 60:.1f} min", len(cuts), len(stops), f"{cost:.4f}"])
    return rows


async def bench(quick: bool) -> None:
    stop_word.DECODE_TIMEOUT_S = 60.0  # a loaded machine must not end the run (decode is timed)
    table("Machine", ["what", "value"], machine(["faster-whisper", "piper-tts", "numpy"]))
    with server("wyoming_servers.whisper") as stt, server("wyoming_servers.piper") as tts:
        rows, decode, delays = await detection(stt, tts, quick)
        warm_rows, warm_decode, warm_delays = await detection(stt, tts, quick, warm=True)
        rows += warm_rows
        decode += warm_decode
        delays += warm_delays
        table(
            '"stop" (Piper joe-medium: "Stop!"/"Stop.", length_scale 0.8/1.0/1.3) said under the '
            f"echo ({ECHO_DBFS:.0f} dBFS at the mic) of what plays; AEC speex, whisper tiny.en; "
            + ("energy gate alone" if ENERGY_ONLY else "reference-aware gate"),
            ["since start", "playing", "speech vs echo", "trials", "detected", "misses (first 3)"],
            rows,
        )
        table(
            "False stops over the satellite's own audio (no user voice)",
            ["played", "length", "utterances cut (checked)", "false stops", "segmenter ms/frame"],
            await false_stops(stt, tts, 1.5 if quick else 6.0),
        )
        pad_s = len(stop_word.SEND_PAD) / 2 / stop_word.RATE
        d50, d95 = median_p95(decode) if decode else (float("nan"), float("nan"))
        s50, s95 = median_p95(delays) if delays else (float("nan"), float("nan"))
        table(
            "Delays (s)",
            ["what", "median", "p95", "n"],
            [
                [
                    f"STT decision on one cut (tiny.en, {pad_s:g} s pad each side; 1 or 2 decodes)",
                    f"{d50:.3f}",
                    f"{d95:.3f}",
                    len(decode),
                ],
                [
                    f"end of the word -> stop ({stop_word.GAP_S:g} s gap + decode)",
                    f"{s50:.3f}",
                    f"{s95:.3f}",
                    len(delays),
                ],
            ],
        )


def main() -> None:
    """Run the bench and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    parser.add_argument(
        "--energy-only",
        action="store_true",
        help="the energy gate alone (no reference) and one plain decode: the previous design",
    )
    parser.add_argument("--gap", type=float, help="the segmenter's GAP_S (s) to try")
    parser.add_argument("--pad", type=float, help="the silence sent on each side (s) to try")
    args = parser.parse_args()
    if args.gap is not None:
        stop_word.GAP_S = args.gap
    if args.pad is not None:
        stop_word.SEND_PAD = bytes(2 * round(args.pad * stop_word.RATE))
    global ENERGY_ONLY
    ENERGY_ONLY = args.energy_only
    asyncio.run(bench(args.quick))


if __name__ == "__main__":
    main()
