"""Dependency expansion with MBS's semantics.

Each ``dependencies`` entry is an alternative. Inside one, every buildrequired module's
stream list is resolved (an empty list means every available stream, ``-s`` excludes
``s``) and the cross product of the resolved streams gives one build each. A build's
requires on a module it also buildrequires collapse to the stream it was built against.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .identity import module_context
from .module import Dependencies, ModuleStream
from .problems import ModuleError


class StreamSource(Protocol):
    """The part of a module catalogue that expansion needs."""

    def streams(self, name: str) -> list[str]: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class ExpandedBuild:
    """One build of a module stream: a single stream per buildrequired module."""

    module: ModuleStream
    buildrequires: dict[str, str]
    requires: dict[str, tuple[str, ...]]
    context: str

    @property
    def platform(self) -> str | None:
        return self.buildrequires.get("platform")

    def nsvc(self, version: int) -> str:
        return f"{self.module.name}:{self.module.stream}:{version}:{self.context}"


def expand(module: ModuleStream, catalogue: StreamSource | None = None) -> list[ExpandedBuild]:
    """Every build ``module`` expands into, in a stable order, without duplicates."""
    builds: dict[str, ExpandedBuild] = {}
    entries = module.dependencies or [Dependencies({}, {})]
    for number, entry in enumerate(entries):
        where = f"dependencies[{number}]"
        names = sorted(entry.buildrequires)
        choices = [_resolve(module, where, n, entry.buildrequires[n], catalogue) for n in names]
        for combo in itertools.product(*choices):
            br = dict(zip(names, combo, strict=True))
            requires = _collapse(module, where, entry.requires, br)
            if module.static_context and module.context:
                context = module.context
            else:
                context = module_context(br, requires)
            if context in builds and builds[context].buildrequires != br:
                raise ModuleError(
                    f"static context {context} would name two different builds"
                    f" ({_describe(builds[context].buildrequires)} and {_describe(br)})",
                    source=module.source,
                    line=module.line_of("data", "dependencies"),
                    hint="a static context allows one stream per buildrequired module",
                )
            builds.setdefault(context, ExpandedBuild(module, br, requires, context))
    return list(builds.values())


def _describe(buildrequires: Mapping[str, str]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in sorted(buildrequires.items()))


def _resolve(
    module: ModuleStream,
    where: str,
    name: str,
    streams: Sequence[str],
    catalogue: StreamSource | None,
) -> list[str]:
    wanted = [s for s in streams if not s.startswith("-")]
    excluded = {s[1:] for s in streams if s.startswith("-")}
    asked = "[" + ", ".join(streams) + "]" if streams else "[] (every stream)"
    if catalogue is None:
        if len(wanted) == 1 and not excluded:
            return wanted
        raise ModuleError(
            f"buildrequires {name}: {asked} needs a module catalogue to resolve",
            source=module.source,
            line=module.line_of("data", "dependencies"),
            hint="pass --catalogue PATH_OR_URL (a repository or modules.yaml listing its streams)",
        )
    available = catalogue.streams(name)
    if name == "platform" and not available and wanted:
        # The platform is virtual: distributions define it, module repositories rarely
        # list it. Named platform streams are taken as given until a catalogue knows some.
        return [s for s in wanted if s not in excluded]
    if wanted:
        missing = [s for s in wanted if s not in available]
        if missing:
            raise _unresolvable(module, where, name, asked, available, catalogue, missing)
        chosen = [s for s in wanted if s not in excluded]
    else:
        chosen = [s for s in available if s not in excluded]
    if not chosen:
        raise _unresolvable(module, where, name, asked, available, catalogue, [])
    return chosen


def _unresolvable(
    module: ModuleStream,
    where: str,
    name: str,
    asked: str,
    available: list[str],
    catalogue: StreamSource,
    missing: list[str],
) -> ModuleError:
    what = f"stream {', '.join(missing)} not found" if missing else "no stream left"
    return ModuleError(
        f"{where}: buildrequires {name}: {asked}: {what}; available in"
        f" {catalogue.describe()}: {', '.join(available) or 'none'}",
        source=module.source,
        line=module.line_of("data", "dependencies"),
        hint="build the module stream you need first, or change the stream list",
    )


def _collapse(
    module: ModuleStream,
    where: str,
    requires: Mapping[str, tuple[str, ...]],
    br: dict[str, str],
) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name in sorted(requires):
        streams: tuple[str, ...] = tuple(requires[name])
        if name in br:
            built = br[name]
            wanted = [s for s in streams if not s.startswith("-")]
            excluded = {s[1:] for s in streams if s.startswith("-")}
            if built in excluded or (wanted and built not in wanted):
                raise ModuleError(
                    f"{where}: built against {name}:{built}, but requires {name}:"
                    f" [{', '.join(streams)}] does not allow it",
                    source=module.source,
                    line=module.line_of("data", "dependencies"),
                    hint=f"let requires {name} include {built}, or stop building against it",
                )
            out[name] = (built,)
        else:
            out[name] = streams
    return out
