"""Prometheus metrics and the health report of the speech servers (one registry per process).

Requests are followed on the wire: each connection has an observer (`wyoming_wire`) that sees
the events it receives and sends, so what is measured is what a client sees, from the
server's side of the socket:

- speech-to-text: a request runs from `audio-start` to its `transcript` (or `error`); its
  latency is `audio-stop` received → `transcript` sent;
- text-to-speech: a request runs from `synthesize` (one shot) or `synthesize-start` to its
  `audio-stop` (or `error`); latencies: request → first `audio-chunk` sent, request →
  `audio-stop` sent.

Metrics (label `server`: `whisper` or `piper`):

| name | type | what |
|---|---|---|
| `jarvis_requests_total{server,result}` | counter | requests ended: ok, busy, error, cancelled (client left) |
| `jarvis_errors_total{server,code}` | counter | `error` events sent, by code |
| `jarvis_busy_rejections_total{server}` | counter | requests refused with `busy` |
| `jarvis_stage_seconds{server,stage}` | histogram | `audio_stop_to_transcript`; `request_to_first_audio`, `request_to_audio_stop` |
| `jarvis_real_time_factor{server}` | histogram | decode (Whisper) or synthesis (Piper, per chunk) time / audio seconds |
| `jarvis_audio_seconds_total{server}` | counter | audio received to transcribe / sent as speech |
| `jarvis_queue_depth{server}` | gauge | jobs waiting for a worker |
| `jarvis_queue_limit{server}` | gauge | waiting jobs allowed before `busy` (Whisper) |
| `jarvis_jobs_running{server}` | gauge | jobs on a worker now |
| `jarvis_workers{server}` | gauge | workers (decodes or syntheses at once) |

plus `jarvis_connections_*{server}` and `process_*` (`wyoming_wire.metrics`), and with
`--mqtt-uri` the broker link's `jarvis_mqtt_*` (connected, reconnects, errors, last error time).
`/health` reports the link under `mqtt` (its last error's text included); the broker being away
does not make the servers degraded: they go on serving speech.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from wyoming.event import Event

from wyoming_wire import ServerSpec
from wyoming_wire.handler import READ_LOOP_ERROR_CODES
from wyoming_wire.http import HttpSpec
from wyoming_wire.metrics import (
    ConnectionCollector,
    connections_report,
    metrics_http,
    new_registry,
    watch_mqtt,
)

if TYPE_CHECKING:
    from wyoming_servers.piper.service import TtsService
    from wyoming_servers.whisper.service import WhisperService
    from wyoming_wire.mqtt import MqttLink

RESULTS = ("ok", "busy", "error", "cancelled")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
                   10.0, 30.0)  # fmt: skip
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
STT_STAGE = "audio_stop_to_transcript"
TTS_FIRST = "request_to_first_audio"
TTS_TOTAL = "request_to_audio_stop"


@dataclass
class QueueState:
    """A server's work queue, read when scraped."""

    waiting: int
    running: int
    workers: int
    limit: int | None = None


@dataclass
class _Watched:
    spec: ServerSpec
    queue: Callable[[], QueueState]
    loaded: Callable[[], dict[str, Any]]
    """What the server has loaded (for /health); `ready: False` makes it degraded."""


def _audio_seconds(event: Event, fmt: dict[str, Any] | None = None) -> float:
    """Seconds of audio in an `audio-chunk` (its own format, else the stream's)."""
    data = {**(fmt or {}), **event.data}
    try:
        rate, width, channels = int(data["rate"]), int(data["width"]), int(data["channels"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    if min(rate, width, channels) <= 0 or event.payload is None:
        return 0.0
    return len(event.payload) / (rate * width * channels)


class ServerMetrics:
    """The metrics of every speech server in this process, and its `/health` report."""

    def __init__(self) -> None:
        """A fresh registry with the process collector."""
        self.registry = registry = new_registry()
        self.requests = Counter(
            "jarvis_requests", "Requests ended, by result", ["server", "result"], registry=registry
        )
        self.errors = Counter(
            "jarvis_errors", "Error events sent, by code", ["server", "code"], registry=registry
        )
        self.busy = Counter(
            "jarvis_busy_rejections", "Requests refused with busy", ["server"], registry=registry
        )
        self.stages = Histogram(
            "jarvis_stage_seconds",
            "Latency of a request stage, seen from the server's side of the socket",
            ["server", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rtf = Histogram(
            "jarvis_real_time_factor",
            "Decode or synthesis time per second of audio",
            ["server"],
            buckets=RTF_BUCKETS,
            registry=registry,
        )
        self.audio = Counter(
            "jarvis_audio_seconds",
            "Seconds of audio received to transcribe, or sent as speech",
            ["server"],
            registry=registry,
        )
        self._watched: list[_Watched] = []
        self._specs: list[ServerSpec] = []
        self._mqtt: MqttLink | None = None
        registry.register(ConnectionCollector(self._specs))
        registry.register(_QueueCollector(self._watched))

    # --- servers -------------------------------------------------------------------------

    def _add(
        self,
        spec: ServerSpec,
        queue: Callable[[], QueueState],
        loaded: Callable[[], dict[str, Any]],
        stages: tuple[str, ...],
    ) -> None:
        name = spec.name
        for result in RESULTS:  # every series exists from the start, at zero
            self.requests.labels(name, result)
        for stage in stages:
            self.stages.labels(name, stage)
        self.busy.labels(name)
        self.rtf.labels(name)
        self.audio.labels(name)
        self._specs.append(spec)
        self._watched.append(_Watched(spec, queue, loaded))

    def watch_whisper(self, spec: ServerSpec, service: WhisperService) -> ServerSpec:
        """Instrument the speech-to-text server `spec` serves; returns `spec`."""
        name = spec.name
        spec.observer_factory = lambda: SttObserver(self, name)
        rtf = self.rtf.labels(name)

        def decoded(audio_s: float, compute_s: float) -> None:
            rtf.observe(compute_s / audio_s)

        service.engine.on_decoded = decoded
        scheduler = service.scheduler

        def queue() -> QueueState:
            return QueueState(
                scheduler.waiting, scheduler.running, scheduler.workers, scheduler.max_queue
            )

        def loaded() -> dict[str, Any]:
            return {"ready": True, "model": service.options.engine.model}

        self._add(spec, queue, loaded, (STT_STAGE,))
        return spec

    def watch_piper(self, spec: ServerSpec, service: TtsService) -> ServerSpec:
        """Instrument the text-to-speech server `spec` serves; returns `spec`."""
        name = spec.name
        spec.observer_factory = lambda: TtsObserver(self, name)
        rtf = self.rtf.labels(name)

        def synthesized(audio_s: float, compute_s: float) -> None:
            rtf.observe(compute_s / audio_s)

        service.on_synthesized = synthesized

        def queue() -> QueueState:
            return QueueState(service.queue.waiting, service.queue.running, service.queue.workers)

        def loaded() -> dict[str, Any]:
            voices = sorted(e.name for e in service.voices.values() if service.cache.peek(e))
            return {
                "ready": service.cache.peek(service.default) is not None,
                "default_voice": service.default.name,
                "voices_loaded": voices,
            }

        self._add(spec, queue, loaded, (TTS_FIRST, TTS_TOTAL))
        return spec

    def watch_mqtt(self, link: MqttLink) -> None:
        """Report the MQTT link's state (`jarvis_mqtt_*`, `/health` `mqtt`)."""
        self._mqtt = link
        watch_mqtt(self.registry, link)

    # --- requests (called by the observers) --------------------------------------------------

    def ended(self, server: str, result: str) -> None:
        """A request ended with `result` (one of RESULTS)."""
        self.requests.labels(server, result).inc()

    def error_sent(self, server: str, code: str) -> None:
        """An `error` event went out."""
        self.errors.labels(server, code).inc()
        if code == "busy":
            self.busy.labels(server).inc()

    # --- HTTP --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Status ok when every server listens, has its model loaded and its queue has room."""
        servers: dict[str, Any] = {}
        connections = connections_report(self._specs)
        for watched in self._watched:
            name = watched.spec.name
            queue = watched.queue()
            loaded = watched.loaded()
            problems = []
            if not watched.spec.stats.listening:
                problems.append("not listening")
            if not loaded.get("ready", False):
                problems.append("model not loaded")
            full = queue.limit is not None and queue.waiting >= queue.limit
            if full and queue.running >= queue.workers:
                problems.append("queue full: new requests get busy")
            servers[name] = {
                "status": "degraded" if problems else "ok",
                "problems": problems,
                "loaded": {k: v for k, v in loaded.items() if k != "ready"},
                "connections": connections[name],
                "queue": {
                    "waiting": queue.waiting,
                    "running": queue.running,
                    "workers": queue.workers,
                    "limit": queue.limit,
                },
            }
        ok = all(server["status"] == "ok" for server in servers.values())
        report: dict[str, Any] = {"status": "ok" if ok else "degraded", "servers": servers}
        if self._mqtt is not None:
            report["mqtt"] = self._mqtt.report()
        return report

    def http(self, uri: str) -> HttpSpec:
        """`/metrics` and `/health` on `uri`."""
        return metrics_http(uri, self.registry, self.health)


class _QueueCollector(Collector):
    def __init__(self, watched: list[_Watched]) -> None:
        self._watched = watched

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "jarvis_queue_depth", "Jobs waiting for a worker", labels=["server"]
        )
        limit = GaugeMetricFamily(
            "jarvis_queue_limit", "Waiting jobs allowed before busy", labels=["server"]
        )
        running = GaugeMetricFamily("jarvis_jobs_running", "Jobs on a worker", labels=["server"])
        workers = GaugeMetricFamily(
            "jarvis_workers", "Jobs that may run at once", labels=["server"]
        )
        for watched in self._watched:
            name = watched.spec.name
            queue = watched.queue()
            depth.add_metric([name], queue.waiting)
            running.add_metric([name], queue.running)
            workers.add_metric([name], queue.workers)
            if queue.limit is not None:
                limit.add_metric([name], queue.limit)
        yield from (depth, limit, running, workers)


# --- request observers, one per connection ------------------------------------------------------


def _error_code(event: Event) -> str:
    return str(event.data.get("code") or "error")


class SttObserver:
    """Follows one speech-to-text connection's requests from its events.

    A request opens at `audio-start`; at `audio-stop` it waits for its transcript (a
    connection may have a few waiting, answered in order). An `error` sent while the server
    handles an event ends that event's request (the open one, or the one whose `audio-stop`
    it refuses); one sent by background work ends the oldest waiting request; the read loop's
    own errors (malformed events, idle timeout) are only counted by code.
    """

    def __init__(self, metrics: ServerMetrics, server: str) -> None:
        """Report to `metrics` under `server`."""
        self._metrics = metrics
        self._server = server
        self._open = False
        self._format: dict[str, Any] | None = None
        self._waiting: deque[float] = deque()
        self._handling: str | None = None
        self._latency = metrics.stages.labels(server, STT_STAGE)
        self._audio = metrics.audio.labels(server)

    def received(self, event: Event) -> None:
        """A client event."""
        self._handling = event.type
        if event.type == "audio-start":
            self._open = True  # one already open is dropped and this one refused: one error
            self._format = dict(event.data)
        elif event.type == "audio-chunk" and self._open:
            self._audio.inc(_audio_seconds(event, self._format))
        elif event.type == "audio-stop" and self._open:
            self._open = False
            self._waiting.append(time.monotonic())
        else:
            self._handling = None  # nothing of a request: an error now ends none

    def handled(self, event: Event) -> None:
        """The server is done with a client event."""
        self._handling = None

    def sent(self, event: Event) -> None:
        """A server event."""
        if event.type == "transcript" and self._waiting:
            self._latency.observe(time.monotonic() - self._waiting.popleft())
            self._metrics.ended(self._server, "ok")
        elif event.type == "error":
            code = _error_code(event)
            self._metrics.error_sent(self._server, code)
            if self._handling in ("audio-start", "audio-chunk") and self._open:
                self._open = False
            elif self._handling == "audio-stop" and self._waiting:
                self._waiting.pop()
            elif self._handling is None and self._waiting and code not in READ_LOOP_ERROR_CODES:
                self._waiting.popleft()
            else:
                return
            self._metrics.ended(self._server, "busy" if code == "busy" else "error")

    def closed(self) -> None:
        """The client left: what it still waited for is cancelled."""
        for _ in range(len(self._waiting) + self._open):
            self._metrics.ended(self._server, "cancelled")
        self._waiting.clear()
        self._open = False


class TtsObserver:
    """Follows one text-to-speech connection's requests from its events.

    A request opens at `synthesize` (outside a stream: inside one, Home Assistant repeats the
    text and the server ignores it) or `synthesize-start`, and ends at `audio-stop` or
    `error`. A request sent while one is being spoken is refused (`busy`): the `error` that
    answers it ends that one, not the request being spoken.
    """

    def __init__(self, metrics: ServerMetrics, server: str) -> None:
        """Report to `metrics` under `server`."""
        self._metrics = metrics
        self._server = server
        self._started: float | None = None
        self._first_audio = False
        self._streaming = False
        self._handling = False
        self._second = False
        self._first = metrics.stages.labels(server, TTS_FIRST)
        self._total = metrics.stages.labels(server, TTS_TOTAL)
        self._audio = metrics.audio.labels(server)

    def received(self, event: Event) -> None:
        """A client event."""
        self._handling = True
        self._second = False
        if event.type == "synthesize" and self._streaming:
            return
        if event.type in ("synthesize", "synthesize-start"):
            if self._started is not None:
                self._second = True  # refused while the open one is spoken
                return
            self._started = time.monotonic()
            self._first_audio = False
            self._streaming = event.type == "synthesize-start"
        elif event.type == "synthesize-stop":
            self._streaming = False

    def handled(self, event: Event) -> None:
        """The server is done with a client event."""
        self._handling = self._second = False

    def sent(self, event: Event) -> None:
        """A server event."""
        if event.type == "audio-chunk":
            self._audio.inc(_audio_seconds(event))
            if self._started is not None and not self._first_audio:
                self._first_audio = True
                self._first.observe(time.monotonic() - self._started)
        elif event.type == "audio-stop" and self._started is not None:
            self._total.observe(time.monotonic() - self._started)
            self._started = None
            self._metrics.ended(self._server, "ok")
        elif event.type == "error":
            code = _error_code(event)
            self._metrics.error_sent(self._server, code)
            if self._second:
                self._second = False
            elif self._started is not None and (
                self._handling or code not in READ_LOOP_ERROR_CODES
            ):
                self._started = None
            else:
                return
            self._metrics.ended(self._server, "busy" if code == "busy" else "error")

    def closed(self) -> None:
        """The client left: a request being spoken is cancelled."""
        if self._started is not None:
            self._metrics.ended(self._server, "cancelled")
            self._started = None
