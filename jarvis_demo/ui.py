"""The demo's web UI (`script/demo --ui`): HA's frontend with the Jarvis card on its dashboard.

HA starts already onboarded, with one administrator (user `demo`, password `demo`) and a default
dashboard holding the Jarvis card next to the demo home's lights. A token set for the browser is
made too, so tests (and scripts) can open the dashboard without typing the password.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
import json
from pathlib import Path
import time
from typing import Any

from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.auth.providers.homeassistant import HassAuthProvider
from homeassistant.components.onboarding.const import STEPS
from homeassistant.core import HomeAssistant

from .home import ENTITY_AREAS

USERNAME = "demo"
PASSWORD = "demo"  # a throwaway HA on 127.0.0.1, gone when the demo stops
TOKEN_LIFETIME = timedelta(days=1)

# Components HA's frontend needs, on top of the demo home's configuration.
UI_CONFIGURATION: dict[str, Any] = {"frontend": {}}


def write_ui_storage(config_dir: Path) -> None:
    """Before HA starts: onboarding done (no welcome wizard), the dashboard with the card.

    The dashboard is written where HA 2026.10 keeps an old-style default dashboard: at start HA
    moves it to the "lovelace" dashboard and makes that the default panel, as for any user.
    """
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    (storage / "onboarding").write_text(
        json.dumps({"version": 4, "minor_version": 1, "key": "onboarding", "data": {"done": STEPS}})
    )
    (storage / "lovelace").write_text(
        json.dumps(
            {
                "version": 1,
                "minor_version": 1,
                "key": "lovelace",
                "data": {"config": dashboard_config()},
            }
        )
    )


def dashboard_config() -> dict[str, Any]:
    """The default dashboard: the Jarvis card and the demo home's devices."""
    return {
        "title": "Jarvis demo home",
        "views": [
            {
                "title": "Home",
                "path": "home",
                "cards": [
                    {"type": "custom:jarvis-card"},
                    {"type": "entities", "title": "Devices", "entities": sorted(ENTITY_AREAS)},
                ],
            }
        ],
    }


@dataclass(frozen=True)
class UiAccess:
    """How to open the demo's dashboard."""

    url: str
    username: str
    password: str
    # What HA's frontend keeps in localStorage["hassTokens"] once logged in.
    hass_tokens: dict[str, Any]

    def write(self, path: Path, **extra: Any) -> None:
        """Write these (and `extra`) as JSON for a test or a script."""
        path.write_text(json.dumps({**asdict(self), **extra}, indent=2) + "\n")


async def async_setup_ui(hass: HomeAssistant, http_port: int) -> UiAccess:
    """Add the demo user and make a browser login for it."""
    url = f"http://127.0.0.1:{http_port}"
    provider = next(p for p in hass.auth.auth_providers if isinstance(p, HassAuthProvider))
    await provider.async_initialize()
    await provider.async_add_auth(USERNAME, PASSWORD)
    credentials = await provider.async_get_or_create_credentials({"username": USERNAME})
    user = await hass.auth.async_create_user("Demo", group_ids=[GROUP_ID_ADMIN])
    await hass.auth.async_link_user(user, credentials)

    client_id = f"{url}/"  # HA's frontend uses its own address as the OAuth client id
    refresh = await hass.auth.async_create_refresh_token(
        user, client_id=client_id, credential=credentials, access_token_expiration=TOKEN_LIFETIME
    )
    tokens = {
        "access_token": hass.auth.async_create_access_token(refresh),
        "token_type": "Bearer",
        "expires_in": int(TOKEN_LIFETIME.total_seconds()),
        "refresh_token": refresh.token,
        "hassUrl": url,
        "clientId": client_id,
        "expires": int((time.time() + TOKEN_LIFETIME.total_seconds()) * 1000),
    }
    return UiAccess(url=url, username=USERNAME, password=PASSWORD, hass_tokens=tokens)
