"""Benchmark the real pipeline at scale: makespan against its lower bound, per-component
orchestration overhead, and orchestration capacity against bare Buildbot.

A real site as ``bench/pipeline.py`` makes one (``bbmod distgit init``, ``bbmod
quickstart``, ``buildbot start``, ``buildbot-worker start``) with ``--workers`` build
workers (default 4) on this machine, dist-git polled every second, the module checks off
(``checks = []``: they come after the figures measured here).

1. **Makespan / lower bound.** Synthetic modules of 50 and 200 components (seeded: each
   component builds after 0-3 random earlier ones; its ``%build`` sleeps 0.2-2.0 s) built
   with the ``--backend`` (default ``rpmbuild``: plain ``rpmbuild -ba`` on the worker).
   makespan = last component recorded built - driver start (module state ``build``);
   LB = max(critical path, total sleep / workers), from the set sleeps only. The
   measured fixed cost per component (its measured duration - its sleep) is reported
   beside it, and LB+fixed (the same bound with every sleep + the median fixed cost).
2. **Orchestration overhead per component**, from the same builds (registry times:
   ``started_at`` = the *prepare sources* step, the first of its build, marked it
   building; ``finished_at`` = the *record* step, the last, marked it built):
   *ready -> start*: started_at - the last of its dependencies' finished_at, for the
   components with dependencies that had a worker free during the whole wait (fewer than
   ``workers`` other builds in progress in it); *hand-over*: on one worker, started_at
   of a build - finished_at of the previous build on that worker, when the next
   component was already ready then. *overhead* is both together.
3. **Capacity.** After a restart with ``backend = "noop"`` (no rpmbuild: the component
   build's other steps all run), a module of N independent components, against bare
   Buildbot in the same master on the same workers: a ``Trigger`` step fanning out N
   builds of a builder with one ``ShellCommand`` ``true``. Builds per minute = N /
   (last build's end - first build's start), both from Buildbot's data API (whole
   seconds). The master's CPU seconds and RSS over each run are from ``/proc``. The
   three runs are repeated ``--rounds`` times (2), interleaved, and the fastest of each
   kind is kept.

Run from the repository root:

    .venv/bin/python bench/scale.py            # 50 and 200 components, capacity 100
    .venv/bin/python bench/scale.py --quick    # 30 components, capacity 40
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from pipeline import Site, levels_of, markdown, seconds, wait_for
from results import Figure, machine, proc_cpu_rss, spread, write

from buildbot_modules.registry import ComponentRecord, ModuleBuildRecord

Dag = dict[str, tuple[float, tuple[str, ...]]]

BARE_CFG = """
# Added by bench/scale.py: bare Buildbot, the references for orchestration capacity.
import tarfile as _tarfile

from buildbot.plugins import schedulers as _schedulers, steps as _steps, util as _util
from buildbot.plugins import worker as _worker
from buildbot.steps.trigger import Trigger as _Trigger


class _FanOut(_Trigger):
    # One Trigger step requesting `count` builds of the builder `target` at once.
    def getSchedulersAndProperties(self):
        return [
            {{"sched_name": self.getProperty("target"), "props_to_set": {{"n": n}},
              "unimportant": False}}
            for n in range(int(self.getProperty("count")))
        ]


_tar = os.path.join(basedir, "bench-sources.tar")
with _tarfile.open(_tar, "w") as _t:
    _t.add(os.path.join(basedir, "master.cfg"), arcname="x.spec")
# The worker-side steps of a component build (components.py) without its master steps.
_like_components = _util.BuildFactory([
    _steps.RemoveDirectory(dir="build", name="clean"),
    _steps.FileDownload(name="download sources", mastersrc=_tar, workerdest="sources.tar"),
    _steps.ShellSequence(name="unpack", commands=[
        _util.ShellArg(command=["mkdir", "-p", "src", "results"], logname="mkdir"),
        _util.ShellArg(command=["tar", "-xf", "sources.tar", "-C", "src"], logname="tar"),
    ]),
    _steps.DirectoryUpload(
        name="upload RPMs",
        workersrc="results",
        masterdest=_util.Interpolate(os.path.join(basedir, "bench-up", "%(prop:buildnumber)s")),
    ),
])
_true = _util.BuildFactory([_steps.ShellCommand(name="true", command=["true"], logEnviron=False)])
c["workers"] = [_worker.LocalWorker("bench-fanout")]
c["builders"] = [
    _util.BuilderConfig(
        name="bench-bare", workernames={workers!r}, factory=_true, collapseRequests=False
    ),
    _util.BuilderConfig(
        name="bench-bare-steps",
        workernames={workers!r},
        factory=_like_components,
        collapseRequests=False,
    ),
    _util.BuilderConfig(
        name="bench-fanout",
        workernames=["bench-fanout"],
        factory=_util.BuildFactory(
            [_FanOut(name="fan out", schedulerNames=["bench-bare", "bench-bare-steps"],
                     waitForFinish=True)]
        ),
    ),
]
c["schedulers"] = [
    _schedulers.Triggerable(name="bench-bare", builderNames=["bench-bare"]),
    _schedulers.Triggerable(name="bench-bare-steps", builderNames=["bench-bare-steps"]),
    _schedulers.ForceScheduler(
        name="bench-fanout",
        builderNames=["bench-fanout"],
        codebases=[_util.CodebaseParameter(codebase="", hide=True)],
        properties=[
            _util.StringParameter(name="count", default="10"),
            _util.StringParameter(name="target", default="bench-bare"),
        ],
    ),
]
"""


def generate(size: int, seed: int, prefix: str) -> Dag:
    """A seeded DAG: each component builds after 0-3 random earlier ones and sleeps
    0.2-2.0 s (tenths)."""
    rng = random.Random(f"{seed}:{size}")
    names = [f"{prefix}{n:03d}" for n in range(size)]
    dag: Dag = {}
    for i, name in enumerate(names):
        after = sorted(names[j] for j in rng.sample(range(i), min(i, rng.randint(0, 3))))
        dag[name] = (round(rng.uniform(0.2, 2.0), 1), tuple(after))
    return dag


def critical(dag: Dag, work: dict[str, float]) -> float:
    finish: dict[str, float] = {}
    for c in sorted(dag, key=levels_of(dag).__getitem__):  # type: ignore[arg-type]
        finish[c] = work[c] + max((finish[a] for a in dag[c][1]), default=0.0)
    return max(finish.values())


def lower_bound(dag: Dag, work: dict[str, float], workers: int) -> float:
    return max(critical(dag, work), sum(work.values()) / workers)


class ScaleSite(Site):
    """pipeline.py's site, with module names free of its prefix scheme."""

    def add_bare(self) -> None:
        names = [f"worker{n}" for n in range(1, self.slots + 1)]
        with (self.master / "master.cfg").open("a", encoding="utf-8") as f:
            f.write(BARE_CFG.format(workers=names))

    def master_pid(self) -> int:
        return int((self.master / "twistd.pid").read_text().strip())

    def builder_id(self, name: str) -> int:
        builders = self.api("builders")["builders"]
        return int(next(b["builderid"] for b in builders if b["name"] == name))

    def force(self, scheduler: str, builder: str, **form: str) -> None:
        url = f"http://127.0.0.1:{self.port}/api/v2/forceschedulers/{scheduler}"
        body = {
            "jsonrpc": "2.0",
            "method": "force",
            "id": 1,
            "params": {"builderid": self.builder_id(builder), **form},
        }
        answer = requests.post(url, json=body, timeout=30)
        if answer.status_code != 200 or "error" in answer.json():
            raise RuntimeError(f"force {scheduler}: {answer.status_code} {answer.text[:300]}")

    def builds_of(self, builder: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api(f"builds?builderid={self.builder_id(builder)}")[
            "builds"
        ]
        return found

    def check_not_failed(self, module: str) -> None:
        """Raise if the newest build of ``module`` failed before the registry knew it
        (fetch, load or resolve): waiting for the registry would never end."""
        builds = self.api("builds?order=-buildid&limit=20&property=module")["builds"]
        for build in builds:
            if build["properties"].get("module", [""])[0] != module:
                continue
            if build["complete"] and build["results"] not in (0, 1):
                raise RuntimeError(f"module build of {module} failed: {build['state_string']}")
            return

    def wait_module(
        self, module: str, count: int, seconds_: float
    ) -> tuple[ModuleBuildRecord, dict[str, ComponentRecord]]:
        """Wait for the ``count``-th build of ``module`` to finish (ready or failed)."""
        registry = self.registry()

        def done() -> ModuleBuildRecord | None:
            builds = registry.module_builds(name=module)
            if len(builds) >= count and builds[0].state in ("ready", "failed"):
                return builds[0]
            return None

        def done_or_failed() -> ModuleBuildRecord | None:
            record = done()
            if record is None:
                self.check_not_failed(module)
            return record

        try:
            record: ModuleBuildRecord = wait_for(
                done_or_failed, f"module {module} to finish", seconds_
            )
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.master_log()}") from None
        components = {c.name.removeprefix(PREFIX): c for c in registry.components(record.id)}
        return record, components


PREFIX = "b-"  # pipeline.py's push names the packages <prefix>-<name>


def push(site: Site, module: str, dag: Dag) -> None:
    site.push(module, PREFIX[:-1], dag)  # type: ignore[arg-type]


# -- figures 1 and 2 -----------------------------------------------------------------------


def dag_figures(
    site: ScaleSite,
    dag: Dag,
    record: ModuleBuildRecord,
    comps: dict[str, ComponentRecord],
) -> dict[str, Any]:
    workers = site.slots
    start = record.started_at
    assert start is not None
    t = {c: (seconds(r.started_at, start), seconds(r.finished_at, start)) for c, r in comps.items()}
    sleep = {c: s for c, (s, _a) in dag.items()}
    work = {c: t[c][1] - t[c][0] for c in dag}
    fixed = [work[c] - sleep[c] for c in dag]
    fixed_median = statistics.median(fixed)
    makespan = max(f for _s, f in t.values())
    lb = lower_bound(dag, sleep, workers)
    lb_fixed = lower_bound(dag, {c: s + fixed_median for c, s in sleep.items()}, workers)
    ready_gaps: list[float] = []
    for c, (_s, after) in dag.items():
        if not after:
            continue
        ready = max(t[a][1] for a in after)
        started = t[c][0]
        others = sum(1 for d in dag if d != c and t[d][0] < started and t[d][1] > ready)
        if others < workers:
            ready_gaps.append(started - ready)
    # Which worker ran each build: Buildbot's data API.
    on_worker: dict[int, list[str]] = {}
    for c, r in comps.items():
        build = site.api(f"builds/{r.buildbot_build_id}")["builds"][0]
        on_worker.setdefault(int(build["workerid"]), []).append(c)
    handovers: list[float] = []
    for names in on_worker.values():
        names.sort(key=lambda c: t[c][0])
        for prev, nxt in itertools.pairwise(names):
            ready = max((t[a][1] for a in dag[nxt][1]), default=0.0)
            if ready < t[prev][1]:
                handovers.append(t[nxt][0] - t[prev][1])
    return {
        "components": len(dag),
        "levels": max(levels_of(dag).values()) + 1,  # type: ignore[arg-type]
        "makespan": makespan,
        "lb": lb,
        "critical": critical(dag, sleep),
        "sleep": sum(sleep.values()),
        "lb_fixed": lb_fixed,
        "fixed": fixed,
        "ready_gaps": ready_gaps,
        "handovers": handovers,
        "first_start": min(s for s, _f in t.values()),
    }


# -- figure 3 ------------------------------------------------------------------------------


def span(builds: list[dict[str, Any]]) -> float:
    return float(max(b["complete_at"] for b in builds) - min(b["started_at"] for b in builds))


def capacity_bare(site: ScaleSite, count: int, target: str = "bench-bare") -> dict[str, Any]:
    pid = site.master_pid()
    before = {b["buildid"] for b in site.builds_of(target)}
    cpu0, _rss, _hwm = proc_cpu_rss(pid)
    t0 = time.monotonic()
    site.force("bench-fanout", "bench-fanout", count=str(count), target=target)

    def finished() -> list[dict[str, Any]] | None:
        new = [b for b in site.builds_of(target) if b["buildid"] not in before]
        return new if len(new) >= count and all(b["complete"] for b in new) else None

    builds: list[dict[str, Any]] = wait_for(finished, f"{count} builds of {target}", 600)
    wall = time.monotonic() - t0
    cpu1, rss, hwm = proc_cpu_rss(pid)
    failed = sum(1 for b in builds if b["results"] != 0)
    if failed:
        raise RuntimeError(f"{failed} of the bare builds failed")
    return {"span": span(builds), "wall": wall, "cpu": cpu1 - cpu0, "rss": rss, "hwm": hwm}


def capacity_ours(site: ScaleSite, count: int, module: str) -> dict[str, Any]:
    pid = site.master_pid()
    dag: Dag = {f"n{n:03d}": (0.0, ()) for n in range(count)}
    cpu0, _rss, _hwm = proc_cpu_rss(pid)
    t0 = time.monotonic()
    push(site, module, dag)
    record, comps = site.wait_module(module, 1, 900)
    wall = time.monotonic() - t0
    cpu1, rss, hwm = proc_cpu_rss(pid)
    not_built = [c for c, r in comps.items() if r.state != "built"]
    if not_built:
        raise RuntimeError(f"capacity: {len(not_built)} components not built ({record.state})")
    builds = [site.api(f"builds/{r.buildbot_build_id}")["builds"][0] for r in comps.values()]
    start = record.started_at
    assert start is not None
    precise = max(seconds(r.finished_at, start) for r in comps.values())
    return {
        "span": span(builds),
        "registry_span": precise,
        "wall": wall,
        "cpu": cpu1 - cpu0,
        "rss": rss,
        "hwm": hwm,
        "state": record.state,
    }


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 components, capacity 40")
    parser.add_argument("--workers", type=int, default=4, help="build workers (4)")
    parser.add_argument("--backend", choices=("rpmbuild", "buildroot"), default="rpmbuild")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", help="comma-separated module sizes (default 50,200)")
    parser.add_argument("--capacity", type=int, help="no-op components (default 100)")
    parser.add_argument("--rounds", type=int, default=2, help="capacity rounds; best kept (2)")
    parser.add_argument("--json", help="write the headline figures here (run_all.py)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ("30" if args.quick else "50,200")).split(",")]
    count = args.capacity or (40 if args.quick else 100)
    for tool in ("rpmbuild", "createrepo_c", "git"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (run make setup)", file=sys.stderr)
            return 2
    if args.backend == "buildroot" and os.geteuid() != 0:
        print("the buildroot backend needs root (use --backend rpmbuild)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="bbmod-bench-scale-"))
    site = ScaleSite(root, slots=args.workers)
    began = time.monotonic()
    runs: list[dict[str, Any]] = []
    try:
        site.create()
        site.add_bare()
        site.configure(backend=args.backend)
        with (site.master / "settings.toml").open("a", encoding="utf-8") as f:
            f.write("checks = []\n")
        site.start()
        push(site, "warmup", {f"w{n}": (0.0, ()) for n in range(args.workers)})
        site.wait_module("warmup", 1, 300)
        for size in sizes:
            dag = generate(size, args.seed, f"d{size}-")
            t = time.monotonic()
            push(site, f"dag{size}", dag)
            record, comps = site.wait_module(f"dag{size}", 1, 1800)
            if record.state != "ready":
                raise RuntimeError(f"dag{size} {record.state}: {record.state_reason}")
            runs.append(dag_figures(site, dag, record, comps))
            print(f"  {size} components: module built in {time.monotonic() - t:.0f} s")
        site.stop()
        site.configure(backend="noop")
        site.start()
        capacity_bare(site, max(4, count // 10))  # warm-up of the bare path
        # Interleaved rounds, the fastest of each kept: the machine's load drifts.
        bare = like = ours = {"span": float("inf")}
        for round_ in range(1, args.rounds + 1):
            new = capacity_bare(site, count)
            print(f"  round {round_}: bare Buildbot, {count} builds in {new['span']:.0f} s")
            bare = min(bare, new, key=lambda r: r["span"])
            new = capacity_bare(site, count, "bench-bare-steps")
            print(f"  round {round_}: bare Buildbot, worker steps: {new['span']:.0f} s")
            like = min(like, new, key=lambda r: r["span"])
            new = capacity_ours(site, count, f"capacity{round_}")
            print(f"  round {round_}: ours (noop backend): {new['span']:.0f} s")
            ours = min(ours, new, key=lambda r: r["span"])
    finally:
        site.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    total = time.monotonic() - began
    print()
    print(machine())
    print(
        f"{args.workers} build workers on this machine, backend {args.backend}, seed"
        f" {args.seed}; total bench time {total:.0f} s; {datetime.now():%Y-%m-%d %H:%M}"
    )
    print()
    print("Makespan against the lower bound (sleeps only) and the fixed cost per component:")
    print(
        "\n".join(
            markdown(
                [
                    "components",
                    "levels",
                    "sleep s",
                    "critical path s",
                    "LB s",
                    "makespan s",
                    "makespan / LB",
                    "fixed cost s (median / p95)",
                    "LB+fixed s",
                    "makespan / LB+fixed",
                ],
                [
                    [
                        str(r["components"]),
                        str(r["levels"]),
                        f"{r['sleep']:.1f}",
                        f"{r['critical']:.1f}",
                        f"{r['lb']:.1f}",
                        f"{r['makespan']:.1f}",
                        f"{r['makespan'] / r['lb']:.2f}",
                        spread(r["fixed"]),
                        f"{r['lb_fixed']:.1f}",
                        f"{r['makespan'] / r['lb_fixed']:.2f}",
                    ]
                    for r in runs
                ],
            )
        )
    )
    print()
    print("Orchestration overhead per component, ms (n; median / p95):")
    overhead_rows = []
    for r in runs:
        both = r["ready_gaps"] + r["handovers"]
        overhead_rows.append(
            [
                str(r["components"]),
                f"{len(r['ready_gaps'])}; {spread(r['ready_gaps'], 1000, 0)}",
                f"{len(r['handovers'])}; {spread(r['handovers'], 1000, 0)}",
                f"{len(both)}; {spread(both, 1000, 0)}",
                f"{r['first_start'] * 1000:.0f}",
            ]
        )
    print(
        "\n".join(
            markdown(
                ["components", "ready -> start", "hand-over", "overhead (both)", "first start"],
                overhead_rows,
            )
        )
    )
    print()
    ratio = (count / ours["span"]) / (count / bare["span"])
    print(f"Capacity: {count} component builds, {args.workers} workers:")
    labelled = [
        ("bare Buildbot: Trigger fan-out, one ShellCommand true", bare),
        ("bare Buildbot: the component build's worker steps, no master steps", like),
        ("ours: noop backend, a module of independent components", ours),
    ]
    print(
        "\n".join(
            markdown(
                [
                    "run",
                    "span s",
                    "builds / min",
                    "worker s per build",
                    "master CPU s",
                    "master RSS MiB (now / peak)",
                ],
                [
                    [
                        label,
                        f"{r['span']:.0f}",
                        f"{60 * count / r['span']:.0f}",
                        f"{r['span'] * args.workers / count:.2f}",
                        f"{r['cpu']:.1f}",
                        f"{r['rss']:.0f} / {r['hwm']:.0f}",
                    ]
                    for label, r in labelled
                ],
            )
        )
    )
    print(
        f"ours / bare: {ratio:.0%} (goal >= 80 %); ours from the registry (driver start ->"
        f" last record): {ours['registry_span']:.1f} s; module build {ours['state']};"
        f" master CPU per build: bare {1000 * bare['cpu'] / count:.0f} ms,"
        f" ours {1000 * ours['cpu'] / count:.0f} ms (ours includes the module build's"
        " own steps)"
    )
    figures: list[Figure] = []
    for r in runs:
        n = r["components"]
        figures.append(
            Figure(
                f"makespan / LB, {n} components, {args.workers} workers",
                f"{r['makespan'] / r['lb']:.2f} ({r['makespan']:.1f} s / {r['lb']:.1f} s)",
                note=f"fixed cost/component {spread(r['fixed'])} s;"
                f" makespan / LB+fixed {r['makespan'] / r['lb_fixed']:.2f}",
            )
        )
    both = [v for r in runs for v in r["ready_gaps"] + r["handovers"]]
    figures.append(
        Figure(
            "orchestration overhead per component, median / p95",
            f"{spread(both, 1000, 0)} ms (n={len(both)})",
            "median <= 100 ms",
            statistics.median(both) <= 0.1 if both else None,
        )
    )
    figures.append(
        Figure(
            "capacity: builds/min ours (noop) vs bare Trigger",
            f"{ratio:.0%} ({60 * count / ours['span']:.0f} vs {60 * count / bare['span']:.0f}/min)",
            ">= 80 %",
            ratio >= 0.8,
            note=f"master CPU {ours['cpu']:.1f} s vs {bare['cpu']:.1f} s;"
            f" RSS peak {ours['hwm']:.0f} MiB; bare with the component build's worker"
            f" steps: {60 * count / like['span']:.0f}/min",
        )
    )
    write(args.json, "scale", figures, json.dumps({"runs": len(runs)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
