"""An Ollama-protocol HTTP server for tests, driven by scripted replies.

It speaks the parts of Ollama's REST API that Jarvis uses (version, tags, show, ps, chat with
NDJSON streaming, thinking and tool calls) over real HTTP on 127.0.0.1, and records every
request it receives so tests can check what the real `ollama` client sent.
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

OLLAMA_VERSION = "0.12.6"
DEFAULT_CAPABILITIES = ("completion", "tools", "thinking")
DEFAULT_CONTEXT_LENGTH = 131072


@dataclass(slots=True)
class Chunk:
    """One streamed line of a chat reply."""

    content: str = ""
    thinking: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # [{"function": {"name", "arguments"}}]
    delay: float = 0.0  # seconds to wait before sending this chunk
    raw: bytes | None = None  # sent as is instead of a JSON line (to test bad servers)


@dataclass(slots=True)
class Reply:
    """A scripted answer to one /api/chat request."""

    chunks: list[Chunk] = field(default_factory=list)
    status: int = 200  # non-200: answer with {"error": error} and this status
    error: str = ""
    stream_error: str | None = None  # sent as an {"error": ...} line after the chunks
    eval_count: int = 42
    eval_duration_ns: int = 500_000_000
    prompt_eval_count: int = 120
    prompt_eval_duration_ns: int = 50_000_000


@dataclass(slots=True)
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    body: dict[str, Any]
    at: float  # time.perf_counter() on arrival


def text_reply(text: str, *, words_per_chunk: int = 1, delay: float = 0.0) -> Reply:
    """A reply streaming `text` in small pieces (the first after `delay`)."""
    words = text.split(" ")
    pieces = [
        " ".join(words[i : i + words_per_chunk]) + " "
        for i in range(0, len(words), words_per_chunk)
    ]
    pieces[-1] = pieces[-1].rstrip(" ")
    chunks = [Chunk(content=piece) for piece in pieces]
    chunks[0].delay = delay
    return Reply(chunks=chunks)


def tool_call_reply(name: str, arguments: dict[str, Any], *, delay: float = 0.0) -> Reply:
    """A reply in which the model asks for one tool call (as Ollama streams it)."""
    call = {"function": {"name": name, "arguments": arguments}}
    return Reply(chunks=[Chunk(tool_calls=[call], delay=delay)])


def error_reply(status: int, error: str) -> Reply:
    """An HTTP error answer, e.g. 404 'model "x" not found, try pulling it first'."""
    return Reply(status=status, error=error)


def model_not_found(model: str) -> Reply:
    """Ollama's answer when the model is not pulled."""
    return error_reply(404, f'model "{model}" not found, try pulling it first')


class FakeOllama:
    """The server. `await start()`, queue replies, point a client at `url`, `await stop()`."""

    def __init__(self, models: list[str] | None = None, load_delay: float = 0.0) -> None:
        self.models: list[str] = models if models is not None else ["llama3.2:latest"]
        self.load_delay = load_delay  # seconds a chat waits while its model "loads" (cold start)
        # What each model can do (as /api/show says); DEFAULT_CAPABILITIES when not listed.
        self.capabilities: dict[str, list[str]] = {}
        # The context length /api/show gives for a model; DEFAULT_CONTEXT_LENGTH when not listed.
        self.context_lengths: dict[str, int] = {}
        self.replies: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.loaded: set[str] = set()  # models "in memory" (/api/ps); clear it for a cold start
        self._load_locks: dict[str, asyncio.Lock] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    # -- scripting -------------------------------------------------------------------------

    def queue(self, *replies: Reply) -> None:
        """Answer the next chat requests with these replies, in order."""
        self.replies.extend(replies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the /api/chat requests received so far (warm-ups included)."""
        return [r.body for r in self.requests if r.path == "/api/chat"]

    @property
    def conversation_requests(self) -> list[dict[str, Any]]:
        """Chat requests that carried messages (model warm-ups have none)."""
        return [body for body in self.chat_requests if body.get("messages")]

    # -- lifecycle ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """The API this server speaks (subclasses add more)."""
        app.router.add_get("/", self._root)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/show", self._show)
        app.router.add_post("/api/chat", self._chat)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop answering (the port then refuses connections); `start()` resumes on it."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ----------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if request.can_read_body:
            body = json.loads(await request.read() or b"{}")
        self.requests.append(
            RecordedRequest(request.method, request.path, body, time.perf_counter())
        )
        return body

    async def _root(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(text="Ollama is running")

    async def _version(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"version": OLLAMA_VERSION})

    def _model_entry(self, name: str) -> dict[str, Any]:
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

    async def _tags(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"models": [self._model_entry(m) for m in self.models]})

    async def _ps(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response(
            {"models": [self._model_entry(m) | {"size_vram": 0} for m in sorted(self.loaded)]}
        )

    async def _load(self, model: str) -> None:
        """Wait while a cold model loads; requests arriving meanwhile wait for the same load."""
        async with self._load_locks.setdefault(model, asyncio.Lock()):
            if model not in self.loaded:
                if self.load_delay:
                    await asyncio.sleep(self.load_delay)
                self.loaded.add(model)

    def _capabilities(self, name: str) -> list[str] | tuple[str, ...]:
        return self.capabilities.get(name, DEFAULT_CAPABILITIES)

    def _known(self, name: str) -> bool:
        return name in self.models or f"{name}:latest" in self.models

    async def _show(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        name = body.get("model") or body.get("name") or ""
        if not self._known(name):
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        return web.json_response(
            {
                "modelfile": f"FROM {name}",
                "parameters": "stop <|eot_id|>",
                "template": "{{ .Prompt }}",
                "details": self._model_entry(name)["details"],
                "model_info": {
                    "general.architecture": "llama",
                    "llama.context_length": self.context_lengths.get(name, DEFAULT_CONTEXT_LENGTH),
                },
                "capabilities": list(self._capabilities(name)),
                "modified_at": "2026-11-01T10:00:00Z",
            }
        )

    def _line(self, model: str, message: dict[str, Any], **extra: Any) -> bytes:
        created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        line = {"model": model, "created_at": created, "message": message, "done": False}
        return (json.dumps(line | extra) + "\n").encode()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = body.get("model", "")
        if not self._known(model):
            return web.json_response(
                {"error": f'model "{model}" not found, try pulling it first'}, status=404
            )
        if body.get("tools") and "tools" not in self._capabilities(model):
            return web.json_response(
                {"error": f"registry.ollama.ai/library/{model} does not support tools"}, status=400
            )
        if body.get("think") is True and "thinking" not in self._capabilities(model):
            return web.json_response({"error": f'"{model}" does not support thinking'}, status=400)
        await self._load(model)
        if not body.get("messages"):
            # Ollama's way to load a model: an empty chat request, answered once it is loaded.
            return web.json_response(
                {
                    "model": model,
                    "created_at": "2026-11-25T18:00:00Z",
                    "message": {"role": "assistant", "content": ""},
                    "done_reason": "load",
                    "done": True,
                }
            )
        if not self.replies:
            return web.json_response({"error": "fake_ollama: no scripted reply left"}, status=500)
        reply = self.replies.popleft()
        if reply.status != 200:
            return web.json_response({"error": reply.error}, status=reply.status)
        stream = body.get("stream", True)
        if not stream:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(c.content for c in reply.chunks),
            }
            calls = [call for c in reply.chunks for call in c.tool_calls or ()]
            if calls:
                message["tool_calls"] = calls
            line = json.loads(self._line(model, message, done=True, done_reason="stop"))
            return web.json_response(line)

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        started = time.perf_counter_ns()
        for chunk in reply.chunks:
            if chunk.delay:
                await asyncio.sleep(chunk.delay)
            if chunk.raw is not None:
                await response.write(chunk.raw)
                continue
            message = {"role": "assistant", "content": chunk.content}
            if chunk.thinking is not None:
                message["thinking"] = chunk.thinking
            if chunk.tool_calls is not None:
                message["tool_calls"] = chunk.tool_calls
            await response.write(self._line(model, message))
        if reply.stream_error is not None:
            await response.write((json.dumps({"error": reply.stream_error}) + "\n").encode())
            await response.write_eof()
            return response
        total = time.perf_counter_ns() - started
        await response.write(
            self._line(
                model,
                {"role": "assistant", "content": ""},
                done=True,
                done_reason="stop",
                total_duration=total + reply.eval_duration_ns,
                load_duration=1_000_000,
                prompt_eval_count=reply.prompt_eval_count,
                prompt_eval_duration=reply.prompt_eval_duration_ns,
                eval_count=reply.eval_count,
                eval_duration=reply.eval_duration_ns,
            )
        )
        await response.write_eof()
        return response
