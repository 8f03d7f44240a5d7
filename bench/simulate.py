"""Scheduling at scale on a simulated clock: the driver's own Scheduler, N build slots.

The master's driver (``buildbot_modules/master/driver.py``) makes no scheduling decision
of its own: it asks ``core.schedule.Scheduler`` which components to request, when, and
with which priority. This script drives that same object from a discrete-event loop
instead of Buildbot, exactly as the driver does:

* ``start(finished)`` once; request what it returns;
* when a component's build ends (its *record* step, while it still holds its worker):
  ``finished(name, "built"|"failed", now)``; request what it returns; then the worker
  frees;
* with a release delay: ``due(now)`` at every ``next_due()``; request what it returns.

A request carries ``Scheduler.priority(name)``. A free slot takes the waiting request
that Buildbot 4.3's ``BuildRequestDistributor`` would give it: the components' requests
all go to one builder, ``components``, which sets no ``nextBuild``, so
``BasicBuildChooser._getNextUnclaimedBuildRequest`` sorts the unclaimed requests by
build request id (oldest first) and then, stably, by priority, highest first: highest
priority, then oldest request. Slots stand for build workers (one build each); which
free worker is chosen does not matter here.

The synthetic module is ``bench/plan.py``'s DAG (seeded): each component waits for 0-3
components generated before it. Build durations are drawn, seeded, from a lognormal
distribution with a median of 3 min and sigma 1 (10 % of builds under 50 s, 10 % over
11 min, like the bulk of Fedora RPM builds), clipped to 30 s - 20 min. Priorities use
those exact durations, as after earlier builds of every package; the first table also
shows noisy estimates and none at all (the first build of every package: each counts 1).

Figures, all measured in the same run:

1. makespan / lower bound, where the lower bound is max(critical path, total work /
   slots): no schedule on that many slots can be shorter;
2. at 200 components and 32 slots: our dag scheduling against MBS's defaults
   (``batches`` = the DAG's levels, at most 5 concurrent builds, a 90 s repository
   regeneration before each batch after the first: the Scheduler's release delay) and
   against a pure batch barrier on the same 32 slots with no regeneration delay. Within
   the cap the simulator picks by the Scheduler's priority; MBS submits the heaviest
   components of a batch first, which is nearly the same order;
3. the cost of the simulation itself and of the Scheduler's calls in it.

Each figure covers ``--dags`` random modules (seeds ``--seed``, ``--seed`` + 1, …). Run
from the repository root (about 1 s):

    .venv/bin/python bench/simulate.py --seed 1
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # also when imported (tests/test_schedule.py)

from plan import generate_dag  # noqa: E402  bench/plan.py: the same DAG shape

from buildbot_modules.core.plan import ComponentPlan  # noqa: E402
from buildbot_modules.core.schedule import ReleaseDelay, Scheduler  # noqa: E402

MEDIAN_SECONDS = 180.0
SIGMA = 1.0
SHORTEST, LONGEST = 30.0, 1200.0
MBS_CONCURRENT = 5  # MBS's NUM_CONCURRENT_BUILDS default (MBS-wide; one module here)
MBS_REGENERATION = 90.0  # seconds: Koji's newRepo between two batches
NOISE_SIGMA = 0.5  # "noisy" estimates: the true duration times lognormal(0, 0.5)
GOAL_RATIO = 1.05
GOAL_SPEEDUP = 3.0


# -- the module ----------------------------------------------------------------------------


def make_plan(size: int, seed: int) -> ComponentPlan:
    """``bench/plan.py``'s random DAG as a component plan."""
    _names, after = generate_dag(size, seed)
    return ComponentPlan({c: tuple(a) for c, a in after.items()}, "buildafter")


def make_durations(plan: ComponentPlan, seed: int) -> dict[str, float]:
    """A build time per component: lognormal, median 3 min, clipped to 30 s - 20 min."""
    rng = random.Random(f"{seed}:durations:{len(plan.components)}")
    mu = math.log(MEDIAN_SECONDS)
    return {
        c: round(min(LONGEST, max(SHORTEST, rng.lognormvariate(mu, SIGMA))), 1)
        for c in sorted(plan.components)
    }


def estimates_of(durations: Mapping[str, float], kind: str, seed: int) -> dict[str, float]:
    """What the driver would know: ``exact`` (history), ``noisy`` or ``none`` (1 each)."""
    if kind == "exact":
        return dict(durations)
    if kind == "none":
        return {}
    rng = random.Random(f"{seed}:noise")
    return {c: d * rng.lognormvariate(0.0, NOISE_SIGMA) for c, d in sorted(durations.items())}


def critical_path(plan: ComponentPlan, durations: Mapping[str, float]) -> float:
    return sum(durations[c] for c in plan.critical_path(durations))


def lower_bound(plan: ComponentPlan, durations: Mapping[str, float], slots: int) -> float:
    """No schedule is shorter: the critical path, nor the total work spread on all slots."""
    return max(critical_path(plan, durations), sum(durations.values()) / slots)


# -- the simulator -------------------------------------------------------------------------


@dataclass
class Run:
    makespan: float
    started: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)
    scheduler_seconds: float = 0.0  # wall time inside the Scheduler (and its creation)
    wall_seconds: float = 0.0  # wall time of the whole simulation


def simulate(
    plan: ComponentPlan,
    durations: Mapping[str, float],
    slots: int,
    *,
    mode: str = "dag",
    estimates: Mapping[str, float] | None = None,
    max_concurrent: int | None = None,
    release_delay: ReleaseDelay | None = None,
    failures: Collection[str] = (),
    finished: Sequence[str] = (),
) -> Run:
    """Build ``plan`` on ``slots`` workers on a simulated clock, scheduled by the driver's
    ``Scheduler`` (``mode``, priorities from ``estimates``, default the true durations).

    ``max_concurrent`` caps the module's running builds below ``slots`` (MBS's
    NUM_CONCURRENT_BUILDS); components in ``failures`` fail at the end of their build;
    ``finished`` need no build (reused)."""
    wall = time.perf_counter()
    in_scheduler = 0.0
    t = time.perf_counter()
    scheduler = Scheduler(plan, durations if estimates is None else estimates, mode, release_delay)
    in_scheduler += time.perf_counter() - t
    cap = min(slots, max_concurrent or slots)
    waiting: list[tuple[int, int, str]] = []  # (-priority, request id, component)
    running: list[tuple[float, int, str]] = []  # (end, start order, component)
    run = Run(0.0)
    now = 0.0
    request_ids = iter(range(1, 1 << 62))

    def request(components: list[str]) -> None:
        nonlocal in_scheduler
        t = time.perf_counter()
        priorities = [scheduler.priority(c) for c in components]
        in_scheduler += time.perf_counter() - t
        for c, priority in zip(components, priorities, strict=True):
            heapq.heappush(waiting, (-priority, next(request_ids), c))

    def fill() -> None:
        while waiting and len(running) < cap:
            _priority, _id, c = heapq.heappop(waiting)
            run.started[c] = now
            heapq.heappush(running, (now + durations[c], len(run.started), c))

    t = time.perf_counter()
    first = scheduler.start(finished)
    in_scheduler += time.perf_counter() - t
    request(first)
    fill()
    while running or scheduler.next_due() is not None:
        due = scheduler.next_due()
        t = time.perf_counter()
        if running and (due is None or running[0][0] <= due):
            now, _order, c = heapq.heappop(running)
            run.ended[c] = now
            result = "failed" if c in failures else "built"
            released = scheduler.finished(c, result, now)  # at *record*: the worker is held
        else:
            assert due is not None
            now = due
            released = scheduler.due(now)
        in_scheduler += time.perf_counter() - t
        request(released)
        fill()  # the finished build's worker is free now
    run.makespan = now
    run.results = dict(scheduler.results)
    run.scheduler_seconds = in_scheduler
    run.wall_seconds = time.perf_counter() - wall
    missing = [c for c in plan.components if c not in run.results]
    if missing or waiting:
        raise RuntimeError(f"schedule stalled: {len(missing)} components never finished")
    return run


def mbs_defaults(plan: ComponentPlan, durations: Mapping[str, float], slots: int) -> Run:
    """MBS's defaults: batches = levels, 5 concurrent builds, 90 s newRepo per batch."""
    return simulate(
        plan,
        durations,
        slots,
        mode="batches",
        max_concurrent=MBS_CONCURRENT,
        release_delay=lambda _now, _released: MBS_REGENERATION,
    )


def mbs_floor(plan: ComponentPlan, durations: Mapping[str, float]) -> float:
    """No MBS-defaults run is shorter: per batch, its longest build or its work on 5
    slots, plus 90 s between batches."""
    batches = plan.batches()
    spans = [
        max(max(durations[c] for c in b), sum(durations[c] for c in b) / MBS_CONCURRENT)
        for b in batches
    ]
    return sum(spans) + MBS_REGENERATION * (len(batches) - 1)


# -- the figures ---------------------------------------------------------------------------


def seeds_of(seed: int, dags: int) -> list[int]:
    return [seed + i for i in range(dags)]


def ratios_table(
    sizes: list[int], slot_counts: list[int], seed: int, dags: int
) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        cases = []
        for s in seeds_of(seed, dags):
            plan = make_plan(size, s)
            cases.append((s, plan, make_durations(plan, s)))
        for slots in slot_counts:
            by_kind: dict[str, list[float]] = {"exact": [], "noisy": [], "none": []}
            first: dict[str, Any] = {}
            for s, plan, durations in cases:
                bound = lower_bound(plan, durations, slots)
                for kind, ratios in by_kind.items():
                    est = estimates_of(durations, kind, s)
                    run = simulate(plan, durations, slots, estimates=est)
                    ratios.append(run.makespan / bound)
                    if not first and kind == "exact":
                        first = {
                            "levels": len(plan.batches()),
                            "work_per_slot": sum(durations.values()) / slots,
                            "critical_path": critical_path(plan, durations),
                            "lower_bound": bound,
                            "makespan": run.makespan,
                        }
            rows.append(
                {
                    "components": size,
                    "slots": slots,
                    **first,
                    **{
                        f"ratio_{kind}": {"median": statistics.median(r), "max": max(r)}
                        for kind, r in by_kind.items()
                    },
                }
            )
    return rows


def mbs_table(size: int, slots: int, seed: int, dags: int) -> list[dict[str, Any]]:
    rows = []
    for s in seeds_of(seed, dags):
        plan = make_plan(size, s)
        durations = make_durations(plan, s)
        dag = simulate(plan, durations, slots)
        barrier = simulate(plan, durations, slots, mode="batches")
        mbs = mbs_defaults(plan, durations, slots)
        bound = lower_bound(plan, durations, slots)
        levels = len(plan.batches())
        rows.append(
            {
                "seed": s,
                "levels": levels,
                "work": sum(durations.values()),
                "lower_bound": bound,
                "dag": dag.makespan,
                "barrier": barrier.makespan,
                "mbs": mbs.makespan,
                "mbs_floor": mbs_floor(plan, durations),
                "work_on_mbs_slots": sum(durations.values()) / MBS_CONCURRENT,
                "mbs_regeneration": MBS_REGENERATION * (levels - 1),
                "mbs_over_dag": mbs.makespan / dag.makespan,
                "barrier_over_dag": barrier.makespan / dag.makespan,
                "ceiling": mbs.makespan / bound,
            }
        )
    return rows


def cost_table(sizes: list[int], slots: int, seed: int, repeat: int) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        plan = make_plan(size, seed)
        durations = make_durations(plan, seed)
        runs = [simulate(plan, durations, slots) for _ in range(repeat)]
        best = min(runs, key=lambda r: r.wall_seconds)
        rows.append(
            {
                "components": size,
                "slots": slots,
                "simulation_s": best.wall_seconds,
                "scheduler_s": best.scheduler_seconds,
                "scheduler_us_per_component": best.scheduler_seconds / size * 1e6,
                "simulated_makespan_s": best.makespan,
                "scheduler_share_of_makespan": best.scheduler_seconds / best.makespan,
            }
        )
    return rows


# -- output --------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for r in rows:
        out.append("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(out)


def show(figures: dict[str, Any]) -> None:
    m = figures["machine"]
    print(
        f"bench/simulate.py --seed {figures['seed']} --dags {figures['dags']}:"
        f" Python {m['python']} on {m['machine']}, {m['cpus']} CPUs; {figures['seconds']:.1f} s"
    )
    print("\n1. makespan / lower bound (max(critical path, work / slots)); first DAG's figures")
    print(f"   in seconds; ratios over {figures['dags']} DAGs (median / max), by estimates\n")
    rows = []
    for r in figures["ratios"]:
        rows.append(
            [
                f"{r['components']:,}",
                str(r["slots"]),
                str(r["levels"]),
                f"{r['critical_path']:.0f}",
                f"{r['work_per_slot']:.0f}",
                f"{r['makespan']:.0f}",
                *(
                    f"{r[f'ratio_{k}']['median']:.3f} / {r[f'ratio_{k}']['max']:.3f}"
                    for k in ("exact", "noisy", "none")
                ),
            ]
        )
    print(
        table(
            [
                "components",
                "slots",
                "levels",
                "critical path",
                "work / slots",
                "makespan",
                "ratio, exact",
                "ratio, noisy",
                "ratio, none",
            ],
            rows,
        )
    )
    mbs = figures["mbs"]
    print(
        f"\n2. {figures['mbs_size']} components, {figures['mbs_slots']} slots: dag against"
        f" MBS defaults (batches, {MBS_CONCURRENT} concurrent, {MBS_REGENERATION:.0f} s"
        " regeneration)\n   and a pure batch barrier (same slots, no delay); seconds\n"
    )
    rows = [
        [
            str(r["seed"]),
            str(r["levels"]),
            f"{r['lower_bound']:.0f}",
            f"{r['dag']:.0f}",
            f"{r['barrier']:.0f}",
            f"{r['mbs']:.0f}",
            f"{r['mbs_floor']:.0f}",
            f"{r['work_on_mbs_slots']:.0f}",
            f"{r['mbs_regeneration']:.0f}",
            f"{r['barrier_over_dag']:.2f}",
            f"{r['mbs_over_dag']:.2f}",
            f"{r['ceiling']:.2f}",
        ]
        for r in mbs
    ]
    print(
        table(
            [
                "seed",
                "levels",
                "lower bound",
                "dag",
                "barrier",
                "MBS",
                "MBS floor",
                "work / 5",
                "newRepo",
                "barrier / dag",
                "MBS / dag",
                "MBS / LB",
            ],
            rows,
        )
    )
    speedups = [r["mbs_over_dag"] for r in mbs]
    print(
        f"\n   MBS / dag: median {statistics.median(speedups):.2f}, min {min(speedups):.2f}"
        f" (goal >= {GOAL_SPEEDUP}); barrier / dag: median"
        f" {statistics.median(r['barrier_over_dag'] for r in mbs):.2f}"
    )
    print("\n3. cost of the simulation (best of 3), dag\n")
    rows = [
        [
            f"{r['components']:,}",
            str(r["slots"]),
            f"{r['simulation_s'] * 1000:.1f}",
            f"{r['scheduler_s'] * 1000:.1f}",
            f"{r['scheduler_us_per_component']:.1f}",
            f"{r['simulated_makespan_s']:.0f}",
        ]
        for r in figures["cost"]
    ]
    print(
        table(
            [
                "components",
                "slots",
                "simulation ms",
                "in Scheduler ms",
                "Scheduler µs / component",
                "simulated makespan s",
            ],
            rows,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dags", type=int, default=10, help="random DAGs per figure")
    parser.add_argument("--sizes", default="50,200,1000", help="components, for figure 1")
    parser.add_argument("--slots", default="8,32,128", help="slot counts, for figure 1")
    parser.add_argument("--cost-sizes", default="200,1000,5000", help="for figure 3")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    slot_counts = [int(x) for x in args.slots.split(",")]
    started = time.perf_counter()
    figures: dict[str, Any] = {
        "seed": args.seed,
        "dags": args.dags,
        "machine": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "ratios": ratios_table(sizes, slot_counts, args.seed, args.dags),
        "mbs_size": 200,
        "mbs_slots": 32,
        "mbs": mbs_table(200, 32, args.seed, args.dags),
        "cost": cost_table([int(x) for x in args.cost_sizes.split(",")], 32, args.seed, 3),
    }
    figures["seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        show(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
