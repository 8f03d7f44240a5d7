"""Benchmark push webhooks: from the webhook's POST to the module build request.

A real site as ``bench/pipeline.py`` makes one (``bbmod distgit init``, ``bbmod
quickstart``, ``buildbot start``), with polling off (``poll_interval = 0``) and two
webhook sources, ``pagure`` and ``forgejo`` (``settings.toml`` ``[webhooks.*]``, secrets in
files). Its one build worker is not started: module builds get their request, fetch,
load, resolve and plan, then wait for it, so nothing else loads the machine.

Each round commits a new version of ``modules/lat`` to the dist-git (as a push to the
forge does before its webhook fires), then posts the signed webhook of one dialect and
measures, from just before the POST:

* answer: until the master's HTTP answer (the change is in the database by then);
* request: until the module build request (buildset "push to modules/lat main") is
  visible in the REST API, which the bench polls every 2 ms;
* started: until the module build of that request has started (a build of the
  ``modules`` builder exists for it in the REST API; polled every 5 ms). The bench then
  stops that build (it would wait for the absent worker) before the next round, since a
  module stream builds one at a time.

With ``--json PATH`` the medians and p95s go to ``PATH`` for ``bench/run_all.py``.

Run from the repository root:

    .venv/bin/python bench/push_latency.py --pushes 50
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from pipeline import free_port, run  # bench/pipeline.py: the same helpers
from results import Figure, p95, write

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.hooks import signature

BIN = Path(sys.executable).parent
REASON = "push to modules/lat main"
KEY = "bench-webhook-key"
MODULE = """\
document: modulemd-packager
version: 3
data:
  summary: Push latency, round {round}
  description: Push latency.
  license: [MIT]
  configurations:
    - context: ctx1
      platform: f39
  components:
    rpms:
      lat-pkg:
        rationale: the payload
"""
SPEC = """\
Name:           lat-pkg
Version:        1.0
Release:        1%{?dist}
Summary:        Payload
License:        MIT
BuildArch:      noarch

%description
Payload.

%install
mkdir -p %{buildroot}/usr/share/lat-pkg
echo x > %{buildroot}/usr/share/lat-pkg/x

%files
/usr/share/lat-pkg/x
"""


class Site:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.master = root / "site" / "master"
        self.distgit = root / "distgit"
        self.started = False
        self.session = requests.Session()

    def create(self) -> None:
        run(str(BIN / "bbmod"), "distgit", "init", str(self.distgit))
        run(
            str(BIN / "bbmod"),
            "quickstart",
            str(self.root / "site"),
            "--distgit",
            str(self.distgit),
            "--publish",
            str(self.root / "publish"),
            "--platform",
            "f39",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--worker-port",
            str(free_port()),
            "--poll-interval",
            "0",
        )
        (self.master / "webhook.key").write_text(KEY + "\n", encoding="utf-8")
        os.chmod(self.master / "webhook.key", 0o600)
        with (self.master / "settings.toml").open("a", encoding="utf-8") as f:
            for dialect in ("pagure", "forgejo"):
                f.write(
                    f'\n[webhooks.{dialect}]\ndialect = "{dialect}"\nsecret_file = "webhook.key"\n'
                )

    def start(self) -> None:
        run(str(BIN / "buildbot"), "start", str(self.master))
        self.started = True
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if self.session.get(self.api("builders"), timeout=5).ok:
                    return
            time.sleep(0.2)
        raise RuntimeError("the master did not start (see its twistd.log)")

    def stop(self) -> None:
        if self.started:
            subprocess.run(
                [str(BIN / "buildbot"), "stop", str(self.master)],
                capture_output=True,
                check=False,
                timeout=120,
            )

    def api(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2/{path}"

    def last_request(self) -> int:
        """The id of the newest module build request made by a push, or 0."""
        url = self.api("buildsets?order=-bsid&limit=5")
        sets = self.session.get(url, timeout=10).json()["buildsets"]
        return max((b["bsid"] for b in sets if b["reason"] == REASON), default=0)

    def push(self, round_: int) -> str:
        source = self.root / f"push-{round_}"
        (source / "modules" / "lat").mkdir(parents=True)
        (source / "modules" / "lat" / "lat.yaml").write_text(MODULE.format(round=round_))
        (source / "rpms" / "lat-pkg").mkdir(parents=True)
        (source / "rpms" / "lat-pkg" / "lat-pkg.spec").write_text(SPEC)
        results = DistGit(str(self.distgit)).import_dir(str(source))
        return next(r.commit for r in results if r.name == "lat")

    def webhook(self, dialect: str, rev: str) -> tuple[str, bytes, dict[str, str]]:
        url = f"http://127.0.0.1:{self.port}/change_hook/{dialect}"
        if dialect == "pagure":
            body: dict[str, Any] = {
                "topic": "git.receive",
                "msg_id": f"2026-{uuid.uuid4()}",
                "timestamp": int(time.time()),
                "i": 1,
                "msg": {
                    "repo": {"name": "lat", "namespace": "modules", "fullname": "modules/lat"},
                    "branch": "main",
                    "start_commit": rev,
                    "end_commit": rev,
                    "total_commits": 1,
                    "agent": "bench",
                },
            }
            raw = json.dumps(body, sort_keys=True).encode()
            headers = {
                "X-Pagure-Topic": "git.receive",
                "X-Pagure-Signature-256": signature(KEY, raw),
            }
        else:
            body = {
                "ref": "refs/heads/main",
                "before": "0" * 40,
                "after": rev,
                "repository": {"name": "lat", "full_name": "modules/lat"},
                "pusher": {"login": "bench"},
                "commits": [{"id": rev, "message": "bench"}],
            }
            raw = json.dumps(body).encode()
            headers = {
                "X-Forgejo-Event": "push",
                "X-Forgejo-Delivery": str(uuid.uuid4()),
                "X-Forgejo-Signature": signature(KEY, raw),
            }
        headers["Content-Type"] = "application/json"
        return url, raw, headers

    def started_build(self, bsid: int) -> int:
        """The id of the build started for buildset ``bsid``, or 0."""
        url = self.api(f"buildrequests?buildsetid={bsid}")
        for request in self.session.get(url, timeout=10).json()["buildrequests"]:
            url = self.api(f"builds?buildrequestid={request['buildrequestid']}")
            builds = self.session.get(url, timeout=10).json()["builds"]
            if builds:
                return int(builds[0]["buildid"])
        return 0

    def stop_build(self, buildid: int) -> None:
        body = {"jsonrpc": "2.0", "method": "stop", "id": 1, "params": {"reason": "bench"}}
        self.session.post(self.api(f"builds/{buildid}"), json=body, timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            build = self.session.get(self.api(f"builds/{buildid}"), timeout=10).json()["builds"]
            if build and build[0]["complete"]:
                return
            time.sleep(0.05)
        raise RuntimeError(f"build {buildid} did not stop within 60 s")

    def measure(self, dialect: str, round_: int) -> tuple[float, float, float]:
        before = self.last_request()
        rev = self.push(round_)
        url, raw, headers = self.webhook(dialect, rev)
        start = time.perf_counter()
        response = self.session.post(url, data=raw, headers=headers, timeout=30)
        answered = time.perf_counter() - start
        if response.status_code != 202 or not response.text.startswith("change"):
            raise RuntimeError(f"{dialect}: {response.status_code} {response.text}")
        while (bsid := self.last_request()) <= before:
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"{dialect}: no build request after 30 s")
            time.sleep(0.002)
        requested = time.perf_counter() - start
        while not (buildid := self.started_build(bsid)):
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"{dialect}: no module build started after 30 s")
            time.sleep(0.005)
        started = time.perf_counter() - start
        self.stop_build(buildid)
        return answered, requested, started


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = statistics.quantiles(ms, n=20)[18] if len(ms) >= 2 else ms[0]
    return (
        f"median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms"
        f"  min {ms[0]:6.1f}  max {ms[-1]:6.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=50, help="pushes per dialect (50)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", help="write the headline figures here (run_all.py)")
    args = parser.parse_args(argv)
    for tool in ("git", "rpmspec"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (run make setup)", file=sys.stderr)
            return 2
    root = Path(tempfile.mkdtemp(prefix="bbmod-bench-hooks-"))
    site = Site(root)
    figures: dict[str, tuple[list[float], list[float], list[float]]] = {
        "pagure": ([], [], []),
        "forgejo": ([], [], []),
    }
    try:
        site.create()
        site.start()
        site.measure("pagure", 0)  # warm-up: first change, scheduler, connections
        round_ = 1
        for _ in range(args.pushes):
            for dialect, (answers, requests_, starts) in figures.items():
                answered, requested, started = site.measure(dialect, round_)
                answers.append(answered)
                requests_.append(requested)
                starts.append(started)
                round_ += 1
    finally:
        site.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"push webhooks, {args.pushes} pushes per dialect; {platform.node()}:"
        f" {platform.system()} {platform.release()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}"
    )
    for dialect, (answers, requests_, starts) in figures.items():
        print(f"{dialect:8} POST -> 202 answer      {summary(answers)}")
        print(f"{dialect:8} POST -> build request   {summary(requests_)}")
        print(f"{dialect:8} POST -> build started   {summary(starts)}")
    starts = [v for _a, _r, s in figures.values() for v in s]
    write(
        args.json,
        "push_latency",
        [
            Figure(
                "push (webhook POST) -> module build started, median / p95",
                f"{statistics.median(starts) * 1000:.0f} / {p95(starts) * 1000:.0f} ms"
                f" (n={len(starts)})",
                "<= 1 s",
                p95(starts) <= 1.0,
                note="both dialects; POST -> build request "
                + ", ".join(
                    f"{d} {statistics.median(r) * 1000:.0f} ms"
                    for d, (_a, r, _s) in figures.items()
                ),
            )
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
