"""French with the multilingual base model, end to end over TCP.

The real server (`--model base --language fr`) gets the French `end07_` clips (last word + 0.7 s
of room tone) in real time, as a satellite sends them. By default it decodes base in the 30 s
window with text tokens only, starting in the trailing silence; with `--min-window 20` in a
window padded to 20 s (a third of the encoder's cost), with partials while speaking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import re
import wave

import numpy as np
import pytest

from wyoming_servers.models import bundled_base
from wyoming_servers.whisper.engine import EngineOptions, WhisperEngine

from .test_stt_partials import _errors, _stream
from .whisper_client import FRENCH, ServerProcess, whisper_process

pytestmark = pytest.mark.slow

CLIPS = {
    "end07_stp_fr_allume_la_lumiere.wav": "allume la lumière",
    "end07_stp_fr_quelle_heure_est-il.wav": "quelle heure est-il",
    "end07_stp_fr_minuteur_10_minutes.wav": "minuteur dix minutes",
    "end07_stp_fr_ferme_tous_les_volets.wav": "ferme tous les volets",
    "end07_leopard_test_fr.wav": (
        "sous le consulat il devient conservateur des eaux et forêts et conseiller général"
    ),
}
LONG = "end07_leopard_test_fr.wav"


def _base_server(*args: str) -> Iterator[ServerProcess]:
    if bundled_base(prepare=False) is None:
        pytest.skip(
            "multilingual base model not prepared (python -m wyoming_servers.models prepare)"
        )
    with whisper_process("--model", "base", "--language", "fr", *args) as proc:
        yield proc


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    yield from _base_server()


@pytest.fixture(scope="module")
def debug_server() -> Iterator[ServerProcess]:
    yield from _base_server("--debug")


@pytest.fixture(scope="module")
def window20_server() -> Iterator[ServerProcess]:
    yield from _base_server("--min-window", "20")


def _pcm(name: str) -> bytes:
    with wave.open(str(FRENCH / name), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())


def _words(text: str) -> list[str]:
    words = re.sub(r"[^\w\s']", " ", text.lower().replace("-", " ")).split()
    return [{"10": "dix"}.get(w, w) for w in words]


async def test_french_clips_as_accurate_as_faster_whispers_30s_decode(
    server: ServerProcess,
) -> None:
    """Streamed live, the French clips' transcripts have no more word errors in all than
    faster-whisper's own transcribe() of each whole clip (30 s window, timestamps, beam 5)."""
    plain_engine = await asyncio.to_thread(
        WhisperEngine, EngineOptions(model="base", short_window_s=0, timestamps=True)
    )
    ours = theirs = 0
    texts = []
    for name, ref in CLIPS.items():
        pcm = _pcm(name)
        _before, after = await _stream(server.port, pcm, language="fr")
        assert after[-1].type == "transcript", after[-1]
        assert after[-1].data["language"] == "fr"
        text = str(after[-1].data["text"])
        audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
        plain = (await asyncio.to_thread(plain_engine.decode, audio, "fr", short=False)).text
        ours += _errors(_words(ref), _words(text))
        theirs += _errors(_words(ref), _words(plain))
        texts.append((text, plain))
    assert ours <= theirs, texts
    assert ours <= 3, texts  # of 27 words


_TRANSCRIBED = re.compile(r"Transcribed [\d.]+ s in [\d.]+ s \((speculative|at stop),")


async def test_french_command_is_answered_by_the_decode_in_its_silence(
    server: ServerProcess,
) -> None:
    """ "Allume la lumière" streamed live: the transcript is the decode started in the 0.7 s
    of silence (logged "speculative"), not one begun at `audio-stop` (with base, about a second
    later).

    Before, that decode was dropped at `audio-stop`: its window ended 20 ms short of the last
    sound once the room tone had settled (the last sound moved from 1.51 s to 1.58 s).
    """
    before = len(_TRANSCRIBED.findall(server.log_text()))
    name = "end07_stp_fr_allume_la_lumiere.wav"
    _before, after = await _stream(server.port, _pcm(name), language="fr")
    assert after[-1].type == "transcript", after[-1]
    assert _words(str(after[-1].data["text"])) == _words(CLIPS[name])
    hows = _TRANSCRIBED.findall(server.log_text())
    assert len(hows) == before + 1, server.log_text()
    assert hows[-1] == "speculative", server.log_text()


async def test_french_partials_while_speaking_in_20s_windows(
    window20_server: ServerProcess,
) -> None:
    """With `--min-window 20` the long French clip gets partial chunks before audio-stop, and all
    chunks spell the final transcript."""
    before, after = await _stream(window20_server.port, _pcm(LONG), language="fr")
    assert [e.type for e in before][:2] == ["transcript-start", "transcript-chunk"]
    assert [e.type for e in after][-2:] == ["transcript-stop", "transcript"]
    final = _words(str(after[-1].data["text"]))
    early = _words("".join(str(e.data["text"]) for e in before[1:]))
    assert early and final[: len(early)] == early
    chunks = _words(
        "".join(str(e.data["text"]) for e in before + after if e.type.endswith("chunk"))
    )
    assert chunks == final
    assert _errors(_words(CLIPS[LONG]), final) <= 2, final


async def test_a_decode_in_a_pause_gives_up_when_speech_goes_on(
    debug_server: ServerProcess,
) -> None:
    """Two commands with a 0.3 s pause: the decode started in the pause (a whole 30 s window
    with base) gives up after its encoder step once speech goes on, instead of holding up the
    decode of both commands; the transcript has both."""
    first, second = "end07_stp_fr_allume_la_lumiere.wav", "end07_stp_fr_minuteur_10_minutes.wav"
    tone = _pcm(first)[-int(0.7 * 32000) :]
    pcm = _pcm(first)[: -len(tone)] + tone[: int(0.3 * 32000)] + _pcm(second)
    _before, after = await _stream(debug_server.port, pcm, language="fr")
    assert after[-1].type == "transcript", after[-1]
    heard = _words(str(after[-1].data["text"]))
    assert _errors(_words(f"{CLIPS[first]} {CLIPS[second]}"), heard) <= 1, heard
    assert "(given up: speech went on)" in debug_server.log_text(), debug_server.log_text()
