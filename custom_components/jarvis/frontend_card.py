"""The Jarvis dashboard card (`custom:jarvis-card`), shipped inside the integration.

The card is built from `card/` in the repository into `frontend/jarvis-card.js`. At start-up
Jarvis serves that file and asks HA's frontend to load it on every page, so installing the
integration (HACS) is all a user does: no separate plugin, no dashboard resource to add. The URL
carries the file's hash, so browsers fetch a new card after an update and cache it otherwise.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import LOGGER

CARD_FILE = Path(__file__).parent / "frontend" / "jarvis-card.js"
CARD_URL = "/jarvis/jarvis-card.js"
DATA_CARD_URL: HassKey[str] = HassKey("jarvis_card_url")


def _card_version() -> str:
    return hashlib.sha256(CARD_FILE.read_bytes()).hexdigest()[:16]


async def async_register_card(hass: HomeAssistant) -> str | None:
    """Serve the card and have HA's frontend load it; its URL, or None without a frontend.

    Without HA's frontend (a headless install, most tests) there is nothing to do.
    """
    if "frontend" not in hass.config.components or hass.http is None:
        return None
    if (url := hass.data.get(DATA_CARD_URL)) is not None:
        return url
    from homeassistant.components.frontend import add_extra_js_url
    from homeassistant.components.http.server import StaticPathConfig

    try:
        version = await hass.async_add_executor_job(_card_version)
    except OSError as err:  # an install without the built file: Jarvis works, without its card
        LOGGER.warning("The Jarvis card is missing (%s); the dashboard card is not available", err)
        return None
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_FILE), cache_headers=True)]
    )
    url = f"{CARD_URL}?v={version}"
    add_extra_js_url(hass, url)
    hass.data[DATA_CARD_URL] = url
    return url
