"""What every benchmark prints: the machine, package versions, markdown tables, percentiles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import metadata
import os
from pathlib import Path
import platform

import numpy as np


def machine(packages: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Rows describing this machine and the versions of `packages`."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    rows = [
        ("machine", f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("python", platform.python_version()),
    ]
    for package in packages:
        try:
            rows.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            rows.append((package, "not installed"))
    return rows


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a markdown table under a title."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    print(f"\n## {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def median_p95(values: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    data = np.asarray(values, dtype=np.float64)
    return float(np.median(data)), float(np.percentile(data, 95))
