"""``modules.installability``: every profile installs with ``dnf module install``."""

from __future__ import annotations

import os

from ._tools import (
    BuiltinCheck,
    Log,
    check_repositories_read,
    composed_stream,
    dnf_argv,
    module_repos,
    run,
    shorten,
    timeout_of,
)
from .base import FAILED, INFO, NEEDS_INSPECTION, PASSED, CheckContext, CheckResult, ItemResult


def _why(stdout: str, stderr: str) -> str:
    """The line of dnf's answer that explains a failed install, for a one-line note:
    the first problem (``- nothing provides X needed by P``), else the error message."""
    lines = [line.strip() for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("- "):
            return line[2:]
    for n, line in enumerate(lines):
        if line.startswith("Error:"):
            rest = line.removeprefix("Error:").strip()
            if rest and not rest.endswith(":"):
                return rest
            if n + 1 < len(lines):
                return lines[n + 1]
    return lines[-1] if lines else "no output"


class InstallabilityCheck(BuiltinCheck):
    """Every profile of the module installs: ``dnf module install N:S/PROFILE`` into a
    new scratch installroot per profile, with the compose, the required modules'
    repositories and the platform repository. The repositories are *not* hotfixed:
    modular filtering is what a user's dnf applies, so the profile must install through
    it (required module streams are enabled by dnf from the module's dependencies).

    One ItemResult per profile; the check FAILS when one profile does not install. A
    module without profiles gives INFO. dnf installs into an installroot only as root:
    as another user the check gives NEEDS_INSPECTION.

    Settings: ``timeout`` (seconds per profile, default 900).
    """

    name = "modules.installability"
    summary = "every profile installs with dnf module install"

    def check(self, ctx: CheckContext, log: Log) -> CheckResult:
        timeout = timeout_of(ctx, 900)
        profiles = sorted(composed_stream(ctx).get_profile_names())
        if not profiles:
            return CheckResult(INFO, "the module has no profile to install", log.text)
        if os.geteuid() != 0:
            note = "dnf installs into an installroot only as root; run the check as root"
            return CheckResult(NEEDS_INSPECTION, note, log.text)
        repos = module_repos(ctx, hotfixes=False)
        for repo in repos:
            log.add(f"repository {repo.id}: {repo.url}")
        items = []
        for n, profile in enumerate(profiles):
            spec = f"{ctx.name}:{ctx.stream}/{profile}"
            log.add(f"\n== profile {profile}")
            root = os.path.join(ctx.workdir, f"install-{n}")
            argv = dnf_argv(ctx, root, repos)
            proc = run(log, [*argv, "module", "install", spec], ctx.workdir, timeout)
            check_repositories_read(proc)
            if proc.returncode == 0:
                items.append(ItemResult(profile, PASSED, f"{spec} installs"))
            else:
                why = _why(proc.stdout, proc.stderr)
                items.append(ItemResult(profile, FAILED, f"{spec}: {why}"))
        for item in items:
            log.add(f"{item.outcome:6} {item.item}: {item.note}")
        failed = [i for i in items if i.outcome == FAILED]
        if failed:
            note = f"{len(failed)} of {len(items)} profiles do not install: " + shorten(
                [i.note for i in failed], 2
            )
            return CheckResult(FAILED, note, log.text, items)
        return CheckResult(PASSED, f"{len(items)} profiles install", log.text, items)
