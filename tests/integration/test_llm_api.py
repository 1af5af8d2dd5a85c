"""Jarvis's LLM API `jarvis`: HA's Assist tools plus the room-aware jarvis__ tools."""

from __future__ import annotations

import json

from homeassistant.const import CONF_LLM_HASS_API, CONF_PROMPT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er, llm
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.jarvis.const import JARVIS_LLM_API_ID

from .agent_helpers import ask, async_setup_kitchen, satellite_in, speech
from .fake_ollama import FakeOllama, text_reply, tool_call_reply


@pytest.fixture
def agent_options(agent_options: dict[str, object]) -> dict[str, object]:
    """Both APIs picked, and the built-in persona (no prompt of its own)."""
    options = {**agent_options, CONF_LLM_HASS_API: [llm.LLM_API_ASSIST, JARVIS_LLM_API_ID]}
    options.pop(CONF_PROMPT)
    return options


def _tool_result(request: dict[str, object]) -> dict[str, object]:
    message = request["messages"][-1]  # type: ignore[index]
    assert message["role"] == "tool"
    return json.loads(message["content"])  # type: ignore[no-any-return]


async def test_room_overview_of_the_speaking_room(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    area = await async_setup_kitchen(hass)
    satellite = satellite_in(hass, setup_jarvis, area.id)
    # An entity of the satellite device (in the kitchen through its device) ...
    er.async_get(hass).async_get_or_create(
        "switch", "test", "sat-mute", device_id=satellite, suggested_object_id="satellite_mute"
    )
    hass.states.async_set("switch.satellite_mute", "off", {"friendly_name": "Satellite mute"})
    # ... and a light of another room, which is left out.
    office = ar.async_get(hass).async_get_or_create("Office")
    er.async_get(hass).async_get_or_create(
        "light", "test", "office", suggested_object_id="office_light"
    )
    er.async_get(hass).async_update_entity("light.office_light", area_id=office.id)
    hass.states.async_set("light.office_light", "on")
    fake_ollama.queue(
        tool_call_reply("jarvis__RoomOverview", {}), text_reply("The kitchen light is off.")
    )

    result = await ask(hass, "what is in this room", device_id=satellite)

    assert speech(result) == "The kitchen light is off."
    first, second = fake_ollama.conversation_requests
    names = [t["function"]["name"] for t in first["tools"]]
    # Jarvis includes Assist: picking both does not namespace or duplicate anything.
    assert "intent__HassTurnOn" in names
    assert names.count("jarvis__RoomOverview") == 1
    assert not any(n.startswith(("assist__", "jarvis__jarvis__")) for n in names)
    # The built-in persona knows the room of the satellite.
    assert "speaking from the Kitchen" in first["messages"][0]["content"]
    result_data = _tool_result(second)["data"]
    assert result_data["area"] == "Kitchen"
    assert sorted(result_data["devices"], key=lambda d: d["entity_id"]) == [
        {
            "name": "Kitchen Light",
            "entity_id": "light.kitchen_light",
            "state": hass.states.get("light.kitchen_light").state,  # type: ignore[union-attr]
        },
        {"name": "Satellite mute", "entity_id": "switch.satellite_mute", "state": "off"},
    ]
    assert "without an integration" not in caplog.text
    assert "not prefixed" not in caplog.text


async def test_room_overview_by_name_and_errors(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await async_setup_kitchen(hass)
    fake_ollama.queue(
        tool_call_reply("jarvis__RoomOverview", {"area": "cuisine"}),
        text_reply("Il y a la lumière."),
        tool_call_reply("jarvis__RoomOverview", {"area": "Attic"}),
        text_reply("There is no attic."),
        tool_call_reply("jarvis__RoomOverview", {}),
        text_reply("Which room?"),
    )
    assert speech(await ask(hass, "Qu'y a-t-il dans la cuisine ?", language="fr")) == (
        "Il y a la lumière."
    )
    requests = fake_ollama.conversation_requests
    assert _tool_result(requests[1])["data"]["area"] == "Kitchen"  # type: ignore[index]
    assert "Tu es Jarvis" in requests[0]["messages"][0]["content"]

    assert speech(await ask(hass, "What is in the attic?")) == "There is no attic."
    attic = _tool_result(fake_ollama.conversation_requests[3])
    assert attic["error"] is True
    assert attic["data"] == {"error": "No area named 'Attic'"}

    await ask(hass, "What is in here?")  # asked without a satellite: no room known
    here = _tool_result(fake_ollama.conversation_requests[5])
    assert here["data"] == {"error": "The speaking device has no area"}


async def test_api_is_registered_once(hass: HomeAssistant, setup_jarvis: MockConfigEntry) -> None:
    ids = [api.id for api in llm.async_get_apis(hass)]
    assert ids.count(JARVIS_LLM_API_ID) == 1
    await hass.config_entries.async_reload(setup_jarvis.entry_id)
    await hass.async_block_till_done()
    assert [api.id for api in llm.async_get_apis(hass)].count(JARVIS_LLM_API_ID) == 1
