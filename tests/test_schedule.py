"""The core Scheduler (core/schedule.py): every scheduling decision of the driver, and the
simulator (bench/simulate.py) that runs it on a simulated clock, against makespans
computed by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from twisted.trial import unittest

from buildbot_modules.core.plan import ComponentPlan
from buildbot_modules.core.schedule import Scheduler, remaining_paths

ROOT = Path(__file__).resolve().parent.parent


def plan(**after: tuple[str, ...]) -> ComponentPlan:
    return ComponentPlan(dict(after), "buildafter")


def load_simulator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bbmod_bench_simulate", ROOT / "bench/simulate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# a and b at level 0 (b is long); c waits for a, d for b.
TWO_LEVELS = {"a": (), "b": (), "c": ("a",), "d": ("b",)}


class Release(unittest.TestCase):
    def test_dag_releases_a_component_when_its_own_dependencies_are_built(self) -> None:
        s = Scheduler(plan(**TWO_LEVELS), mode="dag")
        self.assertEqual(s.start(), ["a", "b"])
        self.assertEqual(s.finished("a", "built"), ["c"])  # b still runs
        self.assertEqual(s.finished("c", "built"), [])
        self.assertEqual(s.finished("b", "built"), ["d"])
        self.assertEqual(s.batch_count, 1)

    def test_batches_hold_a_level_until_the_lower_one_has_results(self) -> None:
        s = Scheduler(plan(**TWO_LEVELS), mode="batches")
        self.assertEqual(s.start(), ["a", "b"])
        self.assertEqual(s.finished("a", "built"), [])  # c waits for b, not its dependency
        self.assertEqual((s.batch, s.batch_count), (0, 2))
        self.assertEqual(s.finished("b", "built"), ["c", "d"])
        self.assertEqual(s.batch, 1)

    def test_unknown_mode_is_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "scheduling mode 'waves': unknown"):
            Scheduler(plan(a=()), mode="waves")


class Priorities(unittest.TestCase):
    def test_priority_is_the_remaining_path_in_hundredths(self) -> None:
        # a -> b -> c is the long chain in components; d is alone but long.
        p = plan(a=(), b=("a",), c=("b",), d=(), e=("a",))
        durations = {"a": 2.0, "b": 3.0, "c": 4.5, "d": 10.0, "e": 1.0}
        self.assertEqual(
            remaining_paths(p, durations), {"a": 9.5, "b": 7.5, "c": 4.5, "d": 10.0, "e": 1.0}
        )
        s = Scheduler(p, durations)
        self.assertEqual(s.priority("a"), 950)
        self.assertEqual(s.priority("d"), 1000)
        self.assertGreater(s.priority("d"), s.priority("a"))
        # No history: every component counts 1, the priority is the chain's length.
        s = Scheduler(p)
        self.assertEqual([s.priority(c) for c in "abcde"], [300, 200, 100, 100, 100])


class Failure(unittest.TestCase):
    def test_a_failure_blocks_only_what_depends_on_it(self) -> None:
        s = Scheduler(plan(a=(), b=("a",), c=("b",), d=(), e=("d",)))
        self.assertEqual(s.start(), ["a", "d"])
        self.assertEqual(s.finished("a", "failed"), [])
        self.assertEqual(s.blocked_by("a"), ["b", "c"])
        self.assertEqual(s.results["c"], "dependency-failed")
        self.assertEqual(s.finished("d", "built"), ["e"])
        self.assertNotIn("e", s.results)

    def test_an_earlier_failure_keeps_what_it_blocked(self) -> None:
        s = Scheduler(plan(a=(), b=(), c=("a", "b")))
        s.start()
        s.finished("a", "failed")
        s.finished("b", "failed")
        self.assertEqual((s.blocked_by("a"), s.blocked_by("b")), (["c"], []))

    def test_a_failed_component_has_a_result_the_next_batch_opens(self) -> None:
        # a fails; b depended on it, f did not: f starts, b never does.
        s = Scheduler(plan(a=(), e=(), b=("a",), f=("e",)), mode="batches")
        self.assertEqual(s.start(), ["a", "e"])
        self.assertEqual(s.finished("e", "built"), [])
        self.assertEqual(s.finished("a", "failed"), ["f"])
        self.assertEqual(s.results["b"], "dependency-failed")

    def test_stop_releases_nothing_more(self) -> None:
        s = Scheduler(plan(**TWO_LEVELS))
        s.start()
        s.stop()
        self.assertEqual(s.finished("a", "cancelled"), [])
        self.assertEqual(s.finished("b", "built"), [])


class AlreadyFinished(unittest.TestCase):
    def test_finished_at_start_are_never_requested(self) -> None:
        # a reused: c is requestable at once. d reused though its dependency b is
        # rebuilt (MBS's only-changed): b's build does not request it again.
        s = Scheduler(plan(**TWO_LEVELS))
        self.assertEqual(s.start(["a", "d"]), ["b", "c"])
        self.assertEqual(s.finished("b", "built"), [])
        self.assertEqual(s.results["a"], "finished")

    def test_batches_count_them_as_results(self) -> None:
        s = Scheduler(plan(**TWO_LEVELS), mode="batches")
        self.assertEqual(s.start(["a", "b"]), ["c", "d"])
        self.assertEqual(s.batch, 1)


class ReleaseDelay(unittest.TestCase):
    def test_released_components_wait_for_the_delay(self) -> None:
        calls: list[tuple[float, list[str]]] = []

        def regeneration(now: float, released: Any) -> float:
            calls.append((now, list(released)))
            return 90.0

        s = Scheduler(plan(**TWO_LEVELS), mode="batches", release_delay=regeneration)
        self.assertEqual(s.start(), ["a", "b"])  # the first batch does not wait
        self.assertIsNone(s.next_due())
        self.assertEqual(s.finished("a", "built", now=10.0), [])
        self.assertEqual(calls, [])  # nothing released: no regeneration asked for
        self.assertEqual(s.finished("b", "built", now=30.0), [])
        self.assertEqual(calls, [(30.0, ["c", "d"])])
        self.assertEqual(s.next_due(), 120.0)
        self.assertEqual(s.due(119.9), [])
        self.assertEqual(s.due(120.0), ["c", "d"])
        self.assertIsNone(s.next_due())

    def test_a_zero_delay_releases_at_once(self) -> None:
        s = Scheduler(plan(**TWO_LEVELS), release_delay=lambda now, names: 0.0)
        s.start()
        self.assertEqual(s.finished("a", "built", now=5.0), ["c"])


class Simulator(unittest.TestCase):
    """bench/simulate.py drives the Scheduler as the driver does; Buildbot's choice of a
    waiting request: highest priority, then the oldest."""

    # k1 -> k2 -> k3 (2 s each) is the critical chain; x and y (3 s) are alone.
    CHAIN = {"k1": (), "k2": ("k1",), "k3": ("k2",), "x": (), "y": ()}
    DURATIONS = {"k1": 2.0, "k2": 2.0, "k3": 2.0, "x": 3.0, "y": 3.0}

    def setUp(self) -> None:
        self.sim = load_simulator()

    def run_chain(self, **kwargs: Any) -> Any:
        return self.sim.simulate(plan(**self.CHAIN), self.DURATIONS, 2, **kwargs)

    def test_dag_on_two_slots_meets_the_lower_bound(self) -> None:
        # 0: k1, x.  2: k1 ends, k2 (priority 4) goes before y (3, older).  3: x ends, y.
        # 4: k2 ends, k3.  6: y and k3 end. Oldest-first would give 7.
        run = self.run_chain()
        self.assertEqual(run.started, {"k1": 0, "x": 0, "k2": 2, "y": 3, "k3": 4})
        self.assertEqual(run.makespan, 6.0)
        self.assertEqual(self.sim.lower_bound(plan(**self.CHAIN), self.DURATIONS, 2), 6.0)

    def test_batches_barrier_delay_and_cap(self) -> None:
        # Barrier: k2 waits for y (2-5), k3 for k2: 9.
        self.assertEqual(self.run_chain(mode="batches").makespan, 9.0)
        # Plus 10 s before each batch after the first: k2 at 15-17, k3 at 27-29.
        delay = self.run_chain(mode="batches", release_delay=lambda now, names: 10.0)
        self.assertEqual(delay.started["k3"], 27.0)
        self.assertEqual(delay.makespan, 29.0)
        # One build at a time: k1 0-2, x 2-5, y 5-8, k2 18-20, k3 30-32.
        capped = self.run_chain(
            mode="batches", release_delay=lambda now, names: 10.0, max_concurrent=1
        )
        self.assertEqual(capped.started, {"k1": 0, "x": 2, "y": 5, "k2": 18, "k3": 30})
        self.assertEqual(capped.makespan, 32.0)

    def test_equal_priorities_go_oldest_first(self) -> None:
        # One slot. p (priority 2) first; when it ends q (1) is requested, after r (1).
        run = self.sim.simulate(plan(p=(), q=("p",), r=()), {"p": 1.0, "q": 1.0, "r": 1.0}, 1)
        self.assertEqual(run.started, {"p": 0.0, "r": 1.0, "q": 2.0})

    def test_a_failure_ends_its_chain(self) -> None:
        run = self.run_chain(failures={"k1"})
        self.assertEqual(run.results["k3"], "dependency-failed")
        self.assertNotIn("k2", run.started)
        # k1 0-2 (fails) and x 0-3; y takes k1's slot: 2-5.
        self.assertEqual(run.started, {"k1": 0.0, "x": 0.0, "y": 2.0})
        self.assertEqual(run.makespan, 5.0)

    def test_mbs_defaults_and_the_generated_module(self) -> None:
        p = self.sim.make_plan(50, 7)
        durations = self.sim.make_durations(p, 7)
        self.assertEqual(durations, self.sim.make_durations(self.sim.make_plan(50, 7), 7))
        self.assertTrue(all(30.0 <= d <= 1200.0 for d in durations.values()))
        dag = self.sim.simulate(p, durations, 32)
        mbs = self.sim.mbs_defaults(p, durations, 32)
        self.assertGreaterEqual(dag.makespan, self.sim.lower_bound(p, durations, 32))
        self.assertGreaterEqual(mbs.makespan, self.sim.mbs_floor(p, durations))
        self.assertLessEqual(max(len(self._overlap(mbs, t)) for t in mbs.started.values()), 5)

    @staticmethod
    def _overlap(run: Any, t: float) -> list[str]:
        return [c for c, s in run.started.items() if s <= t < run.ended[c]]
