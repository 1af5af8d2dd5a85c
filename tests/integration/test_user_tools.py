"""User-defined tools from jarvis_tools.yaml: called by the (fake) model, edited while HA runs.

Each kind does its real work: a script changes an entity, a template's result reaches the
model, an HTTP call reaches a local aiohttp server (and a host not allowed is never called).
Adding, editing and breaking the file while HA runs raises and clears repair issues that name
the file and the line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import timedelta
import json
import os
from pathlib import Path
import textwrap
from typing import Any

from aiohttp import web
from homeassistant.const import CONF_LLM_HASS_API
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import issue_registry as ir, llm
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.jarvis.const import DOMAIN, JARVIS_LLM_API_ID
from custom_components.jarvis.user_tools import POLL_INTERVAL, TOOLS_FILE

from .agent_helpers import ask, speech, state_of
from .fake_ollama import FakeOllama, text_reply, tool_call_reply

HEATING = "input_number.heating_target"


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A config folder of the test's own, for jarvis_tools.yaml."""
    return hass_tmp_config_dir


@pytest.fixture
def agent_options(agent_options: dict[str, object]) -> dict[str, object]:
    """The agent uses the Jarvis API (user tools included)."""
    return {**agent_options, CONF_LLM_HASS_API: [JARVIS_LLM_API_ID]}


@dataclass
class WebServer:
    """A small HTTP server on 127.0.0.1 that records what it is asked."""

    port: int = 0
    requests: list[web.Request] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    async def weather(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        self.headers.append(dict(request.headers))
        return web.json_response(
            {"city": request.match_info["city"], "units": request.query.get("units"), "temp": 12}
        )

    async def big(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        return web.Response(text="x" * 100_000)

    async def slow(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        await asyncio.sleep(2)
        return web.Response(text="late")


@pytest.fixture
async def web_server(socket_enabled: None) -> AsyncGenerator[WebServer]:
    server = WebServer()
    app = web.Application()
    app.router.add_get("/weather/{city}", server.weather)
    app.router.add_get("/big", server.big)
    app.router.add_get("/slow", server.slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()


def _write(path: Path, text: str) -> None:
    """Write the file with a newer modification time than before (as an editor's save)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    if before:
        later = max(path.stat().st_mtime_ns, before + 1_000_000_000)
        os.utime(path, ns=(later, later))


async def write_tools(hass: HomeAssistant, text: str) -> Path:
    path = Path(hass.config.path(TOOLS_FILE))
    await hass.async_add_executor_job(_write, path, text)
    return path


async def poll(hass: HomeAssistant) -> None:
    """Let the file watcher run once."""
    async_fire_time_changed(hass, dt_util.utcnow() + POLL_INTERVAL + timedelta(seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)  # the check runs in one


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of `text` (dedented) containing `needle`."""
    lines = textwrap.dedent(text).lstrip().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


async def offered(hass: HomeAssistant) -> set[str]:
    """The user tools the Jarvis API offers now."""
    context = llm.LLMContext(
        platform="test", context=Context(), language="en", assistant="conversation", device_id=None
    )
    api = await llm.async_get_api(hass, JARVIS_LLM_API_ID, context)
    builtin = {"jarvis__RoomOverview", "jarvis__Remember", "jarvis__Recall", "jarvis__Forget"}
    return {t.name for t in api.tools if t.name.startswith("jarvis__")} - builtin


async def call(
    hass: HomeAssistant, fake_ollama: FakeOllama, tool: str, args: dict[str, Any]
) -> dict[str, Any]:
    """The model calls `tool`; the result it got back ({"data", "error"})."""
    fake_ollama.queue(tool_call_reply(tool, args), text_reply("Done."))
    assert speech(await ask(hass, f"Use {tool}")) == "Done."
    message = fake_ollama.conversation_requests[-1]["messages"][-1]
    assert message["role"] == "tool"
    assert message["tool_name"] == tool
    return json.loads(message["content"])  # type: ignore[no-any-return]


def issues(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    return {
        issue_id: issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith("user_tools_")
    }


async def _setup_heating(hass: HomeAssistant) -> None:
    """An input number and a script that sets it and answers with what it did."""
    assert await async_setup_component(
        hass,
        "input_number",
        {"input_number": {"heating_target": {"min": 5, "max": 30, "step": 0.5, "initial": 19}}},
    )
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "set_heating": {
                    "fields": {"temperature": {"selector": {"number": {}}}},
                    "sequence": [
                        {
                            "action": "input_number.set_value",
                            "target": {"entity_id": HEATING},
                            "data": {"value": "{{ temperature }}"},
                        },
                        {"variables": {"result": {"set_to": "{{ temperature }}"}}},
                        {"stop": "done", "response_variable": "result"},
                    ],
                }
            }
        },
    )
    await hass.async_block_till_done()


TOOLS = """
allowed_hosts:
  - 127.0.0.1
tools:
  set_heating:
    description: Sets the heating's target temperature.
    script: script.set_heating
    parameters:
      temperature: {type: number, description: Degrees Celsius, required: true}
  heating_summary:
    description: Says the heating's target in a room.
    template: "{{ room }}: target {{ states('input_number.heating_target') }} °C"
    parameters:
      room: {type: string, required: true}
  weather:
    description: The garden weather station.
    http:
      url: "http://127.0.0.1:PORT/weather/{{ city }}"
      params: {units: "{{ units }}"}
      headers: {Authorization: !secret station_token}
    parameters:
      city: {type: string, required: true}
      units: {type: enum, values: [metric, imperial]}
  fetch:
    description: Fetches a page of a host.
    http:
      url: "http://{{ host }}/weather/x"
      timeout: 2
    parameters:
      host: {type: string, required: true}
  big_page:
    description: A big page.
    http: {url: "http://127.0.0.1:PORT/big", max_bytes: 1000}
  slow_page:
    description: A slow page.
    http: {url: "http://127.0.0.1:PORT/slow", timeout: 0.3}
  gone:
    description: A script that was deleted.
    script: script.deleted_long_ago
"""


async def test_each_kind_of_tool_does_its_work(
    hass: HomeAssistant,
    fake_ollama: FakeOllama,
    web_server: WebServer,
    mock_config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    await _setup_heating(hass)
    await write_tools(hass, TOOLS.replace("PORT", str(web_server.port)))
    secrets = Path(hass.config.path("secrets.yaml"))
    await hass.async_add_executor_job(secrets.write_text, "station_token: Bearer s3cr3t\n")
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "llm", {})
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert issues(hass) == {}
    names = {"set_heating", "heating_summary", "weather", "fetch", "big_page", "slow_page", "gone"}
    assert await offered(hass) == {f"jarvis__{n}" for n in names}
    fake_ollama.queue(text_reply("Hi."))
    await ask(hass, "Hi")
    sent = {t["function"]["name"]: t["function"] for t in fake_ollama.chat_requests[-1]["tools"]}
    weather = sent["jarvis__weather"]["parameters"]
    assert weather["properties"] == {
        "city": {"type": "string"},
        "units": {"type": "string", "enum": ["metric", "imperial"]},
    }
    assert weather["required"] == ["city"]
    assert sent["jarvis__set_heating"]["description"] == "Sets the heating's target temperature."

    # A script: it runs and changes the entity; its response goes back to the model.
    result = await call(hass, fake_ollama, "jarvis__set_heating", {"temperature": "21.5"})
    assert result == {"data": {"status": "done", "response": {"set_to": 21.5}}, "error": False}
    assert state_of(hass, HEATING) == "21.5"

    # A template: rendered with the arguments, the result reaches the model.
    result = await call(hass, fake_ollama, "jarvis__heating_summary", {"room": "Kitchen"})
    assert result["data"] == {"result": "Kitchen: target 21.5 °C"}

    # HTTP to an allowed host: the server is asked (with the secret header), the JSON comes back.
    result = await call(hass, fake_ollama, "jarvis__weather", {"city": "Paris", "units": "Metric"})
    assert result["data"] == {
        "status": 200,
        "body": {"city": "Paris", "units": "metric", "temp": 12},
    }
    assert web_server.headers[-1]["Authorization"] == "Bearer s3cr3t"
    asked = len(web_server.requests)

    # A host not allowed is refused before any connection.
    result = await call(hass, fake_ollama, "jarvis__fetch", {"host": "10.9.8.7"})
    assert result["error"] is True
    assert result["data"]["error"] == "host_not_allowed"
    result = await call(
        hass, fake_ollama, "jarvis__fetch", {"host": f"127.0.0.1@10.9.8.7:{web_server.port}"}
    )
    assert result["data"]["error"] == "host_not_allowed"
    assert len(web_server.requests) == asked

    # The response is capped, a slow server times out, a missing script is said so.
    result = await call(hass, fake_ollama, "jarvis__big_page", {})
    assert result["data"] == {"status": 200, "body": "x" * 1000, "truncated": True}
    result = await call(hass, fake_ollama, "jarvis__slow_page", {})
    assert result["error"] is True
    assert result["data"]["error"] == "http_failed"
    result = await call(hass, fake_ollama, "jarvis__gone", {})
    assert result["data"]["error"] == "no_script"

    # Diagnostics list the tools, without URLs, headers or secrets.
    diag = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)
    text = json.dumps(diag)
    assert "s3cr3t" not in text
    assert "/weather" not in text
    assert diag["user_tools"]["tools"]["jarvis__weather"] == {
        "kind": "http",
        "source": f"{TOOLS_FILE}, line {line_of(TOOLS, 'weather:')}",
        "parameters": ["city", "units"],
    }
    assert diag["user_tools"]["allowed_hosts"] == ["127.0.0.1"]


async def test_added_edited_broken_and_fixed_while_ha_runs(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    assert await offered(hass) == set()  # no file: no tool, no issue
    assert issues(hass) == {}

    # Added.
    path = await write_tools(
        hass,
        """
        tools:
          greeting:
            description: A greeting.
            template: "Hello v1"
        """,
    )
    await poll(hass)
    assert await offered(hass) == {"jarvis__greeting"}
    assert (await call(hass, fake_ollama, "jarvis__greeting", {}))["data"] == {"result": "Hello v1"}

    # Edited, and a second tool added.
    await write_tools(
        hass,
        """
        tools:
          greeting:
            description: A greeting.
            template: "Hello v2, {{ name }}"
            parameters:
              name: {type: string, required: true}
          shout:
            description: Shouts.
            template: "{{ text | upper }}"
            parameters:
              text: {type: string, required: true}
        """,
    )
    await poll(hass)
    assert await offered(hass) == {"jarvis__greeting", "jarvis__shout"}
    result = await call(hass, fake_ollama, "jarvis__greeting", {"name": "Ada"})
    assert result["data"] == {"result": "Hello v2, Ada"}

    # Broken: one tool's template does not compile; the other keeps working.
    broken = """
        tools:
          greeting:
            description: A greeting.
            template: "Hello v2, {{ name }}"
            parameters:
              name: {type: string, required: true}
          shout:
            description: Shouts.
            template: "{{ text | upper "
            parameters:
              text: {type: string, required: true}
        """
    await write_tools(hass, broken)
    await poll(hass)
    assert await offered(hass) == {"jarvis__greeting"}
    [(issue_id, issue)] = issues(hass).items()
    assert issue_id == "user_tools_tool_shout"
    assert issue.translation_key == "user_tool_invalid"
    assert issue.severity is ir.IssueSeverity.ERROR
    placeholders = issue.translation_placeholders or {}
    assert placeholders["file"] == str(path)
    assert placeholders["tool"] == "shout"
    assert placeholders["line"] == str(line_of(broken, "{{ text | upper "))
    assert "template" in placeholders["error"]
    result = await call(hass, fake_ollama, "jarvis__greeting", {"name": "Bo"})
    assert result["data"] == {"result": "Hello v2, Bo"}

    # Not even YAML: the tools loaded before stay, the issue says where the file breaks.
    unreadable = """
        tools:
          greeting:
            description: [A greeting
            template: x
        """
    await write_tools(hass, unreadable)
    await poll(hass)
    assert await offered(hass) == {"jarvis__greeting"}
    found = issues(hass)
    assert set(found) == {"user_tools_unreadable", "user_tools_tool_shout"}
    placeholders = found["user_tools_unreadable"].translation_placeholders or {}
    assert placeholders["file"] == str(path)
    assert int(placeholders["line"]) >= line_of(unreadable, "[A greeting")

    # Fixed: every issue goes away, both tools are back.
    await write_tools(
        hass,
        """
        tools:
          greeting:
            description: A greeting.
            template: "Hello v3"
          shout:
            description: Shouts.
            template: "{{ text | upper }}"
            parameters:
              text: {type: string, required: true}
        """,
    )
    await poll(hass)
    assert issues(hass) == {}
    assert await offered(hass) == {"jarvis__greeting", "jarvis__shout"}
    result = await call(hass, fake_ollama, "jarvis__shout", {"text": "hey"})
    assert result["data"] == {"result": "HEY"}

    # Removed.
    await hass.async_add_executor_job(path.unlink)
    await poll(hass)
    assert await offered(hass) == set()


async def test_reload_action_reads_the_file_at_once(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry
) -> None:
    await write_tools(
        hass,
        """
        tools:
          ping:
            description: Pong.
            template: pong
        """,
    )
    assert await offered(hass) == set()  # the watcher has not run yet

    await hass.services.async_call(DOMAIN, "reload", {}, blocking=True)

    assert await offered(hass) == {"jarvis__ping"}


BAD_TOOLS = """
allowed_hosts:
  - 127.0.0.1
  - "http://192.168.1.5/path"
tools:
  good:
    description: Still works.
    template: fine
  two_kinds:
    description: Both a script and a template.
    script: script.x
    template: y
  no_kind:
    description: Nothing to do.
  enum_without_values:
    description: An enum with nothing to pick.
    template: "{{ colour }}"
    parameters:
      colour: {type: enum}
  odd_type:
    description: A type that does not exist.
    template: x
    parameters:
      when: {type: date}
  typo:
    descripton: Misspelt.
    template: x
  elsewhere:
    description: A host not allowed.
    http: {url: "http://203.0.113.9/api"}
  not-a-name:
    description: A name the model could not call.
    template: x
  RoomOverview:
    description: Named like a built-in tool.
    template: mine
"""


async def test_each_bad_definition_is_reported_with_its_line(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    path = await write_tools(hass, BAD_TOOLS)
    await hass.services.async_call(DOMAIN, "reload", {}, blocking=True)

    found = issues(hass)
    expected = {
        "file": ("http://192.168.1.5/path", "is not 'host' or 'host:port'"),
        "tool_two_kinds": ("two_kinds:", "exactly one of script, template or http"),
        "tool_no_kind": ("no_kind:", "exactly one of script, template or http"),
        "tool_enum_without_values": ("colour: {type: enum}", "an enum needs its values"),
        "tool_odd_type": ("when: {type: date}", "parameters.when.type: value must be one of"),
        "tool_typo": ("descripton:", "descripton: unknown option"),
        "tool_elsewhere": ('url: "http://203.0.113.9/api"', "203.0.113.9 is not in allowed_hosts"),
        "tool_not-a-name": ("not-a-name:", "a tool's name is a letter"),
    }
    assert set(found) == {f"user_tools_{key}" for key in expected}
    for key, (line_text, message) in expected.items():
        placeholders = found[f"user_tools_{key}"].translation_placeholders or {}
        assert placeholders["file"] == str(path), key
        assert placeholders["line"] == str(line_of(BAD_TOOLS, line_text)), key
        assert message in placeholders["error"], (key, placeholders["error"])
    # The good tool, and the tool named like a built-in one, stay; the built-in wins.
    assert await offered(hass) == {"jarvis__good"}
    assert "jarvis__RoomOverview (jarvis_tools.yaml, line" in caplog.text


async def test_a_list_of_tools_is_explained(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry
) -> None:
    """A common slip: tools written as a list; the issue says what the file should hold."""
    text = """
        tools:
          - name: ping
            template: pong
        """
    await write_tools(hass, text)
    await hass.services.async_call(DOMAIN, "reload", {}, blocking=True)

    [(issue_id, issue)] = issues(hass).items()
    assert issue_id == "user_tools_file"
    assert issue.translation_key == "user_tools_file_invalid"
    placeholders = issue.translation_placeholders or {}
    assert placeholders["line"] == str(line_of(text, "- name: ping"))
    assert "a mapping of tool names" in placeholders["error"]
    assert await offered(hass) == set()
