"""The satellite's MQTT link in its /metrics and /health, scraped around a broker kill -9.

The real satellite process with `[server] metrics_port` and `[mqtt] host`, a real Mosquitto;
each scrape is parsed with prometheus_client's own parser (`tests.wire.http_client`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.mqtt_broker import Broker, broker
from tests.wire.http_client import connected, free_port, health, scrape, scrape_until

from .test_mqtt import start_satellite

__all__ = ["broker"]  # the fixture


async def mqtt_health(port: int) -> dict[str, Any]:
    """The `mqtt` part of `/health`, and that MQTT never makes the satellite degraded."""
    _, report = await asyncio.to_thread(health, port)
    assert not any("mqtt" in problem.lower() for problem in report["problems"])
    mqtt: dict[str, Any] = report["mqtt"]
    return mqtt


async def test_the_mqtt_link_in_metrics_and_health(tmp_path: Path, broker: Broker) -> None:
    port = free_port()
    sat = await start_satellite(tmp_path, broker, "--server-metrics-port", str(port))
    try:
        up = await scrape_until(port, connected(1))
        assert up.value("jarvis_mqtt_connections_total") == 1
        assert up.value("jarvis_mqtt_reconnects_total") == 0
        assert up.value("jarvis_mqtt_connection_errors_total") == 0
        assert up.value("jarvis_mqtt_last_error_timestamp_seconds") == 0
        report = await mqtt_health(port)
        assert report["broker"] == f"127.0.0.1:{broker.port}"
        assert (report["connected"], report["last_error"], report["reconnects"]) == (
            True,
            None,
            0,
        )

        await broker.kill()  # kill -9
        down = await scrape_until(port, connected(0))
        assert down.value("jarvis_mqtt_connection_errors_total") >= 1
        assert down.value("jarvis_mqtt_last_error_timestamp_seconds") > 0
        report = await mqtt_health(port)
        assert report["connected"] is False
        assert report["last_error"]
        assert report["last_error_age_s"] >= 0

        await broker.start()  # reconnects within the backoff (1 s, 2 s, 4 s …)
        again = await scrape_until(port, connected(1))
        assert again.value("jarvis_mqtt_connections_total") == 2
        assert again.value("jarvis_mqtt_reconnects_total") == 1
        errors = again.value("jarvis_mqtt_connection_errors_total")
        assert errors >= down.value("jarvis_mqtt_connection_errors_total")
        report = await mqtt_health(port)
        assert (report["connected"], report["reconnects"]) == (True, 1)
        assert report["last_error"]  # kept: when it happened is in last_error_age_s
    finally:
        assert await sat.stop() == 0, sat.log_text()


async def test_no_mqtt_metrics_without_a_broker(tmp_path: Path) -> None:
    from .satellite_process import SatelliteProcess

    port = free_port()
    sat = await SatelliteProcess.start(tmp_path, "--server-metrics-port", str(port))
    try:
        scraped = await asyncio.to_thread(scrape, port)
        assert not [name for name in scraped.names() if name.startswith("jarvis_mqtt_")]
        _, report = await asyncio.to_thread(health, port)
        assert "mqtt" not in report
    finally:
        assert await sat.stop() == 0, sat.log_text()
