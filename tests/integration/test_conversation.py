"""Jarvis's conversation agent driven like a user: real HA, real ollama client, fake server."""

from __future__ import annotations

from typing import Any

from homeassistant.components import conversation
from homeassistant.const import CONF_LLM_HASS_API
from homeassistant.core import HomeAssistant
from homeassistant.helpers import chat_session, entity_registry as er, intent
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import (
    CONF_KEEP_ALIVE,
    CONF_NUM_CTX,
    CONF_TEMPERATURE,
    CONF_THINK,
)

from .agent_helpers import KITCHEN_LIGHT, agent_id, ask, async_setup_kitchen, satellite_in, speech
from .fake_ollama import Chunk, FakeOllama, Reply, text_reply, tool_call_reply


async def test_streamed_deltas_reach_the_chat_log_in_order(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    fake_ollama.queue(text_reply("Bonjour. I am Jarvis, at your service today.", delay=0.01))
    deltas: list[dict[str, Any]] = []

    # What HA's pipeline does: open the chat log with a delta listener, then converse.
    with (
        chat_session.async_get_chat_session(hass) as session,
        conversation.async_get_chat_log(
            hass, session, chat_log_delta_listener=lambda _log, delta: deltas.append(delta)
        ),
    ):
        result = await ask(hass, "Who are you?", conversation_id=session.conversation_id)

    assert speech(result) == "Bonjour. I am Jarvis, at your service today."
    assert deltas[0] == {"role": "assistant"}
    pieces = [d["content"] for d in deltas if "content" in d]
    assert pieces == ["Bonjour. ", "I ", "am ", "Jarvis, ", "at ", "your ", "service ", "today."]
    assert result.response.response_type is intent.IntentResponseType.ACTION_DONE

    # The request carried the persona prompt, the user's text and HA's tools.
    (request,) = fake_ollama.conversation_requests
    assert request["messages"][0]["role"] == "system"
    assert "You are Jarvis, a test assistant." in request["messages"][0]["content"]
    assert request["messages"][-1] == {"role": "user", "content": "Who are you?"}
    assert request["stream"] is True

    # The agent's figures feed the sensors.
    stats = setup_jarvis.runtime_data.last_response[next(iter(setup_jarvis.subentries))]
    assert not stats.local
    assert 0 < stats.latency_s <= stats.duration_s
    assert stats.tokens_per_second == pytest.approx(42 / 0.5)


async def test_tool_call_changes_a_real_entity(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await async_setup_kitchen(hass)
    assert hass.states.get(KITCHEN_LIGHT).state != "on"  # type: ignore[union-attr]
    fake_ollama.queue(
        tool_call_reply("intent__HassTurnOn", {"name": "Kitchen Light", "area": ""}),
        text_reply("The kitchen light is on."),
    )

    result = await ask(hass, "Light up the kitchen please")

    assert hass.states.get(KITCHEN_LIGHT).state == "on"  # type: ignore[union-attr]
    assert speech(result) == "The kitchen light is on."
    first, second = fake_ollama.conversation_requests
    tool_names = {t["function"]["name"] for t in first["tools"]}
    assert "intent__HassTurnOn" in tool_names
    # The model's call and HA's result went back to the model in the second request.
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"] == {
        "name": "intent__HassTurnOn",
        "arguments": {"name": "Kitchen Light"},  # the empty area was dropped
    }
    assert tool["role"] == "tool"
    assert "Kitchen Light" in tool["content"]
    assert '"error":false' in tool["content"].replace(" ", "")


@pytest.mark.parametrize(
    "printed",
    [
        '{"name": "intent__HassTurnOn", "arguments": {"name": "Kitchen Light"}}',
        '```json\n{"name": "intent__HassTurnOn", "parameters": {"name": "Kitchen Light"}}\n```',
        '{"function": {"name": "intent__HassTurnOn", "arguments": "{\\"name\\": \\"Kitchen Light\\"}"}}',
    ],
)
async def test_tool_call_written_as_text_is_still_called(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry, printed: str
) -> None:
    """Small models often print the call as JSON instead of calling the tool."""
    await async_setup_kitchen(hass)
    fake_ollama.queue(
        Reply(chunks=[Chunk(content=printed[:20]), Chunk(content=printed[20:])]),
        text_reply("Done."),
    )
    result = await ask(hass, "kitchen light on")
    assert hass.states.get(KITCHEN_LIGHT).state == "on"  # type: ignore[union-attr]
    assert speech(result) == "Done."


async def test_multi_turn_history_and_follow_up_question(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    fake_ollama.queue(text_reply("Which room do you mean?"), text_reply("OK, the kitchen it is."))
    first = await ask(hass, "Turn on the light")
    assert first.continue_conversation is True  # the reply asks something: keep listening

    second = await ask(hass, "The kitchen", conversation_id=first.conversation_id)
    assert second.conversation_id == first.conversation_id
    assert second.continue_conversation is False
    messages = fake_ollama.conversation_requests[1]["messages"]
    assert [(m["role"], m.get("content")) for m in messages[1:]] == [
        ("user", "Turn on the light"),
        ("assistant", "Which room do you mean?"),
        ("user", "The kitchen"),
    ]


async def test_options_reach_ollama(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
) -> None:
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis,
        subentry,
        data={
            **subentry.data,
            CONF_KEEP_ALIVE: 300,
            CONF_NUM_CTX: 4096,
            CONF_TEMPERATURE: 0.2,
            CONF_THINK: True,
        },
    )
    await hass.async_block_till_done()  # the entry reloads with the new options
    fake_ollama.queue(
        Reply(chunks=[Chunk(thinking="The user greets me."), Chunk(content="Hello!")])
    )
    result = await ask(hass, "Hello")
    assert speech(result) == "Hello!"
    (request,) = fake_ollama.conversation_requests
    assert request["keep_alive"] == "300s"
    assert request["think"] is True
    # The context window is sized from the prompt (in 2,048-token steps), at most the option.
    assert request["options"] == {"num_ctx": 2048, "temperature": 0.2}


async def test_max_history_trims_old_turns(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis, subentry, data={**subentry.data, "max_history": 1}
    )
    await hass.async_block_till_done()
    fake_ollama.queue(text_reply("One."), text_reply("Two."), text_reply("Three."))
    result = await ask(hass, "first")
    result = await ask(hass, "second", conversation_id=result.conversation_id)
    await ask(hass, "third", conversation_id=result.conversation_id)
    messages = fake_ollama.conversation_requests[2]["messages"]
    assert [m["content"] for m in messages[1:]] == ["second", "Two.", "third"]
    assert messages[0]["role"] == "system"


async def test_prepare_warms_the_model(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """While speech-to-text runs, the pipeline calls prepare: the model gets loaded."""
    await conversation.async_prepare_agent(hass, agent_id(hass), "en")
    warm_ups = [r for r in fake_ollama.chat_requests if not r.get("messages")]
    assert len(warm_ups) == 1
    assert warm_ups[0]["model"] == "llama3.2:latest"
    assert warm_ups[0]["keep_alive"] == -1
    assert "llama3.2:latest" in fake_ollama.loaded

    # An agent that unloads its model after each reply still keeps it for the coming request.
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis, subentry, data={**subentry.data, CONF_KEEP_ALIVE: 0}
    )
    await hass.async_block_till_done()
    await conversation.async_prepare_agent(hass, agent_id(hass), "en")
    fake_ollama.queue(text_reply("Hi."))
    await ask(hass, "Hi")
    warm_up, request = fake_ollama.chat_requests[-2:]
    assert warm_up["keep_alive"] == "120s"
    assert request["keep_alive"] == "0s"


@pytest.mark.parametrize(
    "text",
    [
        '{"joke": "knock knock"}',
        "```\n[1, 2, 3]\n```",
        '{"name": "Bob", "age": 42}',  # a name, but no arguments: not a call
        "{ this is not JSON",
        "<tool_call> is how some models call tools.",
    ],
)
async def test_json_reply_that_is_no_tool_call_is_spoken_as_is(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry, text: str
) -> None:
    fake_ollama.queue(Reply(chunks=[Chunk(content=text[:5]), Chunk(content=text[5:])]))
    result = await ask(hass, "Reply in JSON")
    assert speech(result) == text


async def test_chat_only_agent_sends_no_tools(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    subentry = next(iter(setup_jarvis.subentries.values()))
    data = {k: v for k, v in subentry.data.items() if k != CONF_LLM_HASS_API}
    hass.config_entries.async_update_subentry(setup_jarvis, subentry, data=data)
    await hass.async_block_till_done()
    state = hass.states.get(agent_id(hass))
    assert state is not None
    assert not state.attributes.get("supported_features")  # no CONTROL: it cannot act
    # A model may still try to call a tool it was not given: that is ignored.
    call = {"function": {"name": "HassTurnOn", "arguments": {"name": "Kitchen"}}}
    fake_ollama.queue(
        Reply(
            chunks=[Chunk(tool_calls=[call]), Chunk(content="Hi.")],
            eval_count=0,
            eval_duration_ns=0,
        )
    )
    assert speech(await ask(hass, "Hello")) == "Hi."
    assert not fake_ollama.conversation_requests[0].get("tools")
    stats = setup_jarvis.runtime_data.last_response[subentry.subentry_id]
    assert stats.tokens_per_second is None  # the server gave no figures


async def test_satellite_entity_gives_the_room(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """A pipeline may name only the satellite entity: Jarvis finds its device and room."""
    area = await async_setup_kitchen(hass)
    device_id = satellite_in(hass, setup_jarvis, area.id)
    satellite = er.async_get(hass).async_get_or_create(
        "assist_satellite", "test", "kitchen-satellite", device_id=device_id
    )
    fake_ollama.queue(text_reply("Sure."))
    await ask(hass, "turn on the light", satellite_id=satellite.entity_id)
    system = fake_ollama.conversation_requests[0]["messages"][0]["content"]
    assert "You are in area Kitchen" in system


async def test_full_context_window_is_reported_once(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Too many exposed entities silently overflow small contexts; Jarvis says so in the log."""
    fake_ollama.queue(
        Reply(chunks=[Chunk(content="Fine.")], prompt_eval_count=8000),
        Reply(chunks=[Chunk(content="Still fine.")], prompt_eval_count=8100),
    )
    assert speech(await ask(hass, "Hello")) == "Fine."
    assert speech(await ask(hass, "Hello again")) == "Still fine."
    warnings = [r for r in caplog.records if "of the context window" in r.getMessage()]
    assert len(warnings) == 1
    # The window sent was sized from Jarvis's estimate (2,048 tokens): Ollama counted more.
    assert "8000 of the 2048 tokens" in warnings[0].getMessage()


async def test_model_without_tools_or_thinking_still_answers(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A model picked without tool or thinking support answers instead of failing each time."""
    fake_ollama.capabilities["llama3.2:latest"] = ["completion"]
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis, subentry, data={**subentry.data, CONF_THINK: True}
    )
    await hass.async_block_till_done()
    fake_ollama.queue(text_reply("Hello!"), text_reply("Hello again!"))

    assert speech(await ask(hass, "Hello")) == "Hello!"
    assert speech(await ask(hass, "Hello")) == "Hello again!"

    sent = [(bool(r.get("tools")), r.get("think")) for r in fake_ollama.conversation_requests]
    # Refused with tools, refused with thinking, answered; the next turn goes straight through.
    assert sent == [(True, True), (False, True), (False, False), (False, False)]
    assert "does not support tools" in caplog.text
    assert "does not support thinking" in caplog.text
