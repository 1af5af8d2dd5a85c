"""`wyoming_wire.mqtt`: the link's own figures (metrics, health) and its credentials.

The link runs against a real Mosquitto (`tests.mqtt_broker`) and a loopback port where nothing
listens; its registry is rendered with prometheus_client and parsed back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
from pathlib import Path

from prometheus_client import generate_latest
import pytest

from tests.mqtt_broker import Broker, broker
from tests.wire.http_client import Scrape, free_port
from wyoming_wire.metrics import new_registry, watch_mqtt
from wyoming_wire.mqtt import MqttLink, MqttTarget, parse_mqtt_uri, read_password_file

__all__ = ["broker"]  # the fixture


def make_link(port: int) -> MqttLink:
    async def ignore(topic: str, payload: bytes) -> None:
        """No messages expected."""

    return MqttLink(
        MqttTarget("127.0.0.1", port, "jarvis", "s3cret-pw"),
        client_id="jarvis-wire-test",
        availability_topic="jarvis/wire_test/availability",
        subscriptions=[],
        on_connected=lambda: None,
        on_message=ignore,
    )


async def until(check: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def test_the_link_reports_its_state(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    link = make_link(broker.port)
    registry = new_registry()
    watch_mqtt(registry, link)
    task = asyncio.get_running_loop().create_task(link.run())
    try:
        await until(lambda: link.connected)
        up = Scrape(generate_latest(registry).decode())
        assert up.value("jarvis_mqtt_connected") == 1
        assert up.value("jarvis_mqtt_connections_total") == 1
        assert link.report()["broker"] == f"127.0.0.1:{broker.port}"
        await broker.kill()
        await until(lambda: not link.connected)
        down = Scrape(generate_latest(registry).decode())
        assert down.value("jarvis_mqtt_connected") == 0
        assert down.value("jarvis_mqtt_connection_errors_total") == 1
        assert down.value("jarvis_mqtt_last_error_timestamp_seconds") > 0
        link.publish("jarvis/wire_test/event/x", {"a": 1})  # not connected: dropped, counted
        assert (
            Scrape(generate_latest(registry).decode()).value("jarvis_mqtt_dropped_messages_total")
            == 1
        )
        await broker.start()
        await until(lambda: link.connected)
        report = link.report()
        assert (report["connections"], report["reconnects"], report["errors"]) == (2, 1, 1)
        assert report["last_error"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert "s3cret-pw" not in caplog.text
    assert "s3cret-pw" not in str(link.report())


async def test_a_broker_that_is_not_there_is_retried_and_reported() -> None:
    link = make_link(free_port())  # nothing listens there
    task = asyncio.get_running_loop().create_task(link.run())
    try:
        await until(lambda: link.errors >= 1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    report = link.report()
    assert (report["connected"], report["connections"]) == (False, 0)
    assert report["last_error"]  # e.g. "[Errno 111] Connection refused"


def test_credentials_stay_out_of_reprs_and_messages(tmp_path: Path) -> None:
    target = parse_mqtt_uri("mqtt://jarvis:p%40ss@broker.lan:1884")
    assert target.password == "p@ss"
    assert "p@ss" not in repr(target)
    assert str(target) == "broker.lan:1884"
    secret = tmp_path / "pw"
    secret.write_text("  hunter2-long \n")
    assert read_password_file(secret) == "hunter2-long"
    secret.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        read_password_file(secret)
    with pytest.raises(ValueError, match="cannot read the MQTT password file"):
        read_password_file(tmp_path / "missing")
