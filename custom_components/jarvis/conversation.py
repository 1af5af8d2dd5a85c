"""The Jarvis conversation agent: one entity per conversation subentry."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal, override

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL, CONF_PROMPT, MATCH_ALL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, intent
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
import httpx
import ollama
import pydantic

from .const import (
    CONF_NUM_CTX,
    CONF_PREFER_LOCAL,
    CONF_PROTECTED_COVERS,
    CONF_SAFE_ACTIONS,
    DEFAULT_NUM_CTX,
    DEFAULT_PREFER_LOCAL,
    DEFAULT_SAFE_ACTIONS,
    DOMAIN,
    LOGGER,
    SUBENTRY_CONVERSATION,
)
from .context_window import ContextWindow
from .entity import agent_device_info
from .errors import AgentError, async_error_text, classify
from .home_context import RequestLLMContext, agent_api
from .issues import (
    async_clear_model_missing,
    async_clear_unreachable,
    async_report_model_missing,
    async_report_unreachable,
)
from .llm_api import normalize_api_ids
from .llm_loop import LoopStats, ToolLoopError, async_run, async_warm_up
from .local_first import async_handle_locally
from .prompts import PROMPTS, default_prompt
from .runtime import JarvisConfigEntry, ResponseStats
from .safe_actions import SafeActions, reply
from .tool_guard import BadToolCallsError, ToolGuard

PARALLEL_UPDATES = 0
CONTEXT_FULL_RATIO = 0.9  # prompt tokens / context window above which the user is warned

# What a failing chat request raises through the ollama client (a stream raises httpx's errors;
# a line that is not Ollama's JSON raises json's or pydantic's ValueError).
CHAT_ERRORS = (
    ollama.ResponseError,
    ConnectionError,
    TimeoutError,
    httpx.HTTPError,
    json.JSONDecodeError,
    pydantic.ValidationError,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: JarvisConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One conversation entity per conversation subentry."""
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_CONVERSATION:
            async_add_entities(
                [JarvisConversationEntity(entry, subentry)],
                config_subentry_id=subentry.subentry_id,
            )


class JarvisConversationEntity(conversation.ConversationEntity):
    """Jarvis: local intents first, else an Ollama model with HA's tools, streamed."""

    _attr_has_entity_name = True
    _attr_name = None
    _attr_supports_streaming = True

    def __init__(self, entry: JarvisConfigEntry, subentry: ConfigSubentry) -> None:
        """Create the agent of `subentry`."""
        self.entry = entry
        self.subentry = subentry
        self._attr_unique_id = subentry.subentry_id
        self._attr_device_info = agent_device_info(entry, subentry)
        if subentry.data.get(CONF_LLM_HASS_API):
            self._attr_supported_features = conversation.ConversationEntityFeature.CONTROL
        self._warm_up: asyncio.Task[None] | None = None
        self._warned_context_full = False
        self._model_lacks: set[str] = set()  # "tools", "thinking": what Ollama refused
        self._window = ContextWindow(int(subentry.data.get(CONF_NUM_CTX, DEFAULT_NUM_CTX)))
        self._safe = SafeActions(
            mode=str(subentry.data.get(CONF_SAFE_ACTIONS, DEFAULT_SAFE_ACTIONS)),
            protected_covers=frozenset(subentry.data.get(CONF_PROTECTED_COVERS) or ()),
        )

    @property
    def options(self) -> dict[str, Any]:
        """The agent's options (subentry data)."""
        return dict(self.subentry.data)

    @property
    @override
    def supported_languages(self) -> list[str] | Literal["*"]:
        return MATCH_ALL

    @override
    async def async_prepare(self, language: str | None = None) -> None:
        """Called while speech-to-text runs: load the model (and HA's intents for local first)."""
        if self._warm_up is None or self._warm_up.done():
            self._warm_up = self.entry.async_create_background_task(
                self.hass, self._async_warm_up(), f"jarvis warm up {self.entity_id}"
            )
        if self.options.get(CONF_PREFER_LOCAL, DEFAULT_PREFER_LOCAL):
            await conversation.async_prepare_agent(
                self.hass, conversation.HOME_ASSISTANT_AGENT, language or self.hass.config.language
            )
        await asyncio.shield(self._warm_up)

    async def _async_warm_up(self) -> None:
        client, model = self.entry.runtime_data.client, str(self.options[CONF_MODEL])
        try:
            await self._window.async_learn_limit(client, model)
            await async_warm_up(client, model, self.options, self._window.num_ctx)
        except CHAT_ERRORS as err:
            LOGGER.debug("Warming up %s failed: %s", self.options[CONF_MODEL], err)

    def _llm_context(self, user_input: conversation.ConversationInput) -> RequestLLMContext:
        """The LLM context of the request (the Assist API builds its home context from it).

        It has the satellite's device when only the satellite's entity is known.
        """
        context = user_input.as_llm_context(DOMAIN)
        if context.device_id is None and user_input.satellite_id:
            if entry := er.async_get(self.hass).async_get(user_input.satellite_id):
                context.device_id = entry.device_id
        return RequestLLMContext(
            platform=context.platform,
            context=context.context,
            language=context.language,
            assistant=context.assistant,
            device_id=context.device_id,
            request=user_input.text,
        )

    def _language(self, user_input: conversation.ConversationInput) -> str:
        """The request's language; HA's own when the request names none ('*')."""
        if user_input.language and user_input.language != MATCH_ALL:
            return user_input.language
        return self.hass.config.language

    def _prompt(self, language: str) -> str:
        """The configured prompt; the built-in persona follows the request's language."""
        prompt = str(self.options.get(CONF_PROMPT) or "").strip()
        if not prompt or prompt in {p.strip() for p in PROMPTS.values()}:
            return default_prompt(language)
        return prompt

    @override
    async def _async_handle_message(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
    ) -> conversation.ConversationResult:
        started = time.perf_counter()
        options = self.options
        language = self._language(user_input)

        # The answer to "Do you want me to unlock ...?" asked in this conversation.
        result = await self._safe.async_answer(
            self.hass, user_input, chat_log, self.entity_id, language
        )
        if result is None and options.get(CONF_PREFER_LOCAL, DEFAULT_PREFER_LOCAL):
            check = self._safe.local_check(self.hass, user_input)
            result = await async_handle_locally(user_input, chat_log, self.entity_id, check)
            if result is None and check.held is not None:  # HA understood a safe action
                text = await self._safe.async_hold(
                    self.hass, check.held, language, chat_log.conversation_id
                )
                result = reply(chat_log, user_input, self.entity_id, text)
        if result is not None:
            elapsed = time.perf_counter() - started
            self._record(ResponseStats(elapsed, elapsed, None, local=True))
            return result

        llm_context = self._llm_context(user_input)
        try:
            await chat_log.async_provide_llm_data(
                llm_context,
                agent_api(self.hass, normalize_api_ids(options.get(CONF_LLM_HASS_API))),
                self._prompt(self._language(user_input)),
                user_input.extra_system_prompt,
            )
        except conversation.ConverseError as err:
            return err.as_conversation_result()
        guard = ToolGuard(
            self.hass, self._safe, language, chat_log.conversation_id, user_input.text
        )
        if chat_log.llm_api is not None:
            chat_log.llm_api = guard.wrap(chat_log.llm_api)

        stats = LoopStats(started=started)
        model = str(options[CONF_MODEL])
        client = self.entry.runtime_data.client
        try:
            await self._window.async_learn_limit(client, model)
            await async_run(
                entity_id=self.entity_id,
                client=client,
                model=model,
                options=options,
                chat_log=chat_log,
                stats=stats,
                lacks=self._model_lacks,
                guard=guard,
                window=self._window,
                home=llm_context.home,
            )
        except CHAT_ERRORS as err:
            return await self._error_result(user_input, chat_log, classify(err), err)
        except ToolLoopError as err:
            return await self._error_result(user_input, chat_log, AgentError.TOOL_LOOP, err)
        except BadToolCallsError as err:
            return await self._error_result(user_input, chat_log, AgentError.BAD_TOOL_CALLS, err)
        finally:  # what the last request held and left out, for diagnostics
            if self._window.last is not None:
                self.entry.runtime_data.last_context[self.subentry.subentry_id] = self._window.last
        async_clear_unreachable(self.hass, self.entry)
        async_clear_model_missing(self.hass, self.subentry)
        if not isinstance(chat_log.content[-1], conversation.AssistantContent):
            return await self._error_result(user_input, chat_log, AgentError.NO_REPLY, None)
        self._window.observe(stats.prompt_tokens)
        self._check_context_window(stats.prompt_tokens)
        done = time.perf_counter()
        first = stats.first_delta or done
        self._record(
            ResponseStats(first - started, done - started, stats.tokens_per_second, local=False)
        )
        return conversation.async_get_result_from_chat_log(user_input, chat_log)

    def _check_context_window(self, prompt_tokens: int) -> None:
        """Warn once when prompts fill the context window: Ollama then drops their start."""
        num_ctx = self._window.num_ctx
        if prompt_tokens < num_ctx * CONTEXT_FULL_RATIO or self._warned_context_full:
            return
        self._warned_context_full = True
        LOGGER.warning(
            "Jarvis agent %s: the prompt took %s of the %s tokens of the context window; Ollama"
            " cuts the start of longer prompts (the instructions). Jarvis now sizes windows"
            " larger; if this comes back, raise the agent's largest context window or pick a"
            " model with a larger one",
            self.entity_id,
            prompt_tokens,
            num_ctx,
        )

    def _record(self, stats: ResponseStats) -> None:
        self.entry.runtime_data.async_record_response(self.subentry.subentry_id, stats)

    async def _error_result(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        error: AgentError,
        err: Exception | None,
    ) -> conversation.ConversationResult:
        """Log, raise the matching repair, and answer with a short sentence in the user's language."""
        model = str(self.options[CONF_MODEL])
        LOGGER.error(
            "Jarvis agent %s (%s) could not answer: %s: %s", self.entity_id, model, error, err
        )
        if error is AgentError.UNREACHABLE:
            async_report_unreachable(self.hass, self.entry)
        elif error is AgentError.MODEL_MISSING:
            async_clear_unreachable(self.hass, self.entry)
            async_report_model_missing(self.hass, self.entry, self.subentry, model)
        text = await async_error_text(
            self.hass,
            self._language(user_input),
            error,
            model=model,
            detail=str(getattr(err, "error", err)),
        )
        response = intent.IntentResponse(language=user_input.language)
        response.async_set_error(intent.IntentResponseErrorCode.UNKNOWN, text)
        return conversation.ConversationResult(
            response=response, conversation_id=chat_log.conversation_id
        )
