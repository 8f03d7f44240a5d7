"""``qe.license-file``: every binary RPM of the module ships a license file.

An example of a QE check plug-in for buildbot-modules (docs/quality.md): a class with a
``name`` (the ResultsDB test case), a ``summary`` and ``run(ctx) -> CheckResult``,
registered in the entry-point group ``buildbot_modules.checks``.

Configuration (``check_config["qe.license-file"]``): ``exempt``, a list of package name
patterns (fnmatch) that need no license file, e.g. ``["*-debuginfo", "*-doc"]``.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess

from buildbot_modules.checks.base import FAILED, PASSED, CheckContext, CheckResult, ItemResult

# %{FILEFLAGS:fflags} prints "l" for a file marked %license.
QUERY = "[%{FILEFLAGS:fflags} %{FILENAMES}\\n]"


class LicenseFileCheck:
    name = "qe.license-file"
    summary = "every binary RPM ships a %license file"

    def run(self, ctx: CheckContext) -> CheckResult:
        exempt = [str(p) for p in ctx.config.get("exempt", ["*-debuginfo", "*-debugsource"])]
        details: list[ItemResult] = []
        log: list[str] = []
        for path in sorted(_binary_rpms(ctx.compose)):
            name = _rpm_name(path)
            if any(fnmatch.fnmatch(name, p) for p in exempt):
                details.append(ItemResult(name, PASSED, "exempt"))
                continue
            files = _query(path, QUERY)
            licenses = [line.split(" ", 1)[1] for line in files if line.split(" ", 1)[0].count("l")]
            log.append(f"{os.path.basename(path)}: {', '.join(licenses) or 'no license file'}")
            if licenses:
                details.append(ItemResult(name, PASSED, licenses[0]))
            else:
                details.append(ItemResult(name, FAILED, "no file marked %license"))
        missing = [d.item for d in details if d.outcome == FAILED]
        if not details:
            return CheckResult(PASSED, "no binary RPMs to check", log="\n".join(log))
        if missing:
            return CheckResult(
                FAILED,
                f"{len(missing)} package(s) without a license file: {', '.join(missing)}",
                log="\n".join(log) + "\n",
                details=details,
            )
        return CheckResult(
            PASSED,
            f"all {len(details)} packages ship a license file",
            "\n".join(log) + "\n",
            details,
        )


def _binary_rpms(folder: str) -> list[str]:
    found = []
    for base, _dirs, files in os.walk(folder):
        found += [
            os.path.join(base, f)
            for f in files
            if f.endswith(".rpm") and not f.endswith((".src.rpm", ".nosrc.rpm"))
        ]
    return found


def _query(path: str, fmt: str) -> list[str]:
    proc = subprocess.run(
        ["rpm", "-qp", "--nosignature", "--nodigest", "--qf", fmt, path],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line for line in proc.stdout.splitlines() if line.strip()]


def _rpm_name(path: str) -> str:
    return _query(path, "%{NAME}\\n")[0]
