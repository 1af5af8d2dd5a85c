"""The fake Ollama server, plus `/api/embed`: deterministic embeddings of words and synonyms.

A text's vector counts its words, each mapped to a concept first (`concepts`: "bicycle" ->
"bike"), hashed into a fixed number of dimensions: texts sharing concepts are close, texts
sharing none are orthogonal. That is enough to tell a search by meaning from one by words.
"""

from __future__ import annotations

import re
import zlib

from aiohttp import web

from .fake_ollama import FakeOllama

DIMENSIONS = 256


class EmbeddingOllama(FakeOllama):
    """A server whose `embed_models` answer `/api/embed` as Ollama does."""

    def __init__(
        self, models: list[str], embed_models: list[str], concepts: dict[str, str]
    ) -> None:
        super().__init__(models=[*models, *embed_models])
        self.embed_models = embed_models
        self.concepts = concepts

    @property
    def embedded(self) -> list[str]:
        """Every text embedded so far, in order."""
        texts: list[str] = []
        for request in self.requests:
            if request.path == "/api/embed":
                inputs = request.body.get("input")
                texts += [inputs] if isinstance(inputs, str) else list(inputs or [])
        return texts

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_post("/api/embed", self._embed)

    def vector(self, text: str) -> list[float]:
        vector = [0.0] * DIMENSIONS
        for word in re.findall(r"\w+", text.casefold()):
            concept = self.concepts.get(word, word)
            vector[zlib.crc32(concept.encode()) % DIMENSIONS] += 1.0
        return vector

    async def _embed(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        model = str(body.get("model", ""))
        if model not in self.embed_models:
            return web.json_response(
                {"error": f'model "{model}" not found, try pulling it first'}, status=404
            )
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        return web.json_response(
            {
                "model": model,
                "embeddings": [self.vector(text) for text in texts],
                "total_duration": 1_000_000,
                "load_duration": 100_000,
                "prompt_eval_count": sum(len(t.split()) for t in texts),
            }
        )
