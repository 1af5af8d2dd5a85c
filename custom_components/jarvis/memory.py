"""Long-term memory: remember, recall and forget, offered to the model as Jarvis's tools.

Facts are stored in an SQLite file in HA's config folder (memory_store.py) and found by their
words (FTS5); when an agent names an embedding model in its options, also by meaning, through
Ollama's `embed` endpoint of that agent's server. Memory texts go nowhere else: embeddings are
only asked of a server on the home network (loopback, private or link-local address, or a local
host name), never of an Ollama cloud model.

Who sees what: a conversation sees the home's memories, those of the room it comes from (the
satellite's area) and, when HA knows the user (typed in HA's UI, an app), that user's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
import ipaddress
from pathlib import Path
from typing import Any, cast, override
from urllib.parse import urlsplit

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import llm
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.json import JsonObjectType, JsonValueType
import httpx
import ollama
import probatio
import pydantic

from .const import CONF_EMBED_MODEL, DOMAIN, LOGGER, SUBENTRY_CONVERSATION
from .memory_store import (
    MAX_MEMORIES,
    MAX_TEXT_CHARS,
    SCOPE_HOME,
    SCOPE_PERSONAL,
    SCOPE_ROOM,
    SCOPES,
    Memory,
    MemoryFullError,
    MemoryStore,
    Viewer,
    pack_vector,
    similarity,
    unpack_vector,
)
from .runtime import JarvisConfigEntry

MEMORY_FILE = "jarvis_memory.db"
DATA_MEMORY: HassKey[JarvisMemory] = HassKey(f"{DOMAIN}_memory")

RECALL_LIMIT = 5  # memories a recall returns
FORGET_LIMIT = 20  # memories one "forget X" may erase; more needs the action
MIN_SIMILARITY = 0.4  # cosine below which a memory is not "about" the query
RRF_K = 60  # reciprocal rank fusion of the word and meaning rankings
EMBED_TIMEOUT = 15.0  # seconds for one embed request
BACKFILL_BATCH = 32  # memories embedded per recall when the model changed or was added
LOCAL_SUFFIXES = (".local", ".lan", ".home", ".internal", ".home.arpa", ".localdomain")

# What a failing embed request raises through the ollama client.
EMBED_ERRORS = (
    ollama.ResponseError,
    ConnectionError,
    TimeoutError,
    httpx.HTTPError,
    ValueError,
    pydantic.ValidationError,
)

MEMORY_PROMPT = (
    "You have a long-term memory. When the user asks you to remember something, call "
    "jarvis__Remember. Before saying you do not know something the user may have told you "
    "earlier (a code, a date, where something is), call jarvis__Recall. When asked to forget "
    "something, call jarvis__Forget."
)


def is_home_address(url: str) -> bool:
    """Whether the server at `url` is on the home network (loopback, private, local name)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(LOCAL_SUFFIXES)
    return address.is_private or address.is_loopback or address.is_link_local


def is_cloud_model(model: str) -> bool:
    """Ollama's cloud models (`gpt-oss:120b-cloud`, `x:cloud`) run outside the home."""
    return model.rpartition(":")[2].endswith("cloud") or model.endswith("-cloud")


@dataclass(frozen=True, slots=True)
class Embedder:
    """An embedding model on a Jarvis entry's Ollama server."""

    client: ollama.AsyncClient
    model: str

    async def async_embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""
        async with asyncio.timeout(EMBED_TIMEOUT):
            response = await self.client.embed(model=self.model, input=list(texts))
        vectors = [list(vector) for vector in response.embeddings]
        if len(vectors) != len(texts):
            raise ValueError(f"{len(vectors)} embeddings for {len(texts)} texts")
        return vectors


class ForgetTooManyError(Exception):
    """A "forget" request matches more than FORGET_LIMIT memories."""

    def __init__(self, count: int) -> None:
        """`count` memories matched."""
        super().__init__(f"{count} memories match")
        self.count = count


@dataclass
class JarvisMemory:
    """The memory of this HA instance (one per HA, shared by every agent and entry)."""

    hass: HomeAssistant
    store: MemoryStore
    _warned: set[str] = field(default_factory=set)

    async def _run[T](self, func: Callable[..., T], *args: Any) -> T:
        return await self.hass.async_add_executor_job(func, *args)

    # -- embeddings --------------------------------------------------------------------------

    @callback
    def embedder(self) -> Embedder | None:
        """The embedding model of the first loaded agent that names one (None: words only)."""
        for entry in self.hass.config_entries.async_loaded_entries(DOMAIN):
            for subentry in entry.subentries.values():
                model = str(subentry.data.get(CONF_EMBED_MODEL) or "").strip()
                if subentry.subentry_type != SUBENTRY_CONVERSATION or not model:
                    continue
                if is_cloud_model(model) or not is_home_address(entry.data[CONF_URL]):
                    self._warn_once(
                        f"remote {model}",
                        "Jarvis does not send memories to the embedding model %s of agent %s:"
                        " it runs outside the home network. Memories are searched by their"
                        " words only",
                        model,
                        subentry.title,
                    )
                    continue
                return Embedder(cast(JarvisConfigEntry, entry).runtime_data.client, model)
        return None

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            LOGGER.warning(message, *args)

    async def _async_vector(self, embedder: Embedder | None, text: str) -> list[float] | None:
        if embedder is None:
            return None
        try:
            [vector] = await embedder.async_embed([text])
        except EMBED_ERRORS as err:
            self._embed_failed(embedder, err)
            return None
        self._warned.discard(f"embed {embedder.model}")
        return vector

    def _embed_failed(self, embedder: Embedder, err: Exception) -> None:
        self._warn_once(
            f"embed {embedder.model}",
            "Embedding with %s failed (%s: %s); memories are searched by their words until it"
            " works",
            embedder.model,
            type(err).__name__,
            err,
        )

    async def _async_backfill(self, embedder: Embedder) -> None:
        """Embed memories stored without a vector of this model (added before it was set)."""
        missing = await self._run(
            self.store.without_vector,
            Viewer(all_rooms=True, all_users=True),
            embedder.model,
            BACKFILL_BATCH,
        )
        if not missing:
            return
        vectors = await embedder.async_embed([m.text for m in missing])
        for memory, vector in zip(missing, vectors, strict=True):
            await self._run(self.store.set_vector, memory.id, vector, embedder.model)

    # -- operations --------------------------------------------------------------------------

    async def async_remember(
        self, text: str, *, user_id: str | None, area_id: str | None
    ) -> tuple[Memory, bool]:
        """Store `text` (see MemoryStore.add); embedded when an embedding model is set."""
        embedder = self.embedder()
        vector = await self._async_vector(embedder, text)
        return await self._run(
            lambda: self.store.add(
                text,
                user_id=user_id,
                area_id=area_id,
                created=dt_util.utcnow(),
                vector=vector,
                embedding_model=embedder.model if embedder and vector else None,
            )
        )

    async def async_recall(
        self, query: str, viewer: Viewer, limit: int = RECALL_LIMIT
    ) -> tuple[list[Memory], str]:
        """The memories best matching `query` (the newest when it is empty), and how found.

        How: "recent", "words", or "words+meaning" (embeddings too).
        """
        if not query.strip():
            return await self._run(lambda: self.store.listing(viewer, limit=limit)), "recent"
        by_words = await self._run(self.store.search, query, viewer, limit * 2)
        if (embedder := self.embedder()) is None:
            return by_words[:limit], "words"
        try:
            await self._async_backfill(embedder)
            [query_vector] = await embedder.async_embed([query])
        except EMBED_ERRORS as err:
            self._embed_failed(embedder, err)
            return by_words[:limit], "words"
        self._warned.discard(f"embed {embedder.model}")
        by_meaning = await self._run(self._nearest, viewer, embedder.model, query_vector, limit * 2)
        return fuse([by_words, by_meaning])[:limit], "words+meaning"

    def _nearest(self, viewer: Viewer, model: str, query: list[float], limit: int) -> list[Memory]:
        """(Executor) memories closest in meaning to the query vector, closest first."""
        unit = unpack_vector(pack_vector(query))
        scored = [
            (score, memory)
            for memory, vector in self.store.vectors(viewer, model)
            if (score := similarity(unit, vector)) >= MIN_SIMILARITY
        ]
        scored.sort(key=lambda pair: (-pair[0], -pair[1].id))
        return [memory for _score, memory in scored[:limit]]

    async def async_forget(
        self, viewer: Viewer, *, memory_ids: Sequence[int] = (), query: str | None = None
    ) -> list[Memory]:
        """Erase the memories `viewer` sees among `memory_ids`, or having every word of `query`.

        Raises ForgetTooManyError when the query matches more than FORGET_LIMIT memories.
        """
        if memory_ids:
            targets = await self._run(lambda: self.store.listing(viewer, ids=list(memory_ids)))
        elif query and query.strip():
            targets = await self._run(self.store.matching_all, query, viewer, FORGET_LIMIT + 1)
            if len(targets) > FORGET_LIMIT:
                raise ForgetTooManyError(len(targets))
        else:
            return []
        await self._run(self.store.delete, [m.id for m in targets])
        return targets

    async def async_diagnostics(self) -> dict[str, Any]:
        """What support may see: counts, settings, and each memory with its text redacted."""
        embedder = self.embedder()
        memories = await self._run(
            lambda: self.store.listing(Viewer(all_rooms=True, all_users=True), limit=100)
        )
        return {
            "file": MEMORY_FILE,
            **await self._run(self.store.stats),
            "limits": {"memories": MAX_MEMORIES, "chars": MAX_TEXT_CHARS},
            "embedding_model": embedder.model if embedder else None,
            "newest": [
                async_redact_data(
                    {
                        "id": m.id,
                        "scope": m.scope,
                        "created": m.created.isoformat(),
                        "chars": len(m.text),
                        "text": m.text,
                        "user_id": m.user_id,
                        "area_id": m.area_id,
                        "embedding_model": m.embedding_model,
                    },
                    {"text", "user_id"},
                )
                for m in memories
            ],
        }


def fuse(rankings: Sequence[Sequence[Memory]]) -> list[Memory]:
    """Reciprocal rank fusion: memories ranked well by either ranking come first."""
    scores: dict[int, float] = {}
    by_id: dict[int, Memory] = {}
    for ranking in rankings:
        for rank, memory in enumerate(ranking):
            by_id[memory.id] = memory
            scores[memory.id] = scores.get(memory.id, 0.0) + 1 / (RRF_K + rank + 1)
    return [by_id[i] for i in sorted(scores, key=lambda i: (-scores[i], -i))]


@callback
def async_get_memory(hass: HomeAssistant) -> JarvisMemory:
    """The memory of this HA instance (its database is created on the first memory)."""
    if (memory := hass.data.get(DATA_MEMORY)) is None:
        store = MemoryStore(Path(hass.config.path(MEMORY_FILE)))
        memory = hass.data[DATA_MEMORY] = JarvisMemory(hass, store)
    return memory


def conversation_viewer(hass: HomeAssistant, llm_context: llm.LLMContext) -> Viewer:
    """What a conversation sees: its user's memories, its room's, the home's."""
    user_id = llm_context.context.user_id if llm_context.context else None
    area_id = llm.async_get_match_preferences(hass, llm_context).area_id
    return Viewer(user_id=user_id, area_id=area_id)


def memory_json(memory: Memory) -> JsonObjectType:
    """A memory as the model reads it."""
    return {
        "id": memory.id,
        "text": memory.text,
        "scope": memory.scope,
        "remembered_on": dt_util.as_local(memory.created).date().isoformat(),
    }


# --- tools -------------------------------------------------------------------------------

_ANNOTATIONS_WRITE = llm.ToolAnnotations(read_only=False, destructive=False, open_world=False)


class RememberTool(llm.Tool):
    """Store a fact for later conversations."""

    name = f"{DOMAIN}__Remember"
    title = "Remember"
    description = (
        "Stores a fact the user asks you to remember, for later conversations. Write it as a "
        "sentence that makes sense on its own, e.g. 'The bike lock code is 4512'. scope: "
        "'home' (everyone in the home), 'room' (only asked from the room the user speaks "
        "from), 'personal' (only this user; the default when the user is known)."
    )
    parameters = probatio.Schema(
        {
            probatio.Required("text"): probatio.All(str, probatio.Length(min=1)),
            probatio.Optional("scope"): probatio.In(list(SCOPES)),
        }
    )
    annotations = _ANNOTATIONS_WRITE
    integration = DOMAIN

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        viewer = conversation_viewer(hass, llm_context)
        text = str(tool_input.tool_args["text"]).strip()
        scope = tool_input.tool_args.get("scope") or (
            SCOPE_PERSONAL if viewer.user_id else SCOPE_HOME
        )
        note: str | None = None
        if scope == SCOPE_PERSONAL and viewer.user_id is None:
            return llm.ToolResult(
                data={
                    "error": "unknown_user",
                    "message": "Not remembered: the speaker is not identified, so nothing can "
                    "be kept for them alone. Ask whether to remember it for the whole home.",
                },
                error=True,
            )
        if scope == SCOPE_ROOM and viewer.area_id is None:
            scope = SCOPE_HOME
            note = "The request comes from no known room: remembered for the whole home."
        try:
            memory, new = await async_get_memory(hass).async_remember(
                text,
                user_id=viewer.user_id if scope == SCOPE_PERSONAL else None,
                area_id=viewer.area_id if scope == SCOPE_ROOM else None,
            )
        except MemoryFullError:
            return llm.ToolResult(
                data={
                    "error": "memory_full",
                    "message": f"Not remembered: the memory is full ({MAX_MEMORIES} facts). "
                    "The user can erase old memories with the jarvis.forget_memories action.",
                },
                error=True,
            )
        data: dict[str, JsonValueType] = {"remembered": memory.text, **memory_json(memory)}
        if not new:
            note = "This was already remembered."
        if note:
            data["note"] = note
        return llm.ToolResult(data=data)


class RecallTool(llm.Tool):
    """Look up remembered facts."""

    name = f"{DOMAIN}__Recall"
    title = "Recall"
    description = (
        "Looks up what the user asked you to remember in earlier conversations. 'query': what "
        "to look for, in a few words (e.g. 'bike lock code'); leave it out for the newest "
        "memories."
    )
    parameters = probatio.Schema({probatio.Optional("query"): str})
    annotations = llm.ToolAnnotations(read_only=True, destructive=False, open_world=False)
    integration = DOMAIN

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        query = str(tool_input.tool_args.get("query") or "")
        memories, how = await async_get_memory(hass).async_recall(
            query, conversation_viewer(hass, llm_context)
        )
        data: dict[str, JsonValueType] = {
            "memories": [memory_json(m) for m in memories],
            "search": how,
        }
        if not memories:
            data["message"] = "Nothing remembered matches this."
        return llm.ToolResult(data=data)


class ForgetTool(llm.Tool):
    """Erase remembered facts."""

    name = f"{DOMAIN}__Forget"
    title = "Forget"
    description = (
        "Erases memories the user asks you to forget: by 'memory_id' (from jarvis__Recall), "
        "or every memory containing all the words of 'query' (e.g. 'bike lock code')."
    )
    parameters = probatio.Schema(
        {
            probatio.Optional("memory_id"): int,
            probatio.Optional("query"): str,
        }
    )
    annotations = llm.ToolAnnotations(read_only=False, destructive=True, open_world=False)
    integration = DOMAIN

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        args = tool_input.tool_args
        if args.get("memory_id") is None and not str(args.get("query") or "").strip():
            return llm.ToolResult(
                data={"error": "nothing_to_forget", "message": "Give memory_id or query."},
                error=True,
            )
        try:
            forgotten = await async_get_memory(hass).async_forget(
                conversation_viewer(hass, llm_context),
                memory_ids=[int(args["memory_id"])] if args.get("memory_id") is not None else (),
                query=args.get("query"),
            )
        except ForgetTooManyError as err:
            return llm.ToolResult(
                data={
                    "error": "too_many",
                    "message": f"Nothing erased: more than {FORGET_LIMIT} memories match. Ask "
                    "the user what exactly to forget, or use memory_id.",
                    "matches": err.count,
                },
                error=True,
            )
        data: dict[str, JsonValueType] = {
            "forgotten": [m.text for m in forgotten],
            "count": len(forgotten),
        }
        if not forgotten:
            data["message"] = (
                "No memory matched, nothing was erased. Call jarvis__Recall to find it."
            )
        return llm.ToolResult(data=data)


def memory_tools() -> list[llm.Tool]:
    """The memory tools of the Jarvis LLM API."""
    return [RememberTool(), RecallTool(), ForgetTool()]
