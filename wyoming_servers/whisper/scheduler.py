"""Fair, bounded scheduling of decodes onto worker threads.

Final decodes (a client is waiting for its transcript) go before speculative ones, first come
first served; at most `workers` decodes run at once on a private thread pool, so the event loop is
never blocked. A full queue rejects new speculative decodes; a final one takes the place of the
newest waiting speculative decode (which fails with `BusyError`), or is rejected if none waits.
A cancelled decode leaves the queue at once; one already running finishes on its thread and its
result is dropped.

When the last decode ends and none waits, the C heap's free pages are given back to the system
(`malloc_trim`): decodes of long audio otherwise leave hundreds of MB behind in glibc's heap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
import heapq
import itertools
import logging
import time
from typing import TypeVar

from wyoming_wire.heap import heap_trimmer

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

FINAL = 0
SPECULATIVE = 1
TRIM_EVERY_S = 2.0
"""Least time between two heap trims (each takes a few ms of a helper thread)."""


class BusyError(RuntimeError):
    """Too many decodes are waiting."""

    code = "busy"


class DecodeScheduler:
    """Runs blocking decode calls on `workers` threads, best priority first, bounded queue."""

    def __init__(self, workers: int = 1, max_queue: int = 16, trim_memory: bool = True) -> None:
        """Create the pool (threads start on first use); `trim_memory`: malloc_trim when idle."""
        self.workers = max(1, workers)
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="whisper-decode")
        self._free = self.workers
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.running = 0
        self._trim_heap = heap_trimmer() if trim_memory else None
        self._trim_due: asyncio.TimerHandle | None = None
        self._trimming = False
        self._last_trim = 0.0
        self.trims = 0

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
        if not self.has_room(priority) and not (priority == FINAL and self._evict_speculative()):
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

    def _evict_speculative(self) -> bool:
        """Drop the newest waiting speculative decode (a client waits for a final one)."""
        queued = [e for e in self._waiters if e[0] == SPECULATIVE and not e[2].done()]
        if not queued:
            return False
        max(queued, key=lambda entry: entry[1])[2].set_exception(
            BusyError("speculative decode dropped: a transcript is owed")
        )
        return True

    def _job_done(self, job: asyncio.Future[T]) -> None:
        if not job.cancelled():
            job.exception()  # retrieved: a dropped result must not log "never retrieved"
        self.running -= 1
        self._release()
        self.trim_when_idle()

    @property
    def _idle(self) -> bool:
        return self.running == 0 and not self.waiting

    def trim_when_idle(self) -> None:
        """If no decode runs or waits, trim the heap soon (at most once per TRIM_EVERY_S)."""
        if self._trim_heap is None or self._trim_due is not None or self._trimming:
            return
        if not self._idle:
            return  # the last decode to end calls this again
        delay = max(0.0, self._last_trim + TRIM_EVERY_S - time.monotonic())
        self._trim_due = asyncio.get_running_loop().call_later(delay, self._start_trim)

    def _start_trim(self) -> None:
        self._trim_due = None
        if not self._idle or self._trim_heap is None:
            return  # the next decode to end tries again
        self._trimming = True
        self._last_trim = time.monotonic()
        loop = asyncio.get_running_loop()
        # Not on the decode pool: a trim must never hold up a decode's start.
        done = loop.run_in_executor(None, self._trim_heap)
        done.add_done_callback(self._trim_done)

    def _trim_done(self, done: asyncio.Future[None]) -> None:
        self._trimming = False
        self.trims += 1
        if not done.cancelled() and (err := done.exception()) is not None:
            _LOGGER.debug("malloc_trim failed: %s", err)

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
        if self._trim_due is not None:
            self._trim_due.cancel()
            self._trim_due = None
        self._executor.shutdown(wait=wait, cancel_futures=True)
