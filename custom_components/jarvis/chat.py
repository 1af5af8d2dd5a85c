"""One chat turn with a Jarvis agent, streamed as events (the chat API's core).

The WebSocket command `jarvis/chat` and `POST /api/jarvis/chat` both run a turn here and send
the same events, in this order:
- `start`: the conversation id (new, or the one continued) and the agent;
- while the model writes: `delta` (reply text), `thinking` (a thinking model's text),
  `tool_call` (the model asked for a tool; HA runs it at once) and `tool_result`;
- `final`: HA's conversation result (the full response, conversation id, continue flag), or
  `error` when something unexpected stopped the turn.
A command HA's own intents handle (local first) has no model, so no deltas: `start`, `final`.

The turn goes through HA's conversation API like a pipeline run: a chat session and chat log
opened here with a delta listener, then `conversation.async_converse`, so the agent's local
first, safe actions, tools and memory apply unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.websocket_api.const import (
    ERR_INVALID_FORMAT,
    ERR_NOT_FOUND,
    ERR_UNKNOWN_ERROR,
)
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import chat_session, intent, llm
from homeassistant.helpers.typing import VolDictType
import probatio

from .const import DOMAIN, LOGGER
from .services import jarvis_agents

MAX_TEXT_CHARS = 2000  # longest request text; a spoken request is a few hundred at most
MAX_BODY_BYTES = 32 * 1024  # largest HTTP request body (2,000 escaped characters fit)

ATTR_TEXT = "text"
ATTR_AGENT_ID = "agent_id"
ATTR_LANGUAGE = "language"
ATTR_CONVERSATION_ID = "conversation_id"
ATTR_DEVICE_ID = "device_id"

# The request's fields, for the WebSocket command and the HTTP body alike.
CHAT_FIELDS: VolDictType = {
    probatio.Required(ATTR_TEXT): str,
    probatio.Optional(ATTR_AGENT_ID): probatio.Any(str, None),
    probatio.Optional(ATTR_LANGUAGE): probatio.Any(str, None),
    probatio.Optional(ATTR_CONVERSATION_ID): probatio.Any(str, None),
    probatio.Optional(ATTR_DEVICE_ID): probatio.Any(str, None),
}

type Event = dict[str, Any]
type EventSink = Callable[[Event], None]


class ChatRequestError(HomeAssistantError):
    """A chat request refused before it starts: translated, with its WebSocket code and HTTP status."""

    def __init__(self, key: str, code: str, status: HTTPStatus, **placeholders: str) -> None:
        """Refuse with the exception translation `key`."""
        super().__init__(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders or None,
        )
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A checked chat request."""

    text: str
    agent_id: str  # a loaded Jarvis conversation entity
    language: str | None = None
    conversation_id: str | None = None
    device_id: str | None = None


def checked_request(hass: HomeAssistant, data: Mapping[str, Any]) -> ChatRequest:
    """The request in `data` (fields already of the right types), or ChatRequestError.

    The text must hold something and at most MAX_TEXT_CHARS characters; the agent must be a
    loaded Jarvis agent (default: the first one).
    """
    text: str = data[ATTR_TEXT]
    if not text.strip():
        raise ChatRequestError("chat_text_empty", ERR_INVALID_FORMAT, HTTPStatus.BAD_REQUEST)
    if len(text) > MAX_TEXT_CHARS:
        raise ChatRequestError(
            "chat_text_too_long",
            ERR_INVALID_FORMAT,
            HTTPStatus.BAD_REQUEST,
            max_chars=str(MAX_TEXT_CHARS),
        )
    agents = jarvis_agents(hass)
    agent_id: str | None = data.get(ATTR_AGENT_ID)
    if agent_id is None:
        if not agents:
            raise ChatRequestError("no_agent", ERR_NOT_FOUND, HTTPStatus.NOT_FOUND)
        agent_id = agents[0]
    elif agent_id not in agents:
        raise ChatRequestError(
            "agent_not_found",
            ERR_NOT_FOUND,
            HTTPStatus.NOT_FOUND,
            agent_id=agent_id,
        )
    return ChatRequest(
        text=text,
        agent_id=agent_id,
        language=data.get(ATTR_LANGUAGE),
        conversation_id=data.get(ATTR_CONVERSATION_ID),
        device_id=data.get(ATTR_DEVICE_ID),
    )


def delta_events(delta: Mapping[str, Any]) -> Iterator[Event]:
    """The events of one chat log delta (what HA's ChatLog gives its delta listener)."""
    if delta.get("role") == "tool_result":
        result = delta.get("result") or {}
        yield {
            "type": "tool_result",
            "tool_call_id": delta.get("tool_call_id"),
            "tool_name": delta.get("tool_name"),
            "result": result.get("data"),
            "error": bool(result.get("error")),
        }
        return
    if thinking := delta.get("thinking_content"):
        yield {"type": "thinking", "text": thinking}
    if text := delta.get("content"):
        yield {"type": "delta", "text": text}
    for call in delta.get("tool_calls") or ():
        if isinstance(call, llm.ToolInput):
            yield {
                "type": "tool_call",
                "tool_call_id": call.id,
                "tool_name": call.tool_name,
                "tool_args": call.tool_args,
            }


def final_event(result: conversation.ConversationResult, agent_id: str) -> Event:
    """The last event: HA's conversation result, plus the reply's text and whether it failed."""
    response = result.response
    return {
        "type": "final",
        **result.as_dict(),
        "agent_id": agent_id,
        "text": response.speech.get("plain", {}).get("speech", ""),
        "error": response.response_type is intent.IntentResponseType.ERROR,
    }


async def async_run_chat(
    hass: HomeAssistant, request: ChatRequest, context: Context, emit: EventSink
) -> None:
    """Run one turn, handing each event to `emit` as it happens (from the event loop).

    Cancelling the task that runs this cancels the agent's work: the model's stream is closed
    (Ollama stops generating) and no tool call that was not yet made is made.
    """

    def on_delta(_chat_log: conversation.ChatLog, delta: dict[str, Any]) -> None:
        for event in delta_events(delta):
            emit(event)

    try:
        with (
            chat_session.async_get_chat_session(hass, request.conversation_id) as session,
            conversation.async_get_chat_log(hass, session, chat_log_delta_listener=on_delta),
        ):
            emit(
                {
                    "type": "start",
                    "conversation_id": session.conversation_id,
                    "agent_id": request.agent_id,
                }
            )
            result = await conversation.async_converse(
                hass,
                request.text,
                session.conversation_id,
                context,
                language=request.language,
                agent_id=request.agent_id,
                device_id=request.device_id,
            )
    except Exception:  # noqa: BLE001
        # The stream ends with an error event, not a crash; the details go to HA's log only.
        LOGGER.exception("Chat with %s failed", request.agent_id)
        emit({"type": "error", "code": ERR_UNKNOWN_ERROR, "message": "Unknown error"})
        return
    emit(final_event(result, request.agent_id))
