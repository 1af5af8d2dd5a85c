"""Where the sounds are in 16 kHz audio, by energy (10 ms frames), for the stream and the engine."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FRAME = 160
"""10 ms at 16 kHz."""
LOUD_DB = 12.0
"""Above the room tone (10th percentile of the levels) by this much: a sound."""
RANGE_DB = 40.0
"""...and within this much of the loudest frame."""


def frame_levels(samples: NDArray[np.float32] | NDArray[np.int16]) -> NDArray[np.float32]:
    """Level (dB, int16 scale) of each whole 10 ms frame; float audio is in [-1, 1]."""
    data = np.asarray(samples[: len(samples) // FRAME * FRAME], dtype=np.float32)
    if samples.dtype.kind == "f":
        data = data * 32768
    frames = data.reshape(-1, FRAME)
    levels: NDArray[np.float32] = 10 * np.log10((frames**2).mean(axis=1) + 1.0)
    return levels


def loud_frames(levels: NDArray[np.float32] | list[float]) -> NDArray[np.intp]:
    """Indices of the frames that are sounds.

    A sound: the level smoothed over 50 ms is louder than the room tone by `LOUD_DB` and
    within `RANGE_DB` of the loudest.
    """
    if len(levels) < 5:
        return np.arange(len(levels))
    level = np.convolve(np.asarray(levels), np.ones(5) / 5, mode="same")
    threshold = max(float(np.percentile(level, 10)) + LOUD_DB, float(level.max()) - RANGE_DB)
    loud: NDArray[np.intp] = np.nonzero(level > threshold)[0]
    return loud
