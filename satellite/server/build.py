"""Build the satellite's parts (source, sink, listener, player) from its configuration."""

from __future__ import annotations

from collections.abc import Callable
import logging
import sys

from satellite.audio import (
    AudioSink,
    AudioSource,
    NullSink,
    RawPcmSink,
    RawPcmSource,
    SoundDeviceSink,
    SoundDeviceSource,
    WavFileSink,
    WavFileSource,
)
from satellite.config import SatelliteConfig
from satellite.listening import Listener, ListenEvent, ListenSettings

from .audio_out import AudioOut
from .satellite import Satellite

_LOGGER = logging.getLogger(__name__)


def _device(spec: str) -> int | str | None:
    spec = spec.strip()
    if not spec:
        return None
    return int(spec) if spec.isdigit() else spec


def make_source(config: SatelliteConfig) -> AudioSource:
    """The capture source: a sound card, a WAV file, or raw PCM on stdin."""
    mic = config.mic
    if mic.file == "-":
        channel = mic.channel if mic.channels > 1 else None
        return RawPcmSource(sys.stdin.buffer, rate=mic.rate, channels=mic.channels, channel=channel)
    if mic.file:
        return WavFileSource(mic.file, realtime=mic.realtime, channel=None)
    return SoundDeviceSource(_device(mic.device), rate=mic.rate, channel=mic.channel)


def make_sink(config: SatelliteConfig) -> AudioSink:
    """The playback sink: a sound card, a WAV file, raw PCM on stdout, or nothing."""
    spk = config.speaker
    if spk.file == "null":
        return NullSink(spk.rate, realtime=True)
    if spk.file == "-":
        return RawPcmSink(sys.stdout.buffer, rate=spk.rate)
    if spk.file:
        return WavFileSink(spk.file, rate=spk.rate)
    return SoundDeviceSink(_device(spk.device), rate=spk.rate)


def listen_settings(config: SatelliteConfig) -> ListenSettings:
    """The listening chain's settings from the `[wake]` and `[listen]` sections."""
    return ListenSettings(
        wake_word=config.wake.word,
        wake_engine=config.wake.engine,
        wake_threshold=config.wake.threshold,
        refractory_s=config.wake.refractory_s,
        preroll_s=config.listen.preroll_s,
        vad_silence_s=config.listen.vad_silence_s,
        max_command_s=config.listen.max_command_s,
        no_speech_timeout_s=config.listen.no_speech_timeout_s,
        vad_threshold=config.listen.vad_threshold,
        noise=config.listen.noise,
        auto_gain=config.listen.auto_gain,
        noise_suppression=config.listen.noise_suppression,
        highpass_hz=config.listen.highpass_hz,
        local_wake=config.wake.local,
        echo_cancel=config.listen.echo_cancel,
        echo_delay_ms=config.listen.echo_delay_ms,
        echo_engine=config.listen.echo_engine,
        echo_suppress=config.listen.echo_suppress,
    )


def make_audio_out(config: SatelliteConfig) -> AudioOut:
    """The speaker side: sink + Player, driven from one worker thread."""
    from satellite.playback import Player

    sink = make_sink(config)
    player = Player(sink, volume=config.speaker.volume, max_queued_s=config.speaker.max_queued_s)
    return AudioOut(player)


def build_satellite(config: SatelliteConfig) -> Satellite:
    """A satellite with real audio in and out (the source opens on `start()`)."""
    source = make_source(config)
    settings = listen_settings(config)

    def make_listener(on_event: Callable[[ListenEvent], None]) -> Listener:
        return Listener(source, settings, on_event)

    return Satellite(config, make_listener, make_audio_out(config))
