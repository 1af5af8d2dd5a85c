"""Two commands said in one go, streamed in real time to the real server: both are heard.

Built as `bench.stt` builds its pairs: the first `end07_` clip cut at its last word, then the
second `end07_` clip whole (its own lead-in and 0.7 s of room tone after its last word). With
tiny.en the server once answered with one command only: Whisper skipped the first (or the
second) in the window decoded in the trailing silence, and that decode was kept.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from wyoming_servers.whisper.audio import to_float32
from wyoming_servers.whisper.engine import Decoded, EngineOptions, Head, Sent, WhisperEngine
from wyoming_servers.whisper.ha_names import build_prompt

from .whisper_client import (
    ENGLISH,
    Client,
    Clip,
    ServerProcess,
    load_clip,
    normalise,
    whisper_process,
)

pytestmark = pytest.mark.slow

TAIL_S = 0.7
TIMER = "end07_stp_en_set_a_timer_for_5_minutes.wav"
LAMP = "end07_wfw_turn_on_the_living_room_lamp.wav"
WHAT_TIME = "end07_stp_en_what_time_is_it.wav"
WORDS = {TIMER: "set a timer", LAMP: "turn on the living room", WHAT_TIME: "what time is it"}
"""Words of each command that every right transcript has (tiny.en hears "lamp" as "Liam"
in some; "five" as "5")."""
HOME_NAMES = ["Kitchen", "Living Room", "Bedroom", "Kitchen light", "Living room lamp"]
"""A home's area and entity names, as the Jarvis integration sends them with each request."""


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with whisper_process("--model", "tiny.en") as proc:
        yield proc


def _pcm(name: str) -> bytes:
    clip = load_clip(ENGLISH / name)
    assert (clip.rate, clip.channels, clip.width) == (16000, 1, 2)
    return clip.audio


@pytest.mark.parametrize(
    ("first", "second", "names"),
    [
        (TIMER, LAMP, None),
        (LAMP, TIMER, None),
        (TIMER, WHAT_TIME, None),
        (TIMER, LAMP, HOME_NAMES),
        (TIMER, WHAT_TIME, HOME_NAMES),
    ],
    ids=[
        "timer+lamp",
        "lamp+timer",
        "timer+what-time",
        "timer+lamp,names",
        "timer+what-time,names",
    ],
)
async def test_both_commands_said_in_one_go_are_transcribed(
    server: ServerProcess, first: str, second: str, names: list[str] | None
) -> None:
    """Streamed as a satellite sends it (20 ms every 20 ms), the transcript has both commands,
    in order.

    With the home's names as Whisper's prompt, tiny.en dropped the first command of the last
    two pairs in every window holding both ("What time is it?", after "We'll set a timer for 5"
    had gone out as a partial; the 30 s window, tried next, then lost the "it" of "what time is
    it" at load): now such a decode is replaced by the decode in the pause between them plus a
    decode of the audio after it. And a partial window ending 0.2 s after the last word, heard
    as "Set a timer for lunch. What time is..." (1 stream in 3), stood as the transcript: one
    that trails off no longer stands.
    """
    audio = _pcm(first)[: -int(TAIL_S * 16000) * 2] + _pcm(second)
    for _ in range(2):  # decode timings differ from one stream to the next
        client = await Client.connect(server.port)
        try:
            events = await client.stream(
                Clip(audio, 16000, 2, 1), language="en", realtime=True, names=names
            )
        finally:
            await client.close()
        assert events[-1].type == "transcript", events[-1]
        text = normalise(str(events[-1].data["text"]))
        assert WORDS[first] in text, text
        assert WORDS[second] in text.split(WORDS[first], 1)[-1], text
    assert server.proc.poll() is None


def test_a_window_that_drops_the_first_command_is_decoded_after_the_pause() -> None:
    """The engine's part of it, in-process: "set a timer for 5" + "what time is it" with the
    home's names as the prompt. The window holding both loses the first command; given the
    decode made in the pause between them (the head) and the words sent as partials, the
    engine decodes the audio after the pause and puts the head's words before it: after the
    window holding both left the words out, or (a settled head) first."""
    engine = WhisperEngine(EngineOptions(model="tiny.en"))
    first = _pcm(TIMER)[: -int(TAIL_S * 16000) * 2]
    audio = to_float32(np.frombuffer(first + _pcm(WHAT_TIME), np.int16))
    prompt = build_prompt(HOME_NAMES)
    pause = len(first) // 2 + int(0.15 * 16000)  # a decode in the pause, 0.15 s after the word

    def keeps_timer(decoded: Decoded) -> bool:
        return WORDS[TIMER] in normalise(decoded.text)

    alone = engine.decode(audio, "en", prompt, fallback=False)
    assert not keeps_timer(alone), alone.text  # what tiny.en does with the names as prompt
    head = engine.decode(audio[:pause], "en", prompt, fallback=False)
    assert keeps_timer(head), head.text
    for settled in (False, True):  # after the whole window, or (a settled head) before it
        decoded = engine.decode(
            audio,
            "en",
            prompt,
            fallback=False,
            sent=Sent(keeps_timer, lambda d: not keeps_timer(d), Head(pause, head.text, settled)),
        )
        text = normalise(decoded.text)
        assert decoded.final
        assert text.startswith(normalise(head.text)), text
        assert WORDS[WHAT_TIME] in text.split(WORDS[TIMER], 1)[-1], text
