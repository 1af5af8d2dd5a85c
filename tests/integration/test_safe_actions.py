"""Safe actions: unlocking, opening a garage door, asked first, as a user drives them.

A locked template lock and closed template covers in a real HA; requests through HA's
conversation API (and one through an Assist pipeline), in English and French, handled by HA's
own intents (local first) or by the model (the fake Ollama server scripts its tool calls).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import assist_pipeline, conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.const import CONF_LLM_HASS_API
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    entity_registry as er,
    intent,
    issue_registry as ir,
    translation,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator, WebSocketGenerator

from custom_components.jarvis.const import (
    CONF_PREFER_LOCAL,
    CONF_PROTECTED_COVERS,
    CONF_SAFE_ACTIONS,
    DOMAIN,
    JARVIS_LLM_API_ID,
)
from custom_components.jarvis.pipeline_check import ISSUE_LOCAL_INTENTS
from custom_components.jarvis.user_tools import TOOLS_FILE

from .agent_helpers import (
    FRONT_DOOR,
    GARAGE_DOOR,
    SHED_DOOR,
    agent_id,
    ask,
    async_setup_doors,
    speech,
    state_of,
)
from .fake_ollama import Chunk, FakeOllama, Reply, text_reply, tool_call_reply

ASK_UNLOCK = {
    "en": "Do you want me to unlock {}?",
    "fr": "Veux-tu que je déverrouille {} ?",
}
UNLOCKED = {"en": "OK, I unlocked {}.", "fr": "C'est fait, j'ai déverrouillé {}."}
NOT_UNLOCKED = {"en": "OK, I won't unlock {}.", "fr": "D'accord, je ne déverrouille pas {}."}


@pytest.fixture
def agent_options(agent_options: dict[str, object]) -> dict[str, object]:
    """Local first on (HA's intents first), safe actions left at their default (confirm)."""
    return {**agent_options, CONF_PREFER_LOCAL: True}


async def set_options(hass: HomeAssistant, entry: MockConfigEntry, **options: Any) -> None:
    """Change the agent's options (the entry reloads, as after the options form)."""
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(entry, subentry, data={**subentry.data, **options})
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("language", "command", "name", "yes"),
    [
        ("en", "unlock the front door", "Front Door", "yes"),
        ("fr", "déverrouille la porte d'entrée", "Porte d'entrée", "Oui !"),
    ],
)
async def test_local_unlock_waits_for_yes(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    command: str,
    name: str,
    yes: str,
) -> None:
    """HA's own intent understands the command; Jarvis asks before HA may run it."""
    await async_setup_doors(hass)

    question = await ask(hass, command, language=language)

    assert speech(question) == ASK_UNLOCK[language].format(name)
    assert question.continue_conversation is True  # the satellite listens for the answer
    assert state_of(hass, FRONT_DOOR) == "locked"

    done = await ask(hass, yes, language=language, conversation_id=question.conversation_id)

    assert speech(done) == UNLOCKED[language].format(name)
    assert done.continue_conversation is False
    assert state_of(hass, FRONT_DOOR) == "unlocked"
    assert fake_ollama.conversation_requests == []  # all of it without the model


@pytest.mark.parametrize(
    ("language", "command", "answer", "name"),
    [
        ("en", "unlock the front door", "no", "Front Door"),
        ("fr", "déverrouille la porte d'entrée", "non", "Porte d'entrée"),
        ("en", "unlock the front door", "turn on the kitchen light", "Front Door"),
        ("fr", "déverrouille la porte d'entrée", "oui mais pas maintenant", "Porte d'entrée"),
    ],
)
async def test_anything_but_yes_cancels(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    command: str,
    answer: str,
    name: str,
) -> None:
    await async_setup_doors(hass)
    question = await ask(hass, command, language=language)
    assert speech(question) == ASK_UNLOCK[language].format(name)

    result = await ask(hass, answer, language=language, conversation_id=question.conversation_id)

    assert speech(result) == NOT_UNLOCKED[language].format(name)
    assert state_of(hass, FRONT_DOOR) == "locked"
    assert state_of(hass, "light.kitchen_light") != "on"  # the other request was not run
    # The question is gone: a later "yes" is an ordinary request (the model gets it).
    fake_ollama.queue(text_reply("Yes to what?"))
    later = await ask(hass, "yes", language=language, conversation_id=question.conversation_id)
    assert speech(later) == "Yes to what?"
    assert state_of(hass, FRONT_DOOR) == "locked"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            (
                "You answered too late, so I didn't unlock Front Door. Ask me again if you"
                " still want it."
            ),
        ),
        (
            "fr",
            (
                "Tu as répondu trop tard, je n'ai donc pas déverrouillé Front Door."
                " Redemande-le-moi si tu le veux toujours."
            ),
        ),
    ],
)
async def test_a_late_yes_acts_no_more(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    language: str,
    expected: str,
) -> None:
    await async_setup_doors(hass)
    question = await ask(hass, "unlock the front door", language="en")
    assert question.continue_conversation is True

    freezer.tick(31)  # the question waits 30 s
    late = await ask(hass, "yes", language=language, conversation_id=question.conversation_id)

    assert speech(late) == expected
    assert state_of(hass, FRONT_DOOR) == "locked"
    assert fake_ollama.conversation_requests == []

    # Late "no" is told the same; anything else is an ordinary request.
    question = await ask(hass, "unlock the front door", conversation_id=question.conversation_id)
    freezer.tick(31)
    late = await ask(hass, "non", language=language, conversation_id=question.conversation_id)
    assert speech(late) == expected
    question = await ask(hass, "unlock the front door", conversation_id=question.conversation_id)
    freezer.tick(31)
    fake_ollama.queue(text_reply("Knock knock."))
    other = await ask(hass, "tell me a joke", conversation_id=question.conversation_id)
    assert speech(other) == "Knock knock."
    assert state_of(hass, FRONT_DOOR) == "locked"

    # Within the 30 s a yes still works.
    question = await ask(hass, "unlock the front door", conversation_id=question.conversation_id)
    freezer.tick(25)
    await ask(hass, "yes", conversation_id=question.conversation_id)
    assert state_of(hass, FRONT_DOOR) == "unlocked"


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_model_unlock_waits_for_yes(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry, language: str
) -> None:
    """The model asks to unlock (a real tool call, or one printed as text with the plain
    name): nothing runs before the user's yes, and the model is not asked again."""
    await async_setup_doors(hass)
    if language == "en":
        fake_ollama.queue(tool_call_reply("intent__HassTurnOff", {"name": "Front Door"}))
        command, yes = "could you let my sister in through the front door", "yes please"
    else:
        printed = '{"name": "HassTurnOff", "arguments": {"name": "porte d\'entrée"}}'
        fake_ollama.queue(Reply(chunks=[Chunk(content=printed)]))
        command, yes = "ma sœur arrive, ouvre-lui la porte d'entrée", "oui vas-y"

    question = await ask(hass, command, language=language)

    name = "Front Door" if language == "en" else "porte d'entrée"
    assert speech(question) == ASK_UNLOCK[language].format(name)
    assert question.continue_conversation is True
    assert state_of(hass, FRONT_DOOR) == "locked"
    assert len(fake_ollama.conversation_requests) == 1  # Jarvis asked, not the model

    done = await ask(hass, yes, language=language, conversation_id=question.conversation_id)

    assert speech(done) == UNLOCKED[language].format(name)
    assert state_of(hass, FRONT_DOOR) == "unlocked"
    assert len(fake_ollama.conversation_requests) == 1

    # The model remembers what happened: its call, the question, the answer, the unlock.
    fake_ollama.queue(text_reply("Welcome her in!"))
    await ask(hass, "thanks", language=language, conversation_id=question.conversation_id)
    messages = fake_ollama.conversation_requests[-1]["messages"]
    roles = [m["role"] for m in messages[1:]]
    asked = ["user", "assistant", "tool", "assistant"]  # request, call, "waiting", question
    answered = ["user", "assistant", "tool", "assistant"]  # yes, the unlock, its result, done
    assert roles == [*asked, *answered, "user"]
    assert '"waiting_for_confirmation"' in messages[3]["content"]
    assert messages[4]["content"] == ASK_UNLOCK[language].format(name)
    assert "lock.front_door" in messages[7]["content"]  # HA's result of the unlock


@pytest.mark.parametrize(
    ("language", "failed"),
    [
        ("en", "Sorry, I couldn't unlock Front Door."),
        ("fr", "Désolé, je n'ai pas pu déverrouiller Front Door."),
    ],
)
async def test_yes_to_a_lock_that_went_away_is_an_apology(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    failed: str,
) -> None:
    """Between the question and the yes, the lock was no longer exposed to Assist."""
    await async_setup_doors(hass)
    question = await ask(hass, "unlock the front door")
    async_expose_entity(hass, conversation.DOMAIN, FRONT_DOOR, False)

    result = await ask(hass, "yes", language=language, conversation_id=question.conversation_id)

    assert speech(result) == failed
    assert result.response.response_type is intent.IntentResponseType.ERROR
    assert state_of(hass, FRONT_DOOR) == "locked"


async def test_model_unlock_answered_no(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await async_setup_doors(hass)
    fake_ollama.queue(tool_call_reply("intent__HassTurnOff", {"name": "front door"}))
    question = await ask(hass, "let the plumber in")
    assert speech(question) == "Do you want me to unlock front door?"

    result = await ask(hass, "no", conversation_id=question.conversation_id)

    assert speech(result) == "OK, I won't unlock front door."
    assert state_of(hass, FRONT_DOOR) == "locked"


@pytest.mark.parametrize(
    ("language", "command", "refused"),
    [
        (
            "en",
            "unlock the front door",
            (
                "Sorry, I'm not allowed to unlock Front Door by voice."
                " This can be changed in the agent's options."
            ),
        ),
        (
            "fr",
            "déverrouille la porte d'entrée",
            (
                "Désolé, je n'ai pas le droit de déverrouiller"
                " Porte d'entrée à la voix. Cela se change dans les options de l'agent."
            ),
        ),
    ],
)
async def test_refuse_mode_never_unlocks(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    command: str,
    refused: str,
) -> None:
    await set_options(hass, setup_jarvis, **{CONF_SAFE_ACTIONS: "refuse"})
    await async_setup_doors(hass)

    result = await ask(hass, command, language=language)
    assert speech(result) == refused
    assert result.continue_conversation is False  # nothing to answer
    # No question was left waiting: "yes" goes to the model, which cannot unlock either.
    fake_ollama.queue(
        tool_call_reply("intent__HassTurnOff", {"name": "Front Door"}),
        text_reply("never sent"),
    )
    result = await ask(hass, "yes", language=language, conversation_id=result.conversation_id)
    assert speech(result) == refused.replace("Porte d'entrée", "Front Door")
    assert state_of(hass, FRONT_DOOR) == "locked"
    assert len(fake_ollama.conversation_requests) == 1


async def test_allow_mode_unlocks_at_once(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await set_options(hass, setup_jarvis, **{CONF_SAFE_ACTIONS: "allow"})
    await async_setup_doors(hass)

    result = await ask(hass, "unlock the front door")  # HA's own intent
    assert state_of(hass, FRONT_DOOR) == "unlocked"
    assert result.continue_conversation is False
    assert fake_ollama.conversation_requests == []

    await hass.services.async_call("lock", "lock", {"entity_id": FRONT_DOOR}, blocking=True)
    fake_ollama.queue(
        tool_call_reply("intent__HassTurnOff", {"name": "Front Door"}),
        text_reply("The front door is open."),
    )
    result = await ask(hass, "let the plumber in")  # the model
    assert speech(result) == "The front door is open."
    assert state_of(hass, FRONT_DOOR) == "unlocked"


@pytest.mark.parametrize(
    ("language", "command", "question", "yes", "done"),
    [
        (
            "en",
            "open the garage door",
            "Do you want me to open Garage Door?",
            "sure",
            "OK, I'm opening Garage Door.",
        ),
        (
            "fr",
            "ouvre la porte du garage",
            "Veux-tu que j'ouvre Porte du garage ?",
            "d'accord",
            "C'est parti, j'ouvre Porte du garage.",
        ),
    ],
)
async def test_garage_door_opens_after_yes(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    command: str,
    question: str,
    yes: str,
    done: str,
) -> None:
    await async_setup_doors(hass)
    asked = await ask(hass, command, language=language)
    assert speech(asked) == question
    assert state_of(hass, GARAGE_DOOR) == "closed"

    result = await ask(hass, yes, language=language, conversation_id=asked.conversation_id)

    assert speech(result) == done
    assert state_of(hass, GARAGE_DOOR) == "open"


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_model_garage_door_no_and_refuse(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry, language: str
) -> None:
    """Opening through the model: asked, "no" keeps it closed; refuse mode never opens it."""
    await async_setup_doors(hass)
    fake_ollama.queue(
        tool_call_reply("intent__HassSetPosition", {"name": "Garage Door", "position": 50})
    )
    asked = await ask(hass, "let some air into the garage", language=language)
    no = "no" if language == "en" else "non"
    result = await ask(hass, no, language=language, conversation_id=asked.conversation_id)
    cancelled = {
        "en": "OK, I won't open Garage Door.",
        "fr": "D'accord, je n'ouvre pas Garage Door.",
    }
    assert speech(result) == cancelled[language]
    assert state_of(hass, GARAGE_DOOR) == "closed"

    await set_options(hass, setup_jarvis, **{CONF_SAFE_ACTIONS: "refuse"})
    fake_ollama.queue(tool_call_reply("intent__HassTurnOn", {"name": "Garage Door"}))
    result = await ask(hass, "let some air into the garage", language=language)
    assert speech(result).startswith(("Sorry, I'm not allowed to open", "Désolé, je n'ai pas"))
    assert state_of(hass, GARAGE_DOOR) == "closed"


async def test_covers_marked_by_the_user_are_asked_about(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """A cover without the garage/gate device class opens at once, unless the user marks it."""
    await async_setup_doors(hass)
    await ask(hass, "open the shed door")
    assert state_of(hass, SHED_DOOR) == "open"
    await hass.services.async_call("cover", "close_cover", {"entity_id": SHED_DOOR}, blocking=True)

    await set_options(hass, setup_jarvis, **{CONF_PROTECTED_COVERS: [SHED_DOOR]})
    asked = await ask(hass, "ouvre la porte de l'abri", language="fr")
    assert speech(asked) == "Veux-tu que j'ouvre Porte de l'abri ?"
    assert state_of(hass, SHED_DOOR) == "closed"
    await ask(hass, "oui", language="fr", conversation_id=asked.conversation_id)
    assert state_of(hass, SHED_DOOR) == "open"


async def _run_text_pipeline(
    ws: Any, pipeline: str, text: str, conversation_id: str | None = None
) -> dict[str, Any]:
    """Run an Assist pipeline on text over the websocket API; return its intent-end data."""
    await ws.send_json_auto_id(
        {
            "type": "assist_pipeline/run",
            "start_stage": "intent",
            "end_stage": "intent",
            "input": {"text": text},
            "pipeline": pipeline,
            "conversation_id": conversation_id,
        }
    )
    assert (await ws.receive_json())["success"]
    intent_end: dict[str, Any] = {}
    while True:
        event = (await ws.receive_json())["event"]
        if event["type"] == "intent-end":
            intent_end = event["data"]
        if event["type"] in ("run-end", "error"):
            return intent_end


async def test_in_a_pipeline_the_question_keeps_the_conversation_open(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
) -> None:
    """As a satellite runs it: the question reopens the mic, the answer continues it."""
    assert await async_setup_component(hass, "assist_pipeline", {})
    await async_setup_doors(hass)
    ws = await hass_ws_client(hass)
    pipeline = assist_pipeline.async_get_pipeline(hass)
    await assist_pipeline.async_update_pipeline(hass, pipeline, conversation_engine=agent_id(hass))

    asked = await _run_text_pipeline(ws, pipeline.id, "unlock the front door")
    output = asked["intent_output"]
    assert output["continue_conversation"] is True
    assert output["response"]["speech"]["plain"]["speech"] == "Do you want me to unlock Front Door?"
    assert state_of(hass, FRONT_DOOR) == "locked"

    done = await _run_text_pipeline(ws, pipeline.id, "yes", output["conversation_id"])
    assert done["intent_output"]["response"]["speech"]["plain"]["speech"] == (
        "OK, I unlocked Front Door."
    )
    assert state_of(hass, FRONT_DOOR) == "unlocked"


# --- scripts that unlock, open or disarm -------------------------------------------------

ALARM = "alarm_control_panel.home_alarm"


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A config folder of the test's own (for jarvis_tools.yaml)."""
    return hass_tmp_config_dir


async def async_setup_scripts(hass: HomeAssistant) -> None:
    """The doors, HA's manual alarm panel 'Home Alarm' armed away, and exposed scripts:
    'Alarm off' disarms it; 'Door opener' runs another script that unlocks the front door
    when it is locked (if/then); 'Jammed opener' would start that script but stops with an
    error first; 'Kitchen on' only lights the kitchen."""
    await async_setup_doors(hass)
    assert await async_setup_component(
        hass,
        "alarm_control_panel",
        {
            "alarm_control_panel": [
                {
                    "platform": "manual",
                    "name": "Home Alarm",
                    "arming_time": 0,
                    "code_arm_required": False,
                    "delay_time": 0,
                }
            ]
        },
    )
    unlock = {"action": "lock.unlock", "target": {"entity_id": FRONT_DOOR}}
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "alarm_off": {
                    "alias": "Alarm off",
                    "sequence": [
                        {
                            "action": "alarm_control_panel.alarm_disarm",
                            "target": {"entity_id": ALARM},
                        }
                    ],
                },
                "unlock_front": {
                    "sequence": [
                        {
                            "if": [
                                {"condition": "state", "entity_id": FRONT_DOOR, "state": "locked"}
                            ],
                            "then": [unlock],
                        }
                    ]
                },
                "door_opener": {
                    "alias": "Door opener",
                    "sequence": [{"action": "script.unlock_front"}],
                },
                "jammed_opener": {
                    "alias": "Jammed opener",
                    "sequence": [
                        {"stop": "The lock is jammed", "error": True},
                        {
                            "action": "script.turn_on",
                            "target": {"entity_id": "script.unlock_front"},
                        },
                    ],
                },
                "kitchen_on": {
                    "alias": "Kitchen on",
                    "sequence": [{"action": "light.turn_on", "target": {"area_id": "kitchen"}}],
                },
            }
        },
    )
    await hass.async_block_till_done()
    for script in ("alarm_off", "door_opener", "jammed_opener", "kitchen_on"):
        async_expose_entity(hass, conversation.DOMAIN, f"script.{script}", True)
    await hass.services.async_call(
        "alarm_control_panel", "alarm_arm_away", {"entity_id": ALARM}, blocking=True
    )
    await hass.async_block_till_done()
    assert state_of(hass, ALARM) == "armed_away"


@pytest.mark.parametrize(
    ("language", "question", "yes", "done"),
    [
        ("en", "Do you want me to disarm Home Alarm?", "yes", "OK, I disarmed Home Alarm."),
        (
            "fr",
            "Veux-tu que je désarme Home Alarm ?",
            "oui",
            "C'est fait, j'ai désarmé Home Alarm.",
        ),
    ],
)
async def test_a_script_the_model_calls_to_disarm_waits_for_yes(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    question: str,
    yes: str,
    done: str,
) -> None:
    """HA offers exposed scripts as tools: one that disarms the alarm is asked about first."""
    await async_setup_scripts(hass)
    fake_ollama.queue(tool_call_reply("script__alarm_off", {}))

    asked = await ask(hass, "I'm home, turn the alarm off", language=language)

    assert speech(asked) == question
    assert asked.continue_conversation is True
    assert state_of(hass, ALARM) == "armed_away"
    assert len(fake_ollama.conversation_requests) == 1

    result = await ask(hass, yes, language=language, conversation_id=asked.conversation_id)

    assert speech(result) == done
    assert state_of(hass, ALARM) == "disarmed"
    assert len(fake_ollama.conversation_requests) == 1

    # Disarmed already: the script is harmless now and runs at once.
    fake_ollama.queue(tool_call_reply("script__alarm_off", {}), text_reply("It is off."))
    assert speech(await ask(hass, "I am back home", language=language)) == "It is off."


async def test_a_script_that_unlocks_through_another_is_asked_about(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """'Door opener' starts a script that unlocks (inside an if/then): the model turns it on
    with HA's intent or calls it as a tool; either way Jarvis asks. Harmless scripts run."""
    await async_setup_scripts(hass)

    fake_ollama.queue(tool_call_reply("intent__HassTurnOn", {"name": "door opener"}))
    asked = await ask(hass, "turn on the door opener")
    assert speech(asked) == "Do you want me to unlock Front Door?"
    assert state_of(hass, FRONT_DOOR) == "locked"
    no = await ask(hass, "no", conversation_id=asked.conversation_id)
    assert speech(no) == "OK, I won't unlock Front Door."
    assert state_of(hass, FRONT_DOOR) == "locked"

    fake_ollama.queue(tool_call_reply("script__door_opener", {}))
    asked = await ask(hass, "let my sister in")
    assert speech(asked) == "Do you want me to unlock Front Door?"
    await ask(hass, "go ahead", conversation_id=asked.conversation_id)
    assert state_of(hass, FRONT_DOOR) == "unlocked"

    fake_ollama.queue(tool_call_reply("script__kitchen_on", {}), text_reply("Light's on."))
    assert speech(await ask(hass, "light the kitchen")) == "Light's on."
    assert state_of(hass, "light.kitchen_light") == "on"


async def test_refuse_mode_never_runs_such_a_script(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    await set_options(hass, setup_jarvis, **{CONF_SAFE_ACTIONS: "refuse"})
    await async_setup_scripts(hass)
    fake_ollama.queue(tool_call_reply("script__alarm_off", {}))

    result = await ask(hass, "désactive l'alarme", language="fr")

    assert speech(result) == (
        "Désolé, je n'ai pas le droit de désarmer Home Alarm à la voix."
        " Cela se change dans les options de l'agent."
    )
    assert state_of(hass, ALARM) == "armed_away"


async def test_a_user_tool_running_such_a_script_is_asked_about(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """A `script:` tool of jarvis_tools.yaml goes through the same rule."""
    await async_setup_scripts(hass)
    await hass.async_add_executor_job(
        Path(hass.config.path(TOOLS_FILE)).write_text,
        "tools:\n  welcome:\n    description: Lets a guest in.\n    script: script.door_opener\n",
        "utf-8",
    )
    await hass.services.async_call(DOMAIN, "reload", blocking=True)
    await set_options(hass, setup_jarvis, **{CONF_LLM_HASS_API: [JARVIS_LLM_API_ID]})
    fake_ollama.queue(tool_call_reply("jarvis__welcome", {}))

    asked = await ask(hass, "my guest is at the door")

    assert speech(asked) == "Do you want me to unlock Front Door?"
    assert state_of(hass, FRONT_DOOR) == "locked"
    done = await ask(hass, "yes", conversation_id=asked.conversation_id)
    assert speech(done) == "OK, I unlocked Front Door."
    assert state_of(hass, FRONT_DOOR) == "unlocked"


async def test_a_garage_door_opened_deep_in_a_script_by_its_area_is_asked_about(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    """choose/default, parallel, repeat, a target by area: the walk finds the garage door; the
    protected shed door set to position 0 (closing) in the other branch does not count."""
    await set_options(hass, setup_jarvis, **{CONF_PROTECTED_COVERS: [SHED_DOOR]})
    await async_setup_doors(hass)
    garage = ar.async_get(hass).async_get_or_create("Garage")
    er.async_get(hass).async_update_entity(GARAGE_DOOR, area_id=garage.id)
    opens = {"action": "cover.open_cover", "target": {"area_id": garage.id}}
    closes = {
        "action": "cover.set_cover_position",
        "target": {"entity_id": SHED_DOOR},  # protected below, but closed
        "data": {"position": 0},
    }
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "bike_out": {
                    "alias": "Bike out",
                    "sequence": [
                        {
                            "choose": [
                                {
                                    "conditions": [
                                        {"condition": "template", "value_template": "{{ false }}"}
                                    ],
                                    "sequence": [closes],
                                }
                            ],
                            "default": [
                                {"parallel": [{"repeat": {"count": 1, "sequence": [opens]}}]}
                            ],
                        }
                    ],
                }
            }
        },
    )
    await hass.async_block_till_done()
    async_expose_entity(hass, conversation.DOMAIN, "script.bike_out", True)
    fake_ollama.queue(tool_call_reply("script__bike_out", {}))

    asked = await ask(hass, "sors le vélo", language="fr")

    assert speech(asked) == "Veux-tu que j'ouvre Garage Door ?"
    assert state_of(hass, GARAGE_DOOR) == "closed"
    done = await ask(hass, "vas-y", language="fr", conversation_id=asked.conversation_id)
    assert speech(done) == "C'est parti, j'ouvre Garage Door."
    assert state_of(hass, GARAGE_DOOR) == "open"


# --- HA's own "Prefer handling commands locally" -----------------------------------------


async def test_a_pipeline_running_commands_itself_raises_an_issue_that_fixes_it(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
) -> None:
    """With the pipeline's switch on, HA unlocks before Jarvis can ask: a repair issue says so
    (en, fr) and its fix turns the switch off; then the pipeline asks first."""
    assert await async_setup_component(hass, "repairs", {})
    await async_setup_doors(hass)
    ws = await hass_ws_client(hass)
    pipeline = assist_pipeline.async_get_pipeline(hass)
    await assist_pipeline.async_update_pipeline(
        hass, pipeline, conversation_engine=agent_id(hass), prefer_local_intents=True
    )
    await hass.async_block_till_done()
    issue_id = f"{ISSUE_LOCAL_INTENTS}_{pipeline.id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    placeholders = issue.translation_placeholders or {}
    assert placeholders == {"pipeline": pipeline.name, "agent": "Jarvis"}
    for language, title in (
        ("en", 'Assistant "Home Assistant" runs commands before Jarvis can ask'),
        (
            "fr",
            "L'assistant « Home Assistant » exécute les commandes avant que Jarvis puisse demander",
        ),
    ):
        texts = await translation.async_get_translations(hass, language, "issues", [DOMAIN])
        key = f"component.{DOMAIN}.issues.{ISSUE_LOCAL_INTENTS}.title"
        assert texts[key].format(**placeholders) == title

    # What the issue warns of: HA's pipeline unlocks at once.
    await _run_text_pipeline(ws, pipeline.id, "unlock the front door")
    assert state_of(hass, FRONT_DOOR) == "unlocked"
    await hass.services.async_call("lock", "lock", {"entity_id": FRONT_DOOR}, blocking=True)

    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"] == placeholders
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()

    assert assist_pipeline.async_get_pipeline(hass, pipeline.id).prefer_local_intents is False
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    asked = await _run_text_pipeline(ws, pipeline.id, "unlock the front door")
    output = asked["intent_output"]
    assert output["response"]["speech"]["plain"]["speech"] == "Do you want me to unlock Front Door?"
    assert state_of(hass, FRONT_DOOR) == "locked"

    # Switched on again: raised again; with safe actions allowed there is nothing to bypass.
    await assist_pipeline.async_update_pipeline(
        hass, assist_pipeline.async_get_pipeline(hass, pipeline.id), prefer_local_intents=True
    )
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await set_options(hass, setup_jarvis, **{CONF_SAFE_ACTIONS: "allow"})
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.parametrize(
    ("language", "yes", "failed"),
    [
        ("en", "yes", "Sorry, I couldn't unlock Front Door."),
        ("fr", "oui", "Désolé, je n'ai pas pu déverrouiller Front Door."),
    ],
)
async def test_a_confirmed_script_that_fails_is_an_apology(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    setup_jarvis: MockConfigEntry,
    language: str,
    yes: str,
    failed: str,
) -> None:
    """'Jammed opener' would start the unlocking script (script.turn_on), but stops with an
    error first: asked about, then the user hears that it failed; the door stays locked."""
    await async_setup_scripts(hass)
    fake_ollama.queue(tool_call_reply("script__jammed_opener", {}))

    asked = await ask(hass, "open up", language=language)
    assert speech(asked) == ASK_UNLOCK[language].format("Front Door")

    result = await ask(hass, yes, language=language, conversation_id=asked.conversation_id)

    assert speech(result) == failed
    assert result.response.response_type is intent.IntentResponseType.ERROR
    assert state_of(hass, FRONT_DOOR) == "locked"
