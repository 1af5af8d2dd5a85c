"""Long-term memory: the model remembers, recalls and forgets through the Jarvis tools.

Real HA, the real `ollama` client against the fake Ollama server scripted to call the tools;
the memories live in an SQLite file in the test's own config folder.
"""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_LLM_HASS_API
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import area_registry as ar, device_registry as dr, service, translation
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.const import DOMAIN, JARVIS_LLM_API_ID
from custom_components.jarvis.memory import DATA_MEMORY, MEMORY_FILE

from .agent_helpers import agent_id, speech
from .fake_ollama import FakeOllama, text_reply, tool_call_reply

BIKE = "The bike lock code is 4512"


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A config folder of the test's own: the memory file starts empty."""
    return hass_tmp_config_dir


@pytest.fixture
def agent_options(agent_options: dict[str, object]) -> dict[str, object]:
    """The agent uses the Jarvis API (memory tools included)."""
    return {**agent_options, CONF_LLM_HASS_API: [JARVIS_LLM_API_ID]}


async def ask_as(
    hass: HomeAssistant,
    text: str,
    *,
    user_id: str | None = None,
    device_id: str | None = None,
    language: str = "en",
) -> conversation.ConversationResult:
    """Ask Jarvis in a new conversation, as `user_id` and/or from the satellite `device_id`."""
    return await conversation.async_converse(
        hass,
        text,
        None,
        Context(user_id=user_id),
        language=language,
        agent_id=agent_id(hass),
        device_id=device_id,
    )


def tool_result(fake_ollama: FakeOllama, index: int = -1) -> dict[str, Any]:
    """The tool result the model got back in the `index`th conversation request."""
    message = fake_ollama.conversation_requests[index]["messages"][-1]
    assert message["role"] == "tool", message
    return json.loads(message["content"])  # type: ignore[no-any-return]


async def remember(
    hass: HomeAssistant, fake_ollama: FakeOllama, text: str, **kwargs: Any
) -> dict[str, Any]:
    """Have the model call jarvis__Remember (args from `kwargs`'s 'scope'); its result."""
    args = {"text": text}
    if scope := kwargs.pop("scope", None):
        args["scope"] = scope
    fake_ollama.queue(tool_call_reply("jarvis__Remember", args), text_reply("Noted."))
    assert speech(await ask_as(hass, f"Remember that {text}", **kwargs)) == "Noted."
    return tool_result(fake_ollama)


async def recall(
    hass: HomeAssistant, fake_ollama: FakeOllama, query: str | None, **kwargs: Any
) -> dict[str, Any]:
    """Have the model call jarvis__Recall in a new conversation; its result."""
    fake_ollama.queue(
        tool_call_reply("jarvis__Recall", {"query": query} if query else {}),
        text_reply("Here is what I know."),
    )
    await ask_as(hass, f"What do you remember about {query}?", **kwargs)
    return tool_result(fake_ollama)


def recalled(result: dict[str, Any]) -> list[str]:
    assert result["error"] is False, result
    return [memory["text"] for memory in result["data"]["memories"]]


async def test_remembered_in_one_conversation_recalled_days_later_after_a_restart(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await hass.config.async_set_time_zone("Europe/Paris")
    freezer.move_to("2026-11-02 09:00:00+00:00")
    fake_ollama.queue(
        tool_call_reply("jarvis__Remember", {"text": BIKE}),
        text_reply("OK, I'll remember that."),
    )
    first = await ask_as(hass, "Remember that the bike lock code is 4512")

    assert speech(first) == "OK, I'll remember that."
    offered = [t["function"]["name"] for t in fake_ollama.conversation_requests[0]["tools"]]
    assert {"jarvis__Remember", "jarvis__Recall", "jarvis__Forget"} <= set(offered)
    assert "jarvis__Recall" in fake_ollama.conversation_requests[0]["messages"][0]["content"]
    stored = tool_result(fake_ollama)
    assert stored["error"] is False
    assert stored["data"] | {"id": 0} == {
        "remembered": BIKE,
        "id": 0,
        "text": BIKE,
        "scope": "home",  # nobody identified, no room: the whole home
        "remembered_on": "2026-11-02",
    }
    assert (Path(hass.config.config_dir) / MEMORY_FILE).is_file()

    # HA "restarts": the entry unloads and loads again, the memory is read from its file anew.
    assert await hass.config_entries.async_unload(setup_jarvis.entry_id)
    assert setup_jarvis.state is ConfigEntryState.NOT_LOADED
    hass.data.pop(DATA_MEMORY)
    assert await hass.config_entries.async_setup(setup_jarvis.entry_id)
    await hass.async_block_till_done()

    freezer.tick(timedelta(days=3))
    fake_ollama.queue(
        tool_call_reply("jarvis__Recall", {"query": "bike lock code"}),
        text_reply("The bike lock code is 4512."),
    )
    second = await ask_as(hass, "What's the code of the bike lock?")

    assert speech(second) == "The bike lock code is 4512."
    assert second.conversation_id != first.conversation_id
    request = fake_ollama.conversation_requests[-2]
    assert "4512" not in json.dumps(request["messages"])  # not from the conversation's history
    found = tool_result(fake_ollama)
    assert found["data"]["search"] == "words"
    assert found["data"]["memories"] == [
        {"id": stored["data"]["id"], "text": BIKE, "scope": "home", "remembered_on": "2026-11-02"}
    ]


async def test_recall_finds_words_in_other_forms_and_says_when_nothing_matches(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await remember(hass, fake_ollama, BIKE)
    await remember(hass, fake_ollama, "Le code du garage est 9921")
    again = await remember(hass, fake_ollama, "the bike lock code is 4512")  # other capitals

    assert again["data"]["note"] == "This was already remembered."
    await remember(hass, fake_ollama, "La clé de la cave est dans l'entrée")
    # Plurals, accents and French stop words are no obstacle; the best match comes first.
    assert recalled(await recall(hass, fake_ollama, "bikes' locks")) == [BIKE]
    assert recalled(await recall(hass, fake_ollama, "Quel est le code du GARAGE ?")) == [
        "Le code du garage est 9921",
        BIKE,  # "code" too, ranked after
    ]
    assert recalled(await recall(hass, fake_ollama, "ou est la cle de la cave")) == [
        "La clé de la cave est dans l'entrée"
    ]
    nothing = await recall(hass, fake_ollama, "passport number")
    assert nothing["data"]["memories"] == []
    assert nothing["data"]["message"] == "Nothing remembered matches this."
    newest = recalled(await recall(hass, fake_ollama, None))
    assert newest == ["La clé de la cave est dans l'entrée", "Le code du garage est 9921", BIKE]


async def test_forget_by_words_and_by_id(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await remember(hass, fake_ollama, BIKE)
    wifi = await remember(hass, fake_ollama, "The guest wifi password is sunflower")
    await remember(hass, fake_ollama, "The shed key is under the blue pot")

    fake_ollama.queue(
        tool_call_reply("jarvis__Forget", {"query": "the bike lock code"}), text_reply("Done.")
    )
    await ask_as(hass, "Forget the bike lock code")
    assert tool_result(fake_ollama)["data"] == {"forgotten": [BIKE], "count": 1}

    fake_ollama.queue(
        tool_call_reply("jarvis__Forget", {"memory_id": str(wifi["data"]["id"])}),
        text_reply("Done."),
    )
    await ask_as(hass, "Forget the wifi password")
    assert tool_result(fake_ollama)["data"]["forgotten"] == ["The guest wifi password is sunflower"]

    fake_ollama.queue(
        tool_call_reply("jarvis__Forget", {"query": "passport"}), text_reply("Nothing to forget.")
    )
    await ask_as(hass, "Forget my passport number")
    assert tool_result(fake_ollama)["data"]["count"] == 0

    assert recalled(await recall(hass, fake_ollama, "bike lock code")) == []
    assert recalled(await recall(hass, fake_ollama, None)) == ["The shed key is under the blue pot"]


async def test_personal_room_and_home_memories(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_admin_user: MockUser,
) -> None:
    """A user's memories are theirs; a room's are heard in that room; the home's everywhere."""
    bob = await hass.auth.async_create_user("Bob", group_ids=["system-users"])
    kitchen, office = (ar.async_get(hass).async_get_or_create(n) for n in ("Kitchen", "Office"))
    kitchen_satellite = _satellite(hass, setup_jarvis, "kitchen", kitchen.id)
    office_satellite = _satellite(hass, setup_jarvis, "office", office.id)
    admin = hass_admin_user.id

    personal = await remember(
        hass, fake_ollama, "My dentist appointment is on Tuesday", user_id=admin
    )
    assert personal["data"]["scope"] == "personal"  # the default when the user is known
    room = await remember(
        hass,
        fake_ollama,
        "The plants here need water on Fridays",
        scope="room",
        device_id=kitchen_satellite,
    )
    assert room["data"]["scope"] == "room"
    home = await remember(
        hass, fake_ollama, "The wifi password is sunflower", user_id=bob.id, scope="home"
    )
    assert home["data"]["scope"] == "home"
    # A voice from a satellite is nobody in particular: nothing is kept "for them alone".
    anonymous = await remember(
        hass, fake_ollama, "My PIN is 1234", scope="personal", device_id=office_satellite
    )
    assert anonymous["error"] is True
    assert anonymous["data"]["error"] == "unknown_user"
    # A room memory asked for where no room is known is the home's.
    roomless = await remember(hass, fake_ollama, "The boiler was serviced in May", scope="room")
    assert roomless["data"]["scope"] == "home"
    assert "no known room" in roomless["data"]["note"]

    wifi, boiler = "The wifi password is sunflower", "The boiler was serviced in May"
    plants, dentist = (
        "The plants here need water on Fridays",
        "My dentist appointment is on Tuesday",
    )
    assert sorted(recalled(await recall(hass, fake_ollama, None, user_id=admin))) == sorted(
        [wifi, boiler, dentist]
    )
    assert sorted(
        recalled(await recall(hass, fake_ollama, None, user_id=bob.id, device_id=kitchen_satellite))
    ) == sorted([wifi, boiler, plants])
    assert sorted(
        recalled(await recall(hass, fake_ollama, None, device_id=office_satellite))
    ) == sorted([wifi, boiler])
    assert recalled(await recall(hass, fake_ollama, "dentist", user_id=bob.id)) == []
    # Nobody forgets what they cannot see.
    fake_ollama.queue(tool_call_reply("jarvis__Forget", {"query": "dentist"}), text_reply("OK"))
    await ask_as(hass, "Forget the dentist", user_id=bob.id)
    assert tool_result(fake_ollama)["data"]["count"] == 0
    assert recalled(await recall(hass, fake_ollama, "dentist", user_id=admin)) == [dentist]

    # The actions: an admin (or an automation) sees everything, with names; Bob his share.
    listed = await hass.services.async_call(
        DOMAIN,
        "list_memories",
        {},
        blocking=True,
        return_response=True,
        context=Context(user_id=admin),
    )
    assert listed is not None
    assert listed["count"] == 4
    by_text = {m["text"]: m for m in listed["memories"]}
    assert by_text[dentist] | {"id": 0, "created": ""} == {
        "id": 0,
        "text": dentist,
        "scope": "personal",
        "created": "",
        "user_id": admin,
        "user": hass_admin_user.name,
        "area_id": None,
        "area": None,
    }
    assert (by_text[plants]["area"], by_text[plants]["scope"]) == ("Kitchen", "room")
    as_bob = await hass.services.async_call(
        DOMAIN,
        "list_memories",
        {},
        blocking=True,
        return_response=True,
        context=Context(user_id=bob.id),
    )
    assert as_bob is not None
    assert sorted(m["text"] for m in as_bob["memories"]) == sorted([wifi, boiler, plants])
    erased = await hass.services.async_call(
        DOMAIN,
        "forget_memories",
        {"all": True},
        blocking=True,
        return_response=True,
        context=Context(user_id=bob.id),
    )
    assert erased == {"forgotten": 3}
    assert recalled(await recall(hass, fake_ollama, None, user_id=admin)) == [dentist]


def _satellite(hass: HomeAssistant, entry: MockConfigEntry, name: str, area_id: str) -> str:
    """A satellite device in an area; its id."""
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("test", name)}, name=f"{name} satellite"
    )
    dr.async_get(hass).async_update_device(device.id, area_id=area_id)
    return device.id


async def test_list_and_forget_actions(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    for text in (BIKE, "The garage code is 9921", "The shed key is under the blue pot"):
        await remember(hass, fake_ollama, text)

    async def call(service: str, data: dict[str, Any]) -> dict[str, Any]:
        response = await hass.services.async_call(
            DOMAIN, service, data, blocking=True, return_response=True
        )
        assert response is not None
        return dict(response)

    everything = await call("list_memories", {})
    assert everything["count"] == 3
    assert [m["text"] for m in everything["memories"]] == [
        "The shed key is under the blue pot",
        "The garage code is 9921",
        BIKE,
    ]  # newest first
    assert (await call("list_memories", {"query": "code"}))["count"] == 2
    limited = await call("list_memories", {"limit": 1})
    assert (limited["count"], len(limited["memories"])) == (3, 1)
    assert (await call("list_memories", {"scope": "personal"}))["count"] == 0

    with pytest.raises(ServiceValidationError) as err:
        await call("forget_memories", {})
    assert err.value.translation_key == "forget_nothing_selected"
    assert (await call("forget_memories", {"memory_id": [everything["memories"][0]["id"]]})) == {
        "forgotten": 1
    }
    assert (await call("forget_memories", {"query": "garage code"})) == {"forgotten": 1}
    assert [m["text"] for m in (await call("list_memories", {}))["memories"]] == [BIKE]
    assert (await call("forget_memories", {"all": True})) == {"forgotten": 1}
    assert (await call("list_memories", {}))["count"] == 0
    assert recalled(await recall(hass, fake_ollama, "bike")) == []


async def test_diagnostics_redact_memories(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    hass_admin_user: MockUser,
) -> None:
    await remember(hass, fake_ollama, BIKE)
    await remember(hass, fake_ollama, "My dentist is Dr Moreau", user_id=hass_admin_user.id)

    diag = await get_diagnostics_for_config_entry(hass, hass_client, setup_jarvis)

    text = json.dumps(diag)
    assert "4512" not in text
    assert "Moreau" not in text
    assert hass_admin_user.id not in text
    memory = diag["memory"]
    assert memory["count"] == 2
    assert memory["by_scope"] == {"home": 1, "room": 0, "personal": 1}
    assert memory["embedding_model"] is None
    assert [m["text"] for m in memory["newest"]] == ["**REDACTED**", "**REDACTED**"]
    assert [m["user_id"] for m in memory["newest"]] == ["**REDACTED**", None]
    assert memory["newest"][1]["chars"] == len(BIKE)


async def test_actions_exist_before_any_entry_and_are_described(hass: HomeAssistant) -> None:
    """Registered in async_setup; services.yaml and en/fr translations load for the UI."""
    assert await async_setup_component(hass, DOMAIN, {})
    descriptions = (await service.async_get_all_descriptions(hass))[DOMAIN]
    expected = {
        "list_memories": {"query", "scope", "limit"},
        "forget_memories": {"memory_id", "query", "scope", "all"},
        "reload": set(),
    }
    for action, fields in expected.items():
        assert hass.services.has_service(DOMAIN, action)
        assert set(descriptions[action].get("fields", {})) == fields
    assert descriptions["list_memories"]["response"] == {"optional": False}
    assert descriptions["forget_memories"]["response"] == {"optional": True}
    for language, title in (("en", "Forget memories"), ("fr", "Oublier des souvenirs")):
        strings = await translation.async_get_translations(hass, language, "services", [DOMAIN])
        assert strings[f"component.{DOMAIN}.services.forget_memories.name"] == title
        for action, fields in expected.items():
            assert strings[f"component.{DOMAIN}.services.{action}.description"]
            for field_name in fields:
                assert strings[f"component.{DOMAIN}.services.{action}.fields.{field_name}.name"]
