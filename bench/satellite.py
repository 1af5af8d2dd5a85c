"""Satellite listening-chain benchmark: `.venv/bin/python -m bench.satellite`.

Prints tables (machine and versions first):

1. cost of the capture chain per 10 ms frame at 48 kHz, each stage's share, for each
   noise engine, against a baseline measured in the same run (the bare models on
   16 kHz audio: wake word + VAD, no DSP); target <= 0.5 ms per frame;
2. the DSP order choice: the high-pass filter run at 48 kHz before resampling vs at
   16 kHz after it (what the chain does);
3. wake word detection through the DSP chain at 48 kHz vs the raw 16 kHz clip fed to
   the same model: positives mixed with noise at 10/5/0 dB SNR and at -20 dB level,
   and false wakes on negatives, other wake words, noise and ordinary speech;
4. resident memory of a listener subprocess (target <= 80 MB), start-to-listening
   time (<= 2 s), wake detection -> first command audio (<= 50 ms).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Any
import wave

import numpy as np
import soxr

from audio_clips import ENGLISH_COMMANDS, FRENCH, NOISE, WAKEWORD
from bench.common import machine, table
from satellite.audio import WavFileSource
from satellite.dsp import OUTPUT_RATE, highpass_biquad
from satellite.listening import CommandAudio, Listener, ListenEvent, ListenSettings, WakeDetected
from satellite.vad import SpeechDetector
from satellite.wakeword import load_wake_word

ROOT = Path(__file__).resolve().parent.parent
RATE = 48000
POSITIVES = ["pmw_hey_jarvis_1.wav", "pmw_hey_jarvis_2.wav", "wow_hey_jarvis.wav"]
NEGATIVE_WAKE = [
    "NEG_pmw_hey_peppa_pig.wav",
    "NEG_wow_snowboy.wav",
    "pmw_alexa_1.wav",
    "pmw_okay_nabu_1.wav",
]
NOISES = [
    "leopard_empty.wav",
    "pyspeex_noise.wav",
    "stp_background_noise.wav",
    "pymicro_vad_silence.wav",
]
# DSP configurations compared (ListenSettings overrides); the first is the default.
CHAINS: dict[str, dict[str, Any]] = {
    "webrtc AGC (default)": {},
    "webrtc AGC + NS 2": {"noise": "webrtc", "noise_suppression": 2},
    "speex AGC": {"noise": "speex"},
    "speex AGC + NS 2": {"noise": "speex", "noise_suppression": 2},
    "off (high-pass only)": {"noise": "off"},
}

Floats = np.ndarray


def read_16k(path: Path) -> Floats:
    with wave.open(str(path), "rb") as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        data = data.reshape(-1, wav.getnchannels())[:, 0].astype(np.float64)
        rate = wav.getframerate()
    if rate != 16000:
        data = soxr.resample(data, rate, 16000, quality="VHQ")
    out: Floats = data
    return out


def write_wav(path: Path, samples: Floats, rate: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes())
    return path


def to_48k(samples: Floats) -> Floats:
    out: Floats = soxr.resample(samples, 16000, RATE, quality="VHQ")
    return out


def speech_rms(clean: Floats) -> float:
    """RMS over the loudest half of 10 ms frames (the speech, not the pauses)."""
    frames = clean[: len(clean) // 160 * 160].reshape(-1, 160)
    power = np.sort(np.mean(frames**2, axis=1))
    return float(np.sqrt(np.mean(power[len(power) // 2 :])))


def mix(clean: Floats, noise: Floats, snr_db: float) -> Floats:
    """Clean clip padded with 1 s each side, noise (looped) at the given SNR."""
    padded = np.concatenate([np.zeros(16000), clean, np.zeros(16000)])
    reps = int(np.ceil(len(padded) / len(noise)))
    bed = np.tile(noise, reps)[: len(padded)]
    bed_rms = float(np.sqrt(np.mean(bed**2))) or 1.0
    gain = speech_rms(clean) / bed_rms / 10 ** (snr_db / 20)
    mixed: Floats = padded + bed * gain
    return mixed


# -- 1. cost per frame ---------------------------------------------------------------
@dataclass
class CostRow:
    stages: dict[str, float]
    total: float
    cpu: float


def chain_cost(path: Path, settings: ListenSettings) -> CostRow:
    listener = Listener(WavFileSource(path), settings, lambda event: None)
    listener.start()
    listener.wait_finished()
    listener.stop()
    m = listener.metrics()
    stages = {
        k.removesuffix("_ms"): m[k]
        for k in ("resample_ms", "highpass_ms", "noise_ms", "wake_ms", "vad_ms")
    }
    stages["events+overhead"] = max(0.0, m["total_ms"] - sum(stages.values()))
    return CostRow(stages, m["total_ms"], m["cpu_ms"])


def bare_models_cost(samples_16k: Floats) -> tuple[float, float]:
    """Wake word + VAD on every raw 16 kHz chunk: (wall, CPU) ms per 10 ms."""
    wake = load_wake_word("hey_jarvis")
    vad = SpeechDetector()
    pcm = np.clip(samples_16k, -32768, 32767).astype(np.int16).tobytes()
    chunks = [pcm[i : i + 320] for i in range(0, len(pcm) - 319, 320)]
    began, began_cpu = time.perf_counter(), time.thread_time()
    for chunk in chunks:
        wake.process_10ms(chunk)
        vad.process_10ms(chunk)
    wall, cpu = time.perf_counter() - began, time.thread_time() - began_cpu
    wake.close()
    return wall / len(chunks) * 1000, cpu / len(chunks) * 1000


def highpass_order_cost() -> tuple[float, float]:
    """ms per 10 ms frame: high-pass at 48 kHz (480-sample blocks) vs at 16 kHz (3 x 160... 1 x 160)."""
    rng = np.random.default_rng(0)
    results = []
    for rate in (RATE, OUTPUT_RATE):
        block = rate // 100
        hp = highpass_biquad(80.0, rate, block)
        data = rng.standard_normal((2000, block)) * 1000
        began = time.perf_counter()
        for row in data:
            hp.process(row)
        results.append((time.perf_counter() - began) / len(data) * 1000)
    return results[0], results[1]


# -- 3. detection ----------------------------------------------------------------------
def detections_raw(samples_16k: Floats, refractory_s: float = 2.0) -> int:
    wake = load_wake_word("hey_jarvis")
    pcm = np.clip(np.rint(samples_16k), -32768, 32767).astype(np.int16).tobytes()
    count, last = 0, -1e9
    for i in range(0, len(pcm) - 319, 320):
        t = (i // 320 + 1) * 0.01
        if wake.process_10ms(pcm[i : i + 320]) > wake.threshold and t - last >= refractory_s:
            count, last = count + 1, t
    wake.close()
    return count


def detections_chain(path: Path, overrides: dict[str, Any]) -> int:
    wakes: list[WakeDetected] = []
    holder: list[Listener] = []

    def on_event(event: ListenEvent) -> None:
        if isinstance(event, WakeDetected):
            wakes.append(event)
            holder[0].cancel_command()

    listener = Listener(
        WavFileSource(path, tail_silence_s=0.5), ListenSettings(**overrides), on_event
    )
    holder.append(listener)
    listener.start()
    listener.wait_finished()
    listener.stop()
    return len(wakes)


def detection_tables(tmp: Path) -> list[tuple[str, int, dict[str, int]]]:
    clean = {name: read_16k(WAKEWORD / name) for name in POSITIVES}
    noises = {name: read_16k(NOISE / name) for name in NOISES}
    conditions: list[tuple[str, list[Floats]]] = []
    conditions.append(
        ("clean", [np.concatenate([np.zeros(16000), c, np.zeros(16000)]) for c in clean.values()])
    )
    conditions.extend(
        (
            f"noise {snr} dB SNR",
            [mix(c, n, snr) for c in clean.values() for n in noises.values()],
        )
        for snr in (10, 5, 0)
    )
    quiet = [np.concatenate([np.zeros(16000), c, np.zeros(16000)]) * 0.1 for c in clean.values()]
    conditions.append(("-20 dB level", quiet))
    conditions.append(
        (
            "-20 dB level + noise 10 dB",
            [mix(c * 0.1, n * 0.1, 10) for c in clean.values() for n in noises.values()],
        )
    )
    rows = []
    for label, clips in conditions:
        hits = {"raw 16k": 0, **dict.fromkeys(CHAINS, 0)}
        for i, clip in enumerate(clips):
            hits["raw 16k"] += min(1, detections_raw(clip))
            path = write_wav(tmp / f"pos{i}.wav", to_48k(clip), RATE)
            for name, overrides in CHAINS.items():
                hits[name] += min(1, detections_chain(path, overrides))
        rows.append((label, len(clips), hits))
    # False wakes: other words, noise, ordinary speech (English and French).
    negatives = [WAKEWORD / n for n in NEGATIVE_WAKE]
    negatives += [NOISE / n for n in [*NOISES, "wyoming_satellite_awake.wav"]]
    negatives += sorted(ENGLISH_COMMANDS.glob("*.wav")) + sorted(FRENCH.glob("*.wav"))
    false = {"raw 16k": 0, **dict.fromkeys(CHAINS, 0)}
    seconds = 0.0
    for i, path in enumerate(negatives):
        samples = read_16k(path)
        seconds += len(samples) / 16000
        false["raw 16k"] += detections_raw(samples)
        up = write_wav(tmp / f"neg{i}.wav", to_48k(samples), RATE)
        for name, overrides in CHAINS.items():
            false[name] += detections_chain(up, overrides)
    rows.append(
        (f"FALSE wakes, {len(negatives)} negatives ({seconds:.0f} s)", len(negatives), false)
    )
    return rows


# -- 4. memory, start-up, latency -----------------------------------------------------------
CHILD = """
import time
began = time.monotonic()
from satellite.audio import WavFileSource
from satellite.listening import Listener, ListenSettings
listener = Listener(WavFileSource({path!r}, realtime=True), ListenSettings(), lambda e: None)
listener.start()
while not listener.metrics()["frames"]:
    time.sleep(0.002)
print("listening", time.monotonic() - began, flush=True)
time.sleep({seconds})
listener.stop()
m = listener.metrics()
print("metrics", m["total_ms"], m["cpu_ms"], flush=True)
"""


def rss_kb(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields.get("VmRSS", "0 kB").split()[0]), int(fields.get("VmHWM", "0 kB").split()[0])


def child_run(path: Path, seconds: float = 6.0) -> dict[str, float]:
    code = CHILD.format(path=str(path), seconds=seconds)
    began = time.monotonic()
    # `-c` puts the working directory first on the child's path: this checkout's satellite.
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    to_listening = time.monotonic() - began
    peak_rss = hwm = 0
    while proc.poll() is None:
        try:
            rss, hwm = rss_kb(proc.pid)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            break
        peak_rss = max(peak_rss, rss)
        time.sleep(0.1)
    rest = proc.stdout.read()
    proc.wait()
    return {
        "start_to_listening_s": to_listening,
        "child_reported_s": float(line.split()[1]),
        "rss_mb": peak_rss / 1024,
        "hwm_mb": hwm / 1024,
        "realtime_chain_ms": float(rest.split()[-2]),
        "realtime_cpu_ms": float(rest.split()[-1]),
    }


def wake_to_audio_latency(tmp: Path) -> tuple[list[float], list[float]]:
    """Wall time from WakeDetected to the first CommandAudio callback (ms), and how far
    the wake event lags the audio it was detected in (ms, real-time source)."""
    wake = read_16k(WAKEWORD / "wow_hey_jarvis.wav")
    path = write_wav(
        tmp / "latency.wav", to_48k(np.concatenate([np.zeros(8000), wake, np.zeros(16000)])), RATE
    )
    runs = [_latency_run(path) for _ in range(5)]
    return [r[0] for r in runs], [r[1] for r in runs]


def _latency_run(path: Path) -> tuple[float, float]:
    marks: dict[str, float] = {}
    started = [0.0]

    def on_event(event: ListenEvent) -> None:
        now = time.perf_counter()
        if isinstance(event, WakeDetected):
            marks.setdefault("wake", now)
            marks.setdefault("lag", time.monotonic() - started[0] - event.t)
        elif isinstance(event, CommandAudio):
            marks.setdefault("audio", now)

    listener = Listener(WavFileSource(path, realtime=True), ListenSettings(), on_event)
    started[0] = time.monotonic()
    listener.start()
    listener.wait_finished(10)
    listener.stop()
    return (marks["audio"] - marks["wake"]) * 1000, marks["lag"] * 1000


PACKAGES = (
    "numpy",
    "soxr",
    "pymicro-wakeword",
    "pyopen-wakeword",
    "pymicro-vad",
    "webrtc-noise-gain",
    "pyspeex-noise",
    "sounddevice",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the detection sweep")
    args = parser.parse_args()
    table("Machine", ["what", "value"], [list(r) for r in machine(PACKAGES)])

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        # A 60 s room recording: wake words, commands, noise, in a loop.
        parts = [read_16k(WAKEWORD / n) for n in POSITIVES + NEGATIVE_WAKE]
        parts += [read_16k(p) for p in sorted(ENGLISH_COMMANDS.glob("*.wav"))]
        parts += [read_16k(NOISE / n) for n in NOISES]
        room = np.tile(np.concatenate(parts), 2)[: 60 * 16000]
        room_path = write_wav(tmp / "room48k.wav", to_48k(room), RATE)

        idle = np.tile(np.concatenate(parts[len(POSITIVES) :]), 2)[: 60 * 16000]
        idle_path = write_wav(tmp / "idle48k.wav", to_48k(idle), RATE)
        base_wall, base_cpu = bare_models_cost(room)
        runs_cost = [
            (f"room, {name}", chain_cost(room_path, ListenSettings(**overrides)))
            for name, overrides in CHAINS.items()
        ]
        runs_cost.append(
            ("idle room (no wake word), default", chain_cost(idle_path, ListenSettings()))
        )
        runs_cost.append(
            (
                "room, default, openWakeWord",
                chain_cost(room_path, ListenSettings(wake_engine="openwakeword")),
            )
        )
        rows: list[list[str]] = []
        for label, row in runs_cost:
            shares = ", ".join(f"{k} {v:.3f} ({v / row.total:.0%})" for k, v in row.stages.items())
            rows.append(
                [
                    label,
                    f"{row.total:.3f}",
                    f"{row.cpu:.3f}",
                    f"{row.cpu / base_cpu:.2f}x",
                    f"{row.cpu / 10:.1%}",
                    shares,
                ]
            )
        rows.append(
            [
                "baseline: bare wake word + VAD on raw 16 kHz",
                f"{base_wall:.3f}",
                f"{base_cpu:.3f}",
                "1.00x",
                f"{base_cpu / 10:.1%}",
                "-",
            ]
        )
        table(
            "Capture chain cost per 10 ms frame at 48 kHz (target <= 0.5 ms), 60 s recordings",
            [
                "recording, noise engine",
                "wall ms/frame",
                "CPU ms/frame",
                "CPU vs baseline",
                "of 1 core",
                "stage wall ms (share)",
            ],
            rows,
        )

        hp48, hp16 = highpass_order_cost()
        table(
            "DSP order: high-pass before (48 kHz) or after (16 kHz) resampling",
            ["order", "high-pass ms/frame", "ratio"],
            [
                ["HPF at 48 kHz, then resample", f"{hp48:.4f}", f"{hp48 / hp16:.1f}x"],
                ["resample, then HPF at 16 kHz (used)", f"{hp16:.4f}", "1.0x"],
            ],
        )

        if not args.quick:
            det_rows = []
            for label, n, hits in detection_tables(tmp):
                det_rows.append(
                    [
                        label,
                        str(n),
                        *(str(hits[k]) for k in ["raw 16k", *CHAINS]),
                    ]
                )
            table(
                "Wake word 'hey_jarvis' (micro, cut-off 0.97): clips detected (false wakes last row)",
                [
                    "condition",
                    "clips",
                    "raw 16 kHz -> model",
                    *(f"48k chain: {name}" for name in CHAINS),
                ],
                det_rows,
            )

        runs = [child_run(room_path) for _ in range(2)]
        latency, lags = wake_to_audio_latency(tmp)
        table(
            "Footprint and latency (listener in a subprocess, real-time 48 kHz source, default chain)",
            ["measure", "value", "target"],
            [
                [
                    "resident memory (peak VmRSS)",
                    f"{max(r['rss_mb'] for r in runs):.1f} MB",
                    "<= 80 MB",
                ],
                [
                    "start to listening (spawn -> first frame)",
                    " / ".join(f"{r['start_to_listening_s']:.2f} s" for r in runs),
                    "<= 2 s",
                ],
                [
                    "chain per frame in real time: wall",
                    " / ".join(f"{r['realtime_chain_ms']:.3f} ms" for r in runs),
                    "-",
                ],
                [
                    "chain per frame in real time: thread CPU",
                    " / ".join(f"{r['realtime_cpu_ms']:.3f} ms" for r in runs),
                    "<= 0.5 ms",
                ],
                [
                    "wake detected -> first command audio",
                    f"max {max(latency):.3f} ms (n={len(latency)})",
                    "<= 50 ms",
                ],
                [
                    "wake event behind its audio (soxr + 10 ms framing)",
                    f"median {np.median(lags):.0f} ms, max {max(lags):.0f} ms",
                    "-",
                ],
            ],
        )


if __name__ == "__main__":
    main()
