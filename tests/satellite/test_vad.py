"""VAD adapter (pymicro-vad 1.x and 2.x names) and command endpointing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pymicro_vad import MicroVad
import pytest

import audio_clips
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
    # One long sentence with no pause (JFK's has a 1 s pause: silence ends the command there).
    path = write_wav(tmp_path / "long.wav", clip_48k(COMMANDS / "leopard_test_en.wav"))
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


# Recordings that end at the last word + 0.7 s of their own room tone (bench.stt's end07 clips).
END07 = [
    "english_commands/end07_wfw_turn_on_the_living_room_lamp.wav",
    "english_commands/end07_leopard_test_en.wav",
    "french/end07_leopard_test_fr.wav",
    "french/end07_stp_fr_allume_la_lumiere.wav",
    "french/end07_stp_fr_ferme_tous_les_volets.wav",
    "french/end07_stp_fr_minuteur_10_minutes.wav",
    "french/end07_stp_fr_quelle_heure_est-il.wav",
]


def levels_db(samples: np.ndarray) -> np.ndarray:
    """50 ms mean levels, one per 10 ms chunk (as the endpointer measures them)."""
    chunks = samples[: len(samples) // 160 * 160].astype(np.float64).reshape(-1, 160)
    power = np.convolve(np.mean(chunks**2, axis=1), np.ones(5) / 5)[: len(chunks)]
    return 10 * np.log10(power + 1e-9)


def spoken(path: Path) -> tuple[np.ndarray, float]:
    """The command from just before its first word, then its room tone going on (mirrored, so
    it has no seams); and when its last sound ends (the last 50 ms within 20 dB of its loudest)."""
    samples, rate = read_mono(path)
    assert rate == 16000
    loud = np.nonzero(levels_db(samples) > levels_db(samples).max() - 20)[0]
    start = max(0, loud[0] * 160 - 2400)
    tail = samples[-int(0.7 * rate) :]
    command = np.concatenate([samples[start:], tail[::-1], tail, tail[::-1], tail])
    return command, (loud[-1] + 1) * 160 / rate - start / rate


def endpoint(samples: np.ndarray, *, with_sound: bool, silence_s: float = 0.7) -> float | None:
    """Run the real VAD and the endpointer over `samples`; when the command ended."""
    detector, endpointer = SpeechDetector(), Endpointer(silence_s=silence_s, max_command_s=60)
    warm = np.zeros(16000, dtype=np.int16).tobytes()
    for i in range(0, len(warm), 320):
        detector.process_10ms(warm[i : i + 320])
    pcm = samples.astype(np.int16).tobytes()
    for n, i in enumerate(range(0, len(pcm) - 319, 320)):
        chunk = pcm[i : i + 320]
        probability = max(detector.process_10ms(chunk), 0.0)
        event = endpointer.process(probability, chunk if with_sound else None)
        if event is EndpointEvent.SPEECH_STOPPED:
            return (n + 1) * 0.01
        assert event in (None, EndpointEvent.SPEECH_STARTED), event
    return None


@pytest.mark.parametrize("name", END07, ids=lambda name: Path(name).stem[6:])
def test_a_command_ends_silence_s_after_its_last_sound(name: str) -> None:
    """pymicro-vad hears speech 0.4-1.1 s past the last word: silence is timed from the sound."""
    samples, sound_end = spoken(audio_clips.clip(name))
    ended = endpoint(samples, with_sound=True)
    assert ended is not None
    assert 0.65 <= ended - sound_end <= 0.9, (ended, sound_end)
    # The VAD alone ends the same command later, or not at all in this room tone.
    vad_only = endpoint(samples, with_sound=False)
    assert vad_only is None or vad_only - sound_end > ended - sound_end + 0.1, (vad_only, ended)


def test_a_pause_shorter_than_silence_s_does_not_end_the_command() -> None:
    first, first_end = spoken(audio_clips.clip(END07[0]))
    second, second_end = spoken(audio_clips.clip(END07[3]))
    pause = first[: int((first_end + 0.45) * 16000)]  # 0.45 s of room tone, then more words
    ended = endpoint(np.concatenate([pause, second]), with_sound=True)
    assert ended is not None
    assert ended - (len(pause) / 16000 + second_end) >= 0.65, ended


def test_a_vad_that_hears_speech_in_steady_noise_still_ends_the_command() -> None:
    """A fan the VAD takes for speech, 28 dB under the speech: silence_s of it ends the command."""
    rng = np.random.default_rng(0)
    endpointer = Endpointer(silence_s=0.7)

    def noise(level: float) -> bytes:
        return (rng.standard_normal(160) * level).astype("<i2").tobytes()

    events = [endpointer.process(0.9, noise(8000)) for _ in range(100)]
    assert EndpointEvent.SPEECH_STARTED in events
    for n in range(1, 300):  # noqa: B007
        if endpointer.process(0.9, noise(300)) is EndpointEvent.SPEECH_STOPPED:
            break
    assert n * 0.01 == pytest.approx(0.7, abs=0.06)
