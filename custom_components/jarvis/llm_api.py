"""Jarvis's own LLM API `jarvis`: HA's Assist tools plus Jarvis's room-aware tools.

Picking "Jarvis" alone gives an agent everything (no `assist__`/`jarvis__` namespacing of a
merged API); Jarvis's own tools carry the `jarvis__` prefix HA asks integrations to use.
"""

from __future__ import annotations

from typing import override

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    llm,
)
from homeassistant.util.json import JsonValueType
import probatio

from .const import DOMAIN, JARVIS_LLM_API_ID
from .home_context import async_assist_instance
from .memory import MEMORY_PROMPT, memory_tools
from .user_tools import async_user_tools

ASSISTANT = "conversation"  # exposure settings Jarvis follows (those of Assist)

TOOLS_PROMPT = (
    "Call jarvis__RoomOverview to learn which devices are in a room and their state; "
    "without an area it describes the room the user is speaking from."
)


def device_area(hass: HomeAssistant, device_id: str | None) -> ar.AreaEntry | None:
    """The area of a device (a satellite), if it has one."""
    if device_id and (device := dr.async_get(hass).async_get(device_id)):
        if area_id := dr.async_get_effective_area_id(hass, device):
            return ar.async_get(hass).async_get_area(area_id)
    return None


def _find_area(hass: HomeAssistant, name: str) -> ar.AreaEntry | None:
    wanted = name.strip().casefold()
    for area in ar.async_get(hass).async_list_areas():
        if wanted in {area.name.casefold(), area.id, *(a.casefold() for a in area.aliases)}:
            return area
    return None


class RoomOverviewTool(llm.Tool):
    """Exposed devices of one area with their state."""

    name = f"{DOMAIN}__RoomOverview"
    title = "Room overview"
    description = (
        "Lists the devices exposed to the assistant in an area with their current state. "
        "Leave 'area' out for the room the user is speaking from."
    )
    parameters = probatio.Schema({probatio.Optional("area"): str})
    annotations = llm.ToolAnnotations(read_only=True, destructive=False, open_world=False)
    integration = DOMAIN

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        name = tool_input.tool_args.get("area")
        area = _find_area(hass, name) if name else device_area(hass, llm_context.device_id)
        if area is None:
            error = f"No area named {name!r}" if name else "The speaking device has no area"
            return llm.ToolResult(data={"error": error}, error=True)

        ent_reg, dev_reg = er.async_get(hass), dr.async_get(hass)
        devices: list[JsonValueType] = []
        for state in hass.states.async_all():
            if not async_should_expose(hass, ASSISTANT, state.entity_id):
                continue
            entry = ent_reg.async_get(state.entity_id)
            area_id = entry.area_id if entry else None
            if entry and not area_id and entry.device_id:
                device = dev_reg.async_get(entry.device_id)
                area_id = dr.async_get_effective_area_id(hass, device) if device else None
            if area_id != area.id:
                continue
            devices.append({"name": state.name, "entity_id": state.entity_id, "state": state.state})
        return llm.ToolResult(data={"area": area.name, "devices": devices})


class JarvisAPI(llm.API):
    """The `jarvis` LLM API."""

    @override
    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        # HA's Assist API (it always exists: conversation depends on `llm`); for a Jarvis
        # request, with the home context built for the request instead of the whole home.
        assist = await async_assist_instance(self.hass, llm_context)
        prompts = (assist.api_prompt, TOOLS_PROMPT, MEMORY_PROMPT)
        tools = [*assist.tools, RoomOverviewTool(), *memory_tools()]
        # The user's tools (jarvis_tools.yaml), as the file is now; never over a built-in one.
        tools += async_user_tools(self.hass, {tool.name for tool in tools})
        return llm.APIInstance(
            api=self,
            api_prompt="\n".join(p for p in prompts if p),
            llm_context=llm_context,
            tools=tools,
            custom_serializer=assist.custom_serializer,
        )


@callback
def async_register_llm_api(hass: HomeAssistant) -> None:
    """Register the `jarvis` API (from `async_setup`: kept for HA's lifetime, like Assist)."""
    llm.async_register_api(hass, JarvisAPI(hass=hass, id=JARVIS_LLM_API_ID, name="Jarvis"))


def normalize_api_ids(api_ids: str | list[str] | None) -> list[str]:
    """Selected APIs, without Assist when Jarvis (which already includes it) is selected."""
    if not api_ids:
        return []
    ids = [api_ids] if isinstance(api_ids, str) else list(api_ids)
    if JARVIS_LLM_API_ID in ids:
        ids = [i for i in ids if i != llm.LLM_API_ASSIST]
    return ids
