"""Audio sources and sinks: ring buffer, WAV files, raw pipes, sound device plumbing."""

from __future__ import annotations

import io
import os
from pathlib import Path
import threading
import time
import wave

import numpy as np
import pytest

from satellite.audio import (
    DeviceInfo,
    NullSink,
    RawPcmSink,
    RawPcmSource,
    RingBuffer,
    SoundDeviceSink,
    SoundDeviceSource,
    WavFileSink,
    WavFileSource,
    list_devices,
    resolve_device,
)
from satellite.listening import Listener, ListenSettings, WakeDetected

from .listening_clips import WAKEWORD, clip_48k


def drain(source, timeout: float = 0.1) -> np.ndarray:
    source.open()
    blocks = []
    while (block := source.read(timeout)) is not None:
        blocks.append(block)
    assert source.ended
    source.close()
    return np.concatenate(blocks)


def test_ring_buffer_keeps_order_and_counts_overflow() -> None:
    ring = RingBuffer(100)
    ring.write(np.arange(60, dtype=np.int16)[:, None])
    assert ring.read(25)[:, 0].tolist() == list(range(25))
    ring.write(np.arange(60, 130, dtype=np.int16)[:, None])  # wraps, overflows by 5
    assert ring.dropped == 5
    assert len(ring) == 100
    out = ring.read_exact(100, timeout=0)
    assert out is not None
    assert out[:, 0].tolist() == list(range(30, 130))
    assert ring.read_exact(1, timeout=0.01) is None
    ring.write(np.arange(500, dtype=np.int16)[:, None])  # larger than the buffer
    assert ring.read(1000)[:, 0].tolist() == list(range(400, 500))


def test_ring_buffer_reader_wakes_when_writer_writes() -> None:
    ring = RingBuffer(1000)
    got = []
    reader = threading.Thread(target=lambda: got.append(ring.read_exact(480, timeout=5)))
    reader.start()
    for _ in range(3):
        time.sleep(0.02)
        ring.write(np.ones((160, 1), dtype=np.int16))
    reader.join()
    assert got[0] is not None
    assert len(got[0]) == 480


def write_multichannel(path: Path, frames: np.ndarray, rate: int, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(width)
        wav.setframerate(rate)
        if width == 2:
            wav.writeframes(frames.astype("<i2").tobytes())
        else:  # 24-bit: value << 8 as the low 3 bytes of a little-endian int32
            ints = frames.astype("<i4") * 256
            wav.writeframes(ints.view(np.uint8).reshape(*frames.shape, 4)[..., :3].tobytes())
    return path


def test_wav_source_channel_choice_and_mixdown(tmp_path: Path) -> None:
    left = np.full(4800, 1000, dtype=np.int16)
    right = np.full(4800, -3000, dtype=np.int16)
    path = write_multichannel(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 48000)
    assert drain(WavFileSource(path, channel=1)).tolist() == right.tolist()
    assert set(drain(WavFileSource(path)).tolist()) == {-1000}
    with pytest.raises(ValueError, match="no channel 2"):
        WavFileSource(path, channel=2)


def test_wav_source_24_bit_and_tail_silence(tmp_path: Path) -> None:
    values = np.linspace(-30000, 30000, 1600).astype(np.int32)[:, None]
    path = write_multichannel(tmp_path / "24.wav", values, 16000, width=3)
    source = WavFileSource(path, tail_silence_s=0.5)
    out = drain(source)
    assert len(out) == 1600 + 8000
    np.testing.assert_array_equal(out[:1600], values[:, 0])
    assert not out[1600:].any()


def test_wav_source_realtime_pacing(tmp_path: Path) -> None:
    path = write_multichannel(tmp_path / "s.wav", np.zeros((48000 // 2, 1)), 48000)
    began = time.monotonic()
    out = drain(WavFileSource(path, realtime=True), timeout=0.05)
    assert len(out) == 24000
    assert 0.45 < time.monotonic() - began < 1.0


def test_bad_wav_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000 not a wave file")
    with pytest.raises(ValueError, match="Cannot read WAV"):
        WavFileSource(tmp_path / "bad.wav")
    with pytest.raises(ValueError, match="Cannot read WAV"):
        WavFileSource(tmp_path / "missing.wav")


def test_raw_stdin_style_pipe_drives_the_listener() -> None:
    # `arecord -r 48000 -c 2 -f S16_LE | jarvis-satellite --mic raw`: stereo on a pipe.
    wake = np.rint(np.concatenate([clip_48k(WAKEWORD / "wow_hey_jarvis.wav"), np.zeros(48000)]))
    stereo = np.stack([np.zeros_like(wake), wake], axis=1).astype("<i2").tobytes()
    read_fd, write_fd = os.pipe()

    def writer() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            for start in range(0, len(stereo), 7777):  # odd sizes: frames split across writes
                pipe.write(stereo[start : start + 7777])

    feeder = threading.Thread(target=writer)
    feeder.start()
    events = []
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        source = RawPcmSource(pipe, rate=48000, channels=2, channel=1)
        listener = Listener(source, ListenSettings(), events.append)
        listener.start()
        assert listener.wait_finished(30)
        listener.stop()
    feeder.join()
    assert [e.name for e in events if isinstance(e, WakeDetected)] == ["hey_jarvis"]
    assert listener.metrics()["samples_in"] == len(wake)


def test_sinks(tmp_path: Path) -> None:
    block = np.arange(-100, 100, dtype=np.int16).reshape(-1, 2)
    wav_sink = WavFileSink(tmp_path / "o.wav", rate=22050, channels=2)
    wav_sink.open()
    wav_sink.write(block)
    wav_sink.close()
    with wave.open(str(tmp_path / "o.wav"), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (22050, 2, 100)
        assert wav.readframes(100) == block.astype("<i2").tobytes()
    stream = io.BytesIO()
    RawPcmSink(stream, rate=16000, channels=2).write(block)
    assert stream.getvalue() == block.astype("<i2").tobytes()
    null = NullSink(16000)
    null.write(block)
    assert null.frames_written == 100


def test_device_listing_and_choice_by_name_or_index() -> None:
    assert isinstance(list_devices(), list)  # no sound card on CI: an empty list, no crash
    devices = [
        DeviceInfo(0, "HDA Intel PCH: ALC892 Analog (hw:0,0)", "ALSA", 2, 2, 44100.0),
        DeviceInfo(1, "ReSpeaker 4 Mic Array (UAC1.0): USB Audio (hw:1,0)", "ALSA", 6, 0, 48000.0),
        DeviceInfo(2, "pipewire", "ALSA", 64, 64, 48000.0),
    ]
    assert resolve_device("respeaker", "input", devices) == 1
    assert resolve_device("2", "output", devices) == 2
    assert resolve_device(None, "input", devices) is None
    with pytest.raises(ValueError, match="No output device matching 'respeaker'"):
        resolve_device("respeaker", "output", devices)
    with pytest.raises(ValueError, match="No input device with index 7"):
        resolve_device(7, "input", devices)


def test_sound_device_callback_only_copies_the_chosen_channel() -> None:
    # What PortAudio does from its thread: hand (frames, channels) int16 blocks over.
    source = SoundDeviceSource(None, rate=48000, channel=2)
    block = np.arange(480 * 4, dtype=np.int16).reshape(480, 4)
    for _ in range(3):
        source._callback(block, 480, None, None)
    for _ in range(3):
        out = source.read(0.1)
        assert out is not None
        assert out.tolist() == block[:, 2].tolist()
    assert source.read(0.01) is None
    assert not source.ended


def test_sound_device_sink_callback_plays_queued_audio_then_silence() -> None:
    sink = SoundDeviceSink(None, rate=48000, channels=2)
    sink._ring.write(np.ones((300, 2), dtype=np.int16))
    out = np.full((512, 2), 7, dtype=np.int16)
    sink._callback(out, 512, None, None)
    assert out[:300].tolist() == [[1, 1]] * 300
    assert not out[300:].any()
    sink._ring.write(np.ones((300, 2), dtype=np.int16))
    sink.abort()  # barge-in drops what was queued
    sink._callback(out, 512, None, None)
    assert not out.any()


def test_missing_sound_card_is_a_clear_error() -> None:
    if list_devices():
        pytest.skip("this machine has a sound card")
    with pytest.raises(RuntimeError, match="Cannot open input device"):
        SoundDeviceSource(None).open()
    with pytest.raises(RuntimeError, match="Cannot open output device"):
        SoundDeviceSink(None).open()


def test_wav_source_can_be_reopened(tmp_path: Path) -> None:
    # The satellite builds a new Listener on the same source after a pause.
    path = write_multichannel(tmp_path / "s.wav", np.arange(960, dtype=np.int16)[:, None], 48000)
    source = WavFileSource(path, tail_silence_s=0.01)
    first = drain(source)
    second = drain(source)
    assert len(first) == len(second) == 960 + 480
    np.testing.assert_array_equal(first, second)
