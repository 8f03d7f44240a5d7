"""Benchmark the pipeline: "dag" against "batches" scheduling, and orchestration overhead.

One synthetic module of 10 trivial noarch components whose ``%build`` is ``sleep N``
(1-8 s) is built by a real site, as ``tests/test_pipeline.py`` runs one: ``bbmod distgit
init``, ``bbmod quickstart`` (free ports, 2 build workers, dist-git polled every second),
``buildbot start`` and two ``buildbot-worker start``. The buildafter DAG (levels 0-4):

    k1 (2) -> k2 (5) -> k3 (4) -> k4 (3) -> k5 (2)    the critical chain, 16 s of sleep
    s1 (1) -> s2 (2) -> s3 (1);  s1 -> m (6)          a side branch
    a (8)                                             long, alone, at level 0

Under "batches" every level waits for the slowest component of the level below (``a``
holds level 1 back for 8 s, ``m`` holds level 2); under "dag" only real dependencies wait.

For each backend (``--backend``; the site default is ``buildroot``) the site builds, in
this order: a warm-up module (two ``sleep 0`` components: caches, buildroot set-up
paths), the module under ``scheduling = "dag"``, then — after the master and workers are
stopped, ``settings.toml`` rewritten and everything started again — the same module
under ``scheduling = "batches"``. Each run uses its own package names, so both are first
builds of their packages: no duration history, the driver's priorities are the number of
components on the remaining path in both runs.

The figures come from the registry (component ``started_at``: the *prepare sources*
step marked it building, on the master; ``finished_at``: the *record* step marked it
built) and from the module build's ``started_at`` (the driver began):

* makespan: last component finished - module build entered "build" (driver start);
* lower bound: max(critical path, total work / 2 slots), where the work of a component
  is its measured duration (finished_at - started_at, which includes preparing sources,
  transfers, the buildroot and recording); also given with the set sleeps as work;
* simulated: the same policy (dag or batches, 2 slots, the driver's priorities) replayed
  on the measured durations with zero orchestration overhead; "simulated, late": the
  same, but a freed worker first takes a request already waiting and only then are the
  finished build's successors requested (what Buildbot does, see docs/performance.md);
* build overhead: measured duration - set sleep, per component;
* orchestration gap, per component with dependencies: started_at - the moment it could
  be requested (dag: the last of its dependencies finished; batches: the last component
  of the lower levels finished, when later). Given for all such components and for those
  where a worker was free for the whole gap (fewer than 2 other components ran in it);
* hand-over: for a component already requested when a worker freed up, started_at -
  the finished_at that freed it; first start: first started_at - module build start.

It also prints Buildbot's step times (whole seconds) and each run's timeline.

Run from the repository root, as root (the buildroot backend needs it):

    .venv/bin/python bench/pipeline.py --backend both

``--keep`` keeps the temporary folder (sites, logs, registry) and prints its path.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from buildbot_modules.registry import ComponentRecord, ModuleBuildRecord, Registry

BIN = Path(sys.executable).parent
SLOTS = 2
MODES = ("dag", "batches")
BACKENDS = ("buildroot", "rpmbuild")

# name -> (seconds of sleep in %build, the components it builds after)
DAG: dict[str, tuple[int, tuple[str, ...]]] = {
    "k1": (2, ()),
    "k2": (5, ("k1",)),
    "k3": (4, ("k2",)),
    "k4": (3, ("k3",)),
    "k5": (2, ("k4",)),
    "s1": (1, ()),
    "s2": (2, ("s1",)),
    "s3": (1, ("s2",)),
    "m": (6, ("s1",)),
    "a": (8, ()),
}
WARMUP: dict[str, tuple[int, tuple[str, ...]]] = {"w1": (0, ()), "w2": (0, ())}

SPEC = """\
Name:           {name}
Version:        1.0
Release:        1%{{?dist}}
Summary:        Benchmark package {name}
License:        MIT
BuildArch:      noarch

%description
Benchmark package {name}: its build sleeps {sleep} s.

%build
sleep {sleep}

%install
mkdir -p %{{buildroot}}%{{_datadir}}/{name}
echo {name} > %{{buildroot}}%{{_datadir}}/{name}/{name}.txt

%files
%{{_datadir}}/{name}/{name}.txt

%changelog
* Wed Nov 25 2026 Bench <bench@example.org> - 1.0-1
- bench
"""


# -- the module ----------------------------------------------------------------------------


def module_yaml(name: str, prefix: str, dag: dict[str, tuple[int, tuple[str, ...]]]) -> str:
    lines = [
        "document: modulemd-packager",
        "version: 3",
        "data:",
        f"  summary: Pipeline benchmark module {name}",
        "  description: >-",
        "    Components whose build sleeps a set time, ordered by a buildafter DAG.",
        "  license: [MIT]",
        "  configurations:",
        "    - context: bench01",
        "      platform: f39",
        "  components:",
        "    rpms:",
    ]
    for short, (_sleep, after) in dag.items():
        lines += [f"      {prefix}-{short}:", "        rationale: Benchmark component."]
        if after:
            lines.append("        buildafter: [" + ", ".join(f"{prefix}-{a}" for a in after) + "]")
    return "\n".join(lines) + "\n"


def levels_of(dag: dict[str, tuple[int, tuple[str, ...]]]) -> dict[str, int]:
    out: dict[str, int] = {}
    while len(out) < len(dag):
        for c, (_s, after) in dag.items():
            if c not in out and all(a in out for a in after):
                out[c] = 1 + max((out[a] for a in after), default=-1)
    return out


def critical_path(dag: dict[str, tuple[int, tuple[str, ...]]], work: dict[str, float]) -> float:
    finish: dict[str, float] = {}
    for c in sorted(dag, key=levels_of(dag).__getitem__):
        finish[c] = work[c] + max((finish[a] for a in dag[c][1]), default=0.0)
    return max(finish.values())


def remaining(
    dag: dict[str, tuple[int, tuple[str, ...]]], work: dict[str, float]
) -> dict[str, float]:
    """The driver's priority: a component's work plus its longest chain of successors."""
    levels = levels_of(dag)
    out: dict[str, float] = {}
    for c in sorted(dag, key=lambda c: -levels[c]):
        successors = [s for s, (_w, after) in dag.items() if c in after]
        out[c] = work[c] + max((out[s] for s in successors), default=0.0)
    return out


def simulate(
    dag: dict[str, tuple[int, tuple[str, ...]]],
    work: dict[str, float],
    mode: str,
    late: bool = False,
) -> float:
    """The makespan of the driver's policy on ``SLOTS`` workers with no overhead at all:
    requests as the DAG (and, for batches, the barrier) allow; a free worker takes the
    highest priority (chain length in components, as on a first build), oldest first.

    ``late``: as Buildbot does it — the worker a finished build frees goes to a request
    already waiting before the driver has requested what that build made ready."""
    levels = levels_of(dag)
    priority = remaining(dag, dict.fromkeys(dag, 1.0))
    finished: dict[str, float] = {}
    requested: list[str] = []  # in request order
    running: dict[str, float] = {}  # name -> finish time
    now = 0.0

    def request_ready() -> None:
        for c, (_s, after) in dag.items():
            if c in requested or not all(a in finished for a in after):
                continue
            if mode == "batches" and any(d not in finished for d in dag if levels[d] < levels[c]):
                continue
            requested.append(c)

    def fill() -> None:
        queue = [c for c in requested if c not in running and c not in finished]
        queue.sort(key=lambda c: (-priority[c], requested.index(c)))
        while queue and len(running) < SLOTS:
            c = queue.pop(0)
            running[c] = now + work[c]

    request_ready()
    while len(finished) < len(dag):
        fill()
        c = min(running, key=lambda n: (running[n], n))
        now = running.pop(c)
        finished[c] = now
        if late:
            fill()
        request_ready()
    return now


# -- the site ------------------------------------------------------------------------------


def run(*args: str, timeout: float = 300) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Site:
    root: Path
    port: int = field(default_factory=free_port)
    worker_port: int = field(default_factory=free_port)
    running: list[tuple[list[str], Path]] = field(default_factory=list)  # stop command, folder
    slots: int = SLOTS  # build workers

    @property
    def distgit(self) -> Path:
        return self.root / "distgit"

    @property
    def master(self) -> Path:
        return self.root / "site" / "master"

    @property
    def workers(self) -> list[Path]:
        return [self.root / "site" / f"worker{n}" for n in range(1, self.slots + 1)]

    def create(self) -> None:
        run(str(BIN / "bbmod"), "distgit", "init", str(self.distgit))
        run(
            str(BIN / "bbmod"),
            "quickstart",
            str(self.root / "site"),
            "--distgit",
            str(self.distgit),
            "--publish",
            str(self.root / "publish"),
            "--platform",
            "f39",
            "--port",
            str(self.port),
            "--workers",
            str(self.slots),
            "--worker-port",
            str(self.worker_port),
            "--poll-interval",
            "1",
        )

    def configure(self, **values: str) -> None:
        """Set keys in the master's settings.toml (replacing earlier values)."""
        path = self.master / "settings.toml"
        lines = path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.split("=", 1)[0].strip() not in values]
        kept += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")

    def start(self) -> None:
        try:
            run(str(BIN / "buildbot"), "start", str(self.master), timeout=120)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.master_log()}") from None
        self.running.append(([str(BIN / "buildbot"), "stop", str(self.master)], self.master))
        for worker in self.workers:
            run(str(BIN / "buildbot-worker"), "start", str(worker), timeout=60)
            self.running.append(([str(BIN / "buildbot-worker"), "stop", str(worker)], worker))
        wait_for(lambda: self.connected_workers() >= self.slots, "the workers to connect", 60)

    def master_log(self, lines: int = 40) -> str:
        """The end of the master's log, to say why something did not happen."""
        log = self.master / "twistd.log"
        tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
        return "\n".join([f"{log} (tail):", *tail])

    def stop(self) -> None:
        """Stop workers then master, and wait until each process is gone: ``buildbot
        stop`` gives up after 10 s, and a master still stopping cannot start again."""
        while self.running:
            command, folder = self.running.pop()
            try:
                pid = int((folder / "twistd.pid").read_text().strip())
            except (OSError, ValueError):
                pid = 0
            # Even when `buildbot stop` cannot run: the pid check below ends the process.
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                subprocess.run(command, capture_output=True, check=False, timeout=120)
            deadline = time.monotonic() + 60
            while pid and alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)  # the daemon this bench started, by its pid

    def api(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v2/{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def connected_workers(self) -> int:
        try:
            workers = self.api("workers")["workers"]
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            return 0
        return sum(1 for w in workers if w["connected_to"] and w["name"].startswith("worker"))

    def push(self, module: str, prefix: str, dag: dict[str, tuple[int, tuple[str, ...]]]) -> None:
        """Import the components' specs, then the module: with the module first, the
        poller (every second) can start its build before every rpms/ repository exists."""
        rpms = Path(tempfile.mkdtemp(dir=self.root, prefix="push-"))
        for short, (sleep, _after) in dag.items():
            name = f"{prefix}-{short}"
            rpm = rpms / "rpms" / name
            rpm.mkdir(parents=True)
            (rpm / f"{name}.spec").write_text(SPEC.format(name=name, sleep=sleep), encoding="utf-8")
        modules = Path(tempfile.mkdtemp(dir=self.root, prefix="push-"))
        folder = modules / "modules" / module
        folder.mkdir(parents=True)
        (folder / f"{module}.yaml").write_text(module_yaml(module, prefix, dag), encoding="utf-8")
        for source in (rpms, modules):
            run(str(BIN / "bbmod"), "distgit", "import", str(self.distgit), str(source))
            shutil.rmtree(source)

    def registry(self) -> Registry:
        return Registry(f"sqlite:///{self.master}/registry.sqlite")

    def build(
        self, module: str, prefix: str, dag: dict[str, tuple[int, tuple[str, ...]]]
    ) -> tuple[ModuleBuildRecord, dict[str, ComponentRecord]]:
        """Push ``module`` and wait until it is ready; its record and its components."""
        self.push(module, prefix, dag)
        registry = self.registry()

        def finished() -> ModuleBuildRecord | None:
            builds = registry.module_builds(name=module)
            if builds and builds[0].state in ("ready", "failed"):
                return builds[0]
            return None

        try:
            wait_for(lambda: registry.module_builds(name=module), f"a build of {module}", 60)
            record: ModuleBuildRecord = wait_for(finished, f"module {module} to finish", 300)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.master_log()}") from None
        if record.state != "ready":
            raise RuntimeError(f"module {module} {record.state}: {record.state_reason}")
        components = {c.name.removeprefix(f"{prefix}-"): c for c in registry.components(record.id)}
        return record, components

    def step_seconds(self, build_id: int) -> dict[str, float]:
        """Buildbot's own step times of one component build (whole seconds)."""
        out: dict[str, float] = {}
        for step in self.api(f"builds/{build_id}/steps")["steps"]:
            if step["started_at"] is not None and step["complete_at"] is not None:
                out[step["name"]] = float(step["complete_at"] - step["started_at"])
        return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for(check: Any, what: str, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {seconds:g} s waiting for {what}")


# -- the figures ---------------------------------------------------------------------------


def seconds(a: datetime | None, b: datetime | None) -> float:
    assert a is not None and b is not None
    return (a - b).total_seconds()


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (with few values: close to the largest)."""
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


@dataclass
class Figures:
    backend: str
    mode: str
    makespan: float
    lower_bound: float
    lower_bound_sleep: float
    simulated: float
    simulated_late: float
    critical: float
    work: float
    overhead: list[float]  # measured duration - sleep
    gaps: list[float]  # ready -> started, components with dependencies
    free_gaps: list[float]  # the same, when a worker was free all along
    handovers: list[float]  # a finished build -> an already waiting request started
    first_start: float
    steps: dict[str, list[float]]
    timeline: list[tuple[str, int, float, float]]  # component, level, started, finished


def figures(
    backend: str,
    mode: str,
    record: ModuleBuildRecord,
    components: dict[str, ComponentRecord],
    steps: dict[str, dict[str, float]],
) -> Figures:
    start = record.started_at
    assert start is not None
    work = {c: max(0.0, seconds(r.finished_at, r.started_at)) for c, r in components.items()}
    sleep = {c: float(s) for c, (s, _a) in DAG.items()}
    levels = levels_of(DAG)
    end = max(seconds(r.finished_at, start) for r in components.values())
    gaps: list[float] = []
    free: list[float] = []
    for c, (_s, after) in DAG.items():
        if not after:
            continue
        waits_for = list(after)
        if mode == "batches":
            waits_for += [d for d in DAG if levels[d] < levels[c]]
        ready = max(seconds(components[d].finished_at, start) for d in waits_for)
        started = seconds(components[c].started_at, start)
        gaps.append(started - ready)
        others = sum(
            1
            for d, r in components.items()
            if d != c
            and seconds(r.started_at, start) < started
            and seconds(r.finished_at, start) > ready
        )
        if others < SLOTS:
            free.append(started - ready)
    handovers: list[float] = []
    for c, r in components.items():
        started = seconds(r.started_at, start)
        before = [seconds(o.finished_at, start) for d, o in components.items() if d != c]
        freed = max((t for t in before if t <= started), default=None)
        after = DAG[c][1]
        waits_for = list(after) + (
            [d for d in DAG if levels[d] < levels[c]] if mode == "batches" else []
        )
        ready = max((seconds(components[d].finished_at, start) for d in waits_for), default=0.0)
        if freed is not None and ready < freed:  # it waited for a worker, not for the driver
            handovers.append(started - freed)
    by_step: dict[str, list[float]] = {}
    for per_component in steps.values():
        for name, value in per_component.items():
            by_step.setdefault(name, []).append(value)
    return Figures(
        backend=backend,
        mode=mode,
        makespan=end,
        lower_bound=max(critical_path(DAG, work), sum(work.values()) / SLOTS),
        lower_bound_sleep=max(critical_path(DAG, sleep), sum(sleep.values()) / SLOTS),
        simulated=simulate(DAG, work, mode),
        simulated_late=simulate(DAG, work, mode, late=True),
        critical=critical_path(DAG, work),
        work=sum(work.values()),
        overhead=[work[c] - sleep[c] for c in DAG],
        gaps=gaps,
        free_gaps=free,
        handovers=handovers,
        first_start=min(seconds(r.started_at, start) for r in components.values()),
        steps=by_step,
        timeline=sorted(
            (
                (c, levels[c], seconds(r.started_at, start), seconds(r.finished_at, start))
                for c, r in components.items()
            ),
            key=lambda t: (t[2], t[0]),
        ),
    )


def machine() -> list[str]:
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
    return [
        f"nproc {os.cpu_count()}, CPU {model}, RAM {mem_kib / 1024 / 1024:.1f} GiB, {distro},"
        f" kernel {platform.release()}",
        f"Python {platform.python_version()}, 2 build workers on this machine, dist-git"
        " polled every 1 s",
    ]


def table(rows: list[Figures]) -> list[str]:
    header = [
        "backend",
        "scheduling",
        "makespan s",
        "lower bound s",
        "makespan / LB",
        "simulated s",
        "simulated, late s",
        "LB (sleeps) s",
        "work s",
    ]
    body = [
        [
            f.backend,
            f.mode,
            f"{f.makespan:.1f}",
            f"{f.lower_bound:.1f}",
            f"{f.makespan / f.lower_bound:.2f}",
            f"{f.simulated:.1f}",
            f"{f.simulated_late:.1f}",
            f"{f.lower_bound_sleep:.1f}",
            f"{f.work:.1f}",
        ]
        for f in rows
    ]
    return markdown(header, body)


def overhead_table(rows: list[Figures]) -> list[str]:
    header = [
        "backend",
        "scheduling",
        "build overhead s (median / p95)",
        "gap, all s (n; median / p95)",
        "gap, worker free s (n; median / p95)",
        "hand-over s (n; median / p95)",
        "first start s",
    ]

    def spread(values: list[float], count: bool = False) -> str:
        if not values:
            return "-"
        text = f"{statistics.median(values):.2f} / {p95(values):.2f}"
        return f"{len(values)}; {text}" if count else text

    body = [
        [
            f.backend,
            f.mode,
            spread(f.overhead),
            spread(f.gaps, True),
            spread(f.free_gaps, True),
            spread(f.handovers, True),
            f"{f.first_start:.2f}",
        ]
        for f in rows
    ]
    return markdown(header, body)


def steps_table(rows: list[Figures]) -> list[str]:
    names: list[str] = []
    for f in rows:
        for name in f.steps:
            if name not in names:
                names.append(name)
    header = ["backend", "scheduling", *names]
    body = [
        [
            f.backend,
            f.mode,
            *(f"{statistics.median(f.steps[n]):.0f}" if n in f.steps else "-" for n in names),
        ]
        for f in rows
    ]
    return markdown(header, body)


def markdown(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    out.append(
        "|"
        + "|".join(("-" * (w + 1) + ":") if i >= 2 else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    for row in body:
        cells = [
            c.rjust(w) if i >= 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


# -- main ----------------------------------------------------------------------------------


def measure(site: Site, backend: str) -> list[Figures]:
    out: list[Figures] = []
    for n, mode in enumerate(MODES):
        site.configure(backend=backend, scheduling=mode)
        site.start()
        try:
            if n == 0:
                t = time.monotonic()
                site.build(f"warm{backend}", f"w{backend[0]}", WARMUP)
                print(f"  {backend}: warm-up module built in {time.monotonic() - t:.0f} s")
            t = time.monotonic()
            module = f"bench{mode}{backend}"
            record, components = site.build(module, f"{mode[0]}{backend[0]}", DAG)
            steps = {
                c: site.step_seconds(r.buildbot_build_id)
                for c, r in components.items()
                if r.buildbot_build_id is not None
            }
            out.append(figures(backend, mode, record, components, steps))
            print(
                f"  {backend}/{mode}: module built in {time.monotonic() - t:.0f} s"
                f" (makespan {out[-1].makespan:.1f} s)"
            )
        finally:
            site.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "both"],
        default="buildroot",
        help="component backend (default: the site default, buildroot)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    for tool in ("rpmbuild", "createrepo_c", "git"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (run make setup)", file=sys.stderr)
            return 2
    if "buildroot" in backends and os.geteuid() != 0:
        print("the buildroot backend needs root (use --backend rpmbuild)", file=sys.stderr)
        return 2

    root = Path(tempfile.mkdtemp(prefix="bbmod-bench-pipeline-"))
    site = Site(root)
    started = time.monotonic()
    rows: list[Figures] = []
    try:
        site.create()
        for backend in backends:
            rows += measure(site, backend)
    finally:
        site.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    sleeps = {c: float(s) for c, (s, _a) in DAG.items()}
    print()
    for line in machine():
        print(line)
    print(
        f"module: {len(DAG)} components, {max(levels_of(DAG).values()) + 1} levels,"
        f" {sum(sleeps.values()):.0f} s of sleep, critical path"
        f" {critical_path(DAG, sleeps):.0f} s of sleep; {SLOTS} slots;"
        f" total bench time {time.monotonic() - started:.0f} s"
    )
    print()
    print("\n".join(table(rows)))
    print()
    print("\n".join(overhead_table(rows)))
    print()
    print("Median seconds per Buildbot step (whole-second timestamps):")
    print("\n".join(steps_table(rows)))
    for f in rows:
        print()
        print(f"{f.backend}/{f.mode}: s after the module build began (level; started - finished)")
        for c, level, begin, end in f.timeline:
            bar = " " * round(begin * 2) + "#" * max(1, round((end - begin) * 2))
            print(f"  {c:3} L{level} {begin:6.2f} - {end:6.2f}  {bar}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
