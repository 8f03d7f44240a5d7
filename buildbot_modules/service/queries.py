"""Query strings → registry calls, registry records → MBS-shaped JSON (blocking helpers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ..registry import MODULE_STATES, ComponentRecord, ModuleBuildRecord, Registry
from ..registry.model import STATE_NAMES

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "BadRequest",
    "BuildQuery",
    "build_json",
    "iso",
    "page_meta",
    "parse_build_query",
]

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100

# Koji build states, as MBS reports a component's ``tasks.rpms.<name>.state``.
KOJI_BUILD_STATES: dict[str, int | None] = {
    "waiting": None,
    "building": 0,
    "built": 1,
    "reused": 1,
    "failed": 3,
    "dependency-failed": 3,
    "cancelled": 4,
}

BUILD_FILTERS = (
    "name",
    "stream",
    "version",
    "context",
    "state",
    "owner",
    "buildrequires",
    "scratch",
    "completed_after",
    "completed_before",
    "submitted_after",
    "submitted_before",
)
PAGING = ("page", "per_page", "order_by", "order_desc_by", "verbose", "short")
ORDER_KEYS = (
    "id",
    "name",
    "stream",
    "version",
    "context",
    "state",
    "submitted_time",
    "started_time",
    "completed_time",
)


class BadRequest(ValueError):
    """A request the service cannot answer as asked (HTTP 400 unless ``status`` says)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def iso(value: datetime | None) -> str | None:
    """MBS's time format: ``2026-01-15T10:20:30Z`` (UTC), or ``None``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(key: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(f"{key}: {text!r} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _flag(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise BadRequest(f"{key}: {text!r} is not true or false")


def state_name(text: str) -> str:
    """A module state by name or MBS number → its name; :class:`BadRequest` otherwise."""
    value = text.strip().lower()
    if (value.isascii() and value.isdigit()) and int(value) in STATE_NAMES:
        return STATE_NAMES[int(value)]
    if value in MODULE_STATES:
        return value
    raise BadRequest(f"unknown state {text!r}: states are " + ", ".join(MODULE_STATES))


def paging(args: Mapping[str, Sequence[str]]) -> tuple[int, int]:
    """``(page, per_page)`` from the query (1-based page; per_page 1..100, default 10)."""

    def number(key: str, default: int) -> int:
        values = args.get(key)
        if not values:
            return default
        if (
            not (values[-1].strip().isascii() and values[-1].strip().isdigit())
            or int(values[-1]) < 1
        ):
            raise BadRequest(f"{key}: {values[-1]!r} is not a positive integer")
        return int(values[-1])

    return number("page", 1), min(number("per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)


@dataclass
class BuildQuery:
    """``GET module-builds/``'s arguments, checked."""

    filters: dict[str, Any] = field(default_factory=dict)
    order: list[tuple[str, bool]] = field(default_factory=list)
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    verbose: bool = False

    def run(self, registry: Registry) -> tuple[int, list[ModuleBuildRecord]]:
        return registry.query_module_builds(
            **self.filters,
            order=self.order,
            offset=(self.page - 1) * self.per_page,
            limit=self.per_page,
        )


def parse_build_query(args: Mapping[str, Sequence[str]]) -> BuildQuery:
    """Check and convert ``GET module-builds/``'s query arguments."""
    unknown = sorted(set(args) - set(BUILD_FILTERS) - set(PAGING))
    if unknown:
        raise BadRequest(
            "unknown query argument(s) "
            + ", ".join(unknown)
            + "; filters are "
            + ", ".join(BUILD_FILTERS)
            + " and "
            + ", ".join(PAGING)
        )
    query = BuildQuery()
    query.page, query.per_page = paging(args)
    f = query.filters
    for key in ("name", "stream", "context", "owner"):
        if args.get(key):
            f[key] = args[key][-1]
    if args.get("version"):
        text = args["version"][-1]
        if not (text.isascii() and text.isdigit()):
            raise BadRequest(f"version: {text!r} is not a number")
        f["version"] = int(text)
    if args.get("state"):
        f["states"] = [state_name(s) for value in args["state"] for s in value.split(",") if s]
    if args.get("scratch"):
        f["scratch"] = _flag("scratch", args["scratch"][-1])
    deps: list[tuple[str, str | None]] = []
    for value in args.get("buildrequires", ()):
        dep, _, dep_stream = value.partition(":")
        if not dep:
            raise BadRequest(f"buildrequires: {value!r} is not NAME or NAME:STREAM")
        deps.append((dep, dep_stream or None))
    if deps:
        f["buildrequires"] = deps
    for key in ("completed_after", "completed_before", "submitted_after", "submitted_before"):
        if args.get(key):
            f[key] = _time(key, args[key][-1])
    for key, descending in (("order_desc_by", True), ("order_by", False)):
        for value in args.get(key, ()):
            for name in value.split(","):
                if name not in ORDER_KEYS:
                    raise BadRequest(
                        f"{key}: cannot order by {name!r}; use " + ", ".join(ORDER_KEYS)
                    )
                query.order.append((name, descending))
    if args.get("verbose"):
        query.verbose = _flag("verbose", args["verbose"][-1])
    return query


def page_meta(
    base: str, args: Mapping[str, Sequence[str]], page: int, per_page: int, total: int
) -> dict[str, Any]:
    """MBS's ``meta``: links to the first, last, next and previous pages, and counts."""
    pages = max(1, -(-total // per_page))

    def link(number: int) -> str:
        query = [
            (k, v) for k, values in args.items() if k not in ("page", "per_page") for v in values
        ]
        query += [("page", str(number)), ("per_page", str(per_page))]
        return base + "?" + urlencode(query)

    return {
        "first": link(1),
        "last": link(pages),
        "next": link(page + 1) if page < pages else None,
        "prev": link(min(page - 1, pages)) if page > 1 else None,
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
    }


def time_modified(record: ModuleBuildRecord) -> datetime:
    times = [record.submitted_at, record.started_at, record.finished_at, record.promoted_at]
    return max(t for t in times if t is not None)


def component_json(c: ComponentRecord) -> dict[str, Any]:
    return {
        "name": c.name,
        "package": c.package,
        "ref": c.ref,
        "commit": c.commit,
        "state": c.state,
        "nvr": c.nvr,
        "level": c.level,
        "after": list(c.after),
        "buildbot_build_id": c.buildbot_build_id,
        "log_url": c.log_url,
        "started_at": iso(c.started_at),
        "finished_at": iso(c.finished_at),
        "reason": c.reason,
        "attempts": c.attempts,
        "reused_from": c.reused_from,  # the module build a reused component was built in
    }


def build_json(
    registry: Registry,
    record: ModuleBuildRecord,
    *,
    verbose: bool,
    built_against: Mapping[str, ModuleBuildRecord | None] | None = None,
) -> dict[str, Any]:
    """One build in MBS's shape; ``verbose`` adds tasks, components, artifacts, checks,
    decisions and the modulemd (blocking: reads the registry).

    ``built_against``: dependency name → the build it resolved to (see :mod:`.stack`),
    filling ``buildrequires.<name>.version/context``; unresolved ones stay ``None``.
    """
    against = built_against or {}
    buildrequires: dict[str, dict[str, Any]] = {}
    for dep, dep_stream in sorted(record.buildrequires.items()):
        used = against.get(dep)
        buildrequires[dep] = {
            "stream": dep_stream,
            "version": str(used.version) if used else None,
            "context": used.context if used else None,
            "build_id": used.id if used else None,
            "koji_tag": None,
            "filtered_rpms": [],
        }
    out: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "stream": record.stream,
        "version": str(record.version),
        "context": record.context,
        "nsvc": record.nsvc,
        "state": record.state_code,
        "state_name": record.state,
        "state_reason": record.state_reason,
        "owner": record.owner,
        "scmurl": record.scmurl,
        "commit": record.commit,
        "time_submitted": iso(record.submitted_at),
        "time_started": iso(record.started_at),
        "time_modified": iso(time_modified(record)),
        "time_completed": iso(record.finished_at),
        "koji_tag": None,
        "rebuild_strategy": record.rebuild_strategy,
        "scratch": record.scratch,
        "buildrequires": buildrequires,
        "requires": {k: list(v) for k, v in sorted(record.requires.items())},
        "published_path": record.published_path,
        "production_path": record.production_path,
        "promoted_at": iso(record.promoted_at),
        "promoted_by": record.promoted_by,
    }
    if not verbose:
        return out
    components = registry.components(record.id)
    out["tasks"] = {
        "rpms": {
            c.name: {
                "task_id": c.buildbot_build_id,
                "state": KOJI_BUILD_STATES.get(c.state),
                "state_name": c.state,
                "state_reason": c.reason,
                "nvr": c.nvr,
            }
            for c in components
        }
    }
    out["components"] = [component_json(c) for c in components]
    out["component_counts"] = {
        state: sum(1 for c in components if c.state == state)
        for state in sorted({c.state for c in components})
    }
    out["artifacts"] = {
        "rpms": sorted(n for ns in registry.artifacts(record.id).values() for n in ns)
    }
    out["checks"] = [
        {
            "testcase": r.testcase,
            "outcome": r.outcome,
            "note": r.note,
            "ref_url": r.ref_url,
            "submitted_at": iso(r.submitted_at),
        }
        for r in sorted(
            registry.results(module_build_id=record.id, latest_only=True), key=lambda r: r.testcase
        )
    ]
    out["decisions"] = dict(record.decisions)
    out["modulemd"] = record.modulemd
    out["dnf"] = dnf_command(record)
    return out


def dnf_command(record: ModuleBuildRecord) -> str | None:
    """A copy-paste ``dnf`` command installing the build from where it was published."""
    path = record.production_path or record.published_path
    if not path:
        return None
    repo = f"{record.name}-{record.stream}"
    return (
        f"dnf --repofrompath={repo},file://{path} --repo={repo} --nogpgcheck "
        f"module install {record.name}:{record.stream}"
    )
