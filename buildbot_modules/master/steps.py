"""The steps of one module build, in order.

fetch the definition → load + validate → resolve dependencies (registry + platforms) →
plan → build components (separate Buildbot builds, started as soon as their own
dependencies finish) → compose → publish → record.

All of them run on the master (the module build holds a master-side slot, never a
worker slot its components need). Blocking work — git, the registry, createrepo_c —
runs in threads. Every state change goes to the registry, so the module build's state
does not live only in this process.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from buildbot.process.buildstep import BuildStep
from buildbot.process.results import FAILURE, SKIPPED, SUCCESS, WARNINGS

from ..core.deps import ExpandedBuild, expand
from ..core.documents import OTHER_KINDS, load_text
from ..core.identity import module_version
from ..core.lint import LintPolicy, lint_document
from ..core.module import ModuleStream, modules_of
from ..core.plan import ComponentPlan, plan_module, plans_dot
from ..core.problems import ModuleError
from ..core.reuse import REBUILD_STRATEGIES, module_strategy, reusable
from ..core.specs import read_specs
from ..registry import DuplicateBuild
from .dot import render_svg
from .threads import in_thread

if TYPE_CHECKING:
    from .site import ModuleSite

DEFAULT_REF = "main"  # the local dist-git's default branch (Fedora's spec says master)
SCRATCH_AREA = "scratch"  # scratch builds are published apart: <publish>/scratch/


@dataclass
class BuildUnit:
    """One expanded build (one context) of the module being built."""

    module: ModuleStream
    expanded: ExpandedBuild
    version: int
    registry_id: int
    plan: ComponentPlan | None = None
    commits: dict[str, str] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)  # component -> state
    reused_from: int | None = None  # the module build reused components come from
    reuse_notes: list[str] = field(default_factory=list)  # why a reusable one was rebuilt
    compose: Any = None  # compose.ComposeResult once composed
    resumed: str = ""  # why an earlier registry build is driven again (resume, resubmit)

    @property
    def nsvc(self) -> str:
        return self.expanded.nsvc(self.version)


@dataclass
class ModuleBuildState:
    name: str = ""
    stream: str = ""
    commit: str = ""
    commit_time: int = 0
    owner: str = ""
    text: str = ""
    modules: list[ModuleStream] = field(default_factory=list)
    # Defaults/obsoletes documents the module file carries, for the compose.
    extra_documents: str | None = None
    # Set when every build this request would make exists already: nothing to do.
    already_built: str = ""
    scratch: bool = False  # never reused, never ready for others, never promoted
    strategy: str = ""  # the rebuild strategy the request asks for ("" = module/site's)
    units: list[BuildUnit] = field(default_factory=list)


class MasterStep(BuildStep):  # type: ignore[misc]
    """A step that runs on the master; a ModuleError becomes a clear failure, its
    message in the step's summary and an ``error`` log."""

    def __init__(self, site: ModuleSite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.summary = ""

    def getCurrentSummary(self) -> dict[str, str]:
        return {"step": self.summary or self.name}

    def getResultSummary(self) -> dict[str, str]:
        return {"step": self.summary or self.name}

    async def run(self) -> int:
        try:
            result: int = await self.work()
            return result
        except ModuleError as e:
            await self.addCompleteLog("error", e.as_problem().format() + "\n")
            self.summary = e.message if len(e.message) < 120 else e.message[:117] + "..."
            await self.on_error(e)
            return FAILURE

    async def work(self) -> int:
        raise NotImplementedError

    async def on_error(self, error: ModuleError) -> None:
        """What else a failure means (the registry, for a module build)."""

    def update(self, text: str) -> None:
        self.summary = text
        self.updateSummary()


class ModuleStep(MasterStep):
    """A master-side step of a module build: it shares the build's state and fails
    the module build in the registry on error."""

    @property
    def state(self) -> ModuleBuildState:
        state = getattr(self.build, "bbmod_state", None)
        if state is None:
            state = ModuleBuildState()
            self.build.bbmod_state = state
        return state

    async def on_error(self, error: ModuleError) -> None:
        await self.mark_failed(error.message)

    async def run(self) -> int:
        if self.state.already_built:
            self.summary = "skipped: " + self.state.already_built
            return SKIPPED
        return await super().run()

    async def mark_failed(self, reason: str) -> None:
        for unit in self.state.units:
            record = await in_thread(self.site.registry.module_build, unit.registry_id)
            if record.state not in ("failed", "ready"):
                await in_thread(
                    self.site.registry.set_module_state, unit.registry_id, "failed", reason
                )


class FetchModule(ModuleStep):
    name = "fetch definition"

    async def work(self) -> int:
        state, distgit = self.state, self.site.distgit
        state.name = self.getProperty("module")
        state.stream = self.getProperty("stream")
        state.scratch = bool(self.getProperty("scratch"))
        state.strategy = str(self.getProperty("rebuild_strategy") or "")
        if state.strategy and state.strategy not in REBUILD_STRATEGIES:
            raise ModuleError(
                f"rebuild strategy {state.strategy!r} is not one of "
                + ", ".join(REBUILD_STRATEGIES),
                hint="leave it empty to use the module's or the site's strategy",
            )
        refused = self.getProperty("push_refused")
        if refused:  # the pusher may not build this module (auth.push_refusal)
            raise ModuleError(
                str(refused), hint="ask an owner of the module or release engineering"
            )
        commit = self.getProperty("module_commit")
        if not commit:
            heads = await in_thread(distgit.heads, "modules", state.name)
            if state.stream not in heads:
                raise ModuleError(f"modules/{state.name} has no branch {state.stream}")
            commit = heads[state.stream]
        state.commit = await in_thread(distgit.resolve, "modules", state.name, commit)
        path = f"{state.name}.yaml"
        raw = await in_thread(distgit.show, "modules", state.name, state.commit, path)
        state.text = raw.decode("utf-8", errors="replace")
        info = await in_thread(distgit.commit_info, "modules", state.name, state.commit)
        state.commit_time, state.owner = info.timestamp, info.author
        self.setProperty("module_commit", state.commit, "fetch definition")
        await self.addCompleteLog(path, state.text)
        scratch = "SCRATCH build of " if state.scratch else ""
        self.summary = f"{scratch}{state.name}:{state.stream} at {state.commit[:8]}"
        return SUCCESS


class LoadModule(ModuleStep):
    name = "load and validate"

    async def work(self) -> int:
        state = self.state
        source = f"modules/{state.name}/{state.name}.yaml@{state.commit[:8]}"
        policy = LintPolicy(distgit_roots=(self.site.distgit.root,))

        def load() -> tuple[list[Any], list[str]]:
            documents = load_text(state.text, source, state.name, state.stream)
            problems = [p for d in documents for p in lint_document(d, policy)]
            return documents, [p.format() for p in problems if p.is_error]

        documents, problems = await in_thread(load)
        if problems:
            await self.addCompleteLog("problems", "\n".join(problems) + "\n")
            self.summary = f"{len(problems)} problem(s): {problems[0]}"[:200]
            return FAILURE
        state.modules = modules_of(documents)
        for module in state.modules:
            if (module.name, module.stream) != (state.name, state.stream):
                # In dist-git the repository is the name and the branch the stream.
                raise ModuleError(
                    f"the document says {module.name}:{module.stream}, but it is on branch"
                    f" {state.stream} of modules/{state.name}",
                    source=source,
                    hint="drop name/stream from the document, or push it to the matching"
                    " repository and branch",
                )
        extra = [
            d.raw.text if d.raw.text.lstrip().startswith("---") else "---\n" + d.raw.text
            for d in documents
            if d.kind in OTHER_KINDS
        ]
        state.extra_documents = "".join(extra) or None
        if not state.modules:
            raise ModuleError("no module stream document", source=source)
        count = len(state.modules[0].components)
        self.summary = f"valid, {count} component{'s' if count != 1 else ''}"
        return SUCCESS


class ResolveModule(ModuleStep):
    name = "resolve dependencies"

    async def work(self) -> int:
        state, site = self.state, self.site
        catalogue = site.catalogue()
        lines = []
        duplicates: list[str] = []
        for module in state.modules:
            builds = await in_thread(expand, module, catalogue)
            commits, newest = await in_thread(self._resolve_refs, module)
            # The version follows the newest source: a push to a component's branch
            # gives a new version; the same sources give the same NSVC again.
            source_time = max(state.commit_time, newest)
            for build in builds:
                version = module_version(source_time, build.platform)
                scmurl = f"file://{site.distgit.path('modules', state.name)}?#{state.commit}"
                context = build.context
                if state.scratch:  # MBS: a scratch build's context gets a suffix _1, _2, …
                    context = await in_thread(
                        _scratch_context, site, module.name, module.stream, version, context
                    )
                registry_id, note = await self._claim(
                    module.name, module.stream, version, context, build, scmurl
                )
                if registry_id is None:
                    duplicates.append(note)
                    continue
                if not note:  # a resumed build is in `wait` already
                    await in_thread(site.registry.set_module_state, registry_id, "wait")
                expanded = build if context == build.context else _with_context(build, context)
                unit = BuildUnit(module, expanded, version, registry_id, commits=commits)
                unit.resumed = note
                state.units.append(unit)
                requires = ", ".join(f"{k}:{v}" for k, v in sorted(build.buildrequires.items()))
                line = f"{unit.nsvc}  (registry id {registry_id}; built against {requires})"
                lines.append(line + (f"; {note}" if note else ""))
        if duplicates and not state.units:
            state.already_built = "; ".join(duplicates)
            await self.addCompleteLog("builds", state.already_built + "\n")
            self.summary = "already built: " + state.already_built
            return SUCCESS
        for message in duplicates:
            lines.append(f"skipped: {message}")
        await self.addCompleteLog("builds", "\n".join(lines) + "\n")
        self.setProperty("nsvcs", [u.nsvc for u in state.units], "resolve dependencies")
        first = state.units[0].nsvc
        self.summary = first if len(state.units) == 1 else f"{len(state.units)} builds: {first}, …"
        resumed = [u.resumed.split(" ", 1)[0] for u in state.units if u.resumed]
        if resumed:  # "resubmitted" or "resumed": an earlier registry build goes on
            self.summary += f" ({resumed[0]})"
        return SUCCESS

    async def _claim(
        self,
        name: str,
        stream: str,
        version: int,
        context: str,
        build: ExpandedBuild,
        scmurl: str,
    ) -> tuple[int | None, str]:
        """The registry build this request drives: a new one, or an earlier one of the same
        N:S:V:C taken over (MBS's resubmission of a failed build; a build whose driver
        ended without finishing it, e.g. at a master restart). ``(None, why)`` when there
        is nothing to do: the build is ready, or another driver is still running it."""
        registry, me = self.site.registry, self.build.buildid
        existing = await in_thread(registry.find_module_build, name, stream, version, context)
        if existing is not None and existing.state != "failed":
            driver = existing.driver_build
            alive = False
            if driver is not None and driver != me:
                record = await self.master.data.get(("builds", driver))
                alive = record is not None and not record["complete"]
            if existing.state == "ready" or alive:
                why = "ready" if existing.state == "ready" else f"driven by Buildbot build {driver}"
                return None, f"module build {existing.nsvc} already exists ({why})"
            reason = (
                f"resumed by Buildbot build {me}: its driver, Buildbot build {driver}, ended"
                " without finishing it (a master restart?)"
            )
        elif existing is not None:
            reason = f"resubmitted (Buildbot build {me}) after: {existing.state_reason or 'failed'}"
        else:
            try:
                created = await in_thread(
                    registry.create_module_build,
                    name=name,
                    stream=stream,
                    version=version,
                    context=context,
                    scmurl=scmurl,
                    commit=self.state.commit,
                    owner=self.state.owner,
                    buildrequires=dict(build.buildrequires),
                    requires={k: list(s) for k, s in build.requires.items()},
                    scratch=self.state.scratch,
                    driver_build=me,
                )
            except DuplicateBuild as e:  # created meanwhile (another master)
                return None, e.message
            return created, ""
        try:
            kept = await in_thread(
                registry.resume_module_build, existing.id, driver_build=me, reason=reason
            )
        except DuplicateBuild as e:
            return None, e.message
        await self.cancel_stale_components(existing.id)
        return existing.id, f"{reason}; {len(kept)} component(s) kept"

    async def cancel_stale_components(self, registry_id: int) -> None:
        """Cancel the component build requests an earlier driver of this module build left
        behind (Buildbot requeues them at a master restart): the new driver requests what
        it needs itself. Their builds stand down anyway (``PrepareSources``)."""
        from buildbot.data import resultspec

        pending = await self.master.data.get(
            ("buildrequests",), filters=[resultspec.Filter("complete", "eq", [False])]
        )
        for request in pending:
            props = await self.master.db.buildsets.getBuildsetProperties(request["buildsetid"])
            owner = props.get("module_build_id", (None,))[0]
            if owner == registry_id:
                await self.master.data.control(
                    "cancel",
                    {"reason": "superseded: the module build has a new driver"},
                    ("buildrequests", request["buildrequestid"]),
                )

    def _resolve_refs(self, module: ModuleStream) -> tuple[dict[str, str], int]:
        """Each component's ref as a commit id (recorded: rebuilds are reproducible), and
        the newest of those commits' times."""
        out = {}
        newest = 0
        for name, component in module.components.items():
            package = component.package or name
            ignore = self.site.settings.ignore_component_repositories
            if (
                component.repository
                and not ignore
                and not self._in_distgit(component.repository, package)
            ):
                raise ModuleError(
                    f"component {name}: repository {component.repository} is not in this"
                    " site's dist-git",
                    hint="leave `repository:` out to use the local dist-git",
                )
            out[name] = self.site.distgit.resolve("rpms", package, component.ref or DEFAULT_REF)
            links = self.site.distgit.unsafe_links("rpms", package, out[name])
            if links:
                path, target = links[0]
                raise ModuleError(
                    f"component {name}: rpms/{package} at {out[name][:8]} has a symbolic link"
                    f" {path} -> {target} that points outside the repository",
                    hint="commit the file itself, or a link to a file inside the repository",
                )
            info = self.site.distgit.commit_info("rpms", package, out[name])
            newest = max(newest, info.timestamp)
        return out, newest

    def _in_distgit(self, url: str, package: str) -> bool:
        path = url.removeprefix("file://")
        return os.path.abspath(path) == os.path.abspath(self.site.distgit.path("rpms", package))


class PlanModule(ModuleStep):
    name = "plan"

    async def work(self) -> int:
        state, site = self.state, self.site
        text_logs = []
        plans: dict[int, ComponentPlan] = {}
        arch = machine_arch()
        skipped: dict[str, tuple[str, ...]] = {}
        for unit in state.units:
            module = unit.module
            if module.arches and arch not in module.arches:
                raise ModuleError(
                    f"buildopts.arches is {', '.join(module.arches)}; this site builds {arch}",
                    source=module.source,
                    hint=f"add {arch} to buildopts.arches, or build it on a site for those arches",
                )
            if id(module) not in plans:
                here = for_arch(module, arch)
                skipped.update(
                    (c, module.components[c].arches)
                    for c in module.components
                    if c not in here.components
                )
                specs = None
                if not here.order_declared and len(here.components) > 1:
                    specs = await in_thread(self._specs, here, unit.commits)
                plans[id(module)] = plan_module(here, specs)
            unit.plan = plans[id(module)]
            levels = unit.plan.levels()
            rows = [
                {
                    "name": c,
                    "package": module.components[c].package or c,
                    "ref": module.components[c].ref or DEFAULT_REF,
                    "commit": unit.commits[c],
                    "after": list(unit.plan.after[c]),
                    "level": levels[c],
                }
                for c in unit.plan.components
            ]
            strategy = state.strategy or module_strategy(
                _xmd(module), site.settings.rebuild_strategy, source=module.source
            )
            await in_thread(site.registry.set_rebuild_strategy, unit.registry_id, strategy)
            if unit.resumed:  # its components exist: what finished stays, the rest is redone
                kept = await in_thread(_adopt_components, site, unit, rows)
                unit.results.update(kept)
                text_logs.append(f"{unit.nsvc}: {unit.resumed}\n")
            else:
                await in_thread(site.registry.add_components, unit.registry_id, rows)
                if site.settings.uses_koji:
                    _ = site.koji  # made here on the reactor, not first in reuse's thread
                unit.reused_from, taken = await in_thread(reuse_components, site, unit, strategy)
                unit.results.update((c, "reused") for c in taken)
            text_logs.append(_plan_text(unit, strategy))
        await self.addCompleteLog("plan", "\n".join(text_logs))
        svg = await in_thread(
            render_svg, plans_dot([(u.nsvc, u.plan) for u in state.units if u.plan])
        )
        if svg:
            await self.addHTMLLog("plan.svg", svg)
        unit = state.units[0]
        assert unit.plan is not None
        self.summary = (
            f"{len(unit.plan.components)} components in {len(unit.plan.batches())} levels"
            f" ({unit.plan.source})"
        )
        reused = sum(1 for s in unit.results.values() if s == "reused")
        if reused:
            self.summary += f"; {reused} reused from module build {unit.reused_from}"
        if skipped:
            # Visible in the summary: these components exist for other arches only.
            notes = [f"{c} (arches: {', '.join(a)})" for c, a in sorted(skipped.items())]
            self.summary += f"; not built for {arch}: " + ", ".join(notes)
            await self.addCompleteLog("not built", "\n".join(notes) + "\n")
        for warning in unit.plan.warnings:
            await self.addCompleteLog("warnings", warning + "\n")
        return WARNINGS if unit.plan.warnings else SUCCESS

    def _specs(self, module: ModuleStream, commits: dict[str, str]) -> Any:
        folder = tempfile.mkdtemp(prefix="bbmod-specs-")
        try:
            for name, component in module.components.items():
                package = component.package or name
                spec = self.site.distgit.show("rpms", package, commits[name], f"{package}.spec")
                os.makedirs(os.path.join(folder, name))
                with open(os.path.join(folder, name, f"{name}.spec"), "wb") as f:
                    f.write(spec)
            return read_specs(folder, module.components)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _adopt_components(
    site: ModuleSite, unit: BuildUnit, rows: list[dict[str, Any]]
) -> dict[str, str]:
    """A resumed build's components: those still ``built``/``reused`` at the planned commit
    are kept (their RPMs stay in the build's artifacts); one at another commit is built
    again; one the plan has and the registry lacks is added. Returns the kept ones' states.
    """
    from .components import RESULTS

    registry = site.registry
    records = {c.name: c for c in registry.components(unit.registry_id)}
    missing = [r for r in rows if r["name"] not in records]
    if missing:
        registry.add_components(unit.registry_id, missing)
    kept: dict[str, str] = {}
    for row in rows:
        record = records.get(row["name"])
        if record is None or record.state not in ("built", "reused"):
            continue
        results = site.artifact_dir(unit.registry_id, row["name"], RESULTS)
        if record.commit == row["commit"] and _rpms_under(results):
            kept[row["name"]] = record.state
        else:
            registry.set_component_state(
                unit.registry_id,
                row["name"],
                "waiting",
                reason="to be built again: its RPMs are gone or its commit changed",
            )
    return kept


def _with_context(build: ExpandedBuild, context: str) -> ExpandedBuild:
    return dataclasses.replace(build, context=context)


def _scratch_context(site: ModuleSite, name: str, stream: str, version: int, context: str) -> str:
    """The first free ``<context>_<n>`` of N:S:V (MBS's naming of scratch builds)."""
    n = 1
    while site.registry.find_module_build(name, stream, version, f"{context}_{n}") is not None:
        n += 1
    return f"{context}_{n}"


def for_arch(module: ModuleStream, arch: str) -> ModuleStream:
    """``module`` without the components whose ``arches`` exclude ``arch`` (noarch
    components say nothing about arches and always stay); nothing waits for them."""
    kept = {name: c for name, c in module.components.items() if not c.arches or arch in c.arches}
    if len(kept) == len(module.components):
        return module
    return dataclasses.replace(
        module,
        components={
            name: dataclasses.replace(c, buildafter=tuple(a for a in c.buildafter if a in kept))
            for name, c in kept.items()
        },
    )


def _xmd(module: ModuleStream) -> dict[str, Any] | None:
    """The module document's xmd as plain Python (None without one)."""
    xmd = module.modulemd.get_xmd() if module.modulemd is not None else None
    value = xmd.unpack() if xmd is not None else None
    return value if isinstance(value, dict) else None


def reuse_components(
    site: ModuleSite, unit: BuildUnit, strategy: str
) -> tuple[int | None, list[str]]:
    """Take what ``strategy`` allows from the newest ready build of the same N:S built
    against the same streams: those components are recorded ``reused`` and their RPMs
    linked into this build's artifacts. Returns that build's id and the reused names.

    Nothing is reused when the module's macros or arches differ. A component counts as
    changed when it is new, has another commit, package or ``after`` list, or its earlier
    build left no RPMs here.
    """
    from ..compose import link_or_copy
    from .components import RESULTS

    assert unit.plan is not None
    plan, module, registry = unit.plan, unit.module, site.registry
    if strategy == "all":
        return None, []
    buildrequires = dict(unit.expanded.buildrequires)
    previous = next(
        (
            b
            for b in registry.module_builds(
                name=module.name, stream=module.stream, state="ready", scratch=False, limit=None
            )
            if b.id != unit.registry_id and b.buildrequires == buildrequires and b.modulemd
        ),
        None,
    )
    if previous is None or previous.modulemd is None:
        return None, []
    try:
        before = modules_of(load_text(previous.modulemd, previous.nsvc))
    except ModuleError:
        return None, []
    if not before or (before[0].rpm_macros, sorted(before[0].arches)) != (
        module.rpm_macros,
        sorted(module.arches),
    ):
        return None, []
    old = {c.name: c for c in registry.components(previous.id)}
    nevras = registry.artifacts(previous.id)
    changed = set()
    for c in plan.components:
        record = old.get(c)
        if (
            record is None
            or record.state not in ("built", "reused")
            or record.commit != unit.commits[c]
            or record.package != (module.components[c].package or c)
            or sorted(record.after) != sorted(plan.after[c])
            or not nevras.get(c)
            or not os.path.isdir(site.artifact_dir(previous.id, c, RESULTS))
        ):
            changed.add(c)
    reused = [c for c in plan.components if c in reusable(plan, changed, strategy)]
    if reused and site.settings.uses_koji:
        # Koji's tags must hold what is reused (koji/reuse.py); what they lack is rebuilt.
        from ..koji.reuse import missing_in_koji

        missing = missing_in_koji(site, previous, {c: old[c] for c in reused})
        unit.reuse_notes += [f"{c}: rebuilt, not reused: {why}" for c, why in missing.items()]
        changed |= set(missing)
        reused = [c for c in plan.components if c in reusable(plan, changed, strategy)]
    for c in reused:
        source = site.artifact_dir(previous.id, c, RESULTS)
        target = site.artifact_dir(unit.registry_id, c, RESULTS)
        for base, _dirs, files in os.walk(source):
            for name in files:
                if name.endswith(".rpm"):
                    here = os.path.join(target, os.path.relpath(base, source))
                    os.makedirs(here, exist_ok=True)
                    link_or_copy(os.path.join(base, name), os.path.join(here, name))
        registry.add_artifacts(unit.registry_id, c, nevras[c])
        registry.set_component_state(
            unit.registry_id,
            c,
            "reused",
            nvr=old[c].nvr,
            reason=f"reused from {previous.nsvc} (module build {previous.id})",
            reused_from=old[c].reused_from or previous.id,
        )
    return previous.id, reused


def _plan_text(unit: BuildUnit, strategy: str = "") -> str:
    assert unit.plan is not None
    lines = [unit.nsvc]
    levels = unit.plan.levels()
    for c in unit.plan.components:
        after = ", ".join(unit.plan.after[c]) or "-"
        reused = "  (reused)" if unit.results.get(c) == "reused" else ""
        lines.append(f"  level {levels[c]}: {c} @ {unit.commits[c][:8]}  after: {after}{reused}")
    if strategy:
        origin = f", from module build {unit.reused_from}" if unit.reused_from else ""
        count = sum(1 for s in unit.results.values() if s == "reused")
        lines.append(f"  rebuild strategy: {strategy}; {count} reused{origin}")
    lines += [f"  {note}" for note in unit.reuse_notes]
    lines.append("  critical path: " + " -> ".join(unit.plan.critical_path()))
    return "\n".join(lines) + "\n"


class ComposeModule(ModuleStep):
    name = "compose"

    async def work(self) -> int:
        from ..compose import ComponentResult, compose

        lines = []
        for unit in self.state.units:
            components = [
                ComponentResult(
                    name=c,
                    rpms=_rpms_under(self.site.artifact_dir(unit.registry_id, c)),
                    commit=unit.commits[c],
                    buildonly=unit.module.components[c].buildonly,
                )
                for c in sorted(unit.module.components)
            ]
            out = self.site.artifact_dir(unit.registry_id, "compose")
            shutil.rmtree(out, ignore_errors=True)
            result = await in_thread(
                compose,
                unit.module,
                unit.expanded,
                unit.version,
                machine_arch(),
                components,
                self.state.commit,
                out,
                self.state.extra_documents,
                self.site.signer(),
            )
            unit.compose = result
            await in_thread(self.site.registry.set_module_state, unit.registry_id, "done")
            await self.addCompleteLog(f"{unit.nsvc} modules.yaml", result.modulemd)
            lines.append(f"{result.nsvca}: {len(result.artifacts)} artifacts")
        self.summary = "; ".join(lines)
        return SUCCESS


class PublishModule(ModuleStep):
    name = "publish"

    async def on_error(self, error: ModuleError) -> None:
        # The registry keeps where and what to do too (a full disk names its publish root).
        await self.mark_failed(str(error))

    async def work(self) -> int:
        from ..publish import publish

        paths = []
        for unit in self.state.units:
            module, expanded = unit.module, unit.expanded
            path = await in_thread(
                publish,
                unit.compose,
                self.site.publish_root,
                module.name,
                module.stream,
                unit.version,
                expanded.context,
                machine_arch(),
                SCRATCH_AREA if self.state.scratch else "stage",
                self.site.signer(),
            )
            await in_thread(
                self.site.registry.set_module_result,
                unit.registry_id,
                modulemd=unit.compose.modulemd,
                published_path=path,
            )
            # Still `done`: the stage gate (quality.py) makes it ready.
            paths.append(path)
            self.addURL(unit.nsvc, "file://" + path)
        from .quality import target_of

        self.build.bbmod_targets = [
            await in_thread(target_of, self.site, u.registry_id) for u in self.state.units
        ]
        area = SCRATCH_AREA if self.state.scratch else "stage"
        self.summary = f"published to {area}: " + ", ".join(u.nsvc for u in self.state.units)
        return SUCCESS


def machine_arch() -> str:
    """The architecture composes are published under (this master's)."""
    return os.uname().machine


def _rpms_under(folder: str) -> list[str]:
    found: list[str] = []
    for base, _dirs, files in os.walk(folder):
        found.extend(os.path.join(base, f) for f in files if f.endswith(".rpm"))
    return sorted(found)
