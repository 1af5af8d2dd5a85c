"""The actions `jarvis.list_memories` and `jarvis.forget_memories`: the user's view of memory.

Called by an admin (or an automation, which has no user), they see and erase every memory; a
user who is not an admin sees and erases the home's, every room's, and their own.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import area_registry as ar, config_validation as cv
from homeassistant.util.json import JsonValueType
import probatio

from .const import DOMAIN
from .memory import async_get_memory
from .memory_store import MAX_MEMORIES, SCOPES, Memory, Viewer

SERVICE_LIST_MEMORIES = "list_memories"
SERVICE_FORGET_MEMORIES = "forget_memories"
ATTR_QUERY = "query"
ATTR_SCOPE = "scope"
ATTR_LIMIT = "limit"
ATTR_MEMORY_ID = "memory_id"
ATTR_ALL = "all"
DEFAULT_LIST_LIMIT = 100

LIST_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_QUERY): cv.string,
        probatio.Optional(ATTR_SCOPE): probatio.In(list(SCOPES)),
        probatio.Optional(ATTR_LIMIT, default=DEFAULT_LIST_LIMIT): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1, max=MAX_MEMORIES)
        ),
    }
)
FORGET_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_MEMORY_ID): probatio.All(cv.ensure_list, [probatio.Coerce(int)]),
        probatio.Optional(ATTR_QUERY): cv.string,
        probatio.Optional(ATTR_SCOPE): probatio.In(list(SCOPES)),
        probatio.Optional(ATTR_ALL, default=False): cv.boolean,
    }
)


async def _viewer(call: ServiceCall) -> Viewer:
    """Everything for an admin or an automation; the shared memories and their own else."""
    if call.context.user_id is None:
        return Viewer(all_rooms=True, all_users=True)
    user = await call.hass.auth.async_get_user(call.context.user_id)
    if user is not None and user.is_admin:
        return Viewer(all_rooms=True, all_users=True)
    return Viewer(user_id=call.context.user_id, all_rooms=True)


async def _async_selected(call: ServiceCall, viewer: Viewer) -> list[Memory]:
    """The memories the call's ids, query and scope pick among those the caller sees."""
    store = async_get_memory(call.hass).store
    ids: list[int] | None = call.data.get(ATTR_MEMORY_ID) or None
    query = str(call.data.get(ATTR_QUERY) or "").strip()
    found = await call.hass.async_add_executor_job(lambda: store.listing(viewer, ids=ids))
    if query:
        matching = await call.hass.async_add_executor_job(
            store.matching_all, query, viewer, MAX_MEMORIES
        )
        wanted = {m.id for m in matching}
        found = [m for m in found if m.id in wanted]
    if scope := call.data.get(ATTR_SCOPE):
        found = [m for m in found if m.scope == scope]
    return found


async def _async_list(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    found = await _async_selected(call, await _viewer(call))
    users = {u.id: u.name for u in await hass.auth.async_get_users()}
    areas = ar.async_get(hass)
    memories: list[JsonValueType] = []
    for m in found[: call.data[ATTR_LIMIT]]:
        area = areas.async_get_area(m.area_id) if m.area_id else None
        memories.append(
            {
                "id": m.id,
                "text": m.text,
                "scope": m.scope,
                "created": m.created.isoformat(),
                "user_id": m.user_id,
                "user": users.get(m.user_id) if m.user_id else None,
                "area_id": m.area_id,
                "area": area.name if area else None,
            }
        )
    return {"memories": memories, "count": len(found)}


async def _async_forget(call: ServiceCall) -> ServiceResponse:
    data: dict[str, Any] = call.data
    if not any(data.get(key) for key in (ATTR_MEMORY_ID, ATTR_QUERY, ATTR_SCOPE, ATTR_ALL)):
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="forget_nothing_selected"
        )
    targets = await _async_selected(call, await _viewer(call))
    store = async_get_memory(call.hass).store
    forgotten = await call.hass.async_add_executor_job(store.delete, [m.id for m in targets])
    return {"forgotten": forgotten}


@callback
def async_setup_memory_actions(hass: HomeAssistant) -> None:
    """Register the memory actions (from `async_setup`)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_LIST_MEMORIES,
        _async_list,
        schema=LIST_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_FORGET_MEMORIES,
        _async_forget,
        schema=FORGET_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
