"""The Grafana dashboard queries exactly the metrics the real processes expose.

Every PromQL expression of every panel (and of the dashboard's variables) is parsed for the
metric names it uses; the speech servers and a satellite are started as real processes with
their metrics endpoints on, and each name must be in their scrapes (parsed with
prometheus_client's own parser). The other way round, every `jarvis_` metric they expose is
shown by some panel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import json
from pathlib import Path
import re
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.satellite.satellite_process import SatelliteProcess
from tests.servers.test_metrics import metrics_port
from tests.servers.test_piper import start_server
from tests.wire.http_client import free_port, scrape, series_names
from wyoming_servers.models import bundled_joe_voice, bundled_tiny_en

DASHBOARD = ROOT / "monitoring" / "grafana" / "jarvis.json"
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
             "unless", "offset", "inf", "nan"}  # fmt: skip
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*\w+\s*\)")


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers (and Grafana variables in them)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges such as [$__rate_interval]
    text = _LABEL_LISTS.sub("", text)  # by (server, le), on (instance) ...
    names = set()
    for match in _TOKEN.finditer(text):
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def dashboard_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Every PromQL expression, keyed by where it is (panel title / refId, or variable name)."""
    queries = {}
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            queries[f"{panel['title']} / {target['refId']}"] = target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found = _LABEL_VALUES.fullmatch(query["query"] if isinstance(query, dict) else query)
            assert found, f"variable {variable['name']}: expected label_values(metric, label)"
            queries[f"variable {variable['name']}"] = found.group(1)
    return queries


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (server, le) (rate(jarvis_x_bucket{server="a b",'
        'instance=~"$server"}[$__rate_interval]))) / on (instance) group_left '
        "sum by (instance) (rate(process_cpu_seconds_total[5m])) and jarvis_y == 1"
    )
    assert metric_names(expr) == {"jarvis_x_bucket", "process_cpu_seconds_total", "jarvis_y"}


def test_dashboard_is_well_formed() -> None:
    dashboard = load_dashboard()
    panels = list(all_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    graphs = [panel for panel in panels if panel["type"] != "row"]
    assert len(graphs) >= 15
    for panel in graphs:
        assert panel["title"] and panel["description"], panel["id"]
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
    for query in dashboard_queries(dashboard).values():
        assert metric_names(query), query
        assert all(name.startswith(("jarvis_", "process_")) for name in metric_names(query))


@pytest.fixture
def servers_port() -> Iterator[int]:
    if bundled_joe_voice() is None or bundled_tiny_en() is None:
        pytest.skip("bundled models missing")
    server = start_server(
        "wyoming_servers",
        "--stt-uri",
        "tcp://127.0.0.1:0",
        "--tts-uri",
        "tcp://127.0.0.1:0",
        "--metrics-uri",
        "http://127.0.0.1:0",
        names=("whisper", "piper"),
    )
    try:
        yield metrics_port(server)
    finally:
        server.finish()


@pytest.fixture
async def satellite_port(tmp_path: Path) -> AsyncIterator[int]:
    port = free_port()
    sat = await SatelliteProcess.start(tmp_path, "--server-metrics-port", str(port))
    try:
        yield port
    finally:
        assert await sat.stop() == 0, sat.log_text()


async def test_every_query_names_a_metric_the_processes_expose(
    socket_enabled: None, servers_port: int, satellite_port: int
) -> None:
    scrapes = [scrape(servers_port), scrape(satellite_port)]
    exposed = set().union(*(scraped.names() for scraped in scrapes))
    used: dict[str, set[str]] = {}
    for where, query in dashboard_queries(load_dashboard()).items():
        for name in metric_names(query):
            used.setdefault(name, set()).add(where)
    missing = {name: sorted(where) for name, where in used.items() if name not in exposed}
    assert not missing, f"the dashboard queries metrics nobody exposes: {missing}"

    # And every metric of ours is on the dashboard (through one of its series names).
    unused = [
        family.name
        for scraped in scrapes
        for family in scraped.families
        if family.name.startswith("jarvis_") and not series_names(family) & set(used)
    ]
    assert not unused, f"metrics no panel shows: {unused}"
    assert "process_resident_memory_bytes" in used
