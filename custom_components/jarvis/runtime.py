"""What a loaded Jarvis config entry holds at run time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import time
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, callback
import ollama

if TYPE_CHECKING:
    from .context_window import ContextReport
    from .coordinator import JarvisCoordinator


@dataclass(slots=True)
class ResponseStats:
    """Figures of the last reply an agent produced."""

    latency_s: float  # request received -> first streamed token
    duration_s: float  # request received -> reply complete
    tokens_per_second: float | None  # generation speed reported by Ollama
    local: bool  # handled by HA's local intents, without the LLM
    at: float = field(default_factory=time.time)


@dataclass(kw_only=True)
class JarvisData:
    """Runtime data of a Jarvis entry: the Ollama client and the agents' live figures."""

    client: ollama.AsyncClient
    coordinator: JarvisCoordinator  # health of the server: reachable, models, version
    last_response: dict[str, ResponseStats] = field(default_factory=dict)  # key: subentry id
    # What each agent's last request to the model held and left out; key: subentry id.
    last_context: dict[str, ContextReport] = field(default_factory=dict)
    _listeners: list[Callable[[], None]] = field(default_factory=list)

    @callback
    def async_record_response(self, subentry_id: str, stats: ResponseStats) -> None:
        """Store an agent's latest figures and tell the sensors."""
        self.last_response[subentry_id] = stats
        for listener in list(self._listeners):
            listener()

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `listener` whenever figures change; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)


type JarvisConfigEntry = ConfigEntry[JarvisData]
