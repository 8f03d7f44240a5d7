"""Build the components of a module: a DAG driven by the core ``Scheduler``.

Every decision — which component to request, when, and with which priority — is the
``core.schedule.Scheduler``'s; this step turns them into Buildbot build requests and
turns build results back into calls to it (``bench/simulate.py`` runs the same object on
a simulated clock). With ``scheduling = "dag"`` (the default) a component build is
requested the moment its own dependencies have finished — no batch barrier. With
``"batches"`` (as MBS builds) a component whose dependencies are built is also held
until every component of the lower levels (``ComponentPlan.batches()``) has finished.
Each request carries a priority: the length of the longest path from it to the end of
the module (durations estimated from earlier builds of the package, else 1), so when
more components are ready than there are free worker slots, Buildbot starts the one on
the critical path first. A failed component fails the module build; what depends on it
is recorded as "dependency-failed" and never requested; independent components go on
unless ``fail_fast``. Stopping the module build cancels its component builds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from buildbot.process.results import CANCELLED, FAILURE, SUCCESS, Results
from twisted.internet import defer

from ..core.identity import dist_tag, modularity_label, platform_marking
from ..core.schedule import BatchGate, Scheduler
from ..core.schedule import remaining_paths as plan_paths
from .steps import BuildUnit, ModuleStep
from .threads import in_thread

if TYPE_CHECKING:
    from .site import ModuleSite

COMPONENT_SCHEDULER = "bbmod-components"
__all__ = ["COMPONENT_SCHEDULER", "BatchGate", "BuildComponents", "remaining_paths"]


def remaining_paths(unit: BuildUnit, durations: dict[str, float]) -> dict[str, float]:
    """For each component: its duration plus the longest chain of successors after it."""
    assert unit.plan is not None
    return plan_paths(unit.plan, durations)


@dataclass
class _Running:
    unit: BuildUnit
    component: str
    brids: dict[str, int] | None = None


class BuildComponents(ModuleStep):
    name = "build components"

    def __init__(self, site: ModuleSite, fail_fast: bool = False, **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        self.fail_fast = fail_fast
        self._outstanding: dict[tuple[int, str], _Running] = {}
        self._cancelling = False
        self._cancel_reason = ""
        # Module build id -> the core Scheduler: every decision of which component to
        # request, when, and with which priority (bench/simulate.py runs the same one).
        self._schedules: dict[int, Scheduler] = {}

    async def work(self) -> int:
        units = self.state.units
        registry = self.site.registry
        scheduler = self._scheduler()
        total = sum(len(u.plan.components) for u in units if u.plan)
        queue: defer.DeferredQueue[tuple[BuildUnit, str, Any]] = defer.DeferredQueue()
        for unit in units:
            assert unit.plan is not None
            durations = {}
            for c in unit.plan.components:
                package = unit.module.components[c].package or c
                estimate = await in_thread(registry.duration_estimate, package)
                durations[c] = estimate or 1.0
            self._schedules[unit.registry_id] = Scheduler(
                unit.plan, durations, self.site.settings.scheduling
            )
            await in_thread(registry.set_module_state, unit.registry_id, "build")
        failed: list[str] = []

        def request(unit: BuildUnit, component: str) -> defer.Deferred[Any]:
            priority = self._schedules[unit.registry_id].priority(component)
            props = self._component_properties(unit, component)
            ids, results = scheduler.trigger_component(props, priority, self.build.buildid)
            running = _Running(unit, component)
            self._outstanding[(unit.registry_id, component)] = running

            def remember(value: tuple[int, dict[str, int]]) -> tuple[int, dict[str, int]]:
                running.brids = value[1]
                return value

            ids.addCallback(remember)

            results.addBoth(lambda outcome: queue.put((unit, component, outcome)))
            return ids

        def request_all(unit: BuildUnit, components: list[str]) -> list[defer.Deferred[Any]]:
            """Request ``components`` (what the Scheduler just released), in its order."""
            return [request(unit, component) for component in components]

        def built(unit: BuildUnit, component: str) -> list[defer.Deferred[Any]]:
            if self._outstanding.pop((unit.registry_id, component), None) is None:
                return []  # known already (the record step said so before the build ended)
            unit.results[component] = "built"
            return request_all(unit, self._schedules[unit.registry_id].finished(component, "built"))

        def listener(unit: BuildUnit) -> Any:
            async def on_built(component: str) -> None:
                requested = built(unit, component)
                self.update(self._summary(units, total, failed))
                if requested:  # queued before the finishing build frees its worker
                    await defer.gatherResults(requested, consumeErrors=True)

            return on_built

        for unit in units:
            self.site.built_listeners[unit.registry_id] = listener(unit)
        try:
            return await self._drive(units, total, failed, queue, request_all, built)
        finally:
            for unit in units:
                self.site.built_listeners.pop(unit.registry_id, None)

    async def _drive(
        self,
        units: list[BuildUnit],
        total: int,
        failed: list[str],
        queue: defer.DeferredQueue[tuple[BuildUnit, str, Any]],
        request_all: Callable[[BuildUnit, list[str]], list[defer.Deferred[Any]]],
        built: Callable[[BuildUnit, str], list[defer.Deferred[Any]]],
    ) -> int:
        registry = self.site.registry
        for unit in units:
            # Components that need no build in this run count as finished: never requested
            # (reused by the plan step, or built already by a resumed build).
            finished = [c for c, state in unit.results.items() if state in ("reused", "built")]
            request_all(unit, self._schedules[unit.registry_id].start(finished))
        self.update(self._summary(units, total, failed))

        while self._outstanding:
            unit, component, outcome = await queue.get()
            result = outcome[0] if isinstance(outcome, tuple) else FAILURE
            if result == SUCCESS:
                built(unit, component)
            elif self._outstanding.pop((unit.registry_id, component), None) is None:
                continue  # recorded built already; a later failure of the build is moot
            else:
                state = "cancelled" if result == CANCELLED or self._cancelling else "failed"
                unit.results[component] = state
                await in_thread(
                    registry.set_component_state,
                    unit.registry_id,
                    component,
                    state,
                    reason=f"component build result: {Results[result]}",
                )
                schedule = self._schedules[unit.registry_id]
                # A result, even a failure, may complete a batch and open the next one.
                released = schedule.finished(component, state)
                if state == "failed":
                    failed.append(f"{component} ({unit.nsvc})")
                    await self._record_unbuilt(
                        unit,
                        schedule.blocked_by(component),
                        "dependency-failed",
                        f"{component} failed",
                    )
                    if self.fail_fast:
                        await self._cancel_all("fail_fast: another component failed")
                request_all(unit, [] if self._cancelling else released)
            self.update(self._summary(units, total, failed))

        await self._block_unstarted(units)
        if self._cancelling:
            self.summary = "cancelled; " + self._summary(units, total, failed)
            # MBS has no cancelled state: a cancelled module build is failed, with why.
            await self.mark_failed(self._cancel_reason)
            return CANCELLED
        if failed:
            self.summary = f"failed: {', '.join(failed)}; " + self._summary(units, total, [])
            await self.mark_failed(f"component failed: {', '.join(failed)}")
            return FAILURE
        return SUCCESS

    def _scheduler(self) -> Any:
        for sch in self.master.scheduler_manager.namedServices.values():
            if sch.name == COMPONENT_SCHEDULER:
                return sch
        raise RuntimeError(f"scheduler {COMPONENT_SCHEDULER} is not configured")

    def _component_properties(self, unit: BuildUnit, component: str) -> dict[str, Any]:
        module = unit.module
        platform = unit.expanded.platform or ""
        comp = module.components[component]
        return {
            "module": module.name,
            "stream": module.stream,
            "nsvc": unit.nsvc,
            "module_build_id": unit.registry_id,
            "module_driver": self.build.buildid,  # a leftover request of an old driver stands down
            "component": component,
            "package": comp.package or component,
            "after": list(unit.plan.after[component]) if unit.plan else [],
            "buildonly": comp.buildonly,
            "component_commit": unit.commits[component],
            "dist_tag": dist_tag(
                module.name,
                module.stream,
                unit.version,
                unit.expanded.context,
                platform_marking(platform) if platform else "",
                unit.registry_id,
            ),
            "modularity_label": modularity_label(
                module.name, module.stream, unit.version, unit.expanded.context
            ),
            "bbmod_artifacts": self.site.artifact_dir(unit.registry_id, component),
            "buildrequires": dict(unit.expanded.buildrequires),
            "module_version": str(unit.version),
            "rpm_macros": module.rpm_macros,
            "module_context": unit.expanded.context,
            "virtual_builder_name": f"components {module.name}:{module.stream}",
            "virtual_builder_tags": ["components", module.name],
        }

    def _summary(self, units: list[BuildUnit], total: int, failed: list[str]) -> str:
        built = sum(1 for u in units for s in u.results.values() if s == "built")
        reused = sum(1 for u in units for s in u.results.values() if s == "reused")
        building = len(self._outstanding)
        text = f"{built + reused}/{total} components built"
        text += f" ({reused} reused), " if reused else ", "
        text += f"{building} building"
        gates = [
            s for s in self._schedules.values() if s.batch_count > 1 and s.batch < s.batch_count
        ]
        if len(gates) == 1:  # batch scheduling, one context: say which batch runs
            text += f", batch {gates[0].batch + 1}/{gates[0].batch_count}"
        if failed:
            text += f", failed: {', '.join(failed)}"
        return text

    async def _block_unstarted(self, units: list[BuildUnit]) -> None:
        """Components never requested (cancel, fail_fast) are recorded as cancelled."""
        for unit in units:
            assert unit.plan is not None
            await self._record_unbuilt(
                unit, unit.plan.components, "cancelled", "module build stopped"
            )

    async def _record_unbuilt(
        self, unit: BuildUnit, names: list[str], state: str, reason: str
    ) -> None:
        """Record ``state`` for those of ``names`` that have no result yet."""
        for name in names:
            if unit.results.get(name) is None:
                unit.results[name] = state
                await in_thread(
                    self.site.registry.set_component_state,
                    unit.registry_id,
                    name,
                    state,
                    reason=reason,
                )

    async def _cancel_all(self, reason: str) -> None:
        self._cancelling = True
        self._cancel_reason = reason
        for schedule in self._schedules.values():
            schedule.stop()
        for running in list(self._outstanding.values()):
            for brid in (running.brids or {}).values():
                await self.master.data.control(
                    "cancel", {"reason": reason}, ("buildrequests", brid)
                )
                builds = await self.master.data.get(
                    ("builds",), filters=[_filter("buildrequestid", brid)]
                )
                for build in builds:
                    if not build["complete"]:
                        await self.master.data.control(
                            "stop", {"reason": reason}, ("builds", build["buildid"])
                        )

    def interrupt(self, reason: Any) -> Any:
        """Stopping the module build stops its component builds."""
        d = defer.ensureDeferred(self._cancel_all(f"module build stopped: {reason}"))
        d.addErrback(lambda f: None)
        return super().interrupt(reason)


def _filter(field: str, value: Any) -> Any:
    from buildbot.data import resultspec

    return resultspec.Filter(field, "eq", [value])
