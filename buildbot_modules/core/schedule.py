"""The scheduling decisions of a module build, with no clock and no Buildbot.

:class:`Scheduler` decides, for one component plan, which components may be requested
and when, and with which priority. The master's driver (``master/driver.py``) asks it at
every event of a real build; ``bench/simulate.py`` asks it at every event of a simulated
clock. Because both run this same object, the simulator's figures are the driver's.

* **When**: a component is requestable once its own dependencies are built (``"dag"``),
  or, with ``"batches"`` (as MBS builds), also once every component of the lower levels
  has a result (:class:`BatchGate`). A failed component blocks only what depends on it.
* **Priority**: the component's remaining path — its own estimated duration plus the
  longest chain of successors after it — so that when more components are requested
  than workers are free, the worker goes to the one on the critical path.
* **Release delay** (optional): something outside the scheduler may have to happen
  between a component being requestable and its request, e.g. a build system
  regenerating its buildroot repository (Koji's newRepo, 90 s between MBS batches). The
  hook is told what was just released and when; it answers how long they wait. The
  caller then asks :meth:`Scheduler.due` at :meth:`Scheduler.next_due`.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from .plan import ComponentPlan, PlanProgress

Mode = Literal["dag", "batches"]
MODES: tuple[Mode, ...] = ("dag", "batches")

#: ``release_delay(now, components)``: seconds the components released at ``now`` wait
#: before they may be requested. Called only for releases caused by a finished
#: component (never at :meth:`Scheduler.start`: the buildroot a module starts from
#: exists already). A stateful callable can coalesce several releases into one wait.
ReleaseDelay = Callable[[float, Sequence[str]], float]

#: Request priorities are integers in Buildbot: remaining seconds times this.
PRIORITY_SCALE = 100


def remaining_paths(plan: ComponentPlan, durations: Mapping[str, float]) -> dict[str, float]:
    """For each component: its duration plus the longest chain of successors after it.

    A component missing from ``durations`` counts 1 (no history: a chain's length)."""
    successors = plan.successors()
    out: dict[str, float] = {}
    for c in reversed(plan.components):
        out[c] = durations.get(c, 1.0) + max((out[s] for s in successors[c]), default=0.0)
    return out


class BatchGate:
    """The batch barrier: which components whose dependencies are built may start now.

    ``batches`` are the plan's levels. A component of batch L is released once every
    component of batches 0…L-1 has a result (built, failed, dependency-failed or
    cancelled): what failed does not hold back what does not depend on it. With the
    whole plan as one batch ("dag" scheduling) nothing is ever held.
    """

    def __init__(self, batches: list[list[str]]) -> None:
        self._batches = batches
        self._level = {c: i for i, batch in enumerate(batches) for c in batch}
        self._open = 0  # the lowest batch with a component that has no result
        self._seen = 0  # how many of that batch's components are known to have one
        self._held: dict[int, list[str]] = {}

    @classmethod
    def for_plan(cls, plan: ComponentPlan, scheduling: str) -> BatchGate:
        if scheduling == "batches":
            return cls(plan.batches())
        return cls([list(plan.components)])

    @property
    def open_batch(self) -> int:
        return self._open

    @property
    def count(self) -> int:
        return len(self._batches)

    def release(self, ready: Iterable[str], results: Mapping[str, str | None]) -> list[str]:
        """Add ``ready`` (dependencies built) to the held ones; return those that may
        start now, given the ``results`` recorded so far, lowest batch first."""
        for c in ready:
            self._held.setdefault(self._level[c], []).append(c)
        while self._open < len(self._batches):
            batch = self._batches[self._open]
            while self._seen < len(batch) and results.get(batch[self._seen]) is not None:
                self._seen += 1
            if self._seen < len(batch):
                break
            self._open, self._seen = self._open + 1, 0
        out: list[str] = []
        for level in sorted(k for k in self._held if k <= self._open):
            out += self._held.pop(level)
        return out


class Scheduler:
    """Every scheduling decision for one run of one component plan.

    Call :meth:`start` once, then :meth:`finished` for every component that gets a
    result; both return the components to request now, in request order. Request each
    with :meth:`priority`. With a ``release_delay``, also request what :meth:`due`
    returns once the time :meth:`next_due` names has come.
    """

    def __init__(
        self,
        plan: ComponentPlan,
        durations: Mapping[str, float] | None = None,
        mode: str = "dag",
        release_delay: ReleaseDelay | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"scheduling mode {mode!r}: unknown (use one of {', '.join(MODES)})")
        self.plan = plan
        self.mode = mode
        self.paths = remaining_paths(plan, durations or {})
        #: component -> result: "built", "failed", "dependency-failed", "cancelled", or
        #: "finished" for those finished before this run (given to :meth:`start`).
        self.results: dict[str, str] = {}
        self._progress: PlanProgress = plan.progress()
        self._gate = BatchGate.for_plan(plan, mode)
        self._delay = release_delay
        self._pending: list[tuple[float, int, list[str]]] = []  # (due, seq, components)
        self._sequence = itertools.count()
        self._blocked: dict[str, list[str]] = {}
        self._stopped = False

    # -- decisions -------------------------------------------------------------------------

    def start(self, finished: Iterable[str] = ()) -> list[str]:
        """The components to request first. ``finished`` are components that need no
        build in this run (reused from an earlier build of the module, or built by it):
        they count as built from the start and are never requested."""
        ready = self._progress.start()
        for c in finished:
            self.results[c] = "finished"
            ready += self._progress.finish(c)
        return self._requestable(self._gate.release(ready, self.results))

    def finished(self, component: str, result: str, now: float = 0.0) -> list[str]:
        """Record ``component``'s ``result`` (its build ended at ``now``); return the
        components that may be requested now.

        ``"built"`` makes its successors ready. ``"failed"`` records every component
        downstream of it that has no result as ``"dependency-failed"`` (see
        :meth:`blocked_by`): they are never requested. Any result may complete a batch
        and so open the next one."""
        self.results[component] = result
        ready: list[str] = []
        if result == "built":
            ready = self._progress.finish(component)
        elif result == "failed":
            blocked = sorted(
                c for c in self.plan.downstream([component]) if self.results.get(c) is None
            )
            for name in blocked:
                self.results[name] = "dependency-failed"
            self._blocked[component] = blocked
        released = self._requestable(self._gate.release(ready, self.results))
        if not released or self._delay is None:
            return released
        delay = self._delay(now, released)
        if delay <= 0:
            return released
        heapq.heappush(self._pending, (now + delay, next(self._sequence), released))
        return []

    def blocked_by(self, component: str) -> list[str]:
        """What the failure of ``component`` blocked, by name: the components downstream
        of it that had no result yet (not reused ones, nor those an earlier failure
        blocked already)."""
        return self._blocked.get(component, [])

    def priority(self, component: str) -> int:
        """The request's priority: the remaining path in hundredths of a second."""
        return int(self.paths[component] * PRIORITY_SCALE)

    def due(self, now: float) -> list[str]:
        """The delayed components whose release delay has passed at ``now``."""
        out: list[str] = []
        while self._pending and self._pending[0][0] <= now:
            out += heapq.heappop(self._pending)[2]
        return self._requestable(out)

    def next_due(self) -> float | None:
        """When the next delayed components become requestable; None if none wait."""
        return self._pending[0][0] if self._pending else None

    def stop(self) -> None:
        """The run is being cancelled: nothing more is to be requested."""
        self._stopped = True
        self._pending.clear()

    # -- what the driver shows -------------------------------------------------------------

    @property
    def batch(self) -> int:
        """The open batch (0-based): the lowest level with a component without a result."""
        return self._gate.open_batch

    @property
    def batch_count(self) -> int:
        """How many batches the barrier knows: the plan's levels, or 1 under "dag"."""
        return self._gate.count

    def _requestable(self, names: list[str]) -> list[str]:
        """``names`` without those that already have a result (e.g. reused ones)."""
        if self._stopped:
            return []
        return [c for c in names if self.results.get(c) is None]
