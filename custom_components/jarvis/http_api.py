"""HTTP views of the chat API: `POST /api/jarvis/chat` (NDJSON stream), `GET /api/jarvis/health`.

Both are HA views (`HomeAssistantView`): a call without a valid token gets HA's 401. Chatting is
open to any authenticated user, as HA's `/api/conversation/process`; the health report is for
admins (401 otherwise, as HA's admin-only views answer).

The chat answers `200` with `application/x-ndjson`: one JSON object a line, the events of
chat.py, flushed as they happen. A request refused before it starts gets HA's JSON error
(`{"message", "code"}`): 400 (not JSON, wrong fields, empty or too long text), 404 (no such
Jarvis agent), 413 (body over MAX_BODY_BYTES). A client that disconnects cancels the turn.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from aiohttp import web
from homeassistant.components.http.decorators import require_admin
from homeassistant.components.websocket_api.const import ERR_INVALID_FORMAT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.json import json_bytes
from homeassistant.util.json import json_loads
import probatio
from probatio.humanize import humanize_error

from .chat import (
    CHAT_FIELDS,
    MAX_BODY_BYTES,
    ChatRequest,
    ChatRequestError,
    Event,
    async_run_chat,
    checked_request,
)
from .const import LOGGER
from .health import async_health_report

CHAT_SCHEMA = probatio.Schema(CHAT_FIELDS)
NDJSON = "application/x-ndjson"
HELD_EVENTS = frozenset({"start"})  # written with the event that follows them


async def _read_body(request: web.Request) -> bytes:
    """The request body, refused (413) past MAX_BODY_BYTES without reading more."""
    too_large = ChatRequestError(
        "chat_body_too_large",
        "too_large",
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        max_bytes=str(MAX_BODY_BYTES),
    )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


async def async_chat_request(hass: HomeAssistant, request: web.Request) -> ChatRequest:
    """The checked chat request of an HTTP call, or ChatRequestError."""
    body = await _read_body(request)
    try:
        data = json_loads(body)
    except ValueError as err:
        raise ChatRequestError(
            "chat_invalid_request",
            ERR_INVALID_FORMAT,
            HTTPStatus.BAD_REQUEST,
            error="the body is not JSON",
        ) from err
    try:
        checked = CHAT_SCHEMA(data)
    except probatio.Invalid as err:
        raise ChatRequestError(
            "chat_invalid_request",
            ERR_INVALID_FORMAT,
            HTTPStatus.BAD_REQUEST,
            error=humanize_error(data, err),
        ) from err
    return checked_request(hass, checked)


class ChatView(HomeAssistantView):
    """`POST /api/jarvis/chat`: a chat turn streamed as NDJSON."""

    url = "/api/jarvis/chat"
    name = "api:jarvis:chat"

    async def post(self, request: web.Request) -> web.StreamResponse:
        """Run the turn; write each event as a line as soon as it happens."""
        hass = request.app[KEY_HASS]
        try:
            chat = await async_chat_request(hass, request)
        except ChatRequestError as err:
            return self.json_message(str(err), err.status, err.code)

        response = web.StreamResponse(
            headers={
                "Content-Type": NDJSON,
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # reverse proxies (nginx) pass lines on at once
            }
        )
        await response.prepare(request)
        events: asyncio.Queue[Event | None] = asyncio.Queue()

        async def run() -> None:
            try:
                await async_run_chat(hass, chat, self.context(request), events.put_nowait)
            finally:
                events.put_nowait(None)  # the end of the stream

        task = hass.async_create_background_task(run(), "jarvis chat (HTTP)")
        try:
            await _async_write_events(response, events)
        except ConnectionResetError:
            LOGGER.debug("Chat client went away; the turn is cancelled")
        finally:
            # Done already, or the client went away (HA cancels this handler then).
            task.cancel()
        return response


async def _async_write_events(
    response: web.StreamResponse, events: asyncio.Queue[Event | None]
) -> None:
    """Write the events as NDJSON, then end the response.

    Events queued together go in one write, the last ones with the end of the body; `start`
    waits for the event after it (nothing to show yet), so a turn done at once is one write.
    """
    held = b""
    while True:
        batch = [await events.get()]
        while not events.empty():
            batch.append(events.get_nowait())
        end = batch[-1] is None  # the end marker is always the last event queued
        lines = held + b"".join(json_bytes(event) + b"\n" for event in batch if event is not None)
        if end:
            await response.write_eof(lines)
            return
        if all(event is not None and event["type"] in HELD_EVENTS for event in batch):
            held = lines
            continue
        held = b""
        await response.write(lines)


class HealthView(HomeAssistantView):
    """`GET /api/jarvis/health`: each Ollama server and its agents (admins only)."""

    url = "/api/jarvis/health"
    name = "api:jarvis:health"

    @require_admin
    async def get(self, request: web.Request) -> web.Response:
        """The health report (see health.py)."""
        report: dict[str, Any] = await async_health_report(request.app[KEY_HASS])
        return self.json(report)


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the chat and health views on HA's HTTP server."""
    hass.http.register_view(ChatView())
    hass.http.register_view(HealthView())
