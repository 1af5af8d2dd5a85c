"""Client audio of any supported format to 16 kHz mono int16, with soxr's streaming resampler."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
import soxr

TARGET_RATE = 16000
MIN_RATE = 8000
MAX_RATE = 48000
WIDTHS = (2, 4)
CHANNELS = (1, 2)


class AudioFormatError(ValueError):
    """The client's audio format is outside what the server converts."""


def check_format(rate: int, width: int, channels: int) -> None:
    """Raise AudioFormatError unless 8-48 kHz, 16/32-bit signed PCM, mono/stereo."""
    if not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFormatError(f"unsupported sample rate {rate!r} (need {MIN_RATE}-{MAX_RATE} Hz)")
    if width not in WIDTHS:
        raise AudioFormatError(f"unsupported sample width {width!r} (need 2 or 4 bytes)")
    if channels not in CHANNELS:
        raise AudioFormatError(f"unsupported channel count {channels!r} (need 1 or 2)")


class AudioConverter:
    """Stream converter: PCM chunks in the client's format -> 16 kHz mono int16 samples."""

    def __init__(self, rate: int, width: int, channels: int) -> None:
        """Set up for one stream; raises AudioFormatError for unsupported formats."""
        check_format(rate, width, channels)
        self.rate = rate
        self.width = width
        self.channels = channels
        self._dtype = np.dtype("<i2") if width == 2 else np.dtype("<i4")
        self._scale = float(2 ** (8 * width - 1))
        self._frame_bytes = width * channels
        self._carry = b""
        self._resampler = (
            None
            if rate == TARGET_RATE
            else soxr.ResampleStream(rate, TARGET_RATE, 1, dtype="float32", quality="HQ")
        )

    def same_format(self, rate: int, width: int, channels: int) -> bool:
        """True if a chunk declares this converter's format."""
        return (rate, width, channels) == (self.rate, self.width, self.channels)

    def convert(self, data: bytes, last: bool = False) -> NDArray[np.int16]:
        """Convert one chunk (partial frames are kept for the next call)."""
        data = self._carry + data
        usable = len(data) - len(data) % self._frame_bytes
        self._carry = data[usable:]
        samples = np.frombuffer(data[:usable], dtype=self._dtype).astype(np.float32)
        samples /= self._scale
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1, dtype=np.float32)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        return to_int16(samples)

    def flush(self) -> NDArray[np.int16]:
        """The resampler's tail at the end of the stream."""
        return self.convert(b"", last=True)


def to_int16(samples: NDArray[np.float32]) -> NDArray[np.int16]:
    """Float [-1, 1] samples to int16 with clipping."""
    return np.asarray(np.clip(samples * 32768.0, -32768, 32767), dtype=np.int16)


def to_float32(samples: NDArray[np.int16]) -> NDArray[np.float32]:
    """Int16 samples to float [-1, 1] as faster-whisper wants them."""
    out = np.asarray(samples).astype(np.float32)  # one copy, scaled in place
    out *= 1.0 / 32768.0
    return out
