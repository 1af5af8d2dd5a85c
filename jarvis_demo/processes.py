"""Child processes of the demo (speech servers, satellite): start, wait until ready, stop cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import signal
import socket
import sys

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def async_describe(host: str, port: int, timeout: float = 2.0) -> Info | None:
    """Ask a Wyoming peer what it is; None when it does not answer (yet)."""
    try:
        async with asyncio.timeout(timeout), AsyncTcpClient(host, port) as client:
            await client.write_event(Describe().event())
            while True:
                event = await client.read_event()
                if event is None:
                    return None
                if Info.is_type(event.type):
                    return Info.from_event(event)
    except OSError, TimeoutError:
        return None


@dataclass
class Child:
    """One child process with its log file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    pipe_stdin: bool = False  # give the child a pipe on stdin (e.g. microphone audio)
    pipe_stdout: bool = False  # read the child's stdout (e.g. speaker audio)
    env: dict[str, str] = field(default_factory=dict)  # added to this process's environment
    process: asyncio.subprocess.Process | None = field(default=None, init=False)

    async def async_start(self) -> None:
        """Start the process in its own process group, output to its log file."""
        log = await asyncio.to_thread(self.log_path.open, "ab")  # not on HA's loop
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE if self.pipe_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if self.pipe_stdout else log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        finally:
            log.close()

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.returncode is None

    async def async_wait_ready(self, host: str, port: int, timeout: float) -> Info:
        """Wait until the child answers Wyoming `describe`; fail early if it exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            if (info := await async_describe(host, port, timeout=1.0)) is not None:
                return info
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f} s; see {self.log_path}")

    async def async_stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL if it lingers."""
        if self.process is None or self.process.returncode is not None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


def python_module(module: str, *args: str) -> list[str]:
    """Command line running `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]
