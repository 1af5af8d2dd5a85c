"""Benchmark of the Jarvis agent: its latency and its prompts, against HA core's agents.

Latency around the LLM and on the local-first path; size and build time of its prompts in homes
of 30, 300 and 1000 entities.

Run: .venv/bin/python -m bench.agent [--runs 40] [--llm-delay-ms 50] [--part all|latency|prompt]
     [--homes 30,300,1000] [--prompt-runs 10]

A real Home Assistant (the test harness's in-process instance) with Jarvis and, as baselines,
HA core's `ollama` agent and HA's default agent, all measured in the same run:
- LLM path: request -> first streamed reply text in the ChatLog, minus the delay the fake Ollama
  server waits before its first chunk (so what is left is the agent's and client's overhead),
  for Jarvis and HA core's ollama agent against the same server.
- Cold model, voice turn: the model is not loaded; as in HA's pipeline, the agent is prepared
  when speech-to-text starts and asked when the text arrives; request -> first reply text.
- Local path: "turn on/off the kitchen light" answered by Jarvis's local first (no LLM request)
  next to HA's own default agent answering the same sentences, and next to HA core's ollama agent
  called directly (no pipeline to catch the command first), which needs two model calls.
- Prompt: in a generated home (bench/home.py) of 30, 300 and 1000 exposed entities, a request
  from a satellite's room, one naming an entity and one for the whole home, each sent to Jarvis
  and to HA core's ollama agent (Assist API both, same server, same run): the size of the chat
  request the server gets (characters of the messages and tool definitions, and tokens estimated
  as characters / 3.5), the num_ctx it asks for, and the build time: request -> chat request
  received by the server (the server answers at once).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
import importlib.metadata
import json
import os
import platform
import statistics
import time
from typing import Any

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_LLM_HASS_API, CONF_MODEL, CONF_PROMPT, CONF_URL
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    chat_session,
    device_registry as dr,
    entity_registry as er,
    llm,
)
from homeassistant.loader import DATA_CUSTOM_COMPONENTS
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_test_home_assistant

from bench.home import async_setup_home
from bench.ollama_stub import OllamaStub, text_reply, tool_call_reply
from custom_components.jarvis.const import CONF_PREFER_LOCAL, DOMAIN
from custom_components.jarvis.context_window import CHARS_PER_TOKEN

MODEL = "llama3.2:latest"
REPLY = "The moon is about three hundred and eighty four thousand kilometres away."
LOCAL_SENTENCES = ("turn on the kitchen light", "turn off the kitchen light")
COLD_LOAD_S = 0.5  # the fake server's model load time (real ones: 5-50 s)
STT_S = 0.8  # time from the start of speech-to-text to the text (the user speaking)
KITCHEN_LIGHT = "light.kitchen_light"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _row(name: str, values_s: list[float]) -> tuple[str, float, float, float]:
    ms = [v * 1000 for v in values_s]
    return name, statistics.median(ms), _percentile(ms, 0.95), min(ms)


async def _setup_kitchen(hass: HomeAssistant) -> None:
    """An optimistic template light 'Kitchen Light' in the area 'Kitchen'."""
    light = {"name": "Kitchen Light", "unique_id": "kitchen_light", "optimistic": True}
    light |= {"turn_on": [], "turn_off": []}
    assert await async_setup_component(hass, "template", {"template": [{"light": [light]}]})
    await hass.async_block_till_done()
    area = ar.async_get(hass).async_get_or_create("Kitchen")
    er.async_get(hass).async_update_entity(KITCHEN_LIGHT, area_id=area.id)


async def _setup(
    hass: HomeAssistant, server: OllamaStub, *, kitchen: bool = True
) -> dict[str, str]:
    """Jarvis (LLM only + local first), HA core's ollama agent, a kitchen light; agent ids."""
    hass.data.pop(DATA_CUSTOM_COMPONENTS, None)  # let HA load custom_components/jarvis
    for domain in ("homeassistant", "conversation", "llm"):
        assert await async_setup_component(hass, domain, {})
    if kitchen:
        await _setup_kitchen(hass)
    options = {
        CONF_MODEL: MODEL,
        CONF_PROMPT: "You are a voice assistant.",
        CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
    }

    def subentry(title: str, **extra: Any) -> ConfigSubentryData:
        return ConfigSubentryData(
            data=options | extra, subentry_type="conversation", title=title, unique_id=None
        )

    for domain, version, subentries in (
        (
            DOMAIN,
            1,
            [subentry("Jarvis LLM", **{CONF_PREFER_LOCAL: False}), subentry("Jarvis local")],
        ),
        ("ollama", 3, [subentry("Core ollama")]),
    ):
        entry = MockConfigEntry(
            domain=domain,
            version=version,
            minor_version=3 if domain == "ollama" else 1,
            data={CONF_URL: server.url},
            subentries_data=subentries,
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    names: dict[str, str] = {}
    for entity in er.async_get(hass).entities.values():
        if entity.domain == "conversation" and entity.config_subentry_id:
            entry = hass.config_entries.async_get_entry(entity.config_entry_id or "")
            assert entry is not None
            names[entry.subentries[entity.config_subentry_id].title] = entity.entity_id
    names["HA default agent"] = conversation.HOME_ASSISTANT_AGENT
    return names


async def _first_delta_s(
    hass: HomeAssistant, agent_id: str, server: OllamaStub, delay_s: float
) -> float:
    """Seconds from the request to the first reply text in the ChatLog."""
    first: list[float] = []

    def on_delta(_log: conversation.ChatLog, delta: dict[str, Any]) -> None:
        if delta.get("content") and not first:
            first.append(time.perf_counter())

    server.queue(text_reply(REPLY, delay=delay_s))
    with (
        chat_session.async_get_chat_session(hass) as session,
        conversation.async_get_chat_log(hass, session, chat_log_delta_listener=on_delta),
    ):
        started = time.perf_counter()
        result = await conversation.async_converse(
            hass, "how far is the moon", session.conversation_id, Context(), "en", agent_id
        )
    assert result.response.speech["plain"]["speech"] == REPLY, result.response.speech
    return first[0] - started


async def _cold_voice_turn_s(
    hass: HomeAssistant, agent_id: str, server: OllamaStub, delay_s: float, stt_s: float
) -> float:
    """A voice turn on an unloaded model: request -> first reply text.

    As HA's pipeline does, the agent is prepared in the background when speech-to-text starts;
    `stt_s` later the text arrives and the agent is asked.
    """
    server.loaded.clear()
    prepare = hass.async_create_background_task(
        conversation.async_prepare_agent(hass, agent_id, "en"), "prepare agent"
    )
    await asyncio.sleep(stt_s)
    elapsed = await _first_delta_s(hass, agent_id, server, delay_s)
    await prepare
    return elapsed


async def _local_s(hass: HomeAssistant, agent_id: str, sentence: str) -> float:
    started = time.perf_counter()
    result = await conversation.async_converse(hass, sentence, None, Context(), "en", agent_id)
    elapsed = time.perf_counter() - started
    assert result.response.response_type.value == "action_done", result.response.speech
    return elapsed


async def _measure(
    runs: int, call: Callable[[int], Coroutine[Any, Any, float]], warmup: int = 3
) -> list[float]:
    for i in range(warmup):
        await call(i)
    return [await call(i) for i in range(runs)]


async def _main(runs: int, delay_s: float) -> list[tuple[str, float, float, float]]:
    server = OllamaStub(models=[MODEL])
    await server.start()
    rows: list[tuple[str, float, float, float]] = []
    try:
        async with async_test_home_assistant() as hass:
            agents = await _setup(hass, server)
            for name in ("Jarvis LLM", "Core ollama"):
                agent = agents[name]

                async def llm_turn(_i: int, agent: str = agent) -> float:
                    return await _first_delta_s(hass, agent, server, delay_s) - delay_s

                before = server.conversation_requests
                overhead = await _measure(runs, llm_turn)
                assert server.conversation_requests - before == runs + 3
                rows.append(_row(f"LLM path overhead: {name}", overhead))
            server.load_delay = COLD_LOAD_S
            for name in ("Jarvis LLM", "Core ollama"):
                agent = agents[name]

                async def cold_turn(_i: int, agent: str = agent) -> float:
                    return await _cold_voice_turn_s(hass, agent, server, delay_s, STT_S)

                times = await _measure(max(5, runs // 4), cold_turn, warmup=1)
                rows.append(_row(f"Cold model, voice turn: {name}", times))
            server.load_delay = 0.0
            for name in ("Jarvis local", "HA default agent"):
                agent = agents[name]

                async def local_turn(i: int, agent: str = agent) -> float:
                    return await _local_s(hass, agent, LOCAL_SENTENCES[i % len(LOCAL_SENTENCES)])

                before = server.conversation_requests
                times = await _measure(runs, local_turn)
                assert server.conversation_requests == before  # no LLM request
                rows.append(_row(f"Local intent: {name}", times))

            # Called directly (automation, jarvis.ask), HA core's agent needs the model for a
            # built-in command: a tool call, then the answer (two model calls).
            async def core_command(i: int) -> float:
                server.queue(
                    tool_call_reply("intent__HassTurnOn", {"name": "Kitchen Light"}, delay=delay_s),
                    text_reply("Done.", delay=delay_s),
                )
                return await _local_s(
                    hass, agents["Core ollama"], LOCAL_SENTENCES[i % len(LOCAL_SENTENCES)]
                )

            rows.append(
                _row(
                    "Built-in command via the LLM: Core ollama", await _measure(runs, core_command)
                )
            )
            await hass.async_stop(force=True)
    finally:
        await server.stop()
    return rows


PromptRow = tuple[int, str, dict[str, tuple[float, int, float]]]  # home, request, agent -> figures


def _prompt_chars(body: dict[str, Any]) -> int:
    """Characters the model reads: the messages' text and the tool definitions."""
    text = sum(len(m.get("content") or "") for m in body["messages"])
    return text + len(json.dumps(body.get("tools") or [], ensure_ascii=False))


async def _prompt_turn(
    hass: HomeAssistant, agent_id: str, server: OllamaStub, text: str, device_id: str | None
) -> tuple[int, int, float]:
    """(prompt characters, num_ctx, seconds from the request to the chat request's arrival)."""
    server.queue(text_reply("OK."))
    started = time.perf_counter()
    result = await conversation.async_converse(
        hass, text, None, Context(), "en", agent_id, device_id=device_id
    )
    assert result.response.speech["plain"]["speech"] == "OK.", result.response.speech
    body = server.last_chat
    return _prompt_chars(body), int(body["options"]["num_ctx"]), server.last_chat_at - started


async def _prompt_home(size: int, runs: int) -> list[PromptRow]:
    """Prompt figures of Jarvis and HA core's ollama agent in a home of `size` entities."""
    server = OllamaStub(models=[MODEL])
    await server.start()
    rows: list[PromptRow] = []
    try:
        async with async_test_home_assistant() as hass:
            agents = await _setup(hass, server, kitchen=False)
            areas = await async_setup_home(hass, size)
            jarvis_entry = next(iter(hass.config_entries.async_entries(DOMAIN)))
            satellite = dr.async_get(hass).async_get_or_create(
                config_entry_id=jarvis_entry.entry_id,
                identifiers={("bench", "satellite")},
                name="Satellite",
            )
            first_area = ar.async_get(hass).async_get_area_by_name(areas[0])
            assert first_area is not None
            dr.async_get(hass).async_update_device(satellite.id, area_id=first_area.id)
            requests = (
                ("close the blinds (from a satellite)", "close the blinds", satellite.id),
                (
                    "turn off the <area> reading lamp",
                    f"turn off the {areas[0].lower()} reading lamp",
                    None,
                ),
                ("turn off all the lights", "turn off all the lights", None),
            )
            for label, text, device_id in requests:
                figures: dict[str, tuple[float, int, float]] = {}
                for name in ("Jarvis LLM", "Core ollama"):
                    turns = [
                        await _prompt_turn(hass, agents[name], server, text, device_id)
                        for _ in range(runs + 2)
                    ][2:]  # 2 warm-ups
                    chars = statistics.median(t[0] for t in turns)
                    figures[name] = (
                        chars,
                        max(t[1] for t in turns),
                        statistics.median(t[2] for t in turns),
                    )
                rows.append((size, label, figures))
            await hass.async_stop(force=True)
    finally:
        await server.stop()
    return rows


def _print_prompt_table(rows: list[PromptRow], runs: int) -> None:
    print()
    print(
        f"Prompt size and build time, medians of {runs} requests after 2 warm-ups; tokens"
        f" estimated as characters / {CHARS_PER_TOKEN:g} (messages + tool definitions)"
    )
    print()
    print(
        "| entities | request | Jarvis tokens | core tokens | Jarvis / core | Jarvis num_ctx |"
        " core num_ctx | Jarvis build ms | core build ms |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for size, label, figures in rows:
        (j_chars, j_ctx, j_s), (c_chars, c_ctx, c_s) = figures["Jarvis LLM"], figures["Core ollama"]
        print(
            f"| {size} | {label} | {j_chars / CHARS_PER_TOKEN:,.0f} | {c_chars / CHARS_PER_TOKEN:,.0f}"
            f" | {j_chars / c_chars:.2f} | {j_ctx} | {c_ctx} | {j_s * 1000:.1f} | {c_s * 1000:.1f} |"
        )


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--llm-delay-ms", type=float, default=50.0)
    parser.add_argument("--part", choices=("all", "latency", "prompt"), default="all")
    parser.add_argument("--homes", default="30,300,1000", help="home sizes (entities)")
    parser.add_argument("--prompt-runs", type=int, default=10)
    args = parser.parse_args()

    versions = ", ".join(
        f"{pkg} {importlib.metadata.version(pkg)}" for pkg in ("homeassistant", "ollama", "aiohttp")
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(f"versions: {versions}")
    if args.part in ("all", "latency"):
        _latency(args)
    if args.part in ("all", "prompt"):
        prompt_rows: list[PromptRow] = []
        for size in (int(s) for s in args.homes.split(",")):
            prompt_rows += asyncio.run(_prompt_home(size, args.prompt_runs))
        _print_prompt_table(prompt_rows, args.prompt_runs)


def _latency(args: argparse.Namespace) -> None:
    """Run the latency part and print its table."""
    rows = asyncio.run(_main(args.runs, args.llm_delay_ms / 1000))
    print(
        f"runs: {args.runs} each after 3 warm-ups (cold turns: {max(5, args.runs // 4)}); fake "
        f"Ollama: first chunk after {args.llm_delay_ms:g} ms (subtracted in 'overhead' rows), "
        f"cold load {COLD_LOAD_S * 1000:g} ms; speech-to-text {STT_S * 1000:g} ms"
    )
    print()
    print(f"| {'measure':<44} | {'median ms':>9} | {'p95 ms':>7} | {'min ms':>7} |")
    print(f"|{'-' * 46}|{'-' * 10}:|{'-' * 8}:|{'-' * 8}:|")
    for name, median, p95, low in rows:
        print(f"| {name:<44} | {median:9.2f} | {p95:7.2f} | {low:7.2f} |")
    by_name = {name: median for name, median, _p95, _low in rows}
    jarvis_llm, core_llm = (
        by_name[f"LLM path overhead: {n}"] for n in ("Jarvis LLM", "Core ollama")
    )
    jarvis_local, ha_local = (
        by_name[f"Local intent: {n}"] for n in ("Jarvis local", "HA default agent")
    )
    cold_jarvis, cold_core = (
        by_name[f"Cold model, voice turn: {n}"] for n in ("Jarvis LLM", "Core ollama")
    )
    print()
    print(f"LLM path overhead, Jarvis / core ollama (median): {jarvis_llm / core_llm:.2f}x")
    print(f"Cold model voice turn, Jarvis / core ollama (median): {cold_jarvis / cold_core:.2f}x")
    print(f"Local intent, Jarvis / HA default agent (median): {jarvis_local / ha_local:.2f}x")
    via_llm = by_name["Built-in command via the LLM: Core ollama"]
    print(
        f"Built-in command called directly, Jarvis / core ollama (median): {jarvis_local / via_llm:.3f}x"
    )


if __name__ == "__main__":
    main()
