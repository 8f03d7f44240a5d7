"""``modules.modulemd``: Fedora QE's module metadata checks on the composed document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..compose import RpmInfo, read_modules_metadata
from ..core.documents import modulemd
from ..core.problems import ModuleError
from ._tools import (
    BuiltinCheck,
    Log,
    binary_headers,
    find_stream,
    full_nevra,
    read_index,
    shorten,
    source_name,
)
from .base import FAILED, PASSED, CheckContext, CheckResult, ItemResult


def _item(rule: str, problems: list[str], passed: str) -> ItemResult:
    if problems:
        return ItemResult(rule, FAILED, "; ".join(problems))
    return ItemResult(rule, PASSED, passed)


class ModulemdCheck(BuiltinCheck):
    """Fedora QE's module checks, one ItemResult per rule, each rule FAILED or PASSED:

    - ``valid``: libmodulemd reads the composed document strictly (as dnf does), it holds
      this build's stream v2 with the build's version, context and arch, and the compose's
      repository carries it as its ``modules`` record;
    - ``summary``: does not end with a period;
    - ``description``: ends with a period;
    - ``rationale``: every component's rationale ends with a period;
    - ``api``: every ``api.rpms`` name is a binary RPM of the compose;
    - ``profiles``: every RPM a profile names is a binary RPM of the compose;
    - ``components``: every component that is not ``buildonly`` (and is built for this
      arch) ships at least one binary RPM in the compose (RPMs belong to the component
      whose source package built them);
    - ``artifacts``: ``artifacts.rpms`` lists exactly the binary RPMs of the repository (an
      unlisted RPM is a non-modular package to dnf; a listed missing one breaks installs);
    - ``dependencies``: a module the build both buildrequires and requires at run time is
      required at exactly the stream it was built against (``requires`` of every stream,
      of other streams, or excluding only some, is not). The streams built against are the
      document's ``buildrequires``, cross-checked with ``xmd.bbmod.buildrequires`` when the
      build system recorded it. Modules required only at run time are fine.

    The style rules (periods) are failures like the others, as in Fedora QE's checks:
    they are cheap to fix and a gate that wants them softer can leave this test case out.
    The check FAILS when any rule fails; when the document cannot be read at all, only
    ``valid`` is reported.
    """

    name = "modules.modulemd"
    summary = "the composed modulemd is valid and follows the module guidelines"

    def check(self, ctx: CheckContext, log: Log) -> CheckResult:
        stream, valid = self._valid(ctx, log)
        items = [valid]
        if stream is not None:
            headers = binary_headers(log, ctx.compose, ctx.workdir)
            log.add(
                "binary RPMs of the compose: " + (", ".join(h.nevra for h in headers) or "none")
            )
            rules: list[Callable[[CheckContext, Any, list[RpmInfo]], ItemResult]] = [
                self._summary,
                self._description,
                self._rationale,
                self._api,
                self._profiles,
                self._components,
                self._artifacts,
                self._dependencies,
            ]
            items += [rule(ctx, stream, headers) for rule in rules]
        for item in items:
            log.add(f"{item.outcome:6} {item.item}: {item.note}")
        failed = [i.item for i in items if i.outcome == FAILED]
        if failed:
            first = next(i for i in items if i.outcome == FAILED)
            note = f"{len(failed)} of {len(items)} rules failed ({', '.join(failed)}): {first.note}"
            return CheckResult(FAILED, note, log.text, items)
        return CheckResult(PASSED, f"all {len(items)} rules pass", log.text, items)

    # ----------------------------------------------------------------------- rules

    def _valid(self, ctx: CheckContext, log: Log) -> tuple[Any, ItemResult]:
        Modulemd = modulemd()
        index, messages = read_index(ctx.modulemd)
        for message in messages:
            log.add(f"libmodulemd: {message}")
        if messages:
            return None, ItemResult("valid", FAILED, f"libmodulemd: {messages[0]}")
        stream = find_stream(index, ctx.name, ctx.stream)
        if stream is None:
            return None, ItemResult(
                "valid", FAILED, f"the document has no module stream {ctx.name}:{ctx.stream}"
            )
        if stream.get_mdversion() != Modulemd.ModuleStreamVersionEnum.TWO:
            return None, ItemResult(
                "valid", FAILED, f"stream version {stream.get_mdversion()}, not 2"
            )
        problems = []
        found = (stream.get_version(), stream.get_context(), stream.get_arch())
        if found != (ctx.version, ctx.context, ctx.arch):
            problems.append(
                "the document describes version {}, context {}, arch {};".format(*found)
                + f" the build is {ctx.version}, {ctx.context}, {ctx.arch}"
            )
        try:
            record = read_modules_metadata(ctx.compose)
        except ModuleError as e:
            problems.append(f"the repository's modules record: {e}")
        else:
            published = find_stream(record, ctx.name, ctx.stream)
            if published is None:
                problems.append(
                    f"the repository's modules record has no {ctx.name}:{ctx.stream}"
                    " (dnf sees no module)"
                )
            elif published.get_NSVCA() != stream.get_NSVCA():
                problems.append(
                    f"the repository's modules record is {published.get_NSVCA()},"
                    f" not {stream.get_NSVCA()}"
                )
        return stream, _item("valid", problems, f"{stream.get_NSVCA()}, read strictly")

    def _summary(self, ctx: CheckContext, stream: Any, headers: list[RpmInfo]) -> ItemResult:
        text = (stream.get_summary("C") or "").strip()
        problems = [f"ends with a period: {text!r}"] if text.endswith(".") else []
        return _item("summary", problems, "no final period")

    def _description(self, ctx: CheckContext, stream: Any, headers: list[RpmInfo]) -> ItemResult:
        text = (stream.get_description("C") or "").strip()
        problems = []
        if not text.endswith("."):
            tail = text[-40:]
            problems.append(f"does not end with a period: {'…' if tail != text else ''}{tail!r}")
        return _item("description", problems, "ends with a period")

    def _rationale(self, ctx: CheckContext, stream: Any, headers: list[RpmInfo]) -> ItemResult:
        components = [stream.get_rpm_component(n) for n in stream.get_rpm_component_names()]
        components += [stream.get_module_component(n) for n in stream.get_module_component_names()]
        lacking = sorted(
            c.get_key() for c in components if not (c.get_rationale() or "").strip().endswith(".")
        )
        problems = []
        if lacking:
            problems.append(f"no final period in the rationale of {shorten(lacking)}")
        return _item("rationale", problems, f"{len(components)} rationales end with a period")

    def _api(self, ctx: CheckContext, stream: Any, headers: list[RpmInfo]) -> ItemResult:
        names = {h.name for h in headers}
        api = sorted(stream.get_rpm_api())
        missing = [n for n in api if n not in names]
        problems = []
        if missing:
            problems.append(f"api.rpms not in the compose: {shorten(missing)}")
        return _item("api", problems, f"{len(api)} API RPMs in the compose")

    def _profiles(self, ctx: CheckContext, stream: Any, headers: list[RpmInfo]) -> ItemResult:
        names = {h.name for h in headers}
        problems = []
        profiles = sorted(stream.get_profile_names())
        for profile in profiles:
            missing = sorted(set(stream.get_profile(profile).get_rpms()) - names)
            if missing:
                problems.append(f"profile {profile}: not in the compose: {shorten(missing)}")
        return _item("profiles", problems, f"the RPMs of {len(profiles)} profiles are composed")

    def _components(self, ctx: CheckContext, stream: Any, headers: list[RpmInfo]) -> ItemResult:
        shipped: dict[str, list[str]] = {}
        for h in headers:
            shipped.setdefault(source_name(h), []).append(h.name)
        silent = []
        checked = 0
        for cname in sorted(stream.get_rpm_component_names()):
            component = stream.get_rpm_component(cname)
            arches = list(component.get_arches())
            if component.get_buildonly() or (arches and ctx.arch not in arches):
                continue
            checked += 1
            if not shipped.get(component.get_name() or cname):
                silent.append(cname)
        problems = []
        if silent:
            problems.append(
                f"components that ship no RPM: {shorten(silent)} (buildonly: true if they"
                " are only needed to build)"
            )
        return _item("components", problems, f"{checked} components ship RPMs")

    def _artifacts(self, ctx: CheckContext, stream: Any, headers: list[RpmInfo]) -> ItemResult:
        listed = {full_nevra(a) for a in stream.get_rpm_artifacts() if not a.endswith(".src")}
        present = {h.nevra for h in headers}
        problems = []
        if present - listed:
            problems.append(
                "RPMs artifacts.rpms does not list (non-modular to dnf): "
                + shorten(sorted(present - listed))
            )
        if listed - present:
            problems.append(
                "artifacts.rpms lists RPMs the compose lacks: " + shorten(sorted(listed - present))
            )
        return _item("artifacts", problems, f"artifacts.rpms lists the {len(present)} binary RPMs")

    def _dependencies(self, ctx: CheckContext, stream: Any, headers: list[RpmInfo]) -> ItemResult:
        problems: list[str] = []
        runtime_only: list[str] = []
        recorded = _xmd_buildrequires(stream)
        entries = list(stream.get_dependencies())
        for number, deps in enumerate(entries):
            where = f"dependencies[{number}]: " if len(entries) > 1 else ""
            built = {m: list(deps.get_buildtime_streams(m)) for m in deps.get_buildtime_modules()}
            for module, streams in sorted(built.items()):
                if len(streams) != 1:
                    problems.append(
                        f"{where}buildrequires {module}: [{', '.join(streams)}]:"
                        " a built module names one stream"
                    )
                elif module in recorded and recorded[module] != streams[0]:
                    problems.append(
                        f"{where}buildrequires {module}:{streams[0]}, but xmd records"
                        f" {module}:{recorded[module]}"
                    )
            for module in sorted(deps.get_runtime_modules()):
                allowed = list(deps.get_runtime_streams(module))
                if module not in built:
                    runtime_only.append(f"{module}:[{', '.join(allowed)}]")
                    continue
                if len(built[module]) != 1:
                    continue
                against = built[module][0]
                if [s for s in allowed if not s.startswith("-")] != [against]:
                    problems.append(
                        f"{where}built against {module}:{against} but requires {module}:"
                        f" [{', '.join(allowed) or 'every stream'}]"
                    )
        passed = f"{len(entries)} dependency entries sane"
        if runtime_only:
            passed += "; required at run time only: " + ", ".join(runtime_only)
        return _item("dependencies", problems, passed)


def _xmd_buildrequires(stream: Any) -> dict[str, str]:
    """``xmd.bbmod.buildrequires`` (name → stream) when the build system recorded it."""
    xmd = stream.get_xmd()
    if xmd is None:
        return {}
    try:
        data = xmd.unpack()
    except (TypeError, ValueError):  # pragma: no cover - xmd is always an a{sv}
        return {}
    bbmod = data.get("bbmod") if isinstance(data, dict) else None
    found = bbmod.get("buildrequires") if isinstance(bbmod, dict) else None
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}
