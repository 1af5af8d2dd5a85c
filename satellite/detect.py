"""`jarvis-satellite detect FILE.wav`: run the listening chain on a recording.

Prints one JSON line per event, for tuning sensitivity on your own rooms:

    {"event": "wake", "name": "hey_jarvis", "t": 1.23, "score": 0.991}
    {"event": "speech", "start": 0.52, "end": 1.4}
    {"event": "summary", "file": ..., "duration": ..., "wake_count": ..., ...}

The same DSP, wake word and VAD as the live satellite are used (the file plays the
microphone's part, at its own sample rate). After a wake word the chain goes back to
listening at once (no command is streamed), so every detection is reported; the
refractory period still applies. Exit status: 0, or 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from .audio.files import WavFileSource
from .dsp import NOISE_ENGINES
from .listening import FrameInfo, Listener, ListenEvent, ListenSettings, WakeDetected
from .vad import SegmentTracker
from .wakeword import WAKE_ENGINES


def add_detect_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `detect` sub-command's arguments."""
    defaults = ListenSettings()
    parser.add_argument("file", help="WAV recording (any rate, mono or multi-channel)")
    parser.add_argument(
        "--wake-word", default=defaults.wake_word, help="bundled model name or model file"
    )
    parser.add_argument("--wake-engine", choices=WAKE_ENGINES, default=defaults.wake_engine)
    parser.add_argument(
        "--threshold", type=float, default=None, help="detection threshold 0-1 (model default)"
    )
    parser.add_argument("--refractory", type=float, default=defaults.refractory_s, metavar="S")
    parser.add_argument("--noise", choices=NOISE_ENGINES, default=defaults.noise)
    parser.add_argument("--auto-gain", type=int, default=defaults.auto_gain, metavar="DBFS")
    parser.add_argument(
        "--noise-suppression", type=int, default=defaults.noise_suppression, metavar="0-4"
    )
    parser.add_argument("--highpass", type=float, default=defaults.highpass_hz, metavar="HZ")
    parser.add_argument("--vad-silence", type=float, default=defaults.vad_silence_s, metavar="S")
    parser.add_argument(
        "--channel", type=int, default=None, help="channel to use (default: mix to mono)"
    )


def _settings(args: argparse.Namespace) -> ListenSettings:
    return ListenSettings(
        wake_word=args.wake_word,
        wake_engine=args.wake_engine,
        wake_threshold=args.threshold,
        refractory_s=args.refractory,
        noise=args.noise,
        auto_gain=args.auto_gain,
        noise_suppression=args.noise_suppression,
        highpass_hz=args.highpass,
        vad_silence_s=args.vad_silence,
    )


def run_detect(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the chain on `args.file`, writing JSON lines to `out` (stdout)."""
    stream = out if out is not None else sys.stdout

    def emit(record: dict[str, Any]) -> None:
        stream.write(json.dumps(record) + "\n")
        stream.flush()

    settings = _settings(args)
    try:
        source = WavFileSource(
            args.file, channel=args.channel, tail_silence_s=settings.vad_silence_s + 0.05
        )
        listener: Listener | None = None
        segments = SegmentTracker(silence_s=settings.vad_silence_s)
        counts = {"wake": 0, "speech": 0}
        best = {"score": 0.0, "t": 0.0}
        speech_total = [0.0]

        def on_event(event: ListenEvent) -> None:
            if isinstance(event, WakeDetected):
                counts["wake"] += 1
                emit(
                    {
                        "event": "wake",
                        "name": event.name,
                        "t": round(event.t, 3),
                        "score": round(event.score, 4),
                    }
                )
                assert listener is not None
                listener.cancel_command()

        duration = source.total_frames / source.sample_rate

        def on_segment(segment: tuple[float, float] | None) -> None:
            if segment is not None:
                # The VAD lags the audio a little: keep segments inside the recording.
                start, end = min(segment[0], duration), min(segment[1], duration)
                counts["speech"] += 1
                speech_total[0] += end - start
                emit({"event": "speech", "start": round(start, 3), "end": round(end, 3)})

        def on_frame(info: FrameInfo) -> None:
            if info.wake_score > best["score"]:
                best["score"], best["t"] = info.wake_score, info.t
            on_segment(segments.process(info.speech_probability, info.t))

        listener = Listener(source, settings, on_event, on_frame=on_frame)
    except ValueError as err:
        sys.stderr.write(f"detect: {err}\n")
        return 2
    listener.start()
    listener.wait_finished()
    listener.stop()
    on_segment(segments.close())
    metrics = listener.metrics()
    threshold = listener.wake_threshold
    emit(
        {
            "event": "summary",
            "file": str(args.file),
            "duration": round(duration, 3),
            "sample_rate": source.sample_rate,
            "wake_word": settings.wake_word,
            "engine": settings.wake_engine,
            "threshold": threshold,
            "wake_count": counts["wake"],
            "max_score": round(best["score"], 4),
            "max_score_t": round(best["t"], 3),
            "speech_segments": counts["speech"],
            "speech_seconds": round(speech_total[0], 3),
            "noise": settings.noise,
            "chain_ms_per_10ms_frame": round(metrics["total_ms"], 4),
        }
    )
    return 0
