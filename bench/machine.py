"""What the machine is doing while a benchmark runs: busy CPU seconds and load averages.

Benchmarks here share two cores with whatever else runs; their figures carry these
so a reader can tell a slow run from a busy machine.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (/proc/stat), 0.0 where it cannot be read.

    A server's or a scan's work is spread over processes (decoder and C2PA children,
    Ray's actors, load generators), so the machine's total is the honest cost; on a
    shared machine it includes others' work.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def load_averages() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def package_versions(names: list[str]) -> dict[str, str]:
    """Installed versions of ``names`` and Python's: dependencies float, so figures carry them."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
