"""What an HA script would unlock, open or disarm, read from its actions before it runs.

A script the model may call (HA's `script__*` tools, a `script:` tool of jarvis_tools.yaml) or
that HA's intents turn on ("turn on the door opener") can do what the safe-action rules guard:
its sequence is walked (choose, if/then/else, parallel, repeat and nested sequences, scripts it
starts) for `lock.unlock`/`lock.open`, `alarm_control_panel.alarm_disarm` and the actions that
open a cover, with their targets resolved as HA resolves them (entities, devices, areas, floors,
labels). A templated target cannot be known before the script runs and is not counted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from homeassistant.components.alarm_control_panel.const import AlarmControlPanelState
from homeassistant.components.cover import CoverDeviceClass
from homeassistant.components.script.llm import ScriptTool as HAScriptTool
from homeassistant.const import ATTR_DEVICE_CLASS
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.helpers import llm, target as target_helper
from homeassistant.helpers.template import Template

from .user_tools import ScriptTool as UserScriptTool

SCRIPT = "script"
MAX_DEPTH = 5  # scripts starting scripts
GARAGE_DEVICE_CLASSES = frozenset({CoverDeviceClass.GARAGE, CoverDeviceClass.GATE})
UNLOCKS = frozenset({"lock.unlock", "lock.open"})
DISARMS = frozenset({"alarm_control_panel.alarm_disarm"})
OPENS = frozenset(
    {"cover.open_cover", "cover.toggle", "homeassistant.turn_on", "homeassistant.toggle"}
)
STARTS = frozenset({"script.turn_on", "script.toggle", "homeassistant.turn_on"})
NESTED = ("sequence", "then", "else", "default")


def script_of_tool(tool: llm.Tool) -> str | None:
    """The script entity a tool runs (HA's script tools and Jarvis's `script:` tools)."""
    while isinstance(tool, llm.NamespacedTool):
        tool = tool.tool
    if isinstance(tool, HAScriptTool):
        return f"{SCRIPT}.{tool.name.removeprefix(f'{SCRIPT}__')}"
    if isinstance(tool, UserScriptTool):
        return tool.script
    return None


def _sequence(hass: HomeAssistant, entity_id: str) -> list[dict[str, Any]]:
    """The script's actions (validated), or [] when it is not loaded."""
    component = hass.data.get(SCRIPT)
    entity = component.get_entity(entity_id) if component is not None else None
    script = getattr(entity, "script", None)
    return list(getattr(script, "sequence", None) or [])


def _text(value: Any) -> str:
    return value.template if isinstance(value, Template) else str(value or "")


def _service(step: Mapping[str, Any]) -> str | None:
    """The action a step calls ('lock.unlock'); a templated one by its domain ('lock.*')."""
    action = _text(step.get("action") or step.get("service"))
    if not action:
        return None
    if "{" in action:
        domain = action.split(".", 1)[0].strip()
        return f"{domain}.*" if domain.isidentifier() else None
    return action.strip().lower()


def _targets(hass: HomeAssistant, step: Mapping[str, Any]) -> set[str]:
    """The entities a step acts on, as HA resolves its target (templates left out)."""
    selected: set[str] = set()
    for part in (step, step.get("target"), step.get("data")):
        if not isinstance(part, Mapping):
            continue
        config = {
            key: value
            for key, value in part.items()
            if key in ("entity_id", "device_id", "area_id", "floor_id", "label_id")
            and not isinstance(value, Template)
            and "{" not in str(value)
        }
        if config:
            found = target_helper.async_extract_referenced_entity_ids(
                hass, target_helper.TargetSelection(config)
            )
            selected |= found.referenced | found.indirectly_referenced
    return selected


def _opens(step: Mapping[str, Any]) -> bool:
    """Whether a set_cover_position step opens (any position above 0, or a templated one)."""
    data = step.get("data")
    position = data.get("position") if isinstance(data, Mapping) else None
    try:
        return float(_text(position) or 0) > 0
    except ValueError:
        return True


def _kind(service: str, step: Mapping[str, Any], state: State, protected: Collection[str]) -> str:
    """'unlock', 'open' or 'disarm' when `service` does that to `state`, else ''."""
    if state.domain == "lock" and (service in UNLOCKS or service == "lock.*"):
        return "unlock"
    if state.domain == "alarm_control_panel" and (
        service in DISARMS or service == "alarm_control_panel.*"
    ):
        return "disarm" if state.state != AlarmControlPanelState.DISARMED else ""
    if state.domain == "cover" and (
        state.attributes.get(ATTR_DEVICE_CLASS) in GARAGE_DEVICE_CLASSES
        or state.entity_id in protected
    ):
        if service in OPENS or (service == "cover.set_cover_position" and _opens(step)):
            return "open"
    return ""


def _walk(
    hass: HomeAssistant,
    steps: Iterable[Any],
    protected: Collection[str],
    found: dict[str, str],
    seen: set[str],
) -> None:
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        if (service := _service(step)) is not None:
            started: set[str] = set()
            if service.startswith(f"{SCRIPT}.") and service not in STARTS:
                started.add(service)  # script.<name>: runs that script
            for entity_id in _targets(hass, step):
                if entity_id.startswith(f"{SCRIPT}.") and service in STARTS:
                    started.add(entity_id)
                elif (state := hass.states.get(entity_id)) is not None and (
                    kind := _kind(service, step, state, protected)
                ):
                    found.setdefault(entity_id, kind)
            for script in started - seen:
                if len(seen) < MAX_DEPTH:
                    seen.add(script)
                    _walk(hass, _sequence(hass, script), protected, found, seen)
        for key in NESTED:
            value = step.get(key)
            if isinstance(value, Mapping):  # repeat: {sequence: [...]}
                _walk(hass, [value], protected, found, seen)
            elif isinstance(value, list):
                _walk(hass, value, protected, found, seen)
        if isinstance(repeat := step.get("repeat"), Mapping):
            _walk(hass, repeat.get("sequence") or [], protected, found, seen)
        for key in ("choose", "parallel"):
            if isinstance(options := step.get(key), list):
                _walk(hass, options, protected, found, seen)


@callback
def script_sensitive_entities(
    hass: HomeAssistant, script: str, protected_covers: Collection[str]
) -> dict[str, str]:
    """{entity id: 'unlock' | 'open' | 'disarm'} for what running `script` would do."""
    found: dict[str, str] = {}
    _walk(hass, _sequence(hass, script), protected_covers, found, {script})
    return found
