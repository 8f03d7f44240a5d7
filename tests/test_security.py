"""The trust model end to end (docs/security.md): an anonymous user is refused on
**every** control endpoint — the test walks Buildbot's data API and our module service's
OpenAPI document rather than a hand-picked list — and a push that its source
authenticated as someone who may not build the module is refused, visibly."""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from buildbot.data import base
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task, threads

from buildbot_modules.distgit import DistGit
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .test_module_build import start_site
from .test_pipeline import SPEC, free_port, module_yaml

# Actions Buildbot's endpoints dispatch inside an overridden control() (not action*).
OVERRIDDEN_ACTIONS = ("cancel", "force", "enable", "stop", "kill", "pause", "unpause")


def control_endpoints(master: Any) -> list[tuple[str, list[str]]]:
    """Every data API path pattern that takes a control action, with its actions."""
    found = []
    for pattern, endpoint in master.data.matcher.iterPatterns():
        cls = type(endpoint)
        actions = sorted(
            name[len("action") :].lower()
            for name in dir(cls)
            if name.startswith("action") and callable(getattr(cls, name))
        )
        if cls.control is not base.Endpoint.control:
            actions = sorted(set(actions) | set(OVERRIDDEN_ACTIONS))
        if actions:
            found.append(("/".join(pattern), actions))
    return sorted(found)


def concrete(pattern: str) -> str:
    """A path for a pattern: ``n:`` parameters become 1, ``i:`` ones a name."""
    parts = []
    for part in pattern.split("/"):
        if part.startswith("n:"):
            parts.append("1")
        elif part.startswith(("i:", "s:")):
            parts.append("bbmod-rebuild" if "scheduler" in part else "x")
        else:
            parts.append(part)
    return "/".join(parts)


class Security(RunMasterBase):
    proto = "pb"
    timeout = 240

    @defer.inlineCallbacks
    def test_anonymous_users_cannot_reach_any_control_endpoint(self) -> None:
        port = free_port()
        yield start_site(
            self,
            www_port=f"tcp:{port}:interface=127.0.0.1",
            url=f"http://127.0.0.1:{port}/",
            users={"rel": "relpw"},
            releng=["rel"],
        )
        api = f"http://127.0.0.1:{port}/"
        endpoints = control_endpoints(self.master)
        # Sanity: the walk finds Buildbot's control endpoints, not an empty list.
        paths = {p for p, _ in endpoints}
        for expected in ("builds/n:buildid", "forceschedulers/i:schedulername"):
            self.assertIn(expected, paths)
        self.assertGreaterEqual(len(endpoints), 8)

        def post_all() -> list[str]:
            opened = []
            for pattern, actions in endpoints:
                for action in actions:
                    body = {"jsonrpc": "2.0", "method": action, "id": 1, "params": {}}
                    r = requests.post(
                        f"{api}api/v2/{concrete(pattern)}",
                        data=json.dumps(body),
                        headers={"Content-Type": "application/json"},
                        timeout=10,
                    )
                    if r.status_code != 403:
                        opened.append(f"{action} {pattern}: {r.status_code} {r.text[:120]}")
            return opened

        opened = yield threads.deferToThread(post_all)
        self.assertEqual(opened, [], "control endpoints open to anonymous users")

        # The module service: every method that changes something, from its OpenAPI.
        def service() -> list[str]:
            base_url = f"{api}module-build-service/1/"
            spec = requests.get(base_url + "openapi.json", timeout=10).json()
            opened, tried = [], 0
            for path, methods in spec["paths"].items():
                url = base_url + path.lstrip("/").replace("{id}", "1").replace("{nsvc}", "a:b:1:c")
                for name in ("{name_stream}", "{ns}", "{stream}", "{ref}"):
                    url = url.replace(name, "a:b")
                for method in methods:
                    if method.upper() in ("GET", "HEAD", "OPTIONS"):
                        continue
                    tried += 1
                    r = requests.request(method.upper(), url, json={}, timeout=10)
                    if r.status_code not in (401, 403):
                        opened.append(f"{method} {path}: {r.status_code} {r.text[:120]}")
            if tried == 0:
                opened.append("the OpenAPI document lists no method that changes state")
            return opened

        opened = yield threads.deferToThread(service)
        self.assertEqual(opened, [], "module service methods open to anonymous users")

        # The module pages' edit form.
        status = yield threads.deferToThread(
            lambda: requests.post(f"{api}modules/stream/a:b", data={"eol": ""}, timeout=10)
        )
        self.assertIn(status.status_code, (401, 403))

    @defer.inlineCallbacks
    def test_a_push_by_someone_who_may_not_build_the_module_is_refused(self) -> None:
        settings = yield start_site(
            self,
            poll_interval=0,  # only the changes below: each says who pushed
            users={"owner": "pw", "stranger": "pw", "rel": "pw"},
            releng=["rel"],
        )
        source = tempdir(self)
        write(source, "modules/pa/pa.yaml", module_yaml("A guarded module", {"pa-one": []}))
        write(source, "rpms/pa-one/pa-one.spec", SPEC.format(name="pa-one", build=""))
        distgit = DistGit(settings.distgit)
        distgit.import_dir(source)
        registry = Registry(settings.registry_url)
        registry.set_owners("pa", "main", ["owner"], "rel")
        head = distgit.heads("modules", "pa")["main"]

        def push(pusher: str) -> Any:
            return self.master.data.updates.addChange(
                author="someone <someone@example.org>",
                revision=head,
                files=["pa.yaml"],
                comments="push",
                branch="main",
                category="module",
                project="pa",
                repository=distgit.path("modules", "pa"),
                codebase="",
                src="bbmod-webhook",
                properties={"pushed_by": pusher},
            )

        yield push("stranger")
        build = yield self.wait_for_module_build(1)
        steps = yield self.master.data.get(("builds", build["buildid"], "steps"))
        fetch = next(s for s in steps if s["name"] == "fetch definition")
        self.assertIn("push by stranger refused: not an owner of pa:main", fetch["state_string"])
        self.assertEqual(registry.module_builds(name="pa"), [])  # nothing built, nothing recorded

        yield push("owner")
        yield self.wait_for_module_build(2)
        self.assertEqual(len(registry.module_builds(name="pa")), 1)

    @defer.inlineCallbacks
    def wait_for_module_build(self, count: int) -> Any:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            builders = yield self.master.data.get(("builders",))
            modules = {b["builderid"] for b in builders if b["name"].startswith("module ")}
            builds = yield self.master.data.get(("builds",))
            done = [b for b in builds if b["complete"] and b["builderid"] in modules]
            if len(done) >= count:
                return done[count - 1]
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.fail(f"module build {count} did not finish")
