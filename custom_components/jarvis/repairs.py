"""Fix flows of Jarvis's repair issues.

'Model missing': download the model, or pick another one; a pipeline that runs commands
locally before Jarvis can ask: see pipeline_check.
"""

from __future__ import annotations

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.const import CONF_MODEL, CONF_URL
from homeassistant.core import HomeAssistant
import probatio

from .config_flow import model_selector
from .issues import async_clear_model_missing, redact_url
from .pipeline_check import ISSUE_LOCAL_INTENTS, LocalIntentsRepairFlow
from .runtime import JarvisConfigEntry
from .server import ModelPull, ServerError, async_fetch_models, normalize_model


class ModelMissingRepairFlow(RepairsFlow):
    """Have Ollama download the missing model, or point the agent at another one."""

    def __init__(self, entry_id: str, subentry_id: str) -> None:
        """Fix the agent `subentry_id` of the entry `entry_id`."""
        self.entry_id = entry_id
        self.subentry_id = subentry_id
        self._pull: ModelPull | None = None

    def _target(self) -> tuple[JarvisConfigEntry, ConfigSubentry] | RepairsFlowResult:
        entry: JarvisConfigEntry | None = self.hass.config_entries.async_get_entry(self.entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_not_loaded")
        if (subentry := entry.subentries.get(self.subentry_id)) is None:
            return self.async_abort(reason="agent_removed")
        return entry, subentry

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Show the model (the missing one by default); download it if the server lacks it."""
        if not isinstance(target := self._target(), tuple):
            return target
        entry, subentry = target
        models = list(entry.runtime_data.coordinator.data.models)
        missing = str(subentry.data.get(CONF_MODEL))
        errors: dict[str, str] = {}
        placeholders = {
            "model": missing,
            "agent": subentry.title,
            "url": redact_url(entry.data[CONF_URL]),
            "error": "",
        }
        suggested = {CONF_MODEL: missing}
        if self._pull is not None:  # back from a failed download
            errors["base"] = "download_failed"
            placeholders["error"] = self._pull.error or ""
            suggested = {CONF_MODEL: self._pull.model}
            self._pull = None
        elif user_input is not None and CONF_MODEL in user_input:  # (it starts with the issue id)
            model = normalize_model(user_input[CONF_MODEL].strip())
            suggested = {CONF_MODEL: model}
            try:
                models = await async_fetch_models(entry.runtime_data.client)
            except ServerError as err:
                errors["base"] = err.reason
            else:
                if model in models:
                    return self._async_use(entry, subentry, model)
                self._pull = ModelPull(
                    self.hass,
                    entry.runtime_data.client,
                    model,
                    self.async_update_progress,
                    close_client=False,
                )
                return await self.async_step_download()
        schema = probatio.Schema({probatio.Required(CONF_MODEL): model_selector(models)})
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_download(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Wait for the model to be on the server."""
        assert self._pull is not None
        return self._pull.async_show(self, "init")

    async def async_step_downloaded(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """The model is on the server: the agent uses it (checked as if picked in the form)."""
        assert self._pull is not None
        model, self._pull = self._pull.model, None
        return await self.async_step_init({CONF_MODEL: model})

    def _async_use(
        self, entry: JarvisConfigEntry, subentry: ConfigSubentry, model: str
    ) -> RepairsFlowResult:
        async_clear_model_missing(self.hass, subentry)
        if subentry.data.get(CONF_MODEL) != model:
            self.hass.config_entries.async_update_subentry(
                entry, subentry, data={**subentry.data, CONF_MODEL: model}
            )
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The 'model missing' and 'pipeline runs commands locally' issues are fixable."""
    data = data or {}
    if issue_id.startswith(f"{ISSUE_LOCAL_INTENTS}_"):
        return LocalIntentsRepairFlow(str(data.get("pipeline_id")))
    return ModelMissingRepairFlow(str(data.get("entry_id")), str(data.get("subentry_id")))
