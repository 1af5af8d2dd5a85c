"""The card ships inside the integration: HA's frontend loads it, and it is the build of card/."""

from __future__ import annotations

from http import HTTPStatus
import os
from pathlib import Path
import shutil
import subprocess

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.frontend_card import CARD_FILE, CARD_URL
from tests.conftest import ROOT

CARD_DIR = ROOT / "card"
# What a build reads: everything else in card/ (node_modules, tests) plays no part.
BUILD_INPUTS = ("package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "src")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Jarvis is a custom integration."""


@pytest.fixture
async def ha_core(hass: HomeAssistant) -> None:
    """HA's core component (exposed entities), as a running HA has it."""
    assert await async_setup_component(hass, "homeassistant", {})


async def test_frontend_loads_the_card_that_jarvis_serves(
    hass: HomeAssistant, ha_core: None, hass_client: ClientSessionGenerator
) -> None:
    assert await async_setup_component(hass, "frontend", {})
    assert await async_setup_component(hass, "jarvis", {})
    await hass.async_block_till_done()

    urls = [url for url in hass.data[DATA_EXTRA_MODULE_URL].urls if url.startswith(CARD_URL)]
    assert len(urls) == 1, hass.data[DATA_EXTRA_MODULE_URL].urls
    assert urls[0].startswith(f"{CARD_URL}?v=")  # a new file is a new URL: no stale cache

    client = await hass_client()
    response = await client.get(urls[0])
    assert response.status == HTTPStatus.OK
    assert await response.read() == CARD_FILE.read_bytes()
    assert "javascript" in response.headers["Content-Type"]


async def test_no_frontend_no_card(hass: HomeAssistant, ha_core: None) -> None:
    """A headless HA (no frontend) runs Jarvis without registering anything."""
    assert await async_setup_component(hass, "jarvis", {})
    await hass.async_block_till_done()
    assert "frontend" not in hass.config.components
    assert DATA_EXTRA_MODULE_URL not in hass.data


def test_shipped_card_is_the_build_of_the_lockfile(tmp_path: Path) -> None:
    """`npm ci && npm run build` from card/'s sources gives the committed file, byte for byte."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed (script/setup installs the card's tools)"
    work = tmp_path / "card"
    work.mkdir()
    for name in BUILD_INPUTS:
        source = CARD_DIR / name
        if source.is_dir():
            shutil.copytree(source, work / name)
        else:
            shutil.copy2(source, work / name)
    out = tmp_path / "out"
    env = {**os.environ, "JARVIS_CARD_OUT": str(out), "NO_COLOR": "1"}
    for command in (
        [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
        [npm, "run", "build"],
    ):
        result = subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    built = (out / "jarvis-card.js").read_bytes()
    assert built == CARD_FILE.read_bytes(), (
        "custom_components/jarvis/frontend/jarvis-card.js is not the build of card/: "
        "run `npm run build` in card/ and commit the file"
    )
