"""The model's context window: `num_ctx` sized from the prompt built, overflow handled.

Ollama keeps a model loaded with the `num_ctx` of the request that loaded it and loads it again
when a request asks for another one (seconds for a small model). So `num_ctx` moves in steps of
2,048 tokens, only grows while the agent lives (a warm-up loads the model with the current one),
and never goes past the limit: the model's own context length (Ollama's `show`), capped by the
agent's option.

When a prompt would not fit the limit, with room left for the reply and the turn's tool
results: earlier turns go first (oldest first), then entities listed outside the room (those
the request implies least first); the instructions, the tools, the room and the request stay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
import json
import math
import time
from typing import Any

from homeassistant.helpers.json import json_dumps
import httpx
import ollama

from .const import LOGGER
from .home_context import HomeContext

CHARS_PER_TOKEN = 3.5  # a deliberately high token estimate (English ~4.2, JSON/French ~3.3)
MAX_SCALE = 2.0  # the most the estimate is raised after Ollama counted more tokens than it said
MESSAGE_TOKENS = 4  # the chat template's tokens around each message
REPLY_RESERVE = 1024  # tokens kept free for the reply and this turn's tool results
NUM_CTX_STEP = 2048
MIN_NUM_CTX = 2048


def estimate_tokens(text: str) -> int:
    """Tokens of `text`, estimated from its length."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _message_chars(message: ollama.Message) -> int:
    chars = len(message.content or "") + len(message.thinking or "")
    for call in message.tool_calls or ():
        chars += len(call.function.name) + len(json_dumps(call.function.arguments))
    return chars


def estimate_request_tokens(
    messages: Sequence[ollama.Message], tools: Sequence[dict[str, Any]] | None
) -> int:
    """Tokens of a chat request as the model reads it: messages and tool definitions."""
    chars = sum(_message_chars(m) for m in messages)
    if tools:
        chars += len(json.dumps(list(tools), ensure_ascii=False))
    return math.ceil(chars / CHARS_PER_TOKEN) + MESSAGE_TOKENS * len(messages)


def context_length(show: ollama.ShowResponse) -> int | None:
    """The model's context length from Ollama's `show` (`<architecture>.context_length`)."""
    info = show.modelinfo or {}
    architecture = info.get("general.architecture")
    length = info.get(f"{architecture}.context_length") if architecture else None
    if length is None:
        length = next((v for k, v in info.items() if k.endswith(".context_length")), None)
    return length if isinstance(length, int) and length > 0 else None


@dataclass(slots=True)
class ContextReport:
    """What the last request to the model held and left out (for diagnostics)."""

    exposed: int  # entities exposed to Assist
    listed: dict[str, int]  # entities listed in the prompt, per reason
    listed_entities: list[str]
    summarised: int  # entities only counted (per area and domain)
    dropped_for_space: list[str]  # listed entities left out so the prompt fits
    turns_dropped: int  # earlier turns left out so the prompt fits
    estimated_tokens: int
    num_ctx: int
    limit: int
    fits: bool
    at: float = field(default_factory=time.time)


@dataclass(slots=True)
class Fit:
    """A request made to fit the context window."""

    messages: list[ollama.Message]
    num_ctx: int
    estimated_tokens: int
    turns_dropped: int = 0
    dropped_entities: list[str] = field(default_factory=list)
    fits: bool = True


def _drop_oldest_turn(messages: list[ollama.Message]) -> bool:
    """Remove the oldest earlier turn (from a user message up to the next one); False if none."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if len(users) < 2:
        return False
    start = 1 if messages and messages[0].role == "system" else 0
    del messages[start : users[1]]
    return True


class ContextWindow:
    """One agent's context window: its limit, the `num_ctx` in use, the last request's report."""

    def __init__(self, cap: int) -> None:
        """`cap`: the agent's option, the most it may use whatever the model allows."""
        self.cap = cap
        self.model_length: int | None = None  # from Ollama's `show`, once known
        self._num_ctx: int | None = None
        self.last: ContextReport | None = None
        self._warned = False  # the prompt did not fit (warned once)
        self.scale = 1.0  # real tokens / estimated tokens, when Ollama counted more

    @property
    def limit(self) -> int:
        """The most tokens a request may use."""
        if self.model_length is None:
            return self.cap
        return max(MIN_NUM_CTX, min(self.cap, self.model_length))

    @property
    def num_ctx(self) -> int:
        """The `num_ctx` in use (what a warm-up loads the model with)."""
        return self._num_ctx or min(self.limit, 2 * NUM_CTX_STEP)

    def observe(self, prompt_tokens: int) -> None:
        """Learn from the tokens Ollama counted in the last request: estimates only grow."""
        if self.last is not None and self.last.estimated_tokens and prompt_tokens:
            ratio = prompt_tokens * self.scale / self.last.estimated_tokens
            self.scale = min(MAX_SCALE, max(self.scale, ratio))

    def _estimate(
        self, messages: Sequence[ollama.Message], tools: Sequence[dict[str, Any]] | None
    ) -> int:
        return math.ceil(estimate_request_tokens(messages, tools) * self.scale)

    async def async_learn_limit(self, client: ollama.AsyncClient, model: str) -> None:
        """Ask Ollama for the model's context length, once."""
        if self.model_length is not None:
            return
        try:
            show = await client.show(model)
        except (ollama.ResponseError, httpx.HTTPError, ValueError, OSError) as err:
            LOGGER.debug("No context length for %s (%s): using %s", model, err, self.cap)
            return
        self.model_length = context_length(show) or self.cap

    def fit(
        self,
        messages: list[ollama.Message],
        tools: Sequence[dict[str, Any]] | None,
        home: HomeContext | None,
    ) -> Fit:
        """The request to send: within the limit if it can be, and the `num_ctx` for it."""
        budget = self.limit - REPLY_RESERVE
        sent = list(messages)
        tokens = self._estimate(sent, tools)
        turns = 0
        while tokens > budget and _drop_oldest_turn(sent):
            turns += 1
            tokens = self._estimate(sent, tools)

        dropped: list[str] = []
        system = sent[0] if sent and sent[0].role == "system" else None
        if tokens > budget and home is not None and system is not None and home.text:
            droppable = home.droppable()
            while tokens > budget and droppable:
                # Drop about as many characters as are over, then measure again.
                over = (tokens - budget) * CHARS_PER_TOKEN
                while droppable and over > 0:
                    line = droppable.pop(0)
                    dropped.append(line.entity_id)
                    over -= len(line.text) + 1
                content = (system.content or "").replace(
                    home.text, home.render(frozenset(dropped)), 1
                )
                sent[0] = ollama.Message(role="system", content=content)
                tokens = self._estimate(sent, tools)

        fits = tokens <= budget
        needed = tokens + REPLY_RESERVE
        step = max(MIN_NUM_CTX, math.ceil(needed / NUM_CTX_STEP) * NUM_CTX_STEP)
        num_ctx = min(self.limit, max(step, self._num_ctx or 0))
        self._num_ctx = num_ctx
        return Fit(sent, num_ctx, tokens, turns, dropped, fits)

    def record(self, fit: Fit, home: HomeContext | None, entity_id: str) -> ContextReport:
        """Remember (and log) what the request held and left out."""
        dropped = set(fit.dropped_entities)
        listed = [line for line in home.lines if line.entity_id not in dropped] if home else []
        report = ContextReport(
            exposed=home.exposed if home else 0,
            listed=dict(sorted(Counter(line.reason.name.lower() for line in listed).items())),
            listed_entities=[line.entity_id for line in listed],
            summarised=len(home.unlisted) if home else 0,
            dropped_for_space=fit.dropped_entities,
            turns_dropped=fit.turns_dropped,
            estimated_tokens=fit.estimated_tokens,
            num_ctx=fit.num_ctx,
            limit=self.limit,
            fits=fit.fits,
        )
        self.last = report
        LOGGER.debug(
            "%s prompt: ~%s tokens, num_ctx %s (limit %s); %s of %s exposed entities listed %s,"
            " %s only counted; left out for space: %s earlier turns, entities %s",
            entity_id,
            report.estimated_tokens,
            report.num_ctx,
            report.limit,
            len(listed),
            report.exposed,
            report.listed,
            report.summarised,
            report.turns_dropped,
            report.dropped_for_space,
        )
        if not fit.fits and not self._warned:
            self._warned = True
            LOGGER.warning(
                "%s: the prompt (~%s tokens) does not fit the context window (%s tokens) even"
                " without earlier turns and entities outside the room; Ollama cuts its start",
                entity_id,
                report.estimated_tokens,
                report.limit,
            )
        return report
