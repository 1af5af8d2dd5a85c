"""The listening chain end to end: pre-roll, remote wake, mute, commands, threads."""

from __future__ import annotations

from pathlib import Path
import re
import threading
import time

import numpy as np
import pytest

from satellite.audio import WavFileSource
from satellite.listening import (
    CommandAudio,
    CommandTimeout,
    Listener,
    ListenSettings,
    SpeechStarted,
    SpeechStopped,
    StreamAudio,
    WakeDetected,
)

from .listening_clips import LAMP, WAKEWORD, clip_48k, run_chain, write_wav

RATE = 48000


def trim_silence(x: np.ndarray, floor_db: float = -48.0) -> np.ndarray:
    """Cut leading/trailing room noise (10 ms windows under `floor_db` dBFS)."""
    n = RATE // 100
    windows = x[: len(x) // n * n].reshape(-1, n)
    level = 20 * np.log10(np.maximum(np.sqrt(np.mean(windows**2, axis=1)), 1e-9) / 32768)
    loud = np.nonzero(level > floor_db)[0]
    return x[loud[0] * n : (loud[-1] + 1) * n]


@pytest.fixture(scope="module")
def whisper():
    from faster_whisper import WhisperModel
    import tqdm

    from wyoming_servers.models import resolve_whisper_model

    tqdm.tqdm.monitor_interval = 0  # faster-whisper's progress bar: no monitor thread

    return WhisperModel(resolve_whisper_model("tiny.en"), device="cpu", compute_type="int8")


def transcribe(model, pcm: bytes) -> str:
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
    segments, _ = model.transcribe(audio, beam_size=1, language="en")
    text = " ".join(segment.text for segment in segments)
    return re.sub(r"[^a-z ]", "", text.lower()).strip()


@pytest.mark.parametrize("wake_clip", ["pmw_hey_jarvis_2.wav", "wow_hey_jarvis.wav"])
def test_preroll_keeps_a_command_said_in_one_breath(
    tmp_path: Path, whisper, wake_clip: str
) -> None:
    # "hey jarvis" immediately followed by the command, no pause (first 1.4 s of the clip).
    wake = trim_silence(clip_48k(WAKEWORD / wake_clip)[: int(1.4 * RATE)])
    command = trim_silence(clip_48k(LAMP))
    lead = 0.5
    recording = np.concatenate([np.zeros(int(lead * RATE)), wake, command])
    path = write_wav(tmp_path / "one_breath.wav", recording)
    command_onset = lead + len(wake) / RATE

    run = run_chain(path, ListenSettings())
    wakes = run.of_type(WakeDetected)
    assert len(wakes) == 1
    # The wake word fires only after the command has begun: without a pre-roll its
    # first syllable would be lost.
    assert wakes[0].t > command_onset
    audio = run.of_type(CommandAudio)
    first = audio[0]
    assert first.t == pytest.approx(wakes[0].t)
    assert len(first.pcm) == ListenSettings().preroll_s * 16000 * 2  # the pre-roll
    assert first.t - len(first.pcm) / 32000 < command_onset
    assert run.of_type(SpeechStopped)
    assert "turn on the living room lamp" in transcribe(whisper, run.command_pcm())


def test_a_pause_after_the_wake_word_does_not_end_the_command(tmp_path: Path, whisper) -> None:
    # "hey jarvis", a second to think, then the command: the word's own tail is not the command.
    wake = trim_silence(clip_48k(WAKEWORD / "pmw_hey_jarvis_2.wav"))
    command = trim_silence(clip_48k(LAMP))
    recording = np.concatenate([np.zeros(RATE // 2), wake, np.zeros(RATE), command])
    path = write_wav(tmp_path / "pause.wav", recording)
    command_onset = 0.5 + len(wake) / RATE + 1.0

    run = run_chain(path, ListenSettings())
    assert len(run.of_type(WakeDetected)) == 1
    started = run.of_type(SpeechStarted)
    assert len(started) == 1 and started[0].t > command_onset
    (stopped,) = run.of_type(SpeechStopped)
    # The whole command, then the silence after its last sound (within 20 dB of its loudest).
    power = np.convolve(command.astype(np.float64) ** 2, np.ones(RATE // 20) / (RATE // 20))
    last_sound = np.nonzero(power > power.max() / 100)[0][-1] / RATE
    assert stopped.t > command_onset + last_sound + 0.6, (stopped, command_onset, last_sound)
    assert "turn on the living room lamp" in transcribe(whisper, run.command_pcm())


def test_remote_wake_streams_every_sample_and_detects_nothing(tmp_path: Path) -> None:
    # 60 s of a long room recording with a "hey jarvis" in it.
    wake = clip_48k(WAKEWORD / "wow_hey_jarvis.wav")
    rng = np.random.default_rng(3)
    recording = np.concatenate([rng.standard_normal(58 * RATE) * 300, wake])
    path = write_wav(tmp_path / "long.wav", recording)
    run = run_chain(path, ListenSettings(local_wake=False), tail_silence_s=0)
    assert run.of_type(WakeDetected) == []
    streamed = sum(len(event.pcm) for event in run.of_type(StreamAudio)) // 2
    assert streamed == len(recording) // 3 == run.metrics["samples_out"]
    assert run.metrics["samples_in"] == len(recording)
    times = [event.t for event in run.of_type(StreamAudio)]
    assert np.allclose(np.diff(times), 0.01)


def test_start_command_without_wake_word_then_back_to_streaming(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "lamp.wav", np.concatenate([np.zeros(RATE), clip_48k(LAMP)]))
    started = []

    def open_mic_once(listener: Listener, event) -> None:
        if isinstance(event, StreamAudio) and not started:
            started.append(event.t)
            listener.start_command()

    run = run_chain(
        path, ListenSettings(local_wake=False), tail_silence_s=2.0, on_event=open_mic_once
    )
    kinds = [type(e).__name__ for e in run.events if not isinstance(e, (StreamAudio, CommandAudio))]
    assert kinds == ["SpeechStarted", "SpeechStopped"]
    stop_t = run.of_type(SpeechStopped)[0].t
    # Command audio only between start and stop; streaming resumes after.
    assert all(started[0] < e.t <= stop_t for e in run.of_type(CommandAudio))
    assert any(e.t > stop_t for e in run.of_type(StreamAudio))


def test_cancel_command_after_wake(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "wake.wav", clip_48k(WAKEWORD / "pmw_hey_jarvis_1.wav"))

    def cancel(listener: Listener, event) -> None:
        if isinstance(event, WakeDetected):
            listener.cancel_command()

    run = run_chain(path, ListenSettings(), tail_silence_s=6.0, on_event=cancel)
    assert len(run.of_type(WakeDetected)) == 1
    assert len(run.of_type(CommandAudio)) == 1  # the pre-roll only
    assert run.of_type(SpeechStarted) == run.of_type(CommandTimeout) == []


def test_muted_listener_lets_nothing_out(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "wake.wav", clip_48k(WAKEWORD / "pmw_hey_jarvis_1.wav"))
    for settings in (ListenSettings(), ListenSettings(local_wake=False)):
        events = []
        listener = Listener(WavFileSource(path, tail_silence_s=1.0), settings, events.append)
        listener.muted = True
        listener.start()
        assert listener.wait_finished(30)
        listener.stop()
        assert events == []


def test_callback_errors_do_not_stop_the_chain(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "wake.wav", clip_48k(WAKEWORD / "pmw_hey_jarvis_2.wav"))
    seen = []

    def flaky(event) -> None:
        seen.append(event)
        if isinstance(event, WakeDetected):
            raise RuntimeError("consumer bug")

    listener = Listener(WavFileSource(path, tail_silence_s=2.0), ListenSettings(), flaky)
    listener.start()
    assert listener.wait_finished(30)
    listener.stop()
    assert any(isinstance(e, WakeDetected) for e in seen)
    # The chain went on after the failing callback: it ended the (silent) command itself.
    assert any(isinstance(e, CommandTimeout) and e.reason == "no_speech" for e in seen)


def test_realtime_source_stops_promptly_and_reports_metrics(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "long.wav", np.zeros(30 * RATE))
    events = []
    listener = Listener(
        WavFileSource(path, realtime=True), ListenSettings(local_wake=False), events.append
    )
    listener.start()
    time.sleep(0.5)
    began = time.monotonic()
    listener.stop()
    assert time.monotonic() - began < 0.5
    assert not any(t.name == "satellite-listener" for t in threading.enumerate())
    assert not listener.finished
    streamed = len(events) * 0.01
    assert 0.3 < streamed < 0.8  # paced like a microphone
    metrics = listener.metrics()
    assert metrics["frames"] > 0
    assert 0 < metrics["total_ms"] < 10
    assert {"resample_ms", "highpass_ms", "noise_ms", "wake_ms", "vad_ms"} <= set(metrics)
    with pytest.raises(RuntimeError, match="already started"):
        listener.start()


def test_bad_settings_fail_at_construction(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "x.wav", np.zeros(RATE))
    with pytest.raises(ValueError, match="noise engine"):
        Listener(WavFileSource(path), ListenSettings(noise="loud"), print)
    with pytest.raises(ValueError, match="Unknown wake word"):
        Listener(WavFileSource(path), ListenSettings(wake_word="computer"), print)
