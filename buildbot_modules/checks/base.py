"""What a module check is: the interface every built-in check and every QE plug-in follows.

A check receives a :class:`CheckContext` (the composed repository, its modulemd, the
previous build of the same stream, …) and returns a :class:`CheckResult` with one of
ResultsDB's outcomes. It never changes the compose; it may write only inside
``ctx.workdir``. Plug-ins register a :class:`Check` class (or instance) in the
entry-point group ``buildbot_modules.checks`` (see ``docs/quality.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable

PASSED = "PASSED"
FAILED = "FAILED"
INFO = "INFO"
NEEDS_INSPECTION = "NEEDS_INSPECTION"
OUTCOMES = (PASSED, FAILED, INFO, NEEDS_INSPECTION)

ENTRY_POINT_GROUP = "buildbot_modules.checks"


@dataclass(frozen=True)
class PreviousBuild:
    """The last published build of the same module stream, to compare with."""

    nsvc: str
    repository: str  # its published repository (RPMs + repodata) for this arch
    modulemd: str  # its stream v2 modules.yaml text


@dataclass
class CheckContext:
    """Everything a check may look at. Paths are local to the machine running the check."""

    name: str
    stream: str
    version: int
    context: str
    arch: str
    compose: str  # the composed repository for ``arch``: RPMs + repodata with modules
    modulemd: str  # the composed modules.yaml text (the module stream v2 and its extras)
    module: Any  # buildbot_modules.core.module.ModuleStream (the definition as built)
    workdir: str  # scratch folder owned by this check; removed afterwards
    previous: PreviousBuild | None = None
    platform: str = "f39"  # the platform stream built for
    platform_repo: str | None = None  # the platform repository (Debian hosts) or None
    required_repos: list[str] = field(default_factory=list)  # runtime-required modules' repos
    config: Mapping[str, Any] = field(default_factory=dict)  # this check's settings
    eol: date | None = None  # end of life kept in the registry, if any
    registry: Any = None  # buildbot_modules.registry.Registry, read-only use

    @property
    def nsvc(self) -> str:
        return f"{self.name}:{self.stream}:{self.version}:{self.context}"


@dataclass(frozen=True)
class ItemResult:
    """One part of a result, e.g. one package's rpmlint verdict."""

    item: str
    outcome: str
    note: str = ""


@dataclass
class CheckResult:
    outcome: str
    note: str  # one line: what was found
    log: str = ""  # the full story, shown as the step's log
    details: list[ItemResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r}: use one of {', '.join(OUTCOMES)}")


@runtime_checkable
class Check(Protocol):
    """A module check. ``name`` is its stable ResultsDB test case name, e.g.
    ``modules.rpmlint``; ``summary`` says in a few words what it checks."""

    name: str
    summary: str

    def run(self, ctx: CheckContext) -> CheckResult: ...
