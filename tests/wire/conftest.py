"""Fixtures for these tests: real loopback TCP is allowed."""

from __future__ import annotations

import pytest

from wyoming_wire.handler import bad_input_log


@pytest.fixture(autouse=True)
def allow_loopback_sockets(socket_enabled: None) -> None:
    """Let every test here open real TCP connections on 127.0.0.1."""


@pytest.fixture(autouse=True)
def fresh_log_limits() -> None:
    """Each test sees its own first warning (bad input is logged once a minute per address)."""
    bad_input_log.reset()
