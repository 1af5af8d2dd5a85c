"""Fixtures for the Home Assistant integration tests."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom integrations in every test of this folder."""


@pytest.fixture(autouse=True)
async def setup_ha_core(hass: HomeAssistant) -> None:
    """Set up HA's core component (exposed entities), as a running HA has it."""
    assert await async_setup_component(hass, "homeassistant", {})
