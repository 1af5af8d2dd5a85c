"""Headless Debian Chromium driven by Playwright (node, `driver.mjs`), from Python tests.

Each call sends one JSON request to the driver and waits for its answer; page-side code is given
as JavaScript function source taking one JSON argument.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
import selectors
import shutil
import subprocess
import time
from typing import Any

from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path(__file__).with_name("driver.mjs")
PLAYWRIGHT = ROOT / "card" / "node_modules" / "playwright-core"
# Flags for a closed network and a root user (see the machine notes): no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BrowserError(RuntimeError):
    """The driver reported an error (the page's code threw, a wait timed out, ...)."""


def missing_tools() -> list[str]:
    """What the browser tests need and this machine lacks (script/setup installs it all)."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    if shutil.which("node") is None:
        missing.append("node")
    if not PLAYWRIGHT.exists():
        missing.append(f"{PLAYWRIGHT} (npm ci in card/)")
    return missing


class Browser:
    """One Chromium with one page, alive until `close()`."""

    def __init__(self, log_path: Path) -> None:
        """Start the driver; its errors go to `log_path`."""
        self._log = log_path.open("ab")
        self._process = subprocess.Popen(
            ["node", str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self._ids = itertools.count(1)
        self._selector = selectors.DefaultSelector()
        assert self._process.stdout is not None
        self._selector.register(self._process.stdout, selectors.EVENT_READ)
        self._buffer = b""

    def call(self, op: str, timeout: float = 60.0, **args: Any) -> Any:
        """Run one driver operation and return its value."""
        request_id = next(self._ids)
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"id": request_id, "op": op, **args}).encode() + b"\n")
        self._process.stdin.flush()
        answer = self._read_answer(timeout)
        if answer["id"] != request_id:
            raise BrowserError(f"answer {answer['id']} to request {request_id}")
        if not answer["ok"]:
            raise BrowserError(answer["error"])
        return answer["value"]

    def _read_answer(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        assert self._process.stdout is not None
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                raise TimeoutError(f"the browser driver did not answer within {timeout:.0f} s")
            chunk = os.read(self._process.stdout.fileno(), 65536)
            if not chunk:
                raise BrowserError("the browser driver exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def launch(self, url: str, tokens: dict[str, Any], extra_args: list[str] | None = None) -> str:
        """Start Chromium logged in to HA (its token set in localStorage) and open `url`."""
        version: str = self.call(
            "launch",
            timeout=120,
            executablePath=str(CHROMIUM),
            args=CHROMIUM_ARGS + (extra_args or []),
            viewport={"width": 1280, "height": 900},
            colorScheme="light",
            localStorage={"hassTokens": json.dumps(tokens)},
            url=url,
        )
        return version

    def new_session(self, url: str, tokens: dict[str, Any]) -> None:
        """Close the page and open `url` in a fresh context logged in with `tokens`."""
        self.call(
            "newContext",
            timeout=120,
            viewport={"width": 1280, "height": 900},
            colorScheme="light",
            localStorage={"hassTokens": json.dumps(tokens)},
            url=url,
        )

    def evaluate(self, fn: str, arg: Any = None) -> Any:
        """Call the JavaScript function `fn` in the page with `arg`; its (awaited) result."""
        return self.call("evaluate", fn=fn, arg=arg)

    def wait_for(self, fn: str, arg: Any = None, timeout: float = 30.0) -> Any:
        """Wait until `fn(arg)` is truthy in the page; that value."""
        return self.call(
            "waitFor", timeout=timeout + 10, fn=fn, arg=arg, timeoutMs=int(timeout * 1000)
        )

    def screenshot(self, path: Path, selector: str | None = None) -> Path:
        """Save a PNG of the page (or of one element)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.call("screenshot", path=str(path), selector=selector)
        return path

    def close(self) -> None:
        """Close Chromium and the driver."""
        try:
            if self._process.poll() is None:
                self.call("close", timeout=30)
        except BrowserError, TimeoutError, OSError:
            pass
        finally:
            if self._process.stdin is not None:
                self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._selector.close()
            self._log.close()
