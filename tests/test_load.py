"""Issue #9's load scenario, short: modules at once plus a stream of pushes on 4 workers.

``bench/soak.py`` runs it (``make soak``: 20 modules, 10 minutes of pushes, results in
docs/reliability.md "Load"); this runs the same code with 6 modules and 60 s of pushes on
a real site (``bbmod quickstart --workers 4``, a master and four worker processes,
rpmbuild, createrepo_c, dnf) and asserts every verification: all complete, no component
built twice, the registry and the published repositories agree, the master's memory
bounded. Then, on the same real data, it shows each verification fails when its
property is broken: a component build counted twice, an RPM missing from a published
build, a push no build covers, a master whose memory grows steadily.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from twisted.trial import unittest

ROOT = Path(__file__).resolve().parent.parent


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bbmod_bench_soak", ROOT / "bench/soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class Memory(unittest.TestCase):
    """The memory verdict, on sampled series: flat passes, steady growth fails."""

    def test_flat_and_growing(self) -> None:
        soak = load_soak()
        start = 1_000_000.0
        flat = [(start + 2 * n, 200.0 + (n % 3)) for n in range(300)]  # 10 min, noise only
        check, figures = soak.verify_memory(flat, start, start + 600, 0.10)
        self.assertTrue(check.ok, check.detail)
        self.assertLess(abs(figures["rss_second_half_slope_mib_per_min"]), 0.5)
        # 5 MiB a minute: +25 MiB over the second half, above 10 % of 200 MiB and 16 MiB.
        growing = [(t, 200.0 + 5 * (t - start) / 60) for t, _ in flat]
        check, figures = soak.verify_memory(growing, start, start + 600, 0.10)
        self.assertFalse(check.ok, check.detail)
        self.assertAlmostEqual(figures["rss_second_half_slope_mib_per_min"], 5.0, places=3)
        # Growth that stops by the second half (caches filling) is bounded.
        warming = [(t, min(260.0, 200.0 + 30 * (t - start) / 60)) for t, _ in flat]
        check, _ = soak.verify_memory(warming, start, start + 600, 0.10)
        self.assertTrue(check.ok, check.detail)
        check, _ = soak.verify_memory([], start, start + 600, 0.10)
        self.assertFalse(check.ok)


class Load(unittest.TestCase):
    timeout = 600

    def test_burst_and_pushes(self) -> None:
        for tool in ("rpmbuild", "createrepo_c", "git", "dnf"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        soak = load_soak()
        lines: list[str] = []
        broken: dict[str, Any] = {}

        def inspect(run: Any) -> None:
            """Break each property on the real run's data; each verification must fail."""
            # A component built twice: a second SUCCESS for a built component.
            built = next(
                b
                for b in run.bb_builds
                if b["results"] == 0 and "component" in b.get("properties", {})
            )
            twice = [*run.bb_builds, {**built, "buildid": built["buildid"] + 100_000}]
            broken["once"] = soak.verify_once(run.load, run.builds, run.components, twice)[0]
            # A push that no ready build has: a commit after every build.
            push = run.load.pushes[-1]
            key = f"{push.kind}s/{push.target}"
            run.load.history[key].append("f" * 40)
            late = replace(push, number=push.number + 1, commit="f" * 40, latency={})
            broken["complete"] = soak.verify_complete(
                run.load,
                [late],
                run.builds,
                run.monitor.ready_at,
                run.components,
                run.bb_builds,
            )
            # An RPM missing from a published build.
            path = next(b.published_path for b in run.builds if b.state == "ready")
            rpm = sorted(f for f in os.listdir(path) if f.endswith(".rpm"))[0]
            os.remove(os.path.join(path, rpm))
            broken["published"] = soak.verify_published(run.site, run.builds, run.registry)[0]
            broken["path"] = path

        options = soak.Options(modules=6, components=4, minutes=1.0, workers=4, push_every=4.0)
        results = soak.soak(options, out=lines.append, inspect=inspect)
        story = "\n".join(lines)

        # Every verification passed on the real run ...
        checks = {c["name"]: c for c in results["checks"]}
        self.assertEqual(
            set(checks),
            {"complete", "no component built twice", "registry = published", "memory bounded"},
        )
        for check in checks.values():
            self.assertTrue(check["ok"], f"{check['name']}: {check['problems']}\n{story}")
        self.assertTrue(results["ok"])
        # ... and it was a real load: the burst, pushes of both kinds, rebuilds.
        self.assertEqual(results["modules"], 6)
        self.assertGreaterEqual(results["pushes"], 14, story)
        self.assertGreaterEqual(results["push_kinds"]["rpm"], 1, story)
        self.assertGreater(results["module_builds"], 6, story)
        self.assertEqual(results["ready_builds"], results["module_builds"])
        self.assertGreaterEqual(results["components_built"], results["components"])
        self.assertEqual(len(results["burst_latency_s"]), 6)
        records = results["push_records"]
        self.assertEqual(len(records), results["pushes"])
        for record in records:
            self.assertTrue(record["expected"], record)
            self.assertEqual(sorted(record["latency"]), record["expected"], record)
            self.assertTrue(all(s > 0 for s in record["latency"].values()), record)
        self.assertEqual(len(results["push_latency_s"]), sum(len(r["expected"]) for r in records))
        self.assertGreater(results["component_builds_per_min"], 0)
        self.assertGreater(results["aggregate_rpms"], 0)
        self.assertEqual(results["aggregate_modules"], results["ready_builds"])
        self.assertGreater(results["rss"]["rss_samples"], 10)

        # Each verification fails when its property does not hold.
        self.assertFalse(broken["once"].ok)
        self.assertTrue(any("2 successful component builds" in p for p in broken["once"].problems))
        self.assertFalse(broken["complete"].ok)
        self.assertTrue(any("no ready build" in p for p in broken["complete"].problems))
        self.assertFalse(broken["published"].ok)
        self.assertTrue(
            any(broken["path"] in p for p in broken["published"].problems),
            broken["published"].problems,
        )
