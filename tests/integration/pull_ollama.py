"""The fake Ollama server, plus `/api/pull` (download a model from a catalogue, streamed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .fake_ollama import FakeOllama

MISSING_MANIFEST = "pull model manifest: file does not exist"


class PullingOllama(FakeOllama):
    """A server that can `ollama pull` the models of `catalogue`, as Ollama streams it."""

    def __init__(self, models: list[str], catalogue: list[str], step_delay: float = 0.01) -> None:
        super().__init__(models=models)
        self.catalogue = catalogue
        self.step_delay = step_delay
        self.pulled: list[str] = []
        self.cut_off: list[str] = []  # models whose download the connection drops half way

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_post("/api/pull", self._pull)

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        name = str(body.get("model", ""))
        name = name if ":" in name else f"{name}:latest"
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)

        async def line(part: dict[str, Any]) -> None:
            await response.write((json.dumps(part) + "\n").encode())
            await asyncio.sleep(self.step_delay)

        await line({"status": "pulling manifest"})
        if name not in self.catalogue:
            # The client stops reading at the error line and closes the connection.
            await response.write((json.dumps({"error": MISSING_MANIFEST}) + "\n").encode())
            return response
        total = 2_019_393_189
        if name in self.cut_off:
            await line({"status": "pulling dde5aa3fc5ff", "total": total, "completed": 0})
            assert request.transport is not None
            request.transport.close()  # e.g. the server restarted
            return response
        for completed in (0, total // 2, total):
            await line(
                {
                    "status": "pulling dde5aa3fc5ff",
                    "digest": "sha256:dde5aa3fc5ff",
                    "total": total,
                    "completed": completed,
                }
            )
        await line({"status": "verifying sha256 digest"})
        self.models.append(name)
        self.pulled.append(name)
        await line({"status": "success"})
        await response.write_eof()
        return response
