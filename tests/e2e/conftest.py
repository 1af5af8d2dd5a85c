"""The whole chain under test: our speech servers, a satellite, HA's wyoming integration, Jarvis.

The speech servers run once per session as a real `python -m wyoming_servers` process; each test
gets HA (the pytest `hass`), the demo home, a fake Ollama server, a satellite process fed by a
recording, and HA wired to all of them through HA's own config flows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
import subprocess
import sys
import time

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
import pytest_socket

from jarvis_demo.processes import async_describe, free_port
from jarvis_demo.progress import Progress
from jarvis_demo.stack import HOST, Stack, StackOptions
from tests.integration.fake_ollama import FakeOllama

TEST_MODEL = "llama3.2:latest"


@dataclass
class SpeechServers:
    """A running `python -m wyoming_servers` (STT + TTS)."""

    stt_port: int
    tts_port: int
    process: subprocess.Popen[bytes]
    log: Path


def start_speech_servers(
    log: Path, stt_port: int, tts_port: int, extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """Start the STT+TTS process (`extra`: more options) and wait until both answer `describe`."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wyoming_servers",
                "--stt-uri",
                f"tcp://{HOST}:{stt_port}",
                "--tts-uri",
                f"tcp://{HOST}:{tts_port}",
                *extra,
            ],
            stdout=out,
            stderr=out,
        )

    async def ready() -> bool:
        return all([await async_describe(HOST, stt_port), await async_describe(HOST, tts_port)])

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"speech servers exited: {log.read_text()[-2000:]}")
        if asyncio.run(ready()):
            return process
        time.sleep(0.2)
    process.kill()
    raise TimeoutError("speech servers not ready")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_speech_servers(
    tmp_path_factory: pytest.TempPathFactory, extra: Sequence[str] = ()
) -> Generator[SpeechServers]:
    """Start the speech servers (before any test's socket guard is lifted), stop them after."""
    log = tmp_path_factory.mktemp("speech") / "speech-servers.log"
    # Set up before the first test's socket guard is lifted: allow loopback here too.
    pytest_socket.enable_socket()
    try:
        stt_port, tts_port = free_port(), free_port()
        process = start_speech_servers(log, stt_port, tts_port, extra)
    finally:
        pytest_socket.socket_allow_hosts(["127.0.0.1"])
        pytest_socket.disable_socket(allow_unix_socket=True)
    yield SpeechServers(stt_port, tts_port, process, log)
    stop_process(process)


@pytest.fixture(scope="session")
def speech_servers(tmp_path_factory: pytest.TempPathFactory) -> Generator[SpeechServers]:
    """Our STT and TTS servers on the bundled models, for the whole session."""
    yield from run_speech_servers(tmp_path_factory)


@pytest.fixture(autouse=True)
def allow_loopback_sockets(socket_enabled: None) -> None:
    """Let every test here open real TCP connections on 127.0.0.1."""


@pytest.fixture
def hass_config_dir(tmp_path: Path) -> str:
    """A fresh HA config folder per test: no TTS cache carried over from another test."""
    path = tmp_path / "ha-config"
    path.mkdir()
    return str(path)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Jarvis is a custom integration."""


@pytest.fixture
async def fake_ollama() -> AsyncGenerator[FakeOllama]:
    """The Ollama-protocol stand-in (the only one allowed), on 127.0.0.1."""
    server = FakeOllama(models=[TEST_MODEL])
    await server.start()
    yield server
    await server.stop()


type StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(
    hass: HomeAssistant, fake_ollama: FakeOllama, tmp_path: Path
) -> AsyncGenerator[StackFactory]:
    """Start HA with the demo home, Jarvis on the fake Ollama, and a satellite fed by recordings."""
    assert await async_setup_component(hass, "homeassistant", {})
    progress_log = (tmp_path / "progress.log").open("w")
    started: list[Stack] = []

    async def make(stt_port: int, tts_port: int, language: str = "en") -> Stack:
        options = StackOptions(
            tmp_path,
            fake_ollama.url,
            TEST_MODEL,
            language=language,
            speech_ports=(stt_port, tts_port),
        )
        running = Stack(
            options,
            progress=Progress(3, stream=progress_log),
            hass=hass,
        )
        started.append(running)
        await running.async_start()
        return running

    try:
        yield make
    finally:
        # HA lets go of the satellite and servers first (as when a user removes them).
        for entry in hass.config_entries.async_entries():
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        for running in started:
            await running.async_stop()
        progress_log.close()


@pytest.fixture
async def stack(make_stack: StackFactory, speech_servers: SpeechServers) -> Stack:
    """The whole chain on the session's speech servers."""
    return await make_stack(speech_servers.stt_port, speech_servers.tts_port)
