"""The chat API in a real HA: `jarvis/chat` (WebSocket), `POST /api/jarvis/chat` (NDJSON) and
`GET /api/jarvis/health`, through HA's own HTTP/WebSocket stack and authentication, with the
real ollama client against the fake Ollama server.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncGenerator
import json
import time
from typing import Any

from aiohttp import ClientResponse, web
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL, CONF_PROMPT, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    MockHAClientWebSocket,
    WebSocketGenerator,
)

from custom_components.jarvis.chat import MAX_BODY_BYTES, MAX_TEXT_CHARS
from custom_components.jarvis.const import CONF_PREFER_LOCAL, DOMAIN, SUBENTRY_CONVERSATION

from .agent_helpers import KITCHEN_LIGHT, agent_id, async_setup_kitchen
from .conftest import TEST_MODEL
from .fake_ollama import Chunk, FakeOllama, Reply, text_reply, tool_call_reply

PASSWORD = "s3cr3t-pa55"  # in the server URL; the health report must not show it
STORY = "Once upon a time a lamp learned to speak."
SLOW = 0.15  # seconds between the fake model's words


class WatchedOllama(FakeOllama):
    """The fake server, noting each chat stream that ended because the client went away."""

    def __init__(self, models: list[str]) -> None:
        super().__init__(models=models)
        self.aborted = asyncio.Event()  # a chat stream's client closed the connection

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            return await super()._chat(request)
        except ConnectionResetError:  # writing to a connection the client closed
            self.aborted.set()
            raise


@pytest.fixture
async def fake_ollama(socket_enabled: None) -> AsyncGenerator[FakeOllama]:
    """The watched fake server for every test of this module."""
    server = WatchedOllama(models=[TEST_MODEL])
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def mock_config_entry(fake_ollama: FakeOllama) -> MockConfigEntry:
    """Jarvis as a user sets it up (local first on), its server URL holding a password."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Jarvis",
        data={CONF_URL: f"http://jarvis:{PASSWORD}@127.0.0.1:{fake_ollama.port}"},
        subentries_data=[
            ConfigSubentryData(
                data={
                    CONF_MODEL: TEST_MODEL,
                    CONF_PROMPT: "You are Jarvis, a test assistant.",
                    CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
                    CONF_PREFER_LOCAL: True,
                },
                subentry_type=SUBENTRY_CONVERSATION,
                title="Jarvis",
                unique_id=None,
            )
        ],
    )


def slow_story(delay: float = SLOW) -> Reply:
    """STORY streamed two words a chunk, `delay` seconds apart."""
    reply = text_reply(STORY, words_per_chunk=2)
    for chunk in reply.chunks[1:]:
        chunk.delay = delay
    return reply


class Inbox:
    """A WebSocket client whose messages are read per request id (chats may interleave)."""

    def __init__(self, ws: MockHAClientWebSocket) -> None:
        self.ws = ws
        self._pending: dict[int, deque[dict[str, Any]]] = defaultdict(deque)
        self.last_chat = 0

    async def send(self, message: dict[str, Any]) -> int:
        await self.ws.send_json_auto_id(message)
        msg_id: int = message["id"]
        return msg_id

    async def receive(self, msg_id: int, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while not self._pending[msg_id]:
                msg = await self.ws.receive_json()
                self._pending[msg["id"]].append(msg)
        return self._pending[msg_id].popleft()

    async def start_chat(self, **fields: Any) -> int:
        """Send `jarvis/chat`; its id once HA confirmed the subscription."""
        msg_id = await self.send({"type": "jarvis/chat", **fields})
        msg = await self.receive(msg_id)
        assert msg["success"], msg
        return msg_id

    async def events(self, msg_id: int) -> list[tuple[float, dict[str, Any]]]:
        """(arrival time, event) of a chat, up to its final or error event."""
        events: list[tuple[float, dict[str, Any]]] = []
        while True:
            msg = await self.receive(msg_id)
            assert msg["type"] == "event", msg
            events.append((time.perf_counter(), msg["event"]))
            if msg["event"]["type"] in ("final", "error"):
                return events

    async def chat(self, **fields: Any) -> list[tuple[float, dict[str, Any]]]:
        self.last_chat = await self.start_chat(**fields)
        return await self.events(self.last_chat)


async def http_events(response: ClientResponse) -> list[tuple[float, dict[str, Any]]]:
    """(arrival time, event) of each NDJSON line of a chat response."""
    assert response.status == 200, await response.text()
    assert response.content_type == "application/x-ndjson"
    async with asyncio.timeout(10):
        return [(time.perf_counter(), json.loads(line)) async for line in response.content]


def types(events: list[tuple[float, dict[str, Any]]]) -> list[str]:
    return [event["type"] for _, event in events]


def check_streamed(events: list[tuple[float, dict[str, Any]]]) -> None:
    """Deltas come in order and as the model writes them, all before the final event."""
    assert types(events) == ["start", *["delta"] * 5, "final"]
    deltas = [(at, event["text"]) for at, event in events if event["type"] == "delta"]
    final_at, final = events[-1]
    assert "".join(text for _, text in deltas) == final["text"] == STORY
    # The model takes 4 * SLOW from its first chunk to its last: the first delta was sent on
    # while the others were still being written, not buffered until the end.
    assert final_at - deltas[0][0] >= 2 * SLOW
    assert [at for at, _ in deltas] == sorted(at for at, _ in deltas)
    assert final["response"]["response_type"] == "action_done"
    assert final["continue_conversation"] is False
    assert final["error"] is False


async def test_ws_chat_streams_deltas_before_the_final_event(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    client = Inbox(await hass_ws_client(hass))
    fake_ollama.queue(slow_story(), text_reply("Which lamp?"))

    events = await client.chat(text="Tell me a story")

    check_streamed(events)
    start, final = events[0][1], events[-1][1]
    # As with HA's assist_pipeline/run, unsubscribing after the end is fine (HA's frontend does).
    unsubscribe = {"type": "unsubscribe_events", "subscription": client.last_chat}
    assert (await client.receive(await client.send(unsubscribe)))["success"]
    assert start["agent_id"] == final["agent_id"] == agent_id(hass)  # the first Jarvis agent
    assert start["conversation_id"] == final["conversation_id"]

    # The conversation goes on (memory): the model gets the first turn again.
    events = await client.chat(
        text="Which one?", conversation_id=final["conversation_id"], language="en"
    )
    assert events[-1][1]["text"] == "Which lamp?"
    assert events[-1][1]["continue_conversation"] is True
    assert events[-1][1]["conversation_id"] == final["conversation_id"]
    messages = fake_ollama.conversation_requests[-1]["messages"]
    assert [m["content"] for m in messages[1:]] == ["Tell me a story", STORY, "Which one?"]


async def test_http_chat_streams_ndjson(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    client = await hass_client()
    fake_ollama.queue(slow_story())

    response = await client.post("/api/jarvis/chat", json={"text": "Tell me a story"})

    check_streamed(await http_events(response))


async def test_tool_call_turns_the_light_on_and_the_events_show_it(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    await async_setup_kitchen(hass)
    client = Inbox(await hass_ws_client(hass))
    fake_ollama.queue(
        tool_call_reply("intent__HassTurnOn", {"name": "Kitchen Light"}),
        text_reply("The kitchen light is on now."),
    )
    assert hass.states.get(KITCHEN_LIGHT).state != "on"  # type: ignore[union-attr]

    # Not a sentence HA's own intents know: the model decides to call the tool.
    events = [event for _, event in await client.chat(text="It is too dark in the kitchen")]

    assert [e["type"] for e in events] == [
        "start",
        "tool_call",
        "tool_result",
        *["delta"] * 6,
        "final",
    ]
    call, result = events[1], events[2]
    assert call["tool_name"] == "intent__HassTurnOn"
    assert call["tool_args"] == {"name": "Kitchen Light"}
    assert result["tool_call_id"] == call["tool_call_id"]
    assert result["tool_name"] == "intent__HassTurnOn"
    assert result["error"] is False
    assert result["result"]["data"]["success"] == [
        {"name": "Kitchen Light", "type": "entity", "id": KITCHEN_LIGHT}
    ]
    assert events[-1]["text"] == "The kitchen light is on now."
    assert hass.states.get(KITCHEN_LIGHT).state == "on"  # type: ignore[union-attr]


async def test_local_intent_answers_without_the_model(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    await async_setup_kitchen(hass)
    client = await hass_client()

    response = await client.post(
        "/api/jarvis/chat", json={"text": "turn on the kitchen light", "language": "en"}
    )
    events = await http_events(response)

    assert types(events) == ["start", "final"]
    final = events[-1][1]
    assert final["response"]["response_type"] == "action_done"
    assert final["response"]["data"]["success"][0]["id"] == KITCHEN_LIGHT
    assert hass.states.get(KITCHEN_LIGHT).state == "on"  # type: ignore[union-attr]
    assert fake_ollama.conversation_requests == []


async def test_unauthenticated_and_non_admin_calls_are_refused(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    hass_read_only_access_token: str,
    hass_ws_client: WebSocketGenerator,
) -> None:
    ws = Inbox(await hass_ws_client(hass, hass_read_only_access_token))  # before HTTP clients start
    anonymous = await hass_client_no_auth()
    response = await anonymous.post("/api/jarvis/chat", json={"text": "Tell me a story"})
    assert response.status == 401
    assert (await anonymous.get("/api/jarvis/health")).status == 401
    forged = await hass_client("not-a-token")
    assert (await forged.post("/api/jarvis/chat", json={"text": "hi"})).status == 401

    # A non-admin user may chat (as with HA's conversation API) but not read the health report.
    user = await hass_client(hass_read_only_access_token)
    assert (await user.get("/api/jarvis/health")).status == 401
    fake_ollama.queue(text_reply("Hello."), text_reply("Hi again."))
    events = await http_events(await user.post("/api/jarvis/chat", json={"text": "Tell me a joke"}))
    assert events[-1][1]["text"] == "Hello."
    events = await ws.chat(text="Tell me a joke")
    assert events[-1][1]["text"] == "Hi again."
    assert len(fake_ollama.conversation_requests) == 2  # the refused calls reached nothing


async def test_request_limits_and_errors(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_ws_client: WebSocketGenerator,
) -> None:
    ws = Inbox(await hass_ws_client(hass))
    client = await hass_client()

    async def http_error(body: Any, status: int, code: str) -> str:
        if isinstance(body, bytes):
            response = await client.post("/api/jarvis/chat", data=body)
        else:
            response = await client.post("/api/jarvis/chat", json=body)
        assert response.status == status, await response.text()
        error = await response.json()
        assert error["code"] == code
        message: str = error["message"]
        return message

    async def ws_error(fields: dict[str, Any], code: str, key: str | None) -> None:
        msg = await ws.receive(await ws.send({"type": "jarvis/chat", **fields}))
        assert not msg["success"]
        assert msg["error"]["code"] == code
        assert msg["error"].get("translation_key") == key

    too_long = "a" * (MAX_TEXT_CHARS + 1)
    assert "2000 characters" in await http_error({"text": too_long}, 400, "invalid_format")
    await ws_error({"text": too_long}, "invalid_format", "chat_text_too_long")
    assert "empty" in await http_error({"text": "  "}, 400, "invalid_format")
    await ws_error({"text": ""}, "invalid_format", "chat_text_empty")
    await http_error({"txt": "hi"}, 400, "invalid_format")
    await http_error(b"{not json", 400, "invalid_format")
    await ws_error({"text": 42}, "invalid_format", None)  # HA's schema check
    big = {"text": "hi", "conversation_id": "x" * MAX_BODY_BYTES}
    assert "bytes" in await http_error(big, 413, "too_large")
    assert "not a Jarvis" in await http_error(
        {"text": "hi", "agent_id": "conversation.home_assistant"}, 404, "not_found"
    )
    await ws_error(
        {"text": "hi", "agent_id": "conversation.home_assistant"}, "not_found", "agent_not_found"
    )
    assert fake_ollama.conversation_requests == []

    # One chat at a time per connection; the next one is accepted once it has ended.
    fake_ollama.queue(slow_story(), text_reply("Done."))
    first = await ws.start_chat(text="Tell me a story")
    await ws_error({"text": "And another"}, "not_allowed", "chat_busy")
    events = await ws.events(first)
    assert events[-1][1]["text"] == STORY
    events = await ws.chat(text="Thanks")
    assert events[-1][1]["text"] == "Done."

    await hass.config_entries.async_unload(setup_jarvis.entry_id)
    await hass.async_block_till_done()
    await http_error({"text": "hi"}, 404, "not_found")


def interrupted_turn() -> Reply:
    """A first word at once; 0.5 s later the model would turn the kitchen light on."""
    call = {"function": {"name": "intent__HassTurnOn", "arguments": {"name": "Kitchen Light"}}}
    return Reply([Chunk(content="Let me "), Chunk(tool_calls=[call], delay=0.5)])


@pytest.mark.parametrize("how", ["ws_unsubscribe", "ws_disconnect", "http_disconnect"])
async def test_leaving_mid_stream_cancels_the_turn(
    hass: HomeAssistant,
    fake_ollama: WatchedOllama,
    setup_jarvis: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_ws_client: WebSocketGenerator,
    how: str,
) -> None:
    await async_setup_kitchen(hass)
    fake_ollama.queue(interrupted_turn(), text_reply("The light is on."))
    text = "It is too dark in the kitchen"

    if how == "http_disconnect":
        client = await hass_client()
        response = await client.post("/api/jarvis/chat", json={"text": text})
        assert json.loads(await response.content.readline())["type"] == "start"
        assert json.loads(await response.content.readline()) == {"type": "delta", "text": "Let me "}
        response.close()
    else:
        ws = Inbox(await hass_ws_client(hass))
        msg_id = await ws.start_chat(text=text)
        start = (await ws.receive(msg_id))["event"]
        assert start["type"] == "start"
        assert (await ws.receive(msg_id))["event"] == {"type": "delta", "text": "Let me "}
        if how == "ws_unsubscribe":
            unsubscribe = {"type": "unsubscribe_events", "subscription": msg_id}
            assert (await ws.receive(await ws.send(unsubscribe)))["success"]
        else:
            await ws.ws.close()

    # The model's stream was closed by Jarvis: the fake server could not send the tool call.
    async with asyncio.timeout(5):
        await fake_ollama.aborted.wait()
    await asyncio.sleep(0.3)
    await hass.async_block_till_done()
    assert hass.states.get(KITCHEN_LIGHT).state != "on"  # type: ignore[union-attr]
    assert len(fake_ollama.conversation_requests) == 1  # no second model call
    assert len(fake_ollama.replies) == 1
    if how == "ws_unsubscribe":  # nothing more on that subscription; the connection chats again
        fake_ollama.replies.clear()
        fake_ollama.queue(text_reply("Still here."))
        events = await ws.chat(text="Are you there?", conversation_id=start["conversation_id"])
        assert types(events) == ["start", "delta", "delta", "final"]
        assert not ws._pending[msg_id]  # no event of the cancelled chat came meanwhile
        # The cancelled turn was not kept: its conversation id starts a new conversation.
        assert events[-1][1]["conversation_id"] != start["conversation_id"]
        messages = fake_ollama.conversation_requests[-1]["messages"]
        assert [m["content"] for m in messages[1:]] == ["Are you there?"]


async def test_health_reports_servers_and_agents_and_follows_the_server(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    client = await hass_client()
    fake_ollama.queue(text_reply("Hello."))
    await http_events(await client.post("/api/jarvis/chat", json={"text": "Tell me a joke"}))

    response = await client.get("/api/jarvis/health")
    assert response.status == 200
    text = await response.text()
    assert PASSWORD not in text
    health = json.loads(text)
    assert health["status"] == "ok"
    [server] = health["servers"]
    assert server["entry_id"] == setup_jarvis.entry_id
    assert server["url"] == f"http://**REDACTED**@127.0.0.1:{fake_ollama.port}"
    assert server["state"] == "loaded"
    assert server["reachable"] is True
    assert server["error"] is None
    assert server["version"] == "0.12.6"
    assert server["installed_models"] == [TEST_MODEL]
    assert server["loaded_models"] == [TEST_MODEL]
    [agent] = server["agents"]
    assert agent["agent_id"] == agent_id(hass)
    assert agent["name"] == "Jarvis"
    assert agent["model"] == TEST_MODEL
    assert agent["model_installed"] is True
    assert agent["model_loaded"] is True
    assert agent["last_response"]["local"] is False
    assert agent["last_response"]["latency_ms"] > 0
    assert "prompt" not in text.lower()

    await fake_ollama.stop()
    health = await (await client.get("/api/jarvis/health")).json()
    assert health["status"] == "degraded"
    [server] = health["servers"]
    assert server["reachable"] is False
    assert server["error"] == "cannot_connect"
    assert server["loaded_models"] == []
    assert server["agents"][0]["model_loaded"] is None
    assert server["agents"][0]["last_response"]["latency_ms"] > 0  # kept while it is down

    fake_ollama.loaded.clear()
    await fake_ollama.start()
    health = await (await client.get("/api/jarvis/health")).json()
    assert health["status"] == "ok"
    assert health["servers"][0]["loaded_models"] == []  # the restarted server loaded nothing
    assert health["servers"][0]["agents"][0]["model_loaded"] is False

    await hass.config_entries.async_unload(setup_jarvis.entry_id)
    health = await (await client.get("/api/jarvis/health")).json()
    assert health["status"] == "degraded"
    assert health["servers"][0]["state"] == "not_loaded"
    assert health["servers"][0]["reachable"] is None
