"""Benchmark of the chat API: what `/api/jarvis/chat` and `jarvis/chat` add over the agent itself.

Run: .venv/bin/python -m bench.chat [--runs 300] [--concurrency 8] [--seconds 10] [--turns 5]

The bench starts a real Home Assistant in a child process (throwaway config folder, HA's own
HTTP server with its authentication on 127.0.0.1, bench/ollama_stub.py as the Ollama server,
a template light "Kitchen Light", Jarvis with local first on) and drives it from this process
over real HTTP and WebSocket connections with a long-lived admin token, as a client would.
Every request is a local intent ("turn off/on the kitchen light"), answered by HA's own intents
inside the Jarvis agent, without the model (the bench checks the stub got no chat request), so
what is measured is the API's own cost:
- direct: `conversation.async_converse(..., agent_id=Jarvis)` timed inside HA's process (what
  `jarvis.ask` and a pipeline do): the agent alone;
- `POST /api/jarvis/chat` (NDJSON, until the final line) and `jarvis/chat` over the WebSocket
  (until the final event), next to HA's own `POST /api/conversation/process` and WebSocket
  `conversation/process` sent to the same Jarvis agent, all timed by the client.
Latencies are measured in interleaved rounds (each path takes turns), so every path sees the
same machine load; "added" is a path's percentile minus the direct call's percentile.
Throughput: `--concurrency` clients (one connection each) send requests back to back for
`--seconds` per path, split in `--turns` turns the paths take in turn (the median turn is the
figure: the machine may be shared); the direct row runs as many concurrent calls inside HA.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from datetime import timedelta
import json
import logging
import os
from pathlib import Path
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from types import MappingProxyType
from typing import Any

import aiohttp
from homeassistant import bootstrap, runner
from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
from homeassistant.components import conversation
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_MODEL, CONF_URL
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er, intent
from homeassistant.util.yaml import dump

from bench.common import machine, median_p95, table
from bench.ollama_stub import OllamaStub
from custom_components.jarvis.config_flow import DEFAULT_AGENT_OPTIONS
from custom_components.jarvis.const import DOMAIN

HOST = "127.0.0.1"
MODEL = "llama3.2:latest"
SENTENCES = ("turn off the kitchen light", "turn on the kitchen light")
TARGET_ADDED_P50_MS = 5.0
REPO = Path(__file__).resolve().parent.parent
WARMUP = 20
ROUND = 20  # requests a path sends before the next path's turn

Call = Callable[[str], Awaitable[None]]


# --- the Home Assistant process ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _write_config(config_dir: Path, port: int) -> None:
    light = {"name": "Kitchen Light", "unique_id": "kitchen_light", "optimistic": True}
    light |= {"turn_on": [], "turn_off": []}
    config = {
        "homeassistant": {
            "name": "Chat bench",
            "latitude": 48.85,
            "longitude": 2.35,
            "elevation": 35,
            "unit_system": "metric",
            "time_zone": "Europe/Paris",
            "country": "FR",
            "language": "en",
        },
        "http": {"server_host": HOST, "server_port": port},
        "websocket_api": {},
        "conversation": {},
        "template": [{"light": [light]}],
    }
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(dump(config))
    (config_dir / "custom_components").symlink_to(REPO / "custom_components")


async def _add_jarvis(hass: HomeAssistant, url: str) -> str:
    """Jarvis with one agent (the config flow's defaults: local first on); its entity id."""
    entry = ConfigEntry(
        data={CONF_URL: url},
        discovery_keys=MappingProxyType({}),
        domain=DOMAIN,
        minor_version=1,
        options={},
        source=SOURCE_USER,
        subentries_data=[
            {
                "data": {**DEFAULT_AGENT_OPTIONS, CONF_MODEL: MODEL},
                "subentry_type": "conversation",
                "title": "Jarvis",
                "unique_id": None,
            }
        ],
        title="Jarvis",
        unique_id=None,
        version=1,
    )
    await hass.config_entries.async_add(entry)
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"Jarvis did not load: {entry.state} {entry.reason}")
    return next(
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.domain == "conversation"
    )


async def _token(hass: HomeAssistant) -> str:
    """A long-lived access token of an admin user, as made in a user's profile."""
    user = await hass.auth.async_create_user("Bench", group_ids=[GROUP_ID_ADMIN])
    refresh = await hass.auth.async_create_refresh_token(
        user,
        client_name="chat bench",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=1),
    )
    return hass.auth.async_create_access_token(refresh)


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _direct(hass: HomeAssistant, agent_id: str, index: int) -> float:
    text = SENTENCES[index % len(SENTENCES)]
    started = time.perf_counter()
    result = await conversation.async_converse(hass, text, None, Context(), "en", agent_id)
    elapsed = time.perf_counter() - started
    if result.response.response_type is not intent.IntentResponseType.ACTION_DONE:
        raise RuntimeError(f"not handled locally: {result.response.speech}")
    return elapsed


async def _direct_rps(hass: HomeAssistant, agent_id: str, workers: int, seconds: float) -> int:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(offset: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await _direct(hass, agent_id, offset + done)
            done += 1

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return done


async def _serve(work: Path) -> None:
    """The child: start HA, say how to reach it, then answer the parent's commands on stdin."""
    config_dir = work / "config"
    port = _free_port()
    _write_config(config_dir, port)
    hass = await bootstrap.async_setup_hass(
        runner.RuntimeConfig(
            config_dir=str(config_dir),
            skip_pip=True,
            log_no_color=True,
            log_file=str(work / "home-assistant.log"),
        )
    )
    if hass is None:
        raise RuntimeError("Home Assistant did not start")
    logging.getLogger().setLevel(logging.WARNING)  # no per-request INFO lines while measuring
    await hass.async_start()
    await hass.async_block_till_done()
    stub = OllamaStub(models=[MODEL])
    await stub.start()
    agent_id = await _add_jarvis(hass, stub.url)
    _say({"port": port, "token": await _token(hass), "agent_id": agent_id})

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            command = json.loads(line)
            if command["op"] == "direct":
                _say({"times": [await _direct(hass, agent_id, i) for i in range(command["n"])]})
            elif command["op"] == "direct_rps":
                count = await _direct_rps(hass, agent_id, command["workers"], command["seconds"])
                _say({"count": count})
            elif command["op"] == "stats":
                _say({"model_requests": stub.conversation_requests})
            else:
                break
    finally:
        await hass.async_stop()
        await stub.stop()


class HomeAssistantChild:
    """The HA process of the bench, driven over stdin/stdout."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.process: asyncio.subprocess.Process | None = None
        self.ready: dict[str, Any] = {}

    async def start(self, timeout: float = 180.0) -> None:
        with (self.work / "child.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.chat",
                "--serve",
                str(self.work),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=REPO,
                start_new_session=True,
            )
        self.ready = await self._reply(timeout)

    async def _reply(self, timeout: float = 120.0) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while line := await self.process.stdout.readline():
                with contextlib.suppress(ValueError):
                    message = json.loads(line)
                    if isinstance(message, dict):
                        return message
        raise RuntimeError(f"Home Assistant exited; see {self.work}/child.log")

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await self._reply()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        assert self.process.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.process.stdin.write(b'{"op": "stop"}\n')
            await self.process.stdin.drain()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


# --- the clients ---------------------------------------------------------------------------


def _check(response: dict[str, Any]) -> None:
    if response.get("response_type") != "action_done":
        raise RuntimeError(f"not handled locally: {response}")


class HttpClient:
    """One HTTP connection to HA (keep-alive), as an app or script would hold."""

    def __init__(self, base: str, token: str, agent_id: str) -> None:
        self.base, self.agent_id = base, agent_id
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"},
            connector=aiohttp.TCPConnector(limit=1),
        )

    async def jarvis_chat(self, text: str) -> None:
        async with self.session.post(
            f"{self.base}/api/jarvis/chat", json={"text": text, "language": "en"}
        ) as response:
            response.raise_for_status()
            last = b""
            async for line in response.content:
                last = line
        event = json.loads(last)
        if event["type"] != "final":
            raise RuntimeError(f"chat ended with {event}")
        _check(event["response"])

    async def ha_process(self, text: str) -> None:
        body = {"text": text, "language": "en", "agent_id": self.agent_id}
        async with self.session.post(
            f"{self.base}/api/conversation/process", json=body
        ) as response:
            response.raise_for_status()
            _check((await response.json())["response"])

    async def close(self) -> None:
        await self.session.close()


class WsClient:
    """One authenticated WebSocket connection to HA."""

    def __init__(self, base: str, token: str, agent_id: str) -> None:
        self.base, self.token, self.agent_id = base, token, agent_id
        self.session = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.next_id = 0

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(f"{self.base}/api/websocket")
        assert (await self.ws.receive_json())["type"] == "auth_required"
        await self.ws.send_json({"type": "auth", "access_token": self.token})
        if (await self.ws.receive_json())["type"] != "auth_ok":
            raise RuntimeError("WebSocket authentication failed")

    async def _send(self, message: dict[str, Any]) -> int:
        assert self.ws is not None
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, **message})
        return self.next_id

    async def jarvis_chat(self, text: str) -> None:
        assert self.ws is not None
        msg_id = await self._send({"type": "jarvis/chat", "text": text, "language": "en"})
        while True:
            msg = await self.ws.receive_json()
            if msg["id"] != msg_id:
                continue
            if msg["type"] == "result" and not msg["success"]:
                raise RuntimeError(f"refused: {msg}")
            if msg["type"] == "event" and msg["event"]["type"] in ("final", "error"):
                if msg["event"]["type"] == "error":
                    raise RuntimeError(f"chat failed: {msg}")
                _check(msg["event"]["response"])
                return

    async def ha_process(self, text: str) -> None:
        assert self.ws is not None
        message = {"type": "conversation/process", "text": text, "language": "en"}
        msg_id = await self._send(message | {"agent_id": self.agent_id})
        while (msg := await self.ws.receive_json())["id"] != msg_id:
            pass
        if not msg["success"]:
            raise RuntimeError(f"refused: {msg}")
        _check(msg["result"]["response"])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()


PATHS = (
    "POST /api/jarvis/chat (NDJSON)",
    "WS jarvis/chat",
    "POST /api/conversation/process (HA)",
    "WS conversation/process (HA)",
)
DIRECT = "direct: async_converse inside HA"


def _call(name: str, client: HttpClient | WsClient) -> Call:
    return client.jarvis_chat if "jarvis/chat" in name else client.ha_process


async def _client(name: str, base: str, ready: dict[str, Any]) -> HttpClient | WsClient:
    if name.startswith("WS"):
        ws = WsClient(base, ready["token"], ready["agent_id"])
        await ws.connect()
        return ws
    return HttpClient(base, ready["token"], ready["agent_id"])


async def _latencies(child: HomeAssistantChild, base: str, runs: int) -> dict[str, list[float]]:
    """Seconds per request of each path, measured in interleaved rounds."""
    clients = {name: await _client(name, base, child.ready) for name in PATHS}
    times: dict[str, list[float]] = {name: [] for name in (DIRECT, *PATHS)}
    try:
        await child.ask(op="direct", n=WARMUP)
        for name in PATHS:
            for i in range(WARMUP):
                await _call(name, clients[name])(SENTENCES[i % 2])
        while len(times[DIRECT]) < runs:
            n = min(ROUND, runs - len(times[DIRECT]))
            times[DIRECT] += (await child.ask(op="direct", n=n))["times"]
            for name in PATHS:
                call = _call(name, clients[name])
                for i in range(n):
                    started = time.perf_counter()
                    await call(SENTENCES[i % 2])
                    times[name].append(time.perf_counter() - started)
    finally:
        for client in clients.values():
            await client.close()
    return times


async def _rate(name: str, base: str, ready: dict[str, Any], workers: int, seconds: float) -> int:
    """Requests one path completes in `seconds` with `workers` clients sending back to back."""
    clients = [await _client(name, base, ready) for _ in range(workers)]
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(call: Call) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call(SENTENCES[done % 2])
            done += 1

    try:
        await asyncio.gather(*(worker(_call(name, client)) for client in clients))
    finally:
        for client in clients:
            await client.close()
    return done


async def _throughput(
    child: HomeAssistantChild, base: str, workers: int, seconds: float, turns: int
) -> dict[str, list[float]]:
    """Requests per second of each path in each turn; the paths take turns, `turns` times."""
    rates: dict[str, list[float]] = {name: [] for name in (DIRECT, *PATHS)}
    turn = seconds / turns
    for _ in range(turns):
        reply = await child.ask(op="direct_rps", workers=workers, seconds=turn)
        rates[DIRECT].append(reply["count"] / turn)
        for name in PATHS:
            rates[name].append(await _rate(name, base, child.ready, workers, turn) / turn)
    return rates


async def _bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="jarvis-bench-chat-"))
    child = HomeAssistantChild(work)
    started = time.perf_counter()
    try:
        await child.start()
        print(f"Home Assistant up in {time.perf_counter() - started:.1f} s")
        base = f"http://{HOST}:{child.ready['port']}"
        times = await _latencies(child, base, args.runs)
        rates = await _throughput(child, base, args.concurrency, args.seconds, args.turns)
        model_requests = (await child.ask(op="stats"))["model_requests"]
    except BaseException:
        print(f"Home Assistant's logs are kept in {work}", file=sys.stderr)
        raise
    finally:
        await child.stop()
    shutil.rmtree(work, ignore_errors=True)
    if model_requests:
        raise RuntimeError(f"the model was asked {model_requests} times: not all local")

    rows = machine(["homeassistant", "aiohttp", "ollama"])
    table("Machine", ("", ""), rows)
    direct_p50, direct_p95 = median_p95(times[DIRECT])
    latency_rows = []
    for name in (DIRECT, *PATHS):
        p50, p95 = median_p95(times[name])
        added = "" if name == DIRECT else f"{(p50 - direct_p50) * 1000:.2f}"
        added95 = "" if name == DIRECT else f"{(p95 - direct_p95) * 1000:.2f}"
        latency_rows.append((name, f"{p50 * 1000:.2f}", f"{p95 * 1000:.2f}", added, added95))
    table(
        f"Latency of a local intent ({args.runs} requests a path, interleaved; ms)",
        ("path", "p50", "p95", "added p50", "added p95"),
        latency_rows,
    )
    table(
        f"Throughput ({args.concurrency} clients back to back, {args.seconds:g} s a path in"
        f" {args.turns} interleaved turns; requests/s)",
        ("path", "median of turns", "lowest", "highest"),
        [
            (name, f"{statistics.median(r):.0f}", f"{min(r):.0f}", f"{max(r):.0f}")
            for name, r in rates.items()
        ],
    )
    added_http = (median_p95(times[PATHS[0]])[0] - direct_p50) * 1000
    added_ws = (median_p95(times[PATHS[1]])[0] - direct_p50) * 1000
    verdict = "met" if max(added_http, added_ws) <= TARGET_ADDED_P50_MS else "MISSED"
    print(
        f"\nTarget: added p50 <= {TARGET_ADDED_P50_MS:g} ms: {verdict} (HTTP {added_http:.2f} ms,"
        f" WebSocket {added_ws:.2f} ms); the model was asked {model_requests} times"
    )


def main() -> None:
    """Run the benchmark (or, with --serve, be its Home Assistant process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="latency requests per path")
    parser.add_argument("--concurrency", type=int, default=8, help="clients for throughput")
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput time per path")
    parser.add_argument("--turns", type=int, default=5, help="throughput turns per path")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
    else:
        asyncio.run(_bench(args))


if __name__ == "__main__":
    main()
