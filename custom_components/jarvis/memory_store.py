"""Jarvis's long-term memory on disk: one SQLite file in HA's config folder, searched with FTS5.

Everything here blocks on file I/O: call it from an executor thread (memory.py does). Each call
opens its own short-lived connection, so calls from different threads never share one, and
nothing stays open to be closed when HA stops.

A memory belongs to the whole home, to one room (area) or to one person (HA user):

| scope      | user_id | area_id | seen by                               |
|------------|---------|---------|---------------------------------------|
| home       | NULL    | NULL    | everyone                              |
| room       | NULL    | area    | requests from that room               |
| personal   | user    | NULL    | that user                             |
"""

# SQL here is built from constants and "?" placeholders only, never from values.
# ruff: noqa: S608

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
import math
from pathlib import Path
import re
import sqlite3
import threading
from typing import Any
import unicodedata

SCOPE_HOME = "home"
SCOPE_ROOM = "room"
SCOPE_PERSONAL = "personal"
SCOPES = (SCOPE_HOME, SCOPE_ROOM, SCOPE_PERSONAL)

MAX_TEXT_CHARS = 500  # a memory is a fact, not a document
MAX_MEMORIES = 5000  # per home; remembering more is refused
SCHEMA_VERSION = 1

# Words that say nothing about what to look for (en, fr); dropped from search queries.
STOP_WORDS = frozenset(
    re.split(
        r"\s+",
        """a about all an and any are as at be by can could did do does for from have how i in is it
    its know me my of on or our please remember remembered said say tell that the their there this
    to told us was we what whats when where which who why will with you your
    au aux avec c ce ces cet cette d dans de des du elle en est et il j je l la le les leur lui m
    ma me mes moi mon n ne nos notre nous on ou où par pas pour qu que quel quelle quelles quels
    qui quoi rappelle rappelles s sa se ses son souviens souvenir sur t ta te tes toi ton tu un
    une vos votre vous y""".strip(),
    )
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS memories (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    user_id TEXT,
    area_id TEXT,
    created REAL NOT NULL,
    embedding BLOB,
    embedding_model TEXT
);
CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
    text, content='memories', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
PRAGMA user_version = {SCHEMA_VERSION};
"""
_COLUMNS = "m.id, m.text, m.user_id, m.area_id, m.created, m.embedding_model"


class MemoryFullError(Exception):
    """The home already holds MAX_MEMORIES memories."""


@dataclass(frozen=True, slots=True)
class Memory:
    """One remembered fact."""

    id: int
    text: str
    user_id: str | None
    area_id: str | None
    created: datetime  # UTC
    embedding_model: str | None = None

    @property
    def scope(self) -> str:
        """home, room or personal."""
        if self.user_id is not None:
            return SCOPE_PERSONAL
        return SCOPE_ROOM if self.area_id is not None else SCOPE_HOME


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whose memories a request may see and change.

    A conversation sees the home's memories, those of the room it comes from and its user's own;
    `all_rooms` and `all_users` widen that (actions: a user sees every room, an admin all).
    """

    user_id: str | None = None
    area_id: str | None = None
    all_rooms: bool = False
    all_users: bool = False

    def where(self) -> tuple[str, list[Any]]:
        """SQL condition on `m` (memories) and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        if not self.all_users:
            parts.append("(m.user_id IS NULL OR m.user_id = ?)")
            params.append(self.user_id)
        if not self.all_rooms:
            parts.append("(m.area_id IS NULL OR m.area_id = ?)")
            params.append(self.area_id)
        return " AND ".join(parts) or "1", params


def search_terms(text: str) -> list[str]:
    """The words of `text` worth searching for (lower case, accents kept for FTS to fold)."""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())
    useful = [w for w in words if w not in STOP_WORDS]
    return list(dict.fromkeys(useful or words))


def _fts_query(terms: Sequence[str], operator: str) -> str:
    return f" {operator} ".join(f'"{term}"' for term in terms)


def pack_vector(vector: Sequence[float]) -> bytes:
    """A vector as stored: float32, scaled to length 1 (so a dot product is the cosine)."""
    norm = math.sqrt(math.fsum(v * v for v in vector)) or 1.0
    return array("f", (v / norm for v in vector)).tobytes()


def unpack_vector(blob: bytes) -> array[float]:
    """A stored vector."""
    vector = array("f")
    vector.frombytes(blob)
    return vector


def similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two unit vectors (0 when their sizes differ)."""
    if len(a) != len(b):
        return 0.0
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


class MemoryStore:
    """The memories of one HA instance, in the SQLite file `path`."""

    def __init__(self, path: Path) -> None:
        """Use (and create on first write) the database at `path`."""
        self.path = path
        self._schema_lock = threading.Lock()
        self._ready = False

    @contextmanager
    def _connect(self, *, create: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction (committed on success), with the schema in place."""
        with closing(sqlite3.connect(self.path, timeout=10)) as conn:
            conn.row_factory = sqlite3.Row
            if create and not self._ready:
                with self._schema_lock:
                    conn.executescript(_SCHEMA)
                    self._ready = True
            with conn:
                yield conn

    @property
    def exists(self) -> bool:
        """Whether the database file has been created (nothing remembered yet when not)."""
        return self.path.exists()

    # -- writing -----------------------------------------------------------------------------

    def add(
        self,
        text: str,
        *,
        user_id: str | None,
        area_id: str | None,
        created: datetime,
        vector: Sequence[float] | None = None,
        embedding_model: str | None = None,
    ) -> tuple[Memory, bool]:
        """Store a memory; returns it and whether it is new.

        The same text in the same scope is stored once. Raises MemoryFullError when the home
        already holds MAX_MEMORIES memories.
        """
        text = " ".join(text.split())[:MAX_TEXT_CHARS]
        with self._connect() as conn:
            for row in conn.execute(
                f"SELECT {_COLUMNS} FROM memories m WHERE m.user_id IS ? AND m.area_id IS ?",
                (user_id, area_id),
            ):
                if row["text"].casefold() == text.casefold():
                    return _memory(row), False
            if conn.execute("SELECT count(*) FROM memories").fetchone()[0] >= MAX_MEMORIES:
                raise MemoryFullError
            cursor = conn.execute(
                "INSERT INTO memories (text, user_id, area_id, created, embedding,"
                " embedding_model) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    text,
                    user_id,
                    area_id,
                    created.timestamp(),
                    pack_vector(vector) if vector is not None else None,
                    embedding_model if vector is not None else None,
                ),
            )
            memory_id = cursor.lastrowid
        assert memory_id is not None
        return (
            Memory(
                memory_id,
                text,
                user_id,
                area_id,
                created.astimezone(UTC),
                embedding_model if vector is not None else None,
            ),
            True,
        )

    def delete(self, ids: Sequence[int]) -> int:
        """Forget these memories; returns how many there were."""
        if not ids or not self.exists:
            return 0
        with self._connect() as conn:
            marks = ",".join("?" * len(ids))
            return conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", list(ids)).rowcount

    def set_vector(self, memory_id: int, vector: Sequence[float], model: str) -> None:
        """Store the embedding of a memory made with `model`."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE memories SET embedding = ?, embedding_model = ? WHERE id = ?",
                (pack_vector(vector), model, memory_id),
            )

    # -- reading -----------------------------------------------------------------------------

    def search(self, query: str, viewer: Viewer, limit: int) -> list[Memory]:
        """Memories `viewer` sees with any of the query's words, best first (BM25)."""
        if not (terms := search_terms(query)) or not self.exists:
            return []
        return self._match(_fts_query(terms, "OR"), viewer, limit)

    def matching_all(self, query: str, viewer: Viewer, limit: int) -> list[Memory]:
        """Memories `viewer` sees with every word of the query (what "forget X" means)."""
        if not (terms := search_terms(query)) or not self.exists:
            return []
        return self._match(_fts_query(terms, "AND"), viewer, limit)

    def _match(self, fts_query: str, viewer: Viewer, limit: int) -> list[Memory]:
        where, params = viewer.where()
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM memories_fts f JOIN memories m ON m.id = f.rowid"
                f" WHERE memories_fts MATCH ? AND {where} ORDER BY bm25(memories_fts), m.id DESC"
                " LIMIT ?",
                [fts_query, *params, limit],
            ).fetchall()
        return [_memory(row) for row in rows]

    def listing(
        self, viewer: Viewer, *, ids: Sequence[int] | None = None, limit: int | None = None
    ) -> list[Memory]:
        """Memories `viewer` sees (only `ids` when given), newest first."""
        if not self.exists:
            return []
        where, params = viewer.where()
        sql = f"SELECT {_COLUMNS} FROM memories m WHERE {where}"
        if ids is not None:
            sql += f" AND m.id IN ({','.join('?' * len(ids))})"
            params += list(ids)
        sql += " ORDER BY m.created DESC, m.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._connect() as conn:
            return [_memory(row) for row in conn.execute(sql, params)]

    def vectors(self, viewer: Viewer, model: str) -> list[tuple[Memory, array[float]]]:
        """Memories `viewer` sees that have an embedding made with `model`."""
        if not self.exists:
            return []
        where, params = viewer.where()
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, m.embedding FROM memories m"
                f" WHERE m.embedding_model = ? AND {where}",
                [model, *params],
            ).fetchall()
        return [(_memory(row), unpack_vector(row["embedding"])) for row in rows]

    def without_vector(self, viewer: Viewer, model: str, limit: int) -> list[Memory]:
        """Memories `viewer` sees that lack an embedding made with `model`."""
        if not self.exists:
            return []
        where, params = viewer.where()
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM memories m WHERE m.embedding_model IS NOT ?"
                f" AND {where} ORDER BY m.id LIMIT ?",
                [model, *params, limit],
            ).fetchall()
        return [_memory(row) for row in rows]

    def stats(self) -> dict[str, Any]:
        """Counts for diagnostics (no text)."""
        if not self.exists:
            return {"exists": False, "count": 0}
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM memories m").fetchall()
        memories = [_memory(row) for row in rows]
        models: dict[str, int] = {}
        for memory in memories:
            if memory.embedding_model:
                models[memory.embedding_model] = models.get(memory.embedding_model, 0) + 1
        return {
            "exists": True,
            "size_bytes": self.path.stat().st_size,
            "count": len(memories),
            "by_scope": {scope: sum(m.scope == scope for m in memories) for scope in SCOPES},
            "embeddings": models,
        }


def _memory(row: sqlite3.Row) -> Memory:
    return Memory(
        id=row["id"],
        text=row["text"],
        user_id=row["user_id"],
        area_id=row["area_id"],
        created=datetime.fromtimestamp(row["created"], UTC),
        embedding_model=row["embedding_model"],
    )
