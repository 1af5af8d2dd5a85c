"""A scripted Ollama server for the benchmarks: real HTTP on 127.0.0.1, canned chat replies.

It speaks the parts of Ollama's REST API that Jarvis and HA core's `ollama` agent use (version,
tags, show, ps, streamed chat with tool calls), waits `load_delay` seconds the first time a model
is asked for (a cold model), and counts the chat requests it gets.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
import time
from typing import Any

from aiohttp import web

VERSION = "0.12.6"


@dataclass(slots=True)
class Chunk:
    """One streamed line of a chat reply, sent `delay` seconds after the previous one."""

    content: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    delay: float = 0.0


@dataclass(slots=True)
class Reply:
    """The answer to one chat request."""

    chunks: list[Chunk] = field(default_factory=list)


def text_reply(text: str, *, delay: float = 0.0) -> Reply:
    """`text` streamed word by word, the first word after `delay` seconds."""
    words = text.split(" ")
    chunks = [Chunk(content=word + " ") for word in words[:-1]] + [Chunk(content=words[-1])]
    chunks[0].delay = delay
    return Reply(chunks)


def tool_call_reply(name: str, arguments: dict[str, Any], *, delay: float = 0.0) -> Reply:
    """The model asks for one tool call."""
    call = {"function": {"name": name, "arguments": arguments}}
    return Reply([Chunk(tool_calls=[call], delay=delay)])


class OllamaStub:
    """`await start()`, `queue()` replies, point a client at `url`, `await stop()`."""

    def __init__(self, models: list[str]) -> None:
        """Serve these model names."""
        self.models = models
        self.load_delay = 0.0  # seconds a chat waits while its model "loads"
        self.loaded: set[str] = set()  # models in memory; clear it for a cold start
        self.conversation_requests = 0  # chat requests with messages (not model loads)
        self.last_chat: dict[str, Any] = {}  # body of the last chat request with messages
        self.last_chat_at = 0.0  # time.perf_counter() when it arrived
        self._replies: deque[Reply] = deque()
        self._load_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def queue(self, *replies: Reply) -> None:
        """Answer the next chat requests with these replies, in order."""
        self._replies.extend(replies)

    async def start(self) -> None:
        """Listen on a free port."""
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/show", self._show)
        app.router.add_post("/api/chat", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _model(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2026-11-01T10:00:00Z",
            "size": 2_019_393_189,
            "digest": "a80c4f17acd5" + "0" * 52,
            "details": {
                "format": "gguf",
                "family": name.split(":", maxsplit=1)[0],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        }

    async def _root(self, _request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def _version(self, _request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def _tags(self, _request: web.Request) -> web.Response:
        return web.json_response({"models": [self._model(m) for m in self.models]})

    async def _ps(self, _request: web.Request) -> web.Response:
        loaded = [self._model(m) | {"size_vram": 0} for m in sorted(self.loaded)]
        return web.json_response({"models": loaded})

    async def _show(self, request: web.Request) -> web.Response:
        body = await request.json()
        name = body.get("model") or body.get("name") or ""
        return web.json_response(
            {
                "modelfile": f"FROM {name}",
                "template": "{{ .Prompt }}",
                "details": self._model(name)["details"],
                "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
                "capabilities": ["completion", "tools"],
                "modified_at": "2026-11-01T10:00:00Z",
            }
        )

    def _line(self, model: str, message: dict[str, Any], **extra: Any) -> bytes:
        created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        line = {"model": model, "created_at": created, "message": message, "done": False}
        return (json.dumps(line | extra) + "\n").encode()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        arrived = time.perf_counter()
        body = await request.json()
        model = body.get("model", "")
        async with self._load_lock:
            if model not in self.loaded and self.load_delay:
                await asyncio.sleep(self.load_delay)
            if model not in self.loaded:
                self.loaded.add(model)
        if not body.get("messages"):  # Ollama's way to load a model: an empty chat
            empty = {"role": "assistant", "content": ""}
            return web.json_response(json.loads(self._line(model, empty, done=True)))
        self.conversation_requests += 1
        self.last_chat, self.last_chat_at = body, arrived
        if not self._replies:
            return web.json_response({"error": "ollama_stub: no reply queued"}, status=500)
        reply = self._replies.popleft()
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for chunk in reply.chunks:
            if chunk.delay:
                await asyncio.sleep(chunk.delay)
            message: dict[str, Any] = {"role": "assistant", "content": chunk.content}
            if chunk.tool_calls is not None:
                message["tool_calls"] = chunk.tool_calls
            await response.write(self._line(model, message))
        done = {"role": "assistant", "content": ""}
        await response.write(
            self._line(
                model,
                done,
                done=True,
                done_reason="stop",
                total_duration=600_000_000,
                load_duration=1_000_000,
                prompt_eval_count=120,
                prompt_eval_duration=50_000_000,
                eval_count=42,
                eval_duration=500_000_000,
            )
        )
        await response.write_eof()
        return response
