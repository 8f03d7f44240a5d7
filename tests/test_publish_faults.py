"""Publishing when things go wrong (docs/reliability.md): the writer killed with SIGKILL at
each point of a publish, the disk full during the copy and during the aggregate rebuild,
a read-only publish root, an interrupted promotion to production. Every time, what was
published before stays a valid repository (every file repomd.xml and the primary
metadata name is there with its checksum; dnf reads it), nothing half-made is visible,
the error says where, what and what to do, and the next publish succeeds.

The direct tests call ``publish()`` (in-process, or in a child process to kill it) with
the real tools, on a tmpfs publish root where the disk has to fill up; the site tests
(``PublishFaultsSite``) run a real master and workers, as tests/test_pipeline.py does.
The exact moment of a kill comes from the test hook ``BBMOD_FAULT_PAUSE_PUBLISH``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

import requests
from twisted.trial import unittest

from buildbot_modules.compose import ComposeResult, read_modules_metadata
from buildbot_modules.core.problems import ModuleError
from buildbot_modules.publish import FAULT_PAUSE_ENV, FAULT_POINTS, published
from buildbot_modules.publish import publish as publish_compose
from buildbot_modules.registry import Registry

from .helpers import ROOT, tempdir, write
from .test_compose import ARCH, VERSION, ComposeTestBase
from .test_pipeline import BIN, SPEC, free_port, module_yaml, run

REPO_NS = "{http://linux.duke.edu/metadata/repo}"
COMMON_NS = "{http://linux.duke.edu/metadata/common}"
DEMO = f"demo:main:{VERSION}:demo01:{ARCH}"
OTHER = f"other:1.0:{VERSION}:other01:{ARCH}"


# ------------------------------------------------------------------------------ checks


def _digest(path: str, kind: str) -> str:
    h = hashlib.new("sha1" if kind == "sha" else kind)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def repository_problems(repo: str) -> list[str]:
    """What is wrong with the repository ``repo`` (empty when it is valid): every file
    ``repodata/repomd.xml`` names exists with its declared checksum, and so does every
    package the primary metadata names. Written for the tests, independent of publish.py."""
    repomd = os.path.join(repo, "repodata", "repomd.xml")
    try:
        root = ET.parse(repomd).getroot()
    except (OSError, ET.ParseError) as e:
        return [f"{repomd}: {e}"]
    problems = []
    primary = None
    for data in root.iter(f"{REPO_NS}data"):
        location, checksum = data.find(f"{REPO_NS}location"), data.find(f"{REPO_NS}checksum")
        if location is None or checksum is None:
            problems.append(f"{repomd}: a {data.get('type')} record without location/checksum")
            continue
        path = os.path.join(repo, location.get("href", ""))
        if not os.path.isfile(path):
            problems.append(f"{path}: named by repomd.xml, missing")
        elif _digest(path, checksum.get("type", "sha256")) != (checksum.text or "").strip():
            problems.append(f"{path}: checksum differs from repomd.xml")
        elif data.get("type") == "primary":
            primary = path
    if primary is None:
        return problems or [f"{repomd}: no primary metadata"]
    opener: Any = gzip.open if primary.endswith(".gz") else open
    with opener(primary, "rb") as f:
        packages = ET.parse(f).getroot()
    for package in packages.iter(f"{COMMON_NS}package"):
        location, checksum = (
            package.find(f"{COMMON_NS}location"),
            package.find(f"{COMMON_NS}checksum"),
        )
        assert location is not None and checksum is not None
        path = os.path.join(repo, location.get("href", ""))
        if not os.path.isfile(path):
            problems.append(f"{path}: named by the primary metadata, missing")
        elif _digest(path, checksum.get("type", "sha256")) != (checksum.text or "").strip():
            problems.append(f"{path}: checksum differs from the primary metadata")
    return problems


def modules_in(repo: str) -> list[str]:
    index = read_modules_metadata(repo)
    if index is None:
        return []
    return sorted(
        s.get_NSVCA()
        for name in index.get_module_names()
        for s in index.get_module(name).get_all_streams()
    )


def dnf_module_list(case: unittest.TestCase, repo: str) -> str:
    """``dnf module list`` of ``repo`` in a private installroot (the real client reads it)."""
    root = tempdir(case)
    proc = subprocess.run(
        [
            "dnf",
            f"--installroot={root}",
            "--releasever=39",
            "--setopt=reposdir=/dev/null",
            "--disableplugin=local",
            "--disableplugin=generate_completion_cache",
            "--setopt=module_platform_id=platform:f39",
            f"--setopt=cachedir={root}/.cache",
            f"--repofrompath=check,file://{repo}",
            "--repo=check",
            "--nogpgcheck",
            "module",
            "list",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "LC_ALL": "C"},
    )
    case.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
    return proc.stdout


def leftovers(area_dir: str) -> list[str]:
    """Hidden work directories of a writer, beside the one the aggregate points to."""
    link = os.path.join(area_dir, "repo")
    current = os.readlink(link) if os.path.islink(link) else None
    return sorted(
        e for e in os.listdir(area_dir) if e.startswith((".tmp-", ".repo-")) and e != current
    )


def mount_tmpfs(case: unittest.TestCase, size: str) -> str:
    """A fresh tmpfs of ``size`` on a temporary folder, unmounted after the test."""
    folder = tempdir(case)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", folder],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise unittest.SkipTest(
            "needs mount -t tmpfs (root, or a container allowed to mount): " + proc.stderr.strip()
        )
    case.addCleanup(subprocess.run, ["umount", "-l", folder], check=False)
    return folder


def remount(folder: str, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", folder], check=True, capture_output=True)


def fill(folder: str) -> str:
    """Fill the file system of ``folder`` up to the last block; the filler's path."""
    path = os.path.join(folder, "filler")
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * (1 << 16)
        while True:
            try:
                f.write(chunk)
            except OSError:
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    return path


def wait_for(check: Any, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


# A publish in a child process, to be killed (SIGKILL) where the hook holds it.
CHILD = """\
import json, sys
from buildbot_modules.compose import ComposeResult
from buildbot_modules.publish import publish
a = json.loads(sys.argv[1])
name, stream, version, context, arch = a["compose"]["nsvca"].split(":")
publish(ComposeResult(**a["compose"]), a["root"], name, stream, int(version), context, arch,
        a["area"])
"""


class PublishFaults(ComposeTestBase):
    """``publish()`` itself: milliseconds to a few seconds each."""

    def setUp(self) -> None:
        super().setUp()
        self.root = os.path.join(self.tmp, "publish")
        self.demo_result = self.compose_demo()
        self.other_result = self.compose_other()

    def publish(self, result: ComposeResult, area: str = "stage") -> str:
        name, stream, version, context, arch = result.nsvca.split(":")
        return publish_compose(result, self.root, name, stream, int(version), context, arch, area)

    def area(self, *parts: str, area: str = "stage") -> str:
        return os.path.join(self.root, area, *parts)

    def assert_valid(self, modules: list[str], area: str = "stage") -> None:
        """The area's aggregate carries exactly ``modules``; it and every published
        repository of the area are valid; no writer's leftovers."""
        link = self.area("repo", area=area)
        self.assertEqual(repository_problems(link), [])
        self.assertEqual(modules_in(link), modules)
        for repo in published(self.root, area):
            self.assertEqual(repository_problems(repo.path), [], repo.nsvca)
        self.assertEqual(leftovers(self.area(area=area)), [])

    def kill_at(self, point: str, result: ComposeResult, area: str = "stage") -> list[str]:
        """Publish ``result`` in a child process, SIGKILL it at ``point``; what it left."""
        marker = os.path.join(self.tmp, f"paused-{point}")
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                json.dumps(
                    {"compose": dataclasses.asdict(result), "root": self.root, "area": area}
                ),
            ],
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
                FAULT_PAUSE_ENV: f"{point}:{marker}",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: os.path.exists(marker) or child.poll() is not None,
                f"the publish to reach {point}",
            )
            self.assertIsNone(child.poll(), f"the child ended before {point}")
            with open(marker, encoding="utf-8") as f:
                self.assertEqual(f.read().split(), [str(child.pid), point])
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            output = child.communicate()[0]
        self.assertEqual(child.returncode, -signal.SIGKILL, output)
        os.unlink(marker)
        return sorted(os.listdir(self.area(area=area)))

    # -- kill -9 ------------------------------------------------------------------------

    def test_killed_at_every_point(self) -> None:
        """The previous aggregate stays valid and is all a client sees; the next publish of
        the same build succeeds (after the rename: it is the same build, kept as it is)."""
        for point in FAULT_POINTS:
            self.root = os.path.join(self.tmp, f"publish-{point}")
            self.publish(self.demo_result)
            before = os.readlink(self.area("repo"))
            entries = self.kill_at(point, self.other_result)
            self.assertEqual(os.readlink(self.area("repo")), before, point)
            self.assert_valid_but_for_leftovers([DEMO])
            renamed = point != "copied"
            self.assertEqual([p.nsvca for p in published(self.root)], [DEMO, OTHER][: 1 + renamed])
            # What the killed writer left is hidden (a dot name), never the repo link.
            expected = {"copied": ".tmp-", "renamed": None, "aggregate": ".repo-", "swap": ".repo-"}
            left = [e for e in entries if e.startswith((".tmp-", ".repo-")) and e != before]
            if expected[point]:
                self.assertTrue(left and all(e.startswith(expected[point]) for e in left), left)
            else:
                self.assertEqual(left, [])
            target = self.area("other", "1.0", f"{VERSION}.other01", ARCH)
            inode = os.stat(target).st_ino if renamed else None

            self.assertEqual(self.publish(self.other_result), target)
            self.assert_valid([DEMO, OTHER])
            if inode is not None:  # kept as it was, not published a second time
                self.assertEqual(os.stat(target).st_ino, inode)
        listed = dnf_module_list(self, self.area("repo"))
        self.assertRegex(listed, r"(?m)^demo\s+main\s")
        self.assertRegex(listed, r"(?m)^other\s+1\.0\s")

    def assert_valid_but_for_leftovers(self, modules: list[str]) -> None:
        link = self.area("repo")
        self.assertEqual(repository_problems(link), [])
        self.assertEqual(modules_in(link), modules)

    def test_a_different_build_under_a_published_nsvca_is_refused(self) -> None:
        self.publish(self.demo_result)
        # The same N:S:V:C:A, the same modules.yaml, but one more RPM.
        forged = os.path.join(self.tmp, "forged")
        subprocess.run(["cp", "-a", self.demo_result.repo, forged], check=True)
        subprocess.run(["cp", self.rpms["gamma"][0], forged], check=True)
        target = self.area("demo", "main", f"{VERSION}.demo01", ARCH)
        before = sorted(os.listdir(target))
        with self.assertRaises(ModuleError) as caught:
            self.publish(dataclasses.replace(self.demo_result, repo=forged))
        self.assertIn(
            f"{DEMO} is already published in stage, with other RPMs", str(caught.exception)
        )
        self.assertIn("immutable", caught.exception.hint)
        self.assertEqual(caught.exception.source, target)
        self.assertEqual(sorted(os.listdir(target)), before)
        self.assert_valid([DEMO])

    # -- disk full ----------------------------------------------------------------------

    def test_no_space_left_during_the_copy(self) -> None:
        self.root = mount_tmpfs(self, "2m")
        self.publish(self.demo_result)
        filler = fill(self.root)
        with self.assertRaises(ModuleError) as caught:
            self.publish(self.other_result)
        error = caught.exception
        self.assertIn(f"no space left on device while copying {OTHER} into stage", error.message)
        self.assertTrue(error.source.startswith(self.area()), error.source)
        self.assertIn(f"free space on the file system of {self.root}", error.hint)
        self.assertIn("point publish_root elsewhere", error.hint)
        self.assertIn("what was published before is unchanged", error.hint)
        self.assert_valid([DEMO])
        self.assertEqual([p.nsvca for p in published(self.root)], [DEMO])
        self.assertFalse(os.path.exists(self.area("other")))  # no empty folders either
        os.unlink(filler)
        self.publish(self.other_result)
        self.assert_valid([DEMO, OTHER])

    def test_no_space_left_during_the_aggregate_rebuild(self) -> None:
        self.root = mount_tmpfs(self, "2m")
        self.publish(self.demo_result)
        before = os.readlink(self.area("repo"))
        marker = os.path.join(self.tmp, "paused")
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.publish(self.other_result)
            except BaseException as e:
                errors.append(e)

        os.environ[FAULT_PAUSE_ENV] = f"aggregate:{marker}"
        self.addCleanup(os.environ.pop, FAULT_PAUSE_ENV, None)
        writer = threading.Thread(target=run)
        writer.start()
        try:
            wait_for(lambda: os.path.exists(marker) or not writer.is_alive(), "the pause")
            filler = fill(self.root)
        finally:
            os.unlink(marker)
            writer.join(60)
        del os.environ[FAULT_PAUSE_ENV]
        self.assertEqual(len(errors), 1, errors)
        error = errors[0]
        assert isinstance(error, ModuleError)
        self.assertIn(
            "no space left on device while rebuilding the stage aggregate repository",
            error.message,
        )
        self.assertIn("point publish_root elsewhere", error.hint)
        self.assertEqual(os.readlink(self.area("repo")), before)
        self.assert_valid([DEMO])
        # The build was renamed into place before the rebuild, and withdrawn after it
        # failed: a failed publish publishes nothing.
        self.assertEqual([p.nsvca for p in published(self.root)], [DEMO])
        self.assertFalse(os.path.exists(self.area("other")))
        os.unlink(filler)
        self.publish(self.other_result)
        self.assert_valid([DEMO, OTHER])

    # -- read-only ----------------------------------------------------------------------

    def test_read_only_publish_root(self) -> None:
        self.root = mount_tmpfs(self, "4m")
        self.publish(self.demo_result)
        remount(self.root, "ro")
        self.addCleanup(remount, self.root, "rw")
        with self.assertRaises(ModuleError) as caught:
            self.publish(self.other_result)
        error = caught.exception
        self.assertEqual(
            error.message,
            f"publish root {self.root} is not writable: Read-only file system"
            " (while opening the stage area)",
        )
        self.assertTrue(error.source.startswith(self.area()), error.source)
        self.assertIn("mount it read-write", error.hint)
        # A new area (production's first promotion) cannot even be created.
        with self.assertRaises(ModuleError) as caught:
            self.publish(self.demo_result, "production")
        self.assertIn(f"publish root {self.root} is not writable", caught.exception.message)
        self.assert_valid([DEMO])
        remount(self.root, "rw")
        self.publish(self.other_result)
        self.assert_valid([DEMO, OTHER])

    # -- production ---------------------------------------------------------------------

    def promotion(self, stage_path: str, result: ComposeResult) -> ComposeResult:
        """What quality.promote publishes to production: the stage tree itself."""
        return ComposeResult(
            repo=stage_path,
            source_repo=os.path.join(os.path.dirname(stage_path), "src"),
            modulemd=result.modulemd,
            nsvca=result.nsvca,
            artifacts=[],
        )

    def test_interrupted_promotion_keeps_production_valid(self) -> None:
        demo = self.promotion(self.publish(self.demo_result), self.demo_result)
        other = self.promotion(self.publish(self.other_result), self.other_result)
        self.publish(demo, "production")
        before = os.readlink(self.area("repo", area="production"))
        self.kill_at("swap", other, "production")
        self.assertEqual(os.readlink(self.area("repo", area="production")), before)
        link = self.area("repo", area="production")
        self.assertEqual(repository_problems(link), [])
        self.assertEqual(modules_in(link), [DEMO])
        self.assertRegex(dnf_module_list(self, link), r"(?m)^demo\s+main\s")
        self.publish(other, "production")  # promoting it again completes it
        self.assert_valid([DEMO, OTHER], "production")
        self.assert_valid([DEMO, OTHER], "stage")


# ------------------------------------------------------------------------- a real site


class PublishFaultsSite(unittest.TestCase):
    """A real site (bbmod quickstart, a master process, a PB worker process, dist-git
    pushes), as tests/test_pipeline.py runs one; the rpmbuild backend and no checks keep
    each module build to a few seconds."""

    timeout = 300

    def setUp(self) -> None:
        for tool in ("rpmbuild", "createrepo_c", "git"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        self.root = tempdir(self)
        self.distgit = os.path.join(self.root, "distgit")
        self.publish = os.path.join(self.root, "publish")
        self.master = os.path.join(self.root, "site", "master")
        self.worker = os.path.join(self.root, "site", "worker1")
        self.marker = os.path.join(self.root, "paused")
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api/v2"
        self.registry = Registry(f"sqlite:///{self.master}/registry.sqlite")
        self.pushes = 0

    def create(self) -> None:
        run(f"{BIN}/bbmod", "distgit", "init", self.distgit)
        run(
            f"{BIN}/bbmod",
            "quickstart",
            os.path.join(self.root, "site"),
            "--distgit",
            self.distgit,
            "--publish",
            self.publish,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--worker-port",
            str(free_port()),
            "--poll-interval",
            "1",
        )
        with open(os.path.join(self.master, "settings.toml"), "a", encoding="utf-8") as f:
            f.write('backend = "rpmbuild"\nchecks = []\npromotion = "manual"\n')

    def start_master(self, hook: str = "") -> None:
        env = {k: v for k, v in os.environ.items() if k != FAULT_PAUSE_ENV}
        if hook:
            env[FAULT_PAUSE_ENV] = f"{hook}:{self.marker}"
        subprocess.run(
            [f"{BIN}/buildbot", "start", self.master],
            capture_output=True,
            check=True,
            timeout=120,
            env=env,
        )
        self.addCleanup(self.stop, [f"{BIN}/buildbot", "stop", self.master], self.master)

    def start_worker(self) -> None:
        run(f"{BIN}/buildbot-worker", "start", self.worker)
        self.addCleanup(self.stop, [f"{BIN}/buildbot-worker", "stop", self.worker], self.worker)
        self.wait_for_worker()

    def wait_for_worker(self) -> None:
        def connected() -> bool:
            try:
                workers = requests.get(f"{self.api}/workers", timeout=5).json()["workers"]
            except (requests.RequestException, ValueError, KeyError):
                return False
            return any(w["connected_to"] and w["name"] == "worker1" for w in workers)

        wait_for(connected, "the worker to connect", 120)

    def stop(self, command: list[str], folder: str) -> None:
        pidfile = os.path.join(folder, "twistd.pid")
        if subprocess.run(["pgrep", "-F", pidfile], capture_output=True).returncode:
            return  # not running (killed by the test)
        subprocess.run(command, capture_output=True, check=False, timeout=60)
        if not self._passed:  # keep the story of a failure in the test output
            log = os.path.join(folder, "twistd.log")
            if os.path.exists(log):
                with open(log, encoding="utf-8", errors="replace") as f:
                    print(f"==== {log} (tail)\n" + "".join(f.readlines()[-60:]))

    def push(self, summary: str) -> None:
        """A new commit of the module pf (one component): a new version."""
        time.sleep(max(0.0, 1.1 - (time.time() % 1)) if self.pushes else 0)  # new second
        self.pushes += 1
        source = tempdir(self)
        write(source, "modules/pf/pf.yaml", module_yaml(summary, {"pf-one": []}))
        write(source, "rpms/pf-one/pf-one.spec", SPEC.format(name="pf-one", build=""))
        run(f"{BIN}/bbmod", "distgit", "import", self.distgit, source)

    def builds(self) -> list[Any]:
        return sorted(self.registry.module_builds(name="pf"), key=lambda b: b.id)

    def finished(self, count: int) -> Any:
        """The ``count``-th build of pf once it is ready or failed."""
        builds = self.builds()
        if len(builds) >= count and builds[count - 1].state in ("ready", "failed"):
            return builds[count - 1]
        return None

    def nsvca(self, build: Any) -> str:
        return f"pf:main:{build.version}:{build.context}:{ARCH}"

    def stage_is_valid(self, modules: list[str]) -> None:
        link = os.path.join(self.publish, "stage", "repo")
        self.assertEqual(repository_problems(link), [])
        self.assertEqual(modules_in(link), modules)
        for repo in published(self.publish):
            self.assertEqual(repository_problems(repo.path), [], repo.nsvca)

    def test_master_killed_while_publishing(self) -> None:
        """SIGKILL of the master just before the aggregate swap: stage is the previous
        valid repository (dnf reads it); after a restart the next version publishes and
        the aggregate is complete, without the killed writer's leftovers."""
        self.create()
        self.start_master(hook="swap")
        self.start_worker()
        self.push("First version")
        wait_for(lambda: os.path.exists(self.marker), "the first publish to pause", 120)
        self.assertFalse(os.path.lexists(os.path.join(self.publish, "stage", "repo")))
        os.unlink(self.marker)  # let the first one through
        first = wait_for(lambda: self.finished(1), "the first build", 120)
        self.assertEqual(first.state, "ready", first.state_reason)
        self.stage_is_valid([self.nsvca(first)])

        self.push("Second version")
        wait_for(lambda: os.path.exists(self.marker), "the second publish to pause", 120)
        with open(os.path.join(self.master, "twistd.pid"), encoding="utf-8") as f:
            pid = int(f.read())
        with open(self.marker, encoding="utf-8") as f:
            self.assertEqual(f.read().split(), [str(pid), "swap"])  # the master itself
        os.kill(pid, signal.SIGKILL)  # the master this test started, by its pid
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), "the master to die", 30)
        os.unlink(self.marker)
        second = self.builds()[1]
        area = os.path.join(self.publish, "stage")
        self.assertNotEqual(leftovers(area), [])  # the half-made aggregate, hidden
        self.stage_is_valid([self.nsvca(first)])
        self.assertRegex(dnf_module_list(self, os.path.join(area, "repo")), r"(?m)^pf\s+main\s")

        self.start_master()
        self.wait_for_worker()
        self.push("Third version")

        def third() -> Any:
            done = [b for b in self.builds()[2:] if b.state in ("ready", "failed")]
            return done[0] if done else None

        last = wait_for(third, "the third build", 120)
        self.assertEqual(last.state, "ready", last.state_reason)
        self.assertGreater(last.version, second.version)
        # With resume (issue #9) the killed build is taken over and publishes the same
        # N:S:V:C:A again: accepted, the tree in place is that very build.
        resumed = self.builds()[1]
        self.assertNotIn("already published", resumed.state_reason or "")
        self.assertEqual(leftovers(area), [])
        # The killed build's tree was renamed into place before the kill: it is complete
        # and the new aggregate carries it too.
        self.stage_is_valid(sorted(self.nsvca(b) for b in (first, second, last)))

    def test_disk_full_fails_the_build_clearly(self) -> None:
        """The publish root on a small tmpfs, filled after a first publish: the next
        build fails in its publish step saying where and what to do; stage is intact."""
        self.publish = mount_tmpfs(self, "32m")
        self.create()
        self.start_master()
        self.start_worker()
        self.push("First version")
        first = wait_for(lambda: self.finished(1), "the first build", 120)
        self.assertEqual(first.state, "ready", first.state_reason)
        filler = fill(self.publish)
        self.push("Second version")
        second = wait_for(lambda: self.finished(2), "the second build", 120)
        self.assertEqual(second.state, "failed")
        self.assertIn(
            f"no space left on device while copying {self.nsvca(second)} into stage",
            second.state_reason,
        )
        self.assertIn(f"free space on the file system of {self.publish}", second.state_reason)
        self.assertIn("point publish_root elsewhere in settings.toml", second.state_reason)
        self.stage_is_valid([self.nsvca(first)])
        self.assertEqual(leftovers(os.path.join(self.publish, "stage")), [])

        # The Buildbot build says it in the publish step: summary and `error` log.
        def failed_builds() -> list[dict[str, Any]]:  # Buildbot's, once complete
            params = {"order": "-buildid", "complete": "true", "results": "2"}
            found = requests.get(f"{self.api}/builds", params=params, timeout=5).json()
            return list(found["builds"])

        module_builds = wait_for(failed_builds, "the failed build to complete", 60)
        steps = requests.get(f"{self.api}/builds/{module_builds[0]['buildid']}/steps", timeout=5)
        publish = [s for s in steps.json()["steps"] if s["name"] == "publish"]
        self.assertEqual(len(publish), 1)
        self.assertIn("no space left on device", publish[0]["state_string"])
        logs = requests.get(f"{self.api}/steps/{publish[0]['stepid']}/logs", timeout=5).json()
        error = next(log for log in logs["logs"] if log["name"] == "error")
        text = requests.get(f"{self.api}/logs/{error['logid']}/raw", timeout=5).text
        self.assertIn(self.publish, text)
        self.assertIn("point publish_root elsewhere", text)
        os.unlink(filler)
