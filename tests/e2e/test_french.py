"""A spoken French request through the whole chain: HA in French, the multilingual Whisper model.

A person's recorded "allume la lumière" after "hey jarvis" -> the satellite -> HA's Assist
pipeline in French -> our STT server (bundled multilingual `base`, `--language fr`) -> Jarvis,
which leaves it to HA's French intents -> the light of the satellite's room turns on -> a French
reply -> our TTS server -> the satellite's speaker.

No French Piper voice is packaged (README: adding a voice), so the reply is read by the bundled
English voice: the test checks the reply's text and that it was spoken, not how it sounds.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

from jarvis_demo.stack import Stack
from tests.e2e.chain import normalize, utterance
from tests.e2e.conftest import SpeechServers, StackFactory, run_speech_servers
from tests.integration.fake_ollama import FakeOllama

OFFICE_LIGHT = "light.office_light"  # the satellite is in the office


@pytest.fixture(scope="module")
def french_speech_servers(tmp_path_factory: pytest.TempPathFactory) -> Generator[SpeechServers]:
    """Our speech servers as a French home runs them: multilingual Whisper base, French."""
    yield from run_speech_servers(tmp_path_factory, ["--model", "base", "--language", "fr"])


@pytest.fixture
async def french_stack(make_stack: StackFactory, french_speech_servers: SpeechServers) -> Stack:
    """The whole chain with HA, its pipeline and the demo home in French."""
    return await make_stack(
        french_speech_servers.stt_port, french_speech_servers.tts_port, language="fr"
    )


async def test_french_command_turns_on_the_light_and_gets_a_french_reply(
    hass: HomeAssistant, french_stack: Stack, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    assert hass.config.language == "fr"
    assert await french_stack.async_turn_off_satellite_room_light() == OFFICE_LIGHT
    assert hass.states.get(OFFICE_LIGHT).state == "off"

    report = await french_stack.async_request(
        utterance(tmp_path, "french/stp_fr_allume_la_lumiere.wav")
    )

    assert report.error is None
    assert normalize(report.transcript or "") == "allume la lumière"
    assert [(c.entity_id, c.old, c.new) for c in report.changes] == [(OFFICE_LIGHT, "off", "on")]
    assert report.reply == "Allumé"  # HA's own French answer
    assert fake_ollama.conversation_requests == []  # HA's French intents handled it locally
    # The reply was spoken to the satellite's speaker (by the voice the demo names).
    voice = french_stack.reply_voice
    assert voice is not None and not voice.native and voice.name == "en_US-joe-medium"
    assert "no installed Piper voice speaks 'fr'" in voice.describe("fr")
    assert len(french_stack.reply_pcm) > 0.3 * 48000 * 2
    times = report.stage_times
    assert times["wake"] < times["end_of_speech"] < times["first_tts_audio"]
    assert times["transcript"] <= times["intent"] <= times["first_tts_audio"]
