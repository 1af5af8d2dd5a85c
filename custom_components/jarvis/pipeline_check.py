"""A repair issue when an Assist pipeline would run safe actions without asking.

With *Prefer handling commands locally* on, HA's pipeline runs a command its own intents
understand ("unlock the front door") before the conversation agent sees it, so a Jarvis agent
that asks first (or refuses) never gets the chance. Jarvis does local first itself, so nothing
is lost by turning the pipeline's switch off: each pipeline using a Jarvis agent whose safe
actions are not *do it at once* with the switch on raises a fixable issue, which turns it off.
Checked when an entry loads and whenever a pipeline changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components import assist_pipeline
from homeassistant.components.assist_pipeline.pipeline import (
    KEY_ASSIST_PIPELINE,
    async_get_pipeline,
)
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir

from .const import CONF_SAFE_ACTIONS, DEFAULT_SAFE_ACTIONS, DOMAIN, LOGGER, SAFE_ACTIONS_ALLOW

ISSUE_LOCAL_INTENTS = "pipeline_local_intents"


@dataclass(frozen=True, slots=True)
class _Agent:
    entry_id: str
    title: str


def issue_id(pipeline_id: str) -> str:
    """Issue id for a pipeline."""
    return f"{ISSUE_LOCAL_INTENTS}_{pipeline_id}"


@callback
def _guarded_agents(hass: HomeAssistant) -> dict[str, _Agent]:
    """Jarvis agents (conversation entity id) of loaded entries that ask or refuse."""
    agents: dict[str, _Agent] = {}
    for entity in er.async_get(hass).entities.values():
        if entity.platform != DOMAIN or entity.domain != "conversation":
            continue
        entry = hass.config_entries.async_get_entry(entity.config_entry_id or "")
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            continue
        subentry = entry.subentries.get(entity.config_subentry_id or "")
        if subentry is None:
            continue
        if subentry.data.get(CONF_SAFE_ACTIONS, DEFAULT_SAFE_ACTIONS) != SAFE_ACTIONS_ALLOW:
            agents[entity.entity_id] = _Agent(entry.entry_id, subentry.title)
    return agents


@callback
def async_check_pipelines(hass: HomeAssistant) -> None:
    """Raise the issue for each pipeline that bypasses a Jarvis agent's safe actions.

    The issues of the other pipelines are cleared.
    """
    if KEY_ASSIST_PIPELINE not in hass.data:
        return
    agents = _guarded_agents(hass)
    raised: set[str] = set()
    for pipeline in assist_pipeline.async_get_pipelines(hass):
        agent = agents.get(pipeline.conversation_engine or "")
        if agent is None or not pipeline.prefer_local_intents:
            continue
        raised.add(issue_id(pipeline.id))
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id(pipeline.id),
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_LOCAL_INTENTS,
            translation_placeholders={"pipeline": pipeline.name, "agent": agent.title},
            data={"entry_id": agent.entry_id, "pipeline_id": pipeline.id},
        )
    for domain, known in list(ir.async_get(hass).issues):
        if domain == DOMAIN and known.startswith(f"{ISSUE_LOCAL_INTENTS}_") and known not in raised:
            ir.async_delete_issue(hass, DOMAIN, known)


@callback
def async_watch_pipelines(hass: HomeAssistant) -> None:
    """Check again whenever a pipeline is added, changed or removed."""

    async def changed(_change: str, _pipeline_id: str, _config: dict[str, Any]) -> None:
        async_check_pipelines(hass)

    hass.data[KEY_ASSIST_PIPELINE].pipeline_store.async_add_listener(changed)


class LocalIntentsRepairFlow(ConfirmRepairFlow):
    """Turn the pipeline's *Prefer handling commands locally* off."""

    def __init__(self, pipeline_id: str) -> None:
        """Fix the pipeline `pipeline_id`."""
        super().__init__()
        self.pipeline_id = pipeline_id

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Ask, then turn it off."""
        if user_input is None:
            return await super().async_step_confirm(user_input)
        try:
            pipeline = async_get_pipeline(self.hass, self.pipeline_id)
        except assist_pipeline.PipelineNotFound:
            return self.async_abort(reason="pipeline_removed")
        await assist_pipeline.async_update_pipeline(self.hass, pipeline, prefer_local_intents=False)
        LOGGER.info("Turned off 'Prefer handling commands locally' of pipeline %s", pipeline.name)
        async_check_pipelines(self.hass)
        return self.async_create_entry(data={})
