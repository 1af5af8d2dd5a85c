"""Fair, bounded scheduling of decodes onto worker threads.

Final decodes (a client is waiting for its transcript) go before speculative ones, first come
first served; at most `workers` decodes run at once on a private thread pool, so the event loop is
never blocked. A full queue rejects new final decodes with `BusyError` and skips speculative ones.
A cancelled decode leaves the queue at once; one already running finishes on its thread and its
result is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
import heapq
import itertools
import logging
from typing import TypeVar

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

FINAL = 0
SPECULATIVE = 1


class BusyError(RuntimeError):
    """Too many decodes are waiting."""

    code = "busy"


class DecodeScheduler:
    """Runs blocking decode calls on `workers` threads, best priority first, bounded queue."""

    def __init__(self, workers: int = 1, max_queue: int = 16) -> None:
        """Create the pool (threads start on first use)."""
        self.workers = max(1, workers)
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="whisper-decode")
        self._free = self.workers
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.running = 0

    @property
    def waiting(self) -> int:
        """Decodes queued for a worker."""
        return sum(1 for _p, _s, fut in self._waiters if not fut.done())

    def has_room(self, priority: int) -> bool:
        """Whether a decode of this priority would be accepted now."""
        limit = self.max_queue if priority == FINAL else max(1, self.max_queue // 2)
        return self._free > 0 or self.waiting < limit

    async def run(
        self, priority: int, func: Callable[[], T], on_start: Callable[[], None] | None = None
    ) -> T:
        """Wait for a worker, then run `func` on it. Raises BusyError if the queue is full.

        `on_start` is called on the loop when a worker takes the job.
        """
        if not self.has_room(priority):
            raise BusyError(f"server busy: {self.waiting} transcriptions already waiting")
        await self._acquire(priority)
        self.running += 1
        if on_start is not None:
            on_start()
        job = asyncio.get_running_loop().run_in_executor(self._executor, func)
        try:
            result = await asyncio.shield(job)
        except asyncio.CancelledError:
            # The caller left; the thread cannot be interrupted: free the slot when it ends.
            job.add_done_callback(self._job_done)
            raise
        except BaseException:
            self._job_done(job)
            raise
        self._job_done(job)
        return result

    def _job_done(self, job: asyncio.Future[T]) -> None:
        if not job.cancelled():
            job.exception()  # retrieved: a dropped result must not log "never retrieved"
        self.running -= 1
        self._release()

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        entry = (priority, next(self._seq), asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiters, entry)
        fut = entry[2]
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # woken and cancelled at once: hand the slot on
            elif entry in self._waiters:
                self._waiters.remove(entry)  # leave the queue now, not when a worker frees up
                heapq.heapify(self._waiters)
            raise

    def _release(self) -> None:
        while self._waiters:
            _priority, _seq, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1

    def close(self, wait: bool = False) -> None:
        """Stop the worker threads (queued work is dropped, running decodes finish)."""
        self._executor.shutdown(wait=wait, cancel_futures=True)
