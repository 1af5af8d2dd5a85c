"""Repair issues raised and cleared by themselves, and the 'model missing' fix flow via HA's API."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.const import DOMAIN, ISSUE_MODEL_MISSING, ISSUE_UNREACHABLE
from custom_components.jarvis.issues import model_missing_issue_id, unreachable_issue_id

from .fake_ollama import FakeOllama
from .pull_ollama import MISSING_MANIFEST, PullingOllama

MISSING = "mistral:7b"


@pytest.fixture
async def fake_ollama(socket_enabled: None) -> AsyncGenerator[PullingOllama]:
    """An Ollama server that can download the missing model from its library."""
    server = PullingOllama(models=["llama3.2:latest", "qwen3:4b"], catalogue=[MISSING])
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def agent_options() -> dict[str, object]:
    """The agent uses a model the server does not have."""
    return {CONF_MODEL: MISSING, CONF_LLM_HASS_API: ["assist"]}


def subentry_id(entry: MockConfigEntry) -> str:
    (subentry_id,) = entry.subentries
    return subentry_id


async def test_model_missing_raised_then_cleared_when_pulled(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    issue_id = model_missing_issue_id(subentry_id(setup_jarvis))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == ISSUE_MODEL_MISSING
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {
        "model": MISSING,
        "agent": "Jarvis",
        "url": fake_ollama.url,
    }

    # `ollama pull mistral:7b` on the server: the next poll clears the issue.
    fake_ollama.models.append(MISSING)
    await setup_jarvis.runtime_data.coordinator.async_refresh()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.parametrize("agent_options", [{CONF_MODEL: "llama3.2"}])
async def test_unreachable_raised_then_cleared(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    coordinator = setup_jarvis.runtime_data.coordinator
    issue_id = unreachable_issue_id(setup_jarvis)
    # "llama3.2" is the server's "llama3.2:latest": no model issue.
    assert [i for (d, i) in ir.async_get(hass).issues if d == DOMAIN] == []

    await fake_ollama.stop()
    await coordinator.async_refresh()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == ISSUE_UNREACHABLE
    assert not issue.is_fixable
    assert issue.translation_placeholders == {"url": fake_ollama.url, "title": "Jarvis"}

    await fake_ollama.start()
    await coordinator.async_refresh()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


# --- The fix flow, driven like the frontend does ---------------------------------------------


@pytest.fixture
async def repairs_client(hass: HomeAssistant, hass_client: ClientSessionGenerator) -> Any:
    assert await async_setup_component(hass, "repairs", {})
    return await hass_client()


async def start_fix(client: Any, issue_id: str) -> dict[str, Any]:
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def submit(client: Any, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/api/repairs/issues/fix/{flow_id}", json=data)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def follow_download(
    hass: HomeAssistant, client: Any, result: dict[str, Any]
) -> dict[str, Any]:
    """The frontend's view of a download: progress, then whatever comes next."""
    assert result["type"] == "progress"
    assert result["progress_action"] == "download"
    await hass.async_block_till_done(wait_background_tasks=True)
    return await submit(client, result["flow_id"], {})


async def test_fix_flow_downloads_the_missing_model(
    hass: HomeAssistant,
    fake_ollama: PullingOllama,
    setup_jarvis: MockConfigEntry,
    repairs_client: Any,
) -> None:
    entry = setup_jarvis
    sub_id = subentry_id(entry)
    issue_id = model_missing_issue_id(sub_id)

    result = await start_fix(repairs_client, issue_id)
    assert result["type"] == "form"
    assert result["step_id"] == "init"
    assert result["description_placeholders"] == {
        "model": MISSING,
        "agent": "Jarvis",
        "url": fake_ollama.url,
        "error": "",
    }
    (field,) = result["data_schema"]
    assert field["description"] == {"suggested_value": MISSING}  # one click: download it

    result = await submit(repairs_client, result["flow_id"], {CONF_MODEL: MISSING})
    result = await follow_download(hass, repairs_client, result)
    await hass.async_block_till_done()
    assert result["type"] == "create_entry"
    assert fake_ollama.pulled == [MISSING]
    assert entry.subentries[sub_id].data[CONF_MODEL] == MISSING
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    # The next poll agrees: the issue stays away.
    await entry.runtime_data.coordinator.async_refresh()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_fix_flow_picks_an_installed_model(
    hass: HomeAssistant,
    fake_ollama: PullingOllama,
    setup_jarvis: MockConfigEntry,
    repairs_client: Any,
) -> None:
    entry = setup_jarvis
    sub_id = subentry_id(entry)
    issue_id = model_missing_issue_id(sub_id)

    result = await start_fix(repairs_client, issue_id)
    (field,) = result["data_schema"]
    assert [o["value"] for o in field["selector"]["select"]["options"]] == [
        "llama3.2:latest",
        "qwen3:4b",
    ]

    # A name Ollama's library does not know: the form comes back with Ollama's answer.
    result = await submit(repairs_client, result["flow_id"], {CONF_MODEL: "phi44"})
    result = await follow_download(hass, repairs_client, result)
    assert result["type"] == "form"
    assert result["errors"] == {"base": "download_failed"}
    assert result["description_placeholders"]["error"] == MISSING_MANIFEST

    await fake_ollama.stop()
    result = await submit(repairs_client, result["flow_id"], {CONF_MODEL: "qwen3:4b"})
    assert result["errors"] == {"base": "cannot_connect"}
    await fake_ollama.start()

    result = await submit(repairs_client, result["flow_id"], {CONF_MODEL: "qwen3:4b"})
    await hass.async_block_till_done()
    assert result["type"] == "create_entry"
    assert fake_ollama.pulled == []
    assert entry.subentries[sub_id].data[CONF_MODEL] == "qwen3:4b"
    assert entry.subentries[sub_id].data[CONF_LLM_HASS_API] == ["assist"]  # the rest kept
    assert entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_fix_flow_when_the_agent_was_removed_meanwhile(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry, repairs_client: Any
) -> None:
    sub_id = subentry_id(setup_jarvis)
    result = await start_fix(repairs_client, model_missing_issue_id(sub_id))
    assert result["type"] == "form"

    hass.config_entries.async_remove_subentry(setup_jarvis, sub_id)
    await hass.async_block_till_done()
    result = await submit(repairs_client, result["flow_id"], {CONF_MODEL: "qwen3:4b"})
    assert result["type"] == "abort"
    assert result["reason"] == "agent_removed"


async def test_fix_flow_when_the_entry_was_unloaded_meanwhile(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry, repairs_client: Any
) -> None:
    result = await start_fix(repairs_client, model_missing_issue_id(subentry_id(setup_jarvis)))
    assert result["type"] == "form"

    assert await hass.config_entries.async_unload(setup_jarvis.entry_id)
    await hass.async_block_till_done()
    result = await submit(repairs_client, result["flow_id"], {CONF_MODEL: "qwen3:4b"})
    assert result["type"] == "abort"
    assert result["reason"] == "entry_not_loaded"


async def test_issues_read_in_french(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """The texts HA shows for the issues, as a French-speaking user sees them."""
    texts = await async_get_translations(hass, "fr", "issues", [DOMAIN])
    prefix = f"component.{DOMAIN}.issues"
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, model_missing_issue_id(subentry_id(setup_jarvis))
    )
    assert issue is not None
    title = texts[f"{prefix}.{issue.translation_key}.title"].format(
        **issue.translation_placeholders
    )
    assert title == f"Modèle {MISSING} absent d'Ollama"
    assert texts[f"{prefix}.{ISSUE_UNREACHABLE}.title"] == "Serveur Ollama injoignable"
    fix = texts[f"{prefix}.{ISSUE_MODEL_MISSING}.fix_flow.step.init.description"]
    assert "ollama pull {model}" in fix
