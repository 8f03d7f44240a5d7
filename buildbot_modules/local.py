"""``bbmod build-local``: build one module on this machine, through the real pipeline.

The packager's folders stand in for dist-git, nothing else changes: ``DIR/<component>/``
(spec and sources) and the module file are committed to a throw-away dist-git in
``OUTPUT/.work/`` — each component on the branch its ``ref`` names, the definition on
the branch of its stream — and the module is built by an in-process Buildbot master with
the site's own configurator, steps and driver, and K worker processes on 127.0.0.1.
The result is published into ``OUTPUT`` as a site publishes its stage area:
``OUTPUT/stage/<name>/<stream>/<version>.<context>/<arch>/`` per build, the aggregate
``OUTPUT/stage/repo`` (what ``--catalogue OUTPUT`` reads), ``OUTPUT/platform/<stream>/``
on Debian, ``OUTPUT/repos.d/`` for dnf and ``OUTPUT/logs/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from buildbot.process.results import EXCEPTION, FAILURE

from .core.catalogue import open_catalogue
from .core.lint import lint_file
from .core.module import ModuleStream, load_modules
from .core.problems import ModuleError
from .distgit import DEFAULT_BRANCH, DistGit

MARKER = ".bbmod-build-local"
WORK = ".work"
DEFAULT_PLATFORM = "f39"
WORKER_TIMEOUT = 60.0
TAIL_LINES = 12  # of a failed step's output, printed with the failure


class InvalidModule(ModuleError):
    """The module file has problems; each is printed on its own line."""

    def __init__(self, problems: list[Any]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the module definition")
        self.problems = problems

    def __str__(self) -> str:
        lines = [p.format() for p in self.problems]
        return "\n".join([*lines, "(`bbmod lint` checks a definition without building)"])


@dataclass
class Options:
    module: str
    sources: str
    output: str
    name: str | None = None
    stream: str | None = None
    platform: str | None = None
    catalogues: list[str] = field(default_factory=list)
    workers: int = 2
    backend: str = "buildroot"
    timeout: float = 6 * 3600
    strict: bool = False  # failed checks make the exit code non-zero


@dataclass
class Prepared:
    """What the checks before any build found: everything the build needs."""

    name: str
    stream: str
    platform: str
    output: str
    work: str
    catalogues: list[str]
    # (namespace-relative repository name, branch, folder to commit)
    modules: list[ModuleStream]
    components: list[tuple[str, str, str]]


@dataclass
class Outcome:
    ok: bool
    repositories: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # one line per check and build
    checks_failed: int = 0


# ----------------------------------------------------------------------------- checks


def prepare(opts: Options) -> Prepared:
    """Check the inputs before anything runs; every problem is a ModuleError that names
    the file, folder or option and what to do."""
    from .cli import default_names

    module_path = os.path.abspath(opts.module)
    if not os.path.isfile(module_path):
        raise ModuleError("no such module file", source=opts.module)
    name, stream = default_names(module_path, opts.name, opts.stream)
    problems = [p for p in lint_file(module_path, name, stream) if p.is_error]
    if problems:
        raise InvalidModule(problems)
    modules = load_modules(module_path, name, stream)
    first = modules[0]
    for option, given, found in (
        ("--name", opts.name, first.name),
        ("--stream", opts.stream, first.stream),
    ):
        if given and given != found:
            raise ModuleError(
                f"the document says {found!r}, {option} says {given!r}",
                source=opts.module,
                hint=f"drop {option}, or change the document",
            )
    if opts.workers < 1:
        raise ModuleError("--workers must be at least 1")
    sources = os.path.abspath(opts.sources)
    if not os.path.isdir(sources):
        raise ModuleError(
            "no such sources folder",
            source=opts.sources,
            hint="give the folder holding one folder per component (its spec and sources)",
        )
    components = _component_folders(modules, sources)
    output = os.path.abspath(opts.output)
    _check_output(output)
    catalogues = [_catalogue_location(c, output) for c in opts.catalogues]
    if catalogues:
        chain = open_catalogue(catalogues)
        chain.load()  # an unreadable repository is reported now, not mid-build
    platform = opts.platform or _document_platform(modules) or DEFAULT_PLATFORM
    return Prepared(
        name=first.name,
        stream=first.stream,
        platform=platform,
        output=output,
        work=os.path.join(output, WORK),
        catalogues=catalogues,
        modules=modules,
        components=components,
    )


def _component_folders(modules: list[ModuleStream], sources: str) -> list[tuple[str, str, str]]:
    found: dict[tuple[str, str], str] = {}
    missing: list[str] = []
    for module in modules:
        for cname, component in sorted(module.components.items()):
            package = component.package or cname
            ref = component.ref or DEFAULT_BRANCH
            # DIR/<component>/, else DIR/<package>/; in either, branches/<ref>/ when it
            # exists (the layout `bbmod distgit import` reads for non-main branches).
            folder = next(
                (
                    path
                    for n in (cname, package)
                    for path in (
                        os.path.join(sources, n, "branches", ref),
                        os.path.join(sources, n),
                    )
                    if os.path.isdir(path)
                ),
                None,
            )
            if folder is None:
                missing.append(f"{cname}: no folder {os.path.join(sources, cname)}")
            elif not os.path.isfile(os.path.join(folder, f"{package}.spec")):
                specs = [f for f in os.listdir(folder) if f.endswith(".spec")]
                missing.append(
                    f"{cname}: no {package}.spec in {folder}"
                    + (f" (found {', '.join(sorted(specs))})" if specs else "")
                )
            else:
                previous = found.setdefault((package, ref), folder)
                if previous != folder:
                    missing.append(f"{cname}: package {package} at {ref} is also {previous}")
    if missing:
        raise ModuleError(
            "component sources missing:\n  " + "\n  ".join(missing),
            source=sources,
            hint="each component needs DIR/<component>/<package>.spec beside its sources",
        )
    return [(package, ref, folder) for (package, ref), folder in sorted(found.items())]


def _check_output(output: str) -> None:
    if os.path.exists(output) and not os.path.isdir(output):
        raise ModuleError("not a folder", source=output, hint="--output names a folder")
    if (
        os.path.isdir(output)
        and os.listdir(output)
        and not os.path.exists(os.path.join(output, MARKER))
    ):
        raise ModuleError(
            "this folder is not empty and is not a build-local output; nothing was written",
            source=output,
            hint="name a new or empty folder, or an earlier `bbmod build-local` output",
        )


def _catalogue_location(location: str, output: str) -> str:
    """A build-local output stands for its aggregate repository; paths become absolute."""
    if "://" in location:
        return location
    path = os.path.abspath(location)
    if path == output:
        raise ModuleError(
            "--catalogue names the --output folder",
            source=location,
            hint="build the dependency into one folder and this module into another",
        )
    if os.path.exists(os.path.join(path, MARKER)):
        return os.path.join(path, "stage", "repo")
    return path


def _document_platform(modules: list[ModuleStream]) -> str | None:
    """The first platform stream the definition names explicitly, if any."""
    for module in modules:
        for deps in module.dependencies:
            for stream in deps.buildrequires.get("platform", ()):
                if not stream.startswith("-"):
                    return stream
    return None


# ----------------------------------------------------------------------------- the work area


def lay_out(prep: Prepared, module_file: str) -> DistGit:
    """The output folder (marked as ours), a fresh work area, and its dist-git."""
    os.makedirs(prep.output, exist_ok=True)
    with open(os.path.join(prep.output, MARKER), "w", encoding="utf-8") as f:
        f.write("Written by `bbmod build-local`; it may replace what is in this folder.\n")
    shutil.rmtree(prep.work, ignore_errors=True)
    os.makedirs(prep.work)
    distgit = DistGit.init(os.path.join(prep.work, "distgit"))
    stage = os.path.join(prep.work, "import")
    module_dir = os.path.join(stage, prep.stream, "modules", prep.name)
    os.makedirs(module_dir)
    shutil.copyfile(module_file, os.path.join(module_dir, f"{prep.name}.yaml"))
    for package, ref, folder in prep.components:
        shutil.copytree(
            folder,
            os.path.join(stage, ref, "rpms", package),
            ignore=shutil.ignore_patterns(".git", ".*.swp"),
            symlinks=True,  # a link is committed as a link (and refused if it leaves)
            dirs_exist_ok=True,
        )
    for branch in sorted(os.listdir(stage)):
        distgit.import_dir(os.path.join(stage, branch), branch)
    shutil.rmtree(stage)
    return distgit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tool(name: str) -> str:
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.access(path, os.X_OK):
        raise ModuleError(f"{name} not found beside {sys.executable}", hint="run `make setup`")
    return path


# ----------------------------------------------------------------------------- progress


class Progress:
    """One status line redrawn on a terminal; plain timestamped lines otherwise."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.tty = out.isatty()
        self.start = time.monotonic()
        self.states: dict[tuple[int, str], str] = {}
        self.status = ""

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.start:6.1f}s"

    def event(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[K")
        self.out.write(f"{self.elapsed()}  {text}\n")
        if self.tty and self.status:
            self.out.write(self.status)
        self.out.flush()

    def line(self, text: str) -> None:
        if self.tty:
            self.status = f"{self.elapsed()}  {text}"
            self.out.write("\r\x1b[K" + self.status[: shutil.get_terminal_size().columns - 1])
            self.out.flush()

    def done(self) -> None:
        if self.tty and self.status:
            self.out.write("\r\x1b[K")
            self.out.flush()
        self.status = ""


# ----------------------------------------------------------------------------- the build


class LocalSite:
    """The in-process master, its workers, and what they report."""

    def __init__(self, opts: Options, prep: Prepared, out: IO[str]) -> None:
        from .master.settings import Settings

        self.opts, self.prep, self.out = opts, prep, out
        self.progress = Progress(out)
        work = prep.work
        self.port = _free_port()
        self.passwords = {
            f"local{i}": secrets.token_urlsafe(12) for i in range(1, opts.workers + 1)
        }
        self.settings = Settings(
            title=f"bbmod build-local {prep.name}:{prep.stream}",
            db_url=f"sqlite:///{work}/master/state.sqlite",
            registry_url=f"sqlite:///{work}/master/registry.sqlite",
            www_port=None,
            worker_port=f"tcp:{self.port}:interface=127.0.0.1",
            workers=self.passwords,
            distgit=os.path.join(work, "distgit"),
            publish_root=prep.output,
            artifacts=os.path.join(work, "artifacts"),
            platforms=[prep.platform],
            catalogues=prep.catalogues,
            poll_interval=0,
            backend=opts.backend,
            ignore_component_repositories=True,
            promotion="manual",  # a local build has no production to go to
            module_slots=1,
            basedir=os.path.join(work, "master"),
        )
        self.processes: list[subprocess.Popen[bytes]] = []
        self.master: Any = None
        self.log_files: dict[str, str] = {}

    # -- processes

    def create_workers(self) -> list[str]:
        folders = []
        for name, password in sorted(self.passwords.items()):
            folder = os.path.join(self.prep.work, name)
            subprocess.run(
                [
                    _tool("buildbot-worker"),
                    "create-worker",
                    "--quiet",
                    "--umask=0o22",
                    folder,
                    f"127.0.0.1:{self.port}",
                    name,
                    password,
                ],
                check=True,
                capture_output=True,
            )
            folders.append(folder)
        return folders

    def start_workers(self, folders: list[str]) -> None:
        for folder in folders:
            log = open(os.path.join(folder, "worker.out"), "wb")  # noqa: SIM115 - kept open
            self.processes.append(
                subprocess.Popen(
                    [_tool("buildbot-worker"), "start", "--nodaemon", folder],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            log.close()

    def stop_workers(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # -- the master (inside the reactor)

    async def start_master(self) -> None:
        from buildbot.config.master import MasterConfig
        from buildbot.interfaces import IConfigLoader
        from buildbot.master import BuildMaster
        from twisted.internet import reactor
        from zope.interface import implementer  # type: ignore[import-untyped]

        from .master.configurator import ModulesConfigurator

        config = {"configurators": [ModulesConfigurator(self.settings)]}

        @implementer(IConfigLoader)
        class Loader:
            def loadConfig(self) -> Any:
                return MasterConfig.loadFromDict(config, "<bbmod build-local>")

        basedir = self.settings.basedir
        os.makedirs(basedir, exist_ok=True)
        master = BuildMaster(basedir, reactor=reactor, config_loader=Loader())
        master.config.db.db_url = self.settings.db_url
        await master.db.setup(check_version=False)
        await master.db.model.upgrade()
        master.db.setup = lambda: None
        await master.startService()
        self.master = master

    async def wait_for_workers(self) -> None:
        deadline = time.monotonic() + WORKER_TIMEOUT
        while time.monotonic() < deadline:
            workers = await self.master.data.get(("workers",))
            connected = {w["name"] for w in workers if w["connected_to"]}
            if set(self.passwords) <= connected:
                return
            for proc in self.processes:
                if proc.poll() is not None:
                    break
            await _sleep(0.2)
        raise ModuleError(
            f"the local workers did not connect in {WORKER_TIMEOUT:.0f} s",
            source=os.path.join(self.prep.work, "local1", "twistd.log"),
            hint="read the worker's log",
        )

    async def build(self) -> Outcome:
        from .master.threads import in_thread

        registry = self.master_site_registry()
        bsid, _brids = await self.master.data.control(
            "force",
            {"module": self.prep.name, "stream": self.prep.stream},
            ("forceschedulers", "bbmod-rebuild"),
        )
        self.progress.event(
            f"building {self.prep.name}:{self.prep.stream} "
            f"for platform {self.prep.platform} on {self.opts.workers} workers"
        )
        deadline = time.monotonic() + self.opts.timeout
        while True:
            buildset = await self.master.data.get(("buildsets", bsid))
            await in_thread(self.report, registry)
            if buildset["complete"]:
                break
            if time.monotonic() > deadline:
                raise ModuleError(f"the build took longer than {self.opts.timeout:.0f} s")
            await _sleep(0.5)
        self.progress.done()
        return await self.outcome(registry, bsid)

    def master_site_registry(self) -> Any:
        from .master.site import absolute_sqlite
        from .registry import Registry

        return Registry(absolute_sqlite(self.settings.registry_url, self.settings.basedir))

    def report(self, registry: Any) -> None:
        """Print what changed since the last look (runs in a thread)."""
        status = []
        for build in reversed(registry.module_builds(name=self.prep.name, stream=self.prep.stream)):
            components = registry.components(build.id)
            building = []
            for c in components:
                key = (build.id, c.name)
                if self.progress.states.get(key) != c.state:
                    self.progress.states[key] = c.state
                    self._component_event(build, c)
                if c.state == "building":
                    building.append(c.name)
            built = sum(1 for c in components if c.state == "built")
            text = f"{build.nsvc}: {built}/{len(components)} built"
            if building:
                text += " · building " + ", ".join(building)
            status.append(text)
        if status:
            self.progress.line(" | ".join(status))

    def _component_event(self, build: Any, c: Any) -> None:
        if c.state == "building":
            self.progress.event(f"{c.name}: building ({build.nsvc})")
        elif c.state == "built":
            took = f" in {c.duration:.1f} s" if c.duration is not None else ""
            self.progress.event(f"{c.name}: built {c.nvr or ''}{took}")
        elif c.state == "failed":
            self.progress.event(f"{c.name}: FAILED ({c.reason or 'see its log'})")
        elif c.state in ("dependency-failed", "cancelled"):
            self.progress.event(f"{c.name}: not built ({c.state})")

    async def outcome(self, registry: Any, bsid: int) -> Outcome:
        from .master.threads import in_thread

        builds = await in_thread(
            registry.module_builds, name=self.prep.name, stream=self.prep.stream
        )
        outcome = Outcome(ok=bool(builds))
        for build in reversed(builds):
            components = await in_thread(registry.components, build.id)
            log_dir = os.path.join(
                self.prep.output,
                "logs",
                f"{build.name}-{build.stream}-{build.version}.{build.context}",
            )
            shutil.rmtree(log_dir, ignore_errors=True)
            for c in components:
                excerpt: list[str] = []
                if c.buildbot_build_id is not None:
                    path = os.path.join(log_dir, f"{c.name}.log")
                    excerpt = await self.write_log(c.buildbot_build_id, path)
                    self.log_files[c.name] = path
                if c.state == "failed":
                    outcome.failures.append(
                        f"component {c.name} of {build.nsvc} failed: {c.reason or 'build failed'}"
                        + "".join(f"\n  | {line}" for line in excerpt)
                        + f"\n  log: {self.log_files.get(c.name, 'none (it never started)')}"
                    )
            not_built = sorted(c.name for c in components if c.state == "dependency-failed")
            if not_built:
                outcome.failures.append(
                    f"not built because a dependency failed: {', '.join(not_built)}"
                )
            for result in sorted(
                await in_thread(registry.results, item=build.nsvc, latest_only=True),
                key=lambda r: r.testcase,
            ):
                outcome.checks.append(
                    f"{build.nsvc}  {result.testcase}: {result.outcome} — {result.note}"
                )
                if result.outcome in ("FAILED", "NEEDS_INSPECTION"):
                    outcome.checks_failed += 1
            if build.state == "ready" and build.published_path:
                outcome.repositories.append(build.published_path)
            else:
                outcome.ok = False
                if not any(c.state == "failed" for c in components):
                    outcome.failures.append(
                        f"{build.nsvc}: {build.state}: {build.state_reason or 'see the log'}"
                    )
        failed_steps = await self.module_build_log(bsid)
        if not builds:  # it stopped before the registry knew of it (load or resolve)
            outcome.failures.extend(failed_steps)
        return outcome

    async def module_build_log(self, bsid: int) -> list[str]:
        """Write the module build's log (checks included); its failed steps, if any."""
        from buildbot.data import resultspec

        requests = await self.master.data.get(
            ("buildrequests",), filters=[resultspec.Filter("buildsetid", "eq", [bsid])]
        )
        lines = []
        for request in requests:
            for build in (
                await self.master.data.get(("buildrequests", request["buildrequestid"], "builds"))
                or []
            ):
                path = os.path.join(self.prep.output, "logs", f"{self.prep.name}-module-build.log")
                await self.write_log(build["buildid"], path)
                for step in await self.master.data.get(("builds", build["buildid"], "steps")):
                    if step["results"] in (FAILURE, EXCEPTION):
                        lines.append(f"{step['name']}: {step['state_string']}")
                lines.append(f"  log: {path}")
        return lines or ["the module build did not run"]

    async def write_log(self, buildid: int, path: str) -> list[str]:
        """Every step's logs of one Buildbot build, as one text file. Returns the failed
        step's description and the last lines of its output (empty when none failed)."""
        parts = []
        failure: list[str] = []
        for step in await self.master.data.get(("builds", buildid, "steps")):
            parts.append(f"===== step {step['number']}: {step['name']} — {step['state_string']}\n")
            failed = step["results"] in (FAILURE, EXCEPTION) and not failure
            if failed:
                failure.append(f"step {step['name']!r}: {step['state_string']}")
            for log in await self.master.data.get(("steps", step["stepid"], "logs")):
                content = await self.master.data.get(("logs", log["logid"], "contents"))
                raw = (content or {}).get("content", "")
                text, output = raw, raw
                if log["type"] == "s":  # stdio: each line starts with its channel (h o e)
                    lines = raw.splitlines(keepends=True)
                    text = "".join(line[1:] for line in lines)
                    output = "".join(line[1:] for line in lines if line[:1] in ("o", "e"))
                parts.append(f"----- {log['name']}\n{text}")
                if not text.endswith("\n"):
                    parts.append("\n")
                if failed and log["name"] == "stdio":
                    failure += [ln for ln in output.splitlines() if ln.strip()][-TAIL_LINES:]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(parts))
        return failure

    async def stop_master(self) -> None:
        if self.master is not None:
            await self.master.stopService()


async def _sleep(seconds: float) -> None:
    from twisted.internet import reactor, task

    await task.deferLater(reactor, seconds, lambda: None)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- repos.d


def write_repos_d(prep: Prepared) -> str:
    """``OUTPUT/repos.d/build-local.repo``: the output's modules, the repositories it was
    built against, and the platform repository where the host's packages are not RPMs."""
    from .publish import platform_section, repo_section

    folder = os.path.join(prep.output, "repos.d")
    os.makedirs(folder, exist_ok=True)
    stage = os.path.join(prep.output, "stage", "repo")
    sections = [repo_section("bbmod-local", "bbmod build-local output", f"file://{stage}/")]
    for i, location in enumerate(prep.catalogues, 1):
        url = location if "://" in location else f"file://{location}/"
        if not os.path.isdir(location) and "://" not in location:
            continue  # a modules.yaml file names modules, not packages
        sections.append(repo_section(f"bbmod-catalogue-{i}", f"module repository {location}", url))
    if os.path.isdir(os.path.join(prep.output, "platform", prep.platform)):
        sections.append(platform_section(prep.output, prep.platform))
    path = os.path.join(folder, "build-local.repo")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(sections))
    os.replace(tmp, path)
    return folder


def install_hint(prep: Prepared, repos_d: str) -> list[str]:
    module = prep.modules[0]
    profile = "default" if "default" in module.profiles else next(iter(sorted(module.profiles)), "")
    target = f"{prep.name}:{prep.stream}" + (f"/{profile}" if profile else "")
    return [
        "dnf",
        "--installroot=/tmp/bbmod-try",
        f"--setopt=reposdir={repos_d}",
        "--disableplugin=local",
        f"--releasever={prep.platform.lstrip('f') or '39'}",
        f"--setopt=module_platform_id=platform:{prep.platform}",
        "--nogpgcheck",
        "-y",
        "module",
        "install",
        target,
    ]


# ----------------------------------------------------------------------------- entry point


def build_local(opts: Options, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """Run one local build; returns the exit code (0: every expanded build composed)."""
    import shlex

    try:
        prep = prepare(opts)
        lay_out(prep, os.path.abspath(opts.module))
    except ModuleError as e:
        err.write(str(e) + "\n")
        return 1
    site = LocalSite(opts, prep, out)
    try:
        folders = site.create_workers()
    except subprocess.CalledProcessError as e:
        err.write(f"error: buildbot-worker create-worker failed: {e.stderr!r}\n")
        return 1
    result: dict[str, Outcome] = {}
    problem: list[str] = []

    async def main(_reactor: Any) -> None:
        try:
            await site.start_master()
            site.start_workers(folders)
            await site.wait_for_workers()
            result["outcome"] = await site.build()
        except ModuleError as e:
            problem.append(str(e))
        except Exception as e:  # a bug: say what and where the story is
            log_path = os.path.join(prep.work, "master.log")
            problem.append(f"error: build-local stopped: {type(e).__name__}: {e} (see {log_path})")
            raise
        finally:
            await site.stop_master()

    try:
        _run_reactor(main, os.path.join(prep.work, "master.log"))
    except SystemExit:  # main failed unexpectedly (its error is in `problem`)
        if not problem:
            problem.append(f"error: build-local stopped (see {prep.work}/master.log)")
    finally:
        site.stop_workers()  # never leave worker processes behind
    if problem:
        err.write("\n".join(problem) + "\n")
        return 1
    outcome = result.get("outcome") or Outcome(ok=False, failures=["the build did not finish"])
    if not outcome.ok:
        for line in outcome.failures:
            err.write(f"error: {line}\n")
        err.write(f"work area (dist-git, master log): {prep.work}\n")
        return 1
    if outcome.checks:
        out.write("checks (docs/quality.md):\n")
        out.writelines(f"  {line}\n" for line in outcome.checks)
    if outcome.checks_failed and opts.strict:
        err.write(
            f"error: {outcome.checks_failed} check(s) failed or need inspection (--strict);"
            f" logs: {os.path.join(prep.output, 'logs')}\n"
        )
        return 1
    repos_d = write_repos_d(prep)
    out.write(f"logs: {os.path.join(prep.output, 'logs')}\n")
    out.write(f"install it: {shlex.join(install_hint(prep, repos_d))}\n")
    for path in outcome.repositories:
        out.write(path + "\n")
    out.flush()
    return 0


def _run_reactor(main: Callable[[Any], Any], log_path: str) -> None:
    """Run ``main`` in the Twisted reactor, its log to ``log_path``; Ctrl-C stops it."""
    from twisted.internet import defer, task
    from twisted.logger import globalLogBeginner, textFileLogObserver

    log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - for the reactor's life
    globalLogBeginner.beginLoggingTo(
        [textFileLogObserver(log)],  # type: ignore[list-item]
        discardBuffer=True,
        redirectStandardIO=False,
    )

    def run(reactor: Any) -> Any:
        return defer.ensureDeferred(main(reactor))

    try:
        task.react(run)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    finally:
        log.close()
