"""The message bus against a real, private RabbitMQ (tests/rabbitmq.py): git.receive
messages build modules in an in-process master, once per commit, whatever the poller
does; module state changes come out as messages a consumer receives and validates."""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from typing import Any

from bbmod_messages import GitReceiveV1, ModuleStateChangeV1
from buildbot.test.util.integration import RunMasterBase
from fedora_messaging.twisted.service import FedoraMessagingServiceV2
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.bus import Push, module_build_json, parse_git_receive
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .rabbitmq import start_rabbitmq
from .test_module_build import start_site
from .test_pipeline import SPEC, module_yaml

PREFIX = "org.example.test"

# fedora-messaging 3.9 still calls defer.returnValue, deprecated since Twisted 24.7;
# buildbot.test turns every warning into an error.
warnings.filterwarnings(
    "ignore",
    message="twisted.internet.defer.returnValue was deprecated",
    category=DeprecationWarning,
    module=r".*fedora_messaging",  # a module name, or a file path when trial re-emits it
)


def git_receive(namespace: str, repo: str, rev: str, branch: str = "main") -> GitReceiveV1:
    body = {
        "commit": {
            "repo": repo,
            "namespace": namespace,
            "branch": branch,
            "rev": rev,
            "agent": "alice",
            "username": "alice",
            "summary": "a change",
            "message": "a change\n",
        }
    }
    return GitReceiveV1(topic=f"{PREFIX}.git.receive", body=body)


class ParseTests(unittest.TestCase):
    def test_namespaces_and_validation(self) -> None:
        rev = "a" * 40
        push = parse_git_receive(git_receive("rpms", "foo", rev).body)
        self.assertEqual(push, Push("rpms", "foo", "main", rev, "alice"))
        self.assertIsNone(parse_git_receive(git_receive("forks", "foo", rev).body))
        self.assertIsNone(parse_git_receive({"commit": {"repo": "foo"}}))
        self.assertIsNone(parse_git_receive(git_receive("rpms", "foo", "main").body))


class BusInProcess(RunMasterBase):
    proto = "pb"
    timeout = 240

    @defer.inlineCallbacks
    def start(self, **overrides: Any) -> Any:
        self.amqp = start_rabbitmq(self)
        self.fm = FedoraMessagingServiceV2(self.amqp)
        self.fm.startService()
        self.addCleanup(self.fm.stopService)
        settings = yield start_site(
            self,
            amqp_url=self.amqp,
            bus_topic_prefix=PREFIX,
            bus_queue=f"bbmod-test-{uuid.uuid4().hex[:8]}",
            **overrides,
        )
        self.consumer = self.master.service_manager.namedServices["bbmod-bus-consumer"]
        yield self.consumer.consuming  # the queue is bound: messages are not lost
        return settings

    def push(self, settings: Any, name: str, build: str = "") -> dict[str, str]:
        source = tempdir(self)
        write(source, f"modules/{name}/{name}.yaml", module_yaml("Bus", {f"{name}-pkg": []}))
        write(
            source, f"rpms/{name}-pkg/{name}-pkg.spec", SPEC.format(name=f"{name}-pkg", build=build)
        )
        return {r.name: r.commit for r in DistGit(settings.distgit).import_dir(source)}

    def publish(self, message: Any) -> Any:
        return self.fm.factory.publish(message, "amq.topic")

    @defer.inlineCallbacks
    def outcomes(self, count: int) -> Any:
        deadline = time.monotonic() + 30
        while len(self.consumer.outcomes) < count:
            if time.monotonic() > deadline:
                self.fail(f"the consumer handled {self.consumer.outcomes}, not {count} messages")
            yield task.deferLater(reactor, 0.02, lambda: None)
        return [outcome for _push, outcome in self.consumer.outcomes]

    @defer.inlineCallbacks
    def buildsets(self, reason: str) -> Any:
        sets = yield self.master.data.get(("buildsets",))
        return [b for b in sets if b["reason"] == reason]

    @defer.inlineCallbacks
    def changes(self, rev: str) -> Any:
        changes = yield self.master.data.get(("changes",))
        return [c for c in changes if c["revision"] == rev]

    @defer.inlineCallbacks
    def test_push_message_builds_once_and_states_are_published(self) -> None:
        # No polling after the first look: a build can only come from the bus.
        settings = yield self.start(poll_interval=3600)

        # A consumer of our module.state.change messages, as another service would be.
        received: list[Any] = []
        lock = threading.Lock()

        def on_state(message: Any) -> None:  # fedora-messaging calls it in a thread
            with lock:
                received.append(message)

        listener = FedoraMessagingServiceV2(self.amqp)
        listener.startService()
        self.addCleanup(listener.stopService)
        yield listener.factory.consume(
            on_state,
            [
                {
                    "exchange": "amq.topic",
                    "queue": "test-states",
                    "routing_keys": [f"{PREFIX}.bbmod.module.state.change"],
                }
            ],
            {
                "test-states": {
                    "durable": False,
                    "auto_delete": True,
                    "exclusive": False,
                    "arguments": {},
                }
            },
        )

        commits = self.push(settings, "busmod")
        rev = commits["busmod"]
        reason = "push to modules/busmod main"
        start = time.monotonic()
        yield self.publish(git_receive("modules", "busmod", rev))
        while not (yield self.buildsets(reason)):
            self.assertLess(time.monotonic() - start, 10, "no build request from the message")
            yield task.deferLater(reactor, 0.005, lambda: None)
        latency = time.monotonic() - start
        print(f"\nbus: git.receive published -> module build requested in {latency * 1000:.0f} ms")
        self.assertLess(latency, 1.0)
        [change] = yield self.changes(rev)
        self.assertEqual(change["properties"]["pushed_by"], ("alice", "Change"))
        self.assertEqual((change["project"], change["branch"]), ("busmod", "main"))
        self.assertEqual(change["category"], "module")

        # The same commit again (messages can repeat), a namespace this site does not
        # build, an unknown repository: no new change, no new request.
        yield self.publish(git_receive("modules", "busmod", rev))
        yield self.publish(git_receive("forks", "busmod", rev))
        yield self.publish(git_receive("modules", "nosuch", rev))
        outcomes = yield self.outcomes(3)
        self.assertEqual(outcomes, ["change", "duplicate", "unknown: no such repository"])

        registry = Registry(settings.registry_url)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            builds = registry.module_builds(name="busmod")
            if builds and builds[0].state in ("ready", "failed"):
                break
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(builds[0].state, "ready", builds[0].state_reason)
        self.assertEqual(len(builds), 1)
        self.assertEqual(len((yield self.buildsets(reason))), 1)
        self.assertEqual(len((yield self.changes(rev))), 1)

        # Every state, in order, as validated MBS-style messages.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(received) < 5:
            yield task.deferLater(reactor, 0.1, lambda: None)
        with lock:
            messages = list(received)
        for message in messages:
            self.assertIsInstance(message, ModuleStateChangeV1)
            message.validate()
            self.assertEqual(message.topic, f"{PREFIX}.bbmod.module.state.change")
        self.assertEqual(
            [m.body["state_name"] for m in messages], ["init", "wait", "build", "done", "ready"]
        )
        self.assertEqual([m.body["state"] for m in messages], [0, 1, 2, 3, 5])
        last = messages[-1].body
        record = registry.module_build(builds[0].id)
        expected = module_build_json(record, base_url=settings.url)
        for key in ("id", "name", "stream", "version", "context", "owner", "scmurl"):
            self.assertEqual(last[key], expected[key], key)
        self.assertIsNotNone(last["time_completed"])
        self.assertIn("busmod", messages[0].summary)

    @defer.inlineCallbacks
    def test_poller_and_bus_see_the_same_push_once(self) -> None:
        settings = yield self.start(poll_interval=1)
        for round_ in range(2):
            commits = self.push(settings, "twice", build="true" if round_ else "")
            rev = commits["twice"]
            # The message and the poller race for the same commit; one change wins.
            yield self.publish(git_receive("modules", "twice", rev))
            yield self.publish(git_receive("modules", "twice", rev))
            yield self.outcomes(2 * (round_ + 1))
            yield task.deferLater(reactor, 2.5, lambda: None)  # two more polls
            self.assertEqual(len((yield self.changes(rev))), 1)
        outcomes = [o for _p, o in self.consumer.outcomes]
        self.assertLessEqual(outcomes.count("change"), 2)
        self.assertNotIn("error", " ".join(outcomes))
