"""Safe actions: unlocking a lock, opening a garage door or gate, disarming an alarm.

Whether a command is understood by HA's own intents (local first) or by the model (a tool
call), Jarvis works out which entities it would act on before anything runs. When one of them
is a lock to unlock, a garage door, a gate or a cover the user protected to open, or an alarm
panel to disarm, the agent's option decides: act at once (allow), ask "Do you want me to ...?"
and act after "yes" (confirm, the default), or say it may not (refuse).

A question waits in its conversation (conversation id) for CONFIRMATION_TIMEOUT seconds; the
next turn of that conversation answers it: "yes"/"oui" (and their usual variants) acts,
anything else cancels. The question ends with a question mark, so HA's pipeline keeps the
conversation open and the satellite listens for the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
import re
from typing import Any
import unicodedata

from hassil.recognize import RecognizeResult
from homeassistant.components import conversation
from homeassistant.components.alarm_control_panel.const import AlarmControlPanelState
from homeassistant.components.cover import CoverDeviceClass, CoverState
from homeassistant.components.lock.const import LockState
from homeassistant.const import ATTR_DEVICE_CLASS
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    intent,
    llm,
)
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
import probatio

from .const import CONFIRMATION_TIMEOUT, DOMAIN, LOGGER, SAFE_ACTIONS_ALLOW, SAFE_ACTIONS_REFUSE
from .errors import async_translated_text
from .script_actions import script_sensitive_entities

INTENT_OPEN_COVER = "HassOpenCover"  # the cover integration's own "open" intent
WATCHED_INTENTS = frozenset(
    {
        intent.INTENT_TURN_ON,
        intent.INTENT_TURN_OFF,
        intent.INTENT_TOGGLE,
        intent.INTENT_SET_POSITION,
        INTENT_OPEN_COVER,
    }
)
GARAGE_DEVICE_CLASSES = frozenset({CoverDeviceClass.GARAGE, CoverDeviceClass.GATE})
PREFERENCE_SLOTS = ("preferred_area_id", "preferred_floor_id")
ASSISTANT = conversation.DOMAIN  # exposure settings the targets must pass (Assist's)


class SafeKind(StrEnum):
    """What a safe action does."""

    UNLOCK = "unlock"
    OPEN = "open"
    DISARM = "disarm"


class Stage(StrEnum):
    """What Jarvis says about a safe action (translation key `safe_<kind>_<stage>`)."""

    ASK = "ask"
    DONE = "done"
    CANCELLED = "cancelled"
    REFUSED = "refused"
    EXPIRED = "expired"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SensitiveTarget:
    """An entity a command would unlock, open or disarm."""

    entity_id: str
    name: str  # as the user or the model named it, else the entity's name
    kind: SafeKind


@dataclass(frozen=True, slots=True)
class HeldAction:
    """A command that was not run because it needs a "yes" (or is refused)."""

    intent_type: str
    slots: dict[str, Any]  # HA's intent slots: {"name": {"value": "Front Door"}, ...}
    targets: tuple[SensitiveTarget, ...]
    tool_name: str  # how the chat log records the call when it runs
    text: str  # the request, as the user said it
    # A script tool the model called (instead of an intent): run as the tool, on a "yes".
    tool: llm.Tool | None = None
    script: str | None = None
    call_args: dict[str, Any] | None = None
    llm_context: llm.LLMContext | None = None

    @property
    def kind(self) -> SafeKind:
        """What it does (the first target's kind names the sentence)."""
        return self.targets[0].kind

    @property
    def names(self) -> list[str]:
        """The names of its targets, each once."""
        return list(dict.fromkeys(target.name for target in self.targets))

    @property
    def tool_args(self) -> dict[str, Any]:
        """Its slots as a tool call's arguments (a script tool's own arguments)."""
        if self.call_args is not None:
            return self.call_args
        values = slot_values(self.slots)
        return {key: value for key, value in values.items() if key not in PREFERENCE_SLOTS}


@dataclass(slots=True)
class Pending:
    """A question waiting for its answer."""

    action: HeldAction
    expires: datetime


def slot_values(slots: Mapping[str, Any]) -> dict[str, Any]:
    """Slot values from HA's slot dicts ({"value": ...})."""
    return {
        key: slot.get("value") if isinstance(slot, Mapping) else slot for key, slot in slots.items()
    }


def _as_set(value: Any) -> set[str] | None:
    if isinstance(value, str) and value:
        return {value}
    if isinstance(value, (list, tuple, set)):
        return {str(item) for item in value} or None
    return None


def _as_name(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _opens(values: Mapping[str, Any]) -> bool:
    """Whether a HassSetPosition call opens (any position above 0, or one not understood)."""
    try:
        return float(str(values.get("position", 100)).strip().rstrip("%")) > 0
    except ValueError:
        return True


def _kind(
    intent_type: str, values: Mapping[str, Any], state: State, protected_covers: Collection[str]
) -> SafeKind | None:
    """What `intent_type` would do to `state` that needs care, if anything."""
    toggle = intent_type == intent.INTENT_TOGGLE
    if state.domain == "lock":
        if intent_type == intent.INTENT_TURN_OFF or (toggle and state.state != LockState.UNLOCKED):
            return SafeKind.UNLOCK
    elif state.domain == "cover":
        garage = state.attributes.get(ATTR_DEVICE_CLASS) in GARAGE_DEVICE_CLASSES
        if not garage and state.entity_id not in protected_covers:
            return None
        if (
            intent_type in (intent.INTENT_TURN_ON, INTENT_OPEN_COVER)
            or (toggle and state.state in (CoverState.CLOSED, CoverState.CLOSING))
            or (intent_type == intent.INTENT_SET_POSITION and _opens(values))
        ):
            return SafeKind.OPEN
    elif state.domain == "alarm_control_panel":
        if intent_type in (intent.INTENT_TURN_OFF, intent.INTENT_TOGGLE) and (
            state.state != AlarmControlPanelState.DISARMED
        ):
            return SafeKind.DISARM
    return None


@callback
def async_sensitive_targets(
    hass: HomeAssistant,
    intent_type: str,
    slots: Mapping[str, Any],
    protected_covers: Collection[str],
) -> list[SensitiveTarget]:
    """The entities that running `intent_type` with `slots` would unlock, open or disarm.

    The targets are matched the way HA's service intents match them (name or alias, area,
    floor, domain, device class, exposure to Assist, the speaker's area for duplicates).
    """
    if intent_type not in WATCHED_INTENTS:
        return []
    values = slot_values(slots)
    handler = next((h for h in intent.async_get(hass) if h.intent_type == intent_type), None)
    name = _as_name(values.get("name"))
    constraints = intent.MatchTargetsConstraints(
        name=None if name == "all" else name,
        area_name=_as_name(values.get("area")),
        floor_name=_as_name(values.get("floor")),
        domains=_as_set(values.get("domain")) or getattr(handler, "required_domains", None),
        device_classes=_as_set(values.get("device_class")),
        assistant=ASSISTANT,
    )
    if not constraints.has_constraints:
        return []
    preferences = intent.MatchTargetsPreferences(
        area_id=values.get("preferred_area_id"), floor_id=values.get("preferred_floor_id")
    )
    match = intent.async_match_targets(hass, constraints, preferences)
    if not match.is_match:
        return []  # HA would not act either
    targets: list[SensitiveTarget] = []
    for state in match.states:
        if (kind := _kind(intent_type, values, state, protected_covers)) is not None:
            label = name if name and len(match.states) == 1 else state.name
            targets.append(SensitiveTarget(state.entity_id, label or state.name, kind))
        elif state.domain == "script" and intent_type in (
            intent.INTENT_TURN_ON,
            intent.INTENT_TOGGLE,
        ):
            targets += script_targets(hass, state.entity_id, protected_covers)  # "turn on <script>"
    return targets


@callback
def script_targets(
    hass: HomeAssistant, script: str, protected_covers: Collection[str]
) -> list[SensitiveTarget]:
    """What running `script` would unlock, open or disarm (see script_actions)."""
    targets: list[SensitiveTarget] = []
    for entity_id, kind in script_sensitive_entities(hass, script, protected_covers).items():
        state = hass.states.get(entity_id)
        targets.append(
            SensitiveTarget(entity_id, state.name if state else entity_id, SafeKind(kind))
        )
    return targets


def request_area_id(hass: HomeAssistant, user_input: conversation.ConversationInput) -> str | None:
    """The area the request comes from (the satellite's, else its device's), as HA finds it."""
    device_id = user_input.device_id
    if user_input.satellite_id and (entry := er.async_get(hass).async_get(user_input.satellite_id)):
        if entry.area_id:
            return entry.area_id
        device_id = entry.device_id or device_id
    if device_id and (device := dr.async_get(hass).async_get(device_id)):
        area_id = dr.async_get_effective_area_id(hass, device)
        if area_id and ar.async_get(hass).async_get_area(area_id):
            return area_id
    return None


# --- the answer --------------------------------------------------------------------------

AFFIRMATIVE = (
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "confirm",
    "confirmed",
    "of course",
    "absolutely",
    "go ahead",
    "do it",
    "please do",
    "oui",
    "ouais",
    "d'accord",
    "confirme",
    "je confirme",
    "vas y",
    "allez y",
    "bien sur",
    "evidemment",
    "absolument",
    "fais le",
    "faites le",
)
NEGATIVE = (
    "no",
    "nope",
    "don't",
    "do not",
    "cancel",
    "stop",
    "never mind",
    "non",
    "annule",
    "arrete",
    "laisse tomber",
    "surtout pas",
    "pas question",
)
# Words around an answer that do not change it.
FILLERS = (
    "please",
    "jarvis",
    "thanks",
    "thank you",
    "s'il te plait",
    "s'il vous plait",
    "merci",
)


def normalize_words(text: str) -> list[str]:
    """Lower case words without accents or punctuation ("Vas-y !" -> ["vas", "y"])."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("’", "'").replace("-", " ")
    return re.sub(r"[^\w' ]+", " ", text).split()


def _made_of(words: list[str], phrases: Iterable[str]) -> bool:
    """Whether `words` is one or more of `phrases` (fillers allowed around them)."""
    split = [phrase.split() for phrase in (*phrases, *FILLERS)]
    reachable = [True] + [False] * len(words)  # reachable[i]: words[:i] is made of phrases
    for start in range(len(words)):
        if reachable[start]:
            for phrase in split:
                if words[start : start + len(phrase)] == phrase:
                    reachable[start + len(phrase)] = True
    meaningful = [w for w in words if w not in {w for f in FILLERS for w in f.split()}]
    return reachable[-1] and bool(meaningful)


def is_affirmative(text: str) -> bool:
    """A "yes" in English or French, and nothing else ("yes but not that one" is no yes)."""
    return _made_of(normalize_words(text), AFFIRMATIVE)


def is_negative(text: str) -> bool:
    """A "no" in English or French."""
    return _made_of(normalize_words(text), NEGATIVE)


# --- what Jarvis says --------------------------------------------------------------------

AND = {"en": " and ", "fr": " et "}


async def async_safe_text(
    hass: HomeAssistant, language: str, action: HeldAction, stage: Stage
) -> str:
    """The sentence for `stage` of `action` in `language`."""
    base = language.replace("_", "-").split("-", 1)[0]
    names = action.names
    joined = ", ".join(names[:-1]) + AND.get(base, ", ") + names[-1] if len(names) > 1 else names[0]
    return await async_translated_text(hass, language, f"safe_{action.kind}_{stage}", names=joined)


def reply(
    chat_log: conversation.ChatLog,
    user_input: conversation.ConversationInput,
    agent_id: str,
    text: str,
    *,
    failed: bool = False,
) -> conversation.ConversationResult:
    """Say `text`: added to the chat log, returned as the turn's result."""
    chat_log.async_add_assistant_content_without_tools(
        conversation.AssistantContent(agent_id=agent_id, content=text)
    )
    response = intent.IntentResponse(language=user_input.language)
    if failed:
        response.async_set_error(intent.IntentResponseErrorCode.FAILED_TO_HANDLE, text)
    else:
        response.async_set_speech(text)
    return conversation.ConversationResult(
        response=response,
        conversation_id=chat_log.conversation_id,
        continue_conversation=chat_log.continue_conversation,
    )


# --- the policy of one agent -------------------------------------------------------------


class LocalCheck:
    """An `intent_filter` for HA's local intents that holds back safe actions.

    HA calls it with what it recognised, before running anything; returning True makes HA
    leave the sentence alone, and `held` then says what was held back.
    """

    def __init__(
        self, safe: SafeActions, hass: HomeAssistant, user_input: conversation.ConversationInput
    ) -> None:
        """A check of one request."""
        self._safe = safe
        self._hass = hass
        self._user_input = user_input
        self.held: HeldAction | None = None

    def __call__(self, result: RecognizeResult) -> bool:
        """True (HA then leaves it alone) when what HA recognised is a safe action to hold."""
        if self._safe.mode == SAFE_ACTIONS_ALLOW or result.unmatched_entities:
            return False
        slots: dict[str, Any] = {
            entity.name: {"value": entity.value, "text": entity.text or entity.value}
            for entity in result.entities_list
        }
        if area_id := request_area_id(self._hass, self._user_input):
            slots["preferred_area_id"] = {"value": area_id}
        held = self._safe.held_action(
            self._hass, result.intent.name, slots, result.intent.name, self._user_input.text
        )
        if held is None:
            return False
        self.held = held
        return True


@dataclass
class SafeActions:
    """The safe-action policy of one agent, and the questions waiting for an answer."""

    mode: str
    protected_covers: frozenset[str]
    _pending: dict[str, Pending] = field(default_factory=dict)  # key: conversation id

    def held_action(
        self,
        hass: HomeAssistant,
        intent_type: str,
        slots: dict[str, Any],
        tool_name: str,
        text: str,
    ) -> HeldAction | None:
        """The command as a held action when the policy keeps it from running at once."""
        if self.mode == SAFE_ACTIONS_ALLOW:
            return None
        targets = async_sensitive_targets(hass, intent_type, slots, self.protected_covers)
        if not targets:
            return None
        return HeldAction(intent_type, slots, tuple(targets), tool_name, text)

    def held_script(
        self,
        hass: HomeAssistant,
        tool: llm.Tool,
        *,
        script: str,
        args: dict[str, Any],
        llm_context: llm.LLMContext,
        text: str,
    ) -> HeldAction | None:
        """A call of a script tool as a held action when the script does a safe action."""
        if self.mode == SAFE_ACTIONS_ALLOW:
            return None
        if not (targets := script_targets(hass, script, self.protected_covers)):
            return None
        return HeldAction(
            "", {}, tuple(targets), tool.name, text, tool, script, dict(args), llm_context
        )

    def local_check(
        self, hass: HomeAssistant, user_input: conversation.ConversationInput
    ) -> LocalCheck:
        """A filter for HA's local intents (see LocalCheck)."""
        return LocalCheck(self, hass, user_input)

    async def async_hold(
        self, hass: HomeAssistant, action: HeldAction, language: str, conversation_id: str
    ) -> str:
        """Refuse `action`, or ask about it and wait for the answer; returns what to say."""
        if self.mode == SAFE_ACTIONS_REFUSE:
            LOGGER.info("Refused to %s %s by voice", action.kind, action.names)
            return await async_safe_text(hass, language, action, Stage.REFUSED)
        now = dt_util.utcnow()
        self._pending = {key: p for key, p in self._pending.items() if p.expires > now}
        self._pending[conversation_id] = Pending(
            action, now + timedelta(seconds=CONFIRMATION_TIMEOUT)
        )
        LOGGER.debug("Asking to confirm: %s %s", action.kind, action.names)
        return await async_safe_text(hass, language, action, Stage.ASK)

    async def async_answer(
        self,
        hass: HomeAssistant,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        agent_id: str,
        language: str,
    ) -> conversation.ConversationResult | None:
        """Handle the answer to a question of this conversation; None when there is none.

        An answer that comes too late acts no more: a "yes" or "no" is told so, anything else
        is an ordinary request.
        """
        pending = self._pending.pop(chat_log.conversation_id, None)
        if pending is None:
            return None
        action = pending.action
        if dt_util.utcnow() > pending.expires:
            if not (is_affirmative(user_input.text) or is_negative(user_input.text)):
                return None
            text = await async_safe_text(hass, language, action, Stage.EXPIRED)
            return reply(chat_log, user_input, agent_id, text)
        if not is_affirmative(user_input.text):
            LOGGER.debug("Not confirmed (%r): %s %s", user_input.text, action.kind, action.names)
            text = await async_safe_text(hass, language, action, Stage.CANCELLED)
            return reply(chat_log, user_input, agent_id, text)
        done = await self._async_run(
            hass, action, user_input, chat_log, agent_id=agent_id, language=language
        )
        stage = Stage.DONE if done else Stage.FAILED
        text = await async_safe_text(hass, language, action, stage)
        return reply(chat_log, user_input, agent_id, text, failed=not done)

    async def _async_run(
        self,
        hass: HomeAssistant,
        action: HeldAction,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        *,
        agent_id: str,
        language: str,
    ) -> bool:
        """Run a confirmed command (recorded in the chat log as HA's own intents are)."""
        if action.script is not None:
            now = script_targets(hass, action.script, self.protected_covers)
        else:
            now = async_sensitive_targets(
                hass, action.intent_type, action.slots, self.protected_covers
            )
        if not {t.entity_id for t in now} <= {t.entity_id for t in action.targets}:
            LOGGER.warning("Not run: %s now targets %s, not what was confirmed", action, now)
            return False
        call = llm.ToolInput(tool_name=action.tool_name, tool_args=action.tool_args, external=True)
        chat_log.async_add_assistant_content_without_tools(
            conversation.AssistantContent(agent_id=agent_id, tool_calls=[call])
        )
        if action.tool is not None and action.llm_context is not None:
            result = await _async_run_tool(hass, action, action.llm_context, user_input)
            chat_log.async_add_assistant_content_without_tools(
                conversation.ToolResultContent(
                    agent_id=agent_id, tool_call_id=call.id, tool_name=call.tool_name, result=result
                )
            )
            return not result.error
        try:
            response = await intent.async_handle(
                hass,
                DOMAIN,
                action.intent_type,
                action.slots,
                action.text,
                user_input.context,
                language,
                assistant=ASSISTANT,
                device_id=user_input.device_id,
                satellite_id=user_input.satellite_id,
                conversation_agent_id=agent_id,
            )
        except intent.IntentError as err:
            LOGGER.warning("Confirmed %s of %s failed: %s", action.kind, action.names, err)
            result = llm.ToolResult(
                data={"error": type(err).__name__, "error_text": str(err)}, error=True
            )
        else:
            result = llm.ToolResult(
                data=llm.IntentResponseDict(response),
                error=response.response_type is intent.IntentResponseType.ERROR,
            )
        chat_log.async_add_assistant_content_without_tools(
            conversation.ToolResultContent(
                agent_id=agent_id, tool_call_id=call.id, tool_name=call.tool_name, result=result
            )
        )
        return not result.error


# States that show a target was unlocked, opened or disarmed.
GOALS = {
    SafeKind.UNLOCK: frozenset(
        {LockState.UNLOCKED, LockState.UNLOCKING, LockState.OPEN, LockState.OPENING}
    ),
    SafeKind.OPEN: frozenset({CoverState.OPEN, CoverState.OPENING}),
    SafeKind.DISARM: frozenset({AlarmControlPanelState.DISARMED, AlarmControlPanelState.DISARMING}),
}
OUTCOME_WAIT = 5.0  # seconds a script that ended may take to reach its goal (a script it started)


async def _async_run_tool(
    hass: HomeAssistant,
    action: HeldAction,
    llm_context: llm.LLMContext,
    user_input: conversation.ConversationInput,
) -> llm.ToolResult:
    """Run a confirmed script tool, in the context of the "yes".

    HA's scripts report no failure to their caller (a `stop` with `error: true` ends them
    quietly), so the targets tell: done when each reached its goal state during the run or
    within OUTCOME_WAIT seconds after it.
    """
    assert action.tool is not None
    goals = {target.entity_id: GOALS[target.kind] for target in action.targets}
    reached: set[str] = set()
    all_reached = asyncio.Event()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.state in goals[new.entity_id]:
            reached.add(new.entity_id)
            if reached >= goals.keys():
                all_reached.set()

    unsubscribe = async_track_state_change_event(hass, list(goals), changed)
    tool_input = llm.ToolInput(tool_name=action.tool_name, tool_args=dict(action.tool_args))
    try:
        result = await action.tool.async_call(
            hass, tool_input, replace(llm_context, context=user_input.context)
        )
        if not isinstance(result, llm.ToolResult):
            result = llm.ToolResult(data=result)
        for entity_id, goal in goals.items():
            if (state := hass.states.get(entity_id)) is not None and state.state in goal:
                reached.add(entity_id)
        if not result.error and reached < goals.keys():
            try:
                async with asyncio.timeout(OUTCOME_WAIT):
                    await all_reached.wait()
            except TimeoutError:
                missing = sorted(goals.keys() - reached)
                LOGGER.warning(
                    "Confirmed script %s ran, but %s did not change", action.script, missing
                )
                result = llm.ToolResult(
                    data={
                        "error": "not_done",
                        "message": f"The script ran, but {missing} did not {action.kind}.",
                    },
                    error=True,
                )
    except (HomeAssistantError, probatio.Invalid) as err:
        LOGGER.warning("Confirmed %s of %s failed: %s", action.kind, action.names, err)
        return llm.ToolResult(
            data={"error": type(err).__name__, "error_text": str(err)}, error=True
        )
    finally:
        unsubscribe()
    return result
