"""Sound card capture and playback through sounddevice (PortAudio: ALSA, PipeWire).

- `list_devices()` -> `DeviceInfo` list; `resolve_device(spec, "input")` takes an
  index or a (case-insensitive) part of the name.
- `SoundDeviceSource(device, rate=48000, channel=0)` opens the device at its native
  rate (falling back to the device's default rate if it refuses `rate`) with as many
  channels as needed to reach `channel`; the PortAudio callback
  only copies that channel into a ring buffer, the listener thread reads it.
- `SoundDeviceSink(device, rate=48000, channels=1)` plays from a ring buffer filled
  by `write()` (which blocks while full); `abort()` drops what is queued (barge-in).
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
import threading
from typing import Any

from .base import AudioSink, AudioSource, Int16Array
from .ring import RingBuffer

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float


def _sd() -> Any:
    try:
        import sounddevice
    except OSError as err:  # PortAudio library missing
        raise RuntimeError(f"sounddevice unavailable: {err}") from err
    return sounddevice


def _describe(device: int | None) -> str:
    return "(system default)" if device is None else f"#{device}"


def list_devices() -> list[DeviceInfo]:
    """All capture and playback devices PortAudio sees."""
    sd = _sd()
    hostapis = sd.query_hostapis()
    return [
        DeviceInfo(
            index=int(dev["index"]),
            name=str(dev["name"]),
            hostapi=str(hostapis[dev["hostapi"]]["name"]),
            max_input_channels=int(dev["max_input_channels"]),
            max_output_channels=int(dev["max_output_channels"]),
            default_samplerate=float(dev["default_samplerate"]),
        )
        for dev in sd.query_devices()
    ]


def resolve_device(
    spec: int | str | None, kind: str, devices: list[DeviceInfo] | None = None
) -> int | None:
    """Device index from an index or a name fragment (None = system default)."""
    if spec is None or spec == "":
        return None
    devices = list_devices() if devices is None else devices
    wanted_input = kind == "input"

    def usable(dev: DeviceInfo) -> bool:
        return (dev.max_input_channels if wanted_input else dev.max_output_channels) > 0

    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        if not any(dev.index == index and usable(dev) for dev in devices):
            raise ValueError(f"No {kind} device with index {index}")
        return index
    matches = [dev for dev in devices if usable(dev) and spec.lower() in dev.name.lower()]
    if not matches:
        names = ", ".join(f"{d.index}: {d.name}" for d in devices if usable(d)) or "none"
        raise ValueError(f"No {kind} device matching {spec!r} (available: {names})")
    return matches[0].index


def _usable_input_rate(device: int | None, rate: int, channels: int) -> int:
    """`rate` if the device accepts it, else the device's default rate."""
    try:
        sd = _sd()
        sd.check_input_settings(device=device, channels=channels, dtype="int16", samplerate=rate)
    except RuntimeError:  # no PortAudio at all: open() will say so
        return rate
    except Exception as err:  # noqa: BLE001 - PortAudioError or ValueError: unsupported
        try:
            info = sd.query_devices(device, "input")
            fallback = int(info["default_samplerate"])
        except Exception:  # noqa: BLE001 - no such device: open() reports it
            return rate
        if fallback != rate:
            _LOGGER.warning(
                "Input device %s refuses %d Hz (%s): capturing at its %d Hz",
                _describe(device),
                rate,
                err,
                fallback,
            )
            return fallback
    return rate


class SoundDeviceSource(AudioSource):
    """Microphone capture at the device's native rate."""

    def __init__(
        self,
        device: int | str | None = None,
        *,
        rate: int = 48000,
        channel: int = 0,
        block_s: float = 0.01,
        buffer_s: float = 2.0,
    ) -> None:
        """Resolve the device and its rate now (the DSP is built for that rate).

        If the device refuses `rate` (USB mics that only do 44.1 kHz, say), its own
        default rate is used instead, with a warning.
        """
        if channel < 0:
            raise ValueError("channel must be >= 0")
        self.device = resolve_device(device, "input")
        self.channel = channel
        self.sample_rate = _usable_input_rate(self.device, rate, channel + 1)
        self._block = round(self.sample_rate * block_s)
        self._ring = RingBuffer(round(self.sample_rate * buffer_s))
        self._stream: Any = None
        self._ended = False
        self.status_errors = 0

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        if status:
            self.status_errors += 1
        self._ring.write(indata[:, self.channel : self.channel + 1])

    def open(self) -> None:
        """Start the input stream (again, after a close)."""
        self._ring.clear()
        self._ended = False
        sd = _sd()
        try:
            self._stream = sd.InputStream(
                device=self.device,
                samplerate=self.sample_rate,
                channels=self.channel + 1,
                dtype="int16",
                blocksize=self._block,
                callback=self._callback,
            )
            self._stream.start()
        except sd.PortAudioError as err:
            raise RuntimeError(
                f"Cannot open input device {_describe(self.device)} at {self.sample_rate} Hz "
                f"with {self.channel + 1} channel(s): {err}"
            ) from err

    def read(self, timeout: float) -> Int16Array | None:
        """Next 10 ms block, None on timeout."""
        block = self._ring.read_exact(self._block, timeout)
        return None if block is None else block[:, 0]

    @property
    def ended(self) -> bool:
        """A microphone never ends (unless closed)."""
        return self._ended

    @property
    def dropped_samples(self) -> int:
        """Samples overwritten because processing fell behind."""
        return self._ring.dropped

    def close(self) -> None:
        """Stop the stream."""
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        self._ended = True


class SoundDeviceSink(AudioSink):
    """Speaker output at the device's rate."""

    drives_speaker = True  # the microphone hears it: recorded as the echo reference

    def __init__(
        self,
        device: int | str | None = None,
        *,
        rate: int = 48000,
        channels: int = 1,
        buffer_s: float = 0.5,
    ) -> None:
        """Resolve the device now so a wrong name fails early."""
        self.device = resolve_device(device, "output")
        self.sample_rate = rate
        self.channels = channels
        self._ring = RingBuffer(round(rate * buffer_s), channels)
        self._stream: Any = None
        self._lock = threading.Lock()

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        n = self._ring.read_available(outdata)
        outdata[n:] = 0

    def open(self) -> None:
        """Start the output stream (plays silence while nothing is queued)."""
        with self._lock:
            if self._stream is not None:
                return
            sd = _sd()
            try:
                self._stream = sd.OutputStream(
                    device=self.device,
                    samplerate=self.sample_rate,
                    channels=self.channels,
                    dtype="int16",
                    callback=self._callback,
                )
                self._stream.start()
            except sd.PortAudioError as err:
                raise RuntimeError(
                    f"Cannot open output device {_describe(self.device)} at "
                    f"{self.sample_rate} Hz: {err}"
                ) from err

    def _write(self, samples: Int16Array) -> None:
        """Queue samples, waiting for room."""
        if self._stream is None:
            self.open()
        step = max(1, self._ring.capacity // 2)
        for start in range(0, len(samples), step):
            part = samples[start : start + step]
            self._ring.wait_space(len(part))
            self._ring.write(part)

    def drain(self) -> None:
        """Wait until the queue has been handed to the device."""
        self._ring.wait_empty(timeout=5.0)

    def _abort(self) -> None:
        """Drop what is queued."""
        self._ring.clear()

    def _close(self) -> None:
        """Stop the stream."""
        with self._lock:
            if self._stream is not None:
                self._stream.stop()
                self._stream.close()
                self._stream = None
