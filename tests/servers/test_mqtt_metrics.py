"""The speech servers' MQTT link: in /metrics and /health around a broker kill -9, and its login.

Real processes (`jarvis-servers`, `jarvis-piper`), a real Mosquitto (`tests.mqtt_broker`; one
with a password file made by `mosquitto_passwd` for the login tests) and parsed scrapes.
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.mqtt_broker import Broker, broker
from tests.servers.test_metrics import metrics_port
from tests.servers.test_piper import ServerProcess, start_server
from tests.wire.http_client import connected, health, scrape_until
from wyoming_servers.models import bundled_joe_voice, bundled_tiny_en

__all__ = ["broker"]  # the fixture

pytestmark = pytest.mark.skipif(
    bundled_joe_voice() is None or bundled_tiny_en() is None, reason="bundled models missing"
)
PASSWORD = "c0rrect-h0rse-battery"


async def mqtt_health(port: int) -> dict[str, Any]:
    """The `mqtt` part of `/health`; the servers stay healthy whatever the broker does."""
    status, report = await asyncio.to_thread(health, port)
    assert (status, report["status"]) == (200, "ok"), report
    mqtt: dict[str, Any] = report["mqtt"]
    return mqtt


async def test_the_mqtt_link_in_metrics_and_health(broker: Broker) -> None:
    servers = await asyncio.to_thread(
        start_server,
        "wyoming_servers",
        "--stt-uri",
        "tcp://127.0.0.1:0",
        "--tts-uri",
        "tcp://127.0.0.1:0",
        "--metrics-uri",
        "http://127.0.0.1:0",
        "--mqtt-uri",
        f"mqtt://127.0.0.1:{broker.port}",
        names=("whisper", "piper"),
    )
    try:
        port = await asyncio.to_thread(metrics_port, servers)
        up = await scrape_until(port, connected(1))
        assert up.value("jarvis_mqtt_connections_total") == 1
        assert up.value("jarvis_mqtt_reconnects_total") == 0
        assert up.value("jarvis_mqtt_connection_errors_total") == 0
        assert up.value("jarvis_mqtt_last_error_timestamp_seconds") == 0
        report = await mqtt_health(port)
        assert report["broker"] == f"127.0.0.1:{broker.port}"
        assert (report["connected"], report["last_error"]) == (True, None)

        await broker.kill()  # kill -9
        down = await scrape_until(port, connected(0))
        assert down.value("jarvis_mqtt_connection_errors_total") >= 1
        assert down.value("jarvis_mqtt_last_error_timestamp_seconds") > 0
        report = await mqtt_health(port)
        assert report["connected"] is False
        assert report["last_error"]

        await broker.start()
        again = await scrape_until(port, connected(1))
        assert again.value("jarvis_mqtt_connections_total") == 2
        assert again.value("jarvis_mqtt_reconnects_total") == 1
        assert (await mqtt_health(port))["reconnects"] == 1
    finally:
        await asyncio.to_thread(servers.finish)


@pytest.fixture
async def login_broker(tmp_path: Path) -> Any:
    """A Mosquitto that takes only user `jarvis` with PASSWORD."""
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("mosquitto_passwd is not installed")
    users = tmp_path / "users"
    subprocess.run([passwd, "-b", "-c", str(users), "jarvis", PASSWORD], check=True)
    running = Broker(tmp_path)
    running.conf.write_text(
        running.conf.read_text().replace("allow_anonymous true", "allow_anonymous false")
        + f"password_file {users}\n"
        # As root, mosquitto reads the password file as the user `mosquitto`: stay who we are.
        + f"user {getpass.getuser()}\n"
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def start_piper(broker: Broker, *login: str) -> tuple[ServerProcess, int]:
    """`jarvis-piper` logging in to `broker` (debug logs), and its metrics port."""
    server = await asyncio.to_thread(
        start_server,
        "wyoming_servers.piper",
        "--uri",
        "tcp://127.0.0.1:0",
        "--metrics-uri",
        "http://127.0.0.1:0",
        "--mqtt-uri",
        f"mqtt://127.0.0.1:{broker.port}",
        "--debug",
        *login,
        names=("piper",),
    )
    return server, await asyncio.to_thread(metrics_port, server)


async def test_login_with_a_password_file(login_broker: Broker, tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text(PASSWORD + "\n")
    bad = tmp_path / "bad"
    bad.write_text("not-the-password\n")
    with_file = ("--mqtt-username", "jarvis", "--mqtt-password-file", str(good))
    server, port = await start_piper(login_broker, *with_file)
    try:
        await scrape_until(port, connected(1))
        assert (await mqtt_health(port))["last_error"] is None
    finally:
        await asyncio.to_thread(server.stop)
    assert PASSWORD not in server.log_text()
    server.log.unlink()

    refused, port = await start_piper(
        login_broker, "--mqtt-username", "jarvis", "--mqtt-password-file", str(bad)
    )
    try:
        down = await scrape_until(
            port, lambda s: s.value("jarvis_mqtt_connection_errors_total") >= 1
        )
        assert down.value("jarvis_mqtt_connected") == 0
        report = await mqtt_health(port)
        assert "not authori" in report["last_error"].lower(), report  # the broker's answer
        assert "not-the-password" not in str(report)
        log = refused.log_text()
    finally:
        await asyncio.to_thread(refused.finish)
    assert "not-the-password" not in log
    assert "Not authori" in log  # the refusal is logged, the password is not

    # The user name in the URI works as well.
    uri = f"mqtt://jarvis@127.0.0.1:{login_broker.port}"
    server, port = await start_piper(
        login_broker, "--mqtt-uri", uri, "--mqtt-password-file", str(good)
    )
    try:
        await scrape_until(port, connected(1))
    finally:
        await asyncio.to_thread(server.finish)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--mqtt-password-file", "/nonexistent/pw"), "cannot read the MQTT password file"),
        (("--mqtt-password-file", "EMPTY"), "is empty"),
        (("--mqtt-password-file", "GOOD"), "an MQTT password needs a user name"),
    ],
)
def test_unusable_password_files_are_refused_clearly(
    tmp_path: Path, flags: tuple[str, str], message: str
) -> None:
    (tmp_path / "EMPTY").write_text("\n")
    (tmp_path / "GOOD").write_text(PASSWORD)
    path = flags[1] if flags[1].startswith("/") else str(tmp_path / flags[1])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wyoming_servers.piper",
            "--uri",
            "tcp://127.0.0.1:0",
            "--mqtt-uri",
            "mqtt://127.0.0.1:1",
            flags[0],
            path,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert PASSWORD not in result.stderr
