"""The in-process Koji hub (tests/kojihub.py) through koji's own ClientSession: what the
Koji backend's tests rely on — sessions, permission faults, tags, targets, inheritance,
groups, a real build from a local git repository, repos and their events, tagging, the
content-generator import — behaves as a real hub's code does."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
import xmlrpc.client
from typing import Any

import koji
from twisted.trial import unittest

from tests.kojihub import FakeKojiHub, TlsFiles, client, koji_upload

SPEC = """\
Name: {name}
Version: 1.0
Release: 1%{{?dist}}
Summary: A tiny test package
License: MIT
BuildArch: noarch

%description
A tiny test package.

%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo %{{?modularitylabel}} > %{{buildroot}}/usr/share/{name}/label

%files
/usr/share/{name}/label
"""

FAILING_SPEC = SPEC.replace("%install\n", "%install\nexit 3\n")


def git(cwd: str, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def spec_repo(root: str, name: str, spec: str = SPEC) -> tuple[str, str]:
    """A git repository holding NAME.spec; its path and commit."""
    path = os.path.join(root, "git", name)
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    with open(os.path.join(path, f"{name}.spec"), "w") as f:
        f.write(spec.format(name=name))
    git(path, "add", f"{name}.spec")
    git(path, "commit", "-q", "-m", "spec")
    return path, git(path, "rev-parse", "HEAD")


class HubCase(unittest.TestCase):
    build_delay = 0.0
    repo_delay = 0.0

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="kojihub-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.hub = FakeKojiHub(
            os.path.join(self.tmp, "koji"),
            build_delay=self.build_delay,
            repo_delay=self.repo_delay,
            content_generators=("bbmod",),
        )
        self.hub.add_user("admin", "adminpw", perms=("admin",))
        self.hub.add_user("mbs", "mbspw", perms=("tag", "target", "repo"))
        self.hub.add_user("nobody", "nobodypw")
        self.hub.grant_cg_access("mbs", "bbmod")
        self.hub.build_from_scm_perms = ("admin", "tag")
        self.url = self.hub.start()
        self.addCleanup(self.hub.stop)

    def session(self, user: str | None = None) -> koji.ClientSession:
        s = client(self, self.url, {"max_retries": 0, "anon_retry": False})
        if user:
            s.opts.update(user=user, password=f"{user}pw")
            s.login()
        self.addCleanup(s.logout)
        return s

    def wait_task(self, s: koji.ClientSession, task_id: int, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = s.getTaskInfo(task_id)
            if info["state"] not in (koji.TASK_STATES["FREE"], koji.TASK_STATES["OPEN"]):
                return dict(info)
            time.sleep(0.05)
        self.fail(f"task {task_id} did not finish")

    def _rpm(self) -> str:
        path, _commit = spec_repo(self.tmp, "cgpkg")
        out = os.path.join(self.tmp, "cgout")
        subprocess.run(
            [
                "rpmbuild",
                "--nodeps",
                "--define",
                f"_topdir {out}",
                "--define",
                f"_sourcedir {path}",
                "--define",
                f"_rpmdir {out}",
                "-bb",
                os.path.join(path, "cgpkg.spec"),
            ],
            check=True,
            capture_output=True,
        )
        return os.path.join(out, "noarch", "cgpkg-1.0-1.noarch.rpm")

    def _metadata(self, build_id: int, files: list[str]) -> dict[str, Any]:
        outputs = []
        for f in files:
            with open(f, "rb") as fo:
                data = fo.read()
            outputs.append({
                "buildroot_id": 1, "filename": os.path.basename(f), "filesize": len(data),
                "arch": "noarch", "checksum": hashlib.md5(data).hexdigest(),
                "checksum_type": "md5",
                "type": "rpm" if f.endswith(".rpm") else "file",
                **({} if f.endswith(".rpm") else {"extra": {"typeinfo": {"module": {}}}}),
            })  # fmt: skip
        return {
            "metadata_version": 0,
            "build": {"name": "cgpkg", "version": "1.0", "release": "1", "build_id": build_id,
                      "start_time": time.time() - 5, "end_time": time.time(),
                      "extra": {"typeinfo": {"module": {"name": "cgpkg"}}}},
            "buildroots": [{
                "id": 1, "host": {"os": "debian", "arch": "x86_64"},
                "content_generator": {"name": "bbmod", "version": "1"},
                "container": {"type": "none", "arch": "x86_64"},
                "tools": [], "components": [],
            }],
            "output": outputs,
        }  # fmt: skip

    def module_tags(self, s: koji.ClientSession, name: str = "module-a") -> None:
        """A module's tag pair and target, as the backend makes them."""
        s.createTag("platform", arches="x86_64")
        s.createTag(name, arches="x86_64")
        s.createTag(f"{name}-build", parent=name, arches="x86_64")
        s.setInheritanceData(
            f"{name}-build",
            [
                {
                    "parent_id": s.getTag("platform")["id"],
                    "priority": 10,
                    "maxdepth": None,
                    "intransitive": False,
                    "noconfig": False,
                    "pkg_filter": "",
                }
            ],
        )
        s.editTag2(
            f"{name}-build",
            extra={
                "rpm.macro.dist": ".module_a+1",
                "rpm.macro.modularitylabel": "a:s:1:c",
                "mock.package_manager": "dnf",
                "repo_include_all": True,
            },
        )
        s.createBuildTarget(name, f"{name}-build", name)


class SessionTests(HubCase):
    def test_version_and_anonymous_reads(self) -> None:
        s = self.session()
        self.assertEqual(s.getAPIVersion(), 1)
        self.assertEqual(s.getKojiVersion(), "1.36.1")
        self.assertEqual(s.hub_version, (1, 36, 1))
        self.assertIsNone(s.getLoggedInUser())
        self.assertIsNone(s.getTag("nope"))
        self.assertFalse(s.hasPerm("admin"))

    def test_login_and_sessions(self) -> None:
        s = self.session("mbs")
        self.assertTrue(s.sinfo["header-auth"])
        self.assertEqual(s.getLoggedInUser()["name"], "mbs")
        self.assertTrue(s.hasPerm("tag"))
        self.assertFalse(s.hasPerm("admin"))
        self.assertEqual(sorted(s.getPerms()), ["repo", "tag", "target"])
        self.assertEqual(self.hub.calls_of("getPerms")[0][2], "mbs")
        bad = client(self, self.url, {"user": "mbs", "password": "wrong"})
        self.assertRaises(koji.AuthError, bad.login)
        # As on a real hub, a call number is stored only when the call committed a
        # change: a read may be sent again with the same number, a write may not.
        s.callnum -= 1
        self.assertEqual(s.getLoggedInUser()["name"], "mbs")
        s.createTag("seq-a")
        s.callnum -= 1
        err = self.assertRaises(koji.RetryError, s.createTag, "seq-b")
        self.assertIn("unable to retry call", str(err))
        self.assertIsNone(s.getTag("seq-b"))
        s.callnum -= 3
        self.assertRaises(koji.SequenceError, s.getLoggedInUser)
        # a write that failed commits nothing: its number may be used again
        s.callnum += 5
        self.assertRaises(koji.GenericError, s.createTag, "seq-a")
        s.callnum -= 1
        s.createTag("seq-c")
        s.callnum += 5
        s.logout()
        self.assertIsNone(s.getLoggedInUser())

    def test_query_string_sessions_of_older_clients(self) -> None:
        s = self.session("mbs")
        s.sinfo = dict(s.sinfo, **{"header-auth": False})
        self.assertEqual(s.getLoggedInUser()["name"], "mbs")
        forged = client(self, self.url, sinfo={"session-id": 99, "session-key": "x"})
        self.assertRaises(koji.AuthError, forged.getLoggedInUser)

    def test_gssapi_login_is_refused(self) -> None:
        s = client(self, self.url, {"max_retries": 0})
        self.assertRaises(koji.GSSAPIAuthError, s.gssapi_login, principal="mbs@EXAMPLE.COM")

    def test_multicall(self) -> None:
        s = self.session("mbs")
        with s.multicall() as m:
            ok = m.createTag("t1")
            dup = m.createTag("t1")
            tag = m.getTag("t1")
        self.assertIsInstance(ok.result, int)
        self.assertRaises(koji.GenericError, lambda: dup.result)
        self.assertEqual(tag.result["name"], "t1")


def make_certs(folder: str) -> dict[str, str]:
    """A CA, the hub's certificate (for 127.0.0.1) and a client certificate for "mbs"
    (certificate and key in one file, as koji's client takes it), made with openssl."""

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    for name, subj in (("hub", "/CN=127.0.0.1"), ("client", "/CN=mbs")):
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subj, "-keyout", f"{name}.key",
            "-out", f"{name}.csr")  # fmt: skip
        with open(os.path.join(folder, f"{name}.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n" if name == "hub" else "")
        ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
            "-out", f"{name}.pem")  # fmt: skip
    with open(os.path.join(folder, "client-bundle.pem"), "w") as out:
        for part in ("client.pem", "client.key"):
            with open(os.path.join(folder, part)) as f:
                out.write(f.read())
    return {k: os.path.join(folder, v) for k, v in (
        ("ca", "ca.pem"), ("hub_cert", "hub.pem"), ("hub_key", "hub.key"),
        ("client", "client-bundle.pem"))}  # fmt: skip


class SslLoginTests(unittest.TestCase):
    def test_ssl_login_with_a_client_certificate(self) -> None:
        tmp = tempfile.mkdtemp(prefix="kojihub-ssl-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        certs = make_certs(tmp)
        hub = FakeKojiHub(
            os.path.join(tmp, "koji"),
            tls=TlsFiles(certs["hub_cert"], certs["hub_key"], certs["ca"]),
        )
        hub.add_user("mbs", perms=("tag",))
        url = hub.start()
        self.addCleanup(hub.stop)
        self.assertTrue(url.startswith("https://"))
        s = client(self, url, {"serverca": certs["ca"], "max_retries": 0})
        s.ssl_login(cert=certs["client"])
        self.assertEqual(s.getLoggedInUser()["name"], "mbs")
        self.assertEqual(s.authtype, koji.AUTHTYPES["SSL"])
        s.createTag("over-tls")
        self.assertEqual(hub.calls_of("createTag")[0][2], "mbs")
        # no client certificate: no session
        anon = client(self, url, {"serverca": certs["ca"], "max_retries": 0})
        self.assertRaises(koji.AuthError, anon._callMethod, "sslLogin", [], {})
        # a password login is refused for a user without a password
        anon.opts.update(user="mbs", password="x")
        self.assertRaises(koji.AuthError, anon.login)


class PermissionTests(HubCase):
    def test_writes_need_permissions(self) -> None:
        anon = self.session()
        nobody = self.session("nobody")
        for s in (anon, nobody):
            self.assertRaises(koji.ActionNotAllowed, s.createTag, "x")
            self.assertRaises(koji.ActionNotAllowed, s.createBuildTarget, "x", "y", "z")
            self.assertRaises(koji.ActionNotAllowed, s.newRepo, "x")
        err = self.assertRaises(koji.ActionNotAllowed, nobody.createTag, "x")
        self.assertEqual(str(err), "tag permission required (logged in as nobody)")
        self.assertRaises(koji.ActionNotAllowed, anon.build, "git+file:///x#y", "t")
        admin = self.session("admin")
        admin.createTag("x")  # admin implies every permission
        self.assertRaises(koji.AuthError, nobody.CGInitBuild, "bbmod", {})
        self.assertRaises(koji.ActionNotAllowed, nobody.packageListAdd, "x", "pkg", "nobody")

    def test_bad_arguments_are_parameter_errors(self) -> None:
        s = self.session("mbs")
        self.assertRaises(koji.ParameterError, s.createTag)
        self.assertRaises(koji.ParameterError, s.createTag, "a", bogus=1)
        self.assertRaises(koji.ParameterError, s.getTag, ["a"])
        self.assertRaises(koji.GenericError, s.noSuchMethod)
        self.assertRaises(koji.GenericError, s.createTag, "bad name!")
        err = self.assertRaises(koji.GenericError, s.createTag, 12345)
        self.assertEqual(str(err), "Name should be string")  # not a ParameterError
        err = self.assertRaises(koji.GenericError, s.createTag, "c", arches="x86_64,aarch64")
        self.assertEqual(str(err), "Architecture can be only [a-zA-Z0-9_-]")
        # editTag2 ignores unknown keywords like the real hub; the hub notes them
        s.createTag("a", arches="x86_64")
        self.assertIsNone(s.editTag2("a", arches_typo="ppc64le"))
        self.assertEqual(s.getTag("a")["arches"], "x86_64")
        self.assertEqual(self.hub.ignored_kwargs, [("editTag2", "arches_typo")])


class TagTests(HubCase):
    def test_tags_targets_inheritance_groups_packages(self) -> None:
        s = self.session("mbs")
        self.module_tags(s)
        self.assertRaises(koji.GenericError, s.createTag, "module-a")
        tag = s.getTag("module-a-build")
        self.assertEqual(tag["arches"], "x86_64")
        self.assertEqual(tag["extra"]["rpm.macro.dist"], ".module_a+1")
        self.assertIs(tag["extra"]["repo_include_all"], True)
        self.assertEqual(s.getTag(tag["id"])["name"], "module-a-build")
        s.editTag2("module-a-build", remove_extra=["repo_include_all"], locked=False, perm="admin")
        tag = s.getTag("module-a-build")
        self.assertNotIn("repo_include_all", tag["extra"])
        self.assertEqual(tag["perm"], "admin")
        self.assertRaises(koji.GenericError, s.editTag2, "module-a-build", remove_extra=["nope"])

        parents = [p["name"] for p in s.getInheritanceData("module-a-build")]
        self.assertEqual(parents, ["module-a", "platform"])
        full = [p["name"] for p in s.getFullInheritance("module-a-build")]
        self.assertEqual(full, ["module-a", "platform"])
        link = s.getInheritanceData("module-a-build")[0]
        dup = dict(link, parent_id=s.getTag("platform")["id"])
        self.assertRaises(koji.GenericError, s.setInheritanceData, "module-a-build", [dup])

        target = s.getBuildTarget("module-a")
        self.assertEqual(target["build_tag_name"], "module-a-build")
        self.assertEqual(target["dest_tag_name"], "module-a")
        self.assertRaises(koji.GenericError, s.createBuildTarget, "module-a", "module-a", "x")
        self.assertRaises(koji.GenericError, s.createBuildTarget, "t2", "nope", "module-a")

        s.groupListAdd("platform", "build")
        s.groupPackageListAdd("platform", "build", "bash")
        s.groupListAdd("module-a-build", "srpm-build")
        s.groupPackageListAdd("module-a-build", "srpm-build", "rpm-build")
        s.groupPackageListAdd("module-a-build", "build", "gcc")
        groups = {g["name"]: g for g in s.getTagGroups("module-a-build")}
        self.assertEqual(
            sorted(p["package"] for p in groups["build"]["packagelist"]), ["bash", "gcc"]
        )
        self.assertEqual(
            [p["package"] for p in s.getTagGroups("platform")[0]["packagelist"]], ["bash"]
        )
        self.assertRaises(koji.GenericError, s.groupPackageListAdd, "platform", "nope", "x")

        self.assertRaises(koji.GenericError, s.packageListAdd, "module-a", "foo")  # no owner
        s.packageListAdd("module-a", "foo", "mbs")
        self.assertEqual([p["package_name"] for p in s.listPackages(tagID="module-a")], ["foo"])
        inherited = s.listPackages(tagID="module-a-build", inherited=True)
        self.assertEqual([p["package_name"] for p in inherited], ["foo"])

        before = s.getLastEvent()["id"]
        s.deleteBuildTarget("module-a")
        self.assertIsNone(s.getBuildTarget("module-a"))
        s.deleteTag("module-a-build")
        self.assertIsNone(s.getTag("module-a-build"))
        self.assertGreater(s.getLastEvent()["id"], before)


class BuildTests(HubCase):
    def test_build_from_git_to_closed_with_downloadable_rpms(self) -> None:
        s = self.session("mbs")
        self.module_tags(s)
        s.packageListAdd("module-a", "tiny", "mbs")
        path, commit = spec_repo(self.tmp, "tiny")
        task_id = s.build(f"git+file://{path}?#{commit}", "module-a", {"skip_tag": True})
        info = self.wait_task(s, task_id)
        self.assertEqual(info["state"], koji.TASK_STATES["CLOSED"], s.getTaskResult(task_id))
        self.assertEqual(s.getTaskInfo(task_id, request=True)["request"][1], "module-a")
        [build] = s.listBuilds(taskID=task_id)
        self.assertEqual(build["nvr"], "tiny-1.0-1.module_a+1")
        self.assertEqual(build["state"], koji.BUILD_STATES["COMPLETE"])
        self.assertEqual(s.getBuild("tiny-1.0-1.module_a+1")["id"], build["id"])
        rpms = {r["arch"]: r for r in s.listBuildRPMs(build["id"])}
        self.assertEqual(sorted(rpms), ["noarch", "src"])
        # skip_tag: built but not tagged
        self.assertEqual(s.listTagged("module-a"), [])
        url = (
            f"{self.hub.topdir_url}/packages/tiny/1.0/1.module_a+1/noarch/"
            "tiny-1.0-1.module_a+1.noarch.rpm"
        )
        with urllib.request.urlopen(url) as resp:
            data = resp.read()
        local = os.path.join(self.tmp, "tiny.rpm")
        with open(local, "wb") as f:
            f.write(data)
        label = subprocess.run(
            ["rpm", "-qp", "--qf", "%{NAME}", local], capture_output=True, text=True, check=True
        ).stdout
        self.assertEqual(label, "tiny")
        # the same NVR again is refused by the hub
        again = s.build(f"git+file://{path}?#{commit}", "module-a", {"skip_tag": True})
        self.assertEqual(self.wait_task(s, again)["state"], koji.TASK_STATES["FAILED"])
        self.assertRaises(koji.GenericError, s.getTaskResult, again)

        # tagBuild is a task; listTagged then shows the build
        tag_task = s.tagBuild("module-a", build["id"])
        self.assertEqual(self.wait_task(s, tag_task)["state"], koji.TASK_STATES["CLOSED"])
        tagged = s.listTagged("module-a")
        self.assertEqual([b["nvr"] for b in tagged], ["tiny-1.0-1.module_a+1"])
        self.assertEqual(
            [b["nvr"] for b in s.listTagged("module-a-build", inherit=True)],
            ["tiny-1.0-1.module_a+1"],
        )
        self.assertRaises(koji.TagError, s.tagBuildBypass, "module-a", build["id"])
        s.untagBuild("module-a", build["id"])
        self.assertEqual(s.listTagged("module-a"), [])

    def test_failed_build_and_bad_sources(self) -> None:
        s = self.session("mbs")
        self.module_tags(s)
        path, commit = spec_repo(self.tmp, "broken", FAILING_SPEC)
        task_id = s.build(f"git+file://{path}?#{commit}", "module-a", {"skip_tag": True})
        self.assertEqual(self.wait_task(s, task_id)["state"], koji.TASK_STATES["FAILED"])
        self.assertRaises(koji.BuildError, s.getTaskResult, task_id)
        [build] = s.listBuilds(taskID=task_id)
        self.assertEqual(build["state"], koji.BUILD_STATES["FAILED"])
        # not in the package list and not skip_tag: refused as kojid does
        task_id = s.build(f"git+file://{path}?#{commit}", "module-a")
        self.wait_task(s, task_id)
        self.assertRaises(koji.BuildError, s.getTaskResult, task_id)
        task_id = s.build(f"https://example.com/x.git#{commit}", "module-a", {"skip_tag": True})
        self.wait_task(s, task_id)
        self.assertRaises(koji.BuildError, s.getTaskResult, task_id)
        # an unknown target fails the task
        task_id = s.build(f"git+file://{path}?#{commit}", "nope", {"skip_tag": True})
        self.wait_task(s, task_id)
        self.assertRaises(koji.GenericError, s.getTaskResult, task_id)


class SlowBuildTests(HubCase):
    build_delay = 30.0
    repo_delay = 30.0

    def test_cancel_task(self) -> None:
        s = self.session("mbs")
        self.module_tags(s)
        path, commit = spec_repo(self.tmp, "tiny")
        task_id = s.build(f"git+file://{path}?#{commit}", "module-a", {"skip_tag": True})
        nobody = self.session("nobody")
        self.assertRaises(koji.ActionNotAllowed, nobody.cancelTask, task_id)
        start = time.monotonic()
        s.cancelTask(task_id)
        info = self.wait_task(s, task_id)
        self.assertEqual(info["state"], koji.TASK_STATES["CANCELED"])
        self.assertLess(time.monotonic() - start, 5)
        err = self.assertRaises(koji.GenericError, s.getTaskResult, task_id)
        self.assertIn("canceled", str(err))
        repo_task = s.newRepo("module-a-build")
        self.assertEqual(s.getTaskInfo(repo_task)["state"], koji.TASK_STATES["OPEN"])
        s.cancelTask(repo_task)
        self.assertEqual(self.wait_task(s, repo_task)["state"], koji.TASK_STATES["CANCELED"])
        self.assertIsNone(s.getRepo("module-a-build"))


class RepoTests(HubCase):
    def test_new_repo_and_events(self) -> None:
        s = self.session("mbs")
        self.module_tags(s)
        s.packageListAdd("module-a", "tiny", "mbs")
        s.groupListAdd("module-a-build", "build")
        s.groupPackageListAdd("module-a-build", "build", "tiny")
        self.assertIsNone(s.getRepo("module-a-build"))
        path, commit = spec_repo(self.tmp, "tiny")
        task_id = s.build(f"git+file://{path}?#{commit}", "module-a")  # tags on success
        self.assertEqual(self.wait_task(s, task_id)["state"], koji.TASK_STATES["CLOSED"])
        tagged_event = s.listTagged("module-a")[0]["create_event"]

        repo_task = s.newRepo("module-a-build")
        self.assertEqual(self.wait_task(s, repo_task)["state"], koji.TASK_STATES["CLOSED"])
        repo_id, event = s.getTaskResult(repo_task)
        repo = s.getRepo("module-a-build")
        self.assertEqual(repo["id"], repo_id)
        self.assertEqual(repo["create_event"], event)
        self.assertGreaterEqual(repo["create_event"], tagged_event)
        self.assertEqual(repo["state"], koji.REPO_STATES["READY"])
        self.assertEqual(s.repoInfo(repo_id)["tag_name"], "module-a-build")
        self.assertIsNone(s.getRepo("module-a-build", min_event=s.getLastEvent()["id"] + 1))
        # the repository holds the inherited build and the tag's groups
        base = f"{self.hub.topdir_url}/repos/module-a-build/{repo_id}/x86_64"
        with urllib.request.urlopen(f"{base}/repodata/repomd.xml") as resp:
            repomd = resp.read().decode()
        self.assertIn('type="group"', repomd)
        dnf_dir = os.path.join(self.tmp, "dnf")
        out = subprocess.run(
            [
                "dnf",
                "-q",
                "--setopt=reposdir=/dev/null",
                f"--setopt=cachedir={dnf_dir}",
                f"--repofrompath=r,{base}",
                "--repo=r",
                "repoquery",
                "--qf",
                "%{name}-%{evr}",
            ],
            capture_output=True,
            text=True,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("tiny-1.0-1.module_a+1", out.stdout)
        # newer repo after another write; the older one expires
        s.untagBuild("module-a", s.listTagged("module-a")[0]["id"])
        second = s.newRepo("module-a-build")
        self.wait_task(s, second)
        newer = s.getRepo("module-a-build")
        self.assertGreater(newer["create_event"], repo["create_event"])
        self.assertEqual(s.repoInfo(repo_id)["state"], koji.REPO_STATES["EXPIRED"])
        old = s.getRepo("module-a-build", state=koji.REPO_STATES["EXPIRED"])
        self.assertEqual(old["id"], repo_id)

    def test_repo_request_on_demand(self) -> None:
        """koji 1.35+'s repo.request: one request serves every caller that asks for the
        same or an older event; checkRequest then names the ready repo."""
        self.hub.repo_delay = 1.0  # the second request comes while the first is queued
        s = self.session("mbs")
        self.module_tags(s)
        self.assertRaises(koji.ActionNotAllowed, self.session().repo.request, "module-a-build")
        first = s.repo.request("module-a-build")
        self.assertIsNone(first["repo"])
        again = s.repo.request("module-a-build", min_event=first["request"]["min_event"])
        self.assertTrue(again["duplicate"])
        self.assertEqual(again["request"]["id"], first["request"]["id"])
        self.wait_task(s, first["request"]["task_id"])
        check = s.repo.checkRequest(first["request"]["id"])
        self.assertFalse(check["request"]["active"])
        self.assertGreaterEqual(check["repo"]["create_event"], first["request"]["min_event"])
        # now a fitting repo exists: returned at once, no new request
        ready = s.repo.request("module-a-build", min_event=first["request"]["min_event"])
        self.assertEqual(ready["repo"]["id"], check["repo"]["id"])
        self.assertEqual(s.repo.get("module-a-build")["id"], check["repo"]["id"])
        self.assertEqual(len(self.hub.calls_of("repo.request")), 4)
        self.assertRaises(koji.ParameterError, s.repo.request, "module-a-build", 1, 1)

    def test_new_repo_disabled_like_a_default_hub(self) -> None:
        self.hub.allow_new_repo = False
        s = self.session("mbs")
        s.createTag("t")
        err = self.assertRaises(koji.ActionNotAllowed, s.newRepo, "t")
        self.assertIn("disabled", str(err))


class ContentGeneratorTests(HubCase):
    def test_cg_init_upload_import_and_tag(self) -> None:
        s = self.session("mbs")
        s.createTag("module-cg")
        self.assertEqual([b["name"] for b in s.listBTypes()], ["rpm", "maven", "win", "image"])
        rpm = self._rpm()
        modulemd = os.path.join(self.tmp, "modulemd.txt")
        with open(modulemd, "w") as f:
            f.write("document: modulemd\n")
        reserved = s.CGInitBuild("bbmod", {"name": "cgpkg", "version": "1.0", "release": "1"})
        self.assertEqual(s.getBuild(reserved["build_id"])["state"], koji.BUILD_STATES["BUILDING"])
        md = self._metadata(reserved["build_id"], [rpm, modulemd])
        with koji_upload():
            s.fastUpload(rpm, "cli-import/x1", blocksize=1000)  # several chunks
        with koji_upload():
            s.uploadWrapper(modulemd, "cli-import/x1")
        self.assertEqual(self.hub.calls_of("checkUpload")[-1][2], "mbs")
        self.assertRaises(koji.GenericError, s.CGImport, md, "cli-import/x1", "wrong-token")
        # 'module' is no build type of a fresh hub: a site adds it (koji call addBType)
        err = self.assertRaises(
            koji.GenericError, s.CGImport, md, "cli-import/x1", reserved["token"]
        )
        self.assertEqual(str(err), "No such entry in table btype: module")
        self.assertRaises(koji.ActionNotAllowed, s.addBType, "module")
        self.session("admin").addBType("module")
        build = s.CGImport(md, "cli-import/x1", reserved["token"])
        self.assertEqual(build["state"], koji.BUILD_STATES["COMPLETE"])
        self.assertEqual(build["cg_name"], "bbmod")
        self.assertEqual([r["arch"] for r in s.listBuildRPMs(build["id"])], ["noarch"])
        self.assertEqual([b["id"] for b in s.listBuilds(type="module")], [build["id"]])
        files = self.hub.build_dir(build)
        self.assertTrue((files / "files" / "module" / "modulemd.txt").is_file())
        (archive,) = s.listArchives(buildID=build["id"])
        self.assertEqual((archive["filename"], archive["btype"]), ("modulemd.txt", "module"))
        self.assertEqual(s.getBuildType(build["id"]), {"module": {"name": "cgpkg"}, "rpm": {}})
        (rpm_info,) = s.listBuildRPMs(build["id"])
        self.assertEqual(rpm_info["buildroot_id"], archive["buildroot_id"])  # the CG's
        self.assertEqual(rpm_info["extra"], {})
        self.assertEqual(
            json.loads((files / "data" / "metadata.json").read_text())["build"]["name"], "cgpkg"
        )
        s.tagBuildBypass("module-cg", build["id"])
        self.assertEqual([b["nvr"] for b in s.listTagged("module-cg")], ["cgpkg-1.0-1"])
        # the same NVR cannot be imported again
        self.assertRaises(
            koji.GenericError,
            s.CGInitBuild,
            "bbmod",
            {"name": "cgpkg", "version": "1.0", "release": "1"},
        )

    def test_cg_import_checks(self) -> None:
        s = self.session("mbs")
        self.hub.add_btype("module")
        rpm = self._rpm()
        reserved = s.CGInitBuild("bbmod", {"name": "cgpkg", "version": "1.0", "release": "1"})
        err = self.assertRaises(
            koji.GenericError,
            s.CGInitBuild,
            "bbmod",
            {"name": "cgpkg", "version": "1.0", "release": "1"},
        )
        self.assertEqual(str(err), "Build is already reserved")
        md = self._metadata(reserved["build_id"], [rpm])
        # not uploaded: the real hub fails opening it, a Python error (fault code 1) that
        # koji's client has no class for
        fault = self.assertRaises(
            xmlrpc.client.Fault, s.CGImport, md, "cli-import/y", reserved["token"]
        )
        self.assertEqual(fault.faultCode, 1)
        self.assertIn("FileNotFoundError", fault.faultString)
        bad = json.loads(json.dumps(md))
        del bad["buildroots"][0]["host"]
        fault = self.assertRaises(
            xmlrpc.client.Fault, s.CGImport, bad, "cli-import/y", reserved["token"]
        )
        self.assertEqual(fault.faultString, "<class 'KeyError'>: 'host'")
        with koji_upload():
            s.fastUpload(rpm, "cli-import/y")
        bad = json.loads(json.dumps(md))
        bad["output"][0]["checksum"] = "0" * 32
        err = self.assertRaises(
            koji.GenericError, s.CGImport, bad, "cli-import/y", reserved["token"]
        )
        self.assertIn("checksum mismatch", str(err))
        bad = dict(md, metadata_version=1)
        self.assertRaises(koji.GenericError, s.CGImport, bad, "cli-import/y", reserved["token"])
        bad = json.loads(json.dumps(md))
        bad["buildroots"][0]["content_generator"]["name"] = "other"
        err = self.assertRaises(
            koji.GenericError, s.CGImport, bad, "cli-import/y", reserved["token"]
        )
        self.assertEqual(str(err), "No such entry in table content_generator: other")
        admin = self.session("admin")  # admin, but without access to the CG
        self.assertRaises(koji.AuthError, admin.CGImport, md, "cli-import/y", reserved["token"])
        # another user cannot write into mbs's upload folder
        with koji_upload():
            self.assertRaises(koji.GenericError, admin.fastUpload, rpm, "cli-import/y", "x.rpm")
        self.assertEqual(
            s.CGImport(md, "cli-import/y", reserved["token"])["state"],
            koji.BUILD_STATES["COMPLETE"],
        )
        # a bad chunk digest is refused by uploadFile
        self.assertFalse(s.uploadFile("cli-import/z", "f", 3, ("sha256", "00"), 0, "YWJj"))


class RealHubShapes(HubCase):
    """What a real hub (koji 1.35.3, docs/koji.md "Verified against a real hub") answered
    differently from this fake before it was fixed."""

    def test_users_permissions_and_lookup_messages(self) -> None:
        s = self.session("mbs")
        me = s.getLoggedInUser()
        self.assertEqual((me["authtype"], me["krb_principal"]), (koji.AUTHTYPES["NORMAL"], None))
        # 'build' is no permission of a fresh hub: an admin creates it first
        self.assertNotIn("build", [p["name"] for p in s.getAllPerms()])
        self.assertRaises(ValueError, self.hub.add_user, "builder", perms=("build",))
        self.hub.add_permission("build")
        self.hub.add_user("builder", perms=("build",))
        err = self.assertRaises(koji.GenericError, s.getTagGroups, "nope")
        self.assertEqual(str(err), "No such entry in table tag: nope")
        for call, arg in (
            (s.listPackages, {"tagID": "nope"}),
            (s.getInheritanceData, {"tag": "nope"}),
            (s.getRepo, {"tag": "nope"}),
        ):
            err = self.assertRaises(koji.GenericError, call, **arg)
            self.assertEqual(str(err), "No such entry in table tag: nope")
        err = self.assertRaises(koji.GenericError, s.getTag, "nope", strict=True)
        self.assertEqual(str(err), "No such tagInfo: 'nope'")  # get_tag's own message
        s.createTag("t", arches="x86_64")
        err = self.assertRaises(koji.GenericError, s.editTag2, "t", perm="nosuchperm")
        self.assertEqual(str(err), "No such entry in table permissions: nosuchperm")
        s.groupListAdd("t", "build")
        err = self.assertRaises(koji.GenericError, s.groupPackageListAdd, "t", "nogroup", "bash")
        self.assertEqual(str(err), "No such entry in table groups: nogroup")
        err = self.assertRaises(koji.GenericError, s.repoInfo, 12345, strict=True)
        self.assertEqual(str(err), "query returned no rows")
        nobody = self.session("nobody")
        err = self.assertRaises(koji.ActionNotAllowed, nobody.packageListAdd, "t", "p", "nobody")
        self.assertEqual(
            str(err),
            "policy violation (package_list): Only admin/tag can do this via default policy",
        )

    def test_tag_rows_events_and_logs(self) -> None:
        s = self.session("mbs")
        self.module_tags(s)
        # a tag may be made to inherit from itself: the real hub accepts it
        self_link = {
            "parent_id": s.getTag("module-a-build")["id"], "priority": 50, "maxdepth": None,
            "intransitive": False, "noconfig": False, "pkg_filter": "",
        }  # fmt: skip
        s.setInheritanceData("module-a-build", [self_link])
        s.setInheritanceData("module-a-build", [{**self_link, "delete link": True}])
        self.assertNotIn("extra", s.listTags(pattern="module-a*")[0])
        config = s.getBuildConfig("module-a-build")
        self.assertEqual(config["config_inheritance"], {"extra": {}, "arches": None})
        full = s.getFullInheritance("module-a-build")
        self.assertEqual({e["nextdepth"] for e in full}, {None})
        s.packageListAdd("module-a", "p", "mbs")
        self.assertIsNone(s.listPackages(tagID="module-a")[0]["extra_arches"])
        # tasks and repo states are no events; repo_init is one (its create_event)
        before = s.getLastEvent()["id"]
        self.hub.repo_delay = 60
        task_id = s.newRepo("module-a-build")
        deadline = time.monotonic() + 10
        repo = None
        while repo is None and time.monotonic() < deadline:
            repo = s.getRepo("module-a-build", state=koji.REPO_STATES["INIT"])
            time.sleep(0.05)
        assert repo is not None
        self.assertEqual(repo["create_event"], before + 1)
        self.assertEqual(s.getLastEvent()["id"], before + 1)
        s.cancelTask(task_id)
        self.assertEqual(s.getLastEvent()["id"], before + 1)
        # listTagged rows are narrower than getBuild's
        admin = self.session("admin")
        admin.addBType("module")
        rpm = self._rpm()
        reserved = s.CGInitBuild("bbmod", {"name": "cgpkg", "version": "1.0", "release": "1"})
        log = os.path.join(self.tmp, "build.log")
        with open(log, "w") as f:
            f.write("log\n")
        with koji_upload():
            s.uploadWrapper(rpm, "cli-import/l")
            s.uploadWrapper(log, "cli-import/l")
        md = self._metadata(reserved["build_id"], [rpm])
        with open(log, "rb") as fo:
            data = fo.read()
        md["output"].append({
            "buildroot_id": 1, "filename": "build.log", "filesize": len(data), "arch": "noarch",
            "checksum": hashlib.md5(data).hexdigest(), "checksum_type": "md5", "type": "log",
        })  # fmt: skip
        before = s.getLastEvent()["id"]
        build = s.CGImport(md, "cli-import/l", reserved["token"])
        self.assertEqual(s.getLastEvent()["id"], before)  # the build row was CGInitBuild's
        s.tagBuildBypass("module-a", build["id"])
        (row,) = s.listTagged("module-a")
        self.assertNotIn("extra", row)
        self.assertNotIn("cg_name", row)
        self.assertEqual(row["tag_name"], "module-a")
        rpms, _builds = s.listTaggedRPMS("module-a")
        self.assertNotIn("nvr", rpms[0])
        self.assertEqual(
            s.getBuildLogs(build["id"]),
            [
                {
                    "name": "build.log",
                    "dir": ".",
                    "path": "packages/cgpkg/1.0/1/data/logs/./build.log",
                }
            ],
        )
