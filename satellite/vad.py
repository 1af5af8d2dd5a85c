"""Voice activity detection (pymicro-vad) and command endpointing.

`SpeechDetector.process_10ms(chunk)` returns the speech probability of one 10 ms
16 kHz int16 chunk, or -1 while the model is still warming up (about 0.76 s after
creation or `reset()`: the listener replays the last second when a command starts). It works with
pymicro-vad 1.x (`Process10ms`, the version Home Assistant pins) and 2.x
(`process_10ms`).

`Endpointer` turns probabilities into the end of a command: speech starts after
`speech_s` of speech, the command ends after `silence_s` of silence following
speech, after `max_command_s` in all, or after `no_speech_timeout_s` with no speech.

pymicro-vad holds "speech" for 0.4-1.1 s after the last word (measured on the recorded
commands), so silence counted from its output ends a command that much late. Given the chunks
themselves, the endpointer also counts as silence a sound 15 dB under the speaker's level (a
running mean over the chunks the VAD calls speech): `silence_s` is then real silence after the
last word, whichever of the two sees it first. In a room whose noise is within 15 dB of the
speech, the VAD alone decides, as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum
import math
from typing import Any

import numpy as np


class SpeechDetector:
    """pymicro-vad behind one method name, whichever release is installed."""

    def __init__(self, vad: Any = None) -> None:
        """Load the VAD model (or wrap a given MicroVad instance)."""
        if vad is None:
            from pymicro_vad import MicroVad

            vad = MicroVad()
        self._vad = vad
        self._process: Callable[[bytes], float] = self._bind(vad)

    @staticmethod
    def _bind(vad: Any) -> Callable[[bytes], float]:
        process: Callable[[bytes], float] | None = getattr(vad, "process_10ms", None)
        if process is None:
            process = getattr(vad, "Process10ms", None)
        if process is None:
            raise TypeError("not a pymicro-vad MicroVad: no process_10ms/Process10ms")
        return process

    def process_10ms(self, chunk: bytes) -> float:
        """Speech probability 0..1 of one 10 ms chunk, -1 while warming up."""
        return float(self._process(chunk))

    def reset(self) -> None:
        """Forget the past audio (the model warms up again).

        A new instance rather than 1.x `Reset()`, which was measured to leave state behind
        (different warm-up length and outputs than a fresh model); creating one costs ~20 us.
        """
        self._vad = type(self._vad)()
        self._process = self._bind(self._vad)


class EndpointEvent(StrEnum):
    """What the endpointer decided on a chunk."""

    SPEECH_STARTED = "speech_started"
    SPEECH_STOPPED = "speech_stopped"
    NO_SPEECH = "no_speech"
    MAX_LENGTH = "max_length"


TAIL_PAUSE_S = 0.2  # silence that ends a wake word's tail; gaps between words are shorter
QUIET_BELOW_SPEECH_DB = 15.0  # a 50 ms level this far under the speech's level is not a word
LEVEL_SMOOTHING_CHUNKS = 5  # levels are 50 ms means
SPEECH_LEVEL_RISE = 0.1  # the speech level follows louder speech chunks over ~0.1 s
SPEECH_LEVEL_FALL = 0.01  # and quieter ones over ~1 s: a word's fading end does not drag it down


class QuietTracker:
    """How long the sound has been quiet: `QUIET_BELOW_SPEECH_DB` under the speaker's level.

    The speaker's level is a running mean (in dB) of the chunks the VAD calls speech, quick to
    rise and slow to fall; noises the VAD does not call speech (a door slam) do not move it.
    """

    def __init__(self, threshold: float = 0.5, chunk_s: float = 0.01) -> None:
        """Track 10 ms chunks; `threshold` is the VAD's speech probability."""
        self.threshold = threshold
        self.chunk_s = chunk_s
        self._powers: deque[float] = deque(maxlen=LEVEL_SMOOTHING_CHUNKS)
        self.reset()

    def reset(self) -> None:
        """A new command (maybe another speaker)."""
        self._powers.clear()
        self.speech_db: float | None = None
        self.quiet_s = 0.0

    def process(self, chunk: bytes, probability: float) -> float:
        """Feed one int16 chunk; return how long it has been quiet (0 if this chunk is not)."""
        samples = np.frombuffer(chunk, dtype="<i2").astype(np.float32)
        self._powers.append(float(np.mean(np.square(samples))) if len(samples) else 0.0)
        level_db = 10 * math.log10(sum(self._powers) / len(self._powers) + 1.0)
        speech_db = self.speech_db
        quiet = speech_db is not None and level_db < speech_db - QUIET_BELOW_SPEECH_DB
        if probability >= self.threshold and not quiet:
            if speech_db is None:
                self.speech_db = level_db
            else:
                rate = SPEECH_LEVEL_RISE if level_db > speech_db else SPEECH_LEVEL_FALL
                self.speech_db = speech_db + rate * (level_db - speech_db)
        self.quiet_s = self.quiet_s + self.chunk_s if quiet else 0.0
        return self.quiet_s


class Endpointer:
    """End-of-command detection on a stream of per-10 ms speech probabilities."""

    def __init__(
        self,
        *,
        silence_s: float = 0.7,
        max_command_s: float = 15.0,
        no_speech_timeout_s: float = 5.0,
        speech_s: float = 0.15,
        threshold: float = 0.5,
        chunk_s: float = 0.01,
    ) -> None:
        """Configure the timings (seconds)."""
        if min(silence_s, max_command_s, no_speech_timeout_s) <= 0:
            raise ValueError("endpointing times must be positive")
        self.silence_s = silence_s
        self.max_command_s = max_command_s
        self.no_speech_timeout_s = no_speech_timeout_s
        self.speech_s = speech_s
        self.threshold = threshold
        self.chunk_s = chunk_s
        self._quiet = QuietTracker(threshold, chunk_s)
        self.reset()

    def reset(self, ignore_s: float = 0.0) -> None:
        """Start a new command.

        With `ignore_s`, speech heard at the start, up to its first pause, is the wake word's
        own tail when shorter than `ignore_s`, else the command said in the same breath.
        """
        self.ignore_s = ignore_s
        self._in_tail = ignore_s > 0
        self._tail_silence = 0.0
        self.elapsed = 0.0
        self.in_speech = False
        self.finished = False
        self._speech_run = 0.0
        self._silence_run = 0.0
        self._quiet.reset()

    def process(self, probability: float, chunk: bytes | None = None) -> EndpointEvent | None:
        """Feed one chunk's probability (and the chunk, to time silence from the sound itself).

        Returns an event when something happens.
        """
        if self.finished:
            return None
        quiet_s = self._quiet.process(chunk, probability) if chunk is not None else 0.0
        self.elapsed += self.chunk_s
        is_speech = probability >= self.threshold
        if self._in_tail:
            return self._tail(is_speech and quiet_s == 0)
        if not self.in_speech:
            self._speech_run = self._speech_run + self.chunk_s if is_speech else 0.0
            if self._speech_run >= self.speech_s - 1e-9:
                self.in_speech = True
                self._silence_run = 0.0
                return EndpointEvent.SPEECH_STARTED
            if self.elapsed >= self.no_speech_timeout_s - 1e-9:
                self.finished = True
                return EndpointEvent.NO_SPEECH
        else:
            self._silence_run = 0.0 if is_speech else self._silence_run + self.chunk_s
            # Silence by the VAD, or by the sound itself: the VAD lags the last word.
            if max(self._silence_run, quiet_s) >= self.silence_s - 1e-9:
                self.finished = True
                return EndpointEvent.SPEECH_STOPPED
        if self.elapsed >= self.max_command_s - 1e-9:
            self.finished = True
            return EndpointEvent.MAX_LENGTH
        return None

    def _tail(self, is_speech: bool) -> EndpointEvent | None:
        """The speech that was going on when the command started, until its first real pause.

        Short, it was the wake word still ringing in the VAD: forget it and wait for the
        command. Long, the command was said in the same breath: it is the command's speech.
        """
        self._tail_silence = 0.0 if is_speech else self._tail_silence + self.chunk_s
        if self._tail_silence < TAIL_PAUSE_S - 1e-9:
            return None
        self._in_tail = False
        if self.elapsed - self._tail_silence >= self.ignore_s - 1e-9:
            self.in_speech = True
            self._silence_run = self._tail_silence
            return EndpointEvent.SPEECH_STARTED
        self._speech_run = 0.0
        return None


class SegmentTracker:
    """Speech segments over a whole stream (the `detect` tuning mode)."""

    def __init__(self, *, silence_s: float = 0.7, speech_s: float = 0.15, threshold: float = 0.5):
        """Same hangover rules as the endpointer."""
        self.silence_s = silence_s
        self.speech_s = speech_s
        self.threshold = threshold
        self._run = 0.0
        self._silence = 0.0
        self._start: float | None = None
        self._last_speech = 0.0

    def process(
        self, probability: float, t_end: float, chunk_s: float = 0.01
    ) -> tuple[float, float] | None:
        """Feed a chunk ending at `t_end`; return (start, end) when a segment closes."""
        is_speech = probability >= self.threshold
        if self._start is None:
            self._run = self._run + chunk_s if is_speech else 0.0
            if self._run >= self.speech_s - 1e-9:
                self._start = t_end - self._run
                self._last_speech = t_end
                self._silence = 0.0
            return None
        if is_speech:
            self._silence = 0.0
            self._last_speech = t_end
            return None
        self._silence += chunk_s
        if self._silence >= self.silence_s - 1e-9:
            segment = (self._start, self._last_speech)
            self._start = None
            self._run = 0.0
            return segment
        return None

    def close(self) -> tuple[float, float] | None:
        """End of stream: the segment still open, if any."""
        if self._start is None:
            return None
        segment = (self._start, self._last_speech)
        self._start = None
        return segment
