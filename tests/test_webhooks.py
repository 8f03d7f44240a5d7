"""Push webhooks (buildbot_modules/master/hooks.py) against an in-process master with its
web port: Pagure's git.receive and Forgejo's (Gitea's) push, signed with HMAC-SHA256,
posted over HTTP from a thread; real dist-git pushes; module builds to the end."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import requests
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task, threads
from twisted.trial import unittest

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.hooks import (
    MAX_BODY,
    Ignored,
    Push,
    Refused,
    check_webhooks,
    parse_forgejo,
    parse_pagure,
    read_secrets,
    signature,
)
from buildbot_modules.master.settings import Settings
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .test_module_build import start_site
from .test_pipeline import SPEC, free_port, module_yaml

PAGURE_KEY = "pagure-site-key"
PROJECT_KEY = "hookrpm-own-key"
FORGEJO_KEY = "forgejo-org-secret"


def pagure_body(
    namespace: str | None,
    name: str,
    end: str,
    *,
    branch: str = "main",
    agent: str = "alice",
    fullname: str | None = None,
    msg_id: str | None = None,
) -> dict[str, Any]:
    """What pagure.lib.tasks_services.call_web_hooks posts for git.receive."""
    full = fullname or (f"{namespace}/{name}" if namespace else name)
    return {
        "i": 1,
        "msg": {
            "agent": agent,
            "authors": [{"name": agent, "fullname": "Alice"}],
            "branch": branch,
            "end_commit": end,
            "forced": False,
            "pagure_instance": "https://pagure.example.org/",
            "project_fullname": full,
            "repo": {
                "id": 7,
                "name": name,
                "namespace": namespace,
                "fullname": full,
                "parent": None,
                "user": {"name": "admin"},
            },
            "start_commit": end,
            "total_commits": 1,
        },
        "msg_id": msg_id or f"2026-{uuid.uuid4()}",
        "timestamp": int(time.time()),
        "topic": "git.receive",
    }


def forgejo_body(full_name: str, after: str, *, ref: str = "refs/heads/main") -> dict[str, Any]:
    """A Forgejo push event (docs: user/webhooks), trimmed to what matters plus a commit."""
    owner, name = full_name.split("/", 1)
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": after,
        "compare_url": f"https://forgejo.example.org/{full_name}/compare/x...y",
        "commits": [{"id": after, "message": "a change\n", "author": {"name": "Bob"}}],
        "head_commit": {"id": after, "message": "a change\n"},
        "repository": {
            "id": 3,
            "owner": {"id": 2, "login": owner, "username": owner},
            "name": name,
            "full_name": full_name,
        },
        "pusher": {"id": 5, "login": "bob", "username": "bob"},
        "sender": {"id": 5, "login": "bob", "username": "bob"},
    }


def pagure_headers(raw: bytes, key: str = PAGURE_KEY, project: str = "") -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Pagure": "https://pagure.example.org/",
        "X-Pagure-Topic": "git.receive",
        "X-Pagure-Signature-256": signature(key, raw),
    }
    if project:
        headers["X-Pagure-Project"] = project
    return headers


def forgejo_headers(raw: bytes, delivery: str = "", gitea: bool = False) -> dict[str, str]:
    prefix = "X-Gitea" if gitea else "X-Forgejo"
    return {
        "Content-Type": "application/json",
        f"{prefix}-Event": "push",
        f"{prefix}-Delivery": delivery or str(uuid.uuid4()),
        f"{prefix}-Signature": signature(FORGEJO_KEY, raw),
    }


class PayloadTests(unittest.TestCase):
    def test_pagure(self) -> None:
        rev = "a" * 40
        push = parse_pagure(pagure_body("rpms", "foo", rev, msg_id="m1"), "git.receive")
        self.assertEqual(push, Push("rpms", "foo", "main", rev, "alice", "pagure:m1"))
        with self.assertRaises(Ignored):  # a fork's fullname
            parse_pagure(pagure_body("rpms", "foo", rev, fullname="forks/eve/rpms/foo"), None)
        body = pagure_body("rpms", "foo", rev)
        body["topic"] = "issue.new"
        with self.assertRaises(Ignored):
            parse_pagure(body, "git.receive")
        body = pagure_body("rpms", "foo", rev)
        body["msg"]["repo"]["name"] = ["foo"]
        with self.assertRaisesRegex(Refused, "msg.repo.name must be str"):
            parse_pagure(body, None)
        with self.assertRaisesRegex(Refused, "full commit id"):
            parse_pagure(pagure_body("rpms", "foo", "main"), None)

    def test_forgejo(self) -> None:
        rev = "b" * 40
        push = parse_forgejo(forgejo_body("modules/foo", rev), "push", "d1")
        self.assertEqual(push, Push("modules", "foo", "main", rev, "bob", "forgejo:d1"))
        with self.assertRaises(Ignored):
            parse_forgejo(forgejo_body("modules/foo", rev), "issues", "d1")
        with self.assertRaises(Ignored):
            parse_forgejo(forgejo_body("modules/foo", rev, ref="refs/tags/v1"), "push", "d1")
        with self.assertRaises(Ignored):  # a deleted branch
            parse_forgejo(forgejo_body("modules/foo", "0" * 40), "push", "d1")
        body = forgejo_body("modules/foo", rev)
        body["after"] = 5
        with self.assertRaisesRegex(Refused, "after must be str"):
            parse_forgejo(body, "push", "d1")
        body["after"] = rev
        del body["repository"]
        with self.assertRaisesRegex(Refused, "repository.full_name is missing"):
            parse_forgejo(body, "push", "d1")

    def test_secret_files_and_settings(self) -> None:
        root = tempdir(self)
        one = write(root, "one", "  s3cret \n")
        self.assertEqual(read_secrets(one), {"*": "s3cret"})
        spaced = write(root, "spaced", "a key with spaces\n")
        self.assertEqual(read_secrets(spaced), {"*": "a key with spaces"})
        many = write(root, "many", "# Pagure keys\nrpms/foo k1\nmodules/bar k2\n* k3\n")
        self.assertEqual(read_secrets(many), {"rpms/foo": "k1", "modules/bar": "k2", "*": "k3"})
        with self.assertRaises(ValueError):
            read_secrets(write(root, "empty", "# nothing\n"))
        good = {"src": {"dialect": "pagure", "secret_file": "one", "namespaces": "rpms"}}
        Settings(webhooks=good, basedir=root).check()
        for wrong, message in (
            ({"my-src": good["src"]}, "source name"),
            ({"src": {**good["src"], "dialect": "github"}}, "dialect"),
            ({"src": {**good["src"], "secret_file": "nosuch"}}, "is not a file"),
            ({"src": {**good["src"], "namespaces": "rpms,forks"}}, "namespaces"),
            ({"src": {**good["src"], "secret": "inline"}}, "unknown key"),
        ):
            with self.assertRaisesRegex(ValueError, message):
                check_webhooks(wrong, lambda p: os.path.join(root, p))


class WebhooksInProcess(RunMasterBase):
    proto = "pb"
    timeout = 300

    @defer.inlineCallbacks
    def start(self, **overrides: Any) -> Any:
        secrets = tempdir(self)
        write(
            secrets, "pagure.key", f"# per project, then the rest\nrpms/hookrpm-pkg {PROJECT_KEY}\n"
        )
        with open(os.path.join(secrets, "pagure.key"), "a", encoding="utf-8") as f:
            f.write(f"* {PAGURE_KEY}\n")
        write(secrets, "forgejo.key", FORGEJO_KEY + "\n")
        port = free_port()
        settings = yield start_site(
            self,
            www_port=f"tcp:{port}:interface=127.0.0.1",
            url=f"http://127.0.0.1:{port}/",
            backend="rpmbuild",
            webhooks={
                "pagure": {
                    "dialect": "pagure",
                    "secret_file": os.path.join(secrets, "pagure.key"),
                },
                "forgejo": {
                    "dialect": "forgejo",
                    "secret_file": os.path.join(secrets, "forgejo.key"),
                    "namespaces": "modules,rpms",
                },
            },
            **overrides,
        )
        self.base = f"http://127.0.0.1:{port}/change_hook/"
        return settings

    def push(
        self, settings: Any, name: str, build: str = "", summary: str = "Hook"
    ) -> dict[str, str]:
        source = tempdir(self)
        write(source, f"modules/{name}/{name}.yaml", module_yaml(summary, {f"{name}-pkg": []}))
        write(
            source, f"rpms/{name}-pkg/{name}-pkg.spec", SPEC.format(name=f"{name}-pkg", build=build)
        )
        return {r.name: r.commit for r in DistGit(settings.distgit).import_dir(source)}

    def post(self, source: str, raw: bytes, headers: dict[str, str]) -> Any:
        def send() -> tuple[int, str]:
            response = requests.post(self.base + source, data=raw, headers=headers, timeout=30)
            return response.status_code, response.text

        return threads.deferToThread(send)

    def pagure(self, body: dict[str, Any], **kw: Any) -> Any:
        raw = json.dumps(body, sort_keys=True).encode()
        return self.post("pagure", raw, pagure_headers(raw, **kw))

    def forgejo(self, body: dict[str, Any], **kw: Any) -> Any:
        raw = json.dumps(body).encode()
        return self.post("forgejo", raw, forgejo_headers(raw, **kw))

    @defer.inlineCallbacks
    def changes(self, rev: str) -> Any:
        changes = yield self.master.data.get(("changes",))
        return [c for c in changes if c["revision"] == rev]

    @defer.inlineCallbacks
    def buildsets(self) -> Any:
        sets = yield self.master.data.get(("buildsets",))
        return [b["reason"] for b in sets]

    @defer.inlineCallbacks
    def wait_ready(self, registry: Registry, name: str, count: int) -> Any:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            builds = registry.module_builds(name=name)
            if len(builds) >= count and builds[0].state in ("ready", "failed"):
                self.assertEqual(builds[0].state, "ready", builds[0].state_reason)
                return builds
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.fail(f"module build {count} of {name} did not finish")

    @defer.inlineCallbacks
    def test_signed_pushes_build_and_everything_else_does_not(self) -> None:
        # No polling after the first look: builds can only come from the webhooks.
        settings = yield self.start(poll_interval=3600)
        registry = Registry(settings.registry_url)
        commits = self.push(settings, "hookmod")
        rev = commits["hookmod"]
        start = time.monotonic()

        # Refused, and nothing created: no, wrong or another key's signature.
        raw = json.dumps(pagure_body("modules", "hookmod", rev), sort_keys=True).encode()
        for headers in (
            {"X-Pagure-Topic": "git.receive"},
            pagure_headers(raw, key="wrong"),
            pagure_headers(raw, key=PROJECT_KEY),
            {**pagure_headers(raw), "X-Pagure-Signature-256": "zz" * 32},
        ):
            code, text = yield self.post("pagure", raw, headers)
            self.assertEqual(code, 403, text)
            self.assertIn("X-Pagure-Signature-256", text)  # nothing else is told
        # A project's own key signs that project only, even with its header.
        code, text = yield self.pagure(
            pagure_body("modules", "hookmod", rev), key=PROJECT_KEY, project="rpms/hookrpm-pkg"
        )
        self.assertEqual(code, 403, text)
        fraw = json.dumps(forgejo_body("modules/hookmod", rev)).encode()
        bad = {**forgejo_headers(fraw), "X-Forgejo-Signature": signature("wrong", fraw)}
        code, text = yield self.post("forgejo", fraw, bad)
        self.assertEqual(code, 403, text)
        self.assertEqual((yield self.changes(rev)), [])

        # Bad bodies, correctly signed: 400 with a reason.
        for raw, reason in (
            (b"not json {", "not JSON"),
            (b"[1, 2]", "not a JSON object"),
            (b"[" * 100000 + b"]" * 100000, "not JSON"),
            (b" " * (MAX_BODY + 1), "larger than"),
            (json.dumps({"topic": "git.receive", "msg": {"repo": 5}}).encode(), "missing"),
        ):
            code, text = yield self.post("pagure", raw, pagure_headers(raw))
            self.assertEqual(code, 400, text)
            self.assertIn(reason, text)
        body = forgejo_body("modules/hookmod", rev)
        body["repository"]["full_name"] = 42
        code, text = yield self.forgejo(body)
        self.assertEqual(code, 400, text)
        self.assertIn("repository.full_name must be str", text)
        self.assertEqual((yield self.changes(rev)), [])

        # Ignored (202, logged): other namespaces, forks, tags, other events.
        for body in (
            pagure_body("tests", "hookmod", rev),
            pagure_body("modules", "hookmod", rev, fullname="forks/eve/modules/hookmod"),
        ):
            code, text = yield self.pagure(body)
            self.assertEqual((code, text.split(":")[0]), (202, "ignored"), text)
        for body in (
            forgejo_body("alice/hookmod", rev),
            forgejo_body("modules/hookmod", rev, ref="refs/tags/v1"),
        ):
            code, text = yield self.forgejo(body)
            self.assertEqual((code, text.split(":")[0]), (202, "ignored"), text)
        self.assertEqual((yield self.changes(rev)), [])

        # The real push: one change, the poller's kind, and a module build request.
        delivery = f"2026-{uuid.uuid4()}"
        code, text = yield self.pagure(pagure_body("modules", "hookmod", rev, msg_id=delivery))
        self.assertEqual(code, 202, text)
        self.assertRegex(text, r"^change \d+: modules/hookmod main [0-9a-f]{8}\n1 change found$")
        reason = "push to modules/hookmod main"
        while reason not in (yield self.buildsets()):
            self.assertLess(time.monotonic() - start, 30, "no build request")
            yield task.deferLater(reactor, 0.02, lambda: None)
        [change] = yield self.changes(rev)
        self.assertEqual(change["properties"]["pushed_by"], ("alice", "Change"))
        self.assertEqual(
            (change["project"], change["branch"], change["category"], change["repository"]),
            ("hookmod", "main", "module", DistGit(settings.distgit).path("modules", "hookmod")),
        )
        self.assertEqual(change["sourcestamp"]["revision"], rev)

        # The same delivery again, and the same push from the other forge: no new change.
        code, text = yield self.pagure(pagure_body("modules", "hookmod", rev, msg_id=delivery))
        self.assertEqual((code, text.split(":")[:2]), (202, ["ignored", " replay"]), text)
        fid = str(uuid.uuid4())
        code, text = yield self.forgejo(forgejo_body("modules/hookmod", rev), delivery=fid)
        self.assertEqual(code, 202, text)
        self.assertTrue(text.startswith("duplicate: modules/hookmod"), text)
        code, text = yield self.forgejo(forgejo_body("modules/hookmod", rev), delivery=fid)
        self.assertRegex(text, "^ignored: replay: modules/hookmod main .*\nno change found$")
        # A repository the dist-git lacks: nothing to build.
        code, text = yield self.pagure(pagure_body("modules", "nosuch", rev))
        self.assertTrue(text.startswith("unknown: no such repository"), text)
        self.assertEqual(len((yield self.changes(rev))), 1)

        builds = yield self.wait_ready(registry, "hookmod", 1)
        self.assertEqual(len(builds), 1)

        # Forgejo (with Gitea's headers): a push to the component's rpm branch rebuilds
        # the module that tracks it, as a new version with that commit.
        yield task.deferLater(reactor, 1.1, lambda: None)  # a later commit second
        pkg_rev = self.push(settings, "hookmod", build="true")["hookmod-pkg"]
        code, text = yield self.forgejo(forgejo_body("rpms/hookmod-pkg", pkg_rev), gitea=True)
        self.assertEqual(code, 202, text)
        self.assertTrue(text.startswith("change"), text)
        [change] = yield self.changes(pkg_rev)
        self.assertEqual((change["category"], change["project"]), ("rpm", "hookmod-pkg"))
        self.assertEqual(change["properties"]["pushed_by"], ("bob", "Change"))
        builds = yield self.wait_ready(registry, "hookmod", 2)
        components = {c.name: c.commit for c in registry.components(builds[0].id)}
        self.assertEqual(components["hookmod-pkg"], pkg_rev)

        # A project's own key (Pagure's per-project web-hook key) for its own pushes.
        pkg_rev = self.push(settings, "hookrpm")["hookrpm-pkg"]
        code, text = yield self.pagure(
            pagure_body("rpms", "hookrpm-pkg", pkg_rev), key=PROJECT_KEY, project="rpms/hookrpm-pkg"
        )
        self.assertTrue(text.startswith("change"), text)

    @defer.inlineCallbacks
    def test_poller_and_webhook_build_a_push_once(self) -> None:
        settings = yield self.start(poll_interval=1)
        poller = self.master.change_svc.getServiceNamed("bbmod-distgit")

        # The poller first: the webhook finds the commit recorded.
        rev = self.push(settings, "pollmod")["pollmod"]
        deadline = time.monotonic() + 10
        while not (yield self.changes(rev)):
            self.assertLess(time.monotonic(), deadline, "the poller saw nothing")
            yield task.deferLater(reactor, 0.1, lambda: None)
        code, text = yield self.pagure(pagure_body("modules", "pollmod", rev))
        self.assertEqual(code, 202, text)
        self.assertTrue(text.startswith("duplicate"), text)

        # Racing: webhooks and polls at the same time, one change whoever wins.
        yield task.deferLater(reactor, 1.1, lambda: None)
        rev = self.push(settings, "pollmod", summary="Round 2")["pollmod"]
        answers = yield defer.gatherResults(
            [
                self.pagure(pagure_body("modules", "pollmod", rev)),
                self.forgejo(forgejo_body("modules/pollmod", rev)),
                poller.poll(),
            ]
        )
        yield task.deferLater(reactor, 2.5, lambda: None)  # two more polls
        self.assertEqual(len((yield self.changes(rev))), 1, answers)

        # The webhook first (the poller stopped): a later poll finds it recorded.
        yield poller.doPoll.stop()
        yield task.deferLater(reactor, 1.1, lambda: None)
        rev = self.push(settings, "pollmod", summary="Round 3")["pollmod"]
        code, text = yield self.forgejo(forgejo_body("modules/pollmod", rev))
        self.assertEqual(code, 202, text)
        self.assertTrue(text.startswith("change"), text)
        yield poller.poll()
        yield poller.poll()
        self.assertEqual(len((yield self.changes(rev))), 1)
        reasons = yield self.buildsets()
        self.assertEqual(reasons.count("push to modules/pollmod main"), 3)
