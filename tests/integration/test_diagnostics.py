"""Diagnostics downloaded the way the UI does, with secrets redacted."""

from __future__ import annotations

from homeassistant.const import CONF_MODEL, CONF_PROMPT, CONF_URL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.issues import redact_url

from .agent_helpers import ask
from .fake_ollama import OLLAMA_VERSION, FakeOllama, text_reply


@pytest.fixture
def mock_config_entry(
    mock_config_entry: MockConfigEntry, fake_ollama: FakeOllama
) -> MockConfigEntry:
    """The server sits behind a proxy that wants credentials in the URL."""
    url = fake_ollama.url.replace("http://", "http://jarvis:s3cret@")
    return MockConfigEntry(
        domain=mock_config_entry.domain,
        title=mock_config_entry.title,
        data={CONF_URL: url},
        subentries_data=[
            {
                "data": dict(s.data),
                "subentry_type": s.subentry_type,
                "title": s.title,
                "unique_id": None,
            }
            for s in mock_config_entry.subentries.values()
        ],
    )


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
) -> None:
    fake_ollama.queue(text_reply("Hello there."))
    await ask(hass, "Hello")

    diag = await get_diagnostics_for_config_entry(hass, hass_client, setup_jarvis)
    text = str(diag)
    assert "s3cret" not in text
    assert "You are Jarvis, a test assistant." not in text

    assert diag["entry"]["url"] == f"http://**REDACTED**@127.0.0.1:{fake_ollama.port}"
    assert diag["entry"]["state"] == "loaded"
    assert str(diag["client"]).startswith("ollama==")
    assert diag["server"] == {
        "reachable": True,
        "version": OLLAMA_VERSION,
        "models": ["llama3.2:latest", "qwen3:4b"],
        "failed_polls": 0,
        "last_error": None,
    }
    (agent,) = diag["agents"].values()
    assert agent["title"] == "Jarvis"
    assert agent["data"][CONF_MODEL] == "llama3.2:latest"
    assert agent["data"][CONF_PROMPT] == "**REDACTED**"
    assert agent["last_response"]["local"] is False
    assert agent["last_response"]["tokens_per_second"] == pytest.approx(84.0)
    assert diag["issues"] == []
    assert len(diag["entities"]) == 5


async def test_diagnostics_while_the_server_is_down(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
) -> None:
    await fake_ollama.stop()
    await setup_jarvis.runtime_data.coordinator.async_refresh()

    diag = await get_diagnostics_for_config_entry(hass, hass_client, setup_jarvis)
    assert diag["server"]["reachable"] is False
    assert diag["server"]["failed_polls"] == 1
    assert "UpdateFailed" in diag["server"]["last_error"]
    assert diag["issues"] == [f"ollama_unreachable_{setup_jarvis.entry_id}"]
    (agent,) = diag["agents"].values()
    assert agent["last_response"] is None


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("http://192.168.1.10:11434", "http://192.168.1.10:11434"),
        ("https://u:p@ollama.example:443/base", "https://**REDACTED**@ollama.example:443/base"),
        ("https://ollama.example/?token=abc", "https://ollama.example/?**REDACTED**"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
