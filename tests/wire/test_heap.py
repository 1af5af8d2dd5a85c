"""glibc heap profiles: large buffers reused between decodes, and given back when asked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")

# Each profile is process-wide: measured in a fresh interpreter.
_PROBE = """
import ctypes, json, resource, sys
from wyoming_wire import heap

getattr(heap, sys.argv[1])()

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
SIZE = 72 * 1024 * 1024  # one encoder layer's attention, Whisper base's 30 s window

def use_buffer():
    buffer = libc.malloc(SIZE)  # as CTranslate2 allocates it (numpy would ask for huge pages)
    ctypes.memset(buffer, 1, SIZE)
    libc.free(buffer)

use_buffer()
before = faults()
use_buffer()
again = faults() - before
kept = rss_mb()
heap.heap_trimmer()()
print(json.dumps({"faults": again, "kept_mb": kept, "trimmed_mb": rss_mb()}))
"""


def _probe(profile: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, profile], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def test_reuse_large_buffers_keeps_them_until_trimmed() -> None:
    """A second buffer of the same size costs no page faults; the trim gives it back."""
    reused = _probe("reuse_large_buffers")
    mapped = _probe("limit_malloc_arenas")
    pages = 72 * 1024 * 1024 // 4096
    assert mapped["faults"] > pages * 0.9, mapped  # mapped anew: every page faulted in again
    assert reused["faults"] < pages * 0.05, reused
    assert reused["kept_mb"] - reused["trimmed_mb"] > 60, reused
