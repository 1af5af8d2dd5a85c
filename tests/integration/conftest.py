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


# --- Ollama stand-in and a configured Jarvis agent (agent tests) ------------------------------

from collections.abc import AsyncGenerator  # noqa: E402

from homeassistant.config_entries import ConfigSubentryData  # noqa: E402
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL, CONF_PROMPT, CONF_URL  # noqa: E402
from homeassistant.helpers import llm  # noqa: E402
from pytest_homeassistant_custom_component.common import MockConfigEntry  # noqa: E402

from custom_components.jarvis.const import (  # noqa: E402
    CONF_MAX_HISTORY,
    CONF_PREFER_LOCAL,
    DOMAIN,
    SUBENTRY_CONVERSATION,
)

from .fake_ollama import FakeOllama  # noqa: E402

TEST_MODEL = "llama3.2:latest"


@pytest.fixture
async def fake_ollama(socket_enabled: None) -> AsyncGenerator[FakeOllama]:
    """An Ollama-protocol server on 127.0.0.1 (free port), stopped after the test."""
    server = FakeOllama(models=[TEST_MODEL, "qwen3:4b"])
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def agent_options() -> dict[str, object]:
    """Options of the test's conversation subentry; override in a test module to change them."""
    return {
        CONF_MODEL: TEST_MODEL,
        CONF_PROMPT: "You are Jarvis, a test assistant.",
        CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
        CONF_PREFER_LOCAL: False,
        CONF_MAX_HISTORY: 20,
    }


@pytest.fixture
def mock_config_entry(fake_ollama: FakeOllama, agent_options: dict[str, object]) -> MockConfigEntry:
    """A Jarvis entry pointing at the fake server, with one conversation subentry."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Jarvis",
        data={CONF_URL: fake_ollama.url},
        subentries_data=[
            ConfigSubentryData(
                data=agent_options,
                subentry_type=SUBENTRY_CONVERSATION,
                title="Jarvis",
                unique_id=None,
            )
        ],
    )


@pytest.fixture
async def setup_jarvis(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """Set up the entry in a real HA (with the default agent and the Assist API)."""
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "llm", {})
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry
