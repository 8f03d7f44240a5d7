"""The registry itself: module builds, component builds and artifacts in a SQL database.

Thread-safe by construction: one :class:`~sqlalchemy.engine.Engine` (its pool hands each
call its own connection) and one short transaction per call, so the Buildbot layer can
call any method through ``deferToThread``. On SQLite, connections may move between
threads (``check_same_thread=False``), writers wait for each other (``timeout``) and
every writing call takes the write lock when it starts (``BEGIN IMMEDIATE``), so a check
and the write it guards are atomic; the file is switched to WAL on :meth:`upgrade`, so
readers do not wait for writers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine, Row

from ..core.catalogue import CatalogueEntry
from . import schema as _schema
from .model import (
    COMPONENT_STATES,
    DEFAULT_RESULT_TYPE,
    FINISHED_COMPONENT_STATES,
    MAX_VERSION,
    MODULE_STATES,
    MODULE_TRANSITIONS,
    PROMOTABLE_STATES,
    RESULT_OUTCOMES,
    STATE_NAMES,
    ComponentRecord,
    DuplicateBuild,
    InvalidState,
    ModuleBuildRecord,
    NotFound,
    RegistryError,
    ResultRecord,
    StreamEOL,
    StreamOwners,
    StreamSummary,
    WaiverRecord,
)
from .schema import artifacts as t_artifacts
from .schema import components as t_components
from .schema import module_builds as t_builds
from .schema import results as t_results
from .schema import stream_eol as t_eol
from .schema import stream_owners as t_owners
from .schema import waivers as t_waivers

__all__ = [
    "DEFAULT_DB_FILE",
    "Registry",
    "RegistryCatalogue",
    "default_db_url",
    "migrations_config",
    "public_url",
]

DEFAULT_DB_FILE = "modules-registry.sqlite"
"""The registry's SQLite file name in the master's base directory, by default."""

SQLITE_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for another one before giving up."""

DURATION_SAMPLES = 5
"""How many of a package's latest built components :meth:`Registry.duration_estimate` uses."""

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")

_WRITE = "bbmod_registry_write"  # execution option: this transaction writes
_COMPONENT_KEYS = ("name", "package", "ref", "commit")
_COMPONENT_OPTIONAL = ("after", "level")
_STATE_HINT = "states are " + ", ".join(MODULE_STATES)
_OUTCOME_HINT = "outcomes are " + ", ".join(RESULT_OUTCOMES) + " (ResultsDB's)"
_RESERVED_DATA_KEYS = frozenset({"item", "type"})
_NSVC = re.compile(r"^[^:\s]+:[^:\s]+:[0-9]+:[^:\s]+$")

BUILD_ORDER_KEYS: dict[str, str] = {
    "id": "id",
    "name": "name",
    "stream": "stream",
    "version": "version",
    "context": "context",
    "state": "state",
    "submitted_time": "submitted_at",
    "started_time": "started_at",
    "completed_time": "finished_at",
}
"""Sort keys of :meth:`Registry.query_module_builds` (MBS's names) → columns."""


def default_db_url(basedir: str) -> str:
    """``sqlite:///BASEDIR/modules-registry.sqlite``: the registry's default database."""
    return "sqlite:///" + os.path.join(os.path.abspath(basedir), DEFAULT_DB_FILE)


def migrations_config(url: str | sa.URL | None = None) -> Config:
    """Alembic's configuration for the registry's migrations, without ``alembic.ini``.

    ``url`` picks the SQL dialect for offline runs (``command.upgrade(config, "head",
    sql=True)`` prints the SQL for that database; no driver or server needed).
    """
    config = Config()
    config.set_main_option("script_location", MIGRATIONS.replace("%", "%%"))
    if url is not None:
        config.attributes["url"] = sa.make_url(url)
    return config


def public_url(url: str | sa.URL) -> str:
    """``url`` without its password, for messages and logs."""
    # URL.set(password=None) leaves the password as it is: None means "unchanged" there.
    return sa.make_url(url)._replace(password=None).render_as_string(hide_password=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Registry:
    """The registry of module builds, over any SQLAlchemy database URL.

    ``Registry("sqlite:////srv/master/modules-registry.sqlite")`` or
    ``Registry("postgresql+psycopg2://bb@db/buildbot")``. Creating one only creates the
    engine; call :meth:`upgrade` once at start-up to create or migrate the schema.
    ``clock`` (aware datetimes) is for tests.
    """

    def __init__(self, db_url: str, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or _utcnow
        # Called with the build's record after every committed module state change (new
        # build in init included), in the caller's thread; the message bus publishes them.
        self.state_listeners: list[Callable[[ModuleBuildRecord], None]] = []
        url = sa.make_url(db_url)
        self._sqlite = url.get_backend_name() == "sqlite"
        self._memory = self._sqlite and url.database in (None, "", ":memory:")
        # An in-memory SQLite database lives in one connection, shared by every thread:
        # calls then take turns.
        self._lock: threading.RLock | None = threading.RLock() if self._memory else None
        kwargs: dict[str, Any] = {}
        if self._sqlite:
            kwargs["connect_args"] = {
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT,
            }
            if self._memory:
                kwargs["poolclass"] = sa.pool.StaticPool
        try:
            self._engine: Engine = sa.create_engine(url, **kwargs)
        except ImportError as e:
            raise RegistryError(
                f"cannot open the module registry at {public_url(url)}: its database driver "
                f"is not installed ({e})",
                hint="install the driver the URL names, e.g. psycopg2 for postgresql://",
            ) from e
        if self._sqlite:
            _sqlite_transactions(self._engine)

    # ----------------------------------------------------------------- plumbing

    @property
    def url(self) -> str:
        """The database URL without its password."""
        return public_url(self._engine.url)

    def describe(self) -> str:
        """``module registry at URL`` (the URL without its password), for messages."""
        return f"module registry at {self.url}"

    def dispose(self) -> None:
        """Close the pooled connections (the registry stays usable: it reconnects)."""
        self._engine.dispose()

    def _turn(self) -> AbstractContextManager[object]:
        return self._lock if self._lock is not None else nullcontext()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._turn(), self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            self._turn(),
            self._engine.connect() as conn,
            conn.execution_options(**{_WRITE: True}).begin(),
        ):
            yield conn

    def alembic_config(self) -> Config:
        """Alembic's configuration for this registry's migrations (no ``alembic.ini``)."""
        return migrations_config(self._engine.url)

    def upgrade(self) -> None:
        """Create the schema, or migrate it to the newest revision; a no-op when current."""
        config = self.alembic_config()
        if self._sqlite and not self._memory:
            with self._turn():
                raw = self._engine.raw_connection()  # outside any transaction, as WAL needs
                try:
                    driver = raw.driver_connection
                    assert driver is not None
                    driver.execute("PRAGMA journal_mode=WAL")
                finally:
                    raw.close()
        with self._write() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    # ----------------------------------------------------------------- module builds

    def create_module_build(
        self,
        *,
        name: str,
        stream: str,
        version: int,
        context: str,
        scmurl: str,
        commit: str,
        owner: str,
        buildrequires: Mapping[str, str],
        requires: Mapping[str, Sequence[str]],
        scratch: bool = False,
        driver_build: int | None = None,
    ) -> int:
        """Record a new module build in state ``init``; return its id.

        Raises :class:`DuplicateBuild` when a build of the same N:S:V:C exists and has not
        failed (MBS's 409 rule: only a new build, a resubmission of a failed build or a
        build against new buildrequires is allowed).
        """
        nsvc = f"{name}:{stream}:{version}:{context}"
        for what, value in (("name", name), ("stream", stream), ("context", context)):
            if not value:
                raise RegistryError(f"module build {nsvc}: empty {what}")
        if isinstance(version, bool) or not isinstance(version, int):
            raise RegistryError(f"module build {nsvc}: version must be an integer")
        if not 0 <= version <= MAX_VERSION:
            raise RegistryError(
                f"module build {nsvc}: version {version} is outside 0..{MAX_VERSION}",
                hint="the registry stores versions as signed 64-bit integers; MBS-style "
                "versions (platform prefix + %Y%m%d%H%M%S) fit",
            )
        with self._write() as conn:
            live = conn.execute(
                sa.select(t_builds.c.id, t_builds.c.state)
                .where(
                    t_builds.c.name == name,
                    t_builds.c.stream == stream,
                    t_builds.c.version == version,
                    t_builds.c.context == context,
                    t_builds.c.state != MODULE_STATES["failed"],
                )
                .limit(1)
            ).first()
            if live is not None:
                raise _duplicate(nsvc, f"build {live.id}, state {STATE_NAMES[live.state]}")
            try:
                result = conn.execute(
                    t_builds.insert().values(
                        name=name,
                        stream=stream,
                        version=version,
                        context=context,
                        state=MODULE_STATES["init"],
                        scmurl=scmurl,
                        commit_hash=commit,
                        owner=owner,
                        buildrequires=dict(buildrequires),
                        requires={k: list(v) for k, v in requires.items()},
                        scratch=scratch,
                        submitted_at=self._clock(),
                        driver_build=driver_build,
                    )
                )
            except sa.exc.IntegrityError as e:  # PostgreSQL: a concurrent transaction won
                raise _duplicate(nsvc, "created concurrently") from e
            key = result.inserted_primary_key
            assert key is not None
            record = _build_record(_build_row(conn, int(key[0])))
        self._announce(record)
        return record.id

    def set_module_state(self, build_id: int, state: str, reason: str | None = None) -> None:
        """Move a module build to ``state`` (a name), recording ``reason`` for it.

        Allowed: init → wait → build → done → ready → garbage, and init, wait, build or
        done → failed. ``started_at`` is set on ``build``, ``finished_at`` on ``done`` and
        ``failed``. Anything else raises :class:`InvalidState`.
        """
        code = _state_code(state)
        with self._write() as conn:
            row = _build_row(conn, build_id, lock=True)
            current = STATE_NAMES[row.state]
            allowed = MODULE_TRANSITIONS[current]
            if state not in allowed:
                raise _bad_transition(row, current, state, allowed)
            values: dict[str, Any] = {"state": code, "state_reason": reason}
            now = self._clock()
            if state == "build":
                values["started_at"] = now
            if state in ("done", "failed"):
                values["finished_at"] = now
            conn.execute(t_builds.update().where(t_builds.c.id == build_id).values(**values))
            record = _build_record(_build_row(conn, build_id))
        self._announce(record)

    def find_module_build(
        self, name: str, stream: str, version: int, context: str
    ) -> ModuleBuildRecord | None:
        """The build of N:S:V:C a new submission meets: the live one (not failed, not
        garbage) if there is one, else the newest failed one, else ``None``."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t_builds)
                .where(
                    t_builds.c.name == name,
                    t_builds.c.stream == stream,
                    t_builds.c.version == version,
                    t_builds.c.context == context,
                    t_builds.c.state != MODULE_STATES["garbage"],
                )
                .order_by(t_builds.c.id.desc())
            ).all()
        live = [r for r in rows if r.state != MODULE_STATES["failed"]]
        chosen = live or rows
        return _build_record(chosen[0]) if chosen else None

    def set_driver(self, build_id: int, driver_build: int) -> None:
        """Record the Buildbot build that drives the module build."""
        with self._write() as conn:
            _build_row(conn, build_id, lock=True)
            conn.execute(
                t_builds.update().where(t_builds.c.id == build_id).values(driver_build=driver_build)
            )

    def set_rebuild_strategy(self, build_id: int, strategy: str) -> None:
        """Record the rebuild strategy the build's plan used."""
        with self._write() as conn:
            _build_row(conn, build_id, lock=True)
            conn.execute(
                t_builds.update().where(t_builds.c.id == build_id).values(rebuild_strategy=strategy)
            )

    def resume_module_build(self, build_id: int, *, driver_build: int, reason: str) -> list[str]:
        """Hand a module build to a new driver and make it buildable again.

        This is MBS's resubmission (a ``failed`` build of the same N:S:V:C submitted again)
        and the recovery of a build whose driver ended without finishing it (a master
        restart): the build goes back to ``wait`` under ``driver_build``, its components
        that are ``built`` or ``reused`` stay so (their RPMs are kept), every other one is
        ``waiting`` again with no attempts. Returns the names of the components kept.
        A ``ready`` or ``garbage`` build cannot be resumed (:class:`InvalidState`); a failed
        build whose N:S:V:C has a live build meanwhile raises :class:`DuplicateBuild`.
        """
        with self._write() as conn:
            row = _build_row(conn, build_id, lock=True)
            current = STATE_NAMES[row.state]
            if current in ("ready", "garbage"):
                raise _bad_transition(row, current, "wait", frozenset())
            try:
                conn.execute(
                    t_builds.update()
                    .where(t_builds.c.id == build_id)
                    .values(
                        state=MODULE_STATES["wait"],
                        state_reason=reason,
                        finished_at=None,
                        driver_build=driver_build,
                    )
                )
            except sa.exc.IntegrityError as e:  # another live build of this N:S:V:C
                nsvc = f"{row.name}:{row.stream}:{row.version}:{row.context}"
                raise _duplicate(nsvc, "a live build exists") from e
            kept = list(
                conn.scalars(
                    sa.select(t_components.c.name)
                    .where(
                        t_components.c.module_build_id == build_id,
                        t_components.c.state.in_(("built", "reused")),
                    )
                    .order_by(t_components.c.id)
                )
            )
            conn.execute(
                t_components.update()
                .where(
                    t_components.c.module_build_id == build_id,
                    t_components.c.state.not_in(("built", "reused")),
                )
                .values(
                    state="waiting",
                    started_at=None,
                    finished_at=None,
                    attempts=0,
                    reason="to be built again: " + reason,
                )
            )
            record = _build_record(_build_row(conn, build_id))
        self._announce(record)
        return kept

    def _announce(self, record: ModuleBuildRecord) -> None:
        for listener in list(self.state_listeners):
            try:
                listener(record)
            except Exception:  # a listener never undoes a committed state change
                logging.getLogger(__name__).exception("module state listener %r", listener)

    def set_module_result(self, build_id: int, *, modulemd: str, published_path: str) -> None:
        """Record the composed module: its final modulemd (stream v2 YAML) and where it went."""
        with self._write() as conn:
            _build_row(conn, build_id)
            conn.execute(
                t_builds.update()
                .where(t_builds.c.id == build_id)
                .values(modulemd=modulemd, published_path=published_path)
            )

    def module_build(self, build_id: int) -> ModuleBuildRecord:
        """One module build; :class:`NotFound` when there is none with that id."""
        with self._read() as conn:
            return _build_record(_build_row(conn, build_id))

    def module_builds(
        self,
        *,
        name: str | None = None,
        stream: str | None = None,
        state: str | None = None,
        scratch: bool | None = None,
        limit: int | None = 100,
    ) -> list[ModuleBuildRecord]:
        """Module builds matching every filter given, newest first (version, then id).

        ``limit=None`` returns them all.
        """
        query = sa.select(t_builds).order_by(t_builds.c.version.desc(), t_builds.c.id.desc())
        if name is not None:
            query = query.where(t_builds.c.name == name)
        if stream is not None:
            query = query.where(t_builds.c.stream == stream)
        if state is not None:
            query = query.where(t_builds.c.state == _state_code(state))
        if scratch is not None:
            query = query.where(t_builds.c.scratch == scratch)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_build_record(row) for row in conn.execute(query)]

    # ----------------------------------------------------------------- components

    def add_components(self, build_id: int, components: Sequence[Mapping[str, Any]]) -> None:
        """Add component builds (state ``waiting``) to a module build.

        Each mapping has ``name``, ``package``, ``ref`` and ``commit``, and optionally
        ``after`` (names it waits for, default none) and ``level`` (default 0).
        """
        rows: list[dict[str, Any]] = []
        names: set[str] = set()
        for number, component in enumerate(components):
            missing = [k for k in _COMPONENT_KEYS if not component.get(k)]
            unknown = sorted(set(component) - set(_COMPONENT_KEYS) - set(_COMPONENT_OPTIONAL))
            label = component.get("name") or f"#{number}"
            if missing or unknown:
                problem = "lacks " + ", ".join(missing) if missing else ""
                if unknown:
                    problem += ("; " if problem else "") + "has unknown keys " + ", ".join(unknown)
                raise RegistryError(
                    f"module build {build_id}: component {label} {problem}",
                    hint="give name, package, ref, commit and optionally after, level",
                )
            if component["name"] in names:
                raise RegistryError(f"module build {build_id}: component {label} given twice")
            names.add(component["name"])
            rows.append(
                {
                    "module_build_id": build_id,
                    "name": component["name"],
                    "package": component["package"],
                    "ref": component["ref"],
                    "commit_hash": component["commit"],
                    "state": "waiting",
                    "buildafter": list(component.get("after") or ()),
                    "level": int(component.get("level") or 0),
                }
            )
        with self._write() as conn:
            _build_row(conn, build_id, lock=True)
            existing = set(
                conn.scalars(
                    sa.select(t_components.c.name).where(
                        t_components.c.module_build_id == build_id,
                        t_components.c.name.in_(sorted(names)),
                    )
                )
            )
            if existing:
                raise RegistryError(
                    f"module build {build_id} already has component(s) "
                    + ", ".join(sorted(existing))
                )
            if rows:
                conn.execute(t_components.insert(), rows)

    def set_component_state(
        self,
        build_id: int,
        name: str,
        state: str,
        *,
        nvr: str | None = None,
        buildbot_build_id: int | None = None,
        log_url: str | None = None,
        reason: str | None = None,
        reused_from: int | None = None,
    ) -> None:
        """Record a component build's new state.

        ``building`` sets ``started_at`` (and clears ``finished_at``, for a retry) and
        counts an attempt;
        ``waiting`` clears both (requeued); ``built``, ``failed``, ``cancelled`` and
        ``dependency-failed`` set ``finished_at``. ``nvr``, ``buildbot_build_id`` and
        ``log_url`` (and ``reused_from``) are updated when given and kept otherwise;
        ``reason`` describes the new state (``None`` clears it).
        """
        if state not in COMPONENT_STATES:
            raise InvalidState(
                f"unknown component state {state!r}",
                hint="component states are " + ", ".join(COMPONENT_STATES),
            )
        values: dict[str, Any] = {"state": state, "reason": reason}
        now = self._clock()
        if state == "building":  # one more start (bounded retries count them)
            values.update(started_at=now, finished_at=None, attempts=t_components.c.attempts + 1)
        elif state == "waiting":
            values.update(started_at=None, finished_at=None)
        elif state in FINISHED_COMPONENT_STATES:
            values["finished_at"] = now
        for key, value in (
            ("nvr", nvr),
            ("buildbot_build_id", buildbot_build_id),
            ("log_url", log_url),
            ("reused_from", reused_from),
        ):
            if value is not None:
                values[key] = value
        with self._write() as conn:
            component_id = _component_id(conn, build_id, name)
            conn.execute(
                t_components.update().where(t_components.c.id == component_id).values(**values)
            )

    def components(self, build_id: int) -> list[ComponentRecord]:
        """The module build's components, by level then in the order they were added."""
        with self._read() as conn:
            _build_row(conn, build_id)
            rows = conn.execute(
                sa.select(t_components)
                .where(t_components.c.module_build_id == build_id)
                .order_by(t_components.c.level, t_components.c.id)
            )
            return [_component_record(row) for row in rows]

    # ----------------------------------------------------------------- artifacts

    def add_artifacts(self, build_id: int, component: str, nevras: Sequence[str]) -> None:
        """Record the RPMs (NEVRAs) a component built; ones already recorded are skipped."""
        if isinstance(nevras, str):
            raise TypeError("add_artifacts() takes a list of NEVRAs, not one string")
        with self._write() as conn:
            component_id = _component_id(conn, build_id, component, lock=True)
            known = set(
                conn.scalars(
                    sa.select(t_artifacts.c.nevra).where(
                        t_artifacts.c.component_build_id == component_id
                    )
                )
            )
            new = [n for n in dict.fromkeys(nevras) if n not in known]
            if new:
                conn.execute(
                    t_artifacts.insert(),
                    [{"component_build_id": component_id, "nevra": n} for n in new],
                )

    def artifacts(self, build_id: int) -> dict[str, list[str]]:
        """Component name → its NEVRAs (in the order recorded), for components with any."""
        query = (
            sa.select(t_components.c.name, t_artifacts.c.nevra)
            .join(t_artifacts, t_artifacts.c.component_build_id == t_components.c.id)
            .where(t_components.c.module_build_id == build_id)
            .order_by(t_components.c.level, t_components.c.id, t_artifacts.c.id)
        )
        out: dict[str, list[str]] = {}
        with self._read() as conn:
            _build_row(conn, build_id)
            for row in conn.execute(query):
                out.setdefault(row.name, []).append(row.nevra)
        return out

    # ----------------------------------------------------------------- questions

    def duration_estimate(self, package: str) -> float | None:
        """Mean duration in seconds of the package's last 5 built components, else ``None``.

        Only components in state ``built`` with both times count (reused ones did not
        build); the caller decides what ``None`` means (the planner uses 1).
        """
        query = (
            sa.select(t_components.c.started_at, t_components.c.finished_at)
            .where(
                t_components.c.package == package,
                t_components.c.state == "built",
                t_components.c.started_at.is_not(None),
                t_components.c.finished_at.is_not(None),
            )
            .order_by(t_components.c.finished_at.desc(), t_components.c.id.desc())
            .limit(DURATION_SAMPLES)
        )
        with self._read() as conn:
            durations = [
                max(0.0, (row.finished_at - row.started_at).total_seconds())
                for row in conn.execute(query)
            ]
        return sum(durations) / len(durations) if durations else None

    def modules_tracking(self, package: str, branch: str) -> list[tuple[str, str]]:
        """``(name, stream)`` of modules whose latest ready build has a component of
        ``package`` at ref ``branch``, sorted.

        The latest ready build is the newest version among a stream's ready, non-scratch
        builds (all its contexts): a push to ``branch`` of ``package`` concerns them.
        """
        ready = MODULE_STATES["ready"]
        latest = (
            sa.select(
                t_builds.c.name,
                t_builds.c.stream,
                sa.func.max(t_builds.c.version).label("version"),
            )
            .where(t_builds.c.state == ready, t_builds.c.scratch.is_(False))
            .group_by(t_builds.c.name, t_builds.c.stream)
            .subquery()
        )
        query = (
            sa.select(t_builds.c.name, t_builds.c.stream)
            .distinct()
            .join(
                latest,
                sa.and_(
                    latest.c.name == t_builds.c.name,
                    latest.c.stream == t_builds.c.stream,
                    latest.c.version == t_builds.c.version,
                ),
            )
            .join(t_components, t_components.c.module_build_id == t_builds.c.id)
            .where(
                t_builds.c.state == ready,
                t_builds.c.scratch.is_(False),
                t_components.c.package == package,
                t_components.c.ref == branch,
            )
            .order_by(t_builds.c.name, t_builds.c.stream)
        )
        with self._read() as conn:
            return [(row.name, row.stream) for row in conn.execute(query)]

    # ----------------------------------------------------------------- test results

    def add_result(
        self,
        module_build_id: int,
        testcase: str,
        outcome: str,
        note: str = "",
        ref_url: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> ResultRecord:
        """Record one test result about a module build; return it as stored.

        ``testcase`` is the ResultsDB test case name (``modules.rpmlint``); ``outcome``
        one of :data:`~.model.RESULT_OUTCOMES` (``PASSED``, ``INFO``, ``FAILED``,
        ``NEEDS_INSPECTION``; lower case is accepted, as ResultsDB does); ``note`` one
        line; ``ref_url`` a link to the full story (e.g. the step's log). ``data`` holds
        extra JSON keys (``arch``, ``scenario``, ``details``: a list of per-item dicts,
        …); its keys may not contain ``:`` (ResultsDB refuses them) and may not be
        ``item`` or ``type``, which the registry sets: the item is the build's NSVC, the
        type ``redhat-module``. The time is the registry clock's.

        Raises :class:`RegistryError` for an unknown outcome, an empty test case name or
        data that is not JSON, :class:`NotFound` for an unknown build.
        """
        if not isinstance(testcase, str) or not testcase.strip():
            raise RegistryError(
                f"module build {module_build_id}: result without a test case name",
                hint="name the test case, e.g. modules.rpmlint",
            )
        code = outcome.strip().upper() if isinstance(outcome, str) else outcome
        if code not in RESULT_OUTCOMES:
            raise RegistryError(
                f"module build {module_build_id}: result of {testcase} has unknown outcome "
                f"{outcome!r}",
                hint=_OUTCOME_HINT,
            )
        extra = _json_object(data or {}, f"module build {module_build_id}: result data")
        bad = sorted(k for k in extra if ":" in k or k in _RESERVED_DATA_KEYS)
        if bad:
            raise RegistryError(
                f"module build {module_build_id}: result data key(s) {', '.join(bad)} not allowed",
                hint="keys may not contain ':'; item and type are set by the registry",
            )
        now = self._clock()
        with self._write() as conn:
            row = _build_row(conn, module_build_id)
            values: dict[str, Any] = {
                "module_build_id": module_build_id,
                "testcase": testcase.strip(),
                "outcome": code,
                "note": note or "",
                "ref_url": ref_url or None,
                "item": f"{row.name}:{row.stream}:{row.version}:{row.context}",
                "type": DEFAULT_RESULT_TYPE,
                "data": extra,
                "submitted_at": now,
            }
            key = conn.execute(t_results.insert().values(**values)).inserted_primary_key
            assert key is not None
            stored = conn.execute(sa.select(t_results).where(t_results.c.id == key[0])).one()
        return _result_record(stored)

    def result(self, result_id: int) -> ResultRecord:
        """One test result by id; :class:`NotFound` when there is none."""
        with self._read() as conn:
            row = conn.execute(sa.select(t_results).where(t_results.c.id == result_id)).first()
        if row is None:
            raise NotFound(f"no test result with id {result_id}")
        return _result_record(row)

    def results(
        self,
        *,
        module_build_id: int | None = None,
        item: str | Iterable[str] | None = None,
        testcases: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcomes: Iterable[str] | None = None,
        type: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        latest_only: bool = False,
    ) -> list[ResultRecord]:
        """Test results matching every filter given, newest first (time, then id).

        ``item`` is one NSVC or several; ``testcases`` names test cases; ``since`` and
        ``until`` bound the submission time (inclusive, aware datetimes); ``outcomes``
        keeps those outcomes; ``type`` the item type. ``latest_only`` keeps only the
        newest result per ``(item, testcase)`` among those the other filters keep —
        except ``outcomes``, which applies afterwards, so that ``outcomes=["FAILED"],
        latest_only=True`` means "whose latest result failed". ``offset`` and ``limit``
        page through the answer (``limit=None``: all).
        """
        conds: list[sa.ColumnElement[bool]] = []
        if module_build_id is not None:
            conds.append(t_results.c.module_build_id == module_build_id)
        if item is not None:
            items = [item] if isinstance(item, str) else list(item)
            conds.append(t_results.c.item.in_(items))
        if testcases is not None:
            conds.append(t_results.c.testcase.in_(list(testcases)))
        if since is not None:
            conds.append(t_results.c.submitted_at >= since)
        if until is not None:
            conds.append(t_results.c.submitted_at <= until)
        if type is not None:
            conds.append(t_results.c.type == type)
        newest = (t_results.c.submitted_at.desc(), t_results.c.id.desc())
        if latest_only:
            rank = (
                sa.func.row_number()
                .over(partition_by=(t_results.c.item, t_results.c.testcase), order_by=newest)
                .label("rank")
            )
            ranked = sa.select(t_results.c.id, rank).where(*conds).subquery()
            query = (
                sa.select(t_results)
                .join(ranked, ranked.c.id == t_results.c.id)
                .where(ranked.c.rank == 1)
            )
        else:
            query = sa.select(t_results).where(*conds)
        if outcomes is not None:
            query = query.where(t_results.c.outcome.in_([o.upper() for o in outcomes]))
        query = query.order_by(*newest)
        if offset:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_result_record(row) for row in conn.execute(query)]

    # ----------------------------------------------------------------- waivers

    def add_waiver(
        self,
        item: str,
        testcase: str,
        comment: str,
        username: str,
        waived: bool = True,
    ) -> WaiverRecord:
        """Record a waiver for ``testcase`` of ``item`` (an NSVC) and return it.

        ``waived=True`` waives the test case's failing (or missing) result for that item;
        a later waiver with ``waived=False`` revokes it: only the newest waiver per
        ``(item, testcase)`` counts. ``comment`` (why) and ``username`` (who) are
        required. Raises :class:`RegistryError` when one is empty or ``item`` is not an
        NSVC.
        """
        for what, value in (("item", item), ("testcase", testcase), ("username", username)):
            if not isinstance(value, str) or not value.strip():
                raise RegistryError(f"waiver without {what}", hint=f"give the {what}")
        if not _NSVC.match(item):
            raise RegistryError(
                f"waiver for {item!r}: the item is not a module build's NSVC",
                hint="give name:stream:version:context, e.g. nodejs:20:3920250101000000:6c81f848",
            )
        if not isinstance(comment, str) or not comment.strip():
            raise RegistryError(
                f"waiver of {testcase} for {item}: the comment is empty",
                hint="say why the result is waived (or why the waiver is revoked)",
            )
        if not isinstance(waived, bool):
            raise RegistryError(f"waiver of {testcase} for {item}: waived must be true or false")
        values: dict[str, Any] = {
            "item": item,
            "testcase": testcase.strip(),
            "waived": waived,
            "comment": comment.strip(),
            "username": username.strip(),
            "timestamp": self._clock(),
        }
        with self._write() as conn:
            key = conn.execute(t_waivers.insert().values(**values)).inserted_primary_key
            assert key is not None
            row = conn.execute(sa.select(t_waivers).where(t_waivers.c.id == key[0])).one()
        return _waiver_record(row)

    def waivers(
        self,
        item: str | None = None,
        testcase: str | None = None,
        *,
        effective_only: bool = False,
    ) -> list[WaiverRecord]:
        """Waivers for ``item`` and/or ``testcase`` (all when ``None``), newest first.

        The effective waiver of an ``(item, testcase)`` is the newest one; it waives when
        its ``waived`` is true. ``effective_only`` returns only those (revoking ones
        included, so a caller sees that a waiver was revoked).
        """
        conds: list[sa.ColumnElement[bool]] = []
        if item is not None:
            conds.append(t_waivers.c.item == item)
        if testcase is not None:
            conds.append(t_waivers.c.testcase == testcase)
        newest = (t_waivers.c.timestamp.desc(), t_waivers.c.id.desc())
        if effective_only:
            rank = (
                sa.func.row_number()
                .over(partition_by=(t_waivers.c.item, t_waivers.c.testcase), order_by=newest)
                .label("rank")
            )
            ranked = sa.select(t_waivers.c.id, rank).where(*conds).subquery()
            query = (
                sa.select(t_waivers)
                .join(ranked, ranked.c.id == t_waivers.c.id)
                .where(ranked.c.rank == 1)
            )
        else:
            query = sa.select(t_waivers).where(*conds)
        with self._read() as conn:
            return [_waiver_record(row) for row in conn.execute(query.order_by(*newest))]

    # ----------------------------------------------------------------- gating, promotion

    def record_decision(
        self, build_id: int, decision_context: str, decision: Mapping[str, Any]
    ) -> None:
        """Keep ``decision`` (Greenwave's decision JSON, see :func:`buildbot_modules.
        gating.decide`) as the build's last decision for ``decision_context``.

        A later decision for the same context replaces it; other contexts are kept.
        Read them back from :attr:`ModuleBuildRecord.decisions`.
        """
        if not isinstance(decision_context, str) or not decision_context.strip():
            raise RegistryError(f"module build {build_id}: decision without a decision context")
        value = _json_object(decision, f"module build {build_id}: decision")
        with self._write() as conn:
            row = _build_row(conn, build_id, lock=True)
            decisions = dict(row.decisions or {})
            decisions[decision_context] = value
            conn.execute(
                t_builds.update().where(t_builds.c.id == build_id).values(decisions=decisions)
            )

    def set_promoted(self, build_id: int, production_path: str, username: str) -> None:
        """Record that the build was promoted to ``production_path`` by ``username``, now.

        Only a build in state ``done`` or ``ready`` can be promoted (:class:`InvalidState`
        otherwise); promoting again (e.g. to a new path) replaces the record. The state
        itself is not changed: that stays :meth:`set_module_state`'s job.
        """
        for what, value in (("production path", production_path), ("username", username)):
            if not isinstance(value, str) or not value.strip():
                raise RegistryError(f"module build {build_id}: promotion without {what}")
        with self._write() as conn:
            row = _build_row(conn, build_id, lock=True)
            state = STATE_NAMES[row.state]
            if state not in PROMOTABLE_STATES:
                nsvc = f"{row.name}:{row.stream}:{row.version}:{row.context}"
                raise InvalidState(
                    f"module build {build_id} ({nsvc}) is {state}: it cannot be promoted",
                    hint="only done or ready builds are promoted",
                )
            conn.execute(
                t_builds.update()
                .where(t_builds.c.id == build_id)
                .values(
                    promoted_at=self._clock(),
                    promoted_by=username.strip(),
                    production_path=production_path,
                )
            )

    # ----------------------------------------------------------------- end of life

    def set_eol(self, name: str, stream: str, eol: date | None, username: str) -> None:
        """Set (or, with ``None``, clear) the end of life of module stream ``name:stream``.

        Who (``username``) and when are kept with it. The stream need not have a build yet.
        """
        for what, value in (("name", name), ("stream", stream), ("username", username)):
            if not isinstance(value, str) or not value.strip():
                raise RegistryError(f"end of life of {name}:{stream}: empty {what}")
        if eol is not None and (isinstance(eol, datetime) or not isinstance(eol, date)):
            raise RegistryError(
                f"end of life of {name}:{stream}: {eol!r} is not a date",
                hint="give a datetime.date (or None to clear it)",
            )
        values: dict[str, Any] = {"eol": eol, "set_by": username.strip(), "set_at": self._clock()}
        where = sa.and_(t_eol.c.name == name, t_eol.c.stream == stream)
        for attempt in (1, 2):
            try:
                with self._write() as conn:
                    known = conn.execute(
                        sa.select(t_eol.c.name).where(where).with_for_update()
                    ).first()
                    if known is None:
                        conn.execute(t_eol.insert().values(name=name, stream=stream, **values))
                    else:
                        conn.execute(t_eol.update().where(where).values(**values))
                return
            except sa.exc.IntegrityError:  # PostgreSQL: a concurrent first setter won
                if attempt == 2:
                    raise

    def eol(self, name: str, stream: str) -> date | None:
        """The end of life of ``name:stream``, or ``None`` when none is set."""
        query = sa.select(t_eol.c.eol).where(t_eol.c.name == name, t_eol.c.stream == stream)
        with self._read() as conn:
            value = conn.scalar(query)
        return value if isinstance(value, date) else None

    def stream_eols(self, name: str | None = None) -> list[StreamEOL]:
        """Every end-of-life record (of ``name``'s streams when given), by name and stream;
        cleared ones have ``eol`` ``None``."""
        query = sa.select(t_eol).order_by(t_eol.c.name, t_eol.c.stream)
        if name is not None:
            query = query.where(t_eol.c.name == name)
        with self._read() as conn:
            return [
                StreamEOL(
                    name=row.name,
                    stream=row.stream,
                    eol=row.eol,
                    set_by=row.set_by,
                    set_at=row.set_at,
                )
                for row in conn.execute(query)
            ]

    # ----------------------------------------------------------------- owners

    def set_owners(self, name: str, stream: str, owners: Sequence[str], username: str) -> None:
        """Set the explicit owners (user names) of ``name:stream``; who and when are kept.

        An empty list clears them: the stream is then owned by its builds' owners again.
        """
        for what, value in (("name", name), ("stream", stream), ("username", username)):
            if not isinstance(value, str) or not value.strip():
                raise RegistryError(f"owners of {name}:{stream}: empty {what}")
        if isinstance(owners, str) or not all(isinstance(o, str) and o.strip() for o in owners):
            raise RegistryError(
                f"owners of {name}:{stream}: give a list of user names", hint=f"not {owners!r}"
            )
        clean = list(dict.fromkeys(o.strip() for o in owners))
        where = sa.and_(t_owners.c.name == name, t_owners.c.stream == stream)
        values: dict[str, Any] = {
            "owners": clean,
            "set_by": username.strip(),
            "set_at": self._clock(),
        }
        for attempt in (1, 2):
            try:
                with self._write() as conn:
                    if not clean:
                        conn.execute(t_owners.delete().where(where))
                        return
                    known = conn.execute(
                        sa.select(t_owners.c.name).where(where).with_for_update()
                    ).first()
                    if known is None:
                        conn.execute(t_owners.insert().values(name=name, stream=stream, **values))
                    else:
                        conn.execute(t_owners.update().where(where).values(**values))
                return
            except sa.exc.IntegrityError:  # PostgreSQL: a concurrent first setter won
                if attempt == 2:
                    raise

    def explicit_owners(self, name: str, stream: str) -> StreamOwners | None:
        """The explicit owners record of ``name:stream``, or ``None``."""
        query = sa.select(t_owners).where(t_owners.c.name == name, t_owners.c.stream == stream)
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return StreamOwners(
            name=row.name,
            stream=row.stream,
            owners=list(row.owners or ()),
            set_by=row.set_by,
            set_at=row.set_at,
        )

    def owners(self, name: str, stream: str) -> list[str]:
        """The owners of ``name:stream``: its explicit owners (:meth:`set_owners`), else the
        distinct owners of its builds (newest build's first)."""
        explicit = self.explicit_owners(name, stream)
        if explicit is not None:
            return list(explicit.owners)
        query = (
            sa.select(t_builds.c.owner)
            .where(t_builds.c.name == name, t_builds.c.stream == stream)
            .order_by(t_builds.c.id.desc())
        )
        with self._read() as conn:
            return list(dict.fromkeys(conn.scalars(query)))

    # ----------------------------------------------------------------- queries

    def query_module_builds(
        self,
        *,
        ids: Iterable[int] | None = None,
        name: str | None = None,
        stream: str | None = None,
        version: int | None = None,
        context: str | None = None,
        states: Iterable[str] | None = None,
        owner: str | None = None,
        buildrequires: Iterable[tuple[str, str | None]] = (),
        submitted_after: datetime | None = None,
        submitted_before: datetime | None = None,
        completed_after: datetime | None = None,
        completed_before: datetime | None = None,
        scratch: bool | None = None,
        order: Sequence[tuple[str, bool]] = (),
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[ModuleBuildRecord]]:
        """Module builds matching every filter given, as ``(total, one page)``.

        ``states`` keeps any of those states; ``owner`` matches a user name as
        :func:`~.model.owner_matches` does; ``buildrequires`` pairs ``(name, stream)``
        (``stream`` ``None``: any stream) must all be among the build's buildrequires;
        the time bounds are inclusive. ``order`` is ``(key, descending)`` pairs with keys
        of :data:`BUILD_ORDER_KEYS` (then id, newest first); ``offset``/``limit`` page.
        Filtering, sorting and paging happen in the database.
        """
        conds: list[sa.ColumnElement[bool]] = []
        c = t_builds.c
        if ids is not None:
            conds.append(c.id.in_(list(ids)))
        for column, value in ((c.name, name), (c.stream, stream), (c.context, context)):
            if value is not None:
                conds.append(column == value)
        if version is not None:
            conds.append(c.version == version)
        if states is not None:
            conds.append(c.state.in_([_state_code(s) for s in states]))
        if owner is not None:
            escaped = owner.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(
                sa.or_(
                    c.owner == owner,
                    c.owner.like(escaped + " <%>", escape="\\"),
                    c.owner.like("%<" + escaped + "@%>", escape="\\"),
                    c.owner.like("%<" + escaped + ">", escape="\\"),
                )
            )
        for dep, dep_stream in buildrequires:
            value = c.buildrequires[dep].as_string()
            conds.append(value.is_not(None) if dep_stream is None else value == dep_stream)
        for column, bound, after in (
            (c.submitted_at, submitted_after, True),
            (c.submitted_at, submitted_before, False),
            (c.finished_at, completed_after, True),
            (c.finished_at, completed_before, False),
        ):
            if bound is not None:
                conds.append(column >= bound if after else column <= bound)
        if scratch is not None:
            conds.append(c.scratch == scratch)
        sort: list[sa.UnaryExpression[Any]] = []
        for key, descending in order:
            if key not in BUILD_ORDER_KEYS:
                raise RegistryError(
                    f"cannot order module builds by {key!r}",
                    hint="order by " + ", ".join(BUILD_ORDER_KEYS),
                )
            column = c[BUILD_ORDER_KEYS[key]]
            sort.append(column.desc() if descending else column.asc())
        sort.append(c.id.desc())
        query = sa.select(t_builds).where(*conds).order_by(*sort).offset(max(0, offset))
        if limit is not None:
            query = query.limit(limit)
        count = sa.select(sa.func.count()).select_from(t_builds).where(*conds)
        with self._read() as conn:
            total = int(conn.scalar(count) or 0)
            return total, [_build_record(row) for row in conn.execute(query)]

    def stream_summaries(
        self,
        *,
        name: str | None = None,
        stream: str | None = None,
        q: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[StreamSummary]]:
        """Every module stream the registry knows (by a build, an end of life or explicit
        owners), by name and stream, as ``(total, one page)``.

        ``q`` keeps streams whose ``name:stream`` contains it (case-insensitive).
        """
        keys = sa.union(
            sa.select(t_builds.c.name, t_builds.c.stream),
            sa.select(t_eol.c.name, t_eol.c.stream),
            sa.select(t_owners.c.name, t_owners.c.stream),
        ).subquery()
        conds: list[sa.ColumnElement[bool]] = []
        if name is not None:
            conds.append(keys.c.name == name)
        if stream is not None:
            conds.append(keys.c.stream == stream)
        if q:
            escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            label = sa.func.lower(keys.c.name + ":" + keys.c.stream)
            conds.append(label.like("%" + escaped + "%", escape="\\"))
        page = (
            sa.select(keys.c.name, keys.c.stream)
            .where(*conds)
            .order_by(keys.c.name, keys.c.stream)
            .offset(max(0, offset))
        )
        if limit is not None:
            page = page.limit(limit)
        count = sa.select(sa.func.count()).select_from(keys).where(*conds)
        ready = MODULE_STATES["ready"]
        with self._read() as conn:
            total = int(conn.scalar(count) or 0)
            pairs = [(row.name, row.stream) for row in conn.execute(page)]
            names = sorted({n for n, _ in pairs})
            stats: dict[tuple[str, str], tuple[int, int | None, int | None]] = {}
            if names:
                ready_id = sa.func.max(
                    sa.case((t_builds.c.state == ready, t_builds.c.id), else_=None)
                )
                rows = conn.execute(
                    sa.select(
                        t_builds.c.name,
                        t_builds.c.stream,
                        sa.func.count().label("builds"),
                        sa.func.max(t_builds.c.id).label("latest"),
                        ready_id.label("ready"),
                    )
                    .where(t_builds.c.name.in_(names))
                    .group_by(t_builds.c.name, t_builds.c.stream)
                )
                for row in rows:
                    stats[(row.name, row.stream)] = (int(row.builds), row.latest, row.ready)
        return total, [StreamSummary(n, s, *stats.get((n, s), (0, None, None))) for n, s in pairs]

    def dependents(self) -> dict[tuple[str, str], list[str]]:
        """``(name, stream)`` → the ``N:S`` whose newest build buildrequires or requires it,
        sorted. A requirement on no stream in particular counts for every stream."""
        latest = (
            sa.select(sa.func.max(t_builds.c.id).label("id"))
            .group_by(t_builds.c.name, t_builds.c.stream)
            .subquery()
        )
        query = sa.select(
            t_builds.c.name, t_builds.c.stream, t_builds.c.buildrequires, t_builds.c.requires
        ).join(latest, latest.c.id == t_builds.c.id)
        out: dict[tuple[str, str], set[str]] = {}
        wildcard: dict[str, set[str]] = {}
        with self._read() as conn:
            rows = list(conn.execute(query))
            streams: dict[str, set[str]] = {}
            for row in conn.execute(sa.select(t_builds.c.name, t_builds.c.stream).distinct()):
                streams.setdefault(row.name, set()).add(row.stream)
        for row in rows:
            me = f"{row.name}:{row.stream}"
            for dep, dep_stream in (row.buildrequires or {}).items():
                out.setdefault((dep, dep_stream), set()).add(me)
            for dep, dep_streams in (row.requires or {}).items():
                wanted = [s for s in dep_streams if not s.startswith("-")]
                if not wanted:
                    wildcard.setdefault(dep, set()).add(me)
                for dep_stream in wanted:
                    out.setdefault((dep, dep_stream), set()).add(me)
        for dep, users in wildcard.items():
            for dep_stream in streams.get(dep, ()):
                out.setdefault((dep, dep_stream), set()).update(users)
        return {key: sorted(users - {f"{key[0]}:{key[1]}"}) for key, users in out.items()}

    # ----------------------------------------------------------------- retention, backup

    def retention_candidates(
        self, finished_before: datetime
    ) -> list[tuple[ModuleBuildRecord, str]]:
        """Builds that finished before ``finished_before`` and that retention may move to
        garbage, with why, oldest first (retention.py decides what to do with them):

        - ``failed``: every failed build;
        - ``scratch``: a scratch build that is done or ready;
        - ``superseded by N:S:V:C``: a build still ``done`` (never made ready, e.g. held
          at the stage gate) when a newer version (not scratch) of its name, stream and
          context is done or ready.

        A build promoted to production is never a candidate, nor is a ready build that is
        not scratch: published builds stay until they are retired.
        """
        c = t_builds.c
        finished = sa.func.coalesce(c.finished_at, c.submitted_at) < finished_before
        done, ready = MODULE_STATES["done"], MODULE_STATES["ready"]
        newer = t_builds.alias("newer")
        newest_newer = (
            sa.select(newer.c.id)
            .where(
                newer.c.name == c.name,
                newer.c.stream == c.stream,
                newer.c.context == c.context,
                newer.c.version > c.version,
                newer.c.state.in_((done, ready)),
                newer.c.scratch.is_(False),
            )
            .order_by(newer.c.version.desc(), newer.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = (
            sa.select(t_builds, newest_newer.label("newer_id"))
            .where(finished, c.production_path.is_(None))
            .where(
                sa.or_(
                    c.state == MODULE_STATES["failed"],
                    sa.and_(c.scratch.is_(True), c.state.in_((done, ready))),
                    sa.and_(c.state == done, newest_newer.is_not(None)),
                )
            )
            .order_by(c.id)
        )
        out: list[tuple[ModuleBuildRecord, str]] = []
        with self._read() as conn:
            for row in conn.execute(query):
                record = _build_record(row)
                if record.state == "failed":
                    why = "failed"
                elif record.scratch:
                    why = "scratch"
                else:
                    by = _build_record(_build_row(conn, int(row.newer_id)))
                    why = f"superseded by {by.nsvc}"
                out.append((record, why))
        return out

    def same_nsvc(
        self, name: str, stream: str, version: int, context: str
    ) -> list[ModuleBuildRecord]:
        """Every build of ``name:stream:version:context`` (failed ones included), by id."""
        query = (
            sa.select(t_builds)
            .where(
                t_builds.c.name == name,
                t_builds.c.stream == stream,
                t_builds.c.version == version,
                t_builds.c.context == context,
            )
            .order_by(t_builds.c.id)
        )
        with self._read() as conn:
            return [_build_record(row) for row in conn.execute(query)]

    def mark_garbage(
        self, build_id: int, reason: str, *, states: Iterable[str] = ("done", "failed", "ready")
    ) -> ModuleBuildRecord:
        """Move a build to ``garbage`` with ``reason``, if it is still in one of ``states``
        (checked in the same transaction, so a build that became ready meanwhile is not
        collected by mistake); return its new record.

        :class:`InvalidState` when its state is not one of ``states`` or cannot go to
        garbage, and when another build of the same N:S:V:C is live: the registry keeps
        one live (not failed) build per N:S:V:C, so a failed build whose N:S:V:C was
        built again stays ``failed``.
        """
        wanted = frozenset(states)
        with self._write() as conn:
            row = _build_row(conn, build_id, lock=True)
            current = STATE_NAMES[row.state]
            nsvc = f"{row.name}:{row.stream}:{row.version}:{row.context}"
            if current not in wanted:
                raise InvalidState(
                    f"module build {build_id} ({nsvc}) is {current}, not "
                    + " or ".join(sorted(wanted)),
                    hint="it changed state since it was chosen; nothing was done",
                )
            allowed = MODULE_TRANSITIONS[current]
            if "garbage" not in allowed:
                raise _bad_transition(row, current, "garbage", allowed)
            if current == "failed":
                live = conn.execute(
                    sa.select(t_builds.c.id, t_builds.c.state)
                    .where(
                        t_builds.c.name == row.name,
                        t_builds.c.stream == row.stream,
                        t_builds.c.version == row.version,
                        t_builds.c.context == row.context,
                        t_builds.c.state != MODULE_STATES["failed"],
                        t_builds.c.id != build_id,
                    )
                    .limit(1)
                ).first()
                if live is not None:
                    raise InvalidState(
                        f"module build {build_id} ({nsvc}) stays failed: build {live.id} of "
                        f"the same N:S:V:C is {STATE_NAMES[live.state]}",
                        hint="the registry keeps one live build per N:S:V:C",
                    )
            conn.execute(
                t_builds.update()
                .where(t_builds.c.id == build_id)
                .values(state=MODULE_STATES["garbage"], state_reason=reason)
            )
            record = _build_record(_build_row(conn, build_id))
        self._announce(record)
        return record

    def revision(self) -> str | None:
        """The registry's Alembic revision (``None`` before :meth:`upgrade`)."""
        with self._read() as conn:
            return _revision(conn)

    def backup(self) -> dict[str, Any]:
        """Every row of every registry table as one JSON-ready document, read in one
        snapshot (REPEATABLE READ on PostgreSQL), with the Alembic revision.

        Portable: times and dates are ISO 8601 strings, JSON columns stay JSON, so a
        backup of a SQLite registry restores into PostgreSQL and back (:meth:`restore`).
        """
        tables: dict[str, Any] = {}
        with self._turn(), self._engine.connect() as conn:
            if not self._sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                revision = _revision(conn)
                for table in _BACKUP_TABLES:
                    columns = [col.name for col in table.columns]
                    rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
                    tables[table.name] = {
                        "columns": columns,
                        "rows": [
                            [
                                _to_json(col, value)
                                for col, value in zip(table.columns, row, strict=True)
                            ]
                            for row in rows
                        ],
                    }
        if revision is None:
            raise RegistryError(
                f"{self.describe()} has no schema: nothing to back up",
                hint="is this the right registry_url? the master creates the schema at start",
            )
        return {
            "format": BACKUP_FORMAT,
            "revision": revision,
            "created_at": self._clock().isoformat(),
            "tables": tables,
        }

    def restore(self, document: Mapping[str, Any], *, force: bool = False) -> dict[str, int]:
        """Load a :meth:`backup` document into this registry, in one transaction; return
        the rows loaded per table.

        The schema is created (or migrated) first and must then be at the document's
        revision. A registry that holds any row is refused unless ``force``, which
        deletes every row first. On PostgreSQL the id sequences are moved past the
        restored ids, so new builds get new ids.
        """
        _check_backup(document)
        self.upgrade()
        wanted = document["tables"]
        counts: dict[str, int] = {}
        with self._write() as conn:
            revision = _revision(conn)
            if revision != document["revision"]:
                raise RegistryError(
                    f"the backup is at registry revision {document['revision']}, "
                    f"{self.describe()} at {revision}",
                    hint="restore with the buildbot-modules version that made the backup, "
                    "then upgrade",
                )
            used = {
                t.name: int(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
                for t in _BACKUP_TABLES
            }
            if any(used.values()) and not force:
                held = ", ".join(f"{n} {name}" for name, n in used.items() if n)
                raise RegistryError(
                    f"{self.describe()} is not empty ({held})",
                    hint="restore into an empty registry, or pass --force to replace its rows",
                )
            for table in reversed(_BACKUP_TABLES):
                conn.execute(table.delete())
            for table in _BACKUP_TABLES:
                part = wanted[table.name]
                index = {name: i for i, name in enumerate(part["columns"])}
                rows = [
                    {col.name: _from_json(col, row[index[col.name]]) for col in table.columns}
                    for row in part["rows"]
                ]
                for start in range(0, len(rows), 500):
                    conn.execute(table.insert(), rows[start : start + 500])
                counts[table.name] = len(rows)
            if conn.dialect.name == "postgresql":
                for table in _BACKUP_TABLES:
                    if "id" in table.c:
                        conn.execute(
                            sa.text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}"
                            )
                        )
        return counts

    # ----------------------------------------------------------------- catalogue

    def catalogue(self) -> RegistryCatalogue:
        """The registry's ready builds as a :class:`~buildbot_modules.core.catalogue.
        ModuleCatalogue`, for dependency resolution."""
        return RegistryCatalogue(self)

    def ready_streams(self, name: str) -> list[str]:
        """Streams of ``name`` that have a ready, non-scratch build, sorted."""
        query = (
            sa.select(t_builds.c.stream)
            .distinct()
            .where(
                t_builds.c.name == name,
                t_builds.c.state == MODULE_STATES["ready"],
                t_builds.c.scratch.is_(False),
            )
        )
        with self._read() as conn:
            return sorted(conn.scalars(query))

    def ready_entries(self, name: str, stream: str) -> list[CatalogueEntry]:
        """Ready, non-scratch builds of ``name:stream`` as catalogue entries, newest first."""
        query = (
            sa.select(
                t_builds.c.name,
                t_builds.c.stream,
                t_builds.c.version,
                t_builds.c.context,
                t_builds.c.requires,
                t_builds.c.buildrequires,
            )
            .where(
                t_builds.c.name == name,
                t_builds.c.stream == stream,
                t_builds.c.state == MODULE_STATES["ready"],
                t_builds.c.scratch.is_(False),
            )
            .order_by(t_builds.c.version.desc(), t_builds.c.id.desc())
        )
        with self._read() as conn:
            return [
                CatalogueEntry(
                    name=row.name,
                    stream=row.stream,
                    version=int(row.version),
                    context=row.context,
                    requires={k: tuple(v) for k, v in (row.requires or {}).items()},
                    buildrequires={k: (v,) for k, v in (row.buildrequires or {}).items()},
                )
                for row in conn.execute(query)
            ]


class RegistryCatalogue:
    """The ready module builds of a :class:`Registry`, as a ``ModuleCatalogue``.

    Only ``ready`` builds count (MBS's meaning: usable by other builds), and not scratch
    builds. Every question reads the database, so the answers are always current.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def streams(self, name: str) -> list[str]:
        """Every stream of ``name`` with a ready build, sorted."""
        return self.registry.ready_streams(name)

    def builds(self, name: str, stream: str) -> list[CatalogueEntry]:
        """Ready builds of ``name:stream``, newest version first."""
        return self.registry.ready_entries(name, stream)

    def describe(self) -> str:
        """``module registry at URL`` (without the password)."""
        return self.registry.describe()


# --------------------------------------------------------------------------- helpers


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, start SQLite transactions: writers ``BEGIN IMMEDIATE``.

    pysqlite's own transaction handling starts a transaction only at the first write, so a
    read-check-then-write could interleave with another writer; this is SQLAlchemy's
    documented recipe, plus foreign keys (off by default in SQLite).
    """

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _state_code(state: str) -> int:
    try:
        return MODULE_STATES[state]
    except (KeyError, TypeError):
        raise InvalidState(f"unknown module build state {state!r}", hint=_STATE_HINT) from None


def _duplicate(nsvc: str, which: str) -> DuplicateBuild:
    return DuplicateBuild(
        f"module build {nsvc} already exists ({which})",
        hint="only a new build, the resubmission of a failed build or a build against new "
        "buildrequires is allowed; commit a change to get a new version",
    )


def _bad_transition(
    row: Row[Any], current: str, state: str, allowed: frozenset[str]
) -> InvalidState:
    nsvc = f"{row.name}:{row.stream}:{row.version}:{row.context}"
    where = f"module build {row.id} ({nsvc})"
    if current == state:
        return InvalidState(f"{where} is already in state {state}")
    order = list(MODULE_STATES)
    nexts = sorted(allowed, key=order.index)
    if current == "failed" and state == "init":
        hint = "a failed build starts again by resubmission, not by a state change"
    elif nexts:
        hint = f"from {current} it can go to {' or '.join(nexts)}"
    else:
        hint = f"{current} is final"
    return InvalidState(f"{where}: cannot go from {current} to {state}", hint=hint)


def _build_row(conn: Connection, build_id: int, *, lock: bool = False) -> Row[Any]:
    """The build's row; ``lock`` holds it until the transaction ends (FOR UPDATE, where the
    database has it: SQLite's writers are serialised by BEGIN IMMEDIATE instead)."""
    query = sa.select(t_builds).where(t_builds.c.id == build_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no module build with id {build_id}")
    return row


def _component_id(conn: Connection, build_id: int, name: str, *, lock: bool = False) -> int:
    query = sa.select(t_components.c.id).where(
        t_components.c.module_build_id == build_id, t_components.c.name == name
    )
    found = conn.scalar(query.with_for_update() if lock else query)
    if found is None:
        _build_row(conn, build_id)
        known = conn.scalars(
            sa.select(t_components.c.name)
            .where(t_components.c.module_build_id == build_id)
            .order_by(t_components.c.name)
        ).all()
        raise NotFound(
            f"module build {build_id} has no component {name!r}",
            hint="its components are " + (", ".join(known) or "none yet (add_components first)"),
        )
    return int(found)


def _build_record(row: Row[Any]) -> ModuleBuildRecord:
    return ModuleBuildRecord(
        id=row.id,
        name=row.name,
        stream=row.stream,
        version=int(row.version),
        context=row.context,
        state=STATE_NAMES[row.state],
        state_reason=row.state_reason,
        scmurl=row.scmurl,
        commit=row.commit_hash,
        owner=row.owner,
        buildrequires=dict(row.buildrequires or {}),
        requires={k: list(v) for k, v in (row.requires or {}).items()},
        modulemd=row.modulemd,
        published_path=row.published_path,
        submitted_at=row.submitted_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        scratch=bool(row.scratch),
        decisions=dict(row.decisions or {}),
        promoted_at=row.promoted_at,
        promoted_by=row.promoted_by,
        production_path=row.production_path,
        driver_build=row.driver_build,
        rebuild_strategy=row.rebuild_strategy,
    )


def _result_record(row: Row[Any]) -> ResultRecord:
    return ResultRecord(
        id=row.id,
        module_build_id=row.module_build_id,
        testcase=row.testcase,
        outcome=row.outcome,
        note=row.note,
        ref_url=row.ref_url,
        item=row.item,
        type=row.type,
        data=dict(row.data or {}),
        submitted_at=row.submitted_at,
    )


def _waiver_record(row: Row[Any]) -> WaiverRecord:
    return WaiverRecord(
        id=row.id,
        item=row.item,
        testcase=row.testcase,
        waived=bool(row.waived),
        comment=row.comment,
        username=row.username,
        timestamp=row.timestamp,
    )


def _json_object(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``value`` as a plain JSON object (a copy), or a clear :class:`RegistryError`."""
    if not isinstance(value, Mapping):
        raise RegistryError(f"{what} must be a mapping, not {type(value).__name__}")
    try:
        plain = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as e:
        raise RegistryError(
            f"{what} is not JSON: {e}",
            hint="use strings, numbers, booleans, None, lists and dicts with string keys",
        ) from None
    assert isinstance(plain, dict)
    return plain


def _component_record(row: Row[Any]) -> ComponentRecord:
    return ComponentRecord(
        module_build_id=row.module_build_id,
        name=row.name,
        package=row.package,
        ref=row.ref,
        commit=row.commit_hash,
        state=row.state,
        nvr=row.nvr,
        after=list(row.buildafter or ()),
        level=row.level,
        buildbot_build_id=row.buildbot_build_id,
        log_url=row.log_url,
        started_at=row.started_at,
        finished_at=row.finished_at,
        reason=row.reason,
        attempts=int(row.attempts or 0),
        reused_from=row.reused_from,
    )


# --------------------------------------------------------------------------- backup helpers

BACKUP_FORMAT = "buildbot-modules registry backup 1"
"""The ``format`` of a :meth:`Registry.backup` document."""

_BACKUP_TABLES: list[sa.Table] = list(_schema.metadata.sorted_tables)  # parents first


def _revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table(_schema.VERSION_TABLE):
        return None
    table = sa.table(_schema.VERSION_TABLE, sa.column("version_num"))
    found = conn.scalars(sa.select(table.c.version_num)).all()
    return ",".join(sorted(str(v) for v in found)) or None


def _to_json(column: sa.Column[Any], value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _from_json(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    try:
        if isinstance(column.type, _schema.UTCDateTime):
            found = datetime.fromisoformat(value)
            return found if found.tzinfo else found.replace(tzinfo=UTC)
        if isinstance(column.type, sa.Date):
            return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise RegistryError(
            f"backup: {column.table.name}.{column.name}: {value!r} is not an ISO 8601 time",
            hint="restore a document written by bbmod registry backup",
        ) from None
    return value


def _check_backup(document: Mapping[str, Any]) -> None:
    """A clear error for anything that is not a complete backup of this schema."""
    hint = "restore a document written by bbmod registry backup"
    if not isinstance(document, Mapping) or document.get("format") != BACKUP_FORMAT:
        raise RegistryError(
            f"backup: not a registry backup (format is not {BACKUP_FORMAT!r})", hint=hint
        )
    if not isinstance(document.get("revision"), str):
        raise RegistryError("backup: no registry revision", hint=hint)
    tables = document.get("tables")
    if not isinstance(tables, Mapping):
        raise RegistryError("backup: no tables", hint=hint)
    known = {t.name: t for t in _BACKUP_TABLES}
    if set(tables) != set(known):
        missing, extra = sorted(set(known) - set(tables)), sorted(set(tables) - set(known))
        raise RegistryError(
            f"backup: tables differ from the registry's (missing {missing or '-'}, "
            f"unknown {extra or '-'})",
            hint=hint,
        )
    for name, table in known.items():
        part = tables[name]
        columns = part.get("columns") if isinstance(part, Mapping) else None
        rows = part.get("rows") if isinstance(part, Mapping) else None
        if not isinstance(columns, list) or sorted(columns) != sorted(
            c.name for c in table.columns
        ):
            raise RegistryError(
                f"backup: table {name}: its columns are not the registry's "
                f"({', '.join(c.name for c in table.columns)})",
                hint=hint,
            )
        if not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) == len(columns) for r in rows
        ):
            raise RegistryError(
                f"backup: table {name}: rows must be lists of {len(columns)} values", hint=hint
            )
