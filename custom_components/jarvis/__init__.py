"""Jarvis: a local-first voice assistant for Home Assistant, backed by Ollama."""

from __future__ import annotations

from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.util.ssl import get_default_context
import ollama

from .runtime import JarvisConfigEntry, JarvisData


async def async_setup_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> bool:
    """Set up Jarvis from a config entry."""
    client = ollama.AsyncClient(host=entry.data[CONF_URL], verify=get_default_context())
    entry.runtime_data = JarvisData(client=client)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: JarvisConfigEntry) -> bool:
    """Unload a config entry."""
    return True
