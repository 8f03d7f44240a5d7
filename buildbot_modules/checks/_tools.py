"""What the built-in checks share: running tools with a log, reading RPMs and modulemd,
and the dnf command line that looks only at the repositories it is given.

Every tool runs with an argument list, a timeout, ``LC_ALL=C`` and ``HOME``/``TMPDIR``
inside the check's work directory: rpm opens the rpm database under ``$HOME`` on Debian
and rpmlint writes its spell-checker files there, so nothing reaches the host's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..compose import RpmInfo
from ..core.documents import modulemd
from .base import NEEDS_INSPECTION, CheckContext, CheckResult

# Debian package names, for the note when a tool is missing.
PACKAGES = {
    "rpm": "rpm",
    "rpmlint": "rpmlint",
    "dnf": "dnf (and dnf-plugins-core for repoclosure)",
}

_LOG_OUTPUT_LIMIT = 200_000  # characters of one command's output kept in the log


class ToolError(Exception):
    """A check could not reach a verdict (tool missing, timed out, unreadable input)."""


class Log:
    """The story of one check run: what was run, what it said."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def add(self, text: str) -> None:
        self._parts.append(text.rstrip("\n") + "\n")

    def output(self, label: str, text: str) -> None:
        if not text.strip():
            return
        if len(text) > _LOG_OUTPUT_LIMIT:
            cut = len(text) - _LOG_OUTPUT_LIMIT
            text = text[:_LOG_OUTPUT_LIMIT] + f"\n… ({cut} more characters)\n"
        self.add(f"--- {label}\n{text.rstrip()}")

    @property
    def text(self) -> str:
        return "".join(self._parts)


def tool_env(workdir: str) -> dict[str, str]:
    """The environment of every tool a check runs: home and temp folders in ``workdir``."""
    home = os.path.join(workdir, ".home")
    tmp = os.path.join(workdir, ".tmp")
    for folder in (home, tmp):
        os.makedirs(folder, exist_ok=True)
    return {
        **os.environ,
        "LC_ALL": "C",
        "HOME": home,
        "TMPDIR": tmp,
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
    }


def need(tool: str) -> str:
    """The path of ``tool``; ToolError naming the package when it is missing."""
    path = shutil.which(tool)
    if path is None:
        raise ToolError(f"{tool} is not installed (Debian package {PACKAGES.get(tool, tool)})")
    return path


def run(
    log: Log,
    argv: Sequence[str],
    workdir: str,
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (never through a shell), logging the command, its output and exit."""
    log.add("$ " + shlex.join(argv))
    started = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            env=tool_env(workdir),
            cwd=workdir,
        )
    except subprocess.TimeoutExpired as e:
        for label, out in (("stdout", e.stdout), ("stderr", e.stderr)):
            if out:
                log.output(label, out.decode(errors="replace") if isinstance(out, bytes) else out)
        log.add(f"timed out after {timeout:g} s")
        raise ToolError(f"{os.path.basename(argv[0])} did not finish in {timeout:g} s") from None
    except OSError as e:
        log.add(f"cannot run: {e}")
        raise ToolError(f"cannot run {os.path.basename(argv[0])}: {e.strerror}") from None
    log.output("stdout", proc.stdout)
    log.output("stderr", proc.stderr)
    log.add(f"exit {proc.returncode} after {time.monotonic() - started:.1f} s")
    return proc


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return lines[-1].strip() if lines else "no output"


def timeout_of(ctx: CheckContext, default: float) -> float:
    """The ``timeout`` setting of the check (seconds), else ``default``."""
    value = ctx.config.get("timeout", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ToolError(f"timeout: {value!r} is not a positive number of seconds")
    return float(value)


def inconclusive(note: str, log: Log) -> CheckResult:
    """The result of a check that could not reach a verdict."""
    log.add(f"no verdict: {note}")
    return CheckResult(NEEDS_INSPECTION, note, log.text)


def shorten(items: Iterable[str], limit: int = 5) -> str:
    """``a, b, c`` — at most ``limit`` items, then how many more."""
    items = list(items)
    text = ", ".join(items[:limit])
    if len(items) > limit:
        text += f" and {len(items) - limit} more"
    return text


# --------------------------------------------------------------------------- RPMs


def rpm_files(repo: str) -> list[str]:
    """Every ``*.rpm`` file under the repository folder ``repo``, sorted."""
    if not os.path.isdir(repo):
        raise ToolError(f"{repo}: no such repository folder")
    out: list[str] = []
    for folder, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d != "repodata")
        out.extend(os.path.join(folder, f) for f in files if f.endswith(".rpm"))
    return sorted(out)


# name, epoch (0 when none), version, release, arch, source RPM ("(none)" for a source RPM)
_HEADER_FORMAT = (
    "%{NAME}\\t%|EPOCH?{%{EPOCH}}:{0}|\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n"
)


def binary_headers(log: Log, repo: str, workdir: str) -> list[RpmInfo]:
    """The headers of the binary RPMs of ``repo`` (source RPMs are left out), read with
    one ``rpm -qp`` run (``--nosignature --nodigest``: no rpm database is opened)."""
    paths = rpm_files(repo)
    if not paths:
        return []
    argv = [need("rpm"), "-qp", "--nosignature", "--nodigest", "--queryformat", _HEADER_FORMAT]
    proc = run(log, [*argv, "--", *paths], workdir, 300)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != len(paths):
        raise ToolError(f"rpm cannot read the RPMs of {repo}: {last_line(proc)}")
    out = []
    for path, line in zip(paths, lines, strict=True):
        fields = line.split("\t")
        if len(fields) != 6 or not fields[1].isdigit():
            raise ToolError(f"unexpected rpm query output for {path}: {line!r}")
        name, epoch, version, release, arch, sourcerpm = fields
        if sourcerpm != "(none)":
            out.append(RpmInfo(path, name, int(epoch), version, release, arch, sourcerpm, False))
    return out


_NEVRA = re.compile(
    r"^(?P<name>.+)-(?:(?P<epoch>\d+):)?(?P<version>[^-:]+)-(?P<release>[^-]+)\.(?P<arch>[^.]+)$"
)


def full_nevra(text: str) -> str:
    """``text`` with an explicit epoch: ``foo-1.0-1.noarch`` → ``foo-0:1.0-1.noarch``
    (the form of :attr:`RpmInfo.nevra` and of the artifacts compose writes)."""
    m = _NEVRA.match(text)
    if m is None:
        return text
    return f"{m['name']}-{m['epoch'] or 0}:{m['version']}-{m['release']}.{m['arch']}"


def source_name(info: RpmInfo) -> str:
    """The name of the source package a binary RPM was built from."""
    sourcerpm = info.sourcerpm or info.source_file_name
    return sourcerpm.removesuffix(".src.rpm").removesuffix(".nosrc.rpm").rsplit("-", 2)[0]


# --------------------------------------------------------------------------- modulemd


def read_index(text: str) -> tuple[Any, list[str]]:
    """A libmodulemd ModuleIndex of ``text`` read strictly, as dnf reads ``modules.yaml``,
    and libmodulemd's complaints (the index is None when it read nothing)."""
    Modulemd = modulemd()
    from gi.repository import GLib

    index = Modulemd.ModuleIndex.new()
    try:
        ok, failures = index.update_from_string(text, True)
    except GLib.Error as e:
        return None, [e.message]
    messages = [f.get_gerror().message for f in failures or []]
    if not ok and not messages:
        messages = ["libmodulemd could not read the document"]
    return (index if ok else None), messages


def find_stream(index: Any, name: str, stream: str) -> Any:
    """The newest stream v2 object ``name:stream`` of ``index`` (None when absent)."""
    if index is None:
        return None
    module = index.get_module(name)
    if module is None:
        return None
    found = [s for s in module.get_all_streams() if s.get_stream_name() == stream]
    if not found:
        return None
    return max(found, key=lambda s: s.get_version())


def composed_stream(ctx: CheckContext) -> Any:
    """The stream ``ctx.name:ctx.stream`` of the composed modulemd; ToolError when absent."""
    index, problems = read_index(ctx.modulemd)
    found = find_stream(index, ctx.name, ctx.stream)
    if found is None:
        why = problems[0] if problems else f"no module stream {ctx.name}:{ctx.stream} in it"
        raise ToolError(f"cannot read the composed modulemd: {why}")
    return found


# --------------------------------------------------------------------------- dnf


@dataclass(frozen=True)
class Repo:
    """A repository given to dnf with ``--repofrompath``."""

    id: str
    location: str  # a local folder or a URL
    module_hotfixes: bool = False

    @property
    def url(self) -> str:
        if "://" in self.location:
            return self.location
        return "file://" + os.path.abspath(self.location)


def module_repos(ctx: CheckContext, hotfixes: bool) -> list[Repo]:
    """The compose (id ``module``), each runtime-required module's repository
    (``required-N``) and the platform repository (``platform``, never hotfixed)."""
    repos = [Repo("module", ctx.compose, hotfixes)]
    repos += [Repo(f"required-{n}", r, hotfixes) for n, r in enumerate(ctx.required_repos, 1)]
    if ctx.platform_repo:
        repos.append(Repo("platform", ctx.platform_repo))
    return repos


def releasever(platform: str) -> str:
    """The release version for a platform stream: ``f39`` → ``39``, ``el9`` → ``9``."""
    found = re.search(r"\d+(?:\.\d+)?", platform)
    return found.group(0) if found else platform


def check_repositories_read(proc: subprocess.CompletedProcess[str]) -> None:
    """ToolError when dnf failed because it could not read a repository: no verdict on
    the module can come from such a run."""
    for line in proc.stderr.splitlines():
        if line.startswith("Error: Failed to download metadata for repo"):
            raise ToolError("dnf cannot read a repository: " + line.removeprefix("Error: "))


def dnf_argv(
    ctx: CheckContext, installroot: str, repos: Sequence[Repo], plugins: Sequence[str] = ()
) -> list[str]:
    """dnf's command line (up to the command) that sees only ``repos``.

    Its own config file, no system repositories, the platform module of ``ctx.platform``,
    and installroot, cache and logs inside ``ctx.workdir``. Plugins are off except those
    named: Debian enables ``local`` (copies every installed RPM to the host) and
    ``generate_completion_cache`` (writes the host's cache) even with ``--installroot``.
    """
    dnf = need("dnf")
    config = os.path.join(ctx.workdir, "dnf.conf")
    if not os.path.exists(config):
        with open(config, "w", encoding="utf-8") as f:
            f.write("[main]\ngpgcheck=False\nskip_if_unavailable=False\nkeepcache=False\n")
    os.makedirs(installroot, exist_ok=True)
    argv = [
        dnf,
        f"--config={config}",
        f"--installroot={installroot}",
        f"--releasever={releasever(ctx.platform)}",
        "--setopt=reposdir=/dev/null",
        f"--setopt=cachedir={os.path.join(ctx.workdir, 'dnf-cache')}",
        f"--setopt=module_platform_id=platform:{ctx.platform}",
        "--disableplugin=*",
        *(f"--enableplugin={p}" for p in plugins),
        "--nogpgcheck",
        "--assumeyes",
    ]
    if ctx.arch not in ("noarch", os.uname().machine):
        argv.append(f"--forcearch={ctx.arch}")
    for repo in repos:
        argv.append(f"--repofrompath={repo.id},{repo.url}")
        if repo.module_hotfixes:
            argv.append(f"--setopt={repo.id}.module_hotfixes=true")
    return argv


# --------------------------------------------------------------------------- the base


class BuiltinCheck:
    """Shared frame of the built-in checks: a log that starts with what is checked, and
    NEEDS_INSPECTION (with the reason as the note) when no verdict can be reached."""

    name: str = ""
    summary: str = ""

    def run(self, ctx: CheckContext) -> CheckResult:
        log = Log()
        log.add(f"{self.name}: {self.summary}")
        log.add(f"module build {ctx.nsvc}, arch {ctx.arch}, platform {ctx.platform}")
        log.add(f"compose {ctx.compose}")
        try:
            return self.check(ctx, log)
        except ToolError as e:
            return inconclusive(str(e), log)

    def check(self, ctx: CheckContext, log: Log) -> CheckResult:
        raise NotImplementedError
