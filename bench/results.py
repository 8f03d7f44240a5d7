"""The figures a benchmark hands to ``bench/run_all.py``: one JSON file per benchmark.

Each benchmark prints its own tables; with ``--json PATH`` it also writes its headline
figures there, each with its goal, so ``run_all.py`` can print one consolidated table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class Figure:
    """One figure: ``value`` in ``unit``; ``goal`` says what is asked ("" = none) and
    ``met`` whether this run meets it (``None``: no goal, only reported)."""

    name: str
    value: str
    goal: str = ""
    met: bool | None = None
    note: str = ""


def write(path: str | None, bench: str, figures: list[Figure], details: str = "") -> None:
    """Write ``figures`` as JSON to ``path`` (nothing when ``path`` is ``None``)."""
    if not path:
        return
    data = {
        "bench": bench,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "figures": [asdict(f) for f in figures],
        "details": details,
    }
    Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def read(path: str) -> tuple[str, list[Figure]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return str(data["bench"]), [Figure(**f) for f in data["figures"]]


def machine() -> str:
    """One line: CPUs, CPU model, RAM, distribution, kernel, Python."""
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    distro = "unknown"
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version", encoding="utf-8") as f:
            distro = "Debian " + f.read().strip()
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_kib / 1024 / 1024:.1f} GiB RAM, {distro},"
        f" Linux {platform.release()}, Python {platform.python_version()}"
    )


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median / p95`` of ``values`` times ``scale`` ("-" when there are none)."""
    if not values:
        return "-"
    return f"{statistics.median(values) * scale:.{digits}f} / {p95(values) * scale:.{digits}f}"


def proc_cpu_rss(pid: int) -> tuple[float, float, float]:
    """A process's CPU seconds (user + system), current RSS and peak RSS in MiB."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    rss = hwm = 0.0
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return cpu, rss, hwm
