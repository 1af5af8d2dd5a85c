"""The `jarvis.ask` action: text in, Jarvis's reply out as response data."""

from __future__ import annotations

from homeassistant.components import conversation
from homeassistant.const import ATTR_DEVICE_ID, Platform
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, entity_registry as er, intent
import probatio

from .const import DOMAIN

SERVICE_ASK = "ask"
ATTR_TEXT = "text"
ATTR_AGENT_ID = "agent_id"
ATTR_CONVERSATION_ID = "conversation_id"
ATTR_LANGUAGE = "language"

ASK_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_TEXT): cv.string,
        probatio.Optional(ATTR_AGENT_ID): cv.entity_id,
        probatio.Optional(ATTR_CONVERSATION_ID): cv.string,
        probatio.Optional(ATTR_LANGUAGE): cv.string,
        probatio.Optional(ATTR_DEVICE_ID): cv.string,
    }
)


def jarvis_agents(hass: HomeAssistant) -> list[str]:
    """Entity ids of the loaded Jarvis conversation agents."""
    return [
        entry.entity_id
        for entry in er.async_get(hass).entities.values()
        if entry.platform == DOMAIN
        and entry.domain == Platform.CONVERSATION
        and conversation.async_get_agent_info(hass, entry.entity_id) is not None
    ]


def _agent_for(hass: HomeAssistant, agent_id: str | None) -> str:
    agents = jarvis_agents(hass)
    if agent_id is None:
        if not agents:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_agent")
        return agents[0]
    if agent_id not in agents:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="agent_not_found",
            translation_placeholders={"agent_id": agent_id},
        )
    return agent_id


async def _async_ask(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    agent_id = _agent_for(hass, call.data.get(ATTR_AGENT_ID))
    result = await conversation.async_converse(
        hass,
        text=call.data[ATTR_TEXT],
        conversation_id=call.data.get(ATTR_CONVERSATION_ID),
        context=call.context,
        language=call.data.get(ATTR_LANGUAGE),
        agent_id=agent_id,
        device_id=call.data.get(ATTR_DEVICE_ID),
    )
    response = result.response
    return {
        "response": response.speech.get("plain", {}).get("speech", ""),
        "conversation_id": result.conversation_id,
        "continue_conversation": result.continue_conversation,
        "agent_id": agent_id,
        "error": response.response_type is intent.IntentResponseType.ERROR,
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register Jarvis's actions (from `async_setup`, so they exist before any entry loads)."""
    hass.services.async_register(
        DOMAIN, SERVICE_ASK, _async_ask, schema=ASK_SCHEMA, supports_response=SupportsResponse.ONLY
    )
