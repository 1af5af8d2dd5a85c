"""Fixtures for these tests: real loopback TCP is allowed.

These tests also run on the satellite's oldest Python with only its extra installed
(script/test): those that need more are marked so that run can leave them out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of tests that need the servers' extra."""
    config.addinivalue_line("markers", "servers_extra: needs faster-whisper (servers' extra)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the satellite tests that transcribe with faster-whisper (`whisper` fixture)."""
    for item in items:
        if HERE in item.path.parents and "whisper" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.servers_extra)


@pytest.fixture(autouse=True)
def allow_loopback_sockets(socket_enabled: None) -> None:
    """Let every test here open real TCP connections on 127.0.0.1."""


@pytest.fixture(autouse=True)
def fresh_speaker_timeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the process's speaker timeline empty.

    Sinks of earlier tests in this process recorded into it (a sink not paced in real time
    writes seconds ahead of the clock), and a listener of a later test would read that as
    its speaker's echo.
    """
    from satellite.audio import reference

    monkeypatch.setattr(reference, "_SPEAKER", None)
