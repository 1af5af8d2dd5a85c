"""Tool calls as small models make them: printed, misnamed, with sloppy arguments, repeated.

Each case is a request through HA's conversation API with the fake Ollama server scripted to
answer as a small model does; what counts is what happened in HA (the light's state, the
service calls) and what the user is told.
"""

from __future__ import annotations

import json
from typing import Any, override

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.const import CONF_LLM_HASS_API, EVENT_CALL_SERVICE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er, intent, llm
from homeassistant.setup import async_setup_component
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from .agent_helpers import KITCHEN_LIGHT, ask, async_setup_kitchen, speech, state_of
from .fake_ollama import Chunk, FakeOllama, Reply, text_reply, tool_call_reply

HALL_LIGHT = "light.lampe_de_l_entree"
DESK_LAMP = "light.desk_lamp"
LIGHT_SWITCH_SCRIPT = "script.kitchen_light_switch"


async def async_setup_home(hass: HomeAssistant) -> None:
    """The kitchen light; 'Lampe de l'entrée' in the area 'Entrée'; a dimmable 'Desk Lamp'; a
    script with a boolean field that switches the kitchen light, one with a choice (dim or
    bright) for the desk lamp; all exposed to Assist."""
    await async_setup_kitchen(
        hass,
        light=[
            {
                "name": "Lampe de l'entrée",
                "unique_id": "hall_light",
                "optimistic": True,
                "turn_on": [],
                "turn_off": [],
            },
            {
                "name": "Desk Lamp",
                "unique_id": "desk_lamp",
                "optimistic": True,
                "turn_on": [],
                "turn_off": [],
                "set_level": [],
            },
        ],
    )
    hall = ar.async_get(hass).async_get_or_create("Entrée")
    er.async_get(hass).async_update_entity(HALL_LIGHT, area_id=hall.id)
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "kitchen_light_switch": {
                    "alias": "Kitchen light switch",
                    "fields": {
                        "lit": {
                            "description": "true to light the kitchen, false for darkness",
                            "required": True,
                            "selector": {"boolean": {}},
                        }
                    },
                    "sequence": [
                        {
                            "action": "light.turn_{{ 'on' if lit else 'off' }}",
                            "target": {"entity_id": KITCHEN_LIGHT},
                        }
                    ],
                },
                "desk_lamp_level": {
                    "alias": "Desk lamp level",
                    "fields": {
                        "level": {
                            "required": True,
                            "selector": {"select": {"options": ["dim", "bright"]}},
                        }
                    },
                    "sequence": [
                        {
                            "action": "light.turn_on",
                            "target": {"entity_id": DESK_LAMP},
                            "data": {"brightness_pct": "{{ 100 if level == 'bright' else 20 }}"},
                        }
                    ],
                },
            }
        },
    )
    await hass.async_block_till_done()
    for script in (LIGHT_SWITCH_SCRIPT, "script.desk_lamp_level"):
        async_expose_entity(hass, conversation.DOMAIN, script, True)
    for entity_id in (KITCHEN_LIGHT, HALL_LIGHT, DESK_LAMP):
        assert state_of(hass, entity_id) != "on"


def printed(text: str) -> Reply:
    """A reply whose text is `text`, streamed in two pieces (as a model prints a call)."""
    return Reply(chunks=[Chunk(content=text[:12]), Chunk(content=text[12:])])


def tool_messages(request: dict[str, Any]) -> list[str]:
    """The tool results a request carried to the model."""
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


# --- printed calls and plain names -------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        '{"name": "HassTurnOn", "arguments": {"name": "Kitchen Light"}}',
        '```json\n{"name": "HassTurnOn", "arguments": {"name": "Kitchen Light"}}\n```',
        '<tool_call>\n{"name": "HassTurnOn", "arguments": {"name": "Kitchen Light"}}\n</tool_call>',
        (
            '<tool_call>\n{"name": "intent__HassTurnOn", "arguments": {"name": "Kitchen Light"}}'
            "\n</tool_call>"
        ),
        '[{"name": "assist__HassTurnOn", "parameters": {"name": "Kitchen Light"}}]',
    ],
    ids=["plain", "code-fence", "qwen-tag", "qwen-tag-prefixed", "list-wrong-prefix"],
)
async def test_printed_call_under_its_plain_name_is_run(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry, reply: str
) -> None:
    await async_setup_home(hass)
    fake_ollama.queue(printed(reply), text_reply("The kitchen light is on."))

    result = await ask(hass, "kitchen light on")

    assert state_of(hass, KITCHEN_LIGHT) == "on"
    assert speech(result) == "The kitchen light is on."  # not the JSON
    call = fake_ollama.conversation_requests[1]["messages"][-2]["tool_calls"][0]["function"]
    assert call["name"] == "intent__HassTurnOn"  # the history names the tool that ran


async def test_the_reported_case_turn_off_under_its_plain_name(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """The issue's case: `HassTurnOff` printed while HA offers `intent__HassTurnOff`."""
    await async_setup_home(hass)
    await hass.services.async_call("light", "turn_on", {"entity_id": KITCHEN_LIGHT}, blocking=True)
    fake_ollama.queue(
        printed('{"name": "HassTurnOff", "arguments": {"name": "Kitchen Light"}}'),
        text_reply("C'est éteint."),
    )
    result = await ask(hass, "éteins la cuisine", language="fr")
    assert state_of(hass, KITCHEN_LIGHT) == "off"
    assert speech(result) == "C'est éteint."


async def test_real_call_under_its_plain_name_is_run(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await async_setup_home(hass)
    fake_ollama.queue(tool_call_reply("HassTurnOn", {"name": "Kitchen Light"}), text_reply("Done."))
    assert speech(await ask(hass, "kitchen light on")) == "Done."
    assert state_of(hass, KITCHEN_LIGHT) == "on"


class OtherTurnOnTool(llm.Tool):
    """Another integration's tool with the same plain name as HA's."""

    name = "test__HassTurnOn"
    description = "Turns on a test device."
    parameters = probatio.Schema({probatio.Optional("name"): str})
    integration = "test"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        self.calls.append(tool_input.tool_args)
        return llm.ToolResult(data={"done": True})


class OtherAPI(llm.API):
    """An LLM API of another integration, offering that tool."""

    tool: OtherTurnOnTool

    @override
    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        return llm.APIInstance(self, "", llm_context, [self.tool])


async def test_ambiguous_name_is_not_run_and_the_model_is_told(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """With HA's tools and another integration's, `HassTurnOn` could be either: none runs."""
    api = OtherAPI(hass=hass, id="other", name="Other")
    api.tool = other_tool = OtherTurnOnTool()
    llm.async_register_api(hass, api)
    subentry = next(iter(setup_jarvis.subentries.values()))
    hass.config_entries.async_update_subentry(
        setup_jarvis,
        subentry,
        data={**subentry.data, CONF_LLM_HASS_API: [llm.LLM_API_ASSIST, "other"]},
    )
    await hass.async_block_till_done()
    await async_setup_home(hass)
    fake_ollama.queue(
        printed('{"name": "HassTurnOn", "arguments": {"name": "Kitchen Light"}}'),
        tool_call_reply("assist__intent__HassTurnOn", {"name": "Kitchen Light"}),
        text_reply("Done."),
    )

    result = await ask(hass, "kitchen light on")

    first, second, _third = fake_ollama.conversation_requests
    offered = {t["function"]["name"] for t in first["tools"]}
    assert {"assist__intent__HassTurnOn", "other__test__HassTurnOn"} <= offered
    (told,) = tool_messages(second)
    assert "could mean several tools" in told
    assert "assist__intent__HassTurnOn, other__test__HassTurnOn" in told
    assert other_tool.calls == []  # the ambiguous call ran nothing ...
    assert state_of(hass, KITCHEN_LIGHT) == "on"  # ... the corrected one ran
    assert speech(result) == "Done."


# --- arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "entity_id", "expected"),
    [
        ("intent__HassTurnOn", {"area": "entree", "domain": "light"}, HALL_LIGHT, "on"),
        ("intent__HassTurnOn", {"name": "LAMPE DE L'ENTREE"}, HALL_LIGHT, "on"),
        ("intent__HassTurnOn", {"name": "lampe de l’entrée"}, HALL_LIGHT, "on"),
        ("intent__HassTurnOn", {"name": "the kitchen light"}, KITCHEN_LIGHT, "on"),
        ("intent__HassTurnOn", {"name": ["Kitchen Light"]}, KITCHEN_LIGHT, "on"),
        ("intent__HassTurnOn", {"area": "Kitchen", "domain": "lights"}, KITCHEN_LIGHT, "on"),
        ("intent__HassTurnOn", {"name": "Kitchen Light", "domain": ["Light"]}, KITCHEN_LIGHT, "on"),
        ("script__desk_lamp_level", {"level": "Bright"}, DESK_LAMP, "on"),
        ("intent__HassTurnOn", {"entity_id": KITCHEN_LIGHT}, KITCHEN_LIGHT, "on"),
        ("light__HassLightSet", {"name": "Desk Lamp", "brightness": "50%"}, DESK_LAMP, "on"),
        ("script__kitchen_light_switch", {"lit": "true"}, KITCHEN_LIGHT, "on"),
    ],
    ids=[
        "area-accents-case",
        "name-accents-case",
        "name-typographic-apostrophe",
        "name-with-article",
        "list-for-string",
        "plural-domain-string-for-list",
        "domain-case",
        "choice-case",
        "entity-id-for-name",
        "number-as-string",
        "bool-as-string",
    ],
)
async def test_sloppy_arguments_are_repaired(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    tool: str,
    arguments: dict[str, Any],
    entity_id: str,
    expected: str,
) -> None:
    await async_setup_home(hass)
    fake_ollama.queue(tool_call_reply(tool, arguments), text_reply("Done."))

    result = await ask(hass, "light it up")

    assert state_of(hass, entity_id) == expected
    assert speech(result) == "Done."
    (told,) = tool_messages(fake_ollama.conversation_requests[1])
    assert '"error":false' in told.replace(" ", "")
    if entity_id == DESK_LAMP:
        state = hass.states.get(DESK_LAMP)
        assert state is not None
        expected_brightness = (127, 128) if tool == "light__HassLightSet" else (255,)
        assert state.attributes["brightness"] in expected_brightness  # 50 %, "bright"


async def test_false_as_a_string_is_false(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """HA's boolean selector reads any non-empty string as true: "false" would light it."""
    await async_setup_home(hass)
    await hass.services.async_call("light", "turn_on", {"entity_id": KITCHEN_LIGHT}, blocking=True)
    fake_ollama.queue(
        tool_call_reply("script__kitchen_light_switch", {"lit": "false"}), text_reply("Dark.")
    )
    assert speech(await ask(hass, "darkness in the kitchen")) == "Dark."
    assert state_of(hass, KITCHEN_LIGHT) == "off"


@pytest.mark.parametrize(
    ("wrong", "told"),
    [
        (
            tool_call_reply(
                "intent__HassTurnOn", {"name": "Kitchen Light", "device_class": "lamp"}
            ),
            [
                (
                    "intent__HassTurnOn was not run: field 'device_class' (given \"lamp\"): not"
                    " an allowed value; allowed values: identify, restart, update, awning"
                ),
            ],
        ),
        (
            tool_call_reply("intent__HassTurnOn", {"name": "Kitchen Light", "brightness": 80}),
            ["field 'brightness'", "no such field", "its fields: area, device_class, domain"],
        ),
        (
            tool_call_reply("intent__HassTurnOn", {"name": "Kitchen Light", "domain": "lamp"}),
            ["field 'domain'", '(given "lamp")', "allowed values: light, script"],
        ),
        (
            tool_call_reply("light__HassLightSet", {"name": "Desk Lamp", "brightness": "full"}),
            ["light__HassLightSet was not run", "field 'brightness'", '(given "full")'],
        ),
        (
            printed('{"name": "NoSuchTool", "arguments": {}}'),
            ["NoSuchTool was not run", "there is no tool of this name", "intent__HassTurnOn"],
        ),
    ],
    ids=["not-allowed-value", "unknown-field", "unknown-domain", "not-a-number", "unknown-tool"],
)
async def test_invalid_call_is_explained_to_the_model_once(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    wrong: Reply,
    told: list[str],
) -> None:
    await async_setup_home(hass)
    fake_ollama.queue(
        wrong,
        tool_call_reply("intent__HassTurnOn", {"name": "Kitchen Light"}),
        text_reply("Done."),
    )

    result = await ask(hass, "kitchen light on")

    (content,) = tool_messages(fake_ollama.conversation_requests[1])
    result_data = json.loads(content)
    assert result_data["error"] is True
    message = result_data["data"]["message"]
    for part in told:
        assert part in message
    assert state_of(hass, KITCHEN_LIGHT) == "on"  # the corrected call ran
    assert speech(result) == "Done."


@pytest.mark.parametrize(
    ("language", "apology"),
    [
        ("en", "Sorry, I couldn't work out how to do that. Try saying it another way."),
        ("fr", "Désolé, je n'ai pas réussi à faire ça. Essaie de le dire autrement."),
    ],
)
async def test_still_invalid_after_the_reprompt_gives_a_spoken_apology(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    apology: str,
) -> None:
    await async_setup_home(hass)
    fake_ollama.queue(
        tool_call_reply("intent__HassTurnOn", {"name": "Kitchen Light", "device_class": "lamp"}),
        printed('{"name": "HassTurnOn", "arguments": {"name": "Kitchen Light", "colour": "red"}}'),
        text_reply("never asked for"),
    )

    result = await ask(hass, "kitchen light on", language=language)

    assert speech(result) == apology
    assert result.response.response_type is intent.IntentResponseType.ERROR
    assert state_of(hass, KITCHEN_LIGHT) != "on"
    assert len(fake_ollama.conversation_requests) == 2  # one re-prompt, then Jarvis gave up


async def test_repeated_identical_calls_run_once(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """Twice in one reply, then once more in the next: the light is switched on once."""
    await async_setup_home(hass)
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    turn_on = {"function": {"name": "intent__HassTurnOn", "arguments": {"name": "Kitchen Light"}}}
    fake_ollama.queue(
        Reply(chunks=[Chunk(tool_calls=[turn_on, turn_on])]),
        Reply(chunks=[Chunk(tool_calls=[turn_on])]),
        text_reply("Done."),
    )

    result = await ask(hass, "kitchen light on")

    assert speech(result) == "Done."
    assert state_of(hass, KITCHEN_LIGHT) == "on"
    light_calls = [
        c.data for c in calls if (c.data["domain"], c.data["service"]) == ("light", "turn_on")
    ]
    assert len(light_calls) == 1
    # The repeats were answered with the first result, marked as not run again.
    first, second = tool_messages(fake_ollama.conversation_requests[1])
    assert "not run again" not in first
    assert "not run again" in second
    (third,) = tool_messages(fake_ollama.conversation_requests[2])[2:]
    assert "not run again" in third
