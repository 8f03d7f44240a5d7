"""Load / soak: many module builds at once plus a steady stream of pushes, then verify.

Issue #9's load requirement: "20 module builds (of a few components each) submitted at
once, plus a steady stream of pushes for 10 minutes on 4 workers: all complete, no
component built twice, the registry and the published repositories agree, the master's
memory is bounded."

A real site, as ``bench/pipeline.py`` makes one (its ``Site``): ``bbmod distgit init``,
``bbmod quickstart --workers K`` (free ports), ``buildbot start`` and K
``buildbot-worker start``, with ``backend = "rpmbuild"`` (plain rpmbuild, no buildroot:
quick, and no root needed) and the dist-git polled every ``--poll-interval`` s. The six
default checks run unless ``--checks`` names fewer.

The modules ``soak01…soakNN`` have 3 or 4 trivial noarch components (``--components``
N: odd modules N, even ones N-1) in a small DAG: ``base``; ``lib`` after ``base``;
``app`` after ``lib`` (and after ``tool``, ``shared``); ``tool`` after ``base``. Every
third module also has a package shared with other modules (``soak-shared1…``): a push to
it rebuilds all of them.

1. **Burst**: every module and package is committed to the dist-git in one import: the
   poller sees ``--modules`` module pushes at once.
2. **Pushes**: every ``--push-every`` s for ``--minutes``, one commit (seeded random):
   mostly to a component's ``rpms/<pkg>`` (its Release bumped), chosen among the modules
   that have a ready build (only those track their components, ``modules_tracking``), so
   the ModuleScheduler rebuilds each module with that component; sometimes to a module's
   definition (its description changed).
3. **Drain**: wait until nothing is queued or running and every registry build is final.

Then it verifies, and exits non-zero if anything fails:

* complete: every registry module build is ``ready`` (a queued request superseded by a
  newer one for the same stream is collapsed by Buildbot and makes no registry build;
  a request whose sources were built already ends "already built": both are counted);
  every module has a ready build; every push is covered: for each module that tracked
  the pushed component (or the pushed module), a ready build has that commit or a later
  one; no Buildbot build of the master ended FAILURE or EXCEPTION;
* no component built twice: the registry has one row per component of each module
  build, the module's components exactly; each ``built`` one has exactly one Buildbot
  component build with SUCCESS (the one the registry names), a ``reused`` one none;
  any other component build ended RETRY or CANCELLED and says why;
* registry ↔ published: every ready build's ``published_path`` holds exactly the
  binary RPMs of its registry artifacts (NEVRAs from the RPM headers); the stage tree has
  no other build; the aggregate ``<publish>/stage/repo`` lists exactly the union
  (``dnf repoquery`` in a private installroot and cache) and its ``modules`` record
  exactly the ready NSVCs;
* memory: the master's VmRSS (``/proc/<pid>/status``), sampled every 2 s: start, max,
  end, and the least-squares slope over the second half of the push period; bounded
  means the growth that slope gives over that half is below ``--rss-growth`` (default
  10 %) of the RSS at its start, or below 16 MiB.

It prints throughput (component builds and module builds per minute, from the burst to
idle) and latency (push → the first ready build covering it, median / p95; the burst's
submit → ready too). ``--json FILE`` saves everything. ``make soak`` runs the full
version; ``tests/test_load.py`` a short one in CI. ``--trace-memory`` adds tracemalloc to
the site's ``master.cfg`` and prints what the master's Python heap gained since its first
minute (it slows the master: for finding a leak, not for the figures).

    PYTHONPATH=$PWD .venv/bin/python bench/soak.py --modules 20 --minutes 10 --workers 4
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import BIN, Site, alive, machine, run, wait_for

from buildbot_modules.compose import read_modules_metadata, rpm_headers
from buildbot_modules.distgit import DistGit
from buildbot_modules.publish import published
from buildbot_modules.registry import ComponentRecord, ModuleBuildRecord, Registry

# Buildbot's result codes.
RESULTS = {0: "SUCCESS", 1: "WARNINGS", 2: "FAILURE", 3: "SKIPPED", 4: "EXCEPTION", 5: "RETRY"}
RESULTS[6] = "CANCELLED"
UNFINISHED = ("init", "wait", "build", "done")

SPEC = """\
Name:           {name}
Version:        1.0
Release:        {release}%{{?dist}}
Summary:        Soak package {name}
License:        MIT
URL:            https://example.org/{name}
BuildArch:      noarch

%description
Soak package {name}, release {release}.

%install
mkdir -p %{{buildroot}}%{{_datadir}}/{name}
echo {name} {release} > %{{buildroot}}%{{_datadir}}/{name}/{name}.txt

%files
%{{_datadir}}/{name}/{name}.txt

%changelog
* Wed Nov 25 2026 Soak <soak@example.org> - 1.0-{release}
- soak
"""


# -- the modules ---------------------------------------------------------------------------


def module_name(i: int) -> str:
    return f"soak{i:02d}"


def shared_count(modules: int) -> int:
    return max(1, modules // 10)


def components_of(i: int, size: int, modules: int) -> dict[str, tuple[str, ...]]:
    """Module ``i``'s components (package names) and what each builds after: 3 or 4 in a
    small DAG; every third module has a package shared with other modules."""
    k = size if i % 2 else size - 1
    prefix = module_name(i)
    shared = f"soak-shared{(i // 3 - 1) % shared_count(modules) + 1}" if i % 3 == 0 else ""
    own = ["base", "lib", "app", "tool", "doc", "extra"][: k - (1 if shared else 0)]
    dag: dict[str, tuple[str, ...]] = {}
    for short in own:
        after: list[str] = []
        if short in ("lib", "tool", "doc", "extra"):
            after = ["base"]
        elif short == "app":
            after = ["lib"] + (["tool"] if "tool" in own else [])
        dag[f"{prefix}-{short}"] = tuple(f"{prefix}-{a}" for a in after)
    if shared:
        dag[shared] = ()
        app = f"{prefix}-app"
        if app in dag:
            dag[app] = (*dag[app], shared)
    return dag


def module_yaml(name: str, dag: dict[str, tuple[str, ...]], revision: int) -> str:
    lines = [
        "document: modulemd-packager",
        "version: 3",
        "data:",
        f"  summary: Soak module {name}",
        "  description: >-",
        f"    Soak module {name}, revision {revision}.",
        "  license: [MIT]",
        "  configurations:",
        "    - context: soak01",
        "      platform: f39",
        "  profiles:",
        "    default:",
        "      rpms: [" + ", ".join(dag) + "]",
        "  api:",
        "    rpms: [" + ", ".join(dag) + "]",
        "  components:",
        "    rpms:",
    ]
    for component, after in dag.items():
        lines += [f"      {component}:", "        rationale: Soak component."]
        if after:
            lines.append("        buildafter: [" + ", ".join(after) + "]")
    return "\n".join(lines) + "\n"


# -- the site ------------------------------------------------------------------------------


@dataclass
class SoakSite(Site):
    """``bench/pipeline.py``'s site with ``count`` build workers."""

    count: int = 4
    poll_interval: int = 1

    @property
    def workers(self) -> list[Path]:
        return [self.root / "site" / f"worker{n}" for n in range(1, self.count + 1)]

    @property
    def publish(self) -> Path:
        return self.root / "publish"

    def create(self) -> None:
        run(str(BIN / "bbmod"), "distgit", "init", str(self.distgit))
        run(
            str(BIN / "bbmod"),
            "quickstart",
            str(self.root / "site"),
            "--distgit",
            str(self.distgit),
            "--publish",
            str(self.publish),
            "--platform",
            "f39",
            "--port",
            str(self.port),
            "--workers",
            str(self.count),
            "--worker-port",
            str(self.worker_port),
            "--poll-interval",
            str(self.poll_interval),
        )

    def start(self) -> None:
        try:
            run(str(BIN / "buildbot"), "start", str(self.master), timeout=120)
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.master_log()}") from None
        self.running.append(([str(BIN / "buildbot"), "stop", str(self.master)], self.master))
        for worker in self.workers:
            run(str(BIN / "buildbot-worker"), "start", str(worker), timeout=60)
            self.running.append(([str(BIN / "buildbot-worker"), "stop", str(worker)], worker))
        wait_for(lambda: self.connected_workers() >= self.count, "the workers to connect", 120)

    def trace_memory(self) -> None:
        """Make the master write what it allocated (tracemalloc) to tracemalloc.txt."""
        with open(self.master / "master.cfg", "a", encoding="utf-8") as f:
            f.write(TRACE_MEMORY)

    def master_pid(self) -> int:
        return int((self.master / "twistd.pid").read_text().strip())

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        return self.api(f"{path}?{query}" if query else path)

    def request_results(self, builder: str) -> dict[str, int]:
        """How the build requests of a (real) builder ended: SUCCESS, SKIPPED (collapsed
        into a newer request), …"""
        found = self.get("builders", name=builder)["builders"]
        if not found:
            return {}
        tally: dict[str, int] = {}
        requests = self.get("buildrequests", builderid=found[0]["builderid"])["buildrequests"]
        for r in requests:
            name = RESULTS.get(r["results"], str(r["results"])) if r["complete"] else "pending"
            tally[name] = tally.get(name, 0) + 1
        return tally

    def all_builds(self) -> list[dict[str, Any]]:
        """Every Buildbot build with the properties that say what it built."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.get(
                "builds",
                property=["component", "module_build_id", "module", "nsvcs"],
                order="buildid",
                limit=200,
                offset=len(out),
            )["builds"]
            out += page
            if len(page) < 200:
                return out


TRACE_MEMORY = """
# Added by bench/soak.py --trace-memory: what the master allocated since its first
# minute, by line (one frame: cheap enough under load), after a full garbage collection
# (what is left is reachable), appended every minute.
import gc as _gc
import tracemalloc as _tracemalloc

from twisted.internet import task as _task

_tracemalloc.start(1)
_first = []


def _dump_memory():
    _gc.collect()
    snapshot = _tracemalloc.take_snapshot()
    if not _first:
        _first.append(snapshot)
        return
    traced = _tracemalloc.get_traced_memory()[0] / 2**20
    lines = [f"traced now {traced:.1f} MiB"]
    lines += [str(s) for s in snapshot.compare_to(_first[0], "lineno")[:30]]
    with open(os.path.join(basedir, "tracemalloc.txt"), "a") as f:
        f.write("\\n".join(lines) + "\\n\\n")


_task.LoopingCall(_dump_memory).start(60, now=False)
"""


# -- the load ------------------------------------------------------------------------------


@dataclass
class Push:
    number: int
    at: float  # time.time() just before the commit
    kind: str  # "rpm" or "module"
    target: str  # package or module name
    commit: str
    expected: list[str]  # modules that must get a ready build covering it
    latency: dict[str, float] = field(default_factory=dict)  # module -> seconds


class Monitor(threading.Thread):
    """Samples the master's RSS every 2 s and notes when each registry build is first
    seen ready (every second)."""

    def __init__(self, registry: Registry, pid: int) -> None:
        super().__init__(daemon=True)
        self.registry, self.pid = registry, pid
        self.rss: list[tuple[float, float]] = []  # (time.time(), MiB)
        self.ready_at: dict[int, float] = {}
        self.builds: dict[int, ModuleBuildRecord] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.error = ""

    def run(self) -> None:
        tick = 0
        while not self.stopping.is_set():
            now = time.time()
            if tick % 2 == 0:
                rss = vm_rss(self.pid)
                if rss is not None:
                    self.rss.append((now, rss))
            try:
                builds = self.registry.module_builds(limit=None)
            except Exception as e:  # a locked SQLite file: try again next second
                self.error = str(e)
                builds = []
            with self.lock:
                for b in builds:
                    self.builds[b.id] = b
                    if b.state == "ready" and b.id not in self.ready_at:
                        self.ready_at[b.id] = now
            tick += 1
            self.stopping.wait(1.0)

    def ready_modules(self) -> set[str]:
        with self.lock:
            return {self.builds[i].name for i in self.ready_at}


def vm_rss(pid: int) -> float | None:
    """The process's resident set in MiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Load:
    """Commits to the site's dist-git: the burst, then one push at a time."""

    def __init__(self, site: SoakSite, modules: int, size: int, seed: int) -> None:
        self.site = site
        self.distgit = DistGit(str(site.distgit))
        self.dags = {module_name(i): components_of(i, size, modules) for i in range(1, modules + 1)}
        self.random = random.Random(seed)
        self.release: dict[str, int] = {}
        self.revision: dict[str, int] = {}
        # Commits of each repository in order: "rpms/<pkg>" or "modules/<name>".
        self.history: dict[str, list[str]] = {}
        self.pushes: list[Push] = []

    def packages(self) -> set[str]:
        return {p for dag in self.dags.values() for p in dag}

    def _import(self, rpms: list[str], modules: list[str]) -> dict[str, str]:
        source = Path(tempfile.mkdtemp(dir=self.site.root, prefix="push-"))
        try:
            for name in modules:
                folder = source / "modules" / name
                folder.mkdir(parents=True)
                text = module_yaml(name, self.dags[name], self.revision.setdefault(name, 1))
                (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
            for package in rpms:
                folder = source / "rpms" / package
                folder.mkdir(parents=True)
                release = self.release.setdefault(package, 1)
                spec = SPEC.format(name=package, release=release)
                (folder / f"{package}.spec").write_text(spec, encoding="utf-8")
            results = self.distgit.import_dir(str(source))
        finally:
            shutil.rmtree(source, ignore_errors=True)
        out = {}
        for r in results:
            key = f"{r.namespace}/{r.name}"
            if not r.changed:
                raise RuntimeError(f"soak: the import did not change {key}")
            self.history.setdefault(key, []).append(r.commit)
            out[key] = r.commit
        return out

    def burst(self) -> float:
        """Every package, then every module in one import; the moment the modules were
        committed. (One import commits modules/ first: the poller could start a build
        before its rpms/ repositories exist.)"""
        self._import(sorted(self.packages()), [])
        at = time.time()
        self._import([], sorted(self.dags))
        return at

    def push(self, ready: set[str]) -> Push:
        """One push: to a component of a module that has a ready build (it tracks its
        components), or, one time in six or when none is ready, to a module."""
        candidates = sorted({p for m in ready for p in self.dags[m]})
        number = len(self.pushes) + 1
        if candidates and self.random.random() >= 1 / 6:
            package = self.random.choice(candidates)
            self.release[package] += 1
            at = time.time()
            commit = self._import([package], [])[f"rpms/{package}"]
            expected = sorted(m for m in ready if package in self.dags[m])
            push = Push(number, at, "rpm", package, commit, expected)
        else:
            name = self.random.choice(sorted(self.dags))
            self.revision[name] += 1
            at = time.time()
            commit = self._import([], [name])[f"modules/{name}"]
            push = Push(number, at, "module", name, commit, [name])
        self.pushes.append(push)
        return push


# -- verification --------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    problems: list[str] = field(default_factory=list)


def idle(site: SoakSite, registry: Registry) -> bool:
    try:
        if site.get("buildrequests", complete="false", limit=1)["buildrequests"]:
            return False
        if site.get("builds", complete="false", limit=1)["builds"]:
            return False
    except OSError:  # a busy master answers late: not idle yet, ask again
        return False
    return not any(b.state in UNFINISHED for b in registry.module_builds(limit=None))


def wait_idle(site: SoakSite, registry: Registry, seconds: float, settle: float) -> float:
    """Wait until the site stays idle for ``settle`` s; the moment it became idle."""
    deadline = time.monotonic() + seconds
    since: float | None = None
    while time.monotonic() < deadline:
        if idle(site, registry):
            since = since or time.time()
            if time.time() - since >= settle:
                return since
        else:
            since = None
        time.sleep(1)
    raise TimeoutError(f"the site was not idle after {seconds:g} s")


def covering(
    load: Load, push: Push, builds: list[ModuleBuildRecord], ready_at: dict[int, float], reg: Any
) -> dict[str, float]:
    """Module → seconds from the push to its first ready build that has the pushed commit
    or a later one."""
    key = f"{push.kind}s/{push.target}"
    order = {c: n for n, c in enumerate(load.history[key])}
    wanted = order[push.commit]
    out: dict[str, float] = {}
    for module in push.expected:
        mine = sorted(
            (b for b in builds if b.name == module and b.id in ready_at),
            key=lambda b: ready_at[b.id],
        )
        for b in mine:
            if push.kind == "module":
                commit = b.commit
            else:
                commit = next(c.commit for c in reg[b.id] if c.package == push.target)
            if order.get(commit, -1) >= wanted:
                out[module] = ready_at[b.id] - push.at
                break
    return out


def verify_complete(
    load: Load,
    pushes: list[Push],
    builds: list[ModuleBuildRecord],
    ready_at: dict[int, float],
    components: dict[int, Any],
    bb_builds: list[dict[str, Any]],
) -> Check:
    problems = [
        f"{b.nsvc} (registry id {b.id}) is {b.state}: {b.state_reason}"
        for b in builds
        if b.state != "ready"
    ]
    names = {b.name for b in builds if b.state == "ready"}
    problems += [f"{m} has no ready build" for m in load.dags if m not in names]
    for push in pushes:
        push.latency = covering(load, push, builds, ready_at, components)
        missing = [m for m in push.expected if m not in push.latency]
        if missing:
            problems.append(
                f"push {push.number} ({push.kind}s/{push.target} {push.commit[:8]}): no ready"
                f" build of {', '.join(missing)} has it"
            )
    bad = [b for b in bb_builds if b["results"] in (2, 4)]
    problems += [
        f"Buildbot build {b['buildid']} ended {RESULTS[b['results']]}: {b['state_string']}"
        for b in bad
    ]
    covered = sum(len(p.expected) for p in pushes)
    detail = (
        f"{len(builds)} registry module builds, {len(names)}/{len(load.dags)} modules ready,"
        f" {len(pushes)} pushes ({covered} module rebuilds expected)"
    )
    return Check("complete", not problems, detail, problems)


def verify_once(
    load: Load,
    builds: list[ModuleBuildRecord],
    components: dict[int, Any],
    bb_builds: list[dict[str, Any]],
) -> tuple[Check, dict[str, int]]:
    problems: list[str] = []
    per: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for b in bb_builds:
        props = b.get("properties", {})
        if "component" in props and "module_build_id" in props:
            key = (int(props["module_build_id"][0]), str(props["component"][0]))
            per.setdefault(key, []).append(b)
    tally = {"built": 0, "reused": 0, "retried": 0, "cancelled": 0}
    for build in builds:
        rows = components[build.id]
        names = [c.name for c in rows]
        expected = load.dags[build.name]
        if sorted(names) != sorted(expected):
            problems.append(
                f"{build.nsvc}: registry components {sorted(names)} != {sorted(expected)}"
            )
        for c in rows:
            mine = per.pop((build.id, c.name), [])
            success = [x for x in mine if x["results"] == 0]
            for x in mine:
                if x["results"] in (5, 6):
                    tally["retried" if x["results"] == 5 else "cancelled"] += 1
                    if not x["state_string"]:
                        problems.append(f"{build.nsvc} {c.name}: build {x['buildid']} no reason")
                elif x["results"] != 0:
                    problems.append(
                        f"{build.nsvc} {c.name}: Buildbot build {x['buildid']}"
                        f" {RESULTS.get(x['results'], x['results'])}: {x['state_string']}"
                    )
            if c.state == "built":
                tally["built"] += 1
                if len(success) != 1:
                    problems.append(
                        f"{build.nsvc} {c.name}: {len(success)} successful component builds"
                        f" ({[x['buildid'] for x in success]})"
                    )
                elif success[0]["buildid"] != c.buildbot_build_id:
                    problems.append(
                        f"{build.nsvc} {c.name}: the registry names build {c.buildbot_build_id},"
                        f" Buildbot's success is {success[0]['buildid']}"
                    )
            elif c.state == "reused":
                tally["reused"] += 1
                if success:
                    problems.append(f"{build.nsvc} {c.name}: reused, yet built by {success}")
            else:
                problems.append(f"{build.nsvc} {c.name}: component state {c.state}")
    for (mid, name), rest in per.items():
        problems.append(f"component builds of {name} for unknown module build {mid}: {rest}")
    detail = (
        f"{tally['built']} components built once each, {tally['reused']} reused,"
        f" {tally['retried']} RETRY, {tally['cancelled']} CANCELLED"
    )
    return Check("no component built twice", not problems, detail, problems), tally


def nevras_in(folder: str) -> set[str]:
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".rpm"))
    return {h.nevra for h in rpm_headers(paths)}


def repoquery(root: Path, repo: str) -> set[str]:
    """Every package of ``repo`` as dnf sees it (modular filtering off), in a private
    installroot and cache."""
    where = Path(tempfile.mkdtemp(dir=root, prefix="dnf-"))
    try:
        out = run(
            "dnf",
            f"--installroot={where}",
            "--releasever=39",
            "--setopt=reposdir=/dev/null",
            "--disableplugin=*",
            f"--setopt=cachedir={where}/cache",
            f"--repofrompath=stage,file://{repo}",
            "--setopt=stage.module_hotfixes=true",
            "--repo=stage",
            "-q",
            "repoquery",
            "--qf",
            "%{name}-%{epoch}:%{version}-%{release}.%{arch}",
            timeout=300,
        )
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return {line.strip() for line in out.splitlines() if line.strip()}


def verify_published(
    site: SoakSite, builds: list[ModuleBuildRecord], registry: Registry
) -> tuple[Check, dict[str, int]]:
    problems: list[str] = []
    ready = [b for b in builds if b.state == "ready"]
    union: set[str] = set()
    for b in ready:
        wanted = {
            n
            for nevras in registry.artifacts(b.id).values()
            for n in nevras
            if not n.endswith(".src")
        }
        union |= wanted
        path = b.published_path
        if not path or not os.path.isdir(path):
            problems.append(f"{b.nsvc}: published_path {path!r} does not exist")
            continue
        have = nevras_in(path)
        if have != wanted:
            problems.append(
                f"{b.nsvc}: {path} has {sorted(have - wanted)} extra,"
                f" {sorted(wanted - have)} missing"
            )
    tree = {(p.name, p.stream, p.version, p.context) for p in published(str(site.publish))}
    registry_tree = {(b.name, b.stream, b.version, b.context) for b in ready}
    if tree != registry_tree:
        problems.append(
            f"stage tree vs ready builds: {sorted(tree - registry_tree)} not ready,"
            f" {sorted(registry_tree - tree)} not published"
        )
    aggregate = str(site.publish / "stage" / "repo")
    listed = repoquery(site.root, os.path.realpath(aggregate))
    if listed != union:
        problems.append(
            f"aggregate {aggregate}: {sorted(listed - union)[:10]} not in the registry,"
            f" {sorted(union - listed)[:10]} missing"
        )
    index = read_modules_metadata(os.path.realpath(aggregate))
    nsvcs: set[str] = set()
    if index is not None:
        for name in index.get_module_names():
            for s in index.get_module(name).get_all_streams():
                nsvcs.add(f"{name}:{s.get_stream_name()}:{s.get_version()}:{s.get_context()}")
    want_nsvcs = {b.nsvc for b in ready}
    if nsvcs != want_nsvcs:
        problems.append(
            f"aggregate modules: {sorted(nsvcs - want_nsvcs)} extra,"
            f" {sorted(want_nsvcs - nsvcs)} missing"
        )
    detail = (
        f"{len(ready)} ready builds published with their RPMs; the aggregate lists"
        f" {len(listed)} RPMs (union {len(union)}) and {len(nsvcs)} module builds"
    )
    return Check("registry = published", not problems, detail, problems), {
        "aggregate_rpms": len(listed),
        "aggregate_modules": len(nsvcs),
    }


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (time.time(), MiB) samples, in MiB per minute."""
    if len(samples) < 3:
        return 0.0
    ts = [t / 60 for t, _ in samples]
    ys = [y for _, y in samples]
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / den if den else 0.0


def verify_memory(
    rss: list[tuple[float, float]], push_start: float, push_end: float, tolerance: float
) -> tuple[Check, dict[str, float]]:
    if not rss:
        return Check("memory bounded", False, "no RSS sample of the master"), {}
    middle = push_start + (push_end - push_start) / 2
    half = [(t, y) for t, y in rss if middle <= t <= push_end]
    rate = slope(half)
    span = (push_end - middle) / 60
    growth = rate * span
    base = half[0][1] if half else rss[0][1]
    limit = max(tolerance * base, 16.0)
    figures = {
        "rss_start_mib": rss[0][1],
        "rss_max_mib": max(y for _, y in rss),
        "rss_end_mib": rss[-1][1],
        "rss_second_half_slope_mib_per_min": rate,
        "rss_second_half_growth_mib": growth,
        "rss_growth_limit_mib": limit,
        "rss_samples": float(len(rss)),
    }
    ok = len(half) >= 3 and growth <= limit
    detail = (
        f"VmRSS start {rss[0][1]:.0f} MiB, max {figures['rss_max_mib']:.0f}, end"
        f" {rss[-1][1]:.0f}; second half of the pushes: {rate:+.2f} MiB/min"
        f" ({growth:+.1f} MiB over {span:.1f} min; limit {limit:.0f} MiB; {len(half)} samples)"
    )
    return Check("memory bounded", ok, detail), figures


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} / {p95(values):.1f} (n {len(values)})"


# -- main ----------------------------------------------------------------------------------


@dataclass
class Options:
    modules: int = 20
    components: int = 4
    minutes: float = 10.0
    workers: int = 4
    push_every: float = 5.0
    poll_interval: int = 1
    checks: list[str] | None = None
    seed: int = 9
    drain_minutes: float = 30.0
    rss_growth: float = 0.10
    keep: bool = False
    trace_memory: bool = False


@dataclass
class Run:
    """What a finished run verified, for ``soak``'s ``inspect`` (the site still up)."""

    site: SoakSite
    registry: Registry
    load: Load
    monitor: Monitor
    builds: list[ModuleBuildRecord]
    components: dict[int, list[ComponentRecord]]
    bb_builds: list[dict[str, Any]]


def soak(
    opts: Options, out: Any = print, inspect: Callable[[Run], None] | None = None
) -> dict[str, Any]:
    """Run the whole scenario; the results (``ok``: every verification passed).
    ``inspect`` is called at the end, before the site stops."""
    for tool in ("rpmbuild", "createrepo_c", "git", "dnf"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"needs {tool} (run make setup)")
    root = Path(tempfile.mkdtemp(prefix="bbmod-soak-"))
    site = SoakSite(root, count=opts.workers, poll_interval=opts.poll_interval)
    results: dict[str, Any] = {"options": asdict(opts), "machine": machine()[0]}
    monitor: Monitor | None = None
    try:
        site.create()
        settings: dict[str, Any] = {"backend": "rpmbuild"}
        if opts.checks is not None:
            settings["checks"] = opts.checks
        site.configure(**settings)
        if opts.trace_memory:
            site.trace_memory()
        site.start()
        registry = site.registry()
        monitor = Monitor(registry, site.master_pid())
        monitor.start()
        load = Load(site, opts.modules, opts.components, opts.seed)
        time.sleep(2)  # a first RSS sample of the idle master
        burst_at = load.burst()
        total = sum(len(d) for d in load.dags.values())
        out(f"burst: {opts.modules} modules, {total} components committed at once")
        # A module's version is its newest commit time in whole seconds: a push in the
        # burst's second could get the burst build's NSVC (docs/reliability.md, Load).
        time.sleep(2)
        push_start = time.time()
        push_end = push_start + opts.minutes * 60
        next_push = push_start
        while time.time() < push_end:
            if time.time() >= next_push:
                p = load.push(monitor.ready_modules())
                out(
                    f"  {p.at - push_start:6.1f} s push {p.number}: {p.kind}s/{p.target}"
                    f" -> {', '.join(p.expected)}"
                )
                next_push += opts.push_every
            if not alive(site.master_pid()):
                raise RuntimeError(f"the master died\n{site.master_log()}")
            time.sleep(0.2)
        push_end = time.time()
        out(f"pushes done ({len(load.pushes)}); waiting for the site to be idle")
        time.sleep(3 * opts.poll_interval + 2)  # the poller sees the last push
        idle_at = wait_idle(site, registry, opts.drain_minutes * 60, settle=5)
        out(f"idle {idle_at - push_end:.0f} s after the last push")
        time.sleep(65 if opts.trace_memory else 2)  # one more tracemalloc dump, idle
        monitor.stopping.set()
        monitor.join()

        builds = registry.module_builds(limit=None)
        components = {b.id: registry.components(b.id) for b in builds}
        bb_builds = site.all_builds()
        checks = [
            verify_complete(load, load.pushes, builds, monitor.ready_at, components, bb_builds)
        ]
        once, tally = verify_once(load, builds, components, bb_builds)
        checks.append(once)
        pub, pub_figures = verify_published(site, builds, registry)
        checks.append(pub)
        mem, mem_figures = verify_memory(monitor.rss, push_start, push_end, opts.rss_growth)
        checks.append(mem)

        minutes = (idle_at - burst_at) / 60
        ready = [b for b in builds if b.state == "ready"]
        first: dict[str, ModuleBuildRecord] = {}
        for b in sorted(ready, key=lambda b: monitor.ready_at.get(b.id, 0)):
            first.setdefault(b.name, b)
        burst_latency = [monitor.ready_at[b.id] - burst_at for b in first.values()]
        push_latency = [s for p in load.pushes for s in p.latency.values()]
        # Pushes once the burst is all ready: the steady state, no backlog of first builds.
        burst_done = burst_at + max(burst_latency, default=0.0)
        steady = [s for p in load.pushes if p.at >= burst_done for s in p.latency.values()]
        module_results: dict[str, int] = {}
        component_results: dict[str, int] = {}
        for bb in bb_builds:
            props = bb.get("properties", {})
            tally_of = component_results if "component" in props else module_results
            if "module" in props or "component" in props:
                name = RESULTS.get(bb["results"], str(bb["results"]))
                tally_of[name] = tally_of.get(name, 0) + 1
        results.update(
            {
                "ok": all(c.ok for c in checks),
                "checks": [asdict(c) for c in checks],
                "modules": opts.modules,
                "components": total,
                "pushes": len(load.pushes),
                "push_kinds": {
                    k: sum(1 for p in load.pushes if p.kind == k) for k in ("rpm", "module")
                },
                "module_builds": len(builds),
                "ready_builds": len(ready),
                "components_built": tally["built"],
                "components_reused": tally["reused"],
                "buildbot_module_builds": module_results,
                "module_requests": site.request_results("modules"),
                # A module build whose resolve step found every build it would make
                # already there sets no "nsvcs" ("already built: …").
                "already_built": sum(
                    1
                    for b in bb_builds
                    if "module" in b.get("properties", {})
                    and "component" not in b["properties"]
                    and "nsvcs" not in b["properties"]
                    and b["results"] in (0, 1)
                ),
                "buildbot_component_builds": component_results,
                "minutes_burst_to_idle": minutes,
                "drain_seconds": idle_at - push_end,
                "component_builds_per_min": tally["built"] / minutes,
                "module_builds_per_min": len(ready) / minutes,
                "burst_all_ready_s": max(burst_latency) if burst_latency else None,
                "burst_latency_s": burst_latency,
                "push_latency_s": push_latency,
                "push_records": [asdict(p) for p in load.pushes],
                "push_latency_median_s": statistics.median(push_latency) if push_latency else None,
                "push_latency_p95_s": p95(push_latency) if push_latency else None,
                "push_latency_steady_s": steady,
                "rss": mem_figures,
                "rss_samples": monitor.rss,
                **pub_figures,
            }
        )
        report(results, out)
        if inspect is not None:
            inspect(Run(site, registry, load, monitor, builds, components, bb_builds))
        return results
    finally:
        if monitor is not None:
            monitor.stopping.set()
        site.stop()
        traced = site.master / "tracemalloc.txt"
        if opts.trace_memory and traced.exists():
            blocks = traced.read_text(encoding="utf-8").strip().split("\n\n")
            out(f"master allocations since its first minute ({traced}, the last of each minute):")
            out(blocks[-1])
        if opts.keep:
            out(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def report(r: dict[str, Any], out: Any) -> None:
    o = r["options"]
    out("")
    out(r["machine"])
    out(
        f"{o['modules']} modules ({r['components']} components), {o['workers']} workers,"
        f" {r['pushes']} pushes over {o['minutes']:g} min (every {o['push_every']:g} s:"
        f" {r['push_kinds']['rpm']} rpm, {r['push_kinds']['module']} module),"
        f" poll {o['poll_interval']} s, checks {o['checks'] or 'default (6)'}"
    )
    out(
        f"module builds: {r['module_builds']} in the registry, {r['ready_builds']} ready;"
        f" Buildbot module builds {r['buildbot_module_builds']},"
        f" component builds {r['buildbot_component_builds']}; module build requests"
        f" {r['module_requests']} (SKIPPED: collapsed into a newer one), {r['already_built']}"
        " ended 'already built'"
    )
    out(
        f"throughput, burst to idle ({r['minutes_burst_to_idle']:.1f} min):"
        f" {r['component_builds_per_min']:.1f} component builds/min,"
        f" {r['module_builds_per_min']:.1f} module builds/min"
        f" ({r['components_built']} built, {r['components_reused']} reused)"
    )
    out(
        f"latency: burst submit -> ready {spread(r['burst_latency_s'])} s, all ready after"
        f" {r['burst_all_ready_s']:.0f} s; push -> ready {spread(r['push_latency_s'])} s,"
        f" after the burst {spread(r['push_latency_steady_s'])} s; drain"
        f" {r['drain_seconds']:.0f} s"
    )
    for c in r["checks"]:
        out(f"{'PASS' if c['ok'] else 'FAIL'}  {c['name']}: {c['detail']}")
        for problem in c["problems"][:20]:
            out(f"      {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=20, help="modules in the burst (20)")
    parser.add_argument(
        "--components", type=int, default=4, help="components per odd module; even: one less (4)"
    )
    parser.add_argument("--minutes", type=float, default=10, help="minutes of pushes (10)")
    parser.add_argument("--workers", type=int, default=4, help="build workers (4)")
    parser.add_argument("--push-every", type=float, default=5, help="seconds between pushes (5)")
    parser.add_argument("--poll-interval", type=int, default=1, help="dist-git poll, s (1)")
    parser.add_argument(
        "--checks",
        help="comma-separated checks instead of the six defaults (e.g. modules.modulemd)",
    )
    parser.add_argument("--seed", type=int, default=9, help="random seed of the pushes (9)")
    parser.add_argument("--drain-minutes", type=float, default=30, help="idle timeout (30)")
    parser.add_argument("--rss-growth", type=float, default=0.10, help="RSS growth allowed")
    parser.add_argument("--json", help="save the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="trace the master's allocations (tracemalloc; slower) and print the growth",
    )
    args = parser.parse_args(argv)
    if not 3 <= args.components <= 6:
        parser.error("--components must be 3 to 6")
    if args.push_every < 1:
        parser.error("--push-every must be at least 1 s (versions are whole seconds)")
    opts = Options(
        modules=args.modules,
        components=args.components,
        minutes=args.minutes,
        workers=args.workers,
        push_every=args.push_every,
        poll_interval=args.poll_interval,
        checks=args.checks.split(",") if args.checks else None,
        seed=args.seed,
        drain_minutes=args.drain_minutes,
        rss_growth=args.rss_growth,
        keep=args.keep,
        trace_memory=args.trace_memory,
    )
    results = soak(opts, out=lambda line: print(line, flush=True))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
