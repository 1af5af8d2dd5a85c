"""Every path of Jarvis's config flow (entry, model, reconfigure, agent subentries), over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
import socket
from typing import Any

from aiohttp import web
from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL, CONF_NAME, CONF_PROMPT, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import EVENT_DATA_ENTRY_FLOW_PROGRESS_UPDATE, FlowResultType
from homeassistant.helpers import entity_registry as er, llm
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import (
    CONF_KEEP_ALIVE,
    CONF_MAX_HISTORY,
    CONF_NUM_CTX,
    CONF_PREFER_LOCAL,
    CONF_PROTECTED_COVERS,
    CONF_SAFE_ACTIONS,
    CONF_TEMPERATURE,
    CONF_THINK,
    DOMAIN,
    JARVIS_LLM_API_ID,
    SUBENTRY_CONVERSATION,
)
from custom_components.jarvis.prompts import PROMPT_EN, PROMPT_FR

from .fake_ollama import FakeOllama
from .pull_ollama import MISSING_MANIFEST, PullingOllama

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- Servers that are not (working) Ollama servers ------------------------------------------


async def html_page(request: web.Request) -> web.Response:
    """A router's or NAS's web page answering every path."""
    return web.Response(
        text="<html><body>Welcome to my NAS</body></html>", content_type="text/html"
    )


async def html_not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")


async def json_elsewhere(request: web.Request) -> web.Response:
    """Another JSON API (e.g. some other service's /api/tags)."""
    return web.json_response({"tags": ["a", "b"]})


async def bad_gateway(request: web.Request) -> web.Response:
    """A reverse proxy whose Ollama behind it is down."""
    return web.Response(status=502, text="Bad Gateway")


@pytest.fixture
async def odd_server(socket_enabled: None) -> AsyncGenerator[Callable[[Handler], Awaitable[str]]]:
    """Start an aiohttp server answering every request with a handler; returns its URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        server = site._server
        assert isinstance(server, asyncio.Server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def silent_server(socket_enabled: None) -> AsyncGenerator[str]:
    """Accepts connections and never answers (a firewall or a hung server)."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def ha_components(hass: HomeAssistant) -> None:
    """The components a running HA has around a conversation agent."""
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "llm", {})


def suggested(result: dict[str, Any]) -> dict[str, Any]:
    """The values a form shows pre-filled."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


# --- Entry: URL, then model -----------------------------------------------------------------


async def start_user_flow(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {"example_url": "http://192.168.1.10:11434"}
    return result


@pytest.mark.usefixtures("ha_components")
async def test_user_flow_creates_entry_and_first_agent(
    hass: HomeAssistant, fake_ollama: FakeOllama
) -> None:
    result = await start_user_flow(hass)
    # The form suggests Ollama's usual local address.
    assert suggested(result) == {CONF_URL: "http://127.0.0.1:11434"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: f" {fake_ollama.url}/ "}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "model"
    assert result["description_placeholders"] == {"url": fake_ollama.url, "error": ""}
    selector = result["data_schema"].schema[CONF_MODEL].config
    assert [o["value"] for o in selector["options"]] == ["llama3.2:latest", "qwen3:4b"]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEL: "qwen3:4b"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Ollama 127.0.0.1:{fake_ollama.port}"
    assert result["data"] == {CONF_URL: fake_ollama.url}

    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    (subentry,) = entry.subentries.values()
    assert subentry.subentry_type == SUBENTRY_CONVERSATION
    assert subentry.title == "Jarvis"
    assert dict(subentry.data) == {
        CONF_MODEL: "qwen3:4b",
        CONF_LLM_HASS_API: [JARVIS_LLM_API_ID],
        CONF_PREFER_LOCAL: True,
        CONF_MAX_HISTORY: 20,
        CONF_KEEP_ALIVE: -1,
        CONF_NUM_CTX: 8192,
        CONF_TEMPERATURE: 0.7,
        CONF_THINK: False,
        CONF_SAFE_ACTIONS: "confirm",  # unlocking, opening garage doors: asked first
        CONF_PROTECTED_COVERS: [],
    }
    # The agent is there to be picked in a pipeline.
    assert er.async_get(hass).async_get_entity_id("conversation", DOMAIN, subentry.subentry_id)


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (html_page, "not_ollama"),
        (html_not_found, "not_ollama"),
        (json_elsewhere, "not_ollama"),
        (bad_gateway, "cannot_connect"),
    ],
)
async def test_user_flow_rejects_what_is_not_ollama_then_recovers(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    odd_server: Callable[[Handler], Awaitable[str]],
    handler: Handler,
    error: str,
) -> None:
    url = await odd_server(handler)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_URL: url})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    # What the user typed stays in the form.
    assert suggested(result) == {CONF_URL: url}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: fake_ollama.url}
    )
    assert result["step_id"] == "model"


@pytest.mark.usefixtures("socket_enabled")
async def test_user_flow_invalid_url_and_connection_refused(
    hass: HomeAssistant, closed_port_url: str
) -> None:
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "ollama.local"}
    )
    assert result["errors"] == {"base": "invalid_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: closed_port_url}
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_flow_timeout(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    silent_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("custom_components.jarvis.server.DEFAULT_TIMEOUT", 0.3)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: silent_server}
    )
    assert result["errors"] == {"base": "timeout_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: fake_ollama.url}
    )
    assert result["step_id"] == "model"


async def test_user_flow_aborts_for_a_configured_server(
    hass: HomeAssistant, fake_ollama: FakeOllama
) -> None:
    MockConfigEntry(domain=DOMAIN, data={CONF_URL: fake_ollama.url}).add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: fake_ollama.url + "/"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert not any(r.path == "/api/tags" for r in fake_ollama.requests)


@pytest.fixture
async def pulling_ollama(socket_enabled: None) -> AsyncGenerator[PullingOllama]:
    """A fresh Ollama install: no model yet, two it can download."""
    server = PullingOllama(models=[], catalogue=["mistral:latest", "gemma3:latest"])
    await server.start()
    yield server
    await server.stop()


async def wait_for_download(
    hass: HomeAssistant, manager: Any, result: dict[str, Any], model: str
) -> dict[str, Any]:
    """Follow a download step the way the frontend does: progress, then the next step."""
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["progress_action"] == "download"
    assert result["description_placeholders"] == {"model": model}
    await hass.async_block_till_done(wait_background_tasks=True)
    result = await manager.async_configure(result["flow_id"])
    return dict(result)


@pytest.mark.usefixtures("ha_components")
async def test_model_step_downloads_a_missing_model(
    hass: HomeAssistant, pulling_ollama: PullingOllama
) -> None:
    progress: list[float] = []
    hass.bus.async_listen(
        EVENT_DATA_ENTRY_FLOW_PROGRESS_UPDATE, lambda event: progress.append(event.data["progress"])
    )
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: pulling_ollama.url}
    )
    assert result["step_id"] == "model"
    assert result["data_schema"].schema[CONF_MODEL].config["options"] == []

    # A name Ollama's library does not know: the download fails, the form says why.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEL: "mistrall"}
    )
    result = await wait_for_download(hass, hass.config_entries.flow, result, "mistrall:latest")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "model"
    assert result["errors"] == {"base": "download_failed"}
    assert result["description_placeholders"]["error"] == MISSING_MANIFEST
    assert suggested(result) == {CONF_MODEL: "mistrall:latest"}

    # The server goes away meanwhile: a clear error, and the form stays.
    await pulling_ollama.stop()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEL: "mistral"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await pulling_ollama.start()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MODEL: "mistral"}
    )
    result = await wait_for_download(hass, hass.config_entries.flow, result, "mistral:latest")
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = result["result"].subentries.values()
    assert subentry.data[CONF_MODEL] == "mistral:latest"
    assert pulling_ollama.pulled == ["mistral:latest"]
    assert progress[-3:] == pytest.approx([0.0, 0.5, 1.0])
    assert result["result"].state is ConfigEntryState.LOADED


# --- Reconfigure the entry (the server moved) ------------------------------------------------


@pytest.fixture
async def second_ollama(socket_enabled: None) -> AsyncGenerator[FakeOllama]:
    server = FakeOllama(models=["llama3.2:latest"])
    await server.start()
    yield server
    await server.stop()


async def test_reconfigure_moves_to_another_server(
    hass: HomeAssistant,
    setup_jarvis: MockConfigEntry,
    second_ollama: FakeOllama,
    closed_port_url: str,
) -> None:
    entry = setup_jarvis
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    assert suggested(result) == {CONF_URL: entry.data[CONF_URL]}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: closed_port_url}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert entry.data[CONF_URL] != closed_port_url

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: second_ollama.url}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_URL] == second_ollama.url
    assert entry.title == f"Ollama 127.0.0.1:{second_ollama.port}"
    # Reloaded: the new server is the one polled now.
    assert entry.state is ConfigEntryState.LOADED
    assert any(r.path == "/api/tags" for r in second_ollama.requests)


async def test_reconfigure_to_the_same_url_is_allowed(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry
) -> None:
    result = await setup_jarvis.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: setup_jarvis.data[CONF_URL]}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"


async def test_reconfigure_refuses_another_entrys_server(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry, second_ollama: FakeOllama
) -> None:
    MockConfigEntry(domain=DOMAIN, data={CONF_URL: second_ollama.url}).add_to_hass(hass)
    result = await setup_jarvis.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: second_ollama.url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# --- Agents (conversation subentries) --------------------------------------------------------


def agent_form(**changes: Any) -> dict[str, Any]:
    """What a user submits in the agent form (defaults left as they are)."""
    return {
        CONF_MODEL: "qwen3:4b",
        CONF_PROMPT: PROMPT_EN,
        CONF_LLM_HASS_API: [JARVIS_LLM_API_ID],
        CONF_PREFER_LOCAL: True,
        CONF_MAX_HISTORY: 20.0,  # number selectors give floats
        CONF_KEEP_ALIVE: -1.0,
        CONF_NUM_CTX: 8192.0,
        CONF_TEMPERATURE: 0.7,
        CONF_THINK: False,
        CONF_SAFE_ACTIONS: "confirm",
        CONF_PROTECTED_COVERS: [],
    } | changes


async def test_add_agent_checks_model_then_creates_it(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry, fake_ollama: FakeOllama
) -> None:
    entry = setup_jarvis
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CONVERSATION), context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "set_options"
    schema = result["data_schema"].schema
    shown = suggested(result)
    assert shown[CONF_NAME] == "Jarvis"
    assert shown[CONF_MODEL] == "llama3.2:latest"
    assert shown[CONF_PROMPT] == PROMPT_EN  # HA's language is English here
    assert shown[CONF_LLM_HASS_API] == [JARVIS_LLM_API_ID]
    apis = {o["value"] for o in schema[CONF_LLM_HASS_API].config["options"]}
    assert apis >= {llm.LLM_API_ASSIST, JARVIS_LLM_API_ID}
    # Safe actions: three translated choices, asking first by default.
    assert shown[CONF_SAFE_ACTIONS] == "confirm"
    safe = schema[CONF_SAFE_ACTIONS].config
    assert (safe["options"], safe["translation_key"]) == (
        ["allow", "confirm", "refuse"],
        "safe_actions",
    )

    form = agent_form(**{CONF_NAME: "Majordome", CONF_MODEL: "gemma3"})
    await fake_ollama.stop()
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], form)
    assert result["errors"] == {"base": "cannot_connect"}
    await fake_ollama.start()

    form = agent_form(
        **{
            CONF_NAME: "Majordome",
            CONF_PROMPT: "Tu es le majordome. Réponds en une phrase.",
            CONF_LLM_HASS_API: [],
            CONF_MAX_HISTORY: 6.0,
            CONF_SAFE_ACTIONS: "refuse",
            CONF_PROTECTED_COVERS: ["cover.front_gate"],
        }
    )
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], form)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Majordome"
    assert result["data"] == {
        CONF_MODEL: "qwen3:4b",
        CONF_PROMPT: "Tu es le majordome. Réponds en une phrase.",
        CONF_PREFER_LOCAL: True,
        CONF_MAX_HISTORY: 6,
        CONF_KEEP_ALIVE: -1,
        CONF_NUM_CTX: 8192,
        CONF_TEMPERATURE: 0.7,
        CONF_THINK: False,
        CONF_SAFE_ACTIONS: "refuse",
        CONF_PROTECTED_COVERS: ["cover.front_gate"],
    }
    # The entry reloaded with a second agent, its own device and sensors.
    assert entry.state is ConfigEntryState.LOADED
    new = next(s for s in entry.subentries.values() if s.title == "Majordome")
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("conversation", DOMAIN, new.subentry_id)
    assert registry.async_get_entity_id("sensor", DOMAIN, f"{new.subentry_id}_response_latency")


async def test_default_persona_is_not_stored_and_follows_the_language(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry
) -> None:
    await hass.config.async_update(language="fr")
    result = await hass.config_entries.subentries.async_init(
        (setup_jarvis.entry_id, SUBENTRY_CONVERSATION),
        context={"source": config_entries.SOURCE_USER},
    )
    assert suggested(result)[CONF_PROMPT] == PROMPT_FR

    form = agent_form(**{CONF_NAME: "Jarvis FR", CONF_PROMPT: PROMPT_FR})
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], form)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_PROMPT not in result["data"]
    assert result["data"][CONF_LLM_HASS_API] == [JARVIS_LLM_API_ID]


@pytest.mark.parametrize(
    "agent_options",
    [
        {
            CONF_MODEL: "llama3.2:latest",
            CONF_PROMPT: "You are a terse butler.",
            CONF_LLM_HASS_API: llm.LLM_API_ASSIST,  # as older versions stored it: one id
            CONF_PREFER_LOCAL: False,
            CONF_MAX_HISTORY: 20,
        }
    ],
)
async def test_reconfigure_agent(hass: HomeAssistant, setup_jarvis: MockConfigEntry) -> None:
    entry = setup_jarvis
    (subentry,) = entry.subentries.values()
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    assert result["step_id"] == "set_options"
    schema = result["data_schema"].schema
    assert CONF_NAME not in schema  # renaming is done from the subentry's menu
    shown = suggested(result)
    assert shown[CONF_PROMPT] == "You are a terse butler."
    assert shown[CONF_LLM_HASS_API] == [llm.LLM_API_ASSIST]
    assert shown[CONF_MODEL] == "llama3.2:latest"

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        agent_form(**{CONF_MODEL: "qwen3:4b", CONF_PROMPT: "  ", CONF_THINK: True}),
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[subentry.subentry_id]
    assert subentry.data[CONF_MODEL] == "qwen3:4b"
    assert subentry.data[CONF_THINK] is True
    assert CONF_PROMPT not in subentry.data  # cleared: back to the default persona
    assert entry.state is ConfigEntryState.LOADED


async def test_agent_flow_needs_a_loaded_entry(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)  # not set up
    result = await hass.config_entries.subentries.async_init(
        (mock_config_entry.entry_id, SUBENTRY_CONVERSATION),
        context={"source": config_entries.SOURCE_USER},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"


async def test_add_agent_downloads_its_model(
    hass: HomeAssistant, pulling_ollama: PullingOllama
) -> None:
    pulling_ollama.models = ["mistral:latest"]
    pulling_ollama.cut_off = ["gemma3:latest"]
    assert await async_setup_component(hass, "conversation", {})
    entry = MockConfigEntry(domain=DOMAIN, data={CONF_URL: pulling_ollama.url})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    flows = hass.config_entries.subentries

    result = await flows.async_init(
        (entry.entry_id, SUBENTRY_CONVERSATION), context={"source": config_entries.SOURCE_USER}
    )
    assert suggested(result)[CONF_MODEL] == "mistral:latest"
    form = agent_form(**{CONF_NAME: "Gemma", CONF_MODEL: "gema3", CONF_MAX_HISTORY: 8.0})
    result = await flows.async_configure(result["flow_id"], form)
    result = await wait_for_download(hass, flows, result, "gema3:latest")
    assert result["step_id"] == "set_options"
    assert result["errors"] == {"base": "download_failed"}
    assert result["description_placeholders"] == {"error": MISSING_MANIFEST}
    shown = suggested(result)
    assert (shown[CONF_NAME], shown[CONF_MODEL], shown[CONF_MAX_HISTORY]) == (
        "Gemma",
        "gema3:latest",
        8,
    )

    # The connection drops half way: the form says so, and trying again works.
    result = await flows.async_configure(result["flow_id"], form | {CONF_MODEL: "gemma3"})
    result = await wait_for_download(hass, flows, result, "gemma3:latest")
    assert result["errors"] == {"base": "download_failed"}
    assert result["description_placeholders"]["error"]
    pulling_ollama.cut_off = []

    result = await flows.async_configure(result["flow_id"], form | {CONF_MODEL: "gemma3"})
    result = await wait_for_download(hass, flows, result, "gemma3:latest")
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Gemma"
    assert result["data"][CONF_MODEL] == "gemma3:latest"
    assert result["data"][CONF_MAX_HISTORY] == 8
    assert pulling_ollama.pulled == ["gemma3:latest"]
    assert entry.state is ConfigEntryState.LOADED
