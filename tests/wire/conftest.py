"""Fixtures for these tests: real loopback TCP is allowed."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def allow_loopback_sockets(socket_enabled: None) -> None:
    """Let every test here open real TCP connections on 127.0.0.1."""
