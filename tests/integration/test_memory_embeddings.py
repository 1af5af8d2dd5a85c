"""Memory search by meaning: Ollama's embed endpoint, when the agent names an embedding model.

The fake server embeds words as concepts ("bicycle" is "bike"), so a query sharing no word with
a memory finds it only through embeddings.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
from typing import Any

from homeassistant.components import conversation
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import CONF_EMBED_MODEL, JARVIS_LLM_API_ID
from custom_components.jarvis.memory import is_cloud_model, is_home_address

from .agent_helpers import agent_id
from .conftest import TEST_MODEL
from .embed_ollama import EmbeddingOllama
from .fake_ollama import FakeOllama, text_reply, tool_call_reply

EMBED_MODEL = "nomic-embed-text:latest"
BIKE = "The bike lock code is 4512"
SHED = "The shed key is under the blue pot"


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A config folder of the test's own: the memory file starts empty."""
    return hass_tmp_config_dir


@pytest.fixture
async def fake_ollama(socket_enabled: None) -> AsyncGenerator[EmbeddingOllama]:
    """The fake server with an embedding model."""
    server = EmbeddingOllama(
        models=[TEST_MODEL],
        embed_models=[EMBED_MODEL],
        concepts={"bicycle": "bike", "padlock": "lock", "combination": "code"},
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def agent_options(agent_options: dict[str, object]) -> dict[str, object]:
    """The Jarvis API, and an embedding model."""
    return {**agent_options, CONF_LLM_HASS_API: [JARVIS_LLM_API_ID], CONF_EMBED_MODEL: EMBED_MODEL}


async def _call_tool(
    hass: HomeAssistant, fake_ollama: FakeOllama, tool: str, args: dict[str, Any]
) -> dict[str, Any]:
    """A new conversation in which the model calls `tool`; the result it got back."""
    fake_ollama.queue(tool_call_reply(tool, args), text_reply("OK."))
    await conversation.async_converse(
        hass, "Go", None, Context(), language="en", agent_id=agent_id(hass)
    )
    message = fake_ollama.conversation_requests[-1]["messages"][-1]
    assert message["role"] == "tool"
    return json.loads(message["content"])["data"]  # type: ignore[no-any-return]


async def _set_embed_model(hass: HomeAssistant, entry: MockConfigEntry, model: str | None) -> None:
    """Change the agent's embedding model as its reconfigure form does (the entry reloads)."""
    subentry = next(iter(entry.subentries.values()))
    data = {k: v for k, v in subentry.data.items() if k != CONF_EMBED_MODEL}
    if model:
        data[CONF_EMBED_MODEL] = model
    hass.config_entries.async_update_subentry(entry, subentry, data=data)
    await hass.async_block_till_done()


async def test_recall_by_meaning(
    hass: HomeAssistant, fake_ollama: EmbeddingOllama, setup_jarvis: MockConfigEntry
) -> None:
    await _call_tool(hass, fake_ollama, "jarvis__Remember", {"text": BIKE})
    await _call_tool(hass, fake_ollama, "jarvis__Remember", {"text": SHED})
    assert fake_ollama.embedded == [BIKE, SHED]  # on the agent's own server

    found = await _call_tool(
        hass, fake_ollama, "jarvis__Recall", {"query": "bicycle padlock combination"}
    )

    assert fake_ollama.embedded[-1] == "bicycle padlock combination"
    assert found["search"] == "words+meaning"
    assert [m["text"] for m in found["memories"]] == [BIKE]  # the shed is about nothing asked


async def test_memories_kept_before_a_model_was_set_are_embedded_later(
    hass: HomeAssistant, fake_ollama: EmbeddingOllama, setup_jarvis: MockConfigEntry
) -> None:
    await _set_embed_model(hass, setup_jarvis, None)
    await _call_tool(hass, fake_ollama, "jarvis__Remember", {"text": BIKE})
    words_only = await _call_tool(
        hass, fake_ollama, "jarvis__Recall", {"query": "bicycle padlock combination"}
    )
    assert fake_ollama.embedded == []
    assert (words_only["search"], words_only["memories"]) == ("words", [])

    await _set_embed_model(hass, setup_jarvis, EMBED_MODEL)
    found = await _call_tool(
        hass, fake_ollama, "jarvis__Recall", {"query": "bicycle padlock combination"}
    )

    assert fake_ollama.embedded == [BIKE, "bicycle padlock combination"]
    assert [m["text"] for m in found["memories"]] == [BIKE]


async def test_the_agent_form_sets_and_clears_the_embedding_model(
    hass: HomeAssistant, fake_ollama: EmbeddingOllama, setup_jarvis: MockConfigEntry
) -> None:
    (subentry,) = setup_jarvis.subentries.values()

    async def submit(embed_model: str) -> None:
        result = await setup_jarvis.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
        assert CONF_EMBED_MODEL in result["data_schema"].schema
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {
                CONF_MODEL: TEST_MODEL,
                CONF_LLM_HASS_API: [JARVIS_LLM_API_ID],
                CONF_EMBED_MODEL: embed_model,
            },
        )
        await hass.async_block_till_done()
        assert result["type"] is FlowResultType.ABORT

    await submit(" nomic-embed-text ")
    assert setup_jarvis.subentries[subentry.subentry_id].data[CONF_EMBED_MODEL] == EMBED_MODEL
    await _call_tool(hass, fake_ollama, "jarvis__Remember", {"text": BIKE})
    assert fake_ollama.embedded == [BIKE]

    await submit("")
    assert CONF_EMBED_MODEL not in setup_jarvis.subentries[subentry.subentry_id].data
    await _call_tool(hass, fake_ollama, "jarvis__Recall", {"query": "bike"})
    assert fake_ollama.embedded == [BIKE]  # words only now


async def test_a_failing_embedding_model_falls_back_to_words(
    hass: HomeAssistant,
    fake_ollama: EmbeddingOllama,
    setup_jarvis: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _set_embed_model(hass, setup_jarvis, "missing-embed:latest")  # not on the server

    stored = await _call_tool(hass, fake_ollama, "jarvis__Remember", {"text": BIKE})
    found = await _call_tool(hass, fake_ollama, "jarvis__Recall", {"query": "bike code"})

    assert stored["remembered"] == BIKE
    assert (found["search"], [m["text"] for m in found["memories"]]) == ("words", [BIKE])
    assert caplog.text.count("Embedding with missing-embed:latest failed") == 1


async def test_cloud_models_get_no_memory(
    hass: HomeAssistant,
    fake_ollama: EmbeddingOllama,
    setup_jarvis: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _set_embed_model(hass, setup_jarvis, "embeddinggemma:cloud")

    await _call_tool(hass, fake_ollama, "jarvis__Remember", {"text": BIKE})
    found = await _call_tool(hass, fake_ollama, "jarvis__Recall", {"query": "bike"})

    assert not [r for r in fake_ollama.requests if r.path == "/api/embed"]
    assert found["search"] == "words"
    assert "runs outside the home network" in caplog.text


@pytest.mark.parametrize(
    ("url", "home"),
    [
        ("http://127.0.0.1:11434", True),
        ("http://192.168.1.10:11434", True),
        ("http://[fe80::1]:11434", True),
        ("http://ollama:11434", True),
        ("http://gpu-box.local:11434", True),
        ("https://user:pw@10.0.0.5", True),
        ("https://ollama.com", False),
        ("http://8.8.8.8:11434", False),
        ("https://ollama.example.org:443", False),
    ],
)
def test_home_addresses(url: str, home: bool) -> None:
    assert is_home_address(url) is home


@pytest.mark.parametrize(
    ("model", "cloud"),
    [
        ("nomic-embed-text:latest", False),
        ("embeddinggemma", False),
        ("embeddinggemma:cloud", True),
        ("gpt-oss:120b-cloud", True),
    ],
)
def test_cloud_models(model: str, cloud: bool) -> None:
    assert is_cloud_model(model) is cloud
