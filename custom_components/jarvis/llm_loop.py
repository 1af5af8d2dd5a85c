"""The LLM loop: ChatLog → Ollama (streamed) → ChatLog, with HA tools called in between."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
import time
from typing import Any

from homeassistant.components import conversation
from homeassistant.helpers import llm
import ollama

from .const import (
    CONF_KEEP_ALIVE,
    CONF_MAX_HISTORY,
    CONF_NUM_CTX,
    CONF_TEMPERATURE,
    CONF_THINK,
    DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_HISTORY,
    DEFAULT_NUM_CTX,
    DEFAULT_TEMPERATURE,
    DEFAULT_THINK,
    LOGGER,
)
from .context_window import ContextWindow
from .home_context import HomeContext
from .messages import convert_content, format_tool, tool_args, trim_history
from .tool_calls import PRINTED_CALL_STARTS, printed_tool_calls, resolve_tool_name
from .tool_guard import ToolGuard

MAX_TOOL_ITERATIONS = 10
# Seconds of silence from Ollama before giving up: the first chunk may wait for a cold model load
# (45-50 s for big models on modest hardware), later ones only for the next token.
FIRST_CHUNK_TIMEOUT = 120.0
NEXT_CHUNK_TIMEOUT = 30.0
CAPABILITY_TOOLS = "tools"
CAPABILITY_THINKING = "thinking"
WARM_KEEP_ALIVE = 120  # seconds a warmed-up model stays loaded at least


class ToolLoopError(Exception):
    """The model kept calling tools without ever answering."""


@dataclass(slots=True)
class LoopStats:
    """Timing and speed of one agent turn."""

    started: float  # time.perf_counter() when the turn started
    first_delta: float | None = None  # when the first reply text (or tool call) arrived
    eval_count: int = 0
    eval_duration_ns: int = 0
    prompt_tokens: int = 0  # largest prompt of the turn, as Ollama counted it

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed reported by Ollama."""
        if not self.eval_count or not self.eval_duration_ns:
            return None
        return self.eval_count / (self.eval_duration_ns / 1e9)


def keep_alive_value(seconds: int) -> int | str:
    """Ollama's keep_alive: -1 (stay loaded) must stay an int, others are durations."""
    return -1 if seconds < 0 else f"{seconds}s"


def chat_options(options: dict[str, Any], num_ctx: int | None = None) -> dict[str, Any]:
    """The `options` block of a chat request.

    `num_ctx` is the context window Jarvis sized for the request; the agent's option if None.
    """
    return {
        "num_ctx": num_ctx or int(options.get(CONF_NUM_CTX, DEFAULT_NUM_CTX)),
        "temperature": float(options.get(CONF_TEMPERATURE, DEFAULT_TEMPERATURE)),
    }


async def _with_stall_timeout(
    stream: AsyncIterator[ollama.ChatResponse],
) -> AsyncGenerator[ollama.ChatResponse]:
    """The stream, raising TimeoutError when Ollama goes silent (the client has no timeout)."""
    timeout = FIRST_CHUNK_TIMEOUT
    try:
        while True:
            async with asyncio.timeout(timeout):
                try:
                    response = await anext(stream)
                except StopAsyncIteration:
                    return
            yield response
            timeout = NEXT_CHUNK_TIMEOUT
    finally:
        if isinstance(stream, AsyncGenerator):
            await stream.aclose()  # close the HTTP response now, not at garbage collection


async def transform_stream(
    stream: AsyncIterator[ollama.ChatResponse], stats: LoopStats, tool_names: set[str]
) -> AsyncGenerator[conversation.AssistantContentDeltaDict]:
    """Ollama chunks → ChatLog deltas (role first), timing the first delta on the way.

    A reply that starts like JSON, a code fence or a `<tool_call>` tag is held back until it
    is complete: if it is made of tool calls printed as text (a common small-model failure)
    they become real tool calls. A call's name is the offered tool it means when there is one
    (`HassTurnOff` for `intent__HassTurnOff`); other names are left to the ToolGuard to refuse.
    """
    yield {"role": "assistant"}
    held: str | None = None
    seen_text = False
    async for response in _with_stall_timeout(stream):
        message = response.message
        delta: conversation.AssistantContentDeltaDict = {}
        if message.thinking:
            delta["thinking_content"] = message.thinking
        if message.tool_calls and not tool_names:
            LOGGER.debug("Ignoring tool calls of a model that was given no tools")
        elif message.tool_calls:
            delta["tool_calls"] = [
                _tool_input(call.function.name, call.function.arguments, tool_names)
                for call in message.tool_calls
            ]
        if text := message.content:
            if not seen_text and text.strip():
                seen_text = True
                if text.lstrip().startswith(PRINTED_CALL_STARTS):
                    held = ""
            if held is not None:
                held += text
            else:
                delta["content"] = text
        if response.done:
            stats.eval_count += response.eval_count or 0
            stats.eval_duration_ns += response.eval_duration or 0
            stats.prompt_tokens = max(stats.prompt_tokens, response.prompt_eval_count or 0)
        if delta:
            if stats.first_delta is None and ("content" in delta or "tool_calls" in delta):
                stats.first_delta = time.perf_counter()
            yield delta
    if held is not None:
        if stats.first_delta is None:
            stats.first_delta = time.perf_counter()
        if tool_names and (calls := printed_tool_calls(held)):
            LOGGER.debug("Model wrote tool calls as text: %s", held)
            yield {"tool_calls": [_tool_input(c.name, c.arguments, tool_names) for c in calls]}
        else:
            yield {"content": held}


def _tool_input(name: str, arguments: Any, tool_names: set[str]) -> llm.ToolInput:
    """A call as HA runs it, under the offered tool's name when the model's name means one."""
    return llm.ToolInput(
        tool_name=resolve_tool_name(name, tool_names) or name, tool_args=tool_args(arguments)
    )


async def _async_say(chat_log: conversation.ChatLog, entity_id: str, text: str) -> None:
    """Add Jarvis's own sentence as a streamed reply (so a pipeline speaks it too)."""

    async def sentence() -> AsyncGenerator[conversation.AssistantContentDeltaDict]:
        yield {"role": "assistant", "content": text}

    async for _content in chat_log.async_add_delta_content_stream(entity_id, sentence()):
        pass


async def async_run(
    *,
    entity_id: str,
    client: ollama.AsyncClient,
    model: str,
    options: dict[str, Any],
    chat_log: conversation.ChatLog,
    stats: LoopStats,
    lacks: set[str],
    guard: ToolGuard | None = None,
    window: ContextWindow | None = None,
    home: HomeContext | None = None,
) -> None:
    """Answer the chat log's last user message, streaming into the ChatLog.

    `guard` checks the tool calls (the chat log's API runs them through it): when it ends the
    turn itself (a question before a safe action) its sentence is the reply, and when the model
    keeps calling tools wrongly it raises BadToolCallsError.
    `lacks` holds what the model turned out not to support ("tools", "thinking"); a request
    Ollama refuses for that is sent again without it, and later turns leave it out.
    `window` sizes each request's `num_ctx` and makes it fit (earlier turns, then `home`'s
    entities outside the room give way); without it the option's `num_ctx` is sent as is.
    Raises the ollama client's errors (and httpx's, for a stream cut short) to the caller.
    """
    tools: list[dict[str, Any]] | None = None
    tool_names: set[str] = set()
    if chat_log.llm_api:
        tools = [format_tool(t, chat_log.llm_api.custom_serializer) for t in chat_log.llm_api.tools]
        tool_names = {t.name for t in chat_log.llm_api.tools}

    messages = trim_history(
        [convert_content(c) for c in chat_log.content],
        int(options.get(CONF_MAX_HISTORY, DEFAULT_MAX_HISTORY)),
    )
    think = bool(options.get(CONF_THINK, DEFAULT_THINK))
    keep_alive = keep_alive_value(int(options.get(CONF_KEEP_ALIVE, DEFAULT_KEEP_ALIVE)))

    iterations = 0
    while iterations < MAX_TOOL_ITERATIONS:
        sent_tools = (tools or None) if CAPABILITY_TOOLS not in lacks else None
        sent, num_ctx = list(messages), None
        if window is not None:
            fit = window.fit(messages, sent_tools, home)
            window.record(fit, home, entity_id)
            sent, num_ctx = fit.messages, fit.num_ctx
        stream = await client.chat(
            model=model,
            messages=sent,
            tools=sent_tools,
            stream=True,
            think=think and CAPABILITY_THINKING not in lacks,
            keep_alive=keep_alive,
            options=chat_options(options, num_ctx),
        )
        try:
            added = [
                convert_content(content)
                async for content in chat_log.async_add_delta_content_stream(
                    entity_id, transform_stream(stream, stats, tool_names)
                )
            ]
        except ollama.ResponseError as err:
            # Refused before any text was streamed: retry without what the model lacks.
            if not (missing := _missing_capability(err)) or missing in lacks:
                raise
            lacks.add(missing)
            LOGGER.warning(
                "Model %s does not support %s: %s answers without them; pick a model that"
                " supports %s, or turn the option off",
                model,
                missing,
                entity_id,
                missing,
            )
            continue
        messages.extend(added)
        iterations += 1
        if guard is not None:
            if guard.final_reply is not None:
                await _async_say(chat_log, entity_id, guard.final_reply)
                return
            guard.end_round()
        if not chat_log.unresponded_tool_results:
            return
    raise ToolLoopError


def _missing_capability(err: ollama.ResponseError) -> str | None:
    """'tools' or 'thinking' when Ollama refused a request for lack of it."""
    if err.status_code == 400:
        for capability in (CAPABILITY_TOOLS, CAPABILITY_THINKING):
            if f"does not support {capability}" in str(err.error):
                return capability
    return None


async def async_warm_up(
    client: ollama.AsyncClient, model: str, options: dict[str, Any], num_ctx: int | None = None
) -> None:
    """Load the model into Ollama's memory (an empty chat request) so the next turn is warm.

    With a short keep-alive the model stays loaded at least WARM_KEEP_ALIVE seconds, for the
    request that follows; that request's own keep-alive then applies. `num_ctx` must be the
    next request's (Ollama loads the model again for another one).
    """
    keep_alive = int(options.get(CONF_KEEP_ALIVE, DEFAULT_KEEP_ALIVE))
    if keep_alive >= 0:
        keep_alive = max(keep_alive, WARM_KEEP_ALIVE)
    await client.chat(
        model=model,
        messages=[],
        keep_alive=keep_alive_value(keep_alive),
        options=chat_options(options, num_ctx),
    )
