"""One line in ``master.cfg``: ``c['configurators'] = [ModulesConfigurator(settings)]``.

It fills in everything a module build master needs: database, web UI with the release
engineers' dashboards, workers, the dist-git change source, the module and component
schedulers and builders, and a ``module-lint`` builder.

Builders: ``modules`` runs one build per module build on master-side workers
(``bbmod-modules-N``, one per concurrent module build), so a module build waiting for
its components never holds a slot they need. ``components`` runs component builds on
the build workers. In the UI both appear as virtual builders per module stream
(``module N:S`` and ``components N:S``): the number of builders grows with module
streams, not with components, and each component build's summary names its component.

``module-maintenance`` applies the retention policy nightly (retention.py); Buildbot's
own janitor deletes old logs (``log_retention_days``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from buildbot.configurators import ConfiguratorBase
from buildbot.configurators.janitor import JANITOR_NAME, JanitorConfigurator
from buildbot.plugins import schedulers, steps, util, worker
from buildbot.process.buildstep import BuildStep
from buildbot.process.results import SUCCESS, WARNINGS
from buildbot.util import service
from twisted.internet import defer

from ..core.reuse import REBUILD_STRATEGIES
from ..service.api import ModuleService
from ..service.pages import ModulePagesService, modules_dashboard
from .changes import DistGitPoller
from .components import BACKENDS, ComponentBackend, component_factory
from .driver import COMPONENT_SCHEDULER, BuildComponents
from .quality import PRODUCTION, STAGE, CommandCheck, Gate, RecordStepResult, RunCheck, action_steps
from .schedulers import ComponentScheduler, ModuleScheduler
from .settings import Settings, load_settings
from .site import ModuleSite
from .steps import (
    ComposeModule,
    FetchModule,
    LoadModule,
    MasterStep,
    PlanModule,
    PublishModule,
    ResolveModule,
)
from .threads import in_thread

__all__ = ["ModulesConfigurator", "Settings", "load_settings"]

WWW_PLUGINS = ("waterfall_view", "console_view", "grid_view")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_WORKER = "bbmod-modules"
LOCAL_BUILDER = "bbmod-local"
ACTIONS_BUILDER = "module-actions"
MAINTENANCE_BUILDER = "module-maintenance"


class _PrepareSite(service.BuildbotService):  # type: ignore[misc]
    """Creates the registry schema and folders when the master starts (not at
    checkconfig time, which must write nothing)."""

    name = "bbmod-site"

    def checkConfig(self, site: ModuleSite) -> None:
        pass

    def reconfigService(self, site: ModuleSite) -> Any:
        self.site = site
        return in_thread(site.prepare)

    def stopService(self) -> Any:
        koji = getattr(getattr(self, "site", None), "_koji", None)
        if koji is not None:  # the Koji client's HTTP connections
            koji.client.close()
        return super().stopService()


class _MasterTimeout(service.BuildbotService):  # type: ignore[misc]
    """Several masters: how soon the others take over a master that went silent.

    Buildbot's masters say they are alive every 60 s and declare one dead after 10
    minutes of silence (``buildbot.data.masters.EXPIRE_MINUTES``); only then are its
    builds ended (RETRY) and their requests released to the others. ``master_timeout``
    shortens that: this service says "alive" every ``seconds / 4`` and looks for silent
    masters at the same pace; the dead master's change source and schedulers move to
    another master at that pace too (Buildbot's: every 5 minutes; a restart applies it).
    Every master of a site must use the same value: a master that is busier than that
    for ``seconds`` is taken for dead and its builds run again."""

    name = "bbmod-master-timeout"
    loop: Any = None
    seconds: float = 600
    inactive: set[int] = set()

    def checkConfig(self, seconds: int) -> None:
        pass

    def reconfigService(self, seconds: int) -> Any:
        from buildbot.data import masters
        from twisted.internet import task

        masters.EXPIRE_MINUTES = seconds / 60  # read by expireMasters at each call
        # A change source or scheduler runs on one master at a time; the others look
        # every 5 minutes whether it is free. This service is reconfigured before the
        # schedulers and change sources start, so they look at the same pace as above.
        service.ClusteredBuildbotService.POLL_INTERVAL_SEC = seconds / 4
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.loop = task.LoopingCall(self.heartbeat)
        self.loop.clock = self.master.reactor
        if self.running:
            self.loop.start(seconds / 4, now=False)
        self.seconds = seconds
        return defer.succeed(None)

    def startService(self) -> Any:
        d = super().startService()
        if not self.loop.running:
            self.loop.start(self.seconds / 4, now=False)
        return d

    def stopService(self) -> Any:
        if self.loop.running:
            self.loop.stop()
        return super().stopService()

    @defer.inlineCallbacks
    def heartbeat(self) -> Any:
        from twisted.python import log

        master = self.master
        try:
            if master.masterid is not None:
                yield master.data.updates.masterActive(name=master.name, masterid=master.masterid)
            yield master.data.updates.expireMasters()
            masters = yield master.db.masters.getMasters()
            inactive = {m.id for m in masters if not m.active}
            for dead in sorted(inactive - self.inactive):
                yield self.release(dead)
            if inactive - self.inactive:
                master.botmaster.maybeStartBuildsForAllBuilders()
            self.inactive = inactive
        except Exception as e:  # the database away for a moment: try again next beat
            log.err(e, "bbmod-master-timeout: heartbeat failed")  # type: ignore[no-untyped-call]

    @defer.inlineCallbacks
    def release(self, dead: int) -> Any:
        """Release the build requests a dead master had claimed, so that this master can
        run them again. Buildbot 4.3's housekeeping ends the dead master's builds (RETRY)
        but releases only the claims of the master doing it, so those requests would wait
        for the dead master to come back; and it sends no message, so nothing would look
        at them before the builders' next event (hence the caller's look at every one)."""
        from twisted.python import log

        db = self.master.db.buildrequests
        requests = yield db.getBuildRequests(complete=False, claimed=dead)
        brids = [r.buildrequestid for r in requests]
        log.msg(f"bbmod: master {dead} stopped; its build requests {brids} released")
        if brids:
            yield db._unclaim_buildrequests_for_master(brids, dead)


def _one_build_per_stream(builder: Any, wfb: Any, request: Any) -> bool:
    """A module stream builds one module build at a time; others wait (or collapse)."""
    module = request.properties.getProperty("module")
    stream = request.properties.getProperty("stream")
    return not any(
        b.getProperty("module") == module and b.getProperty("stream") == stream
        for b in builder.building
    )


@defer.inlineCallbacks
def _collapse_queued(master: Any, builder: Any, new: dict[str, Any], old: dict[str, Any]) -> Any:
    """A newer request for the same module stream supersedes a queued one."""
    if new["buildrequestid"] < old["buildrequestid"]:
        return False
    new_props = yield master.db.buildsets.getBuildsetProperties(new["buildsetid"])
    old_props = yield master.db.buildsets.getBuildsetProperties(old["buildsetid"])
    keys = ("module", "stream")
    return all(
        k in new_props and k in old_props and new_props[k][0] == old_props[k][0] for k in keys
    )


class ModulesConfigurator(ConfiguratorBase):  # type: ignore[misc]
    """Fills a master configuration dictionary from :class:`Settings`."""

    def __init__(
        self, settings: Settings | None = None, check_steps: Sequence[BuildStep] = ()
    ) -> None:
        """``check_steps``: ordinary Buildbot steps QE add as checks; each step's name is
        its test case name and its result is recorded as one (docs/quality.md)."""
        super().__init__()
        self.settings = settings or Settings()
        self.settings.check()
        self.check_steps = list(check_steps)

    def configure(self, config_dict: dict[str, Any]) -> None:
        super().configure(config_dict)
        s = self.settings
        config_dict.setdefault("title", s.title)
        config_dict.setdefault("buildbotURL", s.url)
        config_dict.setdefault("db", {"db_url": s.db_url})
        config_dict.setdefault("buildbotNetUsageData", None)
        if s.mq == "wamp":  # several masters (docs/scaling.md)
            config_dict.setdefault("multiMaster", True)
            config_dict.setdefault(
                "mq", {"type": "wamp", "router_url": s.mq_router_url, "realm": s.mq_realm}
            )
        self.www.setdefault("port", s.www_port)
        plugins = self.www.setdefault("plugins", {})
        for name in WWW_PLUGINS:
            plugins.setdefault(name, {})
        if s.workers or s.latent_workers:
            self.protocols.setdefault("pb", {"port": s.worker_port})
        known = {w.name for w in self.workers}
        for name, password in sorted(s.workers.items()):
            if name not in known:
                self.workers.append(worker.Worker(name, password))
        if s.latent_workers:  # started on demand (latent.py, workers/latent/)
            from .latent import latent_workers

            self.workers += [w for w in latent_workers(s.latent_workers) if w.name not in known]
        build_workers = [w.name for w in self.workers]
        if not build_workers:
            # Embedded, one process: component builds run inside the master.
            self.workers.append(worker.LocalWorker(LOCAL_BUILDER, missing_timeout=0))
            build_workers = [LOCAL_BUILDER]
        # Buildbot runs one build per builder per worker: one master-side worker per
        # concurrent module build. They live in the master, so they cannot go missing.
        self.module_workers = [f"{MODULE_WORKER}-{i}" for i in range(1, s.module_slots + 1)]
        for name in self.module_workers:
            self.workers.append(worker.LocalWorker(name, missing_timeout=0))

        site = ModuleSite(s)
        config_dict.setdefault("services", []).append(_PrepareSite(site))
        if s.master_timeout:
            config_dict["services"].append(_MasterTimeout(s.master_timeout))
        config_dict["services"].append(ModuleService(site))  # /module-build-service/ API
        if s.poll_interval:
            config_dict.setdefault("change_source", []).append(
                DistGitPoller(
                    root=site.distgit_root, name="bbmod-distgit", pollInterval=s.poll_interval
                )
            )
        if s.amqp_url:  # the message bus: git.receive in, module.state.change out
            from .bus import bus_services

            config_dict["services"] += bus_services(site, s, poller="bbmod-distgit")
        if s.webhooks:  # push webhooks at <url>change_hook/<source> (hooks.py)
            from .hooks import change_hook_dialects

            self.www.setdefault("change_hook_dialects", {}).update(change_hook_dialects(site, s))
        # Secrets from files (util.Secret), and mail to owners (docs/running.md).
        from .notify import notifiers, secrets_providers

        config_dict.setdefault("secretsProviders", []).extend(secrets_providers(s))
        config_dict["services"] += notifiers(site, s)
        self.add_module_builders(site, build_workers)
        self.add_quality(site)
        self.add_lint_builder()
        self.add_maintenance(site, config_dict)
        # The module pages under <url>modules/, and "Modules" in the UI's menu.
        config_dict["services"].append(ModulePagesService(site))
        self.www["plugins"]["wsgi_dashboards"].append(modules_dashboard(site))

    def add_module_builders(self, site: ModuleSite, build_workers: list[str]) -> None:
        s = self.settings
        koji_setup: list[BuildStep] = []
        koji_import: list[BuildStep] = []
        if s.uses_koji:  # the module's tags and target in Koji; its import after compose
            from ..koji.steps import KojiImport, KojiSetup

            koji_setup.append(KojiSetup(site, haltOnFailure=True))
            koji_import.append(KojiImport(site, haltOnFailure=True))
        modules = util.BuildFactory()
        modules.addSteps(
            [
                FetchModule(site, haltOnFailure=True),
                LoadModule(site, haltOnFailure=True),
                ResolveModule(site, haltOnFailure=True),
                PlanModule(site, haltOnFailure=True),
                *koji_setup,
                BuildComponents(site, fail_fast=s.fail_fast, haltOnFailure=True),
                ComposeModule(site, haltOnFailure=True),
                *koji_import,
                PublishModule(site, haltOnFailure=True),
                *self.check_steps_for(site),
                Gate(site, STAGE),
                Gate(site, PRODUCTION),
            ]
        )
        self.builders.append(
            util.BuilderConfig(
                name="modules",
                workernames=self.module_workers,
                factory=modules,
                collapseRequests=_collapse_queued,
                canStartBuild=_one_build_per_stream,
                tags=["module"],
                description="Module builds: one per push to modules/<name> <stream>",
            )
        )
        if s.backend == "koji":
            from ..koji.backend import KOJI_WORKER, KojiBackend

            backend: ComponentBackend = KojiBackend(site)
            # Koji builds; the component build only waits: master-side workers, so no
            # build worker is held, koji_slots bounds the open Koji tasks (docs/koji.md).
            component_workers = [f"{KOJI_WORKER}-{i}" for i in range(1, s.koji_slots + 1)]
            for name in component_workers:
                self.workers.append(worker.LocalWorker(name, missing_timeout=0))
        else:
            backend = BACKENDS[s.backend](site)
            component_workers = build_workers
        self.builders.append(
            util.BuilderConfig(
                name="components",
                workernames=component_workers,
                factory=component_factory(site, backend),
                collapseRequests=False,
                tags=["components"],
                description="Component builds, requested by module builds",
            )
        )
        self.schedulers.append(
            ModuleScheduler(name="bbmod-modules", builderNames=["modules"], site=site)
        )
        self.schedulers.append(
            ComponentScheduler(name=COMPONENT_SCHEDULER, builderNames=["components"])
        )
        self.schedulers.append(
            schedulers.ForceScheduler(
                name="bbmod-rebuild",
                builderNames=["modules"],
                buttonName="Build module",
                label="Build a module stream at its branch head",
                codebases=[util.CodebaseParameter(codebase="", hide=True)],
                properties=[
                    util.StringParameter(name="module", label="Module", required=True),
                    util.StringParameter(name="stream", label="Stream", default="main"),
                    util.ChoiceStringParameter(
                        name="rebuild_strategy",
                        label="Rebuild strategy (empty: the module's or the site's)",
                        choices=["", *REBUILD_STRATEGIES],
                        default="",
                    ),
                    util.BooleanParameter(
                        name="scratch",
                        label="Scratch build (never reused, never promoted)",
                        default=False,
                    ),
                ],
            )
        )

    def check_steps_for(self, site: ModuleSite) -> list[BuildStep]:
        """One step per check any module runs, in the order of the settings."""
        out: list[BuildStep] = []
        checks = site.quality.checks()
        for name in site.quality.enabled_names():
            if name in self.settings.check_commands:
                out.append(CommandCheck(site, name, self.settings.check_commands[name]))
            else:
                out.append(RunCheck(site, checks[name]))
        for step in self.check_steps:
            out += [step, RecordStepResult(site, step.name)]
        return out

    def add_quality(self, site: ModuleSite) -> None:
        """The ``module-actions`` builder and its three buttons (waive, promote, re-run
        checks), the ResultsDB endpoint and dashboard, and who may act."""
        s = self.settings
        factory = util.BuildFactory()
        factory.addSteps(action_steps(site, self.check_steps_for(site)))
        self.builders.append(
            util.BuilderConfig(
                name=ACTIONS_BUILDER,
                workernames=self.module_workers,
                factory=factory,
                collapseRequests=False,
                tags=["module"],
                description="Release engineering: waive a result, promote, re-run checks",
            )
        )
        nsvc = util.StringParameter(
            name="nsvc", label="Build (NAME:STREAM:VERSION:CONTEXT)", required=True, size=60
        )
        actions = {
            "waive": (
                "Waive",
                [
                    util.StringParameter(name="testcase", label="Test case", required=True),
                    util.TextParameter(name="comment", label="Why", required=True, cols=60),
                ],
            ),
            "promote": ("Promote to production", []),
            "recheck": ("Re-run checks", []),
        }
        for action, (button, extra) in actions.items():
            self.schedulers.append(
                schedulers.ForceScheduler(
                    name=f"bbmod-{action}",
                    builderNames=[ACTIONS_BUILDER],
                    buttonName=button,
                    label=button,
                    codebases=[util.CodebaseParameter(codebase="", hide=True)],
                    properties=[
                        nsvc,
                        *extra,
                        util.FixedParameter(name="action", default=action),
                    ],
                )
            )
        # Login and who may press which button (auth.py, docs/running.md "Who may do what");
        # nothing without accounts.
        from .auth import web_auth

        self.www.update(web_auth(site, s))
        from .web import quality_dashboard

        self.www.setdefault("plugins", {}).setdefault("wsgi_dashboards", []).append(
            quality_dashboard(site)
        )

    def add_lint_builder(self) -> None:
        """``module-lint``: run ``bbmod lint`` on a module file on the master, forced from
        the UI (the master's own workers have the master's bbmod)."""
        factory = util.BuildFactory()
        factory.addStep(
            steps.ShellCommand(
                name="bbmod lint",
                command=[*self.settings.bbmod, "lint", util.Property("module_file")],
                descriptionDone=util.Interpolate("lint %(prop:module_file)s"),
                logEnviron=False,
                haltOnFailure=True,
            )
        )
        self.builders.append(
            util.BuilderConfig(name="module-lint", workernames=self.module_workers, factory=factory)
        )
        self.schedulers.append(
            schedulers.ForceScheduler(
                name="module-lint",
                builderNames=["module-lint"],
                buttonName="Lint",
                properties=[
                    util.StringParameter(
                        name="module_file",
                        label="Module file on the master",
                        default=os.path.join(PROJECT_ROOT, "contrib/modules/hello/hello.yaml"),
                        size=60,
                    )
                ],
            )
        )

    def add_maintenance(self, site: ModuleSite, config_dict: dict[str, Any]) -> None:
        """The ``module-maintenance`` builder (retention, nightly at ``maintenance_hour``
        and on its "Collect garbage" button) and Buildbot's janitor for old logs."""
        s = self.settings
        factory = util.BuildFactory()
        factory.addStep(CollectGarbage(site))
        self.builders.append(
            util.BuilderConfig(
                name=MAINTENANCE_BUILDER,
                workernames=self.module_workers,
                factory=factory,
                collapseRequests=True,
                tags=["maintenance"],
                description="Retention: old failed, scratch and superseded module builds to "
                "garbage, their files deleted",
            )
        )
        if s.garbage_after_days:
            self.schedulers.append(
                schedulers.Nightly(
                    name="bbmod-maintenance-nightly",
                    builderNames=[MAINTENANCE_BUILDER],
                    hour=s.maintenance_hour,
                    minute=0,
                )
            )
        self.schedulers.append(
            schedulers.ForceScheduler(
                name="bbmod-maintenance",
                builderNames=[MAINTENANCE_BUILDER],
                buttonName="Collect garbage",
                label="Apply the retention policy now",
                codebases=[util.CodebaseParameter(codebase="", hide=True)],
                properties=[],
            )
        )
        janitor_there = any(w.name == JANITOR_NAME for w in self.workers)
        if s.log_retention_days and not janitor_there:
            JanitorConfigurator(
                logHorizon=timedelta(days=s.log_retention_days),
                hour=s.maintenance_hour,
                minute=30,
            ).configure(config_dict)
            # Its LocalWorker lives in the master: like ours, it cannot go missing (the
            # janitor's own would leave a one-hour "missing" timer running).
            self.workers[:] = [
                worker.LocalWorker(JANITOR_NAME, missing_timeout=0) if w.name == JANITOR_NAME else w
                for w in self.workers
            ]


class CollectGarbage(MasterStep):
    """The retention policy (retention.py), in a thread; the ``garbage`` log says which
    builds went to garbage and every file tree deleted."""

    name = "collect garbage"

    async def work(self) -> int:
        from ..retention import collect_garbage

        report = await in_thread(collect_garbage, self.site)
        await self.addCompleteLog("garbage", "\n".join(report.lines()) + "\n")
        self.summary = report.summary() if report.days > 0 else "retention is off"
        return WARNINGS if report.days > 0 and report.skipped else SUCCESS
