"""Koji's repository cost on a simulated clock: the driver's Scheduler against MBS.

In Koji a component can only be built once the build tag's repository contains its
dependencies, and a repository regeneration (``newRepo``) takes a minute or more. This
script runs ``bench/simulate.py``'s simulator — the same ``core.schedule.Scheduler`` the
master's driver runs — on the same random 200-component DAGs and durations, with the
Scheduler's release delay standing for the regeneration:

* **dag, no repo cost**: the lower reference (what the local backends do);
* **dag + newRepo per release**: what ``buildbot_modules/koji`` does — components
  released together (by one finished build) share one ``newRepo``, requested at once;
  each dependency edge costs one regeneration;
* **dag + coalesced**: at most one regeneration running per build tag; everything
  released while it runs waits for the next one, which serves them all (fewer
  regenerations, each component waits up to two);
* **batches + newRepo**: MBS's batch barrier on the same slots (no concurrency cap);
* **MBS defaults**: batches (the DAG's levels), 5 concurrent builds, one regeneration
  before each batch after the first (``simulate.mbs_defaults``, with the same delay).

Run from the repository root (about 1 s)::

    .venv/bin/python bench/koji_sim.py --seed 1 --dags 5 --regen 90
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

from simulate import (  # noqa: E402  bench/simulate.py: the same simulator and DAGs
    MBS_CONCURRENT,
    make_durations,
    make_plan,
    seeds_of,
    simulate,
    table,
)

from buildbot_modules.core.plan import ComponentPlan  # noqa: E402


class PerRelease:
    """One newRepo per release event, at once; simultaneous releases share it."""

    def __init__(self, regen: float) -> None:
        self.regen = regen
        self.count = 0
        self._last: float | None = None

    def __call__(self, now: float, released: Sequence[str]) -> float:
        if now != self._last:
            self.count += 1
            self._last = now
        return self.regen


class Coalesced:
    """At most one newRepo running per tag; releases during it share the next one."""

    def __init__(self, regen: float) -> None:
        self.regen = regen
        self.count = 0
        self._running_end = float("-inf")
        self._queued_end: float | None = None

    def __call__(self, now: float, released: Sequence[str]) -> float:
        if self._queued_end is not None and now >= self._running_end:
            # the queued regeneration has started (it began when the running one ended)
            self._running_end, self._queued_end = self._queued_end, None
        if now >= self._running_end:
            self.count += 1
            self._running_end = now + self.regen
            return self.regen
        if self._queued_end is None:
            self.count += 1
            self._queued_end = self._running_end + self.regen
        return self._queued_end - now


def compare(
    plan: ComponentPlan, durations: Mapping[str, float], slots: int, regen: float
) -> dict[str, float]:
    per_release, coalesced = PerRelease(regen), Coalesced(regen)
    dag = simulate(plan, durations, slots)
    eager = simulate(plan, durations, slots, release_delay=per_release)
    shared = simulate(plan, durations, slots, release_delay=coalesced)
    mbs = simulate(
        plan,
        durations,
        slots,
        mode="batches",
        max_concurrent=MBS_CONCURRENT,
        release_delay=lambda _now, _released: regen,
    )
    batches = simulate(
        plan, durations, slots, mode="batches", release_delay=lambda _now, _released: regen
    )
    return {
        "levels": len(plan.batches()),
        "batches": batches.makespan,
        "dag": dag.makespan,
        "eager": eager.makespan,
        "eager_repos": per_release.count,
        "coalesced": shared.makespan,
        "coalesced_repos": coalesced.count,
        "mbs": mbs.makespan,
        "mbs_repos": len(plan.batches()) - 1,
    }


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=200, help="components per module")
    parser.add_argument("--slots", type=int, default=32, help="Koji builders (our side)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dags", type=int, default=5, help="random modules")
    parser.add_argument("--regen", type=float, default=90.0, help="seconds per newRepo")
    args = parser.parse_args(argv)
    rows = []
    for s in seeds_of(args.seed, args.dags):
        plan = make_plan(args.size, s)
        rows.append((s, compare(plan, make_durations(plan, s), args.slots, args.regen)))
    print(
        f"{args.size} components, {args.slots} slots, newRepo {args.regen:.0f} s;"
        f" makespan in minutes (repo regenerations); {platform.node()}, {os.cpu_count()} CPUs"
    )
    print(
        table(
            [
                "seed",
                "levels",
                "dag, no repo cost",
                "dag + newRepo per release",
                "dag + coalesced",
                "batches + newRepo",
                "MBS defaults",
                "MBS / coalesced",
            ],
            [
                [
                    str(s),
                    str(int(r["levels"])),
                    minutes(r["dag"]),
                    f"{minutes(r['eager'])} ({int(r['eager_repos'])})",
                    f"{minutes(r['coalesced'])} ({int(r['coalesced_repos'])})",
                    f"{minutes(r['batches'])} ({int(r['mbs_repos'])})",
                    f"{minutes(r['mbs'])} ({int(r['mbs_repos'])})",
                    f"{r['mbs'] / r['coalesced']:.2f}x",
                ]
                for s, r in rows
            ],
        )
    )
    ratio = statistics.median(r["mbs"] / r["eager"] for _s, r in rows)
    print(f"median MBS defaults / dag + newRepo per release: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
