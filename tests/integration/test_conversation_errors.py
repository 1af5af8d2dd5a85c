"""Errors become a short spoken answer in the user's language, a log line and a repair issue."""

from __future__ import annotations

import asyncio

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant
from homeassistant.helpers import intent, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis import llm_loop
from custom_components.jarvis.const import DOMAIN
from custom_components.jarvis.issues import model_missing_issue_id, unreachable_issue_id

from .agent_helpers import agent_id, ask, speech
from .fake_ollama import Chunk, FakeOllama, Reply, error_reply, text_reply, tool_call_reply


def _issue_ids(hass: HomeAssistant) -> set[str]:
    return {issue_id for (domain, issue_id) in ir.async_get(hass).issues if domain == DOMAIN}


async def test_ollama_down_then_back(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await fake_ollama.stop()

    result = await ask(hass, "What time is it in Tokyo?")

    assert result.response.response_type is intent.IntentResponseType.ERROR
    assert speech(result) == "Sorry, I can't reach the Ollama server right now."
    assert unreachable_issue_id(setup_jarvis) in _issue_ids(hass)
    assert "could not answer" in caplog.text

    # In French, the same failure is said in French.
    result = await ask(hass, "Quelle heure est-il à Tokyo ?", language="fr")
    assert speech(result) == "Désolé, je n'arrive pas à joindre le serveur Ollama pour le moment."

    # The server comes back: the next answer clears the issue.
    await fake_ollama.start()
    fake_ollama.queue(text_reply("It is nine in the evening."))
    result = await ask(hass, "What time is it in Tokyo?")
    assert speech(result) == "It is nine in the evening."
    assert unreachable_issue_id(setup_jarvis) not in _issue_ids(hass)


async def test_model_missing_raises_a_fixable_issue_then_clears(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    subentry = next(iter(setup_jarvis.subentries.values()))
    fake_ollama.models.remove("llama3.2:latest")  # someone ran `ollama rm llama3.2`

    result = await ask(hass, "Bonjour", language="fr")

    assert speech(result) == (
        "Désolé, le modèle llama3.2:latest n'est pas installé sur le serveur Ollama."
    )
    issue = ir.async_get(hass).async_get_issue(DOMAIN, model_missing_issue_id(subentry.subentry_id))
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["model"] == "llama3.2:latest"

    fake_ollama.models.append("llama3.2:latest")  # pulled again
    fake_ollama.queue(text_reply("Bonjour !"))
    result = await ask(hass, "Bonjour", language="fr")
    assert speech(result) == "Bonjour !"
    assert model_missing_issue_id(subentry.subentry_id) not in _issue_ids(hass)


async def test_server_error_is_spoken_with_its_reason(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    fake_ollama.queue(error_reply(500, "out of memory"))
    result = await ask(hass, "Tell me a story")
    assert speech(result) == "Sorry, the Ollama server had a problem: out of memory"
    assert result.response.error_code is intent.IntentResponseErrorCode.UNKNOWN

    # An error line in the middle of a stream is handled the same way.
    fake_ollama.queue(Reply(chunks=[Chunk(content="Once upon")], stream_error="GPU lost"))
    result = await ask(hass, "Tell me a story")
    assert speech(result) == "Sorry, the Ollama server had a problem: GPU lost"

    # So is a server that is not quite Ollama (a line that is not JSON).
    fake_ollama.queue(Reply(chunks=[Chunk(content="Once"), Chunk(raw=b"<html>oops</html>\n")]))
    result = await ask(hass, "Tell me a story")
    assert speech(result).startswith("Sorry, the Ollama server had a problem: Expecting value")

    # And the agent keeps serving.
    fake_ollama.queue(text_reply("Once upon a time."))
    assert speech(await ask(hass, "Tell me a story")) == "Once upon a time."


async def test_endless_tool_calls_are_cut(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    # A valid call, over and over (the repeats are answered without running it again).
    fake_ollama.queue(*[tool_call_reply("llm__GetDateTime", {}) for _ in range(10)])
    result = await ask(hass, "Loop forever", language="fr")
    assert speech(result) == "Désolé, je me suis perdu en exécutant ta demande."
    assert len(fake_ollama.conversation_requests) == 10


async def test_french_request_gets_the_french_persona(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    subentry = next(iter(setup_jarvis.subentries.values()))
    data = {k: v for k, v in subentry.data.items() if k != "prompt"}  # no prompt: the default
    hass.config_entries.async_update_subentry(setup_jarvis, subentry, data=data)
    await hass.async_block_till_done()

    fake_ollama.queue(text_reply("Bonjour, je suis Jarvis."), text_reply("Hello, I am Jarvis."))
    assert speech(await ask(hass, "Qui es-tu ?", language="fr")) == "Bonjour, je suis Jarvis."
    assert speech(await ask(hass, "Who are you?", language="en")) == "Hello, I am Jarvis."

    french, english = (r["messages"][0]["content"] for r in fake_ollama.conversation_requests)
    assert "Tu es Jarvis" in french
    assert "réponds en français" in french
    assert "You are Jarvis" in english
    assert "reply in English" in english


async def test_silent_server_times_out(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ollama client waits forever by default; Jarvis gives up on a silent server."""
    monkeypatch.setattr(llm_loop, "FIRST_CHUNK_TIMEOUT", 0.1)
    monkeypatch.setattr(llm_loop, "NEXT_CHUNK_TIMEOUT", 0.1)
    fake_ollama.queue(Reply(chunks=[Chunk(content="Hello", delay=0.4)]))
    result = await ask(hass, "Hello?")
    assert speech(result) == "Sorry, the language model took too long to answer."

    # A stream that stops half-way is cut the same way.
    monkeypatch.setattr(llm_loop, "FIRST_CHUNK_TIMEOUT", 5.0)
    fake_ollama.queue(Reply(chunks=[Chunk(content="Once"), Chunk(content=" upon", delay=0.4)]))
    result = await ask(hass, "Tell me a story", language="fr")
    assert speech(result) == "Désolé, le modèle de langage a mis trop de temps à répondre."
    await asyncio.sleep(0.5)  # let the server's scripted sleeps end


async def test_empty_reply(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    fake_ollama.queue(Reply(chunks=[]))
    result = await ask(hass, "Hello?")
    assert speech(result) == "Sorry, I didn't get an answer from the language model."


async def test_broken_prompt_template(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis, subentry, data={**subentry.data, "prompt": "You are {{ broken"}
    )
    await hass.async_block_till_done()
    result = await ask(hass, "Hello?")
    assert result.response.response_type is intent.IntentResponseType.ERROR
    assert speech(result) == "Sorry, I had a problem with my template"
    assert fake_ollama.conversation_requests == []


async def test_prepare_with_the_server_down_is_harmless(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await fake_ollama.stop()
    await conversation.async_prepare_agent(hass, agent_id(hass), "en")  # logs, does not raise
    await fake_ollama.start()


async def test_request_without_language_uses_ha_language(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """A pipeline whose conversation language is 'any' ('*'): HA's language (here French)."""
    hass.config.language = "fr"
    subentry = next(iter(setup_jarvis.subentries.values()))
    data = {k: v for k, v in subentry.data.items() if k != "prompt"}
    hass.config_entries.async_update_subentry(setup_jarvis, subentry, data=data)
    await hass.async_block_till_done()
    fake_ollama.queue(text_reply("Salut."))
    assert speech(await ask(hass, "Salut", language="*")) == "Salut."
    assert "Tu es Jarvis" in fake_ollama.conversation_requests[0]["messages"][0]["content"]

    await fake_ollama.stop()
    result = await ask(hass, "Salut", language="*")
    assert speech(result) == "Désolé, je n'arrive pas à joindre le serveur Ollama pour le moment."
    await fake_ollama.start()
