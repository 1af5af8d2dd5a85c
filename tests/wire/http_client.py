"""A test client for the `/metrics` and `/health` endpoints of the real processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import http.client
import json
import re
import socket
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

METRICS_READY = re.compile(r"metrics ready on http://127\.0\.0\.1:(\d+)")
Labels = frozenset[tuple[str, str]]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for settings that take no 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    """(status, content type, body) of one request to 127.0.0.1:`port`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def raw_request(port: int, data: bytes) -> int:
    """Send raw bytes; the status code of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def health(port: int) -> tuple[int, dict[str, Any]]:
    """(status, report) of `/health`."""
    status, content_type, body = http_get(port, "/health")
    assert content_type == "application/json"
    return status, json.loads(body)


_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum", ""),
}


def series_names(family: Metric) -> set[str]:
    """The names a query may select of a metric family: its samples' and, for a family with no
    sample yet (labelled, none seen), the ones its type gives it."""
    names = {sample.name for sample in family.samples}
    return names | {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}


class Scrape:
    """One parsed `/metrics` answer."""

    def __init__(self, text: str) -> None:
        """Parse the Prometheus text format with prometheus_client's own parser."""
        self.families = list(text_string_to_metric_families(text))
        self.samples: dict[tuple[str, Labels], float] = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in self.families
            for s in family.samples
        }

    def names(self) -> set[str]:
        """Every series name a query may use (see `series_names`)."""
        return set().union(*(series_names(family) for family in self.families))

    def value(self, name: str, **labels: str) -> float:
        """The sample `name{labels}` (exactly those labels)."""
        return self.samples[(name, frozenset(labels.items()))]

    def total(self, name: str, **labels: str) -> float:
        """Sum over the samples of `name` whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)

    def label_values(self, name: str, label: str) -> set[str]:
        """The values `label` takes in the samples of `name`."""
        return {dict(ls)[label] for n, ls in self.samples if n == name and label in dict(ls)}


def scrape(port: int) -> Scrape:
    """GET /metrics and parse it."""
    status, content_type, body = http_get(port, "/metrics")
    assert status == 200, body
    assert content_type.startswith("text/plain; version=")
    return Scrape(body.decode())


BAD_REQUESTS: Iterable[tuple[bytes, int]] = (
    (b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 400),
    (b"PUT /health HTTP/1.1\r\n\r\n", 405),
    (b"GET /admin HTTP/1.1\r\n\r\n", 404),
    (b"\x00\x01garbage\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", 431),
)
"""Requests the metrics endpoints refuse, and the status each gets."""


async def scrape_until(port: int, check: Callable[[Scrape], bool], timeout: float = 30) -> Scrape:
    """Scrape (off the loop) until `check` holds; that scrape."""
    async with asyncio.timeout(timeout):
        while True:
            scraped = await asyncio.to_thread(scrape, port)
            if check(scraped):
                return scraped
            await asyncio.sleep(0.2)


def connected(value: float) -> Callable[[Scrape], bool]:
    """A check on `jarvis_mqtt_connected`."""
    return lambda scraped: scraped.value("jarvis_mqtt_connected") == value
