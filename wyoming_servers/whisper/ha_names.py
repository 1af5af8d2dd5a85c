"""Home Assistant entity and area names, fetched over HA's REST API, as a Whisper prompt.

Names of rooms and devices are rare words for Whisper ("Hue", "Nanoleaf", a family name for a
room); giving them as the decoder's initial prompt makes their spelling come out right. The list is
refreshed periodically; a failing HA is retried with exponential backoff and its state is logged
whenever it changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
import logging
from typing import Any

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
BACKOFF_MAX_S = 60.0


def build_prompt(names: Iterable[str], limit: int = MAX_NAMES) -> str:
    """`A, B, C.` from unique non-empty names, at most `limit` of them."""
    seen: dict[str, None] = {}
    for name in names:
        clean = " ".join(str(name).split())
        if clean and clean.lower() not in (key.lower() for key in seen):
            seen[clean] = None
        if len(seen) >= limit:
            break
    return f"{', '.join(seen)}." if seen else ""


class HomeAssistantNames:
    """Keeps the names of HA's areas and voice-controllable entities up to date.

    Args:
        url: HA base URL, e.g. http://homeassistant.local:8123
        token: a long-lived access token
        refresh_s: seconds between refreshes once connected
    """

    def __init__(self, url: str, token: str, refresh_s: float = 300.0) -> None:
        """Configure; call `start()` inside the event loop."""
        self.url = url.rstrip("/")
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
