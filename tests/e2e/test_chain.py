"""A spoken request through the whole chain, as a user in the office makes it.

Satellite (recorded "hey jarvis" + command, at 48 kHz) -> HA's wyoming satellite -> HA's Assist
pipeline -> our STT server -> Jarvis (local intent, or Ollama with a tool call) -> the entity
changes -> our TTS server -> HA -> the satellite's speaker, whose audio we transcribe again.
"""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant

from jarvis_demo.stack import Stack
from tests.e2e.chain import normalize, transcribe, utterance, words_heard
from tests.integration.fake_ollama import FakeOllama, text_reply, tool_call_reply

LAMP = "light.living_room_lamp"
KITCHEN = "light.kitchen_light"


async def test_local_command_from_microphone_to_speaker(
    hass: HomeAssistant, stack: Stack, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    await hass.services.async_call("light", "turn_off", {"entity_id": LAMP}, blocking=True)
    assert hass.states.get(LAMP).state == "off"

    report = await stack.async_request(
        utterance(tmp_path, "english_commands/wfw_turn_on_the_living_room_lamp.wav")
    )

    assert report.error is None
    assert normalize(report.transcript or "") == "turn on the living room lamp"
    assert [(c.entity_id, c.old, c.new) for c in report.changes] == [(LAMP, "off", "on")]
    assert report.reply == "Turned on the light"
    # Local first: HA's own intents handled it; Ollama was only asked to load the model.
    assert fake_ollama.conversation_requests == []
    # The reply reached the satellite's speaker as speech that says the reply.
    heard = await transcribe(stack.stt_port, stack.reply_pcm)
    assert words_heard(heard, report.reply) >= 0.75, heard
    times = report.stage_times
    assert times["wake"] < times["end_of_speech"] < times["first_tts_audio"]
    assert times["transcript"] <= times["intent"] <= times["first_tts_audio"]


async def test_llm_command_calls_a_tool_that_changes_the_home(
    hass: HomeAssistant, stack: Stack, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.queue(
        tool_call_reply("intent__HassTurnOff", {"name": "Kitchen light"}),
        text_reply("The kitchen light is now off."),
    )
    assert hass.states.get(KITCHEN).state == "on"

    # Not a home command HA understands: it goes to the LLM.
    report = await stack.async_request(utterance(tmp_path, "english_commands/leopard_test_en.wav"))

    assert report.error is None
    assert "quilter" in normalize(report.transcript or "")
    assert [(c.entity_id, c.old, c.new) for c in report.changes] == [(KITCHEN, "on", "off")]
    assert report.reply == "The kitchen light is now off."
    first, second = fake_ollama.conversation_requests
    assert "quilter" in normalize(first["messages"][-1]["content"])
    assert second["messages"][-1]["role"] == "tool"
    heard = await transcribe(stack.stt_port, stack.reply_pcm)
    assert words_heard(heard, report.reply) >= 0.8, heard
