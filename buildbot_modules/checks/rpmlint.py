"""``modules.rpmlint``: rpmlint on every binary RPM of the compose."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..compose import RpmInfo
from ._tools import (
    BuiltinCheck,
    Log,
    ToolError,
    binary_headers,
    composed_stream,
    last_line,
    need,
    run,
    shorten,
    timeout_of,
)
from .base import FAILED, INFO, PASSED, CheckContext, CheckResult, ItemResult

DEFAULT_FILTERS: tuple[str, ...] = (
    # Fedora's own rpmlint configuration filters these three: RPMs are signed when
    # published, not built; Fedora uses neither the Packager nor the Group tag.
    r" no-signature\b",
    r" no-packager-tag\b",
    r" no-group-tag\b",
    # Without a distribution's list of licences (Debian's rpmlint has none) every
    # licence is "invalid"; a site with a list passes it in `config`.
    r" invalid-license\b",
    # The build system, not the packager, appends the module's dist tag to every Release
    # (1.0-1 becomes 1.0-1.module+f39+…); the packager's changelog cannot name it.
    r" incoherent-version-in-changelog\b",
    # openSUSE's naming rule in Debian's default rpmlint configuration (a package whose
    # name ends in -lib, -app, … must depend on locales-*); not a Fedora rule.
    r" no-dependency-on locales-",
    # openSUSE's shared library policy (libfoo.so.1 must be in package libfoo1); Fedora
    # names library packages after the project.
    r" shlib-policy-",
)
"""Findings ignored unless the setting ``default_filters`` is false."""

# rpmlint's exit codes when it ran to the end: clean, errors, badness over the threshold.
_RAN = (0, 64, 66)
# "name.arch: E: check-id details" (rpmlint 1.x and 2.x).
_FINDING = re.compile(r"^(?P<package>[^\s:]+): (?P<level>[EW]): (?P<id>\S+)(?: .*)?$")


@dataclass(frozen=True)
class Finding:
    line: str
    level: str  # "E" or "W"
    id: str


class RpmlintCheck(BuiltinCheck):
    """rpmlint on every binary RPM of the compose, one ItemResult per RPM (its NEVRA).

    Policy: an **API RPM** (named in ``api.rpms``) must pass fully — any error or
    warning fails it. Any other RPM may have warnings but fails on an error. Findings a
    filter matches are ignored (and logged). The check FAILS when any RPM fails; its note
    names the failed RPMs with their first finding. rpmlint's own exit status is not the
    verdict (its badness threshold is not this policy); an exit other than rpmlint's
    three normal ones (0, 64, 66) gives NEEDS_INSPECTION.

    Settings (``ctx.config``):

    - ``config``: path of an rpmlint configuration (a TOML file, or a folder of them, for
      rpmlint 2; an rpmlintrc for rpmlint 1), passed as ``--config`` (``-f`` for rpmlint 1);
    - ``filters``: regular expressions; a finding whose line, as rpmlint prints it
      (``foo.x86_64: W: no-documentation``), any of them matches (``re.search``) is
      ignored — the semantics of rpmlint's own ``Filters``;
    - ``default_filters`` (default true): also apply :data:`DEFAULT_FILTERS`;
    - ``timeout`` (seconds, default 1800).

    rpmlint runs with ``HOME`` in the work directory: only the configuration given here
    applies, never a user's ``~/.config/rpmlint``.
    """

    name = "modules.rpmlint"
    summary = "rpmlint on every binary RPM: API RPMs pass fully, others may warn"

    def check(self, ctx: CheckContext, log: Log) -> CheckResult:
        filters = self._filters(ctx)
        timeout = timeout_of(ctx, 1800)
        api = set(composed_stream(ctx).get_rpm_api())
        headers = binary_headers(log, ctx.compose, ctx.workdir)
        if not headers:
            return CheckResult(INFO, "the compose has no binary RPM to lint", log.text)
        log.add(f"API RPMs: {', '.join(sorted(api)) or 'none'}")
        log.add("filters: " + (", ".join(repr(f.pattern) for f in filters) or "none"))
        findings = self._lint(ctx, log, headers, timeout)
        items = []
        firsts = []
        for info in headers:
            mine = findings.get(f"{info.name}.{info.arch}", [])
            kept = [f for f in mine if not any(p.search(f.line) for p in filters)]
            for f in mine:
                if f not in kept:
                    log.add(f"filtered: {f.line}")
            item, first = self._verdict(info, kept, info.name in api)
            items.append(item)
            if first is not None:
                firsts.append(f"{info.nevra} ({first})")
        for item in items:
            log.add(f"{item.outcome:6} {item.item}: {item.note}")
        failed = [i for i in items if i.outcome == FAILED]
        if failed:
            note = f"{len(failed)} of {len(items)} RPMs failed: {shorten(firsts, 3)}"
            return CheckResult(FAILED, note, log.text, items)
        warned = sum(1 for i in items if "warning" in i.note)
        note = f"{len(items)} RPMs pass"
        if warned:
            note += f" ({warned} non-API RPMs with warnings)"
        return CheckResult(PASSED, note, log.text, items)

    def _filters(self, ctx: CheckContext) -> list[re.Pattern[str]]:
        given = ctx.config.get("filters", [])
        if isinstance(given, str) or not isinstance(given, Sequence):
            raise ToolError("filters: a list of regular expressions")
        defaults = ctx.config.get("default_filters", True)
        if not isinstance(defaults, bool):
            raise ToolError(f"default_filters: {defaults!r} is not true or false")
        out = [re.compile(p) for p in DEFAULT_FILTERS] if defaults else []
        for n, pattern in enumerate(given):
            if not isinstance(pattern, str):
                raise ToolError(f"filters[{n}]: {pattern!r} is not a string")
            try:
                out.append(re.compile(pattern))
            except re.error as e:
                raise ToolError(
                    f"filters[{n}]: {pattern!r} is not a regular expression: {e}"
                ) from None
        return out

    def _lint(
        self, ctx: CheckContext, log: Log, headers: list[RpmInfo], timeout: float
    ) -> dict[str, list[Finding]]:
        """rpmlint's findings by ``name.arch``."""
        rpmlint = need("rpmlint")
        version = run(log, [rpmlint, "--version"], ctx.workdir, 60).stdout.strip()
        argv = [rpmlint]
        config = ctx.config.get("config")
        if config is not None:
            if not isinstance(config, str) or not os.path.exists(config):
                raise ToolError(f"config: {config!r}: no such rpmlint configuration")
            # rpmlint 1 takes its configuration with -f (its -c selects a check).
            major = re.search(r"(\d+)\.", version)
            argv += ["-f" if major and int(major.group(1)) < 2 else "--config", config]
        proc = run(log, [*argv, *(h.path for h in headers)], ctx.workdir, timeout)
        if proc.returncode not in _RAN:
            raise ToolError(f"rpmlint failed (exit {proc.returncode}): {last_line(proc)}")
        findings: dict[str, list[Finding]] = {}
        for line in proc.stdout.splitlines():
            m = _FINDING.match(line.strip())
            if m is not None:
                findings.setdefault(m["package"], []).append(
                    Finding(line.strip(), m["level"], m["id"])
                )
        return findings

    @staticmethod
    def _verdict(
        info: RpmInfo, findings: list[Finding], is_api: bool
    ) -> tuple[ItemResult, str | None]:
        """The RPM's result, and the finding that failed it first (None when it passed)."""
        errors = [f for f in findings if f.level == "E"]
        warnings = [f for f in findings if f.level == "W"]
        counts = f"{len(errors)} errors, {len(warnings)} warnings"
        failing = errors + warnings if is_api else errors
        if failing:
            first = failing[0].line.split(": ", 1)[1]
            rule = "an API RPM passes fully" if is_api else "errors fail"
            return ItemResult(info.nevra, FAILED, f"{counts} ({rule}); first: {first}"), first
        if warnings:
            note = f"{len(warnings)} warnings (allowed: not an API RPM)"
            return ItemResult(info.nevra, PASSED, note), None
        return ItemResult(info.nevra, PASSED, "clean" + (" (API RPM)" if is_api else "")), None
