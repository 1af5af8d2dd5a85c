"""Helpers for the agent tests: a real light in a real area, and asking Jarvis like a user."""

from __future__ import annotations

from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

KITCHEN_LIGHT = "light.kitchen_light"


async def async_setup_kitchen(hass: HomeAssistant, **more: list[dict[str, Any]]) -> ar.AreaEntry:
    """An optimistic template light 'Kitchen Light' in the area 'Kitchen' (exposed to Assist).

    `more`: other template entities to set up with it, by platform (`lock=[...]`); HA sets the
    template integration up once.
    """
    lights = [
        {
            "name": "Kitchen Light",
            "unique_id": "kitchen_light",
            "optimistic": True,
            "turn_on": [],
            "turn_off": [],
        },
        *more.pop("light", []),
    ]
    assert await async_setup_component(hass, "template", {"template": [{"light": lights, **more}]})
    await hass.async_block_till_done()
    area = ar.async_get(hass).async_get_or_create("Kitchen")
    area = ar.async_get(hass).async_update(area.id, aliases={"Cuisine"})
    er.async_get(hass).async_update_entity(KITCHEN_LIGHT, area_id=area.id)
    assert hass.states.get(KITCHEN_LIGHT) is not None
    return area


def satellite_in(hass: HomeAssistant, config_entry: MockConfigEntry, area_id: str) -> str:
    """A voice satellite device placed in an area; returns its device id."""
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=config_entry.entry_id,
        identifiers={("test", "satellite-kitchen")},
        name="Kitchen satellite",
    )
    dr.async_get(hass).async_update_device(device.id, area_id=area_id)
    return device.id


def agent_id(hass: HomeAssistant) -> str:
    """Entity id of the (only) Jarvis conversation agent."""
    ids = [
        e.entity_id
        for e in er.async_get(hass).entities.values()
        if e.platform == "jarvis" and e.domain == "conversation"
    ]
    assert len(ids) == 1, ids
    return ids[0]


async def ask(
    hass: HomeAssistant, text: str, *, language: str = "en", **kwargs: Any
) -> conversation.ConversationResult:
    """Ask Jarvis through HA's conversation API, as the UI or a pipeline does."""
    return await conversation.async_converse(
        hass,
        text,
        kwargs.pop("conversation_id", None),
        Context(),
        language=language,
        agent_id=agent_id(hass),
        **kwargs,
    )


def speech(result: conversation.ConversationResult) -> str:
    """What the agent says."""
    return str(result.response.speech["plain"]["speech"])


FRONT_DOOR = "lock.front_door"
GARAGE_DOOR = "cover.garage_door"
SHED_DOOR = "cover.shed_door"


async def async_setup_doors(hass: HomeAssistant) -> None:
    """The kitchen, a locked 'Front Door' ('Porte d'entrée'), a closed 'Garage Door' ('Porte du
    garage', device class garage) and a closed 'Shed Door' ('Porte de l'abri', no device class),
    all optimistic template entities exposed to Assist."""
    await async_setup_kitchen(
        hass,
        lock=[
            {
                "name": "Front Door",
                "unique_id": "front_door",
                "optimistic": True,
                "lock": [],
                "unlock": [],
            }
        ],
        cover=[
            {
                "name": name,
                "unique_id": unique_id,
                "optimistic": True,
                "open_cover": [],
                "close_cover": [],
                **extra,
            }
            for name, unique_id, extra in (
                ("Garage Door", "garage_door", {"device_class": "garage"}),
                ("Shed Door", "shed_door", {}),
            )
        ],
    )
    registry = er.async_get(hass)
    for entity_id, alias in (
        (FRONT_DOOR, "Porte d'entrée"),
        (GARAGE_DOOR, "Porte du garage"),
        (SHED_DOOR, "Porte de l'abri"),
    ):
        registry.async_update_entity(entity_id, aliases=[er.COMPUTED_NAME, alias])
        async_expose_entity(hass, conversation.DOMAIN, entity_id, True)
    await hass.services.async_call("lock", "lock", {"entity_id": FRONT_DOOR}, blocking=True)
    await hass.services.async_call(
        "cover", "close_cover", {"entity_id": [GARAGE_DOOR, SHED_DOOR]}, blocking=True
    )
    await hass.async_block_till_done()
    assert state_of(hass, FRONT_DOOR) == "locked"
    assert state_of(hass, GARAGE_DOOR) == state_of(hass, SHED_DOOR) == "closed"


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """The entity's state (it must exist)."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state
