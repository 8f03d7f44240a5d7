"""The module service's REST API (docs/module-service.md) on a real in-process master:
three small modules a ← b ← c built through POST, listed, filtered, paged and ordered,
one build's MBS fields, the stack as JSON and SVG, stream owners and end of life, who
may submit and cancel (401/403/409, Basic and session logins), cancelling a running
build, the OpenAPI document against the routes, and the mount surviving a reconfig."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import requests
from buildbot.plugins import worker
from buildbot.process.properties import Interpolate
from buildbot.test.util.integration import DictLoader, RunMasterBase
from twisted.internet import defer, reactor, task, threads

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.configurator import ModulesConfigurator
from buildbot_modules.registry import Registry
from buildbot_modules.service.api import ROUTES

from .helpers import tempdir, write
from .test_module_build import start_site
from .test_pipeline import SPEC, free_port, module_yaml

USERS = {"rel": "relpw", "dev": "devpw", "ann": "annpw", "eve": "evepw"}
ANN = {"GIT_AUTHOR_NAME": "Ann Author", "GIT_AUTHOR_EMAIL": "ann@example.org"}


def push(distgit: DistGit, source: str, modules: dict[str, str], specs: dict[str, str]) -> None:
    """Commit modules and specs to the dist-git as Ann (the builds' owner)."""
    for name, text in modules.items():
        write(source, f"modules/{name}/{name}.yaml", text)
    for name, build in specs.items():
        write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=build))
    with mock.patch.dict(os.environ, ANN):
        distgit.import_dir(source)


async def start_service(case: RunMasterBase, **overrides: Any) -> Any:
    """An in-process site with its web UI on a free port, no poller (builds are POSTed),
    plain rpmbuild and no checks: quick."""
    port = free_port()
    values: dict[str, Any] = {
        "www_port": f"tcp:{port}:interface=127.0.0.1",
        "url": f"http://127.0.0.1:{port}/",
        "poll_interval": 0,
        "backend": "rpmbuild",
        "checks": [],
        "users": dict(USERS),
        "releng": ["rel"],
    }
    values.update(overrides)
    settings = await start_site(case, **values)
    return settings


class Http:
    """Blocking HTTP against the API (run it with deferToThread)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api = url + "module-build-service/1/"

    def call(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        body: Any = None,
        params: Any = None,
        session: requests.Session | None = None,
    ) -> tuple[int, Any]:
        auth = (user, USERS[user]) if user else None
        response = (session or requests).request(
            method,
            self.api + path,
            auth=auth,
            params=params,
            data=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.status_code, response.json()
        return response.status_code, response.text


class ServiceApi(RunMasterBase):
    proto = "pb"
    timeout = 240

    async def http(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        result: tuple[int, Any] = await threads.deferToThread(
            self.client.call, method, path, **kwargs
        )
        return result

    async def wait_for(self, check: Callable[[], Any], what: str, seconds: float = 90) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            await task.deferLater(reactor, 0.3, lambda: None)
        self.fail(f"timed out after {seconds} s waiting for {what}")

    async def submit(self, name: str, user: str = "dev") -> dict[str, Any]:
        head = self.distgit.heads("modules", name)["main"]
        scmurl = f"file://{self.distgit.path('modules', name)}?#{head}"
        status, build = await self.http(
            "POST", "module-builds/", user=user, body={"scmurl": scmurl, "branch": "main"}
        )
        self.assertEqual(status, 201, build)
        return build

    async def built(self, build_id: int) -> Any:
        def finished() -> Any:
            record = self.registry.module_build(build_id)
            return record if record.state in ("ready", "failed") else None

        record = await self.wait_for(finished, f"build {build_id}")
        self.assertEqual(record.state, "ready", record.state_reason)
        return record

    @defer.inlineCallbacks
    def test_api(self) -> Any:
        yield defer.ensureDeferred(self.scenario())

    async def scenario(self) -> None:
        settings = await start_service(self)
        self.client = Http(settings.url)
        self.registry = Registry(settings.registry_url)
        self.distgit = DistGit(settings.distgit)
        source = tempdir(self)
        push(
            self.distgit,
            source,
            {
                "sa": module_yaml("Stack bottom", {"sa-pkg": []}),
                "sb": module_yaml("Stack middle", {"sb-pkg": []}, deps="sa"),
                "sc": module_yaml("Stack top", {"sc-pkg": []}, deps="sb"),
            },
            {"sa-pkg": "", "sb-pkg": "", "sc-pkg": ""},
        )

        # -- POST: who may, what is refused
        head = self.distgit.heads("modules", "sa")["main"]
        good = {"scmurl": f"file://{self.distgit.path('modules', 'sa')}?#{head}", "branch": "main"}
        status, answer = await self.http("POST", "module-builds/", body=good)
        self.assertEqual(status, 401, answer)
        self.assertEqual(answer["status"], 401)
        self.assertEqual(answer["error"], "Unauthorized")
        outside = dict(good, scmurl=f"file:///srv/elsewhere/modules/sa?#{head}")
        status, answer = await self.http("POST", "module-builds/", user="dev", body=outside)
        self.assertEqual(status, 403, answer)
        self.assertIn("allow-list", answer["message"])
        status, answer = await self.http(
            "POST", "module-builds/", user="dev", body=dict(good, scmurl=good["scmurl"][:-40])
        )
        self.assertEqual(status, 400, answer)

        # -- three builds through POST, in dependency order
        records = {}
        for name in ("sa", "sb", "sc"):
            build = await self.submit(name)
            self.assertIn(build["state_name"], ("init", "wait", "build"), build)
            self.assertEqual((build["name"], build["stream"]), (name, "main"))
            self.assertIsInstance(build["id"], int)
            records[name] = await self.built(build["id"])
        a, b, c = records["sa"], records["sb"], records["sc"]
        self.assertEqual(a.owner, "Ann Author <ann@example.org>")
        status, answer = await self.http("POST", "module-builds/", user="dev", body=good)
        self.assertEqual(status, 409, answer)
        self.assertIn(a.nsvc, answer["message"])

        # -- list: filters, pagination, ordering
        status, page = await self.http("GET", "module-builds/")
        self.assertEqual(status, 200, page)
        self.assertEqual([i["id"] for i in page["items"]], [c.id, b.id, a.id])  # id desc
        self.assertEqual(page["meta"]["total"], 3)
        self.assertEqual(page["meta"]["per_page"], 10)
        self.assertIsNone(page["meta"]["next"])
        status, page = await self.http("GET", "module-builds/", params={"per_page": 2})
        self.assertEqual((page["meta"]["pages"], len(page["items"])), (2, 2))
        self.assertIn("page=2", page["meta"]["next"])
        next_page = await threads.deferToThread(requests.get, page["meta"]["next"], timeout=10)
        self.assertEqual([i["id"] for i in next_page.json()["items"]], [a.id])
        self.assertIn("page=1", next_page.json()["meta"]["prev"])
        _, page = await self.http("GET", "module-builds/", params={"order_by": "name"})
        self.assertEqual([i["name"] for i in page["items"]], ["sa", "sb", "sc"])
        _, page = await self.http("GET", "module-builds/", params={"order_desc_by": "name"})
        self.assertEqual([i["name"] for i in page["items"]], ["sc", "sb", "sa"])
        for params, expected in (
            ({"name": "sb"}, [b.id]),
            ({"state": ["ready"]}, [c.id, b.id, a.id]),
            ({"state": ["5"], "name": "sa"}, [a.id]),
            ({"state": "failed"}, []),
            ({"buildrequires": "sa"}, [b.id]),
            ({"buildrequires": "sb:main"}, [c.id]),
            ({"buildrequires": "sb:other"}, []),
            ({"owner": "ann"}, [c.id, b.id, a.id]),
            ({"owner": "dev"}, []),
            ({"name": "sa", "version": str(a.version), "context": a.context}, [a.id]),
            ({"name": "sa", "version": "1"}, []),
            ({"submitted_after": "2999-01-01T00:00:00Z"}, []),
            ({"completed_before": "2000-01-01"}, []),
        ):
            status, page = await self.http("GET", "module-builds/", params=params)
            self.assertEqual(status, 200, (params, page))
            self.assertEqual([i["id"] for i in page["items"]], expected, params)
        for params in ({"colour": "red"}, {"state": "cooking"}, {"order_by": "colour"}):
            status, answer = await self.http("GET", "module-builds/", params=params)
            self.assertEqual(status, 400, params)
            self.assertEqual(set(answer), {"status", "error", "message"})
        _, page = await self.http("GET", "module-builds/", params={"verbose": "true", "name": "sa"})
        self.assertIn("tasks", page["items"][0])

        # -- one build, MBS fields
        status, one = await self.http("GET", f"module-builds/{c.id}")
        self.assertEqual(status, 200, one)
        for key in [
            "id",
            "name",
            "stream",
            "version",
            "context",
            "state",
            "state_name",
            "state_reason",
            "owner",
            "scmurl",
            "time_submitted",
            "time_modified",
            "time_completed",
            "koji_tag",
            "rebuild_strategy",
            "scratch",
            "buildrequires",
            "tasks",
            "components",
            "artifacts",
            "requires",
            "checks",
            "decisions",
            "published_path",
            "production_path",
            "promoted_at",
            "promoted_by",
            "dnf",
        ]:
            self.assertIn(key, one)
        self.assertEqual((one["state"], one["state_name"]), (5, "ready"))
        self.assertEqual(one["version"], str(c.version))
        self.assertTrue(one["time_submitted"].endswith("Z"))
        self.assertIsNone(one["koji_tag"])
        self.assertEqual(one["buildrequires"]["sb"]["version"], str(b.version))
        self.assertEqual(one["buildrequires"]["sb"]["context"], b.context)
        self.assertEqual(one["buildrequires"]["platform"]["version"], None)
        task_ = one["tasks"]["rpms"]["sc-pkg"]
        self.assertEqual((task_["state"], task_["state_name"]), (1, "built"))
        self.assertTrue(task_["nvr"].startswith("sc-pkg-1.0-1"))
        self.assertIsInstance(task_["task_id"], int)
        self.assertTrue(any(r.startswith("sc-pkg-") for r in one["artifacts"]["rpms"]))
        self.assertIn("module install sc:main", one["dnf"])
        status, by_nsvc = await self.http("GET", f"module-builds/{c.nsvc}")
        self.assertEqual((status, by_nsvc["id"]), (200, c.id))
        status, answer = await self.http("GET", "module-builds/99999")
        self.assertEqual((status, answer["error"]), (404, "Not Found"))

        # -- the stack
        status, stack = await self.http("GET", "stack/sc:main")
        self.assertEqual(status, 200, stack)
        self.assertEqual(stack["root"], c.nsvc)
        nodes = {n["nsvc"]: n for n in stack["nodes"]}
        self.assertEqual(set(nodes), {c.nsvc, b.nsvc, a.nsvc, "platform:f39"})
        self.assertEqual(nodes[a.nsvc]["build_id"], a.id)
        self.assertIsNone(nodes["platform:f39"]["build_id"])
        edges = {(e["from"], e["to"], e["kind"]) for e in stack["edges"]}
        for kind in ("buildrequires", "requires"):
            self.assertIn((c.nsvc, b.nsvc, kind), edges)
            self.assertIn((b.nsvc, a.nsvc, kind), edges)
        self.assertIn((a.nsvc, "platform:f39", "buildrequires"), edges)
        status, same = await self.http("GET", f"stack/{c.nsvc}")
        self.assertEqual(same, stack)
        status, svg = await self.http("GET", "stack/sc:main.svg")
        self.assertEqual(status, 200)
        self.assertIn("<svg", svg)
        self.assertIn(f"modules/build/{a.id}", svg)
        status, answer = await self.http("GET", "stack/nope:main")
        self.assertEqual(status, 404, answer)

        # -- streams, owners, end of life; a Buildbot session works as well as Basic
        status, streams = await self.http("GET", "module-streams/")
        self.assertEqual(status, 200, streams)
        by_key = {f"{s['name']}:{s['stream']}": s for s in streams["items"]}
        self.assertEqual(set(by_key), {"sa:main", "sb:main", "sc:main"})
        self.assertEqual(by_key["sa:main"]["dependents"], ["sb:main"])
        self.assertEqual(by_key["sa:main"]["latest_ready"]["id"], a.id)
        self.assertEqual(by_key["sa:main"]["owners"], ["Ann Author <ann@example.org>"])
        _, found = await self.http("GET", "module-streams/", params={"q": "SB"})
        self.assertEqual([s["name"] for s in found["items"]], ["sb"])
        status, stream = await self.http("GET", "module-streams/sa:main")
        self.assertEqual(stream["scm"]["head"], head)
        self.assertEqual([r["id"] for r in stream["recent_builds"]], [a.id])
        status, answer = await self.http(
            "PATCH", "module-streams/sa:main", user="dev", body={"eol": "2030-01-01"}
        )
        self.assertEqual(status, 403, answer)
        status, stream = await self.http(
            "PATCH", "module-streams/sa:main", user="ann", body={"eol": "2030-01-01"}
        )
        self.assertEqual((status, stream["eol"]), (200, "2030-01-01"))
        session = requests.Session()
        login = await threads.deferToThread(
            session.get, settings.url + "auth/login", auth=("rel", "relpw"), timeout=10
        )
        self.assertEqual(login.status_code, 200)
        status, stream = await self.http(
            "PATCH", "module-streams/sa:main", session=session, body={"owners": ["dev"]}
        )
        self.assertEqual(status, 200, stream)
        self.assertEqual((stream["owners"], stream["owners_set_by"]), (["dev"], "rel"))
        self.assertEqual(self.registry.owners("sa", "main"), ["dev"])
        session.close()

        # -- cancel a running build: a stranger may not, a stream owner may
        await task.deferLater(reactor, 1.1, lambda: None)  # a later commit second
        push(self.distgit, source, {}, {"sa-pkg": "sleep 60"})
        write(source, "modules/sa/sa.yaml", module_yaml("Stack bottom, again", {"sa-pkg": []}))
        with mock.patch.dict(os.environ, ANN):
            self.distgit.import_dir(source)
        slow = await self.submit("sa", user="dev")

        def building() -> bool:
            return any(c.state == "building" for c in self.registry.components(slow["id"]))

        await self.wait_for(building, "the slow component to start")
        status, answer = await self.http(
            "PATCH", f"module-builds/{slow['id']}", user="eve", body={"state": "failed"}
        )
        self.assertEqual(status, 403, answer)  # neither the build's owner (ann) nor sa's (dev)
        started = time.monotonic()
        status, answer = await self.http(
            "PATCH", f"module-builds/{slow['id']}", user="dev", body={"state": "failed"}
        )
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["state_name"], "failed")
        self.assertLess(time.monotonic() - started, 30)
        status, answer = await self.http(
            "PATCH", f"module-builds/{slow['id']}", user="rel", body={"state": "failed"}
        )
        self.assertEqual(status, 400, answer)  # already failed

        # -- resubmitting the failed build goes on with the same record (MBS's resubmission)
        again = await self.submit("sa", user="dev")
        self.assertEqual(again["id"], slow["id"])
        self.assertEqual(len(self.registry.module_builds(name="sa")), 2)  # no third record
        await self.wait_for(building, "the resubmitted component to start")
        status, answer = await self.http(
            "PATCH", f"module-builds/{slow['id']}", user="dev", body={"state": "failed"}
        )
        self.assertEqual(status, 200, answer)

        # -- the OpenAPI document describes exactly the routes served
        status, document = await self.http("GET", "openapi.json")
        self.assertEqual(status, 200)
        described = {
            (method.upper(), path) for path, ops in document["paths"].items() for method in ops
        }
        self.assertEqual(described, set(ROUTES))
        samples = {"{id}": str(a.id), "{nsv}": "sa:main", "{ref}": "sa:main"}
        for method, template in ROUTES:
            path = template.lstrip("/")
            for key, value in samples.items():
                path = path.replace(key, value)
            status, answer = await self.http(method, path, body={} if method != "GET" else None)
            self.assertNotIn(status, (404, 405, 500), (method, path, answer))

        # -- still served after a reconfiguration (a new site object)
        mounted = self.master.service_manager.namedServices["bbmod-module-service"]
        site_before = mounted.site
        # A fresh configuration dictionary, as a master.cfg would give (the one the
        # master started with has been filled by the configurator already).
        self.master.config_loader = DictLoader(
            {
                "configurators": [ModulesConfigurator(settings)],
                "workers": [
                    worker.Worker("local1", password=Interpolate("localpw"), missing_timeout=0)
                ],
                "protocols": {"pb": {"port": "tcp:0:interface=127.0.0.1"}},
                "db_url": "sqlite://",
                "buildbotNetUsageData": None,
            }
        )
        await self.master.reconfig()
        self.assertIsNot(mounted.site, site_before)
        status, page = await self.http("GET", "module-builds/", params={"name": "sb"})
        self.assertEqual((status, [i["id"] for i in page["items"]]), (200, [b.id]))
        await task.deferLater(reactor, 0.5, lambda: None)  # let the server see the clients go
