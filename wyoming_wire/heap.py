"""glibc heap settings for the servers (each a no-op off glibc).

Two profiles, set once at start-up: `limit_malloc_arenas` (Piper alone: large blocks mapped
and given back when freed) and `reuse_large_buffers` (a process that decodes with Whisper:
large blocks kept in the heap between decodes, given back with `heap_trimmer`).
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import ctypes
import functools
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -3, -4, -8
"""glibc's `mallopt` parameters."""


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL("libc.so.6")
        if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
            return libc
    return None


def limit_malloc_arenas(arenas: int = 2, mmap_threshold: int = 4 * 1024 * 1024) -> None:
    """Keep glibc from holding on to memory the models freed.

    Caps the per-thread malloc arenas (inference threads otherwise each keep a heap) and fixes
    the mmap threshold, so large buffers are mapped and given back when freed instead of
    staying in the heap.
    """
    if (libc := _libc()) is not None:
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)


def reuse_large_buffers(trim_threshold: int = 512 * 1024 * 1024) -> None:
    """Let glibc reuse large freed buffers instead of mapping them anew.

    Each Whisper decode allocates and frees the same large buffers (72 MB of attention per
    encoder layer for base's 30 s window). Mapped anew each time, they cost a page fault per
    4 KB: a French decode (base) took 0.93 s instead of 0.64 s (median, `bench.stt`). One arena
    (any other arena maps blocks over 64 MB), no mmap and a high trim threshold keep them in
    the heap; the process gives the heap back with `heap_trimmer` when idle (the whisper
    scheduler) and after each piece of speech (Piper: its freed buffers would pile up).
    """
    if (libc := _libc()) is not None:
        libc.mallopt(M_ARENA_MAX, 1)
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)


def heap_trimmer() -> Callable[[], None] | None:
    """A function that gives the heap's free pages back to the system, or None off glibc.

    `malloc_trim`: a few ms when there is something to give back, microseconds otherwise.
    """
    libc = _libc()
    if libc is None:
        return None
    trim = libc.malloc_trim
    return lambda: trim(0)
