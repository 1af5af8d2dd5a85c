"""The chat API inside HA: WebSocket command `jarvis/chat`, plus the HTTP views' registration.

`jarvis/chat` is a subscription, as HA's `assist_pipeline/run`: the result message confirms the
request, then the turn's events (see chat.py) arrive as event messages with the same id. One
chat at a time per connection. Unsubscribing (`unsubscribe_events`) or disconnecting cancels the
turn: the model stops generating and no further tool is called. As with `assist_pipeline/run`,
the subscription outlives its final event, so unsubscribing after it succeeds; an ended chat's
subscription is dropped when the connection starts its next chat.
Any authenticated user may chat, as with HA's `conversation/process`.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_NOT_ALLOWED
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.core import HomeAssistant, callback

from .chat import CHAT_FIELDS, ChatRequestError, async_run_chat, checked_request
from .http_api import async_register_views

WS_CHAT = "jarvis/chat"


class ChatSubscription:
    """What `connection.subscriptions` holds for a chat: calling it cancels the chat."""

    def __init__(self) -> None:
        """No task yet: the subscription is registered before the turn starts."""
        self.task: asyncio.Task[None] | None = None
        self.ended = False

    def __call__(self) -> None:
        """Cancel the chat (the client unsubscribed or went away)."""
        if self.task is not None:
            self.task.cancel()


def chat_running(connection: ActiveConnection) -> bool:
    """Whether a chat of this connection is running; forgets the chats that have ended."""
    running = False
    for msg_id, sub in list(connection.subscriptions.items()):
        if isinstance(sub, ChatSubscription):
            if sub.ended:
                del connection.subscriptions[msg_id]
            else:
                running = True
    return running


@websocket_command({"type": WS_CHAT, **CHAT_FIELDS})
@callback
def websocket_chat(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Start a chat turn and stream its events to the connection."""
    msg_id: int = msg["id"]
    if chat_running(connection):
        busy = ChatRequestError("chat_busy", ERR_NOT_ALLOWED, HTTPStatus.CONFLICT)
        _send_refusal(connection, msg_id, busy)
        return
    try:
        request = checked_request(hass, msg)
    except ChatRequestError as err:
        _send_refusal(connection, msg_id, err)
        return

    subscription = ChatSubscription()
    connection.subscriptions[msg_id] = subscription
    connection.send_result(msg_id)

    async def run() -> None:
        try:
            await async_run_chat(
                hass,
                request,
                connection.context(msg),
                lambda event: connection.send_event(msg_id, event),
            )
        finally:
            subscription.ended = True

    subscription.task = hass.async_create_background_task(run(), f"jarvis chat {msg_id}")


def _send_refusal(connection: ActiveConnection, msg_id: int, err: ChatRequestError) -> None:
    connection.send_error(
        msg_id,
        err.code,
        str(err),
        translation_key=err.translation_key,
        translation_domain=err.translation_domain,
        translation_placeholders=err.translation_placeholders,
    )


@callback
def async_setup_chat_api(hass: HomeAssistant) -> None:
    """Register `jarvis/chat`, `POST /api/jarvis/chat` and `GET /api/jarvis/health`."""
    async_register_command(hass, websocket_chat)
    async_register_views(hass)
