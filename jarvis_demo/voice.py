"""Wire HA to the Jarvis voice stack the way a user does in the UI: Wyoming entries, agent, pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components import stt
from homeassistant.components.assist_pipeline.pipeline import KEY_ASSIST_PIPELINE, Pipeline
from homeassistant.components.tts.helper import get_engine_instance
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util.language import matches
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from custom_components.jarvis.config_flow import DEFAULT_AGENT_OPTIONS


class DemoSetupError(RuntimeError):
    """A step of wiring the demo home failed; the message says which."""


@dataclass(frozen=True)
class ReplyVoice:
    """The Piper voice that speaks the replies, and whether it speaks the home's language."""

    name: str
    language: str
    native: bool

    def describe(self, language: str) -> str:
        """One line for the terminal."""
        if self.native:
            return f"{self.name} ({self.language})"
        return (
            f"{self.name} ({self.language}): no installed Piper voice speaks {language!r}, so "
            "the replies are read with this voice's accent (README: adding a voice)"
        )


async def async_reply_voice(host: str, port: int, language: str, country: str | None) -> ReplyVoice:
    """The TTS server's voice for `language` (asked with `describe`), else its default voice."""
    async with asyncio.timeout(10), AsyncTcpClient(host, port) as client:
        await client.write_event(Describe().event())
        while (event := await client.read_event()) is not None and not Info.is_type(event.type):
            pass
    if event is None:
        raise DemoSetupError(f"the TTS server at {host}:{port} did not describe itself")
    voices = [
        (voice.name, lang)
        for program in Info.from_event(event).tts
        for voice in program.voices
        for lang in voice.languages
    ]
    if not voices:
        raise DemoSetupError(f"the TTS server at {host}:{port} has no voice")
    for name, lang in voices:
        if matches(language, [lang], country):
            return ReplyVoice(name, lang, native=True)
    name, lang = voices[0]
    return ReplyVoice(name, lang, native=False)


async def async_add_wyoming_service(hass: HomeAssistant, host: str, port: int) -> ConfigEntry:
    """Add a Wyoming service through HA's own config flow (as the UI does)."""
    result = await hass.config_entries.flow.async_init(
        "wyoming", context={"source": SOURCE_USER}, data={CONF_HOST: host, CONF_PORT: port}
    )
    if result.get("type") != "create_entry":
        raise DemoSetupError(f"HA could not add the Wyoming service at {host}:{port}: {result}")
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise DemoSetupError(f"Wyoming service at {host}:{port} did not load ({entry.state})")
    return entry


def entity_of(hass: HomeAssistant, entry: ConfigEntry, domain: str) -> str:
    """The first entity of `domain` that a config entry created."""
    for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        if item.domain == domain:
            return item.entity_id
    raise DemoSetupError(f"{entry.title} has no {domain} entity")


async def async_wait_for_entity(
    hass: HomeAssistant, entry: ConfigEntry, domain: str, timeout: float = 10.0
) -> str:
    """Wait until a config entry has created an entity of `domain` (e.g. a satellite)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                return entity_of(hass, entry, domain)
            except DemoSetupError:
                await asyncio.sleep(0.05)


async def async_add_jarvis(
    hass: HomeAssistant, url: str, model: str, extra: Mapping[str, Any] | None = None
) -> ConfigEntry:
    """Add Jarvis with one agent, with the options the config flow gives a new one."""
    entry = ConfigEntry(
        data={"url": url},
        discovery_keys={},  # type: ignore[arg-type]
        domain="jarvis",
        minor_version=1,
        options={},
        source=SOURCE_USER,
        subentries_data=[
            {
                "data": {**DEFAULT_AGENT_OPTIONS, "model": model, **(extra or {})},
                "subentry_type": "conversation",
                "title": "Jarvis",
                "unique_id": None,
            }
        ],
        title="Jarvis",
        unique_id=None,
        version=1,
    )
    await hass.config_entries.async_add(entry)
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise DemoSetupError(f"Jarvis did not load ({entry.state}: {entry.reason})")
    return entry


async def async_create_pipeline(
    hass: HomeAssistant,
    *,
    conversation_engine: str,
    stt_engine: str,
    tts_engine: str,
    language: str = "en",
    tts_language: str | None = None,
    name: str = "Jarvis",
) -> Pipeline:
    """Create the Assist pipeline and make it the preferred one (satellites use it)."""
    stt_entity = stt.async_get_speech_to_text_engine(hass, stt_engine)
    tts_entity = get_engine_instance(hass, tts_engine)
    if stt_entity is None or tts_entity is None:
        raise DemoSetupError(f"{stt_engine} or {tts_engine} is not loaded")
    # Engines name their languages in their own way ("en", "en_US"): pick the best match.
    country = hass.config.country
    stt_language = next(iter(matches(language, stt_entity.supported_languages, country)), None)
    if tts_language is None:  # else a voice of another language was chosen (ReplyVoice)
        tts_language = next(iter(matches(language, tts_entity.supported_languages, country)), None)
    if stt_language is None or tts_language is None:
        raise DemoSetupError(f"the speech servers do not speak {language!r}")
    store = hass.data[KEY_ASSIST_PIPELINE].pipeline_store
    pipeline: Pipeline = await store.async_create_item(
        {
            "conversation_engine": conversation_engine,
            "conversation_language": language,
            "language": language,
            "name": name,
            "stt_engine": stt_engine,
            "stt_language": stt_language,
            "tts_engine": tts_engine,
            "tts_language": tts_language,
            "tts_voice": None,
            "wake_word_entity": None,
            "wake_word_id": None,
            # Jarvis runs HA's intents first itself, and asks before unlocking: HA's own shortcut
            # would unlock without asking (Jarvis raises a repair issue for such pipelines).
            "prefer_local_intents": False,
        }
    )
    store.async_set_preferred_item(pipeline.id)
    return pipeline
