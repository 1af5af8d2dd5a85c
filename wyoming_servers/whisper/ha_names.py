"""Home Assistant entity and area names, fetched over HA's REST API, as a Whisper prompt.

Names of rooms and devices are rare words for Whisper ("Hue", "Nanoleaf", a family name for a
room); giving them as the decoder's initial prompt makes their spelling come out right. The list is
refreshed periodically; a failing HA is retried with exponential backoff and its state is logged
whenever it changes.

Whisper takes at most 223 prompt tokens (faster-whisper keeps the *last* ones of a longer prompt),
so `build_prompt` keeps whole names, first ones first, up to that many tokens; names longer than a
device name could be are dropped. The URL is logged without any user:password in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

_LOGGER = logging.getLogger(__name__)

VOICE_DOMAINS = frozenset(
    {
        "light", "switch", "cover", "climate", "fan", "lock", "media_player", "scene", "script",
        "vacuum", "valve", "humidifier", "water_heater", "lawn_mower", "alarm_control_panel",
        "input_boolean", "button", "timer",
    }
)  # fmt: skip
AREAS_TEMPLATE = "{{ areas() | map('area_name') | list | tojson }}"
MAX_NAMES = 60
MAX_NAME_CHARS = 80
"""Longest name kept (HA friendly names are far shorter; longer ones are noise or an attack)."""
MAX_PROMPT_TOKENS = 223
"""Whisper's prompt limit: half its 448-token text context, less one."""
MAX_NAMES_SCANNED = 4096
"""Names looked at per prompt; a request may carry far more (bounded work on the event loop)."""
BACKOFF_MAX_S = 60.0

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """An upper bound of Whisper's token count: its byte-level BPE makes at most a token a byte."""
    return len(text.encode("utf-8"))


def clean_names(names: Iterable[object], limit: int = MAX_NAMES) -> list[str]:
    """The first `limit` unique names, whitespace collapsed; too long ones skipped (DEBUG log)."""
    kept: list[str] = []
    seen: set[str] = set()
    skipped = 0
    for scanned, name in enumerate(names):
        if scanned >= MAX_NAMES_SCANNED or len(kept) >= limit:
            break
        if not isinstance(name, str) or len(name) > 4 * MAX_NAME_CHARS:
            skipped += 1
            continue
        clean = " ".join(name.split())
        key = clean.casefold()
        if not clean or key in seen:
            continue
        if len(clean) > MAX_NAME_CHARS:
            skipped += 1
            continue
        seen.add(key)
        kept.append(clean)
    if skipped:
        _LOGGER.debug("Prompt: %d names longer than %d characters skipped", skipped, MAX_NAME_CHARS)
    return kept


def build_prompt(
    names: Iterable[object],
    limit: int = MAX_NAMES,
    count_tokens: TokenCounter = estimate_tokens,
    max_tokens: int = MAX_PROMPT_TOKENS,
) -> str:
    """`A, B, C.` from `clean_names`, first ones first, at most `max_tokens` tokens.

    `count_tokens` counts the tokens of a text as the decoder will (faster-whisper prefixes the
    prompt with a space); the default over-estimates. Names that do not fit are dropped.
    """
    candidates = clean_names(names, limit)
    kept: list[str] = []
    tokens = 0
    for name in candidates:
        tokens += count_tokens(f" {name},")  # joined by ", ", each name begins with a space
        if tokens > max_tokens:
            break
        kept.append(name)
    # The pieces' sum is close; the whole is checked as the decoder will see it.
    while kept and count_tokens(f" {', '.join(kept)}.") > max_tokens:
        kept.pop()
    if len(kept) < len(candidates):
        _LOGGER.debug(
            "Prompt: %d of %d names fit in %d tokens, the rest dropped",
            len(kept), len(candidates), max_tokens,
        )  # fmt: skip
    return f"{', '.join(kept)}." if kept else ""


def redact_url(url: str) -> str:
    """`url` without any user:password part (for logs)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class HomeAssistantNames:
    """Keeps the names of HA's areas and voice-controllable entities up to date.

    Args:
        url: HA base URL, e.g. http://homeassistant.local:8123
        token: a long-lived access token
        refresh_s: seconds between refreshes once connected
    """

    def __init__(self, url: str, token: str, refresh_s: float = 300.0) -> None:
        """Configure; call `start()` inside the event loop."""
        self.url = redact_url(url).rstrip("/")
        if self.url != url.rstrip("/"):
            # aiohttp cannot send both; HA authenticates with the token.
            _LOGGER.warning("Ignoring the user:password in the Home Assistant URL %s", self.url)
        self.token = token
        self.refresh_s = refresh_s
        self.areas: list[str] = []
        self.entities: list[str] = []
        self.state = "idle"
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._first = asyncio.Event()

    @property
    def prompt(self) -> str:
        """The current biasing prompt ('' before the first successful fetch)."""
        return build_prompt([*self.areas, *self.entities])

    def start(self) -> None:
        """Begin refreshing in the background (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ha names refresh")

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until the first fetch finished (either way), at most `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._first.wait()
        return self.state == "connected"

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def cancel(self) -> None:
        """Stop refreshing without waiting (from a synchronous shutdown hook)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            while True:
                try:
                    await self.refresh(session)
                except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                    self.failures += 1
                    delay = min(BACKOFF_MAX_S, 2.0 ** (self.failures - 1))
                    self._set_state("disconnected", f"{type(err).__name__}: {err}")
                    self._first.set()
                    await asyncio.sleep(delay)
                    continue
                self.failures = 0
                self._first.set()
                await asyncio.sleep(self.refresh_s)

    async def refresh(self, session: aiohttp.ClientSession) -> None:
        """Fetch areas and entity names once."""
        async with session.get(f"{self.url}/api/states") as resp:
            resp.raise_for_status()
            states: Any = await resp.json()
        if not isinstance(states, list):
            raise ValueError("/api/states did not return a list")  # noqa: TRY004
        entities = []
        for item in states:
            if not isinstance(item, dict):
                continue
            entity_id = str(item.get("entity_id", ""))
            name = (item.get("attributes") or {}).get("friendly_name")
            if entity_id.split(".", maxsplit=1)[0] in VOICE_DOMAINS and isinstance(name, str):
                entities.append(name)
        async with session.post(
            f"{self.url}/api/template", json={"template": AREAS_TEMPLATE}
        ) as resp:
            resp.raise_for_status()
            areas: Any = await resp.json(content_type=None)
        self.areas = [str(area) for area in areas] if isinstance(areas, list) else []
        self.entities = sorted(set(entities))
        self._set_state("connected", f"{len(self.areas)} areas, {len(self.entities)} entity names")

    def _set_state(self, state: str, detail: str) -> None:
        if state != self.state:
            level = logging.INFO if state == "connected" else logging.WARNING
            _LOGGER.log(
                level,
                "Home Assistant names %s (%s): %s",
                state,
                self.url,
                detail,
                extra={"ha_state": state},
            )
        self.state = state
