"""Prometheus exposition shared by the satellite and the speech servers (`prometheus_client`).

Each process has its own registry (`new_registry`: never prometheus_client's global one),
with the process collector (`process_resident_memory_bytes`, `process_cpu_seconds_total`, ...)
and, through `ConnectionCollector`, the connections of its Wyoming listeners:

- `jarvis_connections_open{server}`: connections open now;
- `jarvis_connections_accepted_total{server}`: connections admitted;
- `jarvis_connections_refused_total{server}`: connections closed at once (over the caps);
- `jarvis_connections_evicted_total{server}`: silent connections closed to make room.

With an MQTT link (`watch_mqtt`, only when MQTT is configured), its state too
(`MqttCollector`, read from `wyoming_wire.mqtt.MqttLink`):

- `jarvis_mqtt_connected`: 1 while connected to the broker;
- `jarvis_mqtt_connections_total`: successful connections (the first one included);
- `jarvis_mqtt_reconnects_total`: connections after the first;
- `jarvis_mqtt_connection_errors_total`: failed connection attempts and lost connections;
- `jarvis_mqtt_last_error_timestamp_seconds`: when the last of those happened (0: never; its
  text is in `/health`, `mqtt.last_error`);
- `jarvis_mqtt_dropped_messages_total`: messages not sent (broker away, or the queue full).

`metrics_http` serves the registry on `/metrics` (text format) and a JSON `/health` report
(200 when ok, 503 when degraded) with `wyoming_wire.http`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .http import HttpResponse, HttpSpec
from .server import ServerSpec

if TYPE_CHECKING:
    from .mqtt import MqttLink

Health = Callable[[], dict[str, Any]]
"""A health report: a dict with at least `status` ("ok" or "degraded")."""


def new_registry() -> CollectorRegistry:
    """A registry for this process, with its process metrics (memory, CPU, descriptors)."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created`: no use here
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


class ConnectionCollector(Collector):
    """The connection counts of Wyoming listeners, read when scraped."""

    def __init__(self, specs: Sequence[ServerSpec]) -> None:
        """Report on these listeners (their `stats`); a list given here may grow later."""
        self._specs = specs

    def collect(self) -> Iterator[Metric]:
        """One sample per listener and metric."""
        opened = GaugeMetricFamily(
            "jarvis_connections_open", "Wyoming connections open now", labels=["server"]
        )
        accepted = CounterMetricFamily(
            "jarvis_connections_accepted", "Wyoming connections admitted", labels=["server"]
        )
        refused = CounterMetricFamily(
            "jarvis_connections_refused",
            "Wyoming connections closed at once: over the connection caps",
            labels=["server"],
        )
        evicted = CounterMetricFamily(
            "jarvis_connections_evicted",
            "Silent Wyoming connections closed to make room for a new one",
            labels=["server"],
        )
        for spec in self._specs:
            stats = spec.stats
            opened.add_metric([spec.name], stats.open)
            accepted.add_metric([spec.name], stats.accepted)
            refused.add_metric([spec.name], stats.refused)
            evicted.add_metric([spec.name], stats.evicted)
        yield from (opened, accepted, refused, evicted)


class MqttCollector(Collector):
    """The state of an MQTT link, read when scraped."""

    def __init__(self, link: MqttLink) -> None:
        """Report on `link`."""
        self._link = link

    def collect(self) -> Iterator[Metric]:
        """One sample per metric."""
        link = self._link
        yield GaugeMetricFamily(
            "jarvis_mqtt_connected",
            "1 while connected to the MQTT broker",
            value=float(link.connected),
        )
        yield CounterMetricFamily(
            "jarvis_mqtt_connections",
            "Successful connections to the MQTT broker",
            value=link.connections,
        )
        yield CounterMetricFamily(
            "jarvis_mqtt_reconnects",
            "Connections to the MQTT broker after the first one",
            value=link.reconnects,
        )
        yield CounterMetricFamily(
            "jarvis_mqtt_connection_errors",
            "Failed connection attempts to the MQTT broker and lost connections",
            value=link.errors,
        )
        yield GaugeMetricFamily(
            "jarvis_mqtt_last_error_timestamp_seconds",
            "When the last MQTT connection error happened (0: never)",
            value=link.last_error_at or 0.0,
        )
        yield CounterMetricFamily(
            "jarvis_mqtt_dropped_messages",
            "MQTT messages not sent: broker away, or the send queue full",
            value=link.dropped,
        )


def watch_mqtt(registry: CollectorRegistry, link: MqttLink) -> None:
    """Add the link's metrics to `registry`."""
    registry.register(MqttCollector(link))


def connections_report(specs: Sequence[ServerSpec]) -> dict[str, Any]:
    """Per listener: listening, where, and its connection counts (for `/health`)."""
    return {
        spec.name: {
            "listening": spec.stats.listening,
            "uri": spec.stats.endpoint,
            "open": spec.stats.open,
            "accepted": spec.stats.accepted,
            "refused": spec.stats.refused,
        }
        for spec in specs
    }


def metrics_http(uri: str, registry: CollectorRegistry, health: Health) -> HttpSpec:
    """`/metrics` and `/health` on `uri` (http://HOST:PORT)."""
    started = time.monotonic()

    def metrics() -> HttpResponse:
        return HttpResponse(200, generate_latest(registry), CONTENT_TYPE_LATEST)

    def report() -> HttpResponse:
        data = health()
        data["uptime_s"] = round(time.monotonic() - started, 1)
        return HttpResponse.json(data, 200 if data.get("status") == "ok" else 503)

    return HttpSpec(uri, {"/metrics": metrics, "/health": report}, name="metrics")
