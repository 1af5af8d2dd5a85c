"""Local first: let HA's built-in intents answer what they understand, without the LLM.

HA's pipeline has its own "prefer local intents" switch, but it only covers pipeline runs, and
for an agent that can control the home it passes `HassGetState` and `HassMediaSearchAndPlay` on
to the agent. Jarvis runs HA's default agent itself, so local first also works when Jarvis is
called directly (`conversation.process`, `jarvis.ask`) and the policy stays in Jarvis's hands.
"""

from __future__ import annotations

from collections.abc import Callable

from hassil.recognize import RecognizeResult
from homeassistant.components import conversation
from homeassistant.helpers import intent

from .const import LOGGER


async def async_handle_locally(
    user_input: conversation.ConversationInput,
    chat_log: conversation.ChatLog,
    agent_id: str,
    intent_filter: Callable[[RecognizeResult], bool] | None = None,
) -> conversation.ConversationResult | None:
    """HA's answer when a sentence trigger or a strict built-in intent matches, else None.

    Only exact matches on exposed entities count (what HA's pipeline does); anything else, and
    matches that fail to find their target, are left to the LLM. So are sentences of an intent
    no integration handles here: HA knows "what's the weather" (HassGetWeather) even without a
    weather integration, and would answer "Unknown intent HassGetWeather". `intent_filter` sees
    what HA recognised before it runs; returning True keeps HA from running it (safe actions).
    """
    hass = chat_log.hass
    handled = {handler.intent_type for handler in intent.async_get(hass)}

    def keep_out(result: RecognizeResult) -> bool:
        if result.intent.name not in handled:
            LOGGER.debug(
                "Home Assistant recognised %r as %s, which no integration handles here: left to"
                " the model",
                user_input.text,
                result.intent.name,
            )
            return True
        return intent_filter is not None and intent_filter(result)

    response: intent.IntentResponse | None = None
    if (
        trigger_text := await conversation.async_handle_sentence_triggers(
            hass, user_input, chat_log
        )
    ) is not None:
        response = intent.IntentResponse(language=user_input.language)
        response.async_set_speech(trigger_text)
    else:
        response = await conversation.async_handle_intents(
            hass, user_input, chat_log, intent_filter=keep_out
        )
    if response is None:
        return None

    speech: str = response.speech.get("plain", {}).get("speech", "")
    LOGGER.debug("Handled locally by Home Assistant: %r -> %r", user_input.text, speech)
    chat_log.async_add_assistant_content_without_tools(
        conversation.AssistantContent(agent_id=agent_id, content=speech)
    )
    return conversation.ConversationResult(
        response=response,
        conversation_id=chat_log.conversation_id,
        continue_conversation=chat_log.continue_conversation,
    )
