"""The capture-side chain: source -> DSP -> wake word -> VAD endpointing -> events.

API (stable; the Wyoming satellite server builds on it)::

    listener = Listener(source, ListenSettings(...), on_event)
    listener.start()           # loads nothing new: models load in __init__; opens the source
    listener.start_command()   # stream a command without a wake word (follow-up, remote wake)
    listener.cancel_command()
    listener.muted = True      # no audio leaves, no wake detection
    listener.set_wake_word(detector)   # another model from the next frame (load it first)
    listener.wake_threshold = 0.9      # detection threshold of the current model
    listener.finished          # the source ended (file consumed)
    listener.metrics()         # per-stage cost per 10 ms frame (ms, wall clock), CPU
                               # time per frame (cpu_ms), sample counters, drops
    listener.stop()            # joins the processing thread, closes the source

`on_event` is called on the listener's processing thread with one of:

- `WakeDetected(name, score, t, level_dbfs)`: a local wake word; a command starts right
  away. `level_dbfs` is the raw microphone level of the speech over the wake word (before
  auto gain), for choosing between satellites that heard the same word.
- `CommandAudio(pcm, t)`: 16 kHz 16-bit mono command audio. After a wake word the
  first one carries the pre-roll (`preroll_s` of audio up to the detection, so
  "hey jarvis turn on..." said in one breath is complete), then one per 10 ms.
- `SpeechStarted(t)` / `SpeechStopped(t)`: VAD inside the command; SpeechStopped
  ends the command (stop streaming).
- `CommandTimeout(t, reason)`: "no_speech" (nothing said within
  `no_speech_timeout_s`) or "max_length" (`max_command_s` reached); ends the command.
- `StreamAudio(pcm, t)`: with `local_wake=False`, every cleaned 10 ms chunk while no
  command is active (remote wake word: the server listens for it).

`t` is seconds of 16 kHz audio processed since start (end of the chunk concerned).
The callback may call `cancel_command()` / `start_command()`; it must not block.
An optional `on_frame(FrameInfo)` callback sees every chunk's wake score and speech
probability (used by the `detect` tuning mode).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
import logging
import math
import threading
import time

import numpy as np

from .audio.base import AudioSource, Int16Array
from .audio.reference import ReferenceTimeline, speaker_reference
from .dsp import CHUNK_SAMPLES, OUTPUT_RATE, CaptureDsp, DspSettings
from .echo import EchoCanceller
from .vad import Endpointer, EndpointEvent, SpeechDetector
from .wakeword import WakeWordDetector, load_wake_word

_LOGGER = logging.getLogger(__name__)
CHUNK_S = CHUNK_SAMPLES / OUTPUT_RATE
VAD_WARMUP_S = 1.0
WAKE_LEVEL_FRAMES = 150  # the last 1.5 s of raw 10 ms frames: the wake word and a little more


# Right after a wake word the VAD still hears the word for ~1 s. Speech up to the first pause
# that is shorter than this was that tail (a pause after "hey jarvis" does not end the command);
# longer, it was a command said in the same breath. Measured: tail 0.9-1.1 s.
WAKE_TAIL_S = 1.25


@dataclass
class ListenSettings:
    """Everything the listening chain can be tuned with (all have defaults)."""

    wake_word: str = "hey_jarvis"  # bundled name or model file path
    wake_engine: str = "micro"  # or "openwakeword"
    wake_threshold: float | None = None  # None = the model's own cut-off
    refractory_s: float = 2.0
    # Covers the wake model's detection delay; longer would send the end of "jarvis", which HA's
    # own VAD counts as speech and then ends the command in the pause after the wake word.
    preroll_s: float = 0.3
    vad_silence_s: float = 0.7
    max_command_s: float = 15.0
    no_speech_timeout_s: float = 5.0
    vad_threshold: float = 0.5
    noise: str = "webrtc"  # "webrtc" | "speex" | "off" (see dsp.DspSettings)
    auto_gain: int = 20  # 0 = off; target speech level, dB below full scale (1-31)
    noise_suppression: int = 0  # 0-4; off by default: it hurt wake detection (bench)
    highpass_hz: float = 80.0  # 0 = off
    local_wake: bool = True  # False = remote wake word: stream all audio
    # Echo cancellation with what the speaker plays as reference (issue 15); it runs only
    # while the speaker plays, so it costs nothing on a satellite without one.
    echo_cancel: bool = True
    echo_delay_ms: int = 0  # hint of the speaker -> mic delay; 0 = estimated
    echo_engine: str = "auto"  # speex if libspeexdsp is installed, else webrtc (satellite.echo)
    echo_suppress: bool = True  # speex: residual echo suppressor after the linear filter

    def dsp_settings(self) -> DspSettings:
        """The DSP part of these settings."""
        return DspSettings(
            noise=self.noise,
            auto_gain=self.auto_gain,
            noise_suppression=self.noise_suppression,
            highpass_hz=self.highpass_hz,
        )


@dataclass(frozen=True)
class WakeDetected:
    """A local wake word detection."""

    name: str
    score: float
    t: float
    level_dbfs: float = -120.0  # raw speech level over the wake word (before auto gain)


@dataclass(frozen=True)
class CommandAudio:
    """Command audio, 16 kHz 16-bit mono; the first chunk is the pre-roll."""

    pcm: bytes
    t: float


@dataclass(frozen=True)
class SpeechStarted:
    """The VAD heard the command start."""

    t: float


@dataclass(frozen=True)
class SpeechStopped:
    """End of the command (silence after speech): stop streaming."""

    t: float


@dataclass(frozen=True)
class CommandTimeout:
    """The command ended without a proper end of speech."""

    t: float
    reason: str  # "no_speech" | "max_length"


@dataclass(frozen=True)
class StreamAudio:
    """Cleaned 16 kHz audio outside commands (remote wake word mode)."""

    pcm: bytes
    t: float


ListenEvent = (
    WakeDetected | CommandAudio | SpeechStarted | SpeechStopped | CommandTimeout | StreamAudio
)


@dataclass(frozen=True)
class FrameInfo:
    """Diagnostics for one 10 ms 16 kHz chunk."""

    t: float
    wake_score: float
    speech_probability: float
    command_active: bool


def _echo_canceller(
    settings: ListenSettings, reference: ReferenceTimeline | None
) -> EchoCanceller | None:
    """The echo canceller when it is on and installed (the speaker's timeline by default)."""
    if not settings.echo_cancel:
        return None
    try:
        return EchoCanceller(
            reference or speaker_reference(),
            delay_ms=settings.echo_delay_ms,
            engine=settings.echo_engine,
            suppress=settings.echo_suppress,
        )
    except (ImportError, OSError) as err:
        _LOGGER.warning(
            "No echo cancellation (engine %s: %s). Install libspeexdsp1 (apt) for the Speex "
            "engine, or the aec-webrtc extra for WebRTC's",
            settings.echo_engine,
            err,
        )
        return None


class Listener:
    """Runs the listening chain on its own thread."""

    def __init__(
        self,
        source: AudioSource,
        settings: ListenSettings,
        on_event: Callable[[ListenEvent], None],
        *,
        on_frame: Callable[[FrameInfo], None] | None = None,
        reference: ReferenceTimeline | None = None,
    ) -> None:
        """Load the models (errors in the settings raise here)."""
        self.source = source
        self.settings = settings
        self._on_event = on_event
        self._on_frame = on_frame
        self.on_chunk: Callable[[bytes, float], None] | None = None
        """Sees each cleaned chunk while not muted (the stop word's segmenter); must not block."""
        self.reference = reference or speaker_reference()
        """What the speaker plays (the echo canceller's reference; the stop word reads it)."""
        self.muted = False
        self._dsp = CaptureDsp(
            source.sample_rate, settings.dsp_settings(), echo=_echo_canceller(settings, reference)
        )
        self._wake: WakeWordDetector | None = None
        if settings.local_wake:
            self._wake = load_wake_word(
                settings.wake_word, settings.wake_engine, settings.wake_threshold
            )
        self._vad = SpeechDetector()
        self._endpointer = Endpointer(
            silence_s=settings.vad_silence_s,
            max_command_s=settings.max_command_s,
            no_speech_timeout_s=settings.no_speech_timeout_s,
            threshold=settings.vad_threshold,
        )
        self._preroll: deque[bytes] = deque(maxlen=max(0, round(settings.preroll_s / CHUNK_S)))
        # VAD only while a command is active (or for on_frame diagnostics): halves idle CPU.
        self._vad_always = on_frame is not None
        self._recent: deque[bytes] = deque(maxlen=round(VAD_WARMUP_S / CHUNK_S))
        self._command_active = False
        self._requests: deque[tuple[str, bool]] = deque()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished = False
        self._chunks_out = 0
        self._last_wake_t = -1e9
        self._next_wake: WakeWordDetector | None = None
        self._levels: deque[float] = deque(maxlen=WAKE_LEVEL_FRAMES)  # raw frames' mean square
        self._pending: Int16Array = np.zeros(0, dtype=np.int16)
        self._wake_ns = 0
        self._vad_ns = 0
        self._emit_ns = 0
        self._frame_ns = 0
        self._frame_cpu_ns = 0
        self.started_at: float | None = None
        self.last_wake_latency_s: float | None = None

    # -- control (any thread) -------------------------------------------------
    def start(self) -> None:
        """Open the source and start the processing thread."""
        if self._thread is not None:
            raise RuntimeError("listener already started")
        self.source.open()
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="satellite-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop processing, join the thread and close the source."""
        self._stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.source.close()
        for wake in (self._wake, self._next_wake):
            if wake is not None:
                wake.close()

    def start_command(self, *, preroll: bool = False) -> None:
        """Begin streaming a command now, without a wake word."""
        self._requests.append(("start", preroll))

    def cancel_command(self) -> None:
        """Abandon the current command silently (back to wake word listening)."""
        self._requests.append(("cancel", False))

    @property
    def finished(self) -> bool:
        """True once the source has ended and everything was processed."""
        return self._finished

    @property
    def wake_threshold(self) -> float | None:
        """Detection threshold in use (None without a local wake word)."""
        return None if self._wake is None else self._wake.threshold

    @wake_threshold.setter
    def wake_threshold(self, value: float) -> None:
        if self._wake is not None:
            self._wake.threshold = value

    def set_wake_word(self, detector: WakeWordDetector) -> None:
        """Listen for another (already loaded) model from the next frame; the old one is closed."""
        self._next_wake = detector

    def _wake_level_dbfs(self) -> float:
        """Raw level of the loudest half of the last 1.5 s (the wake word), in dBFS."""
        if not self._levels:
            return -120.0
        energies = sorted(self._levels)[len(self._levels) // 2 :]
        mean = sum(energies) / len(energies)
        return max(-120.0, 10 * math.log10(mean / 32768.0**2 + 1e-12))

    @property
    def wake_name(self) -> str | None:
        """Name of the local wake word model (None in remote wake mode)."""
        return None if self._wake is None else self._wake.name

    @property
    def command_active(self) -> bool:
        """A command is being streamed."""
        return self._command_active

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until the source is consumed (file sources); True if it was."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return self._finished

    def metrics(self) -> dict[str, float]:
        """Average cost per 10 ms capture frame of each stage (ms) and counters."""
        timings = self._dsp.timings
        frames = max(1, timings.frames)
        out = {f"{name}_ms": value for name, value in timings.per_frame_ms().items()}
        out["wake_ms"] = self._wake_ns / frames / 1e6
        out["vad_ms"] = self._vad_ns / frames / 1e6
        out["other_ms"] = self._emit_ns / frames / 1e6
        out["total_ms"] = self._frame_ns / frames / 1e6  # wall clock
        out["cpu_ms"] = self._frame_cpu_ns / frames / 1e6  # this thread's CPU time
        out["frames"] = float(timings.frames)
        out["samples_in"] = float(self._dsp.samples_in)
        out["samples_out"] = float(self._dsp.samples_out)
        out["dropped_samples"] = float(self.source.dropped_samples)
        echo = self._dsp.echo
        out["echo_cancel"] = float(echo is not None)
        if echo is not None:
            out.update(echo.metrics())
        return out

    # -- processing thread ----------------------------------------------------
    def _run(self) -> None:
        frame_samples = self._dsp.frame_samples
        try:
            while not self._stop_event.is_set():
                block = self.source.read(0.1)
                if block is None:
                    if self.source.ended:
                        self._finish()
                        return
                    continue
                pending = np.concatenate([self._pending, block]) if len(self._pending) else block
                count = len(pending) // frame_samples
                for i in range(count):
                    self._process_frame(pending[i * frame_samples : (i + 1) * frame_samples])
                self._pending = pending[count * frame_samples :]
        except Exception:
            _LOGGER.exception("Listening chain failed")
            self._finished = True

    def _finish(self) -> None:
        for chunk in self._dsp.flush():
            self._process_chunk(chunk)
        if self._command_active:
            # The recording ended mid-command: close it like a real end of speech.
            t = self._chunks_out * CHUNK_S
            self._command_active = False
            if self._endpointer.in_speech:
                self._emit(SpeechStopped(t))
            else:
                self._emit(CommandTimeout(t, "no_speech"))
        self._finished = True

    def _process_frame(self, frame: Int16Array) -> None:
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        self._handle_requests()
        self._levels.append(float(np.mean(np.square(frame, dtype=np.float32))))
        for chunk in self._dsp.process(frame):
            self._process_chunk(chunk)
        self._frame_ns += time.perf_counter_ns() - t0
        self._frame_cpu_ns += time.thread_time_ns() - c0

    def _handle_requests(self) -> None:
        if self._next_wake is not None and self._wake is not None:
            old, self._wake, self._next_wake = self._wake, self._next_wake, None
            old.close()
        while self._requests:
            kind, preroll = self._requests.popleft()
            if kind == "start":
                self._begin_command(preroll=preroll)
            else:
                self._command_active = False

    def _begin_command(self, *, preroll: bool) -> None:
        self._endpointer.reset(ignore_s=WAKE_TAIL_S if preroll else 0.0)
        was_active, self._command_active = self._command_active, True
        if preroll and self._preroll:
            self._emit(CommandAudio(b"".join(self._preroll), self._chunks_out * CHUNK_S))
        if not self._vad_always and not was_active:
            # The VAD sleeps between commands: warm it up on the last second of audio
            # (its features span ~0.76 s), after the pre-roll has been sent.
            t0 = time.perf_counter_ns()
            self._vad.reset()
            for past in self._recent:
                self._vad.process_10ms(past)
            self._vad_ns += time.perf_counter_ns() - t0

    def _process_chunk(self, chunk: bytes) -> None:
        self._chunks_out += 1
        t = self._chunks_out * CHUNK_S
        t0 = time.perf_counter_ns()
        speech = -1.0
        if self._command_active or self._vad_always:
            speech = self._vad.process_10ms(chunk)
        t1 = time.perf_counter_ns()
        score = 0.0
        if self._wake is not None and not self.muted:
            score = self._wake.process_10ms(chunk)
        t2 = time.perf_counter_ns()
        self._vad_ns += t1 - t0
        self._wake_ns += t2 - t1
        self._preroll.append(chunk)
        self._recent.append(chunk)
        if self._on_frame is not None:
            self._on_frame(FrameInfo(t, score, speech, self._command_active))
        if self.on_chunk is not None and not self.muted:
            self.on_chunk(chunk, t)
        if self.muted:
            self._command_active = False
        elif self._command_active:
            self._command_chunk(chunk, speech, t)
        elif self._wake is not None:
            if score > self._wake.threshold and t - self._last_wake_t >= self.settings.refractory_s:
                self._last_wake_t = t
                detected = time.perf_counter()
                level = self._wake_level_dbfs()
                self._emit(WakeDetected(self._wake.name, score, t, level))
                self._begin_command(preroll=True)
                self.last_wake_latency_s = time.perf_counter() - detected
        else:
            self._emit(StreamAudio(chunk, t))
        self._emit_ns += time.perf_counter_ns() - t2
        self._handle_requests()

    def _command_chunk(self, chunk: bytes, speech: float, t: float) -> None:
        self._emit(CommandAudio(chunk, t))
        event = self._endpointer.process(speech, chunk)
        if event is None:
            return
        if event is EndpointEvent.SPEECH_STARTED:
            self._emit(SpeechStarted(t))
            return
        self._command_active = False
        if event is EndpointEvent.SPEECH_STOPPED:
            self._emit(SpeechStopped(t))
        else:
            self._emit(CommandTimeout(t, event.value))

    def _emit(self, event: ListenEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            _LOGGER.exception("Listener event callback failed on %s", type(event).__name__)
