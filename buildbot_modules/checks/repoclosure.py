"""``modules.repoclosure``: every dependency of the module's RPMs resolves."""

from __future__ import annotations

import os
import re

from ._tools import (
    BuiltinCheck,
    Log,
    ToolError,
    binary_headers,
    check_repositories_read,
    dnf_argv,
    last_line,
    module_repos,
    run,
    shorten,
    timeout_of,
)
from .base import FAILED, INFO, PASSED, CheckContext, CheckResult, ItemResult

_PACKAGE = re.compile(r"^package: (?P<package>\S+) from (?P<repo>\S+)$")
_UNRESOLVED = re.compile(r"^unresolved deps(?: \(\d+\))?:$")


def parse_repoclosure(text: str) -> dict[str, list[str]]:
    """``dnf repoclosure`` output → unresolved dependencies by package (NEVRA as dnf
    prints it)."""
    found: dict[str, list[str]] = {}
    package: str | None = None
    collecting = False
    for raw in text.splitlines():
        line = raw.strip()
        m = _PACKAGE.match(line)
        if m is not None:
            package = m["package"]
            found[package] = []
            collecting = False
        elif package is not None and _UNRESOLVED.match(line):
            collecting = True
        elif collecting and package is not None and raw.startswith("    ") and line:
            found[package].append(line)
        else:
            collecting = False
    return found


class RepoclosureCheck(BuiltinCheck):
    """``dnf repoclosure`` over the compose, the repositories of the modules it requires
    at run time (``ctx.required_repos``) and the platform repository
    (``ctx.platform_repo``), checking only the compose's packages (``--check module``).

    The module repositories are marked ``module_hotfixes``: modular filtering would hide
    their RPMs and repoclosure would check nothing. Each required repository is taken to
    be the published repository of the required build, so making all its RPMs visible
    shows no more than the required stream. One ItemResult per package with unresolved
    dependencies (FAILED, listing them); the check FAILS when there is one.

    Settings: ``timeout`` (seconds, default 900).
    """

    name = "modules.repoclosure"
    summary = "the compose's RPMs resolve with the required modules and the platform"

    def check(self, ctx: CheckContext, log: Log) -> CheckResult:
        timeout = timeout_of(ctx, 900)
        headers = binary_headers(log, ctx.compose, ctx.workdir)
        if not headers:
            return CheckResult(INFO, "the compose has no binary RPM to check", log.text)
        repos = module_repos(ctx, hotfixes=True)
        for repo in repos:
            log.add(f"repository {repo.id}: {repo.url}")
        argv = dnf_argv(
            ctx, os.path.join(ctx.workdir, "repoclosure-root"), repos, plugins=["repoclosure"]
        )
        proc = run(log, [*argv, "repoclosure", "--check", "module"], ctx.workdir, timeout)
        check_repositories_read(proc)
        unresolved = parse_repoclosure(proc.stdout)
        if proc.returncode == 0 and not unresolved:
            note = f"every dependency of the {len(headers)} RPMs resolves"
            return CheckResult(PASSED, note, log.text)
        if not unresolved:
            raise ToolError(f"dnf repoclosure failed (exit {proc.returncode}): {last_line(proc)}")
        items = [
            ItemResult(package, FAILED, "unresolved: " + ", ".join(deps))
            for package, deps in sorted(unresolved.items())
        ]
        for item in items:
            log.add(f"{item.outcome:6} {item.item}: {item.note}")
        named = shorten([f"{p} needs {', '.join(d)}" for p, d in sorted(unresolved.items())], 3)
        total = sum(len(d) for d in unresolved.values())
        note = f"{total} unresolved dependencies in {len(unresolved)} RPMs: {named}"
        return CheckResult(FAILED, note, log.text, items)
