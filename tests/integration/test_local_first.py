"""Local first: HA's built-in intents answer what they understand, with no request to Ollama."""

from __future__ import annotations

from typing import Any

from homeassistant.components import assist_pipeline, conversation
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.jarvis.const import CONF_PREFER_LOCAL

from .agent_helpers import KITCHEN_LIGHT, agent_id, ask, async_setup_kitchen, speech
from .fake_ollama import FakeOllama, text_reply


@pytest.fixture
def agent_options(agent_options: dict[str, object]) -> dict[str, object]:
    """Local first on."""
    return {**agent_options, CONF_PREFER_LOCAL: True}


async def test_built_in_intent_needs_no_llm(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await async_setup_kitchen(hass)
    calls_before = len(fake_ollama.requests)  # health polls at setup

    result = await ask(hass, "turn on the kitchen light")

    assert hass.states.get(KITCHEN_LIGHT).state == "on"  # type: ignore[union-attr]
    assert speech(result)  # HA's own confirmation
    assert fake_ollama.requests[calls_before:] == []  # not one request to Ollama
    stats = setup_jarvis.runtime_data.last_response[next(iter(setup_jarvis.subentries))]
    assert stats.local

    # In French too (HA's French sentences).
    result = await ask(hass, "éteins la lumière de la cuisine", language="fr")
    assert hass.states.get(KITCHEN_LIGHT).state == "off"  # type: ignore[union-attr]
    assert fake_ollama.requests[calls_before:] == []


async def test_other_requests_go_to_the_llm_with_the_local_turns_in_history(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await async_setup_kitchen(hass)
    first = await ask(hass, "turn on the kitchen light")
    fake_ollama.queue(text_reply("Why did the light bulb go to school? To get brighter."))

    result = await ask(hass, "tell me a joke about it", conversation_id=first.conversation_id)

    assert speech(result).startswith("Why did the light bulb")
    (request,) = fake_ollama.conversation_requests
    messages = request["messages"][1:]
    # HA's local turn is part of the memory: the request, what HA did, what it said.
    assert messages[0] == {"role": "user", "content": "turn on the kitchen light"}
    assert {"role": "assistant", "content": "Turned on the light"} in messages
    assert any(m["role"] == "tool" and "light.kitchen_light" in m["content"] for m in messages)
    assert messages[-1] == {"role": "user", "content": "tell me a joke about it"}


async def test_local_first_off_sends_everything_to_the_llm(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis, subentry, data={**subentry.data, CONF_PREFER_LOCAL: False}
    )
    await hass.async_block_till_done()
    await async_setup_kitchen(hass)
    fake_ollama.queue(text_reply("I would, but I only talk."))

    result = await ask(hass, "turn on the kitchen light")

    assert speech(result) == "I would, but I only talk."
    assert hass.states.get(KITCHEN_LIGHT).state != "on"  # type: ignore[union-attr]
    assert len(fake_ollama.conversation_requests) == 1


async def _run_text_pipeline(
    hass: HomeAssistant, ws: Any, pipeline: str, text: str
) -> list[dict[str, Any]]:
    """Run an Assist pipeline on text over the websocket API; return its events."""
    await ws.send_json_auto_id(
        {
            "type": "assist_pipeline/run",
            "start_stage": "intent",
            "end_stage": "intent",
            "input": {"text": text},
            "pipeline": pipeline,
        }
    )
    assert (await ws.receive_json())["success"]
    events: list[dict[str, Any]] = []
    while True:
        event = (await ws.receive_json())["event"]
        events.append(event)
        if event["type"] in ("run-end", "error"):
            return events


async def test_in_a_pipeline(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
) -> None:
    """In an Assist pipeline without HA's own 'prefer local', Jarvis still answers locally."""
    assert await async_setup_component(hass, "assist_pipeline", {})
    await async_setup_kitchen(hass)
    ws = await hass_ws_client(hass)
    jarvis = agent_id(hass)

    events = await _run_text_pipeline(hass, ws, jarvis, "turn on the kitchen light")
    intent_end = next(e for e in events if e["type"] == "intent-end")
    assert intent_end["data"]["intent_output"]["response"]["response_type"] == "action_done"
    assert hass.states.get(KITCHEN_LIGHT).state == "on"  # type: ignore[union-attr]
    assert fake_ollama.conversation_requests == []

    # The rest is streamed from the LLM through the pipeline (intent-progress deltas for TTS).
    fake_ollama.queue(text_reply("The moon is about 384,000 kilometres away from the Earth."))
    events = await _run_text_pipeline(hass, ws, jarvis, "how far is the moon")
    progress = [e["data"] for e in events if e["type"] == "intent-progress"]
    streamed = "".join(
        p["chat_log_delta"].get("content", "") for p in progress if "chat_log_delta" in p
    )
    assert streamed == "The moon is about 384,000 kilometres away from the Earth."
    assert len(fake_ollama.conversation_requests) == 1

    # With HA's own 'prefer local intents' on, a state question reaches Jarvis (HA passes
    # HassGetState on to agents that control the home) and Jarvis still answers it locally.
    pipeline = assist_pipeline.async_get_pipeline(hass)
    await assist_pipeline.async_update_pipeline(
        hass, pipeline, conversation_engine=jarvis, prefer_local_intents=True
    )
    events = await _run_text_pipeline(hass, ws, pipeline.id, "is the kitchen light on")
    intent_end = next(e for e in events if e["type"] == "intent-end")
    assert intent_end["data"]["processed_locally"] is False  # the pipeline gave it to Jarvis
    assert intent_end["data"]["intent_output"]["response"]["speech"]["plain"]["speech"]
    assert len(fake_ollama.conversation_requests) == 1  # still no new LLM request


async def test_sentence_triggers_of_automations_come_first(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """A user's own 'conversation' trigger answers, even when Jarvis is called directly."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "triggers": {"trigger": "conversation", "command": "movie time"},
                "actions": {"set_conversation_response": "Enjoy the film!"},
            }
        },
    )
    await hass.async_block_till_done()
    result = await ask(hass, "movie time")
    assert speech(result) == "Enjoy the film!"
    assert fake_ollama.conversation_requests == []


async def test_prepare_loads_local_intents_and_the_model(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await conversation.async_prepare_agent(hass, agent_id(hass), "fr")
    assert [r["model"] for r in fake_ollama.chat_requests] == ["llama3.2:latest"]
    default_agent = conversation.async_get_agent(hass, conversation.HOME_ASSISTANT_AGENT)
    assert await default_agent.async_get_or_load_intents("fr") is not None  # type: ignore[union-attr]
