"""Build one component in a private, per-build root (runs on the worker, as root).

``python -m buildbot_modules.buildroot --spec SRC/pkg.spec --sources SRC --results OUT
--repo URL_OR_PATH [--repo ...] [--define 'NAME VALUE' ...] [--timeout S] [--memory MIB]
[--keep]`` builds ``pkg.spec`` with ``rpmbuild -ba`` inside a root of its own:

1. It refuses to run unless it is root (mount namespaces and overlay mounts need it) and
   says what to run instead.
2. It makes a private work directory (``bbmod-buildroot-*`` under ``--workdir``, by
   default the temp dir) with ``upper/``, ``work/`` and ``merged/``.
3. It re-executes itself under ``unshare --mount --pid --fork --propagation private``
   (plus ``--net`` unless a repository is a URL), where it mounts an overlay of the
   host's ``/`` (``lowerdir=/``, the build's ``upper/`` and ``work/``) on ``merged/``,
   a fresh ``/proc``, a minimal ``/dev`` (null, zero, full, random, urandom, tty, shm),
   empty tmpfs on ``/tmp`` and ``/var/tmp`` and on the folder holding the work
   directories (so concurrent builds never see each other), the sources read-only at
   ``/builddir/src`` and each local repository read-only at ``/builddir/repos/N``.
4. Chrooted there it adds ``/usr/lib64`` to the loader's path (``ld.so.conf.d`` +
   ``ldconfig``), installs the platform stub ``bbmod-platform`` when a repository
   holds it, then the spec's BuildRequires with ``dnf builddep`` from the given
   repositories only (``--disableplugin=local``, ``reposdir=/dev/null``); the output
   goes to ``root.log`` and the buildroot's package list to ``installed_pkgs.log``. An
   unmet requirement stops the build with ``unmet BuildRequires: NAME``.
5. It runs ``rpmbuild -ba`` (``_topdir /builddir/rpmbuild``, ``_sourcedir
   /builddir/src``, the ``--define`` values; ``LIBRARY_PATH=/usr/lib64``,
   ``PKG_CONFIG_PATH=/usr/lib64/pkgconfig:/usr/share/pkgconfig``) always in a network
   namespace with no interface up, with ``RLIMIT_AS`` set to ``--memory`` MiB; its
   output goes to ``build.log``.
6. It copies the built binary and source RPMs into ``--results`` and exits with
   rpmbuild's status. The work directory is removed unless ``--keep`` (then its path is
   printed). ``--timeout`` bounds the whole build: on expiry every process of the
   build is killed and it fails with ``timed out after N s``.

Every write the build makes lands in the build's ``upper/`` directory: the host's
``/usr``, ``/etc``, ``/var``, ``/tmp``, ``/root`` (rpm's database ``~/.rpmdb`` on Debian)
are never changed. The build runs as root inside the root: this isolates honest builds
from the host and from each other; it is not a security boundary against a hostile spec.

Standard library only: no Twisted, no Buildbot. Every tool runs with an argument list.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO

__all__ = [
    "EXIT_DEPS",
    "EXIT_SETUP",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "LIB64_CONF",
    "PLATFORM_PACKAGE",
    "BuildrootConfig",
    "isolation_problem",
    "main",
]

EXIT_USAGE = 2
"""Exit status for bad arguments (missing spec, sources, …)."""
EXIT_SETUP = 3
"""Exit status when the buildroot cannot be made (not root, no ``unshare``, no overlay)."""
EXIT_DEPS = 4
"""Exit status when BuildRequires cannot be installed (unmet requirement, dnf failure)."""
EXIT_TIMEOUT = 124
"""Exit status when ``--timeout`` expired (as ``timeout(1)``)."""

PLATFORM_PACKAGE = "bbmod-platform"
"""The platform stub package, installed first when a repository holds it."""
LIB64_CONF = "/etc/ld.so.conf.d/bbmod-lib64.conf"
"""The loader configuration the buildroot adds (Debian's loader skips /usr/lib64)."""

BUILDDIR = "/builddir"
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
    # rpm's database follows HOME on Debian (~/.rpmdb): /root inside the root.
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TMPDIR": "/tmp",
    "LIBRARY_PATH": "/usr/lib64",
    "PKG_CONFIG_PATH": "/usr/lib64/pkgconfig:/usr/share/pkgconfig",
}
_DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
_UNMET_RES = (
    re.compile(r"No matching package to install: '([^']+)'"),
    re.compile(r"nothing provides (\S+(?: [<>=]+ \S+)?)"),
    re.compile(r"^\s*(\S+(?: [<>=]+ \S+)?) is needed by ", re.MULTILINE),
)
_MEMORY_SIGNS = (
    "Cannot allocate memory",
    "MemoryError",
    "out of memory",
    "virtual memory exhausted",
    "std::bad_alloc",
    "memory exhausted",
)
_NO_ROOT = (
    "buildroot: needs root: private buildroots use mount namespaces and overlay mounts.\n"
    "Run it as root, e.g. `sudo {python} -m buildbot_modules.buildroot ...`, or run the "
    "worker as root; without root use the plain rpmbuild backend (no isolation: "
    "rpmbuild --nodeps on the host)."
)


class BuildrootError(Exception):
    """A failure to report in one sentence, with the exit status to use."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class BuildrootConfig:
    """One build, as the outer process hands it to the one inside the namespaces."""

    spec: str  # absolute path of the spec on the host
    sources: str  # absolute path of the sources directory on the host
    results: str  # absolute path of the results directory on the host
    workdir: str  # this build's private work directory (upper/, work/, merged/)
    repos: list[str] = field(default_factory=list)  # absolute paths or URLs
    defines: list[str] = field(default_factory=list)  # "NAME VALUE"
    memory_mib: int | None = None
    releasever: str = "39"
    source_date_epoch: int | None = None  # reproducible builds: times clamped to it

    @property
    def merged(self) -> str:
        return os.path.join(self.workdir, "merged")


# --------------------------------------------------------------------------- helpers


def _is_url(repo: str) -> bool:
    return re.match(r"[a-z][a-z0-9+.-]*://", repo) is not None and not repo.startswith("file://")


def _local(repo: str) -> str:
    return repo.removeprefix("file://")


def isolation_problem() -> str | None:
    """Why a private buildroot cannot be made here (None when it can).

    Checks root, the ``unshare`` and ``chroot`` commands and overlayfs support.
    """
    if os.geteuid() != 0:
        return _NO_ROOT.format(python=sys.executable)
    for tool in ("unshare", "chroot", "mount"):
        if shutil.which(tool) is None:
            return f"buildroot: {tool} is not installed (util-linux / coreutils)"
    try:
        with open("/proc/filesystems", encoding="ascii") as f:
            if "overlay" not in f.read().split():
                return "buildroot: the kernel has no overlay filesystem (modprobe overlay)"
    except OSError:
        return "buildroot: cannot read /proc/filesystems"
    return None


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildrootError(
            f"buildroot: mount {' '.join(args)} failed: {proc.stderr.strip()}", EXIT_SETUP
        )


def _bind(source: str, target: str, *, readonly: bool) -> None:
    _mount("--bind", source, target)
    if readonly:
        _mount("-o", "remount,bind,ro", target)


def _tee(
    argv: Sequence[str],
    log: IO[str],
    *,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> tuple[int, str]:
    """Run ``argv``; its output (stdout and stderr) goes to ``log`` and our stdout."""
    log.write("+ " + " ".join(argv) + "\n")
    log.flush()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=env if env is not None else _ENV,
        preexec_fn=preexec,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        log.write(line)
        log.flush()
        sys.stdout.write(line)
        sys.stdout.flush()
    return proc.wait(), "".join(seen)


def unmet_requirements(output: str) -> list[str]:
    """The requirements dnf or rpmbuild reported as unmet in ``output``, in order."""
    found: list[str] = []
    for regex in _UNMET_RES:
        for match in regex.finditer(output):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


# --------------------------------------------------------------------------- inside


def _make_dev(merged: str) -> None:
    dev = os.path.join(merged, "dev")
    _mount("-t", "tmpfs", "-o", "mode=755,nosuid", "tmpfs", dev)
    for node in _DEV_NODES:
        if os.path.exists(f"/dev/{node}"):
            target = os.path.join(dev, node)
            open(target, "w").close()
            _bind(f"/dev/{node}", target, readonly=False)
    for name, link in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(link, os.path.join(dev, name))
    os.mkdir(os.path.join(dev, "shm"))
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", os.path.join(dev, "shm"))


def _prepare(cfg: BuildrootConfig) -> list[str]:
    """Mount the private root; the dnf repository options for the repositories."""
    merged = cfg.merged
    up, wk = os.path.join(cfg.workdir, "upper"), os.path.join(cfg.workdir, "work")
    _mount("-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={up},workdir={wk}", merged)
    _mount("-t", "proc", "proc", os.path.join(merged, "proc"))
    _make_dev(merged)
    parent = os.path.dirname(cfg.workdir)
    hide = ["/tmp", "/var/tmp"]
    if parent not in ("/", *hide):
        hide.insert(0, parent)  # other builds' work directories
    for folder in hide:
        inside = merged + folder
        os.makedirs(inside, exist_ok=True)
        _mount("-t", "tmpfs", "-o", "mode=1777", "tmpfs", inside)
    root = merged + BUILDDIR
    for sub in ("src", "SPECS", "rpmbuild"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    _bind(cfg.sources, os.path.join(root, "src"), readonly=True)
    shutil.copy2(cfg.spec, os.path.join(root, "SPECS", os.path.basename(cfg.spec)))
    options: list[str] = []
    for n, repo in enumerate(cfg.repos):
        if _is_url(repo):
            url = repo
        else:
            inside = os.path.join(root, "repos", str(n))
            os.makedirs(inside)
            _bind(_local(repo), inside, readonly=True)
            url = f"file://{BUILDDIR}/repos/{n}"
        options.append(f"--repofrompath=bbmod{n},{url}")
        # A buildroot takes RPMs of modules as plain packages, as Koji's do: without
        # this, dnf refuses an RPM with a ModularityLabel from a repo without modulemd.
        options.append(f"--setopt=bbmod{n}.module_hotfixes=true")
    with open(merged + LIB64_CONF, "w", encoding="ascii") as f:
        f.write("/usr/lib64\n")
    return options


def _has_platform(cfg: BuildrootConfig) -> bool:
    for repo in cfg.repos:
        if _is_url(repo):
            continue
        for _folder, _dirs, files in os.walk(_local(repo)):
            if any(n.startswith(PLATFORM_PACKAGE + "-") and n.endswith(".rpm") for n in files):
                return True
    return False


def _chroot(cfg: BuildrootConfig, *argv: str) -> list[str]:
    return ["chroot", cfg.merged, *argv]


def _install(cfg: BuildrootConfig, repo_options: list[str], log: IO[str]) -> None:
    spec = f"{BUILDDIR}/SPECS/{os.path.basename(cfg.spec)}"
    dnf = [
        "/usr/bin/dnf",
        "-y",
        "--nogpgcheck",
        "--disableplugin=local",
        "--disableplugin=generate_completion_cache",
        "--setopt=reposdir=/dev/null",
        "--setopt=cachedir=/var/cache/bbmod-dnf",
        "--setopt=install_weak_deps=False",
        f"--releasever={cfg.releasever}",
        *repo_options,
    ]
    status, _ = _tee(_chroot(cfg, "ldconfig"), log)
    if _has_platform(cfg):
        status, out = _tee(_chroot(cfg, *dnf, "install", PLATFORM_PACKAGE), log)
        if status != 0:
            raise BuildrootError(
                f"buildroot: installing {PLATFORM_PACKAGE} failed (dnf exit {status})", EXIT_DEPS
            )
    defines = [a for d in cfg.defines for a in ("--define", d)]
    status, out = _tee(_chroot(cfg, "rpmspec", *defines, "-q", "--buildrequires", spec), log)
    if status != 0:
        raise BuildrootError(f"buildroot: rpmspec cannot read the spec (exit {status})", EXIT_DEPS)
    if out.strip():
        status, out = _tee(_chroot(cfg, *dnf, "builddep", *defines, spec), log)
        if status != 0:
            unmet = unmet_requirements(out)
            if not unmet:
                last = out.strip().splitlines()
                raise BuildrootError(
                    f"buildroot: dnf builddep failed (exit {status}): "
                    + (last[-1] if last else "no output"),
                    EXIT_DEPS,
                )
            raise BuildrootError(
                f"buildroot: unmet BuildRequires: {', '.join(unmet)} (provided by no "
                "repository given: the platform, the module's built components, the "
                "buildrequired modules)",
                EXIT_DEPS,
            )
    _tee(_chroot(cfg, "ldconfig"), log)


def _limit_memory(mib: int | None) -> Callable[[], None]:
    def limit() -> None:
        os.setsid()
        if mib is not None:
            size = mib * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return limit


def _build(cfg: BuildrootConfig, log: IO[str]) -> int:
    spec = f"{BUILDDIR}/SPECS/{os.path.basename(cfg.spec)}"
    argv = [
        "unshare",
        "--net",
        *_chroot(cfg, "rpmbuild", "-ba"),
        "--define",
        f"_topdir {BUILDDIR}/rpmbuild",
        "--define",
        f"_sourcedir {BUILDDIR}/src",
    ]
    for d in cfg.defines:
        argv += ["--define", d]
    env = dict(_ENV)
    if cfg.source_date_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(cfg.source_date_epoch)
        for define in ("use_source_date_epoch_as_buildtime 1", "clamp_mtime_to_source_epoch 1"):
            argv += ["--define", define]
    status, out = _tee([*argv, spec], log, env=env, preexec=_limit_memory(cfg.memory_mib))
    if status != 0:
        unmet = unmet_requirements(out) if "Failed build dependencies" in out else []
        if unmet:
            print("buildroot: unmet BuildRequires: " + ", ".join(unmet), flush=True)
        elif cfg.memory_mib is not None and any(s in out for s in _MEMORY_SIGNS):
            print(
                f"buildroot: rpmbuild failed: memory limit of {cfg.memory_mib} MiB hit "
                "(address space, RLIMIT_AS)",
                flush=True,
            )
        print(f"buildroot: rpmbuild failed (exit {status})", flush=True)
    return status


def _collect(cfg: BuildrootConfig) -> list[str]:
    copied: list[str] = []
    top = cfg.merged + f"{BUILDDIR}/rpmbuild"
    for sub in ("RPMS", "SRPMS"):
        for folder, _dirs, files in os.walk(os.path.join(top, sub)):
            for name in sorted(files):
                if name.endswith(".rpm"):
                    target = os.path.join(cfg.results, name)
                    shutil.copy2(os.path.join(folder, name), target)
                    copied.append(target)
    return copied


def _package_list(cfg: BuildrootConfig) -> None:
    proc = subprocess.run(
        _chroot(cfg, "rpm", "-qa", "--qf", "%{NEVRA}\n"),
        capture_output=True,
        text=True,
        check=False,
        env=_ENV,
    )
    with open(os.path.join(cfg.results, "installed_pkgs.log"), "w", encoding="utf-8") as f:
        f.write("".join(sorted(proc.stdout.splitlines(keepends=True))))


def _inner(cfg: BuildrootConfig) -> int:
    """Inside the namespaces: mount, install, build, collect. Returns the exit status."""
    try:
        repo_options = _prepare(cfg)
        try:
            with open(os.path.join(cfg.results, "root.log"), "a", encoding="utf-8") as log:
                _install(cfg, repo_options, log)
        finally:
            _package_list(cfg)  # also after a failed install: what the root had
        with open(os.path.join(cfg.results, "build.log"), "a", encoding="utf-8") as log:
            status = _build(cfg, log)
        for path in _collect(cfg):
            print(f"buildroot: wrote {path}", flush=True)
        return status
    except BuildrootError as e:
        print(str(e), flush=True)
        return e.status


# --------------------------------------------------------------------------- outside


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m buildbot_modules.buildroot",
        description="Build one spec with rpmbuild -ba in a private buildroot (needs root).",
    )
    p.add_argument("--spec", required=True, help="the spec file")
    p.add_argument("--sources", required=True, help="directory with the Source/Patch files")
    p.add_argument("--results", required=True, help="directory for RPMs and logs")
    p.add_argument(
        "--repo",
        action="append",
        default=[],
        help="repository with BuildRequires (path or URL; repeatable)",
    )
    p.add_argument(
        "--define", action="append", default=[], help="rpm macro 'NAME VALUE' (repeatable)"
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds for the whole build")
    p.add_argument("--memory", type=int, default=None, help="address-space limit, MiB")
    p.add_argument("--releasever", default="39", help="dnf $releasever (default 39)")
    p.add_argument("--workdir", default=None, help="folder for the private work directory")
    p.add_argument("--keep", action="store_true", help="keep the work directory (debugging)")
    p.add_argument(
        "--macros",
        default=None,
        help="a file of macros, one `%%name value` a line, defined for the build",
    )
    p.add_argument(
        "--source-date-epoch",
        type=int,
        default=None,
        help="SOURCE_DATE_EPOCH for the build (e.g. the commit time)",
    )
    return p


def _config(args: argparse.Namespace) -> BuildrootConfig:
    spec = os.path.abspath(args.spec)
    sources = os.path.abspath(args.sources)
    if not os.path.isfile(spec):
        raise BuildrootError(f"buildroot: no spec file at {spec}", EXIT_USAGE)
    if not os.path.isdir(sources):
        raise BuildrootError(f"buildroot: no sources directory at {sources}", EXIT_USAGE)
    repos: list[str] = []
    for repo in args.repo:
        if _is_url(repo):
            repos.append(repo)
            continue
        path = os.path.abspath(_local(repo))
        if not os.path.isdir(os.path.join(path, "repodata")):
            raise BuildrootError(f"buildroot: no repository (repodata/) at {path}", EXIT_USAGE)
        repos.append(path)
    if args.memory is not None and args.memory <= 0:
        raise BuildrootError("buildroot: --memory must be a positive number of MiB", EXIT_USAGE)
    if args.timeout is not None and args.timeout <= 0:
        raise BuildrootError("buildroot: --timeout must be positive", EXIT_USAGE)
    parent = os.path.abspath(args.workdir or tempfile.gettempdir())
    if re.search(r"[,:\\\s]", parent):
        raise BuildrootError(
            f"buildroot: --workdir {parent} cannot be an overlay path (',', ':', blanks)",
            EXIT_USAGE,
        )
    results = os.path.abspath(args.results)
    os.makedirs(results, exist_ok=True)
    os.makedirs(parent, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="bbmod-buildroot-", dir=parent)
    for sub in ("upper", "work", "merged"):
        os.mkdir(os.path.join(workdir, sub))
    return BuildrootConfig(
        spec=spec,
        sources=sources,
        results=results,
        workdir=workdir,
        repos=repos,
        defines=[*args.define, *(_read_macros(args.macros) if args.macros else [])],
        memory_mib=args.memory,
        releasever=args.releasever,
        source_date_epoch=args.source_date_epoch,
    )


def _read_macros(path: str) -> list[str]:
    """``%name value`` lines of a macros file as ``name value`` defines."""
    defines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                defines.append(line.removeprefix("%"))
    return defines


def _outer(cfg: BuildrootConfig, timeout: float | None) -> int:
    config_path = os.path.join(cfg.workdir, "config.json")
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(asdict(cfg), f)
    unshare = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private"]
    unshare.append("--kill-child")
    if not any(_is_url(r) for r in cfg.repos):
        unshare.append("--net")
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    argv = [*unshare, sys.executable, "-m", "buildbot_modules.buildroot", "--inner", config_path]
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, env=env, start_new_session=True, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
    )

    def terminate(signum: int, _frame: object) -> None:
        raise _Terminated(signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        print(
            f"buildroot: timed out after {timeout:g} s "
            f"(killed after {time.monotonic() - started:.1f} s)",
            flush=True,
        )
        return EXIT_TIMEOUT
    except (_Terminated, KeyboardInterrupt):
        _kill(proc)
        print("buildroot: interrupted; the build was killed", flush=True)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Terminated(Exception):
    pass


def _die_with_parent() -> None:
    """In the unshare child: SIGKILL when we die (unshare --kill-child passes it on)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _kill(proc: subprocess.Popen[bytes]) -> None:
    # The namespace's init dies with its process group; the kernel then kills every
    # process left in the PID namespace, and the mounts go with the mount namespace.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status (rpmbuild's, or an ``EXIT_*`` constant)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "--inner":  # re-executed inside the namespaces
        with open(argv[1], encoding="utf-8") as f:
            return _inner(BuildrootConfig(**json.load(f)))
    args = _parser().parse_args(argv)
    problem = isolation_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_SETUP
    try:
        cfg = _config(args)
    except BuildrootError as e:
        print(str(e), file=sys.stderr)
        return e.status
    try:
        status = _outer(cfg, args.timeout)
    finally:
        if args.keep:
            print(f"buildroot: kept the work directory {cfg.workdir}", flush=True)
        else:
            shutil.rmtree(cfg.workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
