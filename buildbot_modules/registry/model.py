"""What the registry stores, as plain Python: states, records and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from ..core.problems import ModuleError

__all__ = [
    "COMPONENT_STATES",
    "DEFAULT_RESULT_TYPE",
    "FINISHED_COMPONENT_STATES",
    "MAX_VERSION",
    "MODULE_STATES",
    "MODULE_TRANSITIONS",
    "PROMOTABLE_STATES",
    "RESULT_OUTCOMES",
    "ComponentRecord",
    "DuplicateBuild",
    "InvalidState",
    "ModuleBuildRecord",
    "NotFound",
    "RegistryError",
    "ResultRecord",
    "StreamEOL",
    "StreamOwners",
    "StreamSummary",
    "WaiverRecord",
    "owner_matches",
]

MODULE_STATES: dict[str, int] = {
    "init": 0,
    "wait": 1,
    "build": 2,
    "done": 3,
    "failed": 4,
    "ready": 5,
    "garbage": 6,
}
"""Module build states with MBS's numbers (the registry stores the number).

``done`` means built and composed; ``ready`` means usable by other builds (what the
resolver looks at). ``done → ready`` is automatic unless a gate is configured: that
policy belongs to the caller, the registry only records the transition.
"""

STATE_NAMES: dict[int, str] = {number: name for name, number in MODULE_STATES.items()}
"""MBS state number → name."""

MODULE_TRANSITIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "init": frozenset({"wait", "failed"}),
        "wait": frozenset({"build", "failed"}),
        "build": frozenset({"done", "failed"}),
        # done → garbage: a build never made ready, superseded by a newer one
        # (retention.py); ready → garbage: retired (``bbmod retire``).
        "done": frozenset({"ready", "failed", "garbage"}),
        "ready": frozenset({"garbage"}),
        # failed → init is a resubmission (its own operation), not a state change;
        # failed → garbage: its artifacts were removed by retention. garbage is final.
        "failed": frozenset({"garbage"}),
        "garbage": frozenset(),
    }
)
"""The state changes :meth:`Registry.set_module_state` allows, from → to."""

COMPONENT_STATES: tuple[str, ...] = (
    "waiting",
    "building",
    "built",
    "failed",
    "dependency-failed",
    "cancelled",
    "reused",
)
"""Component build states. ``reused`` means taken from an earlier build of the module."""

FINISHED_COMPONENT_STATES: frozenset[str] = frozenset(
    {"built", "failed", "dependency-failed", "cancelled"}
)
"""Component states that set ``finished_at``."""

MAX_VERSION = 2**63 - 1
"""The largest module version the registry stores (a signed 64-bit column everywhere).

modulemd versions are uint64; every version MBS makes (``%Y%m%d%H%M%S`` behind a platform
prefix: 16 digits for Fedora, 19 starting with 8 or 9 for EL 8/9) is below this.
"""


RESULT_OUTCOMES: tuple[str, ...] = ("PASSED", "INFO", "FAILED", "NEEDS_INSPECTION")
"""Outcomes of a test result: ResultsDB's preset outcomes (the same as
``buildbot_modules.checks.base.OUTCOMES``). ``PASSED`` and ``INFO`` satisfy a gating rule."""

DEFAULT_RESULT_TYPE = "redhat-module"
"""ResultsDB's item type (Greenwave's subject type) for a module build: the item is its NSVC."""

PROMOTABLE_STATES: frozenset[str] = frozenset({"done", "ready"})
"""States in which :meth:`Registry.set_promoted` records a promotion."""


class RegistryError(ModuleError):
    """A registry operation that cannot be done as asked.

    Printed as ``module registry: error: MESSAGE (HINT)`` unless a ``source`` is given.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "module registry",
        line: int | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message, source=source, line=line, hint=hint)


class DuplicateBuild(RegistryError):
    """A module build with this N:S:V:C exists and has not failed (MBS answers 409)."""


class InvalidState(RegistryError):
    """An unknown state name, or a state change the state machine does not allow."""


class NotFound(RegistryError):
    """No such module build or component."""


@dataclass(frozen=True)
class ModuleBuildRecord:
    """One module build as the registry has it.

    ``version`` is the modulemd version; ``state`` a name of :data:`MODULE_STATES`;
    ``modulemd`` the final stream v2 YAML once composed; ``published_path`` where the
    compose was published. Times are timezone-aware (UTC).

    ``decisions`` maps a gating decision context to the last decision recorded for it
    (:meth:`Registry.record_decision`, Greenwave's decision JSON); ``promoted_at``,
    ``promoted_by`` and ``production_path`` say when, by whom and where the build was
    promoted (:meth:`Registry.set_promoted`), ``None`` until it is. ``driver_build`` is the
    Buildbot build driving it now (:meth:`Registry.resume_module_build` hands it over);
    ``rebuild_strategy`` the strategy its plan used (``None`` before it was planned).
    """

    id: int
    name: str
    stream: str
    version: int
    context: str
    state: str
    state_reason: str | None
    scmurl: str
    commit: str
    owner: str
    buildrequires: dict[str, str] = field(hash=False)
    requires: dict[str, list[str]] = field(hash=False)
    modulemd: str | None = field(hash=False, repr=False)
    published_path: str | None
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    scratch: bool
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    promoted_at: datetime | None = None
    promoted_by: str | None = None
    production_path: str | None = None
    driver_build: int | None = None
    rebuild_strategy: str | None = None

    @property
    def nsvc(self) -> str:
        """``name:stream:version:context``."""
        return f"{self.name}:{self.stream}:{self.version}:{self.context}"

    @property
    def state_code(self) -> int:
        """The state's MBS number (``MODULE_STATES[state]``)."""
        return MODULE_STATES[self.state]


@dataclass(frozen=True)
class ComponentRecord:
    """One component build of a module build.

    ``after`` names the components it waits for; ``level`` is its depth in the plan.
    Times are timezone-aware (UTC). ``attempts`` counts its starts in this submission of
    the module build; ``reused_from`` is the module build a ``reused`` one came from.
    """

    module_build_id: int
    name: str
    package: str
    ref: str
    commit: str
    state: str
    nvr: str | None
    after: list[str] = field(hash=False)
    level: int
    buildbot_build_id: int | None
    log_url: str | None
    started_at: datetime | None
    finished_at: datetime | None
    reason: str | None
    attempts: int = 0
    reused_from: int | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or ``None`` when it did not both start and finish."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class ResultRecord:
    """One test result about a module build, in ResultsDB's terms.

    ``item`` is the build's NSVC and ``type`` its item type (``redhat-module``);
    ``outcome`` one of :data:`RESULT_OUTCOMES`; ``note`` one line saying what was found;
    ``ref_url`` where the full story is (e.g. the Buildbot step's log), if anywhere;
    ``data`` any extra keys (``arch``, ``scenario``, a ``details`` list of per-item
    verdicts, …). ``submitted_at`` is timezone-aware (UTC).
    """

    id: int
    module_build_id: int
    testcase: str
    outcome: str
    note: str
    ref_url: str | None
    item: str
    type: str
    data: dict[str, Any] = field(hash=False)
    submitted_at: datetime

    @property
    def scenario(self) -> str | None:
        """``data["scenario"]`` when it is a string, else ``None``."""
        value = self.data.get("scenario")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class WaiverRecord:
    """One waiver (WaiverDB's meaning): ``waived`` true waives failing or missing results
    of ``testcase`` for ``item`` (an NSVC); a later one with ``waived`` false revokes it.

    Only the newest waiver per ``(item, testcase)`` counts. ``timestamp`` is aware (UTC).
    """

    id: int
    item: str
    testcase: str
    waived: bool
    comment: str
    username: str
    timestamp: datetime


@dataclass(frozen=True)
class StreamEOL:
    """The end of life of a module stream, who set it and when (``eol`` ``None``: cleared)."""

    name: str
    stream: str
    eol: date | None
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class StreamOwners:
    """The explicit owners (user names) of a module stream, who set them and when."""

    name: str
    stream: str
    owners: list[str] = field(hash=False)
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class StreamSummary:
    """One module stream the registry knows (by a build, an end of life or owners):
    how many builds it has, its newest build's id and its newest ready build's id."""

    name: str
    stream: str
    builds: int
    latest_id: int | None
    latest_ready_id: int | None


def owner_matches(owner: str, user: str) -> bool:
    """Whether ``user`` (a user name) is the owner string ``owner``.

    A build's owner is the author of its module commit, ``Name <email>``: the user
    matches its name, its whole e-mail address or the address's local part. Any other
    owner string (an explicit stream owner) must equal the user name.
    """
    owner, user = owner.strip(), user.strip()
    if not user:
        return False
    if owner == user:
        return True
    if owner.endswith(">") and "<" in owner:
        name, _, email = owner[:-1].partition("<")
        return user in (name.strip(), email, email.partition("@")[0])
    return False
