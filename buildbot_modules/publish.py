"""Publish composed module builds atomically, and keep one aggregate repository per area.

Layout under a publish root (``area`` is ``stage`` or ``prod``)::

    <root>/<area>/<name>/<stream>/<version>.<context>/<arch>/   binary repo + modules.yaml
    <root>/<area>/<name>/<stream>/<version>.<context>/src/      source repo
    <root>/<area>/repo -> .repo-<timestamp>-<random>/            aggregate of the whole area
    <root>/<area>/<area>.repo                                    dnf .repo file for it
    <root>/<area>/.lock                                          flock: one writer at a time

Nobody ever sees a half-written repository:

- a compose is copied (hard links when possible) into ``<root>/<area>/.tmp-*/`` on the
  same filesystem, then renamed into place in one step; a published N:S:V:C:A is
  immutable, so an existing target is refused;
- the aggregate is built in a new ``.repo-*`` directory (RPMs, then ``createrepo_c``,
  then ``modifyrepo_c`` adds the merged ``modules.yaml``) and becomes visible when the
  ``repo`` symlink is swapped with ``os.replace``. The metadata files the previous
  ``repomd.xml`` named are carried over, so a client that read ``repomd.xml`` just before
  the swap still finds every file it names; older ``.repo-*`` directories are removed.

Writers take an exclusive ``fcntl.flock`` on ``<root>/<area>/.lock`` (it also serialises
threads of one process: each call opens the file anew). Readers never lock. A writer that
dies (kill -9, power loss) leaves at most hidden ``.tmp-*``/``.repo-*`` entries, which the
next writer removes under the lock before anything else; publishing the same N:S:V:C:A
again with an identical compose only rebuilds the aggregate (docs/reliability.md).

Errors of the file system (no space left, read-only, permission denied) become
``ModuleError`` naming the path and what to do; whatever was published before is unchanged.

Pure Python: no Twisted, no Buildbot.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from .compose import (
    ComposeResult,
    add_modules,
    createrepo,
    link_or_copy,
    module_translations,
    read_modules_metadata,
    require_tool,
)
from .core.documents import modulemd
from .core.identity import NSVCA
from .core.problems import ModuleError

__all__ = [
    "AGGREGATE_LINK",
    "FAULT_PAUSE_ENV",
    "Published",
    "area_lock",
    "publish",
    "published",
    "repo_file",
    "unpublish",
    "update_aggregate",
]

AGGREGATE_LINK = "repo"
"""The name of the aggregate repository symlink inside an area (not usable as a module name)."""

FAULT_PAUSE_ENV = "BBMOD_FAULT_PAUSE_PUBLISH"
"""TEST HOOK (docs/reliability.md): ``<point>:<marker file>`` pauses a writer at ``point``."""
FAULT_POINTS = ("copied", "renamed", "aggregate", "swap")
_LOW_SPACE = 1 << 20  # a tool failing with less free space than this ran out of it

_AREA_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_REPOMD_NS = {"r": "http://linux.duke.edu/metadata/repo"}


@dataclass(frozen=True, order=True)
class Published:
    """One published binary repository of an area."""

    name: str
    stream: str
    version: int
    context: str
    arch: str
    path: str

    @property
    def nsvca(self) -> str:
        return f"{self.name}:{self.stream}:{self.version}:{self.context}:{self.arch}"


def _area_dir(publish_root: str, area: str) -> str:
    if not _AREA_RE.fullmatch(area):
        raise ModuleError(
            f"invalid publish area {area!r}",
            hint="an area is a plain directory name such as stage or prod",
        )
    return os.path.join(os.path.abspath(publish_root), area)


def _check_part(kind: str, value: str) -> None:
    # NSVCA accepts dots in names and streams; as path parts "." and ".." (or any name
    # starting with a dot, which the area uses for its own files) must not be.
    if value.startswith(".") or value == AGGREGATE_LINK:
        raise ModuleError(
            f"cannot publish a module whose {kind} is {value!r}",
            hint=f"names starting with '.' and {AGGREGATE_LINK!r} are reserved in a publish area",
        )


@contextmanager
def area_lock(publish_root: str, area: str = "stage") -> Iterator[str]:
    """Hold the exclusive lock of ``<root>/<area>`` (created when missing); yield its path."""
    area_dir = _area_dir(publish_root, area)
    os.makedirs(area_dir, exist_ok=True)
    fd = os.open(os.path.join(area_dir, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield area_dir
    finally:
        os.close(fd)  # closing releases the lock


def _copy_tree(source: str, target: str) -> None:
    """Copy the repository ``source`` to ``target``, hard-linking files, repodata last."""
    if not os.path.isfile(os.path.join(source, "repodata", "repomd.xml")):
        raise ModuleError(
            "not a composed repository (no repodata/repomd.xml)",
            source=source,
            hint="publish what compose() returned",
        )
    os.makedirs(target)
    for folder, dirs, files in os.walk(source):
        dirs.sort(key=lambda d: (d == "repodata", d))  # repodata last
        rel = os.path.relpath(folder, source)
        out = os.path.normpath(os.path.join(target, rel))
        os.makedirs(out, exist_ok=True)
        for name in sorted(files):
            _link_or_copy(os.path.join(folder, name), os.path.join(out, name))


_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _link_or_copy(source: str, target: str) -> None:
    """``link_or_copy``; an error of writing names the target (shutil names the source)."""
    try:
        link_or_copy(source, target)
    except OSError as e:
        if e.errno in _WRITE_ERRORS and e.filename != target:
            raise OSError(e.errno, e.strerror, target) from None
        raise


def publish(
    compose: ComposeResult,
    publish_root: str,
    name: str,
    stream: str,
    version: int,
    context: str,
    arch: str,
    area: str = "stage",
    signer: Any = None,
) -> str:
    """Publish ``compose`` to ``<root>/<area>/<name>/<stream>/<version>.<context>/<arch>/``.

    The source repository goes beside it (``.../<version>.<context>/src/``, shared by the
    arches of one N:S:V:C). The binary repository appears in one rename. Published builds
    are immutable: an N:S:V:C:A already published with other RPMs or another
    ``modules.yaml`` is refused; the same build again (a build resumed after the master
    died between the rename and the aggregate) is left as it is. Then the area's
    aggregate repository is rebuilt. Returns the published directory.

    If rebuilding the aggregate fails, the error is raised, the previous aggregate stays
    in place and what this call placed is withdrawn: a failed publish publishes nothing.
    """
    try:
        nsvca = NSVCA(name, stream, version, context, arch).nsvca
    except ValueError as e:
        raise ModuleError(str(e)) from None
    for kind, value in (("name", name), ("stream", stream), ("context", context), ("arch", arch)):
        _check_part(kind, value)
    if arch == "src":
        raise ModuleError("a module's arch cannot be 'src'")
    if compose.nsvca != nsvca:
        raise ModuleError(
            f"the compose is {compose.nsvca}, not {nsvca}",
            hint="publish a compose under its own N:S:V:C:A",
        )
    for tool in ("createrepo_c", "modifyrepo_c"):
        require_tool(tool)
    opening = _fs_errors(_area_dir(publish_root, area), f"opening the {area} area")
    with opening, area_lock(publish_root, area) as area_dir:
        _remove_leftovers(area_dir)
        parent = os.path.join(area_dir, name, stream, f"{version}.{context}")
        target = os.path.join(parent, arch)
        if os.path.lexists(target):
            with _fs_errors(area_dir, f"reading the published {nsvca}"):
                difference = _difference(compose, target)
            if difference:
                raise ModuleError(
                    f"{nsvca} is already published in {area}, {difference}",
                    source=target,
                    hint="a published module build is immutable: build a new version to publish",
                )
            made: list[tuple[str, bool]] = []
        else:
            with _fs_errors(area_dir, f"copying {nsvca} into {area}"):
                made = _place(compose, area_dir, parent, arch)
        try:
            _update_aggregate(area_dir, area, signer)
        except BaseException:
            _withdraw(area_dir, made)  # a failed publish publishes nothing
            raise
    return target


def _place(compose: ComposeResult, area_dir: str, parent: str, arch: str) -> list[tuple[str, bool]]:
    """Copy the compose into a ``.tmp-*`` directory and rename it into place. Returns
    what this call made, in order, as (path, is a published tree), for ``_withdraw``;
    withdraws it itself on failure."""
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=area_dir)
    made = [(d, False) for d in _parents(area_dir, parent) if not os.path.isdir(d)]
    try:
        _copy_tree(compose.repo, os.path.join(tmp, arch))
        has_sources = os.path.isdir(compose.source_repo)
        if has_sources:
            _copy_tree(compose.source_repo, os.path.join(tmp, "src"))
        _pause_for_tests("copied")
        os.makedirs(parent, exist_ok=True)
        for part in ("src", arch) if has_sources else (arch,):
            if part == "src" and os.path.lexists(os.path.join(parent, "src")):
                continue  # another arch of this N:S:V:C published the same sources
            os.rename(os.path.join(tmp, part), os.path.join(parent, part))
            made.append((os.path.join(parent, part), True))
    except BaseException:
        _withdraw(area_dir, made)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _pause_for_tests("renamed")
    return made


def _withdraw(area_dir: str, made: list[tuple[str, bool]]) -> None:
    """Undo ``_place``: its trees leave in one rename each (then removed), its folders
    go when empty. Best effort: this runs while handling another error."""
    for path, tree in reversed(made):
        if tree:
            gone = os.path.join(area_dir, f".tmp-withdrawn-{os.urandom(6).hex()}")
            with suppress(OSError):
                os.rename(path, gone)
                shutil.rmtree(gone, ignore_errors=True)
        else:
            with suppress(OSError):
                os.rmdir(path)


def _parents(area_dir: str, parent: str) -> list[str]:
    """``<area>/<name>``, ``<area>/<name>/<stream>``, ``<area>/<name>/<stream>/<v>.<c>``."""
    rel = os.path.relpath(parent, area_dir).split(os.sep)
    return [os.path.join(area_dir, *rel[: n + 1]) for n in range(len(rel))]


def _rpm_names(folder: str) -> list[str]:
    try:
        return sorted(e for e in os.listdir(folder) if e.endswith(".rpm"))
    except FileNotFoundError:
        return []


def _modules_yaml(repo: str, default: str) -> str:
    try:
        with open(os.path.join(repo, "modules.yaml"), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return default


def _difference(compose: ComposeResult, target: str) -> str:
    """How the build published at ``target`` differs from ``compose`` ('' when it is the
    same build: the same RPM file names, source RPMs included, and the same modules.yaml)."""
    if not os.path.isfile(os.path.join(target, "repodata", "repomd.xml")):
        return "but not as a repository (no repodata/repomd.xml)"
    if _rpm_names(target) != _rpm_names(compose.repo):
        return "with other RPMs"
    published_src = os.path.join(os.path.dirname(target), "src")
    if (
        os.path.isdir(compose.source_repo)
        and os.path.isdir(published_src)
        and _rpm_names(published_src) != _rpm_names(compose.source_repo)
    ):
        return "with other source RPMs"
    if _modules_yaml(target, "") != _modules_yaml(compose.repo, compose.modulemd):
        return "with another modules.yaml"
    return ""


def _pause_for_tests(point: str) -> None:
    """TEST HOOK, inert unless ``BBMOD_FAULT_PAUSE_PUBLISH=<point>:<marker file>`` is set
    (docs/reliability.md). It lets a test kill the writer, or fill its disk, at an exact
    moment of a publish: at ``point`` (one of FAULT_POINTS) a writer whose marker file
    does not exist yet creates it (its pid and the point) and waits as long as it exists,
    at most 10 minutes. Removing the marker lets the writer go on."""
    wanted, _, marker = os.environ.get(FAULT_PAUSE_ENV, "").partition(":")
    if wanted != point or not marker or os.path.exists(marker):
        return
    with open(marker, "w", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {point}\n")
    deadline = time.monotonic() + 600
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)


def _remove_leftovers(area_dir: str) -> None:
    """Remove what an interrupted writer left (hidden ``.tmp-*`` and ``.repo-*``), except
    the directory the aggregate symlink points to. The caller holds the area's lock."""
    link = os.path.join(area_dir, AGGREGATE_LINK)
    current = os.readlink(link) if os.path.islink(link) else None
    for entry in os.listdir(area_dir):
        if entry.startswith((".repo-", ".tmp-")) and entry != current:
            _remove(os.path.join(area_dir, entry))


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            os.unlink(path)


def _free_bytes(path: str) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _no_space(area_dir: str, doing: str, path: str, detail: str) -> ModuleError:
    root = os.path.dirname(area_dir)
    if detail and detail != os.strerror(errno.ENOSPC):
        doing += f": {detail}"
    return ModuleError(
        f"no space left on device while {doing}",
        source=path,
        hint=f"free space on the file system of {root} (df {root}) or point publish_root"
        " elsewhere in settings.toml, then build again; what was published before is"
        " unchanged",
    )


def _under(path: str, folder: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), folder]) == folder


@contextmanager
def _fs_errors(area_dir: str, doing: str) -> Iterator[None]:
    """Turn a file system error of the publish area into a ModuleError that says where,
    what and what to do."""
    try:
        yield
    except OSError as e:
        root = os.path.dirname(area_dir)
        path = str(e.filename or area_dir)
        detail = e.strerror or str(e)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space(area_dir, doing, path, detail) from None
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM) and _under(path, root):
            raise ModuleError(
                f"publish root {root} is not writable: {detail} (while {doing})",
                source=path,
                hint="mount it read-write and let the master's user write there, or point"
                " publish_root elsewhere in settings.toml, then build again; what was"
                " published before is unchanged",
            ) from None
        raise ModuleError(
            f"{doing} failed: {detail}",
            source=path,
            hint="what was published before is unchanged",
        ) from None


def published(publish_root: str, area: str = "stage") -> list[Published]:
    """Every published binary repository of an area, sorted by N, S, V, C, A."""
    area_dir = _area_dir(publish_root, area)
    out: list[Published] = []

    def subdirs(path: str) -> list[str]:
        try:
            entries = os.listdir(path)
        except FileNotFoundError:
            return []
        return [
            e
            for e in entries
            if not e.startswith(".")
            and not os.path.islink(os.path.join(path, e))
            and os.path.isdir(os.path.join(path, e))
        ]

    for name in subdirs(area_dir):
        if name == AGGREGATE_LINK:
            continue
        for stream in subdirs(os.path.join(area_dir, name)):
            for vc in subdirs(os.path.join(area_dir, name, stream)):
                version, _, context = vc.partition(".")
                if not (version.isascii() and version.isdigit()) or not context:
                    continue
                for arch in subdirs(os.path.join(area_dir, name, stream, vc)):
                    path = os.path.join(area_dir, name, stream, vc, arch)
                    if arch == "src" or not os.path.isfile(
                        os.path.join(path, "repodata", "repomd.xml")
                    ):
                        continue
                    out.append(Published(name, stream, int(version), context, arch, path))
    return sorted(out)


def repo_section(repo_id: str, name: str, url: str) -> str:
    """One ``[repo_id]`` section of a dnf ``.repo`` file."""
    return f"[{repo_id}]\nname={name}\nbaseurl={url}\nenabled=1\ngpgcheck=0\nmetadata_expire=5m\n"


PLATFORM_AREA = "platform"


def repo_file(publish_root: str, area: str = "stage", baseurl: str | None = None) -> str:
    """The text of a dnf ``.repo`` file for the area's aggregate repository, followed by
    the platform repositories published beside it (``<root>/platform/<stream>``), so one
    file gives dnf everything a compiled module needs on a Debian host.

    ``module_hotfixes`` stays off: modular filtering is the point. ``baseurl`` defaults to
    the ``file://`` URL of ``<root>/<area>/repo/``; pass an http URL when the area is
    served over the network.
    """
    url = baseurl or "file://" + os.path.join(_area_dir(publish_root, area), AGGREGATE_LINK) + "/"
    text = repo_section(f"bbmod-{area}", f"buildbot-modules {area} modules", url)
    platforms = os.path.join(os.path.abspath(publish_root), PLATFORM_AREA)
    if os.path.isdir(platforms):
        for stream in sorted(os.listdir(platforms)):
            path = os.path.join(platforms, stream)
            if stream.startswith(".") or not os.path.isdir(path) or stream.endswith(".repo"):
                continue
            text += "\n" + platform_section(publish_root, stream)
    return text


def platform_section(publish_root: str, stream: str, baseurl: str | None = None) -> str:
    """The ``.repo`` section of the platform repository ``<root>/platform/<stream>/``."""
    path = os.path.join(os.path.abspath(publish_root), PLATFORM_AREA, stream)
    return repo_section(
        f"bbmod-platform-{stream}",
        f"buildbot-modules platform {stream}",
        baseurl or f"file://{path}/",
    )


def update_aggregate(publish_root: str, area: str = "stage", signer: Any = None) -> str:
    """Rebuild the area's aggregate repository (every published module) and swap it in.

    Returns the path of the ``<root>/<area>/repo`` symlink. Also (re)writes
    ``<root>/<area>/<area>.repo``. Holds the area's lock.
    """
    for tool in ("createrepo_c", "modifyrepo_c"):
        require_tool(tool)
    opening = _fs_errors(_area_dir(publish_root, area), f"opening the {area} area")
    with opening, area_lock(publish_root, area) as area_dir:
        _remove_leftovers(area_dir)
        return _update_aggregate(area_dir, area, signer)


def _write_atomically(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _merged_modules(repos: list[Published]) -> Any:
    """One ModuleIndex with every published stream, obsoletes and translations.

    Defaults are combined rather than merged by libmodulemd's ModuleIndexMerger, which
    refuses two versions of a stream whose default profiles differ: per module, the
    defaults of the newest version (by module version) win for the default stream and
    for each stream's default profiles.
    """
    Modulemd = modulemd()
    index = Modulemd.ModuleIndex.new()
    defaults: dict[str, list[tuple[int, Any]]] = {}
    for repo in repos:
        found = read_modules_metadata(repo.path)
        if found is None:
            continue
        for name in found.get_module_names():
            module = found.get_module(name)
            for s in module.get_all_streams():
                index.add_module_stream(s)
            for o in module.get_obsoletes():
                index.add_obsoletes(o)
            for translation in module_translations(module):
                index.add_translation(translation)
            if module.get_defaults() is not None:
                defaults.setdefault(name, []).append((repo.version, module.get_defaults()))
    for name, found_defaults in sorted(defaults.items()):
        combined = Modulemd.DefaultsV1.new(name)
        for _version, d in sorted(found_defaults, key=lambda item: item[0]):
            if d.get_default_stream(None):
                combined.set_default_stream(d.get_default_stream(None), None)
            for s in d.get_streams_with_default_profiles(None):
                combined.remove_default_profiles_for_stream(s, None)
                profiles = d.get_default_profiles_for_stream(s, None)
                if profiles:
                    for p in profiles:
                        combined.add_default_profile_for_stream(s, p, None)
                else:
                    combined.set_empty_default_profiles_for_stream(s, None)
        index.add_defaults(combined)
    return index


def _referenced(repo: str) -> list[str]:
    """The files ``repo/repodata/repomd.xml`` names (relative paths)."""
    try:
        root = ET.parse(os.path.join(repo, "repodata", "repomd.xml")).getroot()
    except (OSError, ET.ParseError):
        return []
    out = []
    for location in root.iterfind("r:data/r:location", _REPOMD_NS):
        href = location.get("href")
        if href and not os.path.isabs(href) and ".." not in href.split("/"):
            out.append(href)
    return out


def _update_aggregate(area_dir: str, area: str, signer: Any = None) -> str:
    """The aggregate rebuild; the caller holds the area's lock. Nothing is visible until
    the symlink swap; a failure before it removes the new directory and raises."""
    link = os.path.join(area_dir, AGGREGATE_LINK)
    if os.path.lexists(link) and not os.path.islink(link):
        raise ModuleError(
            f"{link} is not a symlink",
            source=link,
            hint="the aggregate repository is a symlink to a .repo-* directory; move it away",
        )
    doing = f"rebuilding the {area} aggregate repository"
    with _fs_errors(area_dir, doing):
        current = os.path.realpath(link) if os.path.islink(link) else None
        repos = published(os.path.dirname(area_dir), area)
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        new = tempfile.mkdtemp(prefix=f".repo-{stamp}-", dir=area_dir)
        try:
            _build_aggregate(new, current, repos, signer)
            tmp_link = os.path.join(area_dir, f".repo-link-{os.path.basename(new)}")
            os.symlink(os.path.basename(new), tmp_link)
            _pause_for_tests("swap")
            os.replace(tmp_link, link)
        except ModuleError as e:  # a tool failed: out of space says so, and what to do
            free = _free_bytes(new)
            shutil.rmtree(new, ignore_errors=True)
            if free is not None and free < _LOW_SPACE:
                raise _no_space(
                    area_dir, doing, new, f"{e.message} with {free // 1024} KiB free"
                ) from None
            raise
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        _write_atomically(
            os.path.join(area_dir, f"{area}.repo"), repo_file(os.path.dirname(area_dir), area)
        )
    # Under the lock nobody else is writing: the previous aggregate and anything left
    # by an interrupted run go.
    _remove_leftovers(area_dir)
    return link


def _build_aggregate(new: str, current: str | None, repos: list[Published], signer: Any) -> None:
    """Fill the new aggregate directory ``new``: RPMs, metadata, modules, signature."""
    # Every published binary RPM, once per file name: a component reused by a later
    # version is the same file; the first in N:S:V:C:A order wins, so it never flips.
    seen: set[str] = set()
    for repo in repos:
        for entry in sorted(os.listdir(repo.path)):
            if entry.endswith(".rpm") and entry not in seen:
                seen.add(entry)
                _link_or_copy(os.path.join(repo.path, entry), os.path.join(new, entry))
    _pause_for_tests("aggregate")
    reuse = None
    if current and os.path.isfile(os.path.join(current, "repodata", "repomd.xml")):
        reuse = current  # package metadata of unchanged files; modules are added below
    createrepo(new, update_from=reuse)
    index = _merged_modules(repos)
    if index.get_module_names():
        add_modules(new, index.dump_to_string())
    if signer is not None:  # the RPMs were signed when they were composed
        signer.sign_metadata(new)
    # Clients that read the old repomd.xml just before the swap still find its files.
    if current:
        for href in _referenced(current):
            source = os.path.join(current, href)
            target = os.path.join(new, href)
            if os.path.isfile(source) and not os.path.lexists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                _link_or_copy(source, target)
    os.chmod(new, 0o755)  # mkdtemp makes it private; the repository is for everyone


def unpublish(
    publish_root: str,
    area: str,
    builds: Iterable[tuple[str, str, int, str]],
    signer: Any = None,
) -> list[str]:
    """Remove published module builds (``(name, stream, version, context)``, every arch
    and the sources) from an area and rebuild its aggregate repository once, under the
    area's lock. Returns the directories removed; builds not published there are skipped
    (nothing is rebuilt when none was).

    Each ``<version>.<context>`` directory leaves in one rename (to ``.tmp-*``, then
    removed), so nobody sees half of it; the aggregate keeps serving the builds until
    the new one is swapped in.
    """
    removed: list[str] = []
    area_dir = _area_dir(publish_root, area)
    if not os.path.isdir(area_dir):
        return removed
    wanted = list(builds)
    for name, stream, _version, context in wanted:
        for kind, value in (("name", name), ("stream", stream), ("context", context)):
            _check_part(kind, value)
    for tool in ("createrepo_c", "modifyrepo_c"):
        require_tool(tool)
    with area_lock(publish_root, area):
        for name, stream, version, context in wanted:
            target = os.path.join(area_dir, name, stream, f"{int(version)}.{context}")
            if not os.path.isdir(target) or os.path.islink(target):
                continue
            gone = tempfile.mkdtemp(prefix=".tmp-", dir=area_dir)
            os.rename(target, os.path.join(gone, "build"))
            shutil.rmtree(gone, ignore_errors=True)
            removed.append(target)
            for parent in (os.path.dirname(target), os.path.dirname(os.path.dirname(target))):
                try:
                    os.rmdir(parent)  # only when empty: other streams and versions stay
                except OSError:
                    break
        if removed:
            _update_aggregate(area_dir, area, signer)
    return removed
