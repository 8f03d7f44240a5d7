"""Retention, retiring and backups: what keeps a long-running site from filling its disk
and its registry from being lost (docs/running.md "Retention, retiring and backups").

- :func:`collect_garbage` (nightly on the ``module-maintenance`` builder, or
  ``bbmod collect-garbage``): failed builds, scratch builds and superseded builds (still
  ``done``, never made ready, when a newer version of the same name:stream:context is
  done or ready) older than ``garbage_after_days`` go to the registry's ``garbage`` state
  (MBS's state 6) with a reason; their artifacts (``artifacts/<id>/``: sources, RPMs,
  buildroot repositories, compose) are deleted and, if they were published, they leave
  the publish areas. Ready builds that are not scratch are kept until retired.
- :func:`retire` (``bbmod retire``, as ``mbs-manager retire``): done or ready builds of
  N:S[:V[:C]] go to garbage, out of the stage and production repositories and out of
  dependency resolution.
- :func:`backup_registry` / :func:`restore_registry` (``bbmod registry backup|restore``):
  the whole registry as one portable JSON document (SQLite ↔ PostgreSQL).

Whenever a build goes to garbage its files go too; a later run also removes from the
publish areas any garbage build still there (an interrupted retire, say).

Pure Python (no Twisted, no Buildbot): the maintenance step runs it in a thread.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .core.problems import ModuleError
from .master.settings import load_settings
from .master.site import ModuleSite
from .publish import published, unpublish
from .registry import InvalidState, ModuleBuildRecord, Registry, RegistryError

__all__ = [
    "AREAS",
    "GarbageReport",
    "backup_registry",
    "collect_garbage",
    "master_running",
    "master_site",
    "parse_ref",
    "restore_registry",
    "retire",
    "retire_candidates",
]

AREAS = ("stage", "production", "scratch")
"""The publish areas a module build can be in: quality.py's STAGE and PRODUCTION, and
``scratch`` where scratch builds are published apart (absent areas are skipped)."""

LIVE_STATES = frozenset({"init", "wait", "build", "done", "ready"})
RETIRABLE_STATES = frozenset({"done", "ready"})


class UnknownStream(ModuleError):
    """``bbmod retire`` named a module stream the registry has no build of."""


@dataclass
class Collected:
    """One build retention (or retire) dealt with."""

    build: ModuleBuildRecord  # as it was before
    why: str
    state: str  # "garbage", or "failed" when it had to stay failed (see mark_garbage)
    deleted: list[str] = field(default_factory=list)
    files: int = 0
    size: int = 0

    def line(self) -> str:
        b = self.build
        text = f"{self.state}: {b.nsvc} (build {b.id}, was {b.state}): {self.why}"
        for path in self.deleted:
            text += f"; deleted {path} ({self.files} files, {_size(self.size)})"
        return text


@dataclass
class GarbageReport:
    """What :func:`collect_garbage` moved and deleted, for the step's log and the CLI."""

    days: int
    cutoff: datetime
    dry_run: bool = False
    collected: list[Collected] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def moved(self) -> list[Collected]:
        return [c for c in self.collected if c.state == "garbage"]

    def summary(self) -> str:
        verb = "would move" if self.dry_run else "moved"
        size = sum(c.size for c in self.collected)
        text = f"{verb} {len(self.moved)} builds to garbage, freed {_size(size)}"
        if self.unpublished:
            text += f", unpublished {len(self.unpublished)}"
        return text

    def lines(self) -> list[str]:
        out = [
            f"policy: failed, scratch and superseded builds finished before "
            f"{self.cutoff:%Y-%m-%d %H:%M} UTC (garbage_after_days = {self.days})"
            + (" -- dry run, nothing changed" if self.dry_run else "")
        ]
        out += [c.line() for c in self.collected]
        for path in self.unpublished:
            out.append(f"unpublished {path}")
        for line in self.skipped:
            out.append(f"skipped: {line}")
        if len(out) == 1:
            out.append("nothing to collect")
        out.append(self.summary())
        return out


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


# --------------------------------------------------------------------------- the site


def master_site(master_dir: str) -> ModuleSite:
    """The site of a master directory (the one ``bbmod quickstart`` wrote): its
    ``settings.toml`` read as the master reads it, its registry with a schema."""
    path = os.path.join(master_dir, "settings.toml")
    if not os.path.isfile(path):
        raise ModuleError(
            "not a master directory: no settings.toml",
            source=os.path.abspath(master_dir),
            hint="pass the master's folder (bbmod quickstart's DIR/master) with --master",
        )
    return ModuleSite(load_settings(path))


def master_running(master_dir: str) -> int | None:
    """The pid of the master running in ``master_dir`` (its ``twistd.pid``), if any."""
    from .demo import running

    return running(master_dir)


def _require_schema(registry: Registry) -> None:
    if registry.revision() is None:
        raise RegistryError(
            f"{registry.describe()} has no schema yet",
            hint="start the master once (it creates the registry), or check registry_url",
        )


# --------------------------------------------------------------------------- files


def _tree_size(path: str) -> tuple[int, int]:
    files = size = 0
    for base, _dirs, names in os.walk(path):
        for name in names:
            try:
                size += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                continue
            files += 1
    return files, size


def _delete_artifacts(site: ModuleSite, build_id: int, dry_run: bool) -> tuple[str, int, int]:
    """Remove ``artifacts/<id>/`` (renamed aside first, so no half tree keeps its name);
    return its path, files and bytes (0s when there is none)."""
    path = site.artifact_dir(build_id)
    if not os.path.isdir(path) or os.path.islink(path):
        return "", 0, 0
    files, size = _tree_size(path)
    if not dry_run:
        aside = tempfile.mkdtemp(prefix=f".garbage-{build_id}-", dir=site.artifacts)
        os.rename(path, os.path.join(aside, "build"))
        shutil.rmtree(aside, ignore_errors=True)
    return path, files, size


def _published_in(site: ModuleSite, build: ModuleBuildRecord) -> list[str]:
    """The areas where ``build``'s N:S:V:C has a published directory."""
    out = []
    for area in AREAS:
        folder = os.path.join(
            site.publish_root, area, build.name, build.stream, f"{build.version}.{build.context}"
        )
        if os.path.isdir(folder):
            out.append(area)
    return out


def _live_other(site: ModuleSite, build: ModuleBuildRecord) -> ModuleBuildRecord | None:
    """Another build of the same N:S:V:C that is live: it owns the published directory."""
    for other in site.registry.same_nsvc(build.name, build.stream, build.version, build.context):
        if other.id != build.id and other.state in LIVE_STATES:
            return other
    return None


def _unpublish(
    site: ModuleSite, wanted: dict[str, list[tuple[str, str, int, str]]], dry_run: bool
) -> list[str]:
    removed: list[str] = []
    for area in AREAS:
        builds = sorted(set(wanted.get(area, [])))
        if not builds:
            continue
        if dry_run:
            removed += [
                os.path.join(site.publish_root, area, n, s, f"{v}.{c}") for n, s, v, c in builds
            ]
        else:
            removed += unpublish(site.publish_root, area, builds, site.signer())
    return removed


# --------------------------------------------------------------------------- retention


def collect_garbage(
    site: ModuleSite,
    days: int | None = None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    log: Callable[[str], None] | None = None,
) -> GarbageReport:
    """Apply the retention policy (``garbage_after_days`` unless ``days`` is given): see
    the module's docstring. Blocking; ``log`` hears each line as it happens."""
    days = site.settings.garbage_after_days if days is None else days
    now = now or datetime.now(UTC)
    report = GarbageReport(days=days, cutoff=now - timedelta(days=days), dry_run=dry_run)
    say = log or (lambda _line: None)
    if days <= 0:
        report.skipped.append("retention is off (garbage_after_days = 0)")
        return report
    _require_schema(site.registry)
    to_unpublish: dict[str, list[tuple[str, str, int, str]]] = {}
    for build, why in site.registry.retention_candidates(report.cutoff):
        finished = build.finished_at or build.submitted_at
        reason = (
            f"garbage-collected on {now:%Y-%m-%d}: {why}, finished {finished:%Y-%m-%d} "
            f"(garbage_after_days = {days})"
        )
        if build.state == "failed" and build.state_reason:
            reason += f"; failed: {build.state_reason}"
        live = _live_other(site, build) if build.state == "failed" else None
        entry = Collected(build, why, "failed" if live else "garbage")
        if live is not None:
            # The registry keeps one live build per N:S:V:C: this one stays failed, but
            # its files (not the published ones, which are the live build's) still go.
            entry.why += f" (stays failed: build {live.id} of its N:S:V:C is {live.state})"
            if not os.path.isdir(site.artifact_dir(build.id)):
                continue  # cleaned by an earlier run
        elif not dry_run:
            try:
                site.registry.mark_garbage(build.id, reason, states=(build.state,))
            except InvalidState as e:
                report.skipped.append(f"{build.nsvc} (build {build.id}): {e.message}")
                continue
        path, entry.files, entry.size = _delete_artifacts(site, build.id, dry_run)
        if path:
            entry.deleted.append(path)
        if live is None:
            for area in _published_in(site, build):
                to_unpublish.setdefault(area, []).append(
                    (build.name, build.stream, build.version, build.context)
                )
        report.collected.append(entry)
        say(entry.line())
    for area, builds in _garbage_still_published(site).items():
        to_unpublish.setdefault(area, []).extend(builds)
    report.unpublished = _unpublish(site, to_unpublish, dry_run)
    for path in report.unpublished:
        say(f"unpublished {path}")
    return report


def _garbage_still_published(site: ModuleSite) -> dict[str, list[tuple[str, str, int, str]]]:
    """Published N:S:V:Cs whose builds are all garbage (or failed, with one garbage)."""
    out: dict[str, list[tuple[str, str, int, str]]] = {}
    for area in AREAS:
        seen: set[tuple[str, str, int, str]] = set()
        for repo in published(site.publish_root, area):
            key = (repo.name, repo.stream, repo.version, repo.context)
            if key in seen:
                continue
            seen.add(key)
            states = {b.state for b in site.registry.same_nsvc(*key)}
            if "garbage" in states and not states & LIVE_STATES:
                out.setdefault(area, []).append(key)
    return out


# --------------------------------------------------------------------------- retire


def parse_ref(ref: str) -> tuple[str, str, int | None, str | None]:
    """``N:S``, ``N:S:V`` or ``N:S:V:C`` → its parts (a clear error otherwise)."""
    parts = ref.strip().split(":")
    if not 2 <= len(parts) <= 4 or not all(parts):
        raise ModuleError(
            f"{ref!r} is not NAME:STREAM[:VERSION[:CONTEXT]]",
            hint="e.g. hello:main or hello:main:3920250101120000:c0ffee42",
        )
    version: int | None = None
    if len(parts) >= 3:
        if not (parts[2].isascii() and parts[2].isdigit()):
            raise ModuleError(f"{ref!r}: the version {parts[2]!r} is not a number")
        version = int(parts[2])
    return parts[0], parts[1], version, parts[3] if len(parts) == 4 else None


def retire_candidates(
    registry: Registry, name: str, stream: str, version: int | None, context: str | None
) -> list[ModuleBuildRecord]:
    """The done and ready builds of ``name:stream`` (and version, context when given),
    newest first. :class:`UnknownStream` when the registry has no build of N:S at all."""
    _require_schema(registry)
    builds = registry.module_builds(name=name, stream=stream, limit=None)
    if not builds:
        known = sorted({f"{b.name}:{b.stream}" for b in registry.module_builds(name=name)})
        raise UnknownStream(
            f"no module build of {name}:{stream} in the {registry.describe()}",
            hint=("its streams there: " + ", ".join(known)) if known else "check the name",
        )
    return [
        b
        for b in builds
        if b.state in RETIRABLE_STATES
        and (version is None or b.version == version)
        and (context is None or b.context == context)
    ]


def retire(
    site: ModuleSite,
    builds: Iterable[ModuleBuildRecord],
    user: str,
    *,
    now: datetime | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Collected]:
    """Move ``builds`` to garbage ("retired by USER on DATE"), delete their artifacts and
    remove them from the stage and production areas (each area's aggregate rebuilt once,
    under its lock). A build whose state changed meanwhile is left alone and logged."""
    now = now or datetime.now(UTC)
    say = log or (lambda _line: None)
    done: list[Collected] = []
    to_unpublish: dict[str, list[tuple[str, str, int, str]]] = {}
    for build in builds:
        reason = f"retired by {user} on {now:%Y-%m-%d %H:%M} UTC"
        try:
            site.registry.mark_garbage(build.id, reason, states=RETIRABLE_STATES)
        except InvalidState as e:
            say(f"left alone: {build.nsvc} (build {build.id}): {e.message}")
            continue
        entry = Collected(build, reason, "garbage")
        path, entry.files, entry.size = _delete_artifacts(site, build.id, False)
        if path:
            entry.deleted.append(path)
        for area in _published_in(site, build):
            to_unpublish.setdefault(area, []).append(
                (build.name, build.stream, build.version, build.context)
            )
        done.append(entry)
        say(entry.line())
    for path in _unpublish(site, to_unpublish, False):
        say(f"unpublished {path}")
    return done


# --------------------------------------------------------------------------- backups


def backup_registry(registry: Registry, path: str) -> dict[str, int]:
    """Write the registry's backup document (JSON) to ``path`` atomically (mode 0600);
    return the rows per table."""
    document = registry.backup()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".bbmod-backup-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {name: len(part["rows"]) for name, part in document["tables"].items()}


def restore_registry(registry: Registry, path: str, *, force: bool = False) -> dict[str, int]:
    """Load the backup document at ``path`` into ``registry`` (see
    :meth:`Registry.restore`); return the rows per table."""
    try:
        with open(path, encoding="utf-8") as f:
            document: Any = json.load(f)
    except FileNotFoundError:
        raise ModuleError("backup file not found", source=path) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ModuleError(
            f"not a registry backup: invalid JSON ({e})",
            source=path,
            hint="restore a file written by bbmod registry backup",
        ) from None
    return registry.restore(document, force=force)
