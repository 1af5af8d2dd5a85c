"""Voice activity on 16 kHz int16 audio with pymicro-vad (1.x `Process10ms` or 2.x `process_10ms`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pymicro_vad import MicroVad

FRAME_SAMPLES = 160
"""10 ms at 16 kHz."""
FRAME_BYTES = FRAME_SAMPLES * 2


class SpeechProbability:
    """Speech probability of each 10 ms frame; -1 while the detector is still warming up."""

    def __init__(self) -> None:
        """Create a fresh detector (one per audio stream: it keeps state)."""
        vad = MicroVad()
        process: Callable[[bytes], float] | None = getattr(vad, "process_10ms", None)
        if process is None:
            process = vad.Process10ms
        self._vad = vad
        self._process = process

    def __call__(self, frame: bytes) -> float:
        """Probability that this 10 ms frame (320 bytes) is speech."""
        return float(self._process(frame))


@dataclass
class SpeechSpan:
    """Where speech was heard so far, in samples at 16 kHz."""

    start: int
    end: int


class SpeechTracker:
    """Follows a stream frame by frame: first speech, last speech, silence since.

    Args:
        threshold: probability above which a frame counts as speech (HA's in-command value).
    """

    def __init__(self, threshold: float = 0.5) -> None:
        """Start tracking a new stream."""
        self.threshold = threshold
        self._prob = SpeechProbability()
        self._pending = b""
        self.samples = 0
        self.span: SpeechSpan | None = None

    @property
    def silence_samples(self) -> int:
        """Samples since the last speech frame (0 if none heard yet)."""
        return 0 if self.span is None else self.samples - self.span.end

    def feed(self, pcm: bytes) -> bool:
        """Process 16 kHz int16 audio; True if any of it was speech."""
        data = self._pending + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        heard = False
        for offset in range(0, whole, FRAME_BYTES):
            self.samples += FRAME_SAMPLES
            if self._prob(data[offset : offset + FRAME_BYTES]) > self.threshold:
                heard = True
                if self.span is None:
                    self.span = SpeechSpan(self.samples - FRAME_SAMPLES, self.samples)
                else:
                    self.span.end = self.samples
        return heard
