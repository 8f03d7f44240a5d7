"""The platform: what a module build may use without building it.

BuildRequires met by neither the module's components nor its buildrequired modules
belong to the platform. On an RPM-based worker those are the host's own RPMs. On a
Debian worker no RPM provides anything, so the platform is described by a **platform
definition**: the RPM capabilities the host really provides, discovered on the host
(never typed by hand):

- sonames and symbol versions of every shared library the dynamic linker knows, as
  rpm's own generator ``/usr/lib/rpm/elfdeps --provides`` names them
  (``libc.so.6()(64bit)``, ``libc.so.6(GLIBC_2.34)(64bit)``);
- ``rtld(GNU_HASH)`` when the host's dynamic loader exists;
- every executable of ``/usr/bin``, ``/usr/sbin``, ``/bin`` and ``/sbin`` as a file
  capability (``/bin/sh``);
- ``pkgconfig(NAME) = VERSION`` for every ``.pc`` file on pkg-config's search path;
- the names of packages specs commonly BuildRequire (``gcc``, ``make``, …), each only
  when a file that proves it exists on the host (``PACKAGE_EVIDENCE``).

The definition becomes a **platform repository**: one stub package, ``bbmod-platform``,
that provides every capability and contains no file. Installed in a buildroot it lets
rpmbuild's own dependency check pass; offered to dnf on a Debian host it satisfies the
automatic requirements of compiled RPMs. It is published at
``<publish root>/platform/<stream>/`` (a symlink swapped atomically) with
``<publish root>/platform/platform-<stream>.repo`` beside it.

Pure Python: no Twisted, no Buildbot. Every tool runs with an argument list.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from .compose import createrepo, link_or_copy, require_tool, run_tool
from .core.problems import ModuleError
from .publish import PLATFORM_AREA, area_lock, platform_section

__all__ = [
    "ELFDEPS",
    "EXECUTABLE_DIRS",
    "PACKAGE_EVIDENCE",
    "PLATFORM_AREA",
    "STUB_NAME",
    "PlatformDefinition",
    "build_platform_repo",
    "capability_kinds",
    "definition_text",
    "generate_definition",
    "platform_repo_file",
    "publish_platform",
    "read_definition",
    "write_definition",
]

STUB_NAME = "bbmod-platform"
"""The name of the stub package a platform repository holds."""

ELFDEPS = "/usr/lib/rpm/elfdeps"
"""rpm's dependency generator for ELF files (Debian package rpm, Fedora rpm-build)."""

EXECUTABLE_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin")
"""Directories whose executables become file capabilities (each under its own path:
``/bin/sh`` and ``/usr/bin/sh`` are different capabilities even on a merged /usr)."""

PACKAGE_EVIDENCE: dict[str, str] = {
    # RPM package name → a host path that proves the host has what the package gives.
    # Only names specs commonly BuildRequire; macro packages (redhat-rpm-config, …) are
    # left out on purpose: their macros are not on a Debian host, and claiming them
    # would turn a clear "missing" into a confusing build failure.
    "bash": "/bin/bash",
    "coreutils": "/usr/bin/ls",
    "diffutils": "/usr/bin/diff",
    "findutils": "/usr/bin/find",
    "gawk": "/usr/bin/gawk",
    "gcc": "/usr/bin/gcc",
    "gcc-c++": "/usr/bin/g++",
    "glibc-devel": "/usr/include/stdio.h",
    "grep": "/usr/bin/grep",
    "gzip": "/usr/bin/gzip",
    "make": "/usr/bin/make",
    "perl": "/usr/bin/perl",
    "pkgconf-pkg-config": "/usr/bin/pkg-config",
    "pkgconfig": "/usr/bin/pkg-config",
    "python3": "/usr/bin/python3",
    "sed": "/usr/bin/sed",
    "tar": "/usr/bin/tar",
}

# The dynamic loader whose presence means the host resolves DT_GNU_HASH symbols.
_LOADERS = {
    "x86_64": "/lib64/ld-linux-x86-64.so.2",
    "aarch64": "/lib/ld-linux-aarch64.so.1",
    "ppc64le": "/lib64/ld64.so.2",
    "s390x": "/lib/ld64.so.1",
    "i686": "/lib/ld-linux.so.2",
}

# A capability the stub can declare: NAME or "NAME = VERSION". The name's characters
# are those rpm accepts unquoted in a spec (no '%': macros; no ',' or blanks: separators;
# no leading '(': rich dependencies). Anything else on the host is skipped, not escaped.
_NAME = r"[A-Za-z0-9_/][A-Za-z0-9_.+/()\-:@~]*"
_VERSION = r"[A-Za-z0-9_.+~^]+"
_CAPABILITY_RE = re.compile(rf"{_NAME}(?: = {_VERSION})?")
_NAME_RE = re.compile(_NAME)
_VERSION_RE = re.compile(_VERSION)
# A stream is used in the stub's Release and as a path part: no '-', no leading dot.
_STREAM_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+]*")
_PC_VAR_RE = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")
_ELFDEPS_BATCH = 200
_FIELDS = ("stream", "arch", "host", "generated", "provides")


@dataclass
class PlatformDefinition:
    """What a platform provides, as RPM capabilities, and where it was measured."""

    stream: str  # the platform stream, e.g. f39 (platform:f39)
    arch: str  # the host's machine, os.uname().machine
    host: str  # PRETTY_NAME of the host's /etc/os-release
    generated: str  # UTC time of generation, ISO 8601 (…Z)
    provides: list[str] = field(default_factory=list)  # sorted, unique capability strings


# --------------------------------------------------------------------------- discovery


def _check_stream(stream: str, source: str = "") -> None:
    if not _STREAM_RE.fullmatch(stream):
        raise ModuleError(
            f"stream: invalid platform stream {stream!r}",
            source=source,
            hint="only letters, digits, '_', '.' and '+': it goes into the stub's Release",
        )


def _host_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_NAME":
                    return value.strip().strip("\"'") or "unknown"
    except OSError:
        pass
    return "unknown"


def _shared_libraries() -> list[str]:
    """Every library ``ldconfig -p`` lists, once per real file, sorted."""
    ldconfig = shutil.which("ldconfig") or shutil.which("ldconfig", path="/usr/sbin:/sbin")
    if ldconfig is None:
        raise ModuleError("ldconfig is not installed", hint="it comes with the C library")
    out = run_tool([ldconfig, "-p"], "ldconfig -p")
    paths: set[str] = set()
    for line in out.splitlines():
        _, arrow, path = line.partition(" => ")
        if arrow and os.path.isfile(path.strip()):
            paths.add(os.path.realpath(path.strip()))
    return sorted(paths)


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _library_provides() -> set[str]:
    """(a) sonames and symbol versions, as rpm's own generator names them."""
    if not os.access(ELFDEPS, os.X_OK):
        raise ModuleError(
            f"{ELFDEPS} is not installed",
            hint="Debian package rpm, Fedora rpm-build: the platform needs rpm's generator",
        )
    found: set[str] = set()
    for batch in _batches(_shared_libraries(), _ELFDEPS_BATCH):
        # elfdeps reads file names on stdin; files it cannot read are skipped by it.
        proc = subprocess.run(
            [ELFDEPS, "--provides"],
            input="\n".join(batch) + "\n",
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()
            raise ModuleError(
                f"elfdeps failed (exit {proc.returncode}): " + (last[-1] if last else "no output")
            )
        found.update(line.strip() for line in proc.stdout.splitlines() if line.strip())
    return found


def _rtld_provides(arch: str) -> set[str]:
    """(b) ``rtld(GNU_HASH)``: glibc's loader on every supported arch resolves GNU hashes."""
    loader = _LOADERS.get(arch)
    return {"rtld(GNU_HASH)"} if loader and os.path.exists(loader) else set()


def _executable_provides() -> set[str]:
    """(c) file capabilities for the executables of ``EXECUTABLE_DIRS``."""
    found: set[str] = set()
    for folder in EXECUTABLE_DIRS:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(folder, entry.name)
            try:
                if entry.is_file() and os.access(path, os.X_OK):
                    found.add(path)
            except OSError:
                continue  # a dangling or unreadable entry proves nothing
    return found


def _pc_dirs() -> list[str]:
    pkg_config = shutil.which("pkg-config")
    if pkg_config is None:
        return []
    out = run_tool([pkg_config, "--variable", "pc_path", "pkg-config"], "pkg-config")
    return [d for d in out.strip().split(":") if d]


def _pc_version(path: str) -> str | None:
    """The ``Version:`` of a .pc file, with ``${var}`` from the file's own variables."""
    variables: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None

    def expand(text: str) -> str:
        for _ in range(10):  # variables may refer to variables; bounded, never a loop
            new = _PC_VAR_RE.sub(lambda m: variables.get(m.group(1), ""), text)
            if new == text:
                break
            text = new
        return text

    for line in lines:
        line = line.strip()
        if line.startswith("Version:"):
            return expand(line.removeprefix("Version:").strip())
        name, eq, value = line.partition("=")
        if eq and _NAME_RE.fullmatch(name.strip()) and ":" not in name:
            variables[name.strip()] = expand(value.strip())
    return None


def _pkgconfig_provides() -> set[str]:
    """(d) ``pkgconfig(NAME) = VERSION`` for every .pc on pkg-config's search path."""
    found: set[str] = set()
    for folder in _pc_dirs():
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in names:
            if not entry.endswith(".pc"):
                continue
            version = _pc_version(os.path.join(folder, entry))
            capability = f"pkgconfig({entry.removesuffix('.pc')})"
            # A version rpm cannot compare (e.g. with '-') is dropped, not mangled: the
            # unversioned capability still satisfies an unversioned BuildRequires.
            if version and _VERSION_RE.fullmatch(version):
                capability += f" = {version}"
            found.add(capability)
    return found


def _package_provides() -> set[str]:
    """(e) package names from ``PACKAGE_EVIDENCE`` whose evidence exists on the host."""
    return {name for name, path in PACKAGE_EVIDENCE.items() if os.path.exists(path)}


def generate_definition(stream: str) -> PlatformDefinition:
    """Measure this host's platform: every capability discovered here, sorted and unique.

    Capabilities rpm could not parse from a spec (a file name with blanks, '%' or ',')
    are left out. Raises ModuleError when ``ldconfig`` or rpm's ``elfdeps`` is missing
    or the stream is not usable as a platform stream.
    """
    _check_stream(stream)
    arch = os.uname().machine
    found = (
        _library_provides()
        | _rtld_provides(arch)
        | _executable_provides()
        | _pkgconfig_provides()
        | _package_provides()
    )
    return PlatformDefinition(
        stream=stream,
        arch=arch,
        host=_host_name(),
        generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        provides=sorted(c for c in found if _CAPABILITY_RE.fullmatch(c)),
    )


def capability_kinds(defn: PlatformDefinition) -> dict[str, int]:
    """How many capabilities of each kind: library, rtld, file, pkgconfig, package."""
    counts = dict.fromkeys(("library", "rtld", "file", "pkgconfig", "package"), 0)
    for c in defn.provides:
        if c.startswith("/"):
            kind = "file"
        elif c.startswith("rtld("):
            kind = "rtld"
        elif c.startswith("pkgconfig("):
            kind = "pkgconfig"
        elif "(" in c:
            kind = "library"
        else:
            kind = "package"
        counts[kind] += 1
    return counts


# --------------------------------------------------------------------------- the file


def definition_text(defn: PlatformDefinition) -> str:
    """The YAML text of ``defn``: a header comment (who generated it, where, when), then
    the fields stream, arch, host, generated and provides."""
    header = (
        f"# Platform definition {defn.stream} for {defn.arch}: RPM capabilities this host\n"
        f"# provides. Generated by `bbmod platform generate --stream {defn.stream}`\n"
        f"# on {defn.host} at {defn.generated}. Do not edit: regenerate it.\n"
    )
    body = yaml.safe_dump(
        {
            "stream": defn.stream,
            "arch": defn.arch,
            "host": defn.host,
            "generated": defn.generated,
            "provides": list(defn.provides),
        },
        sort_keys=False,
        default_flow_style=False,
        width=1000,
    )
    return header + body


def write_definition(defn: PlatformDefinition, path: str) -> None:
    """Write ``definition_text(defn)`` to ``path``, replacing it in one rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(definition_text(defn))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_definition(path: str) -> PlatformDefinition:
    """Read and validate a platform definition; ModuleError naming the file and field."""
    try:
        with open(path, encoding="utf-8") as f:
            data: Any = yaml.safe_load(f)
    except OSError as e:
        raise ModuleError(
            f"cannot read the platform definition: {e.strerror}", source=path
        ) from None
    except yaml.YAMLError as e:
        line = None
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            line = mark.line + 1
        raise ModuleError("not valid YAML", source=path, line=line) from None
    if not isinstance(data, dict):
        raise ModuleError(
            "a platform definition is a mapping",
            source=path,
            hint="fields: " + ", ".join(_FIELDS),
        )
    for key in data:
        if key not in _FIELDS:
            raise ModuleError(
                f"{key}: unknown field", source=path, hint="fields: " + ", ".join(_FIELDS)
            )
    for key in _FIELDS[:-1]:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise ModuleError(f"{key}: missing or not a non-empty string", source=path)
    _check_stream(data["stream"], path)
    provides = data.get("provides")
    if not isinstance(provides, list) or not provides:
        raise ModuleError("provides: missing or not a non-empty list", source=path)
    for n, item in enumerate(provides):
        if not isinstance(item, str) or not _CAPABILITY_RE.fullmatch(item):
            raise ModuleError(
                f"provides[{n}]: not a capability: {item!r}",
                source=path,
                hint="NAME or 'NAME = VERSION'; regenerate with `bbmod platform generate`",
            )
    return PlatformDefinition(
        stream=data["stream"],
        arch=data["arch"],
        host=data["host"],
        generated=data["generated"],
        provides=sorted(set(provides)),
    )


# --------------------------------------------------------------------------- the repository


def _release(defn: PlatformDefinition) -> str:
    # A newer definition is a newer package: dnf upgrades the stub when it changes.
    stamp = "".join(ch for ch in defn.generated if ch.isdigit()) or "0"
    return f"{stamp}.{defn.stream}"


def _spec(defn: PlatformDefinition) -> str:
    provides = "".join(f"Provides: {c}\n" for c in defn.provides)
    return (
        f"Name: {STUB_NAME}\n"
        "Version: 1\n"
        f"Release: {_release(defn)}\n"
        f"Summary: Platform {defn.stream}: what the host {defn.arch} provides\n"
        "License: MIT\n"
        f"BuildArch: {defn.arch}\n"
        # The stub states the capabilities itself; nothing may be generated or required.
        "AutoReqProv: no\n"
        "%global debug_package %{nil}\n"
        f"{provides}\n"
        "%description\n"
        f"Stub platform package generated by buildbot-modules for platform {defn.stream}.\n"
        f"It provides what {defn.host} ({defn.arch}) provided on {defn.generated}\n"
        "and contains no file.\n\n"
        "%files\n"
    )


def _check_arch(defn: PlatformDefinition) -> None:
    if defn.arch != os.uname().machine:
        raise ModuleError(
            f"the definition is for {defn.arch}, this host is {os.uname().machine}",
            hint="build a platform repository on a host of the definition's arch",
        )


def build_platform_repo(defn: PlatformDefinition, out_dir: str) -> str:
    """Build the stub package of ``defn`` and a repository of it in ``out_dir``.

    ``out_dir`` is created when missing and must not hold a repository yet. rpmbuild runs
    with a private ``_topdir`` and temp dir (removed afterwards) and ``--nodeps``, so it
    never touches ``~/rpmbuild`` or the rpm database. Returns ``out_dir``.
    """
    rpmbuild = require_tool("rpmbuild")
    require_tool("createrepo_c")
    _check_arch(defn)
    for n, c in enumerate(defn.provides):
        if not _CAPABILITY_RE.fullmatch(c):
            raise ModuleError(f"provides[{n}]: not a capability: {c!r}")
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(os.path.join(out_dir, "repodata")):
        raise ModuleError("already holds a repository", source=out_dir)
    with tempfile.TemporaryDirectory(prefix="bbmod-platform-rpmbuild-") as top:
        tmp = os.path.join(top, "tmp")
        os.makedirs(tmp)
        spec = os.path.join(top, f"{STUB_NAME}.spec")
        with open(spec, "w", encoding="utf-8") as f:
            f.write(_spec(defn))
        argv = [rpmbuild, "-bb", "--nodeps", "--quiet"]
        argv += ["--define", f"_topdir {top}", "--define", f"_tmppath {tmp}", spec]
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "TMPDIR": tmp, "LC_ALL": "C"},
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise ModuleError(
                f"rpmbuild of {STUB_NAME} failed (exit {proc.returncode}): "
                + (last[-1] if last else "no output")
            )
        built = [
            os.path.join(folder, name)
            for folder, _dirs, files in os.walk(os.path.join(top, "RPMS"))
            for name in files
            if name.endswith(".rpm")
        ]
        if len(built) != 1:
            raise ModuleError(f"rpmbuild of {STUB_NAME} made {len(built)} RPMs, expected 1")
        target = os.path.join(out_dir, os.path.basename(built[0]))
        link_or_copy(built[0], target)
        os.chmod(target, 0o644)
    createrepo(out_dir)
    return out_dir


def platform_repo_file(publish_root: str, stream: str, baseurl: str | None = None) -> str:
    """The text of a dnf ``.repo`` file for ``<root>/platform/<stream>/``.

    ``baseurl`` defaults to its ``file://`` URL; pass an http URL when it is served.
    """
    _check_stream(stream)
    return platform_section(publish_root, stream, baseurl)


def _remove(paths: Iterable[str]) -> None:
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)


def publish_platform(defn: PlatformDefinition, publish_root: str) -> str:
    """Publish the platform repository of ``defn`` at ``<root>/platform/<stream>``.

    The repository is built aside in ``<root>/platform/.tmp-*``, renamed to a versioned
    ``.<stream>-<time>-*`` directory and made visible by swapping the ``<stream>`` symlink
    with one ``os.replace``: a reader sees the old repository or the new one, never a
    half-written one. Older versions of the stream are then removed, and
    ``platform-<stream>.repo`` is (re)written. Holds the lock of ``<root>/platform``.
    Returns the path of the ``<stream>`` symlink.
    """
    _check_stream(defn.stream)
    with area_lock(publish_root, PLATFORM_AREA) as area_dir:
        link = os.path.join(area_dir, defn.stream)
        if os.path.lexists(link) and not os.path.islink(link):
            raise ModuleError(
                f"{link} is not a symlink",
                source=link,
                hint="a platform repository is a symlink to a versioned directory; move it away",
            )
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=area_dir)
        version_dir = os.path.join(area_dir, f".{defn.stream}-{stamp}-{os.path.basename(tmp)[5:]}")
        try:
            repo = os.path.join(tmp, "repo")
            build_platform_repo(defn, repo)
            os.chmod(repo, 0o755)
            os.rename(repo, version_dir)
            tmp_link = os.path.join(area_dir, f".tmp-link-{os.path.basename(tmp)}")
            os.symlink(os.path.basename(version_dir), tmp_link)
            os.replace(tmp_link, link)
        except BaseException:
            _remove([version_dir])
            raise
        finally:
            _remove([tmp])
        repo_file = os.path.join(area_dir, f"platform-{defn.stream}.repo")
        fd, tmp_file = tempfile.mkstemp(prefix=".tmp-", dir=area_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(platform_repo_file(publish_root, defn.stream))
        os.chmod(tmp_file, 0o644)
        os.replace(tmp_file, repo_file)
        # Under the lock nobody else writes here: older versions and leftovers go.
        _remove(
            os.path.join(area_dir, entry)
            for entry in os.listdir(area_dir)
            if (entry.startswith(f".{defn.stream}-") and entry != os.path.basename(version_dir))
            or entry.startswith(".tmp-")
        )
    return link
