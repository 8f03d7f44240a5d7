"""Module quality in the pipeline (docs/quality.md): check steps, the two gates, promotion
to production, and the release-engineering actions (waive, promote, re-run checks).

After publish to stage a module build runs one step per check on each of its expanded
builds; every outcome goes to the registry in ResultsDB's shape. Then ``gate stage``
asks the gating policy (Greenwave's shape) for the ``stage`` decision: satisfied, the
build becomes *ready* (other modules may build on it); then ``gate production``: satisfied
and ``promotion = "auto"``, it is published to ``<publish root>/production/``.
The same steps serve the ``module-actions`` builder, which starts from a build in the
registry instead of a fresh compose.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from buildbot.process.buildstep import BuildStep, ShellMixin
from buildbot.process.results import EXCEPTION, FAILURE, SKIPPED, SUCCESS, WARNINGS

from ..checks.base import (
    FAILED,
    INFO,
    NEEDS_INSPECTION,
    PASSED,
    Check,
    CheckContext,
    CheckResult,
    ItemResult,
    PreviousBuild,
)
from ..core.documents import load_text
from ..core.module import ModuleStream, modules_of
from ..core.problems import ModuleError
from .steps import ModuleStep, machine_arch
from .threads import in_thread

if TYPE_CHECKING:
    from .site import ModuleSite

STAGE, PRODUCTION = "stage", "production"
RED = (FAILED, NEEDS_INSPECTION)


@dataclass
class Target:
    """One published module build that checks and gates look at."""

    registry_id: int
    nsvc: str
    name: str
    stream: str
    version: int
    context: str
    repository: str  # the published stage repository for this arch
    modulemd: str
    module: ModuleStream
    commit: str
    buildrequires: dict[str, str] = field(default_factory=dict)
    requires: dict[str, list[str]] = field(default_factory=dict)


def target_of(site: ModuleSite, registry_id: int) -> Target:
    """A published build from the registry (blocking)."""
    record = site.registry.module_build(registry_id)
    if not record.published_path or not record.modulemd:
        raise ModuleError(
            f"{record.nsvc} is not published (state {record.state})",
            hint="only a build that reached stage can be checked, gated or promoted",
        )
    documents = load_text(record.modulemd, f"registry:{record.nsvc}")
    streams = [m for m in modules_of(documents) if m.name == record.name]
    if not streams:
        raise ModuleError(f"the registry's modulemd of {record.nsvc} has no module stream")
    return Target(
        registry_id=record.id,
        nsvc=record.nsvc,
        name=record.name,
        stream=record.stream,
        version=record.version,
        context=record.context,
        repository=record.published_path,
        modulemd=record.modulemd,
        module=streams[0],
        commit=record.commit,
        buildrequires=dict(record.buildrequires),
        requires={k: list(v) for k, v in record.requires.items()},
    )


def find_build(site: ModuleSite, nsvc: str) -> int:
    """The registry id of ``N:S:V:C`` (blocking); ModuleError when unknown."""
    parts = nsvc.strip().split(":")
    if len(parts) != 4 or not (parts[2].isascii() and parts[2].isdigit()):
        raise ModuleError(f"{nsvc!r} is not NAME:STREAM:VERSION:CONTEXT")
    name, stream, version, context = parts
    for build in site.registry.module_builds(name=name, stream=stream):
        if build.version == int(version) and build.context == context:
            return int(build.id)
    raise ModuleError(f"no module build {nsvc} in the registry")


class Quality:
    """The site's quality settings put to work: which checks run for a module, what
    they are given, the gating decisions and what follows from them (blocking calls)."""

    def __init__(self, site: ModuleSite) -> None:
        self.site = site
        self._checks: dict[str, Check] | None = None

    # -- which checks

    def command_names(self) -> list[str]:
        return list(self.site.settings.check_commands)

    def enabled_names(self) -> list[str]:
        """Every check any module runs: ``checks`` plus those ``module_checks`` add."""
        s = self.site.settings
        names = list(s.checks)
        for extra in s.module_checks.values():
            names += [n for n in extra if not n.startswith("-") and n not in names]
        return names

    def checks(self) -> dict[str, Check]:
        """The Python checks (built-in and plug-ins) enabled anywhere, by name."""
        if self._checks is None:
            from ..checks import load_checks

            wanted = [n for n in self.enabled_names() if n not in self.command_names()]
            self._checks = load_checks(wanted)
        return self._checks

    def checks_for(self, module: str) -> set[str]:
        """The checks that run for ``module``: ``checks``, changed by ``module_checks``
        (a name adds a check, ``-name`` removes one)."""
        s = self.site.settings
        names = set(s.checks)
        for entry in s.module_checks.get(module, []):
            if entry.startswith("-"):
                names.discard(entry[1:])
            else:
                names.add(entry)
        return names

    # -- what a check gets

    def context(self, target: Target, workdir: str, check: str) -> CheckContext:
        platform = target.buildrequires.get("platform", self.site.settings.platforms[0])
        platform_repo = self.site.platform_repo(platform)
        return CheckContext(
            name=target.name,
            stream=target.stream,
            version=target.version,
            context=target.context,
            arch=machine_arch(),
            compose=target.repository,
            modulemd=target.modulemd,
            module=target.module,
            workdir=workdir,
            previous=self.previous(target),
            platform=platform,
            platform_repo=platform_repo if os.path.isdir(platform_repo) else None,
            required_repos=self.required_repos(target),
            config=dict(self.site.settings.check_config.get(check, {})),
            eol=self.site.registry.eol(target.name, target.stream),
            registry=self.site.registry,
        )

    def previous(self, target: Target) -> PreviousBuild | None:
        """The newest other published build of the same stream and context."""
        for build in self.site.registry.module_builds(name=target.name, stream=target.stream):
            if (
                build.id != target.registry_id
                and build.context == target.context
                and build.version <= target.version
                and build.published_path
                and build.modulemd
                and os.path.isdir(build.published_path)
            ):
                return PreviousBuild(build.nsvc, build.published_path, build.modulemd)
        return None

    def required_repos(self, target: Target) -> list[str]:
        """The repositories of the modules this build requires at run time, at the stream
        it was built against (else the first stream it names)."""
        repos: list[str] = []
        for name, streams in sorted(target.requires.items()):
            if name == "platform":
                continue
            stream = target.buildrequires.get(name) or next(
                (s for s in streams if not s.startswith("-")), ""
            )
            if stream:
                repos += self.site.module_repositories(name, stream)
        return repos

    # -- results and decisions

    def record(self, target: Target, testcase: str, result: CheckResult, ref_url: str) -> None:
        """Store one outcome (and send it to ResultsDB when the site names one)."""
        data = {
            "arch": machine_arch(),
            "details": [
                {"item": d.item, "outcome": d.outcome, "note": d.note} for d in result.details
            ],
        }
        record = self.site.registry.add_result(
            target.registry_id,
            testcase,
            result.outcome,
            note=result.note,
            ref_url=ref_url,
            data=data,
        )
        if self.site.settings.resultsdb_url:
            from ..resultsdb import forward

            forward(record, self.site.settings.resultsdb_url)

    def policies(self, target: Target) -> tuple[list[Any], ModuleError | None]:
        """The site's policy file plus the module's own ``gating.yaml`` (which can only
        add requirements); a broken ``gating.yaml`` is returned as the error that holds
        the build (Greenwave's ``invalid-gating-yaml``)."""
        from ..gating import PolicyError, load_policies, merge, parse_policies

        s = self.site.settings
        site_policies = load_policies(s.path(s.gating_policy)) if s.gating_policy else []
        try:
            raw = self.site.distgit.show("modules", target.name, target.commit, "gating.yaml")
        except ModuleError:
            return list(site_policies), None  # the module has no gating.yaml
        source = f"modules/{target.name}/gating.yaml@{target.commit[:8]}"
        try:
            text = raw.decode("utf-8", errors="replace")
            module_policies = parse_policies(text, source, module=True)
        except PolicyError as e:
            return list(site_policies), e
        return list(merge(site_policies, module_policies)), None

    def decide(self, target: Target, context: str) -> dict[str, Any]:
        from ..gating import decide_build

        policies, error = self.policies(target)
        decision: dict[str, Any] = decide_build(
            self.site.registry, target.registry_id, policies, context, module_policy_error=error
        )
        return decision

    def after_stage(self, target: Target, satisfied: bool) -> str:
        record = self.site.registry.module_build(target.registry_id)
        state = record.state
        if record.scratch:
            return f"scratch build: stays {state}; never ready for other builds, never promoted"
        if not satisfied:
            return f"held at stage ({state})"
        if state == "done":
            self.site.registry.set_module_state(target.registry_id, "ready")
            return "ready"
        return state

    def after_production(self, target: Target, satisfied: bool, who: str) -> str:
        record = self.site.registry.module_build(target.registry_id)
        if record.scratch:
            return "scratch build: never promoted"
        if record.state != "ready":
            return "not ready: stays at stage"
        if not satisfied:
            return "not promoted: the production policy is not satisfied"
        if record.production_path:
            return f"in production since {record.promoted_at:%Y-%m-%d %H:%M} UTC"
        if who == "automatic" and self.site.settings.promotion != "auto":
            return "may be promoted: a release engineer promotes it"
        path = self.promote(target, who)
        return f"promoted to {path}"

    def promote(self, target: Target, who: str) -> str:
        from ..compose import ComposeResult
        from ..publish import publish

        arch = machine_arch()
        stage = target.repository
        compose = ComposeResult(
            repo=stage,
            source_repo=os.path.join(os.path.dirname(stage), "src"),
            modulemd=target.modulemd,
            nsvca=f"{target.nsvc}:{arch}",
            artifacts=[],
        )
        path = publish(
            compose,
            self.site.publish_root,
            target.name,
            target.stream,
            target.version,
            target.context,
            arch,
            PRODUCTION,
            self.site.signer(),
        )
        self.site.registry.set_promoted(target.registry_id, path, who)
        return path


# ----------------------------------------------------------------------------- steps


class QualityStep(ModuleStep):
    """A step over the build's published targets: the module build's (set by publish)
    or, in a ``module-actions`` build, the one build the action names."""

    def targets(self) -> list[Target]:
        found: list[Target] = getattr(self.build, "bbmod_targets", [])
        return found


class LoadTarget(QualityStep):
    """``module-actions``: the build the action names (property ``nsvc``)."""

    name = "find build"

    async def work(self) -> int:
        nsvc = str(self.getProperty("nsvc") or "")
        registry_id = await in_thread(find_build, self.site, nsvc)
        target = await in_thread(target_of, self.site, registry_id)
        self.build.bbmod_targets = [target]
        self.setProperty("module", target.name, self.name)
        self.summary = f"{target.nsvc} at {target.repository}"
        return SUCCESS

    async def mark_failed(self, reason: str) -> None:
        """An action that fails leaves the build's state as it was."""


class RunCheck(QualityStep):
    """One check (built-in or plug-in) on every target; outcomes to the registry."""

    def __init__(self, site: ModuleSite, check: Check, **kwargs: Any) -> None:
        kwargs.setdefault("flunkOnFailure", False)
        kwargs.setdefault("warnOnFailure", True)
        super().__init__(site, name=f"check {check.name}", **kwargs)
        self.check = check

    async def mark_failed(self, reason: str) -> None:
        """A check that cannot run is a result (NEEDS_INSPECTION), not a failed build."""

    async def work(self) -> int:
        quality = self.site.quality
        targets = [t for t in self.targets() if self.check.name in quality.checks_for(t.name)]
        if not targets:
            self.summary = f"{self.check.name}: not enabled for this module"
            return SKIPPED
        lines, worst = [], SUCCESS
        for target in targets:
            result = await in_thread(self._run, target)
            await self.addCompleteLog(target.nsvc, result.log or result.note + "\n")
            await self.record(target, result)
            lines.append(f"{result.outcome}: {result.note}")
            if result.outcome in RED:
                worst = FAILURE
        self.summary = f"{self.check.name}: " + "; ".join(lines)
        self.summary = self.summary if len(self.summary) < 200 else self.summary[:197] + "..."
        return worst

    def _run(self, target: Target) -> CheckResult:
        with tempfile.TemporaryDirectory(prefix="bbmod-check-") as workdir:
            ctx = self.site.quality.context(target, workdir, self.check.name)
            try:
                return self.check.run(ctx)
            except Exception as e:  # a broken check is for a human to look at
                return CheckResult(
                    NEEDS_INSPECTION,
                    f"the check failed to run: {type(e).__name__}: {e}",
                    log=f"{type(e).__name__}: {e}\n",
                )

    async def record(self, target: Target, result: CheckResult) -> None:
        await record_result(self, target, self.check.name, result)


async def record_result(
    step: BuildStep, target: Target, testcase: str, result: CheckResult
) -> None:
    site: ModuleSite = step.site
    build_url = site.settings.url + f"#/builders/{step.build.builder._builderid}/builds/"
    build_url += str(step.build.number)
    await in_thread(site.quality.record, target, testcase, result, build_url)


class CommandCheck(ShellMixin, QualityStep):  # type: ignore[misc]
    """A QE script declared in the settings (``check_commands``), run on the worker of
    the module build for each target. Exit 0 is PASSED, anything else FAILED; a JSON
    ``{"outcome": …, "note": …}`` written to ``$BBMOD_RESULT`` overrides that."""

    def __init__(self, site: ModuleSite, testcase: str, command: list[str], **kwargs: Any):
        kwargs.setdefault("flunkOnFailure", False)
        kwargs.setdefault("warnOnFailure", True)
        kwargs = self.setupShellMixin(kwargs)
        super().__init__(site, name=f"check {testcase}", **kwargs)
        self.testcase = testcase
        self.argv = command

    async def mark_failed(self, reason: str) -> None:
        """The script's failure is its result, not the build's."""

    async def work(self) -> int:
        quality = self.site.quality
        targets = [t for t in self.targets() if self.testcase in quality.checks_for(t.name)]
        if not targets:
            self.summary = f"{self.testcase}: not enabled for this module"
            return SKIPPED
        worst, lines = SUCCESS, []
        for target in targets:
            folder = tempfile.mkdtemp(prefix="bbmod-qe-")
            try:
                modulemd = os.path.join(folder, "modules.yaml")
                with open(modulemd, "w", encoding="utf-8") as f:
                    f.write(target.modulemd)
                result_file = os.path.join(folder, "result.json")
                env = {
                    "BBMOD_NSVC": target.nsvc,
                    "BBMOD_REPOSITORY": target.repository,
                    "BBMOD_MODULEMD": modulemd,
                    "BBMOD_RESULT": result_file,
                    "BBMOD_PLATFORM_REPO": self.site.platform_repo(
                        target.buildrequires.get("platform", "")
                    ),
                }
                cmd = await self.makeRemoteShellCommand(
                    command=self.argv, env=env, stdioLogName=f"{target.nsvc}"
                )
                await self.runCommand(cmd)
                result = _command_result(cmd.rc, result_file)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            await record_result(self, target, self.testcase, result)
            lines.append(f"{result.outcome}: {result.note}")
            if result.outcome in RED:
                worst = FAILURE
        self.summary = f"{self.testcase}: " + "; ".join(lines)
        return worst


def _command_result(rc: int | None, result_file: str) -> CheckResult:
    default = CheckResult(
        PASSED if rc == 0 else FAILED, "exit code 0" if rc == 0 else f"exit code {rc}"
    )
    try:
        with open(result_file, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as e:
        return CheckResult(NEEDS_INSPECTION, f"unreadable $BBMOD_RESULT: {e}")
    if not isinstance(raw, dict):
        return CheckResult(NEEDS_INSPECTION, "$BBMOD_RESULT must hold a JSON object")
    try:
        return CheckResult(
            str(raw.get("outcome", default.outcome)), str(raw.get("note", default.note))
        )
    except ValueError as e:
        return CheckResult(NEEDS_INSPECTION, f"$BBMOD_RESULT: {e}")


class RecordStepResult(QualityStep):
    """After an ordinary Buildbot step given as a check: its result as a ResultsDB
    outcome (success PASSED, warnings INFO, anything else FAILED)."""

    def __init__(self, site: ModuleSite, testcase: str, **kwargs: Any) -> None:
        kwargs.setdefault("alwaysRun", True)
        super().__init__(site, name=f"record {testcase}", **kwargs)
        self.testcase = testcase

    async def work(self) -> int:
        previous = self.build.executedSteps[-2]
        outcome = {SUCCESS: PASSED, WARNINGS: INFO}.get(previous.results, FAILED)
        note = f"step {previous.name!r}: " + " ".join(previous.description or [])
        for target in self.targets():
            await record_result(self, target, self.testcase, CheckResult(outcome, note))
        self.summary = f"{self.testcase}: {outcome}"
        return SUCCESS


class Gate(QualityStep):
    """Ask the gating policy about one decision context and act on the answer."""

    def __init__(self, site: ModuleSite, context: str, **kwargs: Any) -> None:
        super().__init__(site, name=f"gate {context}", **kwargs)
        self.context = context

    async def mark_failed(self, reason: str) -> None:
        """A policy error holds the build where it is."""

    async def work(self) -> int:
        lines, result = [], SUCCESS
        for target in self.targets():
            decision = await in_thread(self.site.quality.decide, target, self.context)
            await self.addCompleteLog(target.nsvc, json.dumps(decision, indent=2) + "\n")
            ok = bool(decision["policies_satisfied"])
            if self.context == STAGE:
                text = await in_thread(self.site.quality.after_stage, target, ok)
            else:
                text = await in_thread(self.site.quality.after_production, target, ok, self._who())
            lines.append(f"{decision['summary']} — {text}")
            if not ok:
                result = FAILURE
        self.summary = "; ".join(lines) or "nothing to decide"
        return result

    def _who(self) -> str:
        if self.getProperty("action") == "promote":
            return str(self.getProperty("owner") or "release engineering")
        return "automatic"


class Waive(QualityStep):
    """``module-actions`` waive: record a waiver of one test case for the build."""

    name = "waive"

    async def work(self) -> int:
        target = self.targets()[0]
        testcase = str(self.getProperty("testcase") or "").strip()
        comment = str(self.getProperty("comment") or "").strip()
        if not testcase:
            raise ModuleError("name the test case to waive, e.g. modules.rpmlint")
        if not comment:
            raise ModuleError("a waiver needs a comment saying why")
        who = str(self.getProperty("owner") or "unknown")
        await in_thread(self.site.registry.add_waiver, target.nsvc, testcase, comment, who)
        self.summary = f"{testcase} waived for {target.nsvc} by {who}: {comment}"
        return SUCCESS


def action_steps(site: ModuleSite, checks: list[BuildStep]) -> list[BuildStep]:
    """The ``module-actions`` factory: find the build, then per action what it needs."""

    def is_action(*names: str) -> Any:
        return lambda step: step.getProperty("action") in names

    steps: list[BuildStep] = [LoadTarget(site, haltOnFailure=True)]
    steps.append(Waive(site, haltOnFailure=True, doStepIf=is_action("waive")))
    for step in checks:  # copies: the module builds' steps keep their own arguments
        made = step.get_step_factory()
        steps.append(
            made.step_class(*made.args, **{**made.kwargs, "doStepIf": is_action("recheck")})
        )
    steps.append(Gate(site, STAGE, doStepIf=is_action("waive", "recheck", "promote")))
    steps.append(Gate(site, PRODUCTION, doStepIf=is_action("waive", "recheck", "promote")))
    return steps


# Re-exported for configurator and tests.
__all__ = [
    "EXCEPTION",
    "PRODUCTION",
    "STAGE",
    "CheckContext",
    "CommandCheck",
    "Gate",
    "ItemResult",
    "LoadTarget",
    "PreviousBuild",
    "RecordStepResult",
    "RunCheck",
    "Target",
    "Waive",
    "action_steps",
    "find_build",
    "target_of",
]
