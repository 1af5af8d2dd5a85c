"""The context budget: prompts built for the request in a 300-entity home, against HA core's agent.

Every request goes to Jarvis and to HA core's `ollama` conversation agent, set up in the same HA
against the same fake Ollama server (both use the real `ollama` client); the test reads what the
server received. Prompt size = characters of what the model reads: the messages' text and the
tool definitions (JSON), with a token estimate (characters / 3.5) beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import logging
from typing import Any

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL, CONF_PROMPT, CONF_URL
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    entity_registry as er,
    floor_registry as fr,
    llm,
)
from homeassistant.setup import async_setup_component
import ollama
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.const import CONF_NUM_CTX, JARVIS_LLM_API_ID
from custom_components.jarvis.context_window import REPLY_RESERVE, estimate_request_tokens

from .agent_helpers import ask, satellite_in, speech
from .conftest import TEST_MODEL
from .fake_ollama import FakeOllama, text_reply
from .generated_home import GeneratedEntity, async_setup_home

DOMAINS = ("light", "switch", "cover", "sensor", "climate", "lock")
PERSONA_EN = "You are Jarvis, the voice assistant of the home"
PERSONA_FR = "Tu es Jarvis, l'assistant vocal de la maison"


@pytest.fixture
def agent_options(agent_options: dict[str, object]) -> dict[str, object]:
    """HA's Assist tools and the built-in persona (as HA core's agent: its default prompt)."""
    options = {**agent_options, CONF_LLM_HASS_API: [llm.LLM_API_ASSIST]}
    options.pop(CONF_PROMPT)
    return options


@pytest.fixture
async def home(hass: HomeAssistant, setup_jarvis: MockConfigEntry) -> dict[str, GeneratedEntity]:
    """The 300-entity home, with the platforms' own LLM tools loaded (as in a real HA)."""
    for domain in DOMAINS:
        assert await async_setup_component(hass, domain, {})
    return await async_setup_home(hass)


@pytest.fixture
async def core_agent(hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: object) -> str:
    """HA core's `ollama` conversation agent on the same server, with the Assist API."""
    entry = MockConfigEntry(
        domain="ollama",
        version=3,
        minor_version=3,
        data={CONF_URL: fake_ollama.url},
        subentries_data=[
            ConfigSubentryData(
                data={CONF_MODEL: TEST_MODEL, CONF_LLM_HASS_API: [llm.LLM_API_ASSIST]},
                subentry_type="conversation",
                title="Core ollama",
                unique_id=None,
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (entity,) = [
        e.entity_id
        for e in er.async_get(hass).entities.values()
        if e.platform == "ollama" and e.domain == "conversation"
    ]
    return entity


def prompt_chars(request: dict[str, Any]) -> int:
    """Characters the model reads: the messages' text and the tool definitions."""
    text = sum(len(m.get("content") or "") for m in request["messages"])
    return text + len(json.dumps(request.get("tools") or [], ensure_ascii=False))


def listed(request: dict[str, Any], entity: GeneratedEntity) -> bool:
    """Whether the system prompt lists the entity (Jarvis's lines: '- name (alias): ...')."""
    return f"- {entity.name} ({entity.alias}):" in request["messages"][0]["content"]


@dataclass(frozen=True, slots=True)
class Case:
    """A request, where it is asked from, and the entities it needs."""

    text: str
    language: str
    room: str | None  # area of the satellite asking
    needs: tuple[str, ...]  # entity ids, or "light.*" for every light
    not_needed: tuple[str, ...] = ()  # entity ids the prompt has no reason to list


CASES = [
    Case(  # room-relative: the satellite's room
        "close the blinds",
        "en",
        "Kitchen",
        ("cover.kitchen_blinds", "cover.kitchen_shutter", "light.kitchen_ceiling_light"),
        ("cover.office_blinds", "light.office_reading_lamp"),
    ),
    Case(  # a named entity, no room
        "turn off the office reading lamp",
        "en",
        None,
        ("light.office_reading_lamp",),
        ("light.bedroom_reading_lamp", "switch.office_plug", "sensor.office_temperature"),
    ),
    Case(  # a French name (an alias of an English-named entity)
        "ferme le volet de la chambre d'amis",
        "fr",
        None,
        ("cover.guest_room_shutter",),
        ("cover.bedroom_shutter", "light.guest_room_ceiling_light"),
    ),
    Case(  # French area without its accents, from another room
        "allume la lumiere de l'entree",
        "fr",
        "Kitchen",
        ("light.entrance_ceiling_light", "light.entrance_wall_light"),
        ("light.office_ceiling_light", "cover.entrance_blinds"),
    ),
    Case(  # a transcription slip: "plafonier" for the alias "Plafonnier du salon"
        "allume le plafonier du salon",
        "fr",
        None,
        ("light.living_room_ceiling_light",),
        ("sensor.living_room_temperature", "light.kitchen_ceiling_light"),
    ),
    Case(  # implied domain, a named area, asked from another room
        "what's the temperature in the living room",
        "en",
        "Kitchen",
        ("sensor.living_room_temperature", "climate.living_room_thermostat"),
        ("sensor.bedroom_temperature", "light.living_room_ceiling_light"),
    ),
    Case(  # domain-wide
        "turn off all the lights",
        "en",
        None,
        ("light.*",),
        ("switch.kitchen_plug", "cover.office_blinds"),
    ),
]


async def _ask_core(
    hass: HomeAssistant, core_agent: str, text: str, language: str, device_id: str | None
) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass, text, None, Context(), language=language, agent_id=core_agent, device_id=device_id
    )


@pytest.mark.parametrize("case", CASES, ids=[c.text for c in CASES])
async def test_prompt_lists_what_the_request_needs_in_half_of_core_ollamas(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    home: dict[str, GeneratedEntity],
    core_agent: str,
    case: Case,
    capsys: pytest.CaptureFixture[str],
) -> None:
    device_id = None
    if case.room:
        area = ar.async_get(hass).async_get_area_by_name(case.room)
        assert area is not None
        device_id = satellite_in(hass, setup_jarvis, area.id)
    fake_ollama.queue(text_reply("OK."), text_reply("OK."))

    jarvis_result = await ask(hass, case.text, language=case.language, device_id=device_id)
    core_result = await _ask_core(hass, core_agent, case.text, case.language, device_id)

    assert speech(jarvis_result) == speech(core_result) == "OK."
    jarvis, core = fake_ollama.conversation_requests
    # Same tools for both (HA's Assist API): the difference is the home in the system prompt.
    assert {t["function"]["name"] for t in jarvis["tools"]} == {
        t["function"]["name"] for t in core["tools"]
    }
    needed = [
        entity
        for entity_id, entity in home.items()
        for want in case.needs
        if entity_id == want or (want.endswith(".*") and entity_id.startswith(want[:-1]))
    ]
    assert needed
    assert [e.entity_id for e in needed if not listed(jarvis, e)] == []
    assert [e for e in case.not_needed if listed(jarvis, home[e])] == []
    system: str = jarvis["messages"][0]["content"]
    if case.room:  # the satellite's room comes first, all of it
        room_at = system.index(f"\n{case.room} (Cuisine) - where the user is:")
        assert all(room_at < system.index(f"- {e.name} (") for e in needed)
        assert all(listed(jarvis, e) for e in home.values() if e.area == case.room)
    assert system.startswith(PERSONA_FR if case.language == "fr" else PERSONA_EN)

    jarvis_chars, core_chars = prompt_chars(jarvis), prompt_chars(core)
    with capsys.disabled():
        print(
            f"\n{case.text!r}: Jarvis {jarvis_chars} chars (~{jarvis_chars / 3.5:.0f} tokens,"
            f" num_ctx {jarvis['options']['num_ctx']}), HA core ollama {core_chars} chars"
            f" (~{core_chars / 3.5:.0f} tokens, num_ctx {core['options']['num_ctx']}):"
            f" {jarvis_chars / core_chars:.2f}"
        )
    assert jarvis_chars <= core_chars / 2


async def test_num_ctx_is_sized_from_the_prompt_and_the_models_limit(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    home: dict[str, GeneratedEntity],
) -> None:
    """A short request gets a small window, a bigger one more; never more than the model has."""
    fake_ollama.queue(text_reply("OK."), text_reply("OK."))

    await ask(hass, "turn off the office reading lamp")
    await ask(hass, "turn off all the lights")

    small, large = fake_ollama.conversation_requests
    for request in (small, large):
        tokens = estimate_request_tokens(_messages(request), request["tools"])
        assert tokens + REPLY_RESERVE <= request["options"]["num_ctx"]
    # 2,048-token steps; the window does not shrink (Ollama would load the model again).
    assert small["options"]["num_ctx"] == 4096
    assert large["options"]["num_ctx"] == 6144
    fake_ollama.queue(text_reply("OK."))
    await ask(hass, "turn off the office reading lamp")
    assert fake_ollama.conversation_requests[-1]["options"]["num_ctx"] == 6144
    # The model's context length came from Ollama's `show`.
    assert any(r.path == "/api/show" for r in fake_ollama.requests)


def _messages(request: dict[str, Any]) -> list[ollama.Message]:
    """The request's messages as the client's objects (what Jarvis measures)."""
    return [ollama.Message(**m) for m in request["messages"]]


@pytest.fixture
def small_window(fake_ollama: FakeOllama) -> None:
    """The model can only hold 4,096 tokens (as its `show` says)."""
    fake_ollama.context_lengths[TEST_MODEL] = 4096


async def test_long_conversation_drops_old_turns_first_and_keeps_the_instructions(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    small_window: None,
    setup_jarvis: MockConfigEntry,
    home: dict[str, GeneratedEntity],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kitchen = ar.async_get(hass).async_get_area_by_name("Kitchen")
    assert kitchen is not None
    satellite = satellite_in(hass, setup_jarvis, kitchen.id)
    story = "Once upon a time a light bulb dreamt of the sea. " * 8  # ~400 characters a reply
    conversation_id: str | None = None
    for turn in range(12):
        fake_ollama.queue(text_reply(f"Part {turn}. {story}"))
        result = await ask(
            hass,
            f"tell me part {turn} of the story",
            device_id=satellite,
            conversation_id=conversation_id,
        )
        conversation_id = result.conversation_id

    caplog.set_level(logging.DEBUG, logger="custom_components.jarvis")
    fake_ollama.queue(text_reply("The end."))
    await ask(hass, "and how does it end", device_id=satellite, conversation_id=conversation_id)

    last = fake_ollama.conversation_requests[-1]
    assert last["options"]["num_ctx"] == 4096  # the model's limit
    tokens = estimate_request_tokens(_messages(last), last["tools"])
    assert tokens + REPLY_RESERVE <= 4096
    users = [m["content"] for m in last["messages"] if m["role"] == "user"]
    # The oldest turns went, the latest stayed, in order, and the request is last.
    assert "tell me part 0 of the story" not in users
    assert users[-2:] == ["tell me part 11 of the story", "and how does it end"]
    kept = [int(u.split()[3]) for u in users[:-1]]
    assert kept == list(range(12 - len(kept), 12))
    # The instructions and the room are all there: turns were enough.
    system = last["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith(PERSONA_EN)
    assert all(listed(last, e) for e in home.values() if e.area == "Kitchen")
    assert "When controlling Home Assistant always call the intent tools" in system["content"]
    # The log says what was left out.
    assert f"left out for space: {12 - len(kept)} earlier turns, entities []" in caplog.text
    report = setup_jarvis.runtime_data.last_context[next(iter(setup_jarvis.subentries))]
    assert report.turns_dropped == 12 - len(kept)
    assert report.dropped_for_space == []
    assert report.fits


async def test_entities_outside_the_room_give_way_when_turns_are_not_enough(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    small_window: None,
    setup_jarvis: MockConfigEntry,
    home: dict[str, GeneratedEntity],
) -> None:
    """Every light of the home does not fit 4,096 tokens: lights of other rooms are counted."""
    kitchen = ar.async_get(hass).async_get_area_by_name("Kitchen")
    assert kitchen is not None
    satellite = satellite_in(hass, setup_jarvis, kitchen.id)
    fake_ollama.queue(text_reply("OK."))

    await ask(hass, "which lights are on in the house", device_id=satellite)

    (request,) = fake_ollama.conversation_requests
    assert request["options"]["num_ctx"] == 4096
    assert estimate_request_tokens(_messages(request), request["tools"]) + REPLY_RESERVE <= 4096
    system = request["messages"][0]["content"]
    assert system.startswith(PERSONA_EN)
    assert all(listed(request, e) for e in home.values() if e.area == "Kitchen")
    lights = [e for e in home.values() if e.entity_id.startswith("light.") and e.area != "Kitchen"]
    left_out = [e.entity_id for e in lights if not listed(request, e)]
    assert left_out  # some lights of other rooms ...
    assert len(left_out) < len(lights)  # ... not all of them
    assert "Not listed (count per area and domain)" in system  # ... are counted instead
    report = setup_jarvis.runtime_data.last_context[next(iter(setup_jarvis.subentries))]
    assert sorted(report.dropped_for_space) == sorted(left_out)
    assert report.turns_dropped == 0
    assert report.fits
    assert report.limit == 4096


async def test_the_option_caps_the_window(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    home: dict[str, GeneratedEntity],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The agent's context window option is the most it uses, whatever the model allows."""
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis, subentry, data={**subentry.data, CONF_NUM_CTX: 2048}
    )
    await hass.async_block_till_done()
    fake_ollama.queue(text_reply("OK."))

    await ask(hass, "turn off all the lights")

    request = fake_ollama.conversation_requests[-1]
    assert request["options"]["num_ctx"] == 2048
    # Even without any listed entity it does not fit: sent anyway (instructions whole), and said.
    assert request["messages"][0]["content"].startswith(PERSONA_EN)
    assert "does not fit the context window (2048 tokens)" in caplog.text
    report = setup_jarvis.runtime_data.last_context[next(iter(setup_jarvis.subentries))]
    assert not report.fits
    assert report.listed_entities == []


async def test_jarvis_api_builds_the_same_context(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    home: dict[str, GeneratedEntity],
    core_agent: str,
) -> None:
    """With the Jarvis API (the default tools), Assist's part is built for the request too."""
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis, subentry, data={**subentry.data, CONF_LLM_HASS_API: [JARVIS_LLM_API_ID]}
    )
    await hass.async_block_till_done()
    fake_ollama.queue(text_reply("OK."), text_reply("OK."))

    await ask(hass, "turn off the office reading lamp")
    await _ask_core(hass, core_agent, "turn off the office reading lamp", "en", None)

    jarvis, core = fake_ollama.conversation_requests
    system = jarvis["messages"][0]["content"]
    assert "Static Context" in core["messages"][0]["content"]
    assert "Static Context" not in system
    assert listed(jarvis, home["light.office_reading_lamp"])
    names = {t["function"]["name"] for t in jarvis["tools"]}
    assert {"homeassistant__GetLiveContext", "jarvis__RoomOverview"} <= names
    assert prompt_chars(jarvis) <= prompt_chars(core) / 2


async def test_diagnostics_say_what_the_last_request_left_out(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fake_ollama: FakeOllama,
    small_window: None,
    setup_jarvis: MockConfigEntry,
    home: dict[str, GeneratedEntity],
) -> None:
    kitchen = ar.async_get(hass).async_get_area_by_name("Kitchen")
    assert kitchen is not None
    fake_ollama.queue(text_reply("OK."))
    await ask(
        hass,
        "which lights are on in the house",
        device_id=satellite_in(hass, setup_jarvis, kitchen.id),
    )

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, setup_jarvis)

    (agent,) = diagnostics["agents"].values()
    context = agent["last_context"]
    assert context["exposed"] == 300
    assert context["listed"]["room"] == 25  # the whole kitchen
    assert context["listed"]["domain"] > 0  # lights of other rooms that fit
    assert context["dropped_for_space"]  # and those that did not
    assert not set(context["dropped_for_space"]) & set(context["listed_entities"])
    assert context["summarised"] == 300 - 25 - 77  # what was never meant to be listed
    assert context["num_ctx"] == context["limit"] == 4096
    assert context["fits"] is True


async def test_a_named_floor_lists_its_areas(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    home: dict[str, GeneratedEntity],
) -> None:
    """'Les lumières de l'étage': the lights of the floor's areas, not the others'."""
    floor = fr.async_get(hass).async_create("Upstairs", aliases={"Étage"})
    areas = ar.async_get(hass)
    upstairs = {"Bedroom", "Guest Room"}
    for name in upstairs:
        area = areas.async_get_area_by_name(name)
        assert area is not None
        areas.async_update(area.id, floor_id=floor.floor_id)
    fake_ollama.queue(text_reply("OK."))

    await ask(hass, "éteins les lumières de l'étage", language="fr")

    (request,) = fake_ollama.conversation_requests
    lights = [e for e in home.values() if e.entity_id.startswith("light.")]
    assert {e.area for e in lights if listed(request, e)} == upstairs
    assert all(listed(request, e) for e in lights if e.area in upstairs)
    assert not any(
        listed(request, e) for e in home.values() if not e.entity_id.startswith("light.")
    )
