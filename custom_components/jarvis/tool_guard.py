"""What Jarvis checks before HA runs a tool the model called.

For each call of a turn: the tool's name is resolved among the offered tools (`HassTurnOff`
means `intent__HassTurnOff` when that is the only one); the arguments are repaired where a
small model's slip is plain (a string for a list, a number or a boolean as a string, a name or
an area written without its accents or capitals) and checked against the tool's schema; a
call repeated with the same arguments runs once; a call that would unlock, open a garage door
or disarm (an intent, or a script that does it) goes through the agent's safe-action policy.

A call that is still wrong is not run: its result tells the model exactly what was wrong (the
tool, the field, the allowed values), which is the model's one chance to correct it; when the
next round is wrong again the turn ends with a spoken apology (BadToolCallsError).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
import json
import re
from typing import Any, override
import unicodedata

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    entity_registry as er,
    floor_registry as fr,
    intent,
    llm,
)
from homeassistant.util.json import JsonValueType
import probatio

from .const import DOMAIN, LOGGER, SAFE_ACTIONS_REFUSE
from .safe_actions import HeldAction, SafeActions
from .script_actions import script_of_tool
from .tool_calls import matching_tool_names

MAX_REPROMPTS = 1  # rounds of invalid calls the model is told about before Jarvis gives up
ENTITY_KEYS = ("entity_id", "entity", "entity_name", "device")  # mean "name" in HA's intents
ARTICLES = ("the ", "le ", "la ", "les ", "l'")
TRUE_WORDS = frozenset({"true", "yes", "on", "1", "oui", "vrai"})
FALSE_WORDS = frozenset({"false", "no", "off", "0", "non", "faux"})


class BadToolCallsError(Exception):
    """The model's tool calls were still invalid after it was told what was wrong."""


def fold(text: str) -> str:
    """A name for loose comparison: no accents, capitals, punctuation or double spaces."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w']+|_", " ", text).split())


def _without_article(folded: str) -> str:
    for article in ARTICLES:
        if folded.startswith(article):
            return folded.removeprefix(article).strip()
    return folded


@dataclass(slots=True)
class Problem:
    """One thing wrong with a tool call."""

    field: str | None
    message: str
    value: Any = None
    allowed: list[str] | None = None
    allowed_label: str = "allowed values"

    def as_text(self) -> str:
        """The problem as the model is told it."""
        text = f"field '{self.field}'" if self.field else "the call"
        if self.value is not None:
            text += f" (given {json.dumps(self.value, ensure_ascii=False, default=str)})"
        text += f": {self.message}"
        if self.allowed:
            text += f"; {self.allowed_label}: {', '.join(self.allowed)}"
        return text


# --- argument repairs --------------------------------------------------------------------


def _number(value: Any, kind: str) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%").strip().replace(",", "."))
        except ValueError:
            return value
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str):
        if (word := value.strip().casefold()) in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def _enum_value(value: str, allowed: list[Any]) -> str:
    if value in allowed:
        return value
    for wanted in (fold(value), fold(value).removesuffix("s")):
        matches = [a for a in allowed if isinstance(a, str) and fold(a) == wanted]
        if len(matches) == 1:
            return matches[0]
    return value


def repair_value(value: Any, spec: dict[str, Any]) -> Any:
    """`value` in the JSON type `spec` asks for, when the slip is plain; else as it is."""
    kind = spec.get("type")
    if kind == "array":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")] if "," in value else [value]
        elif not isinstance(value, list):
            value = [value]
        items = spec.get("items")
        return [repair_value(v, items) for v in value] if isinstance(items, dict) else value
    if kind == "string":
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and isinstance(enum := spec.get("enum"), list):
            value = _enum_value(value, enum)
        return value
    if kind in ("integer", "number"):
        return _number(value, kind)
    if kind == "boolean":
        return _boolean(value)
    return value


def home_name(value: str, names: set[str]) -> str:
    """`value` as the home writes it, when it is one of `names` but for accents or capitals."""
    if value.strip().casefold() in {n.strip().casefold() for n in names}:
        return value  # HA's own matching ignores case
    wanted = fold(value)
    for key in (wanted, _without_article(wanted)):
        matches = {n for n in names if fold(n) == key or _without_article(fold(n)) == key}
        if len(matches) == 1:
            return matches.pop()
    return value


def entity_names(hass: HomeAssistant, assistant: str) -> set[str]:
    """Names and aliases of the entities exposed to `assistant`."""
    registry = er.async_get(hass)
    names: set[str] = set()
    for state in hass.states.async_all():
        if async_should_expose(hass, assistant, state.entity_id):
            names.add(state.name)
            names.update(
                intent.async_get_entity_aliases(
                    hass, registry.async_get(state.entity_id), state=state
                )
            )
    return {n for n in names if n}


def area_names(hass: HomeAssistant) -> set[str]:
    """Names and aliases of the home's areas."""
    return {
        name
        for area in ar.async_get(hass).async_list_areas()
        for name in (area.name, *area.aliases)
    }


def floor_names(hass: HomeAssistant) -> set[str]:
    """Names and aliases of the home's floors."""
    return {
        name
        for floor in fr.async_get(hass).async_list_floors()
        for name in (floor.name, *floor.aliases)
    }


def exposed_domains(hass: HomeAssistant, assistant: str) -> set[str]:
    """Domains of the entities exposed to `assistant`."""
    return {
        state.domain
        for state in hass.states.async_all()
        if async_should_expose(hass, assistant, state.entity_id)
    }


def intent_tool(tool: llm.Tool) -> llm.IntentTool | None:
    """The HA intent behind a tool (unwrapping a merged API's namespace), if it is one."""
    while isinstance(tool, llm.NamespacedTool):
        tool = tool.tool
    return tool if isinstance(tool, llm.IntentTool) else None


def repair_arguments(
    hass: HomeAssistant,
    tool: llm.Tool,
    spec: dict[str, Any],
    args: dict[str, Any],
    assistant: str,
) -> tuple[dict[str, Any], list[Problem]]:
    """The arguments with plain slips repaired, and what is wrong beyond repair."""
    props: dict[str, Any] = spec.get("properties") or {}
    by_fold = {p.casefold().replace("-", "_"): p for p in props}
    repaired: dict[str, Any] = {}
    for key, value in args.items():
        target = by_fold.get(key.casefold().replace("-", "_"), key)
        if target not in props and key in ENTITY_KEYS and "name" in props and "name" not in args:
            target = "name"
        repaired[target] = repair_value(value, props[target]) if target in props else value

    problems: list[Problem] = []
    is_intent = intent_tool(tool) is not None
    if not is_intent and tool.integration != DOMAIN:
        return repaired, problems  # its fields need not mean the home's names and domains

    for key, names in (("name", None), ("area", area_names), ("floor", floor_names)):
        if key in props and isinstance(value := repaired.get(key), str):
            if hass.states.get(value) is not None:  # HA takes an entity id as a name
                continue
            known = entity_names(hass, assistant) if names is None else names(hass)
            repaired[key] = home_name(value, known)

    domains = repaired.get("domain")
    if is_intent and "domain" in props and isinstance(domains, list):
        offered = exposed_domains(hass, assistant)
        fixed = [_enum_value(d, sorted(offered)) if isinstance(d, str) else d for d in domains]
        repaired["domain"] = fixed
        problems += [
            Problem("domain", "no entity of this domain is exposed", d, sorted(offered))
            for d in fixed
            if d not in offered
        ]
    return repaired, problems


def _allowed(spec: dict[str, Any]) -> list[str] | None:
    for candidate in (spec, spec.get("items")):
        if isinstance(candidate, dict) and isinstance(enum := candidate.get("enum"), list):
            return [str(v) for v in enum]
    return None


def check_arguments(tool: llm.Tool, spec: dict[str, Any], args: dict[str, Any]) -> list[Problem]:
    """What the tool's own schema (probatio) finds wrong with `args`."""
    props: dict[str, Any] = spec.get("properties") or {}
    problems: list[Problem] = []
    if spec.get("additionalProperties") is False:
        problems += [
            Problem(key, "this tool has no such field", args[key], sorted(props), "its fields")
            for key in args
            if key not in props
        ]
    # Unknown fields are reported above; the schema checks the others.
    known = {key: value for key, value in args.items() if key in props} if problems else args
    try:
        tool.parameters(known)
    except probatio.MultipleInvalid as err:
        errors = list(err.errors)
    except probatio.Invalid as err:
        errors = [err]
    else:
        errors = []
    for error in errors:
        path = list(error.path)
        name = path[0] if path and path[0] in props else None
        if isinstance(error, probatio.AnyInvalid):
            name = None  # probatio names the key it tried last, not a wrong one
        allowed = _allowed(props[name]) if name else None
        message = error.msg
        if allowed and isinstance(error, probatio.InInvalid):
            message = "not an allowed value"  # the values follow
        problems.append(Problem(name, message, _value_at(known, path) if name else None, allowed))
    return problems


def _value_at(args: dict[str, Any], path: list[Any]) -> Any:
    """The value an error's path points at (an item of a list, or the field's value)."""
    value: Any = args
    for step in path:
        try:
            value = value[step]
        except KeyError, IndexError, TypeError:
            return None
    return value


# --- the guard ---------------------------------------------------------------------------


@dataclass
class ToolGuard:
    """The checks of one turn (see the module's docstring)."""

    hass: HomeAssistant
    safe: SafeActions | None
    language: str
    conversation_id: str
    text: str  # the user's request
    final_reply: str | None = None  # set when Jarvis ends the turn itself (safe actions)
    _invalid_rounds: int = 0
    _invalid_now: bool = False
    _runs: dict[str, asyncio.Future[llm.ToolResult]] = field(default_factory=dict)
    _specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def wrap(self, api: llm.APIInstance) -> GuardedAPIInstance:
        """`api` with its tool calls going through this guard."""
        return GuardedAPIInstance(
            api=api.api,
            api_prompt=api.api_prompt,
            llm_context=api.llm_context,
            tools=api.tools,
            custom_serializer=api.custom_serializer,
            guard=self,
        )

    def end_round(self) -> None:
        """After each model reply: raise BadToolCallsError when the re-prompt did not help."""
        if self._invalid_now:
            self._invalid_rounds += 1
            self._invalid_now = False
        if self._invalid_rounds > MAX_REPROMPTS:
            raise BadToolCallsError

    def _spec(self, api: llm.APIInstance, tool: llm.Tool) -> dict[str, Any]:
        if tool.name not in self._specs:
            self._specs[tool.name] = probatio.to_openapi(
                tool.parameters, custom_serializer=api.custom_serializer, openapi_version="3.1.0"
            )
        return self._specs[tool.name]

    def _invalid(self, tool_name: str, problems: list[Problem], advice: str) -> llm.ToolResult:
        self._invalid_now = True
        texts: list[JsonValueType] = [problem.as_text() for problem in problems]
        LOGGER.debug("Invalid call of %s, not run: %s", tool_name, "; ".join(map(str, texts)))
        return llm.ToolResult(
            data={
                "error": "invalid_tool_call",
                "tool": tool_name,
                "problems": texts,
                "message": f"{tool_name} was not run: {'; '.join(map(str, texts))}. {advice}",
            },
            error=True,
        )

    async def async_call(self, api: llm.APIInstance, tool_input: llm.ToolInput) -> llm.ToolResult:
        """Check the call, then run it through HA (or hold it, or answer from the last run)."""
        offered = [tool.name for tool in api.tools]
        matches = matching_tool_names(tool_input.tool_name, offered)
        if len(matches) != 1:
            problem = (
                Problem(None, "it could mean several tools", allowed=matches)
                if matches
                else Problem(None, "there is no tool of this name", allowed=offered)
            )
            return self._invalid(
                tool_input.tool_name, [problem], "Call one of the allowed tools by its full name."
            )
        tool = next(t for t in api.tools if t.name == matches[0])
        spec = self._spec(api, tool)
        assistant = api.llm_context.assistant
        args, problems = repair_arguments(self.hass, tool, spec, tool_input.tool_args, assistant)
        if problems := problems + check_arguments(tool, spec, args):
            return self._invalid(
                tool.name, problems, "Call it again with corrected arguments, or answer the user."
            )
        if args != tool_input.tool_args:
            LOGGER.debug(
                "Repaired the arguments of %s: %s -> %s", tool.name, tool_input.tool_args, args
            )

        key = json.dumps([tool.name, args], sort_keys=True, default=str)
        if (earlier := self._runs.get(key)) is not None:
            LOGGER.debug("Repeated call of %s %s: not run again", tool.name, args)
            return _repeated(await asyncio.shield(earlier))
        if (held := self._held(tool, args, api.llm_context)) is not None:
            run = self._async_hold(held)
        else:
            run = llm.APIInstance.async_call_tool(
                api, replace(tool_input, tool_name=tool.name, tool_args=args)
            )
        # A task, so that a repeat arriving while it runs waits for the same result.
        self._runs[key] = task = self.hass.async_create_task(run, f"jarvis tool {tool.name}")
        return await task

    def _held(
        self, tool: llm.Tool, args: dict[str, Any], llm_context: llm.LLMContext
    ) -> HeldAction | None:
        if self.safe is None:
            return None
        if (inner := intent_tool(tool)) is None:
            if (script := script_of_tool(tool)) is None:
                return None
            return self.safe.held_script(
                self.hass, tool, script=script, args=args, llm_context=llm_context, text=self.text
            )
        slots: dict[str, Any] = {
            key: {"value": value}
            for key, value in args.items()
            if not intent.is_blank_slot_value(value)
        }
        if inner.extra_slots:
            preferences = llm.async_get_match_preferences(self.hass, llm_context)
            for slot, value in (
                ("preferred_area_id", preferences.area_id),
                ("preferred_floor_id", preferences.floor_id),
            ):
                if value and slot in inner.extra_slots:
                    slots[slot] = {"value": value}
        return self.safe.held_action(self.hass, inner.intent_type, slots, tool.name, self.text)

    async def _async_hold(self, held: HeldAction) -> llm.ToolResult:
        assert self.safe is not None
        said = await self.safe.async_hold(self.hass, held, self.language, self.conversation_id)
        self.final_reply = said
        if self.safe.mode == SAFE_ACTIONS_REFUSE:
            return llm.ToolResult(
                data={"error": "not_allowed", "message": f"Not done; the user was told: {said}"},
                error=True,
            )
        return llm.ToolResult(
            data={
                "status": "waiting_for_confirmation",
                "message": f"Not done yet; the user was asked: {said}",
            }
        )


def _repeated(result: llm.ToolResult) -> llm.ToolResult:
    """An earlier result, marked as such (keeping HA's intent response for the turn's result)."""
    note = "Already done earlier in this turn with the same arguments; not run again."
    data: dict[str, Any]
    if isinstance(result.data, llm.IntentResponseDict) and hasattr(result.data, "original"):
        data = llm.IntentResponseDict(result.data.original)
    else:
        data = dict(result.data)
    data["note"] = note
    return llm.ToolResult(data=data, error=result.error)


@dataclass
class GuardedAPIInstance(llm.APIInstance):
    """An LLM API instance whose tool calls go through a ToolGuard."""

    guard: ToolGuard | None = None

    @override
    async def async_call_tool(self, tool_input: llm.ToolInput) -> llm.ToolResult:
        assert self.guard is not None
        return await self.guard.async_call(self, tool_input)
