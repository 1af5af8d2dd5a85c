"""Player: any PCM format resampled to the sink, barge-in, volume, end of stream, chimes."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
import threading
import time
import wave

import numpy as np
import pytest

from satellite.audio import NullSink, RawPcmSink, WavFileSink, reference as reference_module
from satellite.audio.base import AudioSink
from satellite.audio.reference import ReferenceTimeline
from satellite.config import SoundSettings
from satellite.echo import ResidualEchoGate
from satellite.playback import DONE_SOUND, TIMER_SOUND, WAKE_SOUND, Player, QueueFull, read_wav
from satellite.server.audio_out import AudioOut
from satellite.server.chimes import resolve_chimes
from satellite.server.speaker import Speaker


def encode(x: np.ndarray, width: int, channels: int = 1) -> bytes:
    """Float -1..1 mono -> interleaved little-endian PCM of `width` bytes per sample."""
    frames = np.repeat(x[:, None], channels, axis=1)
    if width == 1:
        return np.rint(frames * 127 + 128).astype(np.uint8).tobytes()
    if width == 3:
        ints = np.rint(frames * 8388607).astype("<i4")
        return ints.view(np.uint8).reshape(len(x), channels, 4)[:, :, :3].tobytes()
    full = 2 ** (8 * width - 1) - 1
    return np.rint(frames * full).astype(f"<i{width}").tobytes()


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def read_sink(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return data.reshape(-1, wav.getnchannels()).astype(np.float64), wav.getframerate()


def peak(x: np.ndarray, rate: int) -> tuple[float, float]:
    """Strongest frequency and its amplitude (in the middle of the signal)."""
    block = x[len(x) // 4 : len(x) // 4 + rate // 2]
    window = np.hanning(len(block))
    spec = np.abs(np.fft.rfft(block * window)) / (window.sum() / 2)
    k = int(np.argmax(spec))
    return k * rate / len(block), float(spec[k])


def test_piper_rate_reply_is_resampled_to_the_device_rate(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "out.wav", rate=48000, channels=2)
    player = Player(sink)
    pcm = encode(sine(440.0, 2.0, 22050), 2)
    for start in range(0, len(pcm), 4410):  # streamed in 100 ms chunks like TTS audio
        player.play_pcm(pcm[start : start + 4410], 22050, 2, 1)
    finished = []
    done = player.end_of_stream(lambda: finished.append(threading.current_thread().name))
    assert done.wait(10)
    player.close()
    assert finished == ["satellite-player"]
    out, rate = read_sink(tmp_path / "out.wav")
    assert rate == 48000
    assert out.shape[1] == 2
    assert len(out) == pytest.approx(2.0 * 48000, abs=2)  # nothing lost, nothing added
    np.testing.assert_array_equal(out[:, 0], out[:, 1])  # mono copied to both speakers
    freq, amplitude = peak(out[:, 0], 48000)
    assert freq == pytest.approx(440.0, abs=2.0)
    assert amplitude == pytest.approx(0.3 * 32767, rel=0.01)


@pytest.mark.parametrize(("width", "channels"), [(1, 1), (2, 2), (3, 1), (4, 2)])
def test_other_sample_formats_play(tmp_path: Path, width: int, channels: int) -> None:
    sink = WavFileSink(tmp_path / "out.wav", rate=48000, channels=1)
    player = Player(sink)
    player.play_pcm(encode(sine(1000.0, 1.0, 16000), width, channels), 16000, width, channels)
    assert player.end_of_stream().wait(10)
    player.close()
    out, _ = read_sink(tmp_path / "out.wav")
    assert len(out) == pytest.approx(48000, abs=2)
    freq, amplitude = peak(out[:, 0], 48000)
    assert freq == pytest.approx(1000.0, abs=3.0)
    assert amplitude == pytest.approx(0.3 * 32767, rel=0.03)


def test_volume_scales_output(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "out.wav", rate=16000)
    player = Player(sink, volume=0.5)
    player.play_pcm(encode(sine(500.0, 1.0, 16000), 2), 16000, 2, 1)
    assert player.end_of_stream().wait(10)
    player.volume = 3.0  # clamped
    assert player.volume == 1.0
    player.close()
    out, _ = read_sink(tmp_path / "out.wav")
    assert peak(out[:, 0], 16000)[1] == pytest.approx(0.15 * 32767, rel=0.01)


def test_stop_is_barge_in(tmp_path: Path) -> None:
    sink = NullSink(48000, realtime=True)  # takes as long as a speaker would
    player = Player(sink)
    reply = encode(sine(300.0, 10.0, 22050), 2)
    player.play_pcm(reply, 22050, 2, 1)
    done = player.end_of_stream()
    time.sleep(0.3)
    assert player.playing
    began = time.monotonic()
    player.stop()
    assert done.wait(1.0)
    assert time.monotonic() - began < 0.3
    assert sink.frames_written < 48000  # well under the 10 s reply
    assert not player.playing
    # The player keeps working after a barge-in.
    before = sink.frames_written
    player.play_wav(WAKE_SOUND)
    assert player.end_of_stream().wait(5)
    assert sink.frames_written - before == pytest.approx(0.24 * 48000, abs=2)
    player.close()


def test_the_queue_is_bounded_by_duration_and_memory() -> None:
    sink = NullSink(48000, realtime=True)
    player = Player(sink, max_queued_s=10.0, max_queued_bytes=1_000_000)
    try:
        _fill_and_drain(player)
    finally:
        player.close()


def _fill_and_drain(player: Player) -> None:
    second = encode(sine(300.0, 1.0, 22050), 2)
    for _ in range(9):
        player.play_pcm(second, 22050, 2, 1)
    assert 8.5 < player.queued_s <= 9.0
    with pytest.raises(QueueFull, match="at most 10 s"):
        player.play_pcm(second * 2, 22050, 2, 1)
    assert player.queued_s <= 9.0  # the refused chunk takes no room
    # 8 channels at 48 kHz: 0.5 s is 384 kB of int16 frames; a second one passes 1 MB.
    wide = encode(sine(300.0, 0.5, 48000), 2, channels=8)
    player.play_pcm(wide, 48000, 2, 8)
    with pytest.raises(QueueFull, match="MiB"):
        player.play_pcm(wide, 48000, 2, 8)
    before = player.queued_s
    time.sleep(0.5)
    assert player.queued_s < before - 0.1  # it plays down as the speaker plays
    player.stop()  # barge-in frees the room at once
    deadline = time.monotonic() + 1.0
    while player.queued_s > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert player.queued_s == 0.0
    player.play_pcm(second * 9, 22050, 2, 1)
    assert player.played_s > 0.2


def test_unplayable_formats_are_refused_and_the_player_keeps_serving() -> None:
    sink = NullSink(48000)
    player = Player(sink)
    with pytest.raises(ValueError, match="width"):
        player.play_pcm(b"\0" * 10, 16000, 5, 1)
    with pytest.raises(ValueError, match="rate"):
        player.play_pcm(b"\0" * 10, 100, 2, 1)
    with pytest.raises(ValueError, match="channel"):
        player.play_pcm(b"\0" * 10, 16000, 2, 0)
    with pytest.raises(ValueError, match="whole number"):
        player.play_pcm(b"\0" * 3, 16000, 2, 1)
    with pytest.raises(ValueError, match="Cannot read WAV"):
        player.play_wav(Path(__file__))
    player.play_pcm(encode(sine(440.0, 0.5, 16000), 2), 16000, 2, 1)
    assert player.end_of_stream().wait(5)
    assert sink.frames_written == pytest.approx(24000, abs=2)
    player.close()
    assert player.end_of_stream().is_set()  # closed: nothing left to wait for


def test_chimes_are_short_and_playable() -> None:
    stream = io.BytesIO()
    player = Player(RawPcmSink(stream, rate=48000))
    for path in (WAKE_SOUND, DONE_SOUND, TIMER_SOUND):
        pcm, rate, width, channels = read_wav(path)
        assert (width, channels) == (2, 1)
        assert len(pcm) / (rate * 2) < 1.5
        player.play_wav(path)
    assert player.end_of_stream().wait(5)
    player.close()
    out = np.frombuffer(stream.getvalue(), dtype="<i2")
    assert 0.2 < np.abs(out).max() / 32768 < 0.9  # audible, never clipped


@pytest.mark.parametrize("speaker", ["pipe", "null", "wav file", "none"])
async def test_a_chime_is_marked_for_the_echo_gate_only_when_a_speaker_plays_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, speaker: str
) -> None:
    """The wake chime is marked on the speaker's timeline (the command's residual echo gate
    notches its notes) only when the microphone can hear it: a sink that drives a speaker, and
    from the first chime on. A null or WAV file sink, or no speaker: the command is untouched."""
    timeline = ReferenceTimeline()
    monkeypatch.setattr(reference_module, "_SPEAKER", timeline)
    sinks: dict[str, AudioSink] = {
        "pipe": RawPcmSink(io.BytesIO(), rate=48000),  # a speaker the microphone hears
        "null": NullSink(48000, realtime=True),
        "wav file": WavFileSink(tmp_path / "out.wav", rate=48000),
    }
    sink = sinks.get(speaker)
    out = AudioOut(Player(sink)) if sink is not None else None
    chimes = resolve_chimes(SoundSettings())
    assert chimes.wake is not None
    spk = Speaker(out, chimes, alarm_s=0.0)
    spk.chime("wake")  # the first thing this speaker plays
    marked = timeline.chime is not None
    gate = ResidualEchoGate(timeline)
    command = encode(sine(880.0, 0.1, 16000), 2)  # a tone at one of the chime's notes
    gated = gate.process(command) != command
    while spk.chiming or (out is not None and out.player.playing):
        await asyncio.sleep(0.01)
    await spk.close()
    assert marked is (speaker == "pipe")
    assert gated is (speaker == "pipe")
