"""Audio in and out: sound cards (sounddevice) and headless files/pipes.

Sources yield mono int16 blocks at their own rate; sinks take int16 (frames, channels).
"""

from .base import AudioSink, AudioSource, Int16Array
from .devices import DeviceInfo, SoundDeviceSink, SoundDeviceSource, list_devices, resolve_device
from .files import (
    NullSink,
    RawPcmSink,
    RawPcmSource,
    WavFileSink,
    WavFileSource,
    pcm_to_int16,
    to_mono,
)
from .ring import RingBuffer

__all__ = [
    "AudioSink",
    "AudioSource",
    "DeviceInfo",
    "Int16Array",
    "NullSink",
    "RawPcmSink",
    "RawPcmSource",
    "RingBuffer",
    "SoundDeviceSink",
    "SoundDeviceSource",
    "WavFileSink",
    "WavFileSource",
    "list_devices",
    "pcm_to_int16",
    "resolve_device",
    "to_mono",
]
