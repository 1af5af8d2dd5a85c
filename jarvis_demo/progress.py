"""A small progress display: one line per step, a spinner with elapsed time on a terminal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import sys
import time
from typing import TextIO

_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Progress:
    """Print `[n/N] label ... done (x.x s)`, animated while the step runs on a TTY."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        """Count steps up to `total` on `stream`."""
        self.total = total
        self.done = 0
        self.stream = stream
        self.tty = stream.isatty()
        self.timings: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def step(self, label: str) -> AsyncIterator[None]:
        """Run one step under a label."""
        self.done += 1
        prefix = f"[{self.done}/{self.total}] {label}"
        start = time.monotonic()
        spinner = asyncio.create_task(self._spin(prefix, start)) if self.tty else None
        if not self.tty:
            self.stream.write(f"{prefix} ...\n")
            self.stream.flush()
        try:
            yield
        except BaseException:
            self._finish(spinner, prefix, start, "failed")
            raise
        self.timings[label] = time.monotonic() - start
        self._finish(spinner, prefix, start, "done")

    def _finish(
        self, spinner: asyncio.Task[None] | None, prefix: str, start: float, word: str
    ) -> None:
        if spinner is not None:
            spinner.cancel()
        elapsed = time.monotonic() - start
        self.stream.write(f"\r\033[K{prefix} ... {word} ({elapsed:.1f} s)\n" if self.tty else "")
        if not self.tty:
            self.stream.write(f"    {word} in {elapsed:.1f} s\n")
        self.stream.flush()

    async def _spin(self, prefix: str, start: float) -> None:
        frame = 0
        while True:
            elapsed = time.monotonic() - start
            self.stream.write(
                f"\r\033[K{prefix} {_SPINNER[frame % len(_SPINNER)]} {elapsed:4.1f} s"
            )
            self.stream.flush()
            frame += 1
            await asyncio.sleep(0.1)
