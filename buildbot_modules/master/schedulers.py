"""From changes to module builds, and from a module build to its component builds.

``ModuleScheduler`` turns a push to ``modules/<name>`` branch S into a build request for
module ``name:S``, and a push to an ``rpms/<package>`` branch that a published module's
component tracks into a rebuild of that module. ``ComponentScheduler`` is the
Triggerable the module build uses for each component, with a priority per request so
that the component with the longest remaining path goes first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from buildbot.process.properties import Properties
from buildbot.schedulers.base import ReconfigurableBaseScheduler
from buildbot.schedulers.triggerable import Triggerable
from twisted.internet import defer
from twisted.python import log

from .threads import in_thread

if TYPE_CHECKING:
    from .site import ModuleSite


def module_properties(name: str, stream: str, commit: str | None) -> Properties:
    """Properties of a module build request; the UI shows one builder per module stream."""
    values: dict[str, Any] = {
        "module": name,
        "stream": stream,
        "virtual_builder_name": f"module {name}:{stream}",
        "virtual_builder_tags": ["module", name],
    }
    if commit:
        values["module_commit"] = commit
    props = Properties()
    for key, value in values.items():
        props.setProperty(key, value, "scheduler")
    return props


class ModuleScheduler(ReconfigurableBaseScheduler):  # type: ignore[misc]
    """Module pushes and tracked rpm pushes become module build requests."""

    def checkConfig(
        self, builderNames: list[str], site: ModuleSite | None = None, **kwargs: Any
    ) -> None:
        super().checkConfig(builderNames=builderNames, **kwargs)

    @defer.inlineCallbacks
    def reconfigService(
        self, builderNames: list[str], site: ModuleSite | None = None, **kwargs: Any
    ) -> Any:
        self.site = site
        yield super().reconfigService(builderNames=builderNames, **kwargs)

    @defer.inlineCallbacks
    def activate(self) -> Any:
        yield super().activate()
        if self.enabled:
            yield self.startConsumingChanges()

    @defer.inlineCallbacks
    def refusal(self, change: Any, name: str, stream: str) -> Any:
        """Why this change's authenticated pusher may not build name:stream ("" if allowed)."""
        pusher = change.properties.getProperty("pushed_by") if change.properties else None
        if not pusher or self.site is None:
            return ""
        from .auth import push_refusal

        site = self.site
        reason = yield in_thread(
            push_refusal, site.settings, site.registry, str(pusher), name, stream
        )
        if reason:
            log.msg(f"bbmod: {reason}")
        return reason

    @defer.inlineCallbacks
    def gotChange(self, change: Any, important: bool) -> Any:
        if change.category == "module":
            props = module_properties(change.project, change.branch, change.revision)
            refused = yield self.refusal(change, change.project, change.branch)
            if refused:  # recorded as a failed build that says why (FetchModule)
                props.setProperty("push_refused", refused, "scheduler")
            yield self.addBuildsetForChanges(
                reason=f"push to modules/{change.project} {change.branch}",
                changeids=[change.number],
                properties=props,
            )
        elif change.category == "rpm" and self.site is not None:
            yield self._rebuild_tracking(change)

    @defer.inlineCallbacks
    def _rebuild_tracking(self, change: Any) -> Any:
        assert self.site is not None
        site = self.site
        tracking = yield in_thread(site.registry.modules_tracking, change.project, change.branch)
        for name, stream in tracking:
            heads = yield in_thread(site.distgit.heads, "modules", name)
            if stream not in heads:
                log.msg(f"bbmod: {name}:{stream} tracks rpms/{change.project} but has no branch")
                continue
            props = module_properties(name, stream, heads[stream])
            refused = yield self.refusal(change, name, stream)
            if refused:
                props.setProperty("push_refused", refused, "scheduler")
            yield self.addBuildsetForSourceStamps(
                sourcestamps=[
                    {
                        "codebase": "",
                        "repository": site.distgit.path("modules", name),
                        "branch": stream,
                        "revision": heads[stream],
                        "project": name,
                    }
                ],
                reason=(
                    f"rpms/{change.project} {change.branch} changed"
                    f" ({change.revision[:8]}), a component of {name}:{stream}"
                ),
                properties=props,
            )


class ComponentScheduler(Triggerable):  # type: ignore[misc]
    """A Triggerable whose requests carry a priority (remaining path length)."""

    def trigger_component(
        self, properties: dict[str, Any], priority: int, parent_buildid: int | None
    ) -> tuple[defer.Deferred[Any], defer.Deferred[Any]]:
        """Request one component build; returns (ids, results) deferreds as trigger()."""
        props = Properties()
        props.updateFromProperties(self.properties)
        for key, value in properties.items():
            props.setProperty(key, value, "module build")
        reason = f"component {properties.get('component')} of {properties.get('nsvc')}"
        ids = self.addBuildsetForSourceStampsWithDefaults(
            reason,
            [],
            waited_for=True,
            priority=priority,
            properties=props,
            parent_buildid=parent_buildid,
            parent_relationship="component",
        )
        results: defer.Deferred[Any] = defer.Deferred()

        def wait(result: tuple[int, dict[str, int]]) -> tuple[int, dict[str, int]]:
            bsid, brids = result
            self._waiters[bsid] = (results, brids)
            self._updateWaiters()
            return result

        ids.addCallback(wait)
        return ids, results
