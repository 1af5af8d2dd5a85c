"""Where the sounds are in 16 kHz audio, by energy (10 ms frames), for the stream and the engine.

A sound: a frame whose level, smoothed over 50 ms, is louder than the room tone around it by
`LOUD_DB` and within `RANGE_DB` of the loudest. The room tone is the 10th percentile of the
whole utterance's levels, or, where the room got louder during the utterance (a fan, a
dishwasher or a TV starting), the quietest level within `LOCAL_S` on either side of the frame:
noise that stays on is not a sound once it has gone on for that long.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
from numpy.typing import NDArray

FRAME = 160
"""10 ms at 16 kHz."""
LOUD_DB = 12.0
"""Above the room tone by this much: a sound."""
RANGE_DB = 40.0
"""...and within this much of the loudest frame."""
LOCAL = 100
"""Frames (1 s) on either side of a frame whose quietest level may stand for its room tone."""
_SMOOTH = 2
"""Frames on either side averaged into a frame's level (5 frames, 50 ms)."""


def frame_levels(samples: NDArray[np.float32] | NDArray[np.int16]) -> NDArray[np.float32]:
    """Level (dB, int16 scale) of each whole 10 ms frame; float audio is in [-1, 1]."""
    data = np.asarray(samples[: len(samples) // FRAME * FRAME], dtype=np.float32)
    if samples.dtype.kind == "f":
        data = data * 32768
    frames = data.reshape(-1, FRAME)
    levels: NDArray[np.float32] = 10 * np.log10((frames**2).mean(axis=1) + 1.0)
    return levels


class SoundLevels:
    """Frame levels of an utterance that grows; where its last sound is, in recent frames' work.

    The smoothed levels whose 50 ms are complete are kept (and kept sorted, for the
    percentile and the loudest); the last two are averaged over the frames there are so far.
    A frame whose `LOCAL` frames on either side are complete is settled: whether it is a sound
    then depends only on the whole utterance's tone and loudest, so the settled frames louder
    than their neighbourhood's tone are kept as the right-to-left maxima of their levels, and
    the last sound among them is a binary search away.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._raw = np.zeros(1024)
        self._smooth = np.zeros(1024)
        self._count = 0
        self._done = 0
        """Leading smoothed levels that no later frame changes."""
        self._sorted: list[float] = []
        self._last = (0, -1)
        """Frames counted and the last sound then (asked twice per chunk)."""
        self._settled = 0
        self._peaks: list[int] = []
        """Settled frames louder than their neighbourhood's tone + `LOUD_DB`, each louder than
        every later one (their levels, negated, in `_peak_levels`: ascending)."""
        self._peak_levels: list[float] = []

    def __len__(self) -> int:
        """Frames so far."""
        return self._count

    def extend(self, levels: NDArray[np.float32] | list[float]) -> None:
        """Append frame levels (dB), e.g. from `frame_levels`."""
        new = np.asarray(levels, dtype=np.float64)
        end = self._count + len(new)
        if end > len(self._raw):
            size = max(end, 2 * len(self._raw))
            self._raw = np.resize(self._raw, size)
            self._smooth = np.resize(self._smooth, size)
        self._raw[self._count : end] = new
        self._count = end
        done = max(self._done, end - _SMOOTH)
        if done > self._done:
            values = self._means(self._done, done)
            self._smooth[self._done : done] = values
            if len(values) > 8:
                self._sorted.extend(values.tolist())
                self._sorted.sort()
            else:
                for value in values.tolist():
                    bisect.insort(self._sorted, value)
            self._done = done
            self._settle(max(self._settled, done - LOCAL))

    def _settle(self, settled: int) -> None:
        """Judge frames `_settled`..`settled` against their neighbourhood's tone, for good."""
        start = self._settled
        if settled <= start:
            return
        first = max(0, start - LOCAL)
        level = self._smooth[first : settled + LOCAL]
        padded = np.pad(level, (LOCAL, 0), constant_values=np.inf)
        near = np.lib.stride_tricks.sliding_window_view(padded, 2 * LOCAL + 1)
        offset = start - first
        near_min = near[offset : offset + settled - start].min(axis=1)
        mine = level[offset : offset + settled - start]
        for index in np.nonzero(mine > near_min + LOUD_DB)[0].tolist():
            value = float(mine[index])
            while self._peak_levels and -self._peak_levels[-1] <= value:
                self._peak_levels.pop()
                self._peaks.pop()
            self._peaks.append(start + index)
            self._peak_levels.append(-value)
        self._settled = settled

    def _means(self, start: int, end: int) -> NDArray[np.float64]:
        """Mean level of each frame's 50 ms (those there are so far) for frames `start`..`end`."""
        low = max(0, start - _SMOOTH)
        high = min(self._count, end + _SMOOTH)
        sums = np.concatenate([[0.0], np.cumsum(self._raw[low:high])])
        index = np.arange(start, end)
        left = np.maximum(index - _SMOOTH, 0) - low
        right = np.minimum(index + _SMOOTH + 1, self._count) - low
        means: NDArray[np.float64] = (sums[right] - sums[left]) / (right - left)
        return means

    def smoothed(self, start: int, end: int) -> NDArray[np.float64]:
        """Smoothed levels of frames `start`..`end` (the last two over the frames so far)."""
        if end <= self._done:
            return self._smooth[start:end].copy()
        middle = max(start, self._done)
        return np.concatenate([self._smooth[start:middle], self._means(middle, end)])

    def _tail(self) -> list[float]:
        return sorted(self.smoothed(self._done, self._count).tolist())

    def _floor(self) -> tuple[float, float]:
        """The whole utterance's room tone (10th percentile) and loudest smoothed level."""
        tail, done = self._tail(), self._sorted
        rank = 0.1 * (self._count - 1)
        low, high = _nth(done, tail, math.floor(rank)), _nth(done, tail, math.ceil(rank))
        loudest = max(done[-1] if done else -math.inf, tail[-1] if tail else -math.inf)
        return low + (high - low) * (rank - math.floor(rank)), loudest

    def loud_in(self, start: int, end: int, *, follow: bool = True) -> NDArray[np.intp]:
        """Indices of the sounds among frames `start`..`end`.

        `follow` False: the whole utterance's room tone only (more frames are sounds).
        """
        if self._count < 5:
            return np.arange(start, end)
        tone, loudest = self._floor()
        if not follow:
            level = self.smoothed(start, end)
            found: NDArray[np.intp] = np.nonzero(level > max(tone + LOUD_DB, loudest - RANGE_DB))[0]
            return found + start
        first, last = max(0, start - LOCAL), min(self._count, end + LOCAL)
        level = self.smoothed(first, last)
        padded = np.pad(level, LOCAL, constant_values=np.inf)
        window = np.lib.stride_tricks.sliding_window_view(padded, 2 * LOCAL + 1)
        near = window[start - first : end - first].min(axis=1)
        mine = level[start - first : end - first]
        threshold = np.maximum(np.maximum(near, tone) + LOUD_DB, loudest - RANGE_DB)
        loud: NDArray[np.intp] = np.nonzero(mine > threshold)[0] + start
        return loud

    def last_sound(self) -> int:
        """Index of the last sound, -1 if none; looks back only as far as it must."""
        if self._last[0] == self._count:
            return self._last[1]
        self._last = (self._count, self._find_last())
        return self._last[1]

    def _find_last(self) -> int:
        if not self._count:
            return -1
        recent = self.loud_in(self._settled, self._count)
        if len(recent):
            return int(recent[-1])
        tone, loudest = self._floor()
        above = bisect.bisect_left(self._peak_levels, -max(tone + LOUD_DB, loudest - RANGE_DB))
        return self._peaks[above - 1] if above else -1


def _nth(done: list[float], tail: list[float], rank: int) -> float:
    """The `rank`-th smallest (from 0) of two sorted lists, `tail` short."""
    skip = max(0, rank - len(tail))
    return sorted(done[skip : rank + 1] + tail)[rank - skip]


def loud_frames(
    levels: NDArray[np.float32] | list[float], *, follow: bool = True
) -> NDArray[np.intp]:
    """Indices of the frames that are sounds (see the module's docstring).

    `follow` False: judged against the whole utterance's room tone only, noise that started
    during it included (what errs on the side of sound).
    """
    sound = SoundLevels()
    sound.extend(levels)
    return sound.loud_in(0, len(sound), follow=follow)
