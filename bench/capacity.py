"""Capacity: component builds per minute that one master, then two masters, orchestrate,
against bare Buildbot ``Trigger`` fan-out of as many trivial builds, in the same run.

A real site as ``bench/pipeline.py`` makes one (``bbmod quickstart``, ``buildbot start``,
``buildbot-worker start``) with 8 build workers on this machine, ``backend = "noop"``
(every step of a component build runs but the build itself: sources archived,
transferred and unpacked, an empty upload, the registry record; ``--backend rpmbuild``
runs ``rpmbuild -ba`` of an empty noarch spec instead), checks off. For each run the
figures are:

* builds/min = N / (last component build's end - first one's start), Buildbot's data API
  (whole seconds);
* each master's CPU seconds (utime + stime from ``/proc``) over the run and its RSS
  (VmRSS) at the end.

Runs: (1) one master: a module of N independent components; (2) the same master: a
``Trigger`` step fanning out N builds of a builder whose one step is ``true`` (bare
Buildbot, the reference: no sources, no RPMs); (3) two masters sharing a PostgreSQL
database and registry and a Crossbar router (as ``tests/test_multimaster.py``), 4
workers each: a module of N independent components. (1) and (2) use the embedded SQLite
database; (3) needs ``make crossbar`` and the postgresql package.

Run from the repository root:

    .venv/bin/python bench/capacity.py            # N = 48
    .venv/bin/python bench/capacity.py -n 24      # quicker
    .venv/bin/python bench/capacity.py --one-master -n 24   # no PostgreSQL/Crossbar run

With ``--json PATH`` the headline figures go to PATH for ``bench/run_all.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import BIN, Site, free_port, run, wait_for
from results import Figure, machine, write

WORKERS = 8
BARE_CFG = """
# Added by bench/capacity.py: bare Buildbot fan-out, the reference.
from buildbot.plugins import schedulers as _s, steps as _st, util as _u, worker as _w
from buildbot.steps.trigger import Trigger as _Trigger


class _FanOut(_Trigger):
    def getSchedulersAndProperties(self):
        count = int(self.getProperty("count"))
        return [{"sched_name": "bench-bare", "props_to_set": {"n": n}, "unimportant": False}
                for n in range(count)]


c.setdefault("workers", []).append(_w.LocalWorker("bench-fan"))
_bare = _u.BuildFactory([_st.ShellCommand(command=["true"], logEnviron=False)])
_fan = _u.BuildFactory([_FanOut(schedulerNames=["bench-bare"], waitForFinish=True)])
c.setdefault("builders", []).extend([
    _u.BuilderConfig(name="bench-bare", workernames=[f"worker{i}" for i in range(1, 9)],
                     factory=_bare, collapseRequests=False),
    _u.BuilderConfig(name="bench-fan", workernames=["bench-fan"], factory=_fan),
])
c.setdefault("schedulers", []).extend([
    _s.Triggerable(name="bench-bare", builderNames=["bench-bare"]),
    _s.ForceScheduler(name="bench-fan", builderNames=["bench-fan"],
                      properties=[_u.StringParameter(name="count", default="10")]),
])
"""


class _Cleanups:
    """What tests/postgresql.py and tests/crossbar.py need of a test case."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()

    def addCleanup(self, f: Any, *args: Any, **kwargs: Any) -> None:
        self.stack.callback(f, *args, **kwargs)


def pid_of(folder: Path) -> int:
    return int((folder / "twistd.pid").read_text().strip())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rate(builds: list[dict[str, Any]]) -> tuple[float, float]:
    """(builds per minute, seconds) from the first start to the last end."""
    start = min(b["started_at"] for b in builds)
    end = max(b["complete_at"] for b in builds)
    span = max(end - start, 1)
    return len(builds) * 60 / span, float(span)


def independent(n: int) -> dict[str, tuple[int, tuple[str, ...]]]:
    return {f"c{i:03d}": (0, ()) for i in range(n)}


def component_builds(api: str, module: str) -> list[dict[str, Any]]:
    builds = requests.get(f"{api}/builds", params={"property": "*"}, timeout=30).json()["builds"]
    return [
        b
        for b in builds
        if b["properties"].get("module", [None])[0] == module and "component" in b["properties"]
    ]


def measure_module(
    site: Site, apis: list[str], masters: list[Path], module: str, n: int
) -> dict[str, Any]:
    pids = [pid_of(m) for m in masters]
    cpu0 = [cpu_seconds(p) for p in pids]
    site.build(module, module, independent(n))
    builds = component_builds(apis[0], module)
    per_min, span = rate(builds)
    return {
        "run": f"module, {len(masters)} master(s)",
        "builds": len(builds),
        "seconds": span,
        "per_min": per_min,
        "cpu": [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)],
        "rss": [rss_mib(p) for p in pids],
        "by_master": sorted({b["masterid"] for b in builds}),
    }


def measure_bare(site: Site, n: int) -> dict[str, Any]:
    api = f"http://127.0.0.1:{site.port}/api/v2"
    pid = pid_of(site.master)
    cpu0 = cpu_seconds(pid)
    builders = requests.get(f"{api}/builders", timeout=10).json()["builders"]
    fan = next(b["builderid"] for b in builders if b["name"] == "bench-fan")
    bare = next(b["builderid"] for b in builders if b["name"] == "bench-bare")
    body = {
        "jsonrpc": "2.0",
        "method": "force",
        "id": 1,
        "params": {"builderid": fan, "count": str(n)},
    }
    reply = requests.post(f"{api}/forceschedulers/bench-fan", json=body, timeout=30)
    reply.raise_for_status()

    def done() -> list[dict[str, Any]] | None:
        builds = requests.get(f"{api}/builders/{bare}/builds", timeout=30).json()["builds"]
        complete = [b for b in builds if b["complete"]]
        return complete if len(complete) >= n else None

    builds = wait_for(done, "the bare builds", 300)
    per_min, span = rate(builds)
    return {
        "run": "bare Trigger fan-out, 1 master",
        "builds": len(builds),
        "seconds": span,
        "per_min": per_min,
        "cpu": [cpu_seconds(pid) - cpu0],
        "rss": [rss_mib(pid)],
        "by_master": [],
    }


def two_masters(site: Site, n: int, cleanups: _Cleanups) -> dict[str, Any]:
    """Restart the site as two masters on PostgreSQL + Crossbar, 4 workers each."""
    from tests.crossbar import start_crossbar
    from tests.postgresql import add_database, start_postgresql

    site.stop()
    # A fresh database has seen no dist-git head: start from an empty dist-git, or the
    # poller would request every earlier module again.
    shutil.rmtree(site.distgit)
    run(str(BIN / "bbmod"), "distgit", "init", str(site.distgit))
    registry_url = start_postgresql(cleanups)  # type: ignore[arg-type]
    db_url = add_database(registry_url, "buildbot")
    router = start_crossbar(cleanups)  # type: ignore[arg-type]
    first = site.master
    second = first.parent / "master2"
    run(str(BIN / "buildbot"), "create-master", "--relocatable", "--quiet", str(second))
    shutil.copy(first / "master.cfg", second / "master.cfg")
    site.configure(
        db_url=db_url,
        registry_url=registry_url,
        mq="wamp",
        mq_router_url=router,
        artifacts=str(site.root / "artifacts"),
    )
    common = (first / "settings.toml").read_text(encoding="utf-8")
    www2, pb2 = free_port(), free_port()
    text = re.sub(r"(?m)^www_port = .*$", f'www_port = "tcp:{www2}:interface=127.0.0.1"', common)
    text = re.sub(r"(?m)^url = .*$", f'url = "http://127.0.0.1:{www2}/"', text)
    text = re.sub(r"(?m)^worker_port = .*$", f'worker_port = "tcp:{pb2}:interface=127.0.0.1"', text)
    (second / "settings.toml").write_text(text, encoding="utf-8")
    for worker in site.workers[WORKERS // 2 :]:
        tac = worker / "buildbot.tac"
        tac.write_text(
            re.sub(r"(?m)^port = .*$", f"port = {pb2}", tac.read_text()), encoding="utf-8"
        )
    run(str(BIN / "buildbot"), "upgrade-master", str(first), timeout=180)
    for folder in (first, second):
        run(str(BIN / "buildbot"), "start", str(folder), timeout=120)
        site.running.append(([str(BIN / "buildbot"), "stop", str(folder)], folder))
    for worker in site.workers:
        run(str(BIN / "buildbot-worker"), "start", str(worker), timeout=60)
        site.running.append(([str(BIN / "buildbot-worker"), "stop", str(worker)], worker))
    wait_for(lambda: site.connected_workers() >= WORKERS, "the workers to connect", 90)
    site.registry = lambda: __import__("buildbot_modules.registry").registry.Registry(registry_url)  # type: ignore[method-assign]
    apis = [f"http://127.0.0.1:{site.port}/api/v2"]
    return measure_module(site, apis, [first, second], "captwo", n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=48, help="component builds per run")
    parser.add_argument("--json", help="also write the headline figures to this file")
    parser.add_argument("--backend", choices=["noop", "rpmbuild"], default="noop")
    parser.add_argument(
        "--one-master", action="store_true", help="skip the two-master run (PostgreSQL)"
    )
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bbmod-capacity-"))
    site = Site(root, slots=WORKERS)
    load_before = os.getloadavg()[0]
    cleanups = _Cleanups()
    rows = []
    try:
        site.create()
        site.configure(backend=args.backend, checks=[])  # type: ignore[arg-type]
        with open(site.master / "master.cfg", "a", encoding="utf-8") as f:
            f.write(BARE_CFG)
        site.start()
        api = f"http://127.0.0.1:{site.port}/api/v2"
        site.build("capwarm", "capwarm", independent(WORKERS))  # warm-up
        rows.append(measure_module(site, [api], [site.master], "capone", args.n))
        rows.append(measure_bare(site, args.n))
        try:
            if not args.one_master:
                rows.append(two_masters(site, args.n, cleanups))
        except Exception as e:
            if type(e).__name__ != "SkipTest":
                raise
            print(f"two masters skipped: {e}")
    finally:
        site.stop()
        cleanups.stack.close()
        shutil.rmtree(root, ignore_errors=True)
    # The load average says whether other work shared the cores (a shared machine).
    print(machine())
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"\n{args.n} builds per run, {WORKERS} local worker processes, {args.backend} backend\n")
    print("| run | builds | seconds | builds/min | master CPU s | master RSS MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cpu = " + ".join(f"{c:.1f}" for c in r["cpu"])
        rss = " + ".join(f"{m:.0f}" for m in r["rss"])
        cells = [r["run"], r["builds"], f"{r['seconds']:.0f}", f"{r['per_min']:.0f}", cpu, rss]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    write(args.json, "capacity", figures(rows, args.backend), json.dumps(rows))
    return 0


def figures(rows: list[dict[str, Any]], backend: str) -> list[Figure]:
    """One figure per run: builds/min, with the master's CPU and RSS in the note."""
    out = []
    for r in rows:
        cpu = " + ".join(f"{c:.1f}" for c in r["cpu"])
        rss = " + ".join(f"{m:.0f}" for m in r["rss"])
        what = r["run"] if r["run"].startswith("bare") else f"{r['run']}, {backend} backend"
        out.append(
            Figure(
                f"builds/min: {what}",
                f"{r['per_min']:.0f} ({r['builds']} in {r['seconds']:.0f} s)",
                note=f"master CPU {cpu} s, RSS {rss} MiB",
            )
        )
    return out


if __name__ == "__main__":
    sys.exit(main())
