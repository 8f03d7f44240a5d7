"""The module pages (``<url>modules/``) of a real in-process master that builds a module,
a failing module and one built on the first: every page answers, the component DAG is
an SVG coloured by state, checks and the dnf command are shown, the stack links to
builds, and only a stream's owners and release engineers may change its end of life."""

from __future__ import annotations

import re
import time
from datetime import date
from typing import Any

import requests
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task, threads

from buildbot_modules.distgit import DistGit
from buildbot_modules.registry import Registry
from buildbot_modules.registry.model import ModuleBuildRecord
from buildbot_modules.service.graphs import COMPONENT_COLOURS

from .helpers import tempdir, write
from .test_module_build import start_site
from .test_pipeline import SPEC, free_port, module_yaml


def push_modules(settings: Any, case: Any, modules: dict[str, tuple[str, dict[str, str]]]) -> None:
    """Commit ``modules`` (name -> (modulemd, {package: %build script})) to dist-git."""
    source = tempdir(case)
    for name, (text, packages) in modules.items():
        write(source, f"modules/{name}/{name}.yaml", text)
        for package, build in packages.items():
            write(source, f"rpms/{package}/{package}.spec", SPEC.format(name=package, build=build))
    DistGit(settings.distgit).import_dir(source)


GOOD = (
    module_yaml("Pages test module", {"pg-base": [], "pg-top": ["pg-base"]}),
    {"pg-base": "", "pg-top": ""},
)
FAILING = (
    module_yaml("Failing module", {"pf-bad": [], "pf-after": ["pf-bad"], "pf-solo": []}),
    {"pf-bad": "exit 1", "pf-after": "", "pf-solo": ""},
)
ON_TOP = (module_yaml("Built on pgood", {"pt-app": []}, deps="pgood"), {"pt-app": ""})


@defer.inlineCallbacks
def wait_finished(
    case: Any, registry: Registry, name: str, seconds: float = 180
) -> defer.Deferred[ModuleBuildRecord]:
    """The newest build of ``name`` once it failed, or passed its gates' decisions."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        builds = registry.module_builds(name=name, limit=1)
        if builds and (builds[0].state == "failed" or "production" in builds[0].decisions):
            return builds[0]
        yield task.deferLater(reactor, 0.5, lambda: None)
    case.fail(f"module {name} did not finish in {seconds} s")


class PagesInProcess(RunMasterBase):
    proto = "pb"
    timeout = 400

    @defer.inlineCallbacks
    def test_pages(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        settings = yield start_site(
            self,
            www_port=f"tcp:{port}:interface=127.0.0.1",
            url=self.url,
            users={"rel": "relpw", "dev": "devpw"},
            releng=["rel"],
        )
        registry = Registry(settings.registry_url)
        push_modules(settings, self, {"pgood": GOOD, "pfail": FAILING})
        good = yield wait_finished(self, registry, "pgood")
        self.assertEqual(good.state, "ready", good.state_reason)
        # Built against pgood's ready build: a stack of two modules and the platform.
        push_modules(settings, self, {"ptop": ON_TOP})
        failed = yield wait_finished(self, registry, "pfail")
        self.assertEqual(failed.state, "failed")
        top = yield wait_finished(self, registry, "ptop")
        self.assertEqual(top.state, "ready", top.state_reason)

        # The list: every stream, its latest build and a search.
        status, page = yield self.get("modules/")
        self.assertEqual(status, 200)
        for stream in ("pgood:main", "pfail:main", "ptop:main"):
            self.assertIn(stream, page)
        self.assertIn(f'href="/modules/build/{good.id}"', page)
        status, page = yield self.get("modules/?q=pfail")
        self.assertIn("pfail:main", page)
        self.assertNotIn("pgood:main", page)
        status, _ = yield self.get("modules")  # the folder without its slash: redirected
        self.assertEqual(status, 200)

        # A ready build: its DAG in green, checks, gating, Buildbot links, dnf.
        status, page = yield self.get(f"modules/build/{good.id}")
        self.assertEqual(status, 200)
        self.assertIn(good.nsvc, page)
        self.assertIn("<svg", page)
        self.assertIn(f'fill="{COMPONENT_COLOURS["built"]}"', page)
        self.assertIn("2/2 components built", page)
        self.assertNotIn('http-equiv="refresh"', page)  # finished: no refresh
        self.assertIn("modules.rpmlint", page)
        self.assertIn("modules.modulemd", page)
        self.assertIn("PASSED", page)
        self.assertRegex(page, r"#/builders/\d+/builds/\d+")  # the module build and components
        self.assertIn("--disableplugin=local", page)
        self.assertIn("--setopt=module_platform_id=platform:f39", page)
        self.assertIn(f"--setopt=reposdir={settings.publish_root}/stage", page)
        self.assertIn("module install pgood:main/default", page)
        self.assertIn(good.published_path, page)

        # A failed build: red, orange (dependency failed) and green nodes, the reason.
        status, page = yield self.get(f"modules/build/{failed.id}")
        self.assertEqual(status, 200)
        for state in ("failed", "dependency-failed", "built"):
            self.assertIn(f'fill="{COMPONENT_COLOURS[state]}"', page, state)
        self.assertIn("1/3 components built, 1 failed, 1 dependency-failed", page)
        self.assertIn("Not published", page)

        # The stack of ptop: a picture whose nodes link to both builds.
        status, page = yield self.get("modules/stack/ptop:main")
        self.assertEqual(status, 200)
        self.assertIn("<svg", page)
        self.assertIn(f"/modules/build/{good.id}", page)
        self.assertIn(f"/modules/build/{top.id}", page)
        self.assertIn("platform:f39", page)

        status, _ = yield self.get("modules/build/99999")
        self.assertEqual(status, 404)
        status, _ = yield self.get("modules/stack/nosuch:main")
        self.assertEqual(status, 404)
        status, _ = yield self.get("modules/stream/not-a-stream")
        self.assertEqual(status, 400)

        # "Modules" in Buildbot's menu: a wsgi dashboard framing the pages.
        status, page = yield self.get("plugins/wsgi_dashboards/modules/index.html")
        self.assertEqual(status, 200)
        self.assertIn('src="/modules/"', page)

        # End of life: anonymous and non-owners are refused; releng may, recorded with who.
        status, page = yield self.get("modules/stream/pgood:main")
        self.assertEqual(status, 200)
        self.assertNotIn('name="token"', page)
        status, _ = yield self.post(None, "modules/stream/pgood:main", {"eol": "2030-01-01"})
        self.assertEqual(status, 403)
        dev = yield self.login("dev", "devpw")
        status, _ = yield self.post(dev, "modules/stream/pgood:main", {"eol": "2030-01-01"})
        self.assertEqual(status, 403)
        rel = yield self.login("rel", "relpw")
        status, page = yield self.get("modules/stream/pgood:main", rel)
        token = re.search(r'name="token" value="([0-9a-f]+)"', page)
        self.assertIsNotNone(token, page)
        assert token is not None
        status, _ = yield self.post(rel, "modules/stream/pgood:main", {"eol": "2030-01-01"})
        self.assertEqual(status, 403)  # no token: not from our form
        form = {"eol": "2030-01-01", "token": token.group(1)}
        status, page = yield self.post(rel, "modules/stream/pgood:main", form)
        self.assertEqual(status, 200)  # 303 to the stream page, followed
        self.assertIn("2030-01-01", page)
        self.assertEqual(registry.eol("pgood", "main"), date(2030, 1, 1))
        (record,) = [x for x in registry.stream_eols("pgood") if x.stream == "main"]
        self.assertEqual(record.set_by, "rel")
        if callable(getattr(registry, "owners", None)):  # revision 0003: explicit owners
            owners = {**form, "owners": "alice, Bob Builder <bob@example.org>"}
            status, page = yield self.post(rel, "modules/stream/pgood:main", owners)
            self.assertEqual(status, 200)
            self.assertEqual(
                registry.owners("pgood", "main"), ["alice", "Bob Builder <bob@example.org>"]
            )
        status, _ = yield self.post(rel, "modules/stream/pgood:main", {**form, "eol": "soon"})
        self.assertEqual(status, 400)
        status, page = yield self.get("modules/")
        self.assertIn("2030-01-01", page)

    # -- helpers

    def get(self, path: str, session: requests.Session | None = None) -> defer.Deferred[Any]:
        def run() -> tuple[int, str]:
            r = (session or requests).get(self.url + path, timeout=20)
            return r.status_code, r.text

        return threads.deferToThread(run)  # type: ignore[no-untyped-call, no-any-return]

    def post(
        self, session: requests.Session | None, path: str, form: dict[str, str]
    ) -> defer.Deferred[Any]:
        def run() -> tuple[int, str]:
            r = (session or requests).post(self.url + path, data=form, timeout=20)
            return r.status_code, r.text

        return threads.deferToThread(run)  # type: ignore[no-untyped-call, no-any-return]

    def login(self, user: str, password: str) -> defer.Deferred[Any]:
        def run() -> requests.Session:
            session = requests.Session()
            r = session.get(self.url + "auth/login", auth=(user, password), timeout=20)
            r.raise_for_status()
            return session

        return threads.deferToThread(run)  # type: ignore[no-untyped-call, no-any-return]
