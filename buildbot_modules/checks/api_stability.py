"""``modules.api-stability``: the API RPMs keep what they gave in the previous build."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..compose import RpmInfo
from ._tools import (
    BuiltinCheck,
    Log,
    ToolError,
    binary_headers,
    composed_stream,
    find_stream,
    full_nevra,
    last_line,
    need,
    read_index,
    run,
    shorten,
)
from .base import FAILED, INFO, PASSED, CheckContext, CheckResult, ItemResult

# Files that change with every rebuild of the same sources: build-id links are named
# after a hash of the binary.
IGNORED_FILES = re.compile(r"^/usr/lib/\.build-id/")

# One line per provide and per file; %{=NAME} repeats the package name on every line.
_QUERY = "[%{=NAME}\\tprovide\\t%{PROVIDENAME}\\n][%{=NAME}\\tfile\\t%{FILENAMES}\\n]"


@dataclass
class Surface:
    """What one API RPM (all files of that name) gives: provide names and files."""

    provides: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)


class ApiStabilityCheck(BuiltinCheck):
    """Compared with the previous build of the stream (``ctx.previous``):

    - every API RPM of the previous build (its ``api.rpms``) is still in ``api.rpms``
      and in the compose;
    - none of them lost a provide — by name: ``foo = 1.0`` becoming ``foo = 1.1`` is no
      loss, ``libfoo.so.1()(64bit)`` becoming ``libfoo.so.2()(64bit)`` is;
    - none of them lost a file (``/usr/lib/.build-id/`` links, renamed by every rebuild,
      excepted).

    Provides and files come from the RPM headers (``rpm -qp --queryformat``, the data of
    ``--provides`` and ``-l``). One ItemResult per previous API RPM; a removal FAILS the
    check, naming the package and what it lost. The first build of a stream gives INFO.
    Of the previous repository only the RPMs its modulemd lists as artifacts count, so
    an aggregate repository works too.
    """

    name = "modules.api-stability"
    summary = "API RPMs keep their provides and files from the previous build"

    def check(self, ctx: CheckContext, log: Log) -> CheckResult:
        previous = ctx.previous
        if previous is None:
            return CheckResult(INFO, "first build of this stream: nothing to compare", log.text)
        log.add(f"previous build {previous.nsvc}: {previous.repository}")
        index, problems = read_index(previous.modulemd)
        old_stream = find_stream(index, ctx.name, ctx.stream)
        if old_stream is None:
            why = problems[0] if problems else f"no {ctx.name}:{ctx.stream} in it"
            raise ToolError(f"cannot read the previous build's modulemd: {why}")
        old_api = sorted(old_stream.get_rpm_api())
        new_api = set(composed_stream(ctx).get_rpm_api())
        log.add(f"previous API RPMs: {', '.join(old_api) or 'none'}")
        if not old_api:
            return CheckResult(PASSED, "the previous build had no API RPMs", log.text)
        artifacts = {full_nevra(a) for a in old_stream.get_rpm_artifacts()}
        old_headers = [
            h
            for h in binary_headers(log, previous.repository, ctx.workdir)
            if h.name in old_api and (not artifacts or full_nevra(h.nevra) in artifacts)
        ]
        new_headers = [
            h for h in binary_headers(log, ctx.compose, ctx.workdir) if h.name in old_api
        ]
        old = self._surfaces(ctx, log, old_headers)
        new = self._surfaces(ctx, log, new_headers)
        items = []
        for name in old_api:
            items.append(self._compare(log, name, old.get(name), new.get(name), name in new_api))
        for item in items:
            log.add(f"{item.outcome:6} {item.item}: {item.note}")
        failed = [i for i in items if i.outcome == FAILED]
        if failed:
            note = f"{len(failed)} of {len(items)} API RPMs lost part of their API: " + shorten(
                [f"{i.item} {i.note}" for i in failed], 2
            )
            return CheckResult(FAILED, note, log.text, items)
        note = f"{len(items)} API RPMs keep their provides and files since {previous.nsvc}"
        return CheckResult(PASSED, note, log.text, items)

    def _surfaces(self, ctx: CheckContext, log: Log, headers: list[RpmInfo]) -> dict[str, Surface]:
        if not headers:
            return {}
        rpm = need("rpm")
        argv = [rpm, "-qp", "--nosignature", "--nodigest", "--queryformat", _QUERY]
        proc = run(log, [*argv, "--", *(h.path for h in headers)], ctx.workdir, 300)
        if proc.returncode != 0:
            raise ToolError(f"rpm -qp failed (exit {proc.returncode}): {last_line(proc)}")
        out: dict[str, Surface] = {h.name: Surface() for h in headers}
        for line in proc.stdout.splitlines():
            name, kind, value = [*line.split("\t", 2), "", ""][:3]
            surface = out.get(name)
            if surface is None or not value:
                continue
            if kind == "provide":
                surface.provides.add(value)
            elif kind == "file" and not IGNORED_FILES.match(value):
                surface.files.add(value)
        return out

    @staticmethod
    def _compare(
        log: Log, name: str, old: Surface | None, new: Surface | None, in_api: bool
    ) -> ItemResult:
        if old is None:
            return ItemResult(name, PASSED, "not in the previous compose: nothing to keep")
        if new is None:
            return ItemResult(name, FAILED, "is no longer in the compose")
        lost = []
        if not in_api:
            lost.append("is no longer in api.rpms")
        gone_provides = sorted(old.provides - new.provides)
        gone_files = sorted(old.files - new.files)
        for what, gone in (("provides", gone_provides), ("files", gone_files)):
            if gone:
                log.add(f"{name} lost {len(gone)} {what}:\n  " + "\n  ".join(gone))
                lost.append(f"lost {what} " + shorten(gone, 20))
        if lost:
            return ItemResult(name, FAILED, "; ".join(lost))
        return ItemResult(
            name,
            PASSED,
            f"keeps its {len(old.provides)} provides and {len(old.files)} files",
        )
