"""Module checks: the built-in ones and the QE plug-ins of the entry-point group
``buildbot_modules.checks``.

A plug-in distribution declares, e.g. in its ``pyproject.toml``::

    [project.entry-points."buildbot_modules.checks"]
    "fedora.qe.sanity" = "fedora_qe_checks:SanityCheck"

The entry point's name is the check's test-case name (its ``name`` attribute); it
points to a class following :class:`~buildbot_modules.checks.base.Check` (made with no
arguments) or to such an instance. A plug-in may not take the name of a built-in check.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from ..core.problems import ModuleError
from .api_stability import ApiStabilityCheck
from .base import (
    ENTRY_POINT_GROUP,
    FAILED,
    INFO,
    NEEDS_INSPECTION,
    OUTCOMES,
    PASSED,
    Check,
    CheckContext,
    CheckResult,
    ItemResult,
    PreviousBuild,
)
from .eol import EolCheck
from .installability import InstallabilityCheck
from .modulemd import ModulemdCheck
from .repoclosure import RepoclosureCheck
from .rpmlint import RpmlintCheck

__all__ = [
    "BUILTIN_CHECKS",
    "ENTRY_POINT_GROUP",
    "FAILED",
    "INFO",
    "NEEDS_INSPECTION",
    "OUTCOMES",
    "PASSED",
    "Check",
    "CheckContext",
    "CheckLoadError",
    "CheckResult",
    "ItemResult",
    "PreviousBuild",
    "load_checks",
]

BUILTIN_CHECKS: dict[str, type] = {
    cls.name: cls
    for cls in (
        ModulemdCheck,
        RpmlintCheck,
        RepoclosureCheck,
        InstallabilityCheck,
        ApiStabilityCheck,
        EolCheck,
    )
}
"""The built-in checks by test-case name."""

_HINT = f"a plug-in's entry point in the group {ENTRY_POINT_GROUP} names a Check class or instance"


class CheckLoadError(ModuleError):
    """A check that cannot be loaded: unknown, or a plug-in that fails to load or does
    not follow the Check protocol. The message names the distribution and entry point."""


def _where(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    origin = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"check plug-in {ep.name!r} ({ep.value}) of {origin}"


def _protocol_problem(obj: Any) -> str | None:
    """What keeps ``obj`` from being a Check (None when it is one)."""
    if not isinstance(obj, Check):
        missing = [a for a in ("name", "summary", "run") if not hasattr(obj, a)]
        return f"{type(obj).__name__} has no {', '.join(missing)}"
    if not isinstance(obj.name, str) or not obj.name:
        return f"its name is {obj.name!r}, not a test-case name"
    if not isinstance(obj.summary, str):
        return f"its summary is {obj.summary!r}, not a string"
    if not callable(obj.run):
        return "its run is not callable"
    return None


def _load_plugin(ep: metadata.EntryPoint) -> Check:
    where = _where(ep)
    try:
        loaded = ep.load()
    except Exception as e:
        raise CheckLoadError(
            f"{where} cannot be loaded: {type(e).__name__}: {e}", hint=_HINT
        ) from e
    obj: Any = loaded
    if isinstance(loaded, type):
        try:
            obj = loaded()
        except Exception as e:
            raise CheckLoadError(
                f"{where}: {loaded.__name__}() failed: {type(e).__name__}: {e}",
                hint="a check class is made with no arguments; settings come in ctx.config",
            ) from e
    problem = _protocol_problem(obj)
    if problem is not None:
        raise CheckLoadError(f"{where} is not a check: {problem}", hint=_HINT)
    check: Check = obj
    if check.name != ep.name:
        raise CheckLoadError(
            f"{where} is the check {check.name!r}",
            hint="name the entry point after the check's test-case name",
        )
    if check.name in BUILTIN_CHECKS:
        raise CheckLoadError(
            f"{where} takes the name of the built-in check {check.name!r}",
            hint="give the plug-in a test-case name of its own",
        )
    return check


def _plugins() -> dict[str, list[metadata.EntryPoint]]:
    found: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, []).append(ep)
    return found


def load_checks(names: list[str] | None = None) -> dict[str, Check]:
    """The checks called ``names`` (every built-in check and every plug-in when None),
    by test-case name, in the order asked (built-in ones first when None).

    Only the plug-ins asked for are loaded. Raises CheckLoadError for an unknown name and
    for a plug-in that fails to load, does not follow the Check protocol, is named after
    a built-in check or is declared twice.
    """
    plugins = _plugins()
    wanted = list(BUILTIN_CHECKS) + sorted(plugins) if names is None else list(names)
    out: dict[str, Check] = {}
    for name in wanted:
        if name in out:
            continue
        if name in BUILTIN_CHECKS:
            eps = plugins.get(name, [])
            if eps:
                _load_plugin(eps[0])  # raises: a plug-in may not take a built-in name
            out[name] = BUILTIN_CHECKS[name]()
            continue
        eps = plugins.get(name, [])
        if not eps:
            known = sorted(set(BUILTIN_CHECKS) | set(plugins))
            raise CheckLoadError(
                f"no check called {name!r}",
                hint="known checks: " + ", ".join(known),
            )
        if len(eps) > 1:
            raise CheckLoadError(
                f"the check {name!r} is declared twice: " + " and ".join(_where(ep) for ep in eps),
                hint="uninstall one of the distributions",
            )
        out[name] = _load_plugin(eps[0])
    return out
