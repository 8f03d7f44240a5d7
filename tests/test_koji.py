"""The Koji backend and content-generator import against the in-process hub
(tests/kojihub.py: koji's XML-RPC, fault codes and permission checks; a builder that
really runs rpmbuild from the SCM URL; newRepo with createrepo_c), through the real
pipeline: an in-process master (test_module_build.start_site), a real git dist-git."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
import warnings
from typing import Any

import koji
from buildbot.test.util.integration import RunMasterBase
from fedora_messaging.message import Message
from fedora_messaging.twisted.service import FedoraMessagingServiceV2
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from buildbot_modules.core.identity import dist_tag, platform_marking
from buildbot_modules.distgit import DistGit
from buildbot_modules.koji.bus import parse_task_state
from buildbot_modules.koji.client import KojiClient, KojiError
from buildbot_modules.koji.naming import build_tag, module_nvr, module_tag, target_name
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .kojihub import FakeKojiHub, client
from .rabbitmq import start_rabbitmq
from .test_module_build import start_site
from .test_pipeline import SPEC, module_yaml

PASSWORD = "s3cret-koji"
BUS_PREFIX = "org.example.test"

# fedora-messaging 3.9 still calls defer.returnValue, deprecated since Twisted 24.7;
# buildbot.test turns every warning into an error (as in test_bus).
warnings.filterwarnings(
    "ignore",
    message="twisted.internet.defer.returnValue was deprecated",
    category=DeprecationWarning,
    module=r".*fedora_messaging",
)


def start_hub(case: unittest.TestCase, **kwargs: Any) -> Any:
    hub = FakeKojiHub(tempdir(case), **kwargs)
    # What a real site does once (docs/koji.md): a "build" permission for its
    # build_from_scm policy (not in koji's schema) and the "module" build type.
    hub.add_permission("build")
    hub.add_btype("module")
    hub.add_user("bbmod", password=PASSWORD, perms=("tag", "target", "repo", "build"))
    hub.add_user("root", password="root", perms=("admin",))
    hub.add_user("reader", password="reader")
    hub.build_from_scm_perms = ("admin", "build")
    hub.add_content_generator("buildbot-modules", ("bbmod",))
    hub.start()
    case.addCleanup(hub.stop)
    admin = client(case, hub.url, {"user": "root", "password": "root"})
    admin.login()
    admin.createTag("f39-build", arches=os.uname().machine)
    return hub


def koji_settings(case: unittest.TestCase, hub: Any, **overrides: Any) -> dict[str, Any]:
    secrets = tempdir(case)
    write(secrets, "koji-password", PASSWORD)
    os.chmod(os.path.join(secrets, "koji-password"), 0o600)  # SecretInAFile insists
    values = {
        "backend": "koji",
        "koji_hub": hub.url,
        "koji_topurl": hub.topdir_url,
        "koji_auth": "password",
        "koji_user": "bbmod",
        "koji_password_secret": "koji-password",
        "secrets_dir": secrets,
        "koji_platform_tag": {"f39": "f39-build"},
        "koji_poll_interval": 0.2,
        "koji_scm_url": "git+file://{path}?#{commit}",
        "checks": [],
        **overrides,
    }
    return values


def call_index(hub: Any, method: str, match: Any) -> list[int]:
    return [i for i, (m, a, k, _u) in enumerate(list(hub.calls)) if m == method and match(a, k)]


class KojiBackendBuild(RunMasterBase):
    proto = "pb"
    timeout = 240

    @defer.inlineCallbacks
    def test_module_built_by_koji_in_dag_order_with_coalesced_repos(self) -> None:
        hub = start_hub(self, repo_delay=0.5)
        settings = yield start_site(self, **koji_settings(self, hub))
        source = tempdir(self)
        deps = {"k-base": [], "k-one": ["k-base"], "k-two": ["k-base"], "k-three": ["k-base"]}
        write(source, "modules/kj/kj.yaml", module_yaml("Koji DAG", deps))
        for name in deps:
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        build = yield wait_final(registry, "kj")
        self.assertEqual(build.state, "ready", build.state_reason)
        states = {c.name: c.state for c in registry.components(build.id)}
        self.assertEqual(set(states.values()), {"built"}, states)

        tag = module_tag("module", "kj", "main", build.version, build.context)
        btag = build_tag(tag)
        session = client(self, hub.url)
        # Tags, target, arches, macros, inheritance, groups, package lists.
        info = session.getTag(btag)
        self.assertEqual(info["arches"], os.uname().machine)
        expected_dist = dist_tag(
            "kj", "main", build.version, build.context, platform_marking("f39"), build.id
        )
        self.assertEqual(info["extra"]["rpm.macro.dist"], expected_dist)
        self.assertEqual(
            info["extra"]["rpm.macro.modularitylabel"],
            f"kj:main:{build.version}:{build.context}",
        )
        self.assertEqual(info["extra"]["mock.package_manager"], "dnf")
        target = session.getBuildTarget(
            target_name("module", "kj", "main", build.version, build.context)
        )
        self.assertEqual((target["build_tag_name"], target["dest_tag_name"]), (btag, tag))
        parents = [p["name"] for p in session.getInheritanceData(btag)]
        self.assertEqual(parents, ["f39-build"])
        groups = {g["name"] for g in session.getTagGroups(btag, inherit=False)}
        self.assertEqual(groups, {"build", "srpm-build"})
        listed = {p["package_name"] for p in session.listPackages(tagID=tag)}
        self.assertEqual(listed, set(deps))
        # Every component was built by Koji and tagged into both tags; NVRs carry the dist.
        for tagname in (tag, btag):
            nvrs = {b["name"]: b["nvr"] for b in session.listTagged(tagname)}
            self.assertEqual(set(nvrs), set(deps))
        for c in registry.components(build.id):
            self.assertIn(expected_dist, c.nvr or "")
        # DAG order: a successor is submitted only after k-base is tagged into the build
        # tag and a newRepo requested after that tagging finished.
        base_tagged = call_index(hub, "tagBuildBypass", lambda a, k: a[0] == btag)[0]
        repos = call_index(hub, "newRepo", lambda a, k: a[0] == btag)
        builds = call_index(hub, "build", lambda a, k: True)
        self.assertEqual(len(builds), 4)
        self.assertLess(builds[0], base_tagged)
        self.assertTrue(all(base_tagged < b for b in builds[1:]))
        # Coalesced: one repo for k-base, ONE shared by the three released together.
        self.assertEqual(len(repos), 2, [hub.calls[i] for i in repos])
        self.assertLess(base_tagged, repos[1])
        self.assertTrue(all(repos[1] < b for b in builds[1:]))
        # The module itself is a content-generator build of type module.
        name, version, release = module_nvr("kj", "main", build.version, build.context)
        module_build = session.getBuild(f"{name}-{version}-{release}")
        self.assertIsNotNone(module_build)
        typeinfo = module_build["extra"]["typeinfo"]["module"]
        self.assertEqual(typeinfo["content_koji_tag"], tag)
        self.assertIn("k-three", typeinfo["modulemd_str"])

    @defer.inlineCallbacks
    def test_stopping_the_module_build_cancels_koji_tasks(self) -> None:
        hub = start_hub(self, build_delay=60)
        settings = yield start_site(self, **koji_settings(self, hub))
        source = tempdir(self)
        deps = {"c-slow": [], "c-after": ["c-slow"]}
        write(source, "modules/kc/kc.yaml", module_yaml("Koji cancel", deps))
        for name in deps:
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        deadline = time.monotonic() + 90
        while not hub.calls_of("build") and time.monotonic() < deadline:
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.assertTrue(hub.calls_of("build"), "no Koji build was submitted")
        builders = yield self.master.data.get(("builders",))
        names = {b["builderid"]: b["name"] for b in builders}
        builds = yield self.master.data.get(("builds",))
        (module_build,) = [
            b for b in builds if not b["complete"] and names[b["builderid"]] == "module kc:main"
        ]
        started = time.monotonic()
        yield self.master.data.control(
            "stop", {"reason": "test"}, ("builds", module_build["buildid"])
        )
        record = yield wait_final(registry, "kc")
        self.assertEqual(record.state, "failed")
        self.assertLess(time.monotonic() - started, 30)  # not the 60 s build
        cancelled = [a[0] for a, _k, _u in hub.calls_of("cancelTask")]
        submitted = client(self, hub.url).listTasks(opts={"method": "build"})
        self.assertEqual(sorted(cancelled), sorted(t["id"] for t in submitted))
        self.assertEqual({koji.TASK_STATES[t["state"]] for t in submitted}, {"CANCELED"})
        states = {c.name: c.state for c in registry.components(record.id)}
        self.assertEqual(states, {"c-slow": "cancelled", "c-after": "cancelled"})

    @defer.inlineCallbacks
    def test_stopping_while_waiting_for_a_repo(self) -> None:
        # Found against a real hub: without kojira/kojid a newRepo task can stay FREE for
        # minutes; a build stopped while it waits for that repo must stop at once.
        hub = start_hub(self, repo_delay=120)
        settings = yield start_site(self, **koji_settings(self, hub))
        source = tempdir(self)
        deps = {"w-first": [], "w-next": ["w-first"]}
        write(source, "modules/kw/kw.yaml", module_yaml("Koji repo wait", deps))
        for name in deps:
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        deadline = time.monotonic() + 90
        while not hub.calls_of("newRepo") and time.monotonic() < deadline:
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.assertTrue(hub.calls_of("newRepo"), "no newRepo was requested")
        yield task.deferLater(reactor, 0.5, lambda: None)
        builds = yield self.master.data.get(("builds",))
        started = time.monotonic()
        for b in builds:
            if not b["complete"]:
                yield self.master.data.control("stop", {"reason": "test"}, ("builds", b["buildid"]))
        record = yield wait_final(registry, "kw", 60)
        self.assertLess(time.monotonic() - started, 20)  # not the 120 s regeneration
        self.assertEqual(record.state, "failed")
        self.assertEqual(hub.calls_of("build"), [])  # nothing was submitted after the stop
        states = {c.name: c.state for c in registry.components(record.id)}
        self.assertEqual(states, {"w-first": "cancelled", "w-next": "cancelled"})
        # End the repo task so that the master's follower of it ends with the test.
        admin = client(self, hub.url, {"user": "root", "password": "root"})
        admin.login()
        for t in admin.listTasks(opts={"method": "newRepo"}):
            admin.cancelTask(t["id"])
        yield task.deferLater(reactor, 1.0, lambda: None)

    @defer.inlineCallbacks
    def test_reuse_takes_koji_builds_from_the_earlier_module_tag(self) -> None:
        hub = start_hub(self)
        settings = yield start_site(self, **koji_settings(self, hub))
        registry, distgit = Registry(settings.registry_url), DistGit(settings.distgit)
        source = tempdir(self)
        deps = {"r-base": [], "r-lib": ["r-base"], "r-leaf": ["r-base"]}
        write(source, "modules/kr/kr.yaml", module_yaml("Koji reuse", deps))
        for name in deps:
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        distgit.import_dir(source)
        first = yield wait_final(registry, "kr")
        self.assertEqual(first.state, "ready", first.state_reason)
        nvrs = {c.name: c.nvr for c in registry.components(first.id)}
        session = client(self, hub.url)

        # A change to the leaf: Koji builds the leaf alone; base and lib come from the
        # first module's tag and are tagged into the new tags before the leaf's repo.
        start = len(hub.calls)
        yield self.change(source, distgit, "r-leaf")
        second = yield wait_next(registry, "kr", first.id)
        self.assertEqual(second.state, "ready", second.state_reason)
        states = {c.name: c.state for c in registry.components(second.id)}
        self.assertEqual(states, {"r-base": "reused", "r-lib": "reused", "r-leaf": "built"})
        built = [a[0] for a, _k, _u in hub.calls_of("build")[3:]]
        self.assertEqual(len(built), 1, built)
        self.assertIn("/r-leaf?", built[0])
        tag = module_tag("module", "kr", "main", second.version, second.context)
        btag = build_tag(tag)
        old_tag = module_tag("module", "kr", "main", first.version, first.context)
        looked = call_index(hub, "listTagged", lambda a, k: a[0] in (old_tag, build_tag(old_tag)))
        self.assertTrue([i for i in looked if i >= start], "the earlier tags were not read")
        for tagname in (tag, btag):
            tagged = {b["name"]: b["nvr"] for b in session.listTagged(tagname)}
            self.assertEqual(tagged["r-base"], nvrs["r-base"])
            self.assertEqual(tagged["r-lib"], nvrs["r-lib"])
            self.assertNotEqual(tagged["r-leaf"], nvrs["r-leaf"])
        base_in_btag = call_index(
            hub,
            "tagBuildBypass",
            lambda a, k: a[0] == btag and a[1] == session.getBuild(nvrs["r-base"])["build_id"],
        )
        repos = call_index(hub, "newRepo", lambda a, k: a[0] == btag)
        self.assertEqual(len(base_in_btag), 1)
        self.assertTrue(repos and all(base_in_btag[0] < r for r in repos), (base_in_btag, repos))
        # The leaf's buildroot repo held the reused base (the repo's event is after it).
        in_repo = session.listTagged(btag, event=session.getRepo(btag)["create_event"])
        self.assertIn(nvrs["r-base"], {b["nvr"] for b in in_repo})

        # lib's Koji build left the earlier modules' tags (where it was made and where it
        # was reused): lib is rebuilt, not reused; base still is; the plan log says why.
        admin = client(self, hub.url, {"user": "root", "password": "root"})
        admin.login()
        for tagname in (tag, btag, old_tag, build_tag(old_tag)):
            admin.untagBuildBypass(tagname, nvrs["r-lib"])
        yield self.change(source, distgit, "r-leaf")
        third = yield wait_next(registry, "kr", second.id)
        self.assertEqual(third.state, "ready", third.state_reason)
        states = {c.name: c.state for c in registry.components(third.id)}
        self.assertEqual(states, {"r-base": "reused", "r-lib": "built", "r-leaf": "built"})
        self.assertEqual(len(hub.calls_of("build")), 3 + 1 + 2)
        plan = yield self.last_log("module kr:main", "plan", "plan")
        self.assertIn(f"r-lib: rebuilt, not reused: Koji build {nvrs['r-lib']} is not", plan)
        self.assertNotIn("r-base: rebuilt", plan)
        new_tag = module_tag("module", "kr", "main", third.version, third.context)
        tagged = {b["name"]: b["nvr"] for b in session.listTagged(new_tag)}
        self.assertEqual(tagged["r-base"], nvrs["r-base"])
        self.assertNotEqual(tagged["r-lib"], nvrs["r-lib"])

    @defer.inlineCallbacks
    def change(self, source: str, distgit: DistGit, package: str) -> Any:
        yield task.deferLater(reactor, 1.1, lambda: None)  # a later commit second
        text = SPEC.format(name=package, build=f"echo {time.time()}")
        write(source, f"rpms/{package}/{package}.spec", text)
        distgit.import_dir(source)

    @defer.inlineCallbacks
    def last_log(self, builder: str, step: str, slug: str) -> Any:
        builders = yield self.master.data.get(("builders",))
        (builderid,) = [b["builderid"] for b in builders if b["name"] == builder]
        builds = yield self.master.data.get(("builders", builderid, "builds"))
        last = max(builds, key=lambda b: b["number"])
        steps = yield self.master.data.get(("builds", last["buildid"], "steps"))
        (found,) = [s for s in steps if s["name"] == step]
        logs = yield self.master.data.get(("steps", found["stepid"], "logs"))
        (log,) = [lg for lg in logs if lg["slug"] == slug]
        contents = yield self.master.data.get(("logs", log["logid"], "contents"))
        return contents["content"]


class KojiImportBuild(RunMasterBase):
    proto = "pb"
    timeout = 240

    @defer.inlineCallbacks
    def test_components_and_module_imported_as_content_generator(self) -> None:
        hub = start_hub(self)
        values = koji_settings(self, hub, backend="rpmbuild", koji_import=True)
        settings = yield start_site(self, **values)
        source = tempdir(self)
        deps = {"i-base": [], "i-top": ["i-base"]}
        write(source, "modules/ki/ki.yaml", module_yaml("Koji import", deps))
        for name in deps:
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        build = yield wait_final(registry, "ki")
        self.assertEqual(build.state, "ready", build.state_reason)
        self.assertEqual(hub.calls_of("build"), [])  # our workers built them
        imports = [a[0] for a, _k, _u in hub.calls_of("CGImport")]
        kinds = sorted(next(iter(m["build"]["extra"]["typeinfo"])) for m in imports)
        self.assertEqual(kinds, ["module", "rpm", "rpm"])
        for m in imports:
            self.assertEqual(m["metadata_version"], 0)
            self.assertEqual(m["buildroots"][0]["content_generator"]["name"], "buildbot-modules")
        session = client(self, hub.url)
        tag = module_tag("module", "ki", "main", build.version, build.context)
        tagged = {b["nvr"] for b in session.listTagged(tag)}
        self.assertEqual(tagged, {c.nvr for c in registry.components(build.id)})
        rpms = session.listBuildRPMs(registry.components(build.id)[0].nvr)
        self.assertIn("src", {r["arch"] for r in rpms})


class KojiTaskMessages(RunMasterBase):
    """Koji's buildsys.task.state.change messages (published here the way Fedora's
    koji-fedoramessaging plugin does, from the hub's postTaskStateChange callback) wake
    the task pollers; polling alone still finishes when no message comes."""

    proto = "pb"
    timeout = 240

    @defer.inlineCallbacks
    def start(self, hub: Any, poll: float) -> Any:
        amqp = start_rabbitmq(self)
        self.fm = FedoraMessagingServiceV2(amqp)
        self.fm.startService()
        self.addCleanup(self.fm.stopService)
        values = koji_settings(self, hub, koji_poll_interval=poll)
        settings = yield start_site(
            self,
            amqp_url=amqp,
            bus_topic_prefix=BUS_PREFIX,
            bus_queue=f"bbmod-test-{uuid.uuid4().hex[:8]}",
            **values,
        )
        consumer = self.master.service_manager.namedServices["bbmod-koji-bus"]
        yield consumer.consuming  # bound: no message is lost from here on
        self.assertEqual(consumer.topic, f"{BUS_PREFIX}.buildsys.task.state.change")
        return settings

    def publish_task_states(self, hub: Any) -> dict[int, float]:
        """Publish every task state change as koji-fedoramessaging does; returns task id
        -> when it ended (for the latency)."""
        ended: dict[int, float] = {}

        def on_change(kws: dict[str, Any]) -> None:  # a hub thread
            info = kws["info"]
            if kws["new"] in ("CLOSED", "FAILED", "CANCELED"):
                ended[info["id"]] = time.monotonic()
            body = {
                "id": info["id"],
                "attribute": kws["attribute"],
                "old": kws["old"],
                "new": kws["new"],
                "method": info["method"],
                "owner": "bbmod",
                "info": {k: v for k, v in info.items() if k not in ("create_ts", "start_ts")},
            }
            message = Message(topic=f"{BUS_PREFIX}.buildsys.task.state.change", body=body)
            reactor.callFromThread(self.fm.factory.publish, message, "amq.topic")

        hub.task_callbacks.append(on_change)
        return ended

    @defer.inlineCallbacks
    def test_a_task_state_message_ends_the_wait_at_once(self) -> None:
        # 60 s between polls: without the messages this build would take minutes.
        hub = start_hub(self, build_delay=1.5, repo_delay=1.0)
        settings = yield self.start(hub, poll=60)
        ended = self.publish_task_states(hub)
        source = tempdir(self)
        deps = {"m-one": [], "m-two": ["m-one"]}
        write(source, "modules/km/km.yaml", module_yaml("Koji messages", deps))
        for name in deps:
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        started = time.monotonic()
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        build = yield wait_final(registry, "km", 100)
        total = time.monotonic() - started
        self.assertEqual(build.state, "ready", build.state_reason)
        koji_site = self.master.service_manager.namedServices["bbmod-koji-bus"].site.koji
        woken = {task_id for task_id, _state, count in koji_site.messages if count}
        session = client(self, hub.url)
        tasks = [t for m in ("build", "newRepo") for t in session.listTasks(opts={"method": m})]
        self.assertEqual(len(tasks), 4)  # two repos, two builds: each waited for
        # Each task was still running at the first look (build/repo delays), so only a
        # message can have ended each wait before the 60 s poll.
        self.assertEqual({t["id"] for t in tasks}, woken & {t["id"] for t in tasks})
        self.assertEqual(set(ended), {t["id"] for t in tasks})
        print(f"\nkoji bus: 2 repos + 2 builds with a 60 s poll interval: ready in {total:.1f} s")
        self.assertLess(total, 60)

    @defer.inlineCallbacks
    def test_without_messages_polling_finishes(self) -> None:
        hub = start_hub(self, build_delay=1.0)
        settings = yield self.start(hub, poll=0.5)  # a bus, but the hub publishes nothing
        source = tempdir(self)
        write(source, "modules/kn/kn.yaml", module_yaml("Koji polling", {"n-one": []}))
        write(source, "rpms/n-one/n-one.spec", SPEC.format(name="n-one", build=""))
        DistGit(settings.distgit).import_dir(source)
        registry = Registry(settings.registry_url)
        build = yield wait_final(registry, "kn", 100)
        self.assertEqual(build.state, "ready", build.state_reason)
        koji_site = self.master.service_manager.namedServices["bbmod-koji-bus"].site.koji
        self.assertEqual(koji_site.messages, [])
        looks = [a for a, _k, _u in hub.calls_of("getTaskInfo")]
        self.assertGreater(len(looks), 2)  # several polls of the running build


class TaskStateMessages(unittest.TestCase):
    def test_message_shapes(self) -> None:
        # koji-fedoramessaging's body; koji protonmsg's (the id only in info); others.
        fm = {"id": 7, "attribute": "state", "old": "OPEN", "new": "CLOSED", "info": {"id": 7}}
        self.assertEqual(parse_task_state(fm), (7, "CLOSED"))
        proton = {"attribute": "state", "old": "FREE", "new": "OPEN", "info": {"id": 8}}
        self.assertEqual(parse_task_state(proton), (8, "OPEN"))
        self.assertIsNone(parse_task_state({**fm, "attribute": "host_id", "new": 3}))
        self.assertIsNone(parse_task_state({"id": "7", "new": "CLOSED"}))
        self.assertIsNone(parse_task_state({"id": True, "new": "CLOSED"}))
        self.assertIsNone(parse_task_state(["not", "a", "dict"]))


class KojiClientAgainstHub(unittest.TestCase):
    def test_anonymous_read_and_write_without_permission(self) -> None:
        hub = start_hub(self)
        anon = KojiClient(hub.url)
        self.assertEqual(anon.read("getTag", "f39-build")["name"], "f39-build")
        with self.assertRaises(KojiError) as e:
            anon.call("createTag", "nope")
        self.assertIn("needs a login", e.exception.message)
        reader = KojiClient(hub.url, auth="password", user="reader", password="reader")
        with self.assertRaises(KojiError) as e:
            reader.call("createTag", "module-x-build")
        self.assertIn("not allowed", e.exception.message)
        self.assertIn("grant reader", e.exception.as_problem().format())
        self.assertIsNone(anon.read("getTag", "module-x-build"))

    def test_a_hub_python_error_is_a_koji_error(self) -> None:
        # A real hub answers CGImport of a file never uploaded with a FileNotFoundError
        # (fault code 1, no koji class): the client names the call, never a raw Fault.
        hub = start_hub(self)
        client = KojiClient(hub.url, auth="password", user="bbmod", password=PASSWORD)
        md = {
            "metadata_version": 0,
            "build": {"name": "x", "version": "1", "release": "1", "epoch": None,
                      "start_time": 1, "end_time": 2, "extra": {"typeinfo": {"rpm": {}}}},
            "buildroots": [{"id": 1, "host": {"os": "Linux", "arch": "x86_64"},
                            "content_generator": {"name": "buildbot-modules", "version": "1"},
                            "container": {"type": "none", "arch": "x86_64"},
                            "tools": [], "components": []}],
            "output": [{"buildroot_id": 1, "filename": "x-1-1.noarch.rpm", "filesize": 1,
                        "arch": "noarch", "checksum_type": "md5", "checksum": "0" * 32,
                        "type": "rpm"}],
        }  # fmt: skip
        with self.assertRaises(KojiError) as e:
            client.call("CGImport", md, "bbmod-cg/never-uploaded")
        self.assertIn("Koji CGImport: the hub failed", e.exception.message)
        self.assertIn("FileNotFoundError", e.exception.message)

    def test_retry_after_dropped_connections_and_a_hub_restart(self) -> None:
        hub = start_hub(self)
        proxy = DroppingProxy(hub.url, drop=2)
        self.addCleanup(proxy.close)
        client = KojiClient(proxy.url, auth="password", user="bbmod", password=PASSWORD)
        client.sleep = lambda s: None
        # A read survives two dropped connections.
        self.assertEqual(client.read("getTag", "f39-build")["name"], "f39-build")
        self.assertEqual(proxy.dropped, 2)
        client.call("createTag", "module-y")  # logs in, writes
        # The hub forgets every session (as a restart does): the client logs in again.
        hub._sessions.clear()
        client.call("createTag", "module-z")
        logins = [a for a, _k, _u in hub.calls_of("login") if a and a[0] == "bbmod"]
        self.assertEqual(len(logins), 2)
        # A write whose connection drops after sending is not repeated blindly (koji
        # itself resends once with the same call number, which a real hub refuses to run
        # twice; a second drop reaches us).
        proxy.reset(drop=2)
        with self.assertRaises(KojiError) as e:
            client.call("createTag", "module-w")
        self.assertIn("may or may not have happened", e.exception.message)
        self.assertNotIn("module-w", [a[0] for a, _k, _u in hub.calls_of("createTag")])


class DroppingProxy:
    """A TCP proxy in front of the hub that closes the first ``drop`` connections after
    reading the request (a load balancer restarting)."""

    def __init__(self, url: str, drop: int) -> None:
        host_port = url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.split(":")
        self.target = (host, int(port))
        self.drop, self.dropped = drop, 0
        self.open: list[socket.socket] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.url = url.replace(host_port, f"127.0.0.1:{self.server.getsockname()[1]}")
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            if self.drop > 0:
                self.drop -= 1
                self.dropped += 1
                conn.recv(65536)
                conn.close()
                continue
            threading.Thread(target=self._pipe, args=(conn,), daemon=True).start()

    def reset(self, drop: int) -> None:
        """Close the open connections; drop the next ``drop`` new ones."""
        self.drop = drop
        for s in self.open:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _pipe(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target)
        except OSError:  # the hub has stopped
            conn.close()
            return
        self.open += [conn, upstream]

        def copy(a: socket.socket, b: socket.socket) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=copy, args=(upstream, conn), daemon=True).start()
        copy(conn, upstream)

    def close(self) -> None:
        self.server.close()
        self.reset(drop=0)
        for s in self.open:
            s.close()


@defer.inlineCallbacks
def wait_final(registry: Registry, name: str, seconds: float = 180) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        builds = registry.module_builds(name=name)
        if builds and builds[0].state in ("ready", "failed"):
            return builds[0]
        yield task.deferLater(reactor, 0.5, lambda: None)
    raise AssertionError(f"module build of {name} did not finish in {seconds} s")


@defer.inlineCallbacks
def wait_next(registry: Registry, name: str, after: int, seconds: float = 180) -> Any:
    """The first module build of ``name`` after build ``after``, once it has ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        builds = [b for b in registry.module_builds(name=name) if b.id > after]
        if builds and builds[-1].state in ("ready", "failed"):
            return builds[-1]
        yield task.deferLater(reactor, 0.5, lambda: None)
    raise AssertionError(f"no module build of {name} after {after} finished in {seconds} s")
