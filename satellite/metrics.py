"""Prometheus metrics and the health report of a satellite (`[server] metrics_port`).

One registry per process. Most figures are read from the satellite's parts when scraped; the
wake words and their delay to the first audio sent are observed as they happen.

| name | type | what |
|---|---|---|
| `jarvis_satellite_wake_detections_total{wake_word}` | counter | wake words heard on the device |
| `jarvis_satellite_wake_score{wake_word}` | histogram | the model's score of each detection |
| `jarvis_satellite_wake_to_audio_seconds` | histogram | detection → its first command audio written to the driver |
| `jarvis_satellite_pipelines_total` | counter | pipelines started (`run-pipeline` sent) |
| `jarvis_satellite_audio_chunks_sent_total` | counter | microphone chunks sent to the driver |
| `jarvis_satellite_replies_played_total` | counter | replies played to the end |
| `jarvis_satellite_replies_refused_total` | counter | replies refused (format, too long) |
| `jarvis_satellite_events_refused_total` | counter | events and pairings refused by access control |
| `jarvis_satellite_bad_events_total` | counter | events answered with `error` |
| `jarvis_satellite_capture_frames_total` | counter | 10 ms capture frames processed |
| `jarvis_satellite_capture_cpu_seconds_total` | counter | CPU time of the listener thread on those frames |
| `jarvis_satellite_capture_stage_seconds_total{stage}` | counter | wall time per stage (resample, highpass, noise, wake, vad, other) |
| `jarvis_satellite_capture_dropped_samples_total` | counter | samples the capture had to drop (overruns) |
| `jarvis_satellite_capture_cpu_seconds_per_frame` | gauge | average CPU per frame since start |
| `jarvis_satellite_state{state}` | gauge | 1 for the current state: paused, idle, streaming |
| `jarvis_satellite_driver_connected` | gauge | 1 while a connection drives the satellite |
| `jarvis_satellite_muted` | gauge | 1 while the microphone is muted on the device |
| `jarvis_satellite_listening` | gauge | 1 while the capture chain runs |
| `jarvis_satellite_timers` | gauge | timers running |
| `jarvis_satellite_stop_word_checks_total{outcome}` | counter | utterances heard while playing and checked for the stop word: hit, miss, error (STT server failed), dropped (a newer one took its place) |
| `jarvis_satellite_stop_word_decode_seconds` | histogram | end of the utterance heard → its transcript |

plus `jarvis_connections_*{server="satellite"}` and `process_*` (`wyoming_wire.metrics`), and
with `[mqtt] host` set the broker link's `jarvis_mqtt_*` (connected, reconnects, errors, last
error time). `/health` reports the link under `mqtt` (its last error's text included); the broker
being away does not make the satellite degraded: it goes on serving Home Assistant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from satellite.listening import WakeDetected
from satellite.server.satellite import Satellite
from satellite.server.session import SatelliteState
from wyoming_wire import ServerSpec
from wyoming_wire.http import HttpSpec
from wyoming_wire.metrics import (
    ConnectionCollector,
    connections_report,
    metrics_http,
    new_registry,
    watch_mqtt,
)

if TYPE_CHECKING:
    from wyoming_wire.mqtt import MqttLink

WAKE_SCORE_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0)
WAKE_TO_AUDIO_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
STOP_DECODE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
_NOT_STAGES = ("total_ms", "cpu_ms")


def metrics_uri(host: str, port: int) -> str:
    """The `http://HOST:PORT` of the `[server] metrics_host` / `metrics_port` settings."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SatelliteMetrics:
    """The metrics of one satellite and its Wyoming listener, and its `/health` report."""

    def __init__(self, satellite: Satellite, spec: ServerSpec) -> None:
        """Watch `satellite` (started: its wake word is known) and the listener of `spec`."""
        self.satellite = satellite
        self.spec = spec
        self.registry = registry = new_registry()
        self.wake_detections = Counter(
            "jarvis_satellite_wake_detections",
            "Wake words heard on the device",
            ["wake_word"],
            registry=registry,
        )
        self.wake_score = Histogram(
            "jarvis_satellite_wake_score",
            "The wake word model's score of each detection",
            ["wake_word"],
            buckets=WAKE_SCORE_BUCKETS,
            registry=registry,
        )
        self.wake_to_audio = Histogram(
            "jarvis_satellite_wake_to_audio_seconds",
            "Wake word detection to its first command audio written to the driver",
            buckets=WAKE_TO_AUDIO_BUCKETS,
            registry=registry,
        )
        self.stop_decode = Histogram(
            "jarvis_satellite_stop_word_decode_seconds",
            "End of an utterance heard while playing to its transcript (stop word check)",
            buckets=STOP_DECODE_BUCKETS,
            registry=registry,
        )
        satellite.stop_spotter.on_decoded = self.stop_decode.observe
        wake_word = self.wake_word
        if wake_word is not None:  # the series exist from the start, at zero
            self.wake_detections.labels(wake_word)
            self.wake_score.labels(wake_word)
        registry.register(ConnectionCollector([spec]))
        registry.register(_SatelliteCollector(satellite))
        self._mqtt: MqttLink | None = None
        satellite.mic.on_wake = self._wake
        satellite.stream.on_wake_to_audio = self.wake_to_audio.observe

    @property
    def wake_word(self) -> str | None:
        """The local wake word's model name (None: Home Assistant listens for it)."""
        name = getattr(self.satellite.listener, "wake_name", None)
        return name if isinstance(name, str) else None

    def watch_mqtt(self, link: MqttLink) -> None:
        """Report the MQTT link's state (`jarvis_mqtt_*`, `/health` `mqtt`)."""
        self._mqtt = link
        watch_mqtt(self.registry, link)

    def _wake(self, event: WakeDetected) -> None:
        self.wake_detections.labels(event.name).inc()
        self.wake_score.labels(event.name).observe(event.score)

    def health(self) -> dict[str, Any]:
        """Status ok while the microphone is captured, it listens and a driver is connected."""
        satellite = self.satellite
        problems = []
        if not satellite.mic.listening:
            problems.append("the microphone is not being captured")
        if not self.spec.stats.listening:
            problems.append("not listening for Home Assistant")
        if satellite.driver is None:
            problems.append("no Home Assistant connection drives it")
        report: dict[str, Any] = {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "loaded": {"wake_word": self.wake_word, "local_wake": satellite.config.wake.local},
            "listening": satellite.mic.listening,
            "state": str(satellite.session.state),
            "driver_connected": satellite.driver is not None,
            "muted": satellite.muted,
            "connections": connections_report([self.spec])[self.spec.name],
        }
        if self._mqtt is not None:
            report["mqtt"] = self._mqtt.report()
        return report

    def http(self, uri: str) -> HttpSpec:
        """`/metrics` and `/health` on `uri`."""
        return metrics_http(uri, self.registry, self.health)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class _SatelliteCollector(Collector):
    """The satellite's counters and states, read when scraped."""

    def __init__(self, satellite: Satellite) -> None:
        self._satellite = satellite

    def collect(self) -> Iterator[Metric]:
        sat = self._satellite
        yield _counter("jarvis_satellite_pipelines", "Pipelines started", sat.stream.pipelines)
        yield _counter(
            "jarvis_satellite_audio_chunks_sent",
            "Microphone chunks sent to the driver",
            sat.stream.chunks_sent,
        )
        yield _counter(
            "jarvis_satellite_replies_played",
            "Replies played to the end",
            sat.speaker.replies_played,
        )
        yield _counter(
            "jarvis_satellite_replies_refused",
            "Replies refused (unplayable format, too long)",
            sat.speaker.replies_refused,
        )
        yield _counter(
            "jarvis_satellite_events_refused",
            "Events and pairings refused by access control",
            sat.gate.refused,
        )
        yield _counter(
            "jarvis_satellite_bad_events", "Events answered with an error", sat.gate.bad_events
        )
        yield from self._capture(sat.mic.metrics())
        state = GaugeMetricFamily(
            "jarvis_satellite_state", "1 for the current state", labels=["state"]
        )
        for value in SatelliteState:
            state.add_metric([str(value)], float(sat.session.state is value))
        yield state
        yield _gauge(
            "jarvis_satellite_driver_connected",
            "1 while a connection drives the satellite",
            float(sat.driver is not None),
        )
        yield _gauge("jarvis_satellite_muted", "1 while muted on the device", float(sat.muted))
        yield _gauge(
            "jarvis_satellite_listening",
            "1 while the capture chain runs",
            float(sat.mic.listening),
        )
        yield _gauge("jarvis_satellite_timers", "Timers running", float(len(sat.timers.timers)))
        checks = CounterMetricFamily(
            "jarvis_satellite_stop_word_checks",
            "Utterances heard while playing, checked for the stop word, by outcome",
            labels=["outcome"],
        )
        counts = sat.stop_spotter.counts
        for outcome, key in (("hit", "hits"), ("miss", "misses"), ("error", "errors")):
            checks.add_metric([outcome], float(counts[key]))
        checks.add_metric(["dropped"], float(counts["dropped"]))
        yield checks

    @staticmethod
    def _capture(figures: dict[str, float]) -> Iterator[Metric]:
        """The listener's per-frame averages, turned back into totals (rate() works on them)."""
        frames = figures.get("frames", 0.0)
        yield _counter("jarvis_satellite_capture_frames", "10 ms capture frames processed", frames)
        yield _counter(
            "jarvis_satellite_capture_cpu_seconds",
            "CPU time of the listener thread on the capture frames",
            figures.get("cpu_ms", 0.0) * frames / 1000,
        )
        stages = CounterMetricFamily(
            "jarvis_satellite_capture_stage_seconds",
            "Wall time of each stage of the capture chain",
            labels=["stage"],
        )
        for key, per_frame_ms in sorted(figures.items()):
            if key.endswith("_ms") and key not in _NOT_STAGES:
                stages.add_metric([key.removesuffix("_ms")], per_frame_ms * frames / 1000)
        yield stages
        yield _counter(
            "jarvis_satellite_capture_dropped_samples",
            "Samples the capture had to drop (overruns)",
            figures.get("dropped_samples", 0.0),
        )
        yield _gauge(
            "jarvis_satellite_capture_cpu_seconds_per_frame",
            "Average CPU time per 10 ms frame since start",
            figures.get("cpu_ms", 0.0) / 1000,
        )
