"""What a component's spec file builds and needs, asked of rpm's own parser (`rpmspec`).

Only what rpm reports is used: the ``BuildRequires`` of the source package and the
``Provides`` of every binary package (which include the package names). Nothing is
guessed from the spec's text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from .problems import ModuleError

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9+_][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class SpecInfo:
    """The parts of a spec that order builds."""

    path: str
    buildrequires: tuple[str, ...]
    provides: frozenset[str]  # capability names, versions stripped
    generates_buildrequires: bool = False


def capability_name(requirement: str) -> str | None:
    """``foo >= 1.2`` → ``foo``; rich dependencies ``(a or b)`` → None (not matched)."""
    text = requirement.strip()
    if not text or text.startswith("("):
        return None
    # A capability ends at the first space outside parentheses: `pkgconfig(foo) >= 1`.
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch.isspace() and depth == 0:
            return text[:i]
    return text


def is_plain_name(capability: str) -> bool:
    """A package name, as opposed to ``pkgconfig(…)``, a soname or a file path."""
    return bool(_PLAIN_NAME.match(capability)) and ".so" not in capability


RPMSPEC_TIMEOUT = 120  # seconds; a spec's %(...) could otherwise hang the master

# Parsing a spec runs its %(shell) expansions. A spec comes from a packager's push, so the
# parser runs in a bubblewrap sandbox: the whole file system read-only, private /tmp,
# no network, no other processes. Without bwrap (not root, or not installed) it runs as is.
_BWRAP = (
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--tmpfs", "/tmp",
    "--tmpfs", "/var/tmp",
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--",
)  # fmt: skip


def sandbox(readable: str = "") -> list[str]:
    """The command prefix that confines a spec parser (empty when bwrap cannot run);
    ``readable`` is a folder (the spec's) bound read-only inside."""
    global _SANDBOX
    if _SANDBOX is None:
        exe = shutil.which("bwrap")
        ok = False
        if exe is not None:
            try:
                probe = subprocess.run(
                    [exe, *_BWRAP, "true"], capture_output=True, check=False, timeout=30
                )
                ok = probe.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
        _SANDBOX = [exe, *_BWRAP[:-1]] if ok and exe else []
    if not _SANDBOX:
        return []
    binds = ["--ro-bind", readable, readable] if readable else []
    return [*_SANDBOX, *binds, "--"]


_SANDBOX: list[str] | None = None


def _rpmspec(*args: str, spec: str) -> str:
    exe = shutil.which("rpmspec")
    if exe is None:
        raise ModuleError(
            "rpmspec is not installed", source=spec, hint="run `make setup` (package rpm)"
        )
    proc = subprocess.run(
        [*sandbox(os.path.dirname(os.path.abspath(spec))), exe, *args, spec],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
        timeout=RPMSPEC_TIMEOUT,
    )
    if proc.returncode != 0:
        message = proc.stderr.strip().splitlines()
        raise ModuleError(
            "rpmspec cannot parse this spec: " + (message[-1] if message else "unknown error"),
            source=spec,
            hint="run `rpmspec -P` on it to see the problem",
        )
    return proc.stdout


def read_spec(path: str) -> SpecInfo:
    """Ask rpmspec for the spec's BuildRequires and its packages' Provides."""
    if not os.path.isfile(path):
        raise ModuleError(
            "spec file not found", source=path, hint="each component needs DIR/<name>/<name>.spec"
        )
    buildrequires = _rpmspec("-q", "--buildrequires", spec=path).split("\n")
    provides = _rpmspec("-q", "--provides", spec=path).split("\n")
    parsed = _rpmspec("-P", spec=path)
    return SpecInfo(
        path=path,
        buildrequires=tuple(r.strip() for r in buildrequires if r.strip()),
        provides=frozenset(
            name for p in provides if p.strip() and (name := capability_name(p)) is not None
        ),
        generates_buildrequires=any(
            line.strip() == "%generate_buildrequires" for line in parsed.splitlines()
        ),
    )


def spec_path(sources: str, component: str) -> str:
    return os.path.join(sources, component, f"{component}.spec")


def read_specs(sources: str, components: Iterable[str]) -> dict[str, SpecInfo]:
    """Read ``SOURCES/<component>/<component>.spec`` for each component, in parallel."""
    names = list(components)
    with ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 1) * 2)) as pool:
        infos = list(pool.map(lambda c: read_spec(spec_path(sources, c)), names))
    return dict(zip(names, infos, strict=True))


@dataclass(frozen=True)
class BinaryPackage:
    """One binary package a spec builds, as rpm reads it before any build."""

    name: str
    evr: str  # [epoch:]version-release, without the dist tag
    summary: str
    provides: tuple[str, ...]  # with versions: `base-files = 1.0-1`
    requires: tuple[str, ...]  # the explicit ones; rpm adds file and library needs at build


_PACKAGE_FORMAT = "PKG %{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}\t%{SUMMARY}\n[P %{PROVIDENEVRS}\n][R %{REQUIRENEVRS}\n]"  # noqa: E501


def binary_packages(path: str) -> list[BinaryPackage]:
    """Every binary package of the spec with its Provides and Requires, the dist tag left
    out (``%dist`` is the build system's, not the packager's), in the spec's order."""
    if not os.path.isfile(path):
        raise ModuleError(
            "spec file not found", source=path, hint="each component needs DIR/<name>/<name>.spec"
        )
    text = _rpmspec("-q", "--define", "dist %{nil}", "--qf", _PACKAGE_FORMAT, spec=path)
    packages: list[BinaryPackage] = []
    for line in text.splitlines():
        if line.startswith("PKG "):
            name, evr, summary = [*line[4:].split("\t", 2), "", ""][:3]
            evr = evr.removeprefix("(none):")
            packages.append(BinaryPackage(name, evr, summary, (), ()))
        elif packages and line.startswith(("P ", "R ")):
            last = packages[-1]
            if line[0] == "P":
                packages[-1] = replace(last, provides=(*last.provides, line[2:]))
            else:
                packages[-1] = replace(last, requires=(*last.requires, line[2:]))
    return packages
