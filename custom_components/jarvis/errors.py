"""What went wrong in a chat request, as a short sentence in the user's language."""

from __future__ import annotations

from enum import StrEnum

from homeassistant.core import HomeAssistant
from homeassistant.helpers import translation
import httpx
import ollama

from .const import DOMAIN


class AgentError(StrEnum):
    """Translation keys (`exceptions` section) of the agent's spoken errors."""

    UNREACHABLE = "agent_unreachable"
    MODEL_MISSING = "agent_model_missing"
    TIMEOUT = "agent_timeout"
    SERVER_ERROR = "agent_server_error"
    TOOL_LOOP = "agent_tool_loop"
    NO_REPLY = "agent_no_reply"
    BAD_TOOL_CALLS = "agent_bad_tool_calls"


# Used when the translations cannot be loaded (they always exist for en and fr).
FALLBACK = {
    AgentError.UNREACHABLE: "Sorry, I can't reach the Ollama server right now.",
    AgentError.MODEL_MISSING: "Sorry, the model {model} is not installed on the Ollama server.",
    AgentError.TIMEOUT: "Sorry, the language model took too long to answer.",
    AgentError.SERVER_ERROR: "Sorry, the Ollama server had a problem: {detail}",
    AgentError.TOOL_LOOP: "Sorry, I got stuck while carrying out your request.",
    AgentError.NO_REPLY: "Sorry, I didn't get an answer from the language model.",
    AgentError.BAD_TOOL_CALLS: "Sorry, I couldn't work out how to do that. Try saying it"
    " another way.",
}


def classify(err: Exception) -> AgentError:
    """Map an exception from the ollama client to what the user is told."""
    if isinstance(err, ollama.ResponseError):
        if err.status_code == 404 and "not found" in str(err.error).lower():
            return AgentError.MODEL_MISSING
        return AgentError.SERVER_ERROR
    if isinstance(err, (TimeoutError, httpx.TimeoutException)):
        return AgentError.TIMEOUT
    if isinstance(err, ValueError):  # a reply that is not Ollama's JSON (a proxy's page ...)
        return AgentError.SERVER_ERROR
    # ollama raises ConnectionError for connect failures outside streams; a stream raises
    # httpx's own transport errors (refused, reset, DNS).
    return AgentError.UNREACHABLE


async def async_translated_text(
    hass: HomeAssistant,
    language: str | None,
    key: str,
    fallback: str | None = None,
    **placeholders: str,
) -> str:
    """The spoken sentence `key` (`exceptions` section) in `language`, else in English."""
    base = (language or hass.config.language or "en").replace("_", "-").split("-", 1)[0]
    template = fallback or key
    for lang in dict.fromkeys((base, "en")):
        strings = await translation.async_get_translations(hass, lang, "exceptions", [DOMAIN])
        if found := strings.get(f"component.{DOMAIN}.exceptions.{key}.message"):
            template = found
            break
    return template.format(**placeholders)


async def async_error_text(
    hass: HomeAssistant, language: str | None, error: AgentError, **placeholders: str
) -> str:
    """The spoken sentence for `error` in `language` (falls back to English)."""
    return await async_translated_text(hass, language, error.value, FALLBACK[error], **placeholders)
