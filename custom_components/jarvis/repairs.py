"""Fix flow of the 'model missing' issue: pick another model installed on the server."""

from __future__ import annotations

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_MODEL, CONF_URL
from homeassistant.core import HomeAssistant
import probatio

from .config_flow import ServerError, async_fetch_models, model_selector
from .issues import async_clear_model_missing, normalize_model, redact_url
from .runtime import JarvisConfigEntry


class ModelMissingRepairFlow(RepairsFlow):
    """Point an agent whose model is gone at a model the server has."""

    def __init__(self, entry_id: str, subentry_id: str) -> None:
        """Fix the agent `subentry_id` of the entry `entry_id`."""
        self.entry_id = entry_id
        self.subentry_id = subentry_id

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Show the server's models; save the one picked if the server has it."""
        entry: JarvisConfigEntry | None = self.hass.config_entries.async_get_entry(self.entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_not_loaded")
        if (subentry := entry.subentries.get(self.subentry_id)) is None:
            return self.async_abort(reason="agent_removed")
        coordinator = entry.runtime_data.coordinator
        models = list(coordinator.data.models)
        errors: dict[str, str] = {}
        if user_input is not None and CONF_MODEL in user_input:  # (it starts with the issue id)
            model = normalize_model(user_input[CONF_MODEL].strip())
            try:
                models = await async_fetch_models(entry.runtime_data.client)
            except ServerError as err:
                errors["base"] = err.reason
            else:
                if model in models:
                    async_clear_model_missing(self.hass, subentry)
                    self.hass.config_entries.async_update_subentry(
                        entry, subentry, data={**subentry.data, CONF_MODEL: model}
                    )
                    return self.async_create_entry(data={})
                errors[CONF_MODEL] = "model_not_found"
        schema = probatio.Schema({probatio.Required(CONF_MODEL): model_selector(models)})
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or {CONF_MODEL: models[0] if models else ""}
            ),
            errors=errors,
            description_placeholders={
                "model": str(subentry.data.get(CONF_MODEL)),
                "agent": subentry.title,
                "url": redact_url(entry.data[CONF_URL]),
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Only the 'model missing' issues are fixable."""
    data = data or {}
    return ModelMissingRepairFlow(str(data.get("entry_id")), str(data.get("subentry_id")))
