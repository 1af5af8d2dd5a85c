"""Config flow for Jarvis: the Ollama server (entry) and its agents (conversation subentries)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL, CONF_NAME, CONF_PROMPT, CONF_URL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, llm
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TemplateSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from .const import (
    CONF_EMBED_MODEL,
    CONF_KEEP_ALIVE,
    CONF_MAX_HISTORY,
    CONF_NUM_CTX,
    CONF_PREFER_LOCAL,
    CONF_PROTECTED_COVERS,
    CONF_SAFE_ACTIONS,
    CONF_TEMPERATURE,
    CONF_THINK,
    DEFAULT_AGENT_NAME,
    DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_HISTORY,
    DEFAULT_NUM_CTX,
    DEFAULT_PREFER_LOCAL,
    DEFAULT_SAFE_ACTIONS,
    DEFAULT_TEMPERATURE,
    DEFAULT_THINK,
    DEFAULT_URL,
    DOMAIN,
    JARVIS_LLM_API_ID,
    MAX_NUM_CTX,
    MIN_NUM_CTX,
    SAFE_ACTIONS_MODES,
    SUBENTRY_CONVERSATION,
)
from .entity import server_name
from .prompts import default_prompt
from .runtime import JarvisConfigEntry
from .satellite_flow import (
    SatelliteFlowMixin,
    SatelliteOptionsFlow,
    SatelliteUnreachable,
    is_satellite,
    parse_satellite_address,
)
from .server import (
    ModelPull,
    ServerError,
    async_fetch_models,
    async_probe,
    create_client,
    normalize_model,
)

# hassfest refuses URLs inside translations: the example comes as a placeholder.
URL_PLACEHOLDERS = {"example_url": "http://192.168.1.10:11434"}
URL_SCHEMA = probatio.Schema(
    {probatio.Required(CONF_URL): TextSelector(TextSelectorConfig(type=TextSelectorType.URL))}
)

# Options a new agent gets; the prompt is left out so the persona follows the user's language.
DEFAULT_AGENT_OPTIONS: dict[str, Any] = {
    CONF_LLM_HASS_API: [JARVIS_LLM_API_ID],  # Jarvis's API includes HA's Assist tools
    CONF_PREFER_LOCAL: DEFAULT_PREFER_LOCAL,
    CONF_MAX_HISTORY: DEFAULT_MAX_HISTORY,
    CONF_KEEP_ALIVE: DEFAULT_KEEP_ALIVE,
    CONF_NUM_CTX: DEFAULT_NUM_CTX,
    CONF_TEMPERATURE: DEFAULT_TEMPERATURE,
    CONF_THINK: DEFAULT_THINK,
    CONF_SAFE_ACTIONS: DEFAULT_SAFE_ACTIONS,
    CONF_PROTECTED_COVERS: [],
}
INT_OPTIONS = (CONF_MAX_HISTORY, CONF_KEEP_ALIVE, CONF_NUM_CTX)


def clean_url(url: str) -> str:
    """The URL as stored: validated, without a trailing slash; raises ServerError."""
    try:
        return str(cv.url(url.strip())).rstrip("/")
    except probatio.Invalid as err:
        raise ServerError("invalid_url") from err


def model_selector(models: list[str]) -> SelectSelector:
    """A model picker listing the server's models; other names can be typed."""
    return SelectSelector(
        SelectSelectorConfig(
            options=[SelectOptionDict(value=m, label=m) for m in models], custom_value=True
        )
    )


class JarvisConfigFlow(SatelliteFlowMixin, ConfigFlow, domain=DOMAIN):
    """Set up Jarvis: the Ollama server's URL, then the model of the first agent.

    Jarvis satellites are entries of their own (`satellite_flow`): discovered, or typed in the
    user step as `tcp://host:port`.
    """

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing known."""
        self._url = ""
        self._models: list[str] = []
        self._pull: ModelPull | None = None

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the URL of the Ollama server and check that Ollama answers there."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if (address := parse_satellite_address(user_input[CONF_URL])) is not None:
                try:
                    return await self.async_step_satellite_address(*address)
                except SatelliteUnreachable as err:
                    errors["base"] = err.reason
                    return self._show_user_form(user_input, errors)
            try:
                url = clean_url(user_input[CONF_URL])
                self._async_abort_entries_match({CONF_URL: url})
                self._models = await async_probe(url)
            except ServerError as err:
                errors["base"] = err.reason
            else:
                self._url = url
                return await self.async_step_model()
        return self._show_user_form(user_input, errors)

    def _show_user_form(
        self, user_input: dict[str, Any] | None, errors: dict[str, str]
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                URL_SCHEMA, user_input or {CONF_URL: DEFAULT_URL}
            ),
            errors=errors,
            description_placeholders=URL_PLACEHOLDERS,
        )

    async def async_step_model(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the model of the first agent; one the server lacks is pulled onto it."""
        errors: dict[str, str] = {}
        placeholders = {"url": self._url, "error": ""}
        suggested = user_input or {CONF_MODEL: self._models[0] if self._models else ""}
        if self._pull is not None:  # back from a failed download
            errors["base"] = "download_failed"
            placeholders["error"] = self._pull.error or ""
            suggested = {CONF_MODEL: self._pull.model}
            self._pull = None
        elif user_input is not None:
            model = normalize_model(user_input[CONF_MODEL].strip())
            if model not in self._models:  # maybe pulled since: ask the server again
                try:
                    self._models = await async_probe(self._url)
                except ServerError as err:
                    errors["base"] = err.reason
                else:
                    if model not in self._models:
                        self._pull = ModelPull(
                            self.hass,
                            create_client(self._url),
                            model,
                            self.async_update_progress,
                            close_client=True,
                        )
                        return await self.async_step_download()
            if not errors:
                return self._async_create(model)
        schema = probatio.Schema({probatio.Required(CONF_MODEL): model_selector(self._models)})
        return self.async_show_form(
            step_id="model",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_download(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Wait for the model to be on the server."""
        assert self._pull is not None
        return self._pull.async_show(self, "model")

    async def async_step_downloaded(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The model is on the server: create the entry."""
        assert self._pull is not None
        return self._async_create(self._pull.model)

    def _async_create(self, model: str) -> ConfigFlowResult:
        return self.async_create_entry(
            title=server_name(self._url),
            data={CONF_URL: self._url},
            subentries=[
                ConfigSubentryData(
                    subentry_type=SUBENTRY_CONVERSATION,
                    data={CONF_MODEL: model, **DEFAULT_AGENT_OPTIONS},
                    title=DEFAULT_AGENT_NAME,
                    unique_id=None,
                )
            ],
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the URL of the Ollama server (e.g. it moved to another machine)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                url = clean_url(user_input[CONF_URL])
                for other in self._async_current_entries(include_ignore=False):
                    if other.entry_id != entry.entry_id and other.data.get(CONF_URL) == url:
                        return self.async_abort(reason="already_configured")
                await async_probe(url)
            except ServerError as err:
                errors["base"] = err.reason
            else:
                # The entry's update listener reloads it when the URL changed.
                return self.async_update_and_abort(
                    entry, title=server_name(url), data_updates={CONF_URL: url}
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                URL_SCHEMA, user_input or {CONF_URL: entry.data[CONF_URL]}
            ),
            errors=errors,
            description_placeholders=URL_PLACEHOLDERS,
        )

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Agents are subentries (of server entries; satellites have none)."""
        if is_satellite(config_entry):
            return {}
        return {SUBENTRY_CONVERSATION: AgentSubentryFlow}

    @classmethod
    @callback
    @override
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Only satellites have options (arbitration)."""
        return is_satellite(config_entry)

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """A satellite's options."""
        return SatelliteOptionsFlow()


class AgentSubentryFlow(ConfigSubentryFlow):
    """Add or change an agent: model, persona, tools and model options."""

    def __init__(self) -> None:
        """Start with nothing entered."""
        super().__init__()
        self._data: dict[str, Any] = {}  # what the user submitted, while its model is pulled
        self._pull: ModelPull | None = None

    @property
    def _is_new(self) -> bool:
        return self.source == "user"

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add an agent."""
        return await self.async_step_set_options(user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change an agent."""
        return await self.async_step_set_options(user_input)

    async def async_step_set_options(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """The agent's form; a model the server lacks is pulled onto it before saving."""
        entry: JarvisConfigEntry = self._get_entry()
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_not_loaded")
        coordinator = entry.runtime_data.coordinator
        models = list(coordinator.data.models) if coordinator.data else []
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if self._pull is not None:  # back from a failed download
            errors["base"] = "download_failed"
            placeholders["error"] = self._pull.error or ""
            suggested: Mapping[str, Any] = self._data
            self._pull = None
        elif user_input is not None:
            data = agent_data(self.hass, user_input)
            try:
                models = await async_fetch_models(entry.runtime_data.client)
            except ServerError as err:
                errors["base"] = err.reason
            else:
                if data[CONF_MODEL] not in models:
                    self._data = data
                    self._pull = ModelPull(
                        self.hass,
                        entry.runtime_data.client,
                        data[CONF_MODEL],
                        self.async_update_progress,
                        close_client=False,
                    )
                    return await self.async_step_download()
                return self._async_save(data)
            suggested = user_input
        elif self._is_new:
            suggested = {CONF_NAME: DEFAULT_AGENT_NAME, **DEFAULT_AGENT_OPTIONS}
            if models:
                suggested[CONF_MODEL] = models[0]
        else:
            suggested = self._get_reconfigure_subentry().data
        suggested = {
            CONF_PROMPT: default_prompt(self.hass.config.language),
            **suggested,
            CONF_LLM_HASS_API: known_apis(self.hass, suggested.get(CONF_LLM_HASS_API)),
        }
        return self.async_show_form(
            step_id="set_options",
            data_schema=self.add_suggested_values_to_schema(
                agent_schema(self.hass, models, new=self._is_new), suggested
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_download(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Wait for the agent's model to be on the server."""
        assert self._pull is not None
        return self._pull.async_show(self, "set_options")

    async def async_step_downloaded(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """The model is on the server: save the agent."""
        return self._async_save(dict(self._data))

    def _async_save(self, data: dict[str, Any]) -> SubentryFlowResult:
        if self._is_new:
            return self.async_create_entry(title=data.pop(CONF_NAME), data=data)
        return self.async_update_and_abort(
            self._get_entry(), self._get_reconfigure_subentry(), data=data
        )


def known_apis(hass: HomeAssistant, api_ids: str | list[str] | None) -> list[str]:
    """The LLM APIs among `api_ids` that exist (an API's integration may be gone)."""
    if isinstance(api_ids, str):
        api_ids = [api_ids]
    known = {api.id for api in llm.async_get_apis(hass)}
    return [api_id for api_id in api_ids or () if api_id in known]


def agent_data(hass: HomeAssistant, user_input: dict[str, Any]) -> dict[str, Any]:
    """What the agent's subentry stores from the form."""
    data = dict(user_input)
    data[CONF_MODEL] = normalize_model(str(data[CONF_MODEL]).strip())
    for key in INT_OPTIONS:
        data[key] = int(data[key])
    prompt = str(data.pop(CONF_PROMPT, "")).strip()
    # The default persona is not stored: it then follows the user's language.
    if prompt and prompt != default_prompt(hass.config.language).strip():
        data[CONF_PROMPT] = prompt
    if not data.get(CONF_LLM_HASS_API):
        data.pop(CONF_LLM_HASS_API, None)
    if embed_model := str(data.pop(CONF_EMBED_MODEL, "") or "").strip():
        data[CONF_EMBED_MODEL] = normalize_model(embed_model)
    return data


def agent_schema(hass: HomeAssistant, models: list[str], *, new: bool) -> probatio.Schema:
    """The agent's form."""
    schema: dict[Any, Any] = {}
    if new:
        schema[probatio.Required(CONF_NAME)] = str
    apis = [SelectOptionDict(value=api.id, label=api.name) for api in llm.async_get_apis(hass)]
    schema |= {
        probatio.Required(CONF_MODEL): model_selector(models),
        probatio.Optional(CONF_PROMPT): TemplateSelector(),
        probatio.Optional(CONF_LLM_HASS_API): SelectSelector(
            SelectSelectorConfig(options=apis, multiple=True)
        ),
        probatio.Required(CONF_PREFER_LOCAL, default=DEFAULT_PREFER_LOCAL): BooleanSelector(),
        probatio.Required(CONF_MAX_HISTORY, default=DEFAULT_MAX_HISTORY): NumberSelector(
            NumberSelectorConfig(min=0, max=200, step=1, mode=NumberSelectorMode.BOX)
        ),
        probatio.Required(CONF_KEEP_ALIVE, default=DEFAULT_KEEP_ALIVE): NumberSelector(
            NumberSelectorConfig(
                min=-1, max=86400, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="s"
            )
        ),
        probatio.Required(CONF_NUM_CTX, default=DEFAULT_NUM_CTX): NumberSelector(
            NumberSelectorConfig(
                min=MIN_NUM_CTX, max=MAX_NUM_CTX, step=1, mode=NumberSelectorMode.BOX
            )
        ),
        probatio.Required(CONF_TEMPERATURE, default=DEFAULT_TEMPERATURE): NumberSelector(
            NumberSelectorConfig(min=0, max=2, step=0.05, mode=NumberSelectorMode.SLIDER)
        ),
        probatio.Required(CONF_THINK, default=DEFAULT_THINK): BooleanSelector(),
        probatio.Required(CONF_SAFE_ACTIONS, default=DEFAULT_SAFE_ACTIONS): SelectSelector(
            SelectSelectorConfig(
                options=list(SAFE_ACTIONS_MODES),
                translation_key=CONF_SAFE_ACTIONS,
                mode=SelectSelectorMode.LIST,
            )
        ),
        probatio.Optional(CONF_PROTECTED_COVERS, default=[]): EntitySelector(
            EntitySelectorConfig(domain="cover", multiple=True)
        ),
        probatio.Optional(CONF_EMBED_MODEL): model_selector(models),
    }
    return probatio.Schema(schema)
