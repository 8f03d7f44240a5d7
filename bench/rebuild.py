"""Benchmark a one-leaf change: rebuild a 100-component module with component reuse.

A real site as ``bench/scale.py`` makes one (4 build workers, backend ``rpmbuild``,
dist-git polled every second, the default checks, ``rebuild_strategy =
"changed-and-after"``). The module is ``scale.py``'s seeded DAG of 100 components whose
``%build`` sleeps 0.2-2.0 s.

1. Full build: push the module, wait until it is ready.
2. Change one leaf (a component no other builds after): a new commit of its spec in
   ``rpms/<package>`` (one comment line added), pushed to the dist-git. The module build
   it tracks is requested by the poller (forced with the "Build module" scheduler if no
   build came within 30 s). Wait until it is ready.

Figures, for each build: components rebuilt (registry state ``built``, not ``reused``);
the component-build phase = the last rebuilt component's ``finished_at`` (its *record*
step) - the module build's ``started_at`` (the driver began; reuse was decided by the
plan step before it), in the registry; the Buildbot steps *compose*, *publish*, the
checks (every ``check …`` step together) and the gates, from Buildbot's data API
(whole seconds).

    .venv/bin/python bench/rebuild.py            # 100 components
    .venv/bin/python bench/rebuild.py --quick    # 30
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import SPEC, run, seconds, wait_for
from results import Figure, machine, write
from scale import PREFIX, Dag, ScaleSite, generate, push

from buildbot_modules.registry import ComponentRecord, ModuleBuildRecord

BIN = Path(sys.executable).parent
MODULE = "rebuild"


def phases(
    site: ScaleSite, record: ModuleBuildRecord, comps: dict[str, ComponentRecord]
) -> dict[str, Any]:
    start = record.started_at
    assert start is not None
    built = [r for r in comps.values() if r.state == "built"]
    end = max((seconds(r.finished_at, start) for r in built), default=0.0)
    # Module builds run under a virtual builder per stream, and component builds carry the
    # module's name too: the newest complete build of MODULE with a compose step.
    builds = site.api("builds?order=-buildid&limit=500&property=module")["builds"]
    found: list[dict[str, Any]] = []
    for build in builds:
        if build["complete"] and build["properties"].get("module", [""])[0] == MODULE:
            found = site.api(f"builds/{build['buildid']}/steps")["steps"]
            if any(step["name"] == "compose" for step in found):
                break
    spans: dict[str, tuple[int, int]] = {}  # group of steps -> (first start, last end)
    for step in found:
        if step["started_at"] is None or step["complete_at"] is None:
            continue
        name = str(step["name"])
        key = "checks" if name.startswith("check") else "gates" if name.startswith("gate") else name
        first, last = spans.get(key, (step["started_at"], step["complete_at"]))
        spans[key] = (min(first, step["started_at"]), max(last, step["complete_at"]))
    steps = {k: float(b - a) for k, a, b in ((k, *v) for k, v in spans.items())}
    # compose, precisely: the last component recorded -> the module build marked done
    # (the end of the compose step), in the registry.
    steps["compose (registry)"] = seconds(record.finished_at, start) - end
    return {
        "rebuilt": len(built),
        "reused": sum(1 for r in comps.values() if r.state == "reused"),
        "components": end,
        "steps": steps,
    }


def leaf_of(dag: Dag) -> str:
    """The leaf with the longest sleep (so its rebuild is not the cheapest case)."""
    needed = {a for _s, after in dag.values() for a in after}
    leaves = [c for c in dag if c not in needed]
    return max(leaves, key=lambda c: (dag[c][0], c))


def change_leaf(site: ScaleSite, leaf: str, sleep: float) -> None:
    name = f"{PREFIX}{leaf}"
    source = Path(tempfile.mkdtemp(dir=site.root, prefix="change-"))
    folder = source / "rpms" / name
    folder.mkdir(parents=True)
    text = SPEC.format(name=name, sleep=sleep) + "# changed by bench/rebuild.py\n"
    (folder / f"{name}.spec").write_text(text, encoding="utf-8")
    run(str(BIN / "bbmod"), "distgit", "import", str(site.distgit), str(source))
    shutil.rmtree(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 components")
    parser.add_argument("--size", type=int, help="components (default 100)")
    parser.add_argument("--workers", type=int, default=4, help="build workers (4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the headline figures here (run_all.py)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    size = args.size or (30 if args.quick else 100)
    for tool in ("rpmbuild", "createrepo_c", "git"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (run make setup)", file=sys.stderr)
            return 2
    dag = generate(size, args.seed, "r")
    leaf = leaf_of(dag)
    root = Path(tempfile.mkdtemp(prefix="bbmod-bench-rebuild-"))
    site = ScaleSite(root, slots=args.workers)
    began = time.monotonic()
    try:
        site.create()
        site.configure(backend="rpmbuild", rebuild_strategy="changed-and-after")
        site.start()
        push(site, MODULE, dag)
        full_record, full_comps = site.wait_module(MODULE, 1, 1800)
        if full_record.state != "ready":
            raise RuntimeError(f"full build {full_record.state}: {full_record.state_reason}")
        full = phases(site, full_record, full_comps)
        print(f"  full build: {full['rebuilt']} components in {full['components']:.1f} s")
        change_leaf(site, leaf, dag[leaf][0])
        registry = site.registry()
        try:
            wait_for(lambda: len(registry.module_builds(name=MODULE)) >= 2, "a tracked rebuild", 30)
        except RuntimeError:
            print("  no build requested by the rpm push within 30 s: forcing one")
            site.force("bbmod-rebuild", "modules", module=MODULE, stream="main")
        again_record, again_comps = site.wait_module(MODULE, 2, 1800)
        if again_record.state != "ready":
            raise RuntimeError(f"rebuild {again_record.state}: {again_record.state_reason}")
        again = phases(site, again_record, again_comps)
        rebuilt = sorted(c for c, r in again_comps.items() if r.state == "built")
        print(f"  rebuild: {again['rebuilt']} rebuilt ({', '.join(rebuilt)})")
    finally:
        site.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    ratio = again["components"] / full["components"]
    print()
    print(machine())
    print(
        f"{size} components, {args.workers} build workers, backend rpmbuild, seed {args.seed},"
        f" changed leaf {PREFIX}{leaf}; total bench time {time.monotonic() - began:.0f} s;"
        f" {datetime.now():%Y-%m-%d %H:%M}"
    )
    names = ["compose (registry)", "compose", "publish", "checks", "gates"]
    print("| build | rebuilt | reused | component phase s | " + " | ".join(names) + " s |")
    print("|---|---:|---:|---:|" + "---:|" * len(names))
    for label, f in (("full", full), ("one leaf changed", again)):
        cells = [f"{f['steps'].get(n, 0.0):.{1 if '(' in n else 0}f}" for n in names]
        print(
            f"| {label} | {f['rebuilt']} | {f['reused']} | {f['components']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    print(f"component phase, rebuild / full: {ratio:.1%} (goal <= 10 %)")
    steps_note = ", ".join(
        f"{n} {full['steps'].get(n, 0.0):.0f}/{again['steps'].get(n, 0.0):.0f} s" for n in names
    )
    write(
        args.json,
        "rebuild",
        [
            Figure(
                f"one-leaf change in {size} components: components rebuilt",
                str(again["rebuilt"]),
                "1",
                again["rebuilt"] == 1,
            ),
            Figure(
                "one-leaf change: component phase, rebuild / full",
                f"{ratio:.1%} ({again['components']:.1f} s / {full['components']:.1f} s)",
                "<= 10 %",
                ratio <= 0.10,
                note=f"full/rebuild: {steps_note}",
            ),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
