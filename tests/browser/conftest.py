"""One real Home Assistant with its web UI (the demo's `--ui` stack) and one headless Chromium for
all the browser tests of this folder; a screenshot of the page when a test fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterator
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.parse
import urllib.request
import wave

import numpy as np
import pytest
import pytest_socket

from jarvis_demo.processes import free_port
from jarvis_demo.stack import HOST, MIC_RATE, SPEAKER_RATE
from jarvis_demo.utterance import async_speak
from tests.conftest import ROOT

from .browser import Browser, missing_tools
from .ollama_stub import MODEL

# What the browser's fake microphone says when the card's push-to-talk button is held.
PTT_COMMAND = "Turn on the kitchen light."
DEMO_START_TIMEOUT_S = 300


@dataclass
class DemoUi:
    """`python -m jarvis_demo --ui` running: its dashboard and how to drive it."""

    process: subprocess.Popen[bytes]
    state: dict[str, Any]
    log: Path

    @property
    def url(self) -> str:
        return str(self.state["url"])

    def play_recording(self) -> None:
        """Play 'hey jarvis, turn off the kitchen light' into the satellite's microphone."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"\n")
        self.process.stdin.flush()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots and logs of the browser tests (JARVIS_BROWSER_ARTIFACTS to keep them)."""
    wanted = os.environ.get("JARVIS_BROWSER_ARTIFACTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def demo_ui(artifacts: Path) -> Iterator[DemoUi]:
    """The demo stack with HA's frontend, the card on the default dashboard, a fake Ollama."""
    if missing := missing_tools():
        pytest.fail(f"the browser tests need {', '.join(missing)}: run script/setup")
    stub = subprocess.Popen(
        [sys.executable, "-m", "tests.browser.ollama_stub"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(artifacts / "ollama-stub.log").open("ab"),
    )
    assert stub.stdout is not None
    port = int(stub.stdout.readline() or b"0")
    assert port, "the Ollama stub did not start"
    state_file = artifacts / "ui.json"
    state_file.unlink(missing_ok=True)
    log = artifacts / "demo.log"
    with log.open("ab") as out:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jarvis_demo",
                "--ui",
                "--ui-state",
                str(state_file),
                "--ollama-url",
                f"http://{HOST}:{port}",
                "--model",
                MODEL,
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=out,
        )
    running = DemoUi(demo, {}, log)
    try:
        deadline = time.monotonic() + DEMO_START_TIMEOUT_S
        while not state_file.exists():
            if demo.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not start its UI:\n{running.log_tail()}")
            time.sleep(0.2)
        running.state = json.loads(state_file.read_text())
        yield running
    finally:
        _stop(demo)
        _stop(stub)


@contextlib.contextmanager
def _sockets() -> Iterator[None]:
    """Sockets for the test's own use (HA's test plugin blocks them), blocked again after."""
    pytest_socket.enable_socket()
    try:
        yield
    finally:
        pytest_socket.socket_allow_hosts(["127.0.0.1"])
        pytest_socket.disable_socket(allow_unix_socket=True)


def _write_command_wav(path: Path, tts_port: int, text: str) -> None:
    """`text` spoken by the demo's Piper voice, with room noise around it, as a 16 kHz WAV."""
    with _sockets():
        speech = asyncio.run(async_speak(HOST, tts_port, text))
    rng = np.random.default_rng(0)

    def room(seconds: float) -> np.ndarray:
        return (rng.standard_normal(int(seconds * 16000)) * 0.0015).astype(np.float32)

    # Silence first: the microphone opens a moment before the card starts sending audio.
    audio = np.concatenate([room(1.5), speech, room(3.0)])
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def log_in(url: str, username: str, password: str) -> dict[str, Any]:
    """HA's login page, by its HTTP API: what the frontend keeps in localStorage["hassTokens"]."""
    client_id = f"{url}/"

    def post(path: str, body: dict[str, Any], form: bool = False) -> dict[str, Any]:
        data = urllib.parse.urlencode(body).encode() if form else json.dumps(body).encode()
        kind = "application/x-www-form-urlencoded" if form else "application/json"
        request = urllib.request.Request(
            f"{url}{path}", data=data, headers={"Content-Type": kind}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    with _sockets():
        flow = post(
            "/auth/login_flow",
            {
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{client_id}?auth_callback=1",
            },
        )
        done = post(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": client_id, "username": username, "password": password},
        )
        assert done["type"] == "create_entry", done
        tokens = post(
            "/auth/token",
            {"grant_type": "authorization_code", "code": done["result"], "client_id": client_id},
            form=True,
        )
    expires = int((time.time() + tokens["expires_in"]) * 1000)
    return {**tokens, "hassUrl": url, "clientId": client_id, "expires": expires}


@dataclass
class SatelliteProcess:
    """A Jarvis satellite of its own (a second room), its microphone silent: one that can drop."""

    process: subprocess.Popen[bytes]
    port: int

    def freeze(self) -> None:
        """Silent, as when its network drops: the connection stays open, nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def second_satellite(artifacts: Path) -> Iterator[SatelliteProcess]:
    """`python -m satellite run` for a 'Bedroom satellite' on a free port (nothing drives it yet)."""
    with _sockets():
        port = free_port()
    state_file = artifacts / "bedroom-satellite-state.json"
    state_file.unlink(missing_ok=True)  # a new satellite: nothing kept from an earlier run
    with (artifacts / "bedroom-satellite.log").open("ab") as log:
        # Microphone: a pipe that stays silent; speaker: raw PCM thrown away.
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "satellite",
                "run",
                "--name",
                "Bedroom satellite",
                "--area",
                "Bedroom",
                "--server-host",
                HOST,
                "--server-port",
                str(port),
                "--server-zeroconf",
                "false",
                "--server-state-file",
                str(state_file),
                "--mic-file",
                "-",
                "--mic-rate",
                str(MIC_RATE),
                "--speaker-file",
                "-",
                "--speaker-rate",
                str(SPEAKER_RATE),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    satellite = SatelliteProcess(process, port)
    try:
        deadline = time.monotonic() + 60
        while True:  # listening once its wake word and VAD models are loaded
            try:
                with _sockets():
                    socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the bedroom satellite did not start: see bedroom-satellite.log")
                time.sleep(0.2)
        yield satellite
    finally:
        satellite.thaw()
        _stop(process)


@pytest.fixture(scope="module")
def browser(demo_ui: DemoUi, artifacts: Path) -> Generator[Browser]:
    """Chromium logged in to the demo's HA, on its default dashboard, with a fake microphone."""
    mic = artifacts / "microphone.wav"
    _write_command_wav(mic, int(demo_ui.state["tts_port"]), PTT_COMMAND)
    driver = Browser(artifacts / "browser-driver.log")
    try:
        driver.launch(
            f"{demo_ui.url}/",
            demo_ui.state["hass_tokens"],
            extra_args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={mic}",
            ],
        )
        yield driver
    finally:
        driver.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item (for the screenshot on failure)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def screenshot_on_failure(request: pytest.FixtureRequest, artifacts: Path) -> Iterator[None]:
    """When a test that used the browser fails: a screenshot of the page and the demo's log."""
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed or "browser" not in request.fixturenames:
        return
    driver: Browser = request.getfixturevalue("browser")
    path = artifacts / f"{request.node.name}.png"
    try:
        driver.screenshot(path)
        print(f"\nscreenshot of the failure: {path}\nartifacts: {artifacts}")
    except Exception as err:  # the browser itself may be what failed
        print(f"\nno screenshot ({err}); artifacts: {artifacts}")
