"""``make demo``: a whole site on this machine, building contrib's example modules.

``python -m buildbot_modules.demo [--folder .demo] [--modules NAME ...]`` creates a local
dist-git in FOLDER, a master (``bbmod quickstart``) and two workers, pushes the example
modules in dependency order (a module is pushed once every module it buildrequires is
ready), waits until each is built and published, and prints the waterfall, the stage
repository and a ``dnf module install`` command. Running it again reuses the site: the
import is idempotent, so unchanged modules are reported ready without a new build.
``python -m buildbot_modules.demo stop [--folder .demo]`` stops the master and workers.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from .core.module import ModuleStream, load_modules
from .core.problems import ModuleError
from .distgit import DEFAULT_BRANCH, DistGit
from .quickstart import quickstart
from .registry import ModuleBuildRecord, Registry

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRIB = os.path.join(PROJECT, "contrib")
PLATFORM = "f39"
WORKERS = 2
IN_PROGRESS = ("init", "wait", "build", "done")
BIN = os.path.dirname(sys.executable)


@dataclass
class Module:
    """One folder of ``contrib/modules``: its streams and what it buildrequires."""

    name: str
    streams: dict[str, ModuleStream]
    deps: set[str]
    packages: set[str]


@dataclass
class Waiting:
    """A pushed module stream: done when its builds at ``head`` (newer than ``since``,
    when given) are ready or one failed."""

    name: str
    stream: str
    head: str
    since: datetime | None
    already: bool = False  # ready before this run: nothing to build
    announced: set[str] = field(default_factory=set)


@dataclass
class Pushed:
    """What one import did: every module stream's head, and what got a new commit."""

    heads: dict[tuple[str, str], str]
    streams: set[tuple[str, str]]
    rpms: set[str]


class DemoError(Exception):
    pass


def discover(contrib: str, names: Sequence[str] | None) -> list[Module]:
    """The modules of ``contrib/modules`` (``names`` and what they buildrequire, or all),
    in dependency order."""
    root = os.path.join(contrib, "modules")
    found: dict[str, Module] = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        files = {DEFAULT_BRANCH: os.path.join(folder, f"{name}.yaml")}
        streams_dir = os.path.join(folder, "streams")
        if os.path.isdir(streams_dir):
            for file in sorted(os.listdir(streams_dir)):
                files[file.removesuffix(".yaml")] = os.path.join(streams_dir, file)
        streams = {
            stream: load_modules(path, name, stream)[0]
            for stream, path in files.items()
            if os.path.isfile(path)
        }
        defs = [d for m in streams.values() for d in m.dependencies]
        deps = {m for d in defs for m in d.buildrequires} - {"platform"}
        packages = {c.package or c.name for m in streams.values() for c in m.components.values()}
        found[name] = Module(name, streams, deps, packages)
    wanted = list(names or found)
    for name in wanted:
        if name not in found:
            raise DemoError(f"no module {name} in {root} (there are: {', '.join(found)})")
        wanted.extend(d for d in found[name].deps if d in found and d not in wanted)
    ordered: list[Module] = []
    while len(ordered) < len(set(wanted)):
        done = {m.name for m in ordered}
        ready = [n for n in sorted(set(wanted) - done) if found[n].deps & found.keys() <= done]
        if not ready:
            raise DemoError(f"dependency cycle among {', '.join(sorted(set(wanted) - done))}")
        ordered.extend(found[n] for n in ready)
    return ordered


def running(folder: str) -> int | None:
    """The pid of the Twisted daemon of ``folder`` (a master or worker), if it runs."""
    try:
        with open(os.path.join(folder, "twistd.pid"), encoding="ascii") as f:
            pid = int(f.read().strip())
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except (OSError, ValueError):
        return None
    return pid if os.path.realpath(cwd) == os.path.realpath(folder) else None


def _run(args: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()[-1500:]
        raise DemoError(f"{shlex.join(args)} failed ({proc.returncode}):\n{out}")
    return proc.stdout


def _elapsed(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.started = time.monotonic()
        self.folder = os.path.abspath(args.folder)
        self.site = os.path.join(self.folder, "site")
        self.master = os.path.join(self.site, "master")
        self.distgit_root = os.path.join(self.folder, "distgit")
        self.publish = os.path.join(self.folder, "publish")
        self.port = args.port
        self.worker_port = args.worker_port
        self.url = f"http://localhost:{self.port}/"
        self.api = f"http://127.0.0.1:{self.port}/api/v2"
        self.timeout = args.timeout
        self.modules = discover(args.contrib, args.modules)
        self.contrib = args.contrib
        self.env = {**os.environ, "TMPDIR": os.path.join(self.folder, "tmp")}

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.0f}s] {text}", flush=True)

    # ------------------------------------------------------------------ the site

    def start_site(self) -> None:
        """Quickstart, then start whatever does not run (a master that runs is reused)."""
        os.makedirs(os.path.join(self.folder, "tmp"), exist_ok=True)
        DistGit.init(self.distgit_root)
        settings = os.path.join(self.master, "settings.toml")
        before = _read(settings)
        site = quickstart(
            self.site,
            self.distgit_root,
            self.publish,
            platform=PLATFORM,
            port=self.port,
            workers=WORKERS,
            worker_port=self.worker_port,
            poll_interval=2,
        )
        pid = running(self.master)
        if pid is not None and _read(settings) != before:
            self.say(f"settings changed: restarting the master (pid {pid})")
            stop_daemon(f"{BIN}/buildbot", self.master)
            pid = None
        if pid is not None:
            self.say(f"master already running (pid {pid}): reusing it")
        else:
            for port in (self.port, self.worker_port):
                if _port_taken(port):
                    raise DemoError(
                        f"port {port} is in use by another program (not this demo's master);"
                        " stop it, or choose other --port/--worker-port"
                    )
            self.fail_cut_off_builds()
            self.say(f"starting the master in {self.master}")
            _run([f"{BIN}/buildbot", "start", self.master], self.env)
        for worker in site.workers:
            if running(worker) is None:
                _run([f"{BIN}/buildbot-worker", "start", worker], self.env)
        self.wait_for(self.workers_connected, "the workers to connect", 120)
        self.say(f"master on {self.url} with {WORKERS} workers connected")

    def fail_cut_off_builds(self) -> None:
        """With no master running, a build left unfinished will never finish (no resume
        after a restart yet, issue #9): mark it failed, so that it is built again."""
        path = os.path.join(self.master, "registry.sqlite")
        if not os.path.exists(path):
            return
        registry = Registry(f"sqlite:///{path}")
        registry.upgrade()
        for build in registry.module_builds(limit=None):
            if build.state in IN_PROGRESS:
                registry.set_module_state(build.id, "failed", "cut off: the master stopped")
        registry.dispose()

    def workers_connected(self) -> bool:
        try:
            workers = self.get("workers")["workers"]
        except (requests.RequestException, ValueError, KeyError):
            return False
        names = {f"worker{i}" for i in range(1, WORKERS + 1)}
        return names <= {w["name"] for w in workers if w["connected_to"]}

    def wait_for(self, check: Any, what: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {seconds:g} s waiting for {what}")
            time.sleep(0.5)

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.api}/{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    # ------------------------------------------------------------------ pushing

    def push(self, modules: list[Module]) -> Pushed:
        """Commit the modules' folders and their packages' folders to the dist-git."""
        staging = os.path.join(self.folder, "push")
        shutil.rmtree(staging, ignore_errors=True)
        for m in modules:
            source = os.path.join(self.contrib, "modules", m.name)
            shutil.copytree(source, os.path.join(staging, "modules", m.name), symlinks=True)
            for pkg in m.packages:
                source = os.path.join(self.contrib, "rpms", pkg)
                target = os.path.join(staging, "rpms", pkg)
                if not os.path.exists(target):
                    shutil.copytree(source, target, symlinks=True)
        results = DistGit(self.distgit_root).import_dir(staging)
        shutil.rmtree(staging)
        module_results = [r for r in results if r.namespace == "modules"]
        pushed = Pushed(
            heads={(r.name, r.branch): r.commit for r in module_results},
            streams={(r.name, r.branch) for r in module_results if r.changed},
            rpms={r.name for r in results if r.namespace == "rpms" and r.changed},
        )
        what = f"{len(pushed.streams)} module stream(s), {len(pushed.rpms)} package(s) changed"
        self.say(f"pushed {', '.join(m.name for m in modules)} to dist-git ({what})")
        return pushed

    def start_waiting(self, registry: Registry, module: Module, pushed: Pushed) -> list[Waiting]:
        """What to wait for, per stream; asks for a build when no push brings one."""
        now = datetime.now(UTC)
        out = []
        for stream in module.streams:
            head = pushed.heads[(module.name, stream)]
            if (module.name, stream) in pushed.streams:  # a new commit: the master builds it
                out.append(Waiting(module.name, stream, head, now))
                continue
            builds = registry.module_builds(name=module.name, stream=stream)
            latest = next((b for b in builds if b.commit == head), None)
            if latest is None or latest.state == "failed":
                self.force(module.name, stream)  # as the "Build module" button does
                out.append(Waiting(module.name, stream, head, now))
            elif latest.state == "ready":
                built = {c.package for c in registry.components(latest.id)}
                # A new commit of one of its packages makes the master build it again.
                rebuild = bool(built & pushed.rpms)
                out.append(
                    Waiting(module.name, stream, head, now if rebuild else None, not rebuild)
                )
            else:
                out.append(Waiting(module.name, stream, head, None))  # building now
        return out

    def force(self, name: str, stream: str) -> None:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "force",
            "params": {"module": name, "stream": stream},
        }
        url = f"{self.api}/forceschedulers/bbmod-rebuild"
        answer = requests.post(url, json=body, timeout=10).json()
        if "error" in answer:
            raise DemoError(f"could not request a build of {name}:{stream}: {answer['error']}")
        self.say(f"{name}:{stream}: requested a new build (the last one failed or is gone)")

    # ------------------------------------------------------------------ waiting

    def check(self, registry: Registry, w: Waiting) -> tuple[str, list[str]] | None:
        """("ready", [nsvc...]) or ("failed", [message lines]) or None (not yet)."""
        builds = [
            b
            for b in registry.module_builds(name=w.name, stream=w.stream)
            if b.commit == w.head and (w.since is None or b.submitted_at >= w.since)
        ]
        if builds:
            newest = [b for b in builds if b.version == builds[0].version]
            latest = list({b.context: b for b in reversed(newest)}.values())
            failed = [b for b in latest if b.state == "failed"]
            if failed:
                return "failed", self.describe_failure(registry, failed[0])
            if all(b.state == "ready" for b in latest):
                return "ready", [b.nsvc for b in latest]
            for b in latest:
                if b.state == "build" and b.nsvc not in w.announced:
                    w.announced.add(b.nsvc)
                    count = len(registry.components(b.id))
                    self.say(f"{b.nsvc}: building {count} component(s)")
            bb = self.buildbot_build(w, {b.nsvc for b in latest})
        elif w.since is not None:
            bb = self.buildbot_build(w, None)
            if bb is not None and bb["results"] in (0, 1):
                w.since = None  # "already built": another request built this very commit
                return None
        else:
            return None
        if bb is not None and bb["results"] not in (None, 0, 1):  # running, success, warnings
            return "failed", [f"{w.name}:{w.stream}: {bb['state_string']}", *self.steps(bb)]
        return None

    def buildbot_build(self, w: Waiting, nsvcs: set[str] | None) -> dict[str, Any] | None:
        """The stream's newest Buildbot module build: of one of ``nsvcs``, or (None) one
        that started after ``w.since``."""
        since = w.since.timestamp() - 1 if w.since else 0
        builds = self.get(
            "builds", order="-buildid", limit=200, property=["module", "stream", "nsvcs"]
        )["builds"]
        for b in builds:
            props = {k: v[0] for k, v in b["properties"].items()}
            if (props.get("module"), props.get("stream")) != (w.name, w.stream):
                continue
            if nsvcs is None:
                return dict(b) if b["started_at"] >= since else None
            if set(props.get("nsvcs", [])) & nsvcs:
                return dict(b)
        return None

    def build_url(self, b: dict[str, Any]) -> str:
        return f"{self.url}#/builders/{b['builderid']}/builds/{b['number']}"

    def failed_steps(self, buildid: int) -> list[str]:
        steps = self.get(f"builds/{buildid}/steps")["steps"]
        return [f"{s['name']}: {s['state_string']}" for s in steps if s["results"] in (2, 4)]

    def steps(self, b: dict[str, Any]) -> list[str]:
        return [
            *(f"  {line}" for line in self.failed_steps(b["buildid"])),
            f"  log: {self.build_url(b)}",
        ]

    def describe_failure(self, registry: Registry, build: ModuleBuildRecord) -> list[str]:
        lines = [f"{build.nsvc}: {build.state_reason or 'failed'}"]
        for c in registry.components(build.id):
            if c.state == "failed":
                lines.append(f"  component {c.name} failed, log: {c.log_url or '(none)'}")
                if c.buildbot_build_id is not None:
                    lines.extend(f"    {s}" for s in self.failed_steps(c.buildbot_build_id))
        bb = self.buildbot_build(
            Waiting(build.name, build.stream, build.commit, None), {build.nsvc}
        )
        if bb is not None:
            lines.append(f"  module build: {self.build_url(bb)}")
        return lines

    # ------------------------------------------------------------------ the run

    def run(self) -> int:
        self.start_site()
        registry = Registry(f"sqlite:///{self.master}/registry.sqlite")
        # A master started before a `git pull` has the older schema; newer columns are
        # optional, so migrating under it is safe (and a no-op when current).
        registry.upgrade()
        try:
            return self.build_all(registry)
        finally:
            registry.dispose()

    def build_all(self, registry: Registry) -> int:
        deadline = time.monotonic() + self.timeout
        by_name = {m.name: m for m in self.modules}
        pending = list(self.modules)
        waiting: dict[str, list[Waiting]] = {}
        ready: dict[str, list[str]] = {}
        failed: dict[str, list[str]] = {}
        while pending or waiting:
            known = by_name.keys()
            pushable = [m for m in pending if m.deps & known <= ready.keys()]
            blocked = [m for m in pending if m.deps & failed.keys()]
            for m in blocked:
                pending.remove(m)
                self.say(
                    f"{m.name}: not pushed, it needs {', '.join(sorted(m.deps & failed.keys()))}"
                )
                failed[m.name] = []
            if pushable:
                pushed = self.push(pushable)
                for m in pushable:
                    pending.remove(m)
                    waiting[m.name] = self.start_waiting(registry, m, pushed)
            for name, streams in list(waiting.items()):
                for w in list(streams):
                    result = self.check(registry, w)
                    if result is None:
                        continue
                    state, lines = result
                    streams.remove(w)
                    if state == "ready":
                        ready.setdefault(name, []).extend(lines)
                        already = "already ready" if w.already else "ready"
                        self.say(f"{w.name}:{w.stream} {already}: {', '.join(lines)}")
                    else:
                        failed.setdefault(name, []).extend(lines)
                        self.say(f"{w.name}:{w.stream} FAILED")
                        for line in lines:
                            print(f"         {line}", flush=True)
                if not streams:
                    del waiting[name]
                    if name in failed:
                        ready.pop(name, None)
            if time.monotonic() > deadline:
                left = sorted({*waiting, *(m.name for m in pending)})
                self.say(f"timed out after {self.timeout:g} s; not finished: {', '.join(left)}")
                self.summary(ready)
                return 1
            if waiting:
                time.sleep(1)
        self.summary(ready)
        if failed:
            print(f"\nFAILED: {', '.join(sorted(failed))} (see above)")
            return 1
        return 0

    def summary(self, ready: dict[str, list[str]]) -> None:
        count = sum(len(v) for v in ready.values())
        print(f"\n== {count} module build(s) ready\n")
        stage = os.path.join(self.publish, "stage")
        print(f"Waterfall:         {self.url}#/waterfall")
        if os.path.exists(os.path.join(stage, "stage.repo")):
            print(f"Stage repository:  {stage}/repo")
            print(f"Its .repo file:    {stage}/stage.repo (it names the platform repository too)")
        command = self.install_command(ready)
        if command:
            print("\nInstall it (paste into a root shell; it installs into the demo folder):\n")
            print(f"  {shlex.join(command)}\n")
        default = os.path.join(PROJECT, ".demo")
        stop = (
            "make demo-stop"
            if self.folder == default
            else shlex.join(
                [sys.executable, "-m", "buildbot_modules.demo", "stop", "--folder", self.folder]
            )
        )
        print(f"Stop the master and workers:  {stop}")
        print(f"Elapsed: {_elapsed(time.monotonic() - self.started)}")

    def install_command(self, ready: dict[str, list[str]]) -> list[str] | None:
        """dnf installing the tallest ready stack: a module and what it buildrequires."""
        by_name = {m.name: m for m in self.modules}

        def stack(name: str) -> list[str]:
            below = [s for d in sorted(by_name[name].deps & by_name.keys()) for s in stack(d)]
            return [*dict.fromkeys([*below, name])]

        candidates = [m.name for m in self.modules if all(n in ready for n in stack(m.name))]
        if not candidates:
            return None
        top = max(candidates, key=lambda n: len(stack(n)))
        targets = []
        for name in stack(top):
            stream, definition = next(iter(by_name[name].streams.items()))
            profile = "/default" if "default" in definition.profiles else ""
            targets.append(f"{name}:{stream}{profile}")
        root = os.path.join(self.folder, "root")
        return [
            "dnf",
            f"--installroot={root}",
            f"--setopt=reposdir={os.path.join(self.publish, 'stage')}",
            f"--setopt=cachedir={root}/var/cache/dnf",
            "--disableplugin=local",
            "--disableplugin=generate_completion_cache",
            f"--releasever={PLATFORM.removeprefix('f')}",
            f"--setopt=module_platform_id=platform:{PLATFORM}",
            "--nogpgcheck",
            "-y",
            "module",
            "install",
            *targets,
        ]


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def stop_daemon(tool: str, folder: str) -> int | None:
    """Stop the daemon of ``folder`` (``buildbot stop`` / ``buildbot-worker stop``);
    its pid, or None when it did not run."""
    pid = running(folder)
    if pid is None:
        return None
    subprocess.run([tool, "stop", folder], capture_output=True, check=False, timeout=120)
    for _ in range(100):
        if running(folder) != pid:
            return pid
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)  # it did not stop on SIGTERM: it is this demo's own daemon
    return pid


def stop(folder: str) -> int:
    site = os.path.join(os.path.abspath(folder), "site")
    stopped = False
    if os.path.isdir(site):
        workers = sorted(n for n in os.listdir(site) if n.startswith("worker"))
        for name in [*workers, "master"]:
            tool = f"{BIN}/buildbot" if name == "master" else f"{BIN}/buildbot-worker"
            pid = stop_daemon(tool, os.path.join(site, name))
            if pid is not None:
                print(f"stopped {name} (pid {pid})")
                stopped = True
    if not stopped:
        print(f"nothing was running in {os.path.abspath(folder)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m buildbot_modules.demo",
        description="Build contrib's example modules on a local site (make demo).",
    )
    parser.add_argument("action", nargs="?", choices=["run", "stop"], default="run")
    parser.add_argument("--folder", default=".demo", help="where everything lives (.demo)")
    parser.add_argument("--port", type=int, default=8010, help="web UI port (8010)")
    parser.add_argument("--worker-port", type=int, default=9989, help="worker port (9989)")
    parser.add_argument(
        "--modules", nargs="+", metavar="NAME", help="modules to build (default: all)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait (1800)")
    parser.add_argument("--contrib", default=CONTRIB, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.action == "stop":
        return stop(args.folder)
    if os.geteuid() != 0:
        print(
            "error: the demo's workers build in private buildroots, which need root"
            " (docs/buildroots.md)",
            file=sys.stderr,
        )
        return 2
    try:
        demo = Demo(args)
        demo.say(f"demo in {demo.folder}: {', '.join(m.name for m in demo.modules)}")
        return demo.run()
    except (DemoError, ModuleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except requests.RequestException as e:
        log = os.path.join(os.path.abspath(args.folder), "site", "master", "twistd.log")
        print(f"error: the master stopped answering ({e}); see {log}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; the master and workers keep running (make demo-stop)")
        return 130


if __name__ == "__main__":
    sys.exit(main())
