"""Who may do what (issue #8), through a real master's web server over real HTTP:
anonymous users read but press no button; packagers build the module streams they own;
owners stop their streams' builds; QE waive; release engineering promote and toggle
schedulers. Local accounts from an htpasswd file (bcrypt, apr1, {SHA}) and ``users``;
OpenID Connect login end to end against a small real provider (tests/oidc_provider.py),
its ``groups`` claim mapped to roles."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import subprocess
import time
from typing import Any

import bcrypt
import requests
from buildbot.process.results import CANCELLED
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task, threads

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.auth import md5_crypt
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .oidc_provider import OIDCProvider
from .test_module_build import start_site
from .test_pipeline import SPEC, free_port, module_yaml


def htpasswd(folder: str) -> str:
    """An htpasswd file as Apache's htpasswd writes it: bcrypt, apr1 (its default), SHA."""
    apr1 = md5_crypt(b"olgapw", b"Xy7Qa1b2")
    # The system's own apr1 when it has openssl: not only ours checking ours.
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        apr1 = subprocess.run(
            ["openssl", "passwd", "-apr1", "olgapw"], capture_output=True, text=True, check=True
        ).stdout.strip()
    lines = [
        "pat:" + bcrypt.hashpw(b"patpw", bcrypt.gensalt(5)).decode().replace("$2b$", "$2y$"),
        "olga:" + apr1,
        "quinn:{SHA}" + base64.b64encode(hashlib.sha1(b"quinnpw").digest()).decode(),
        "dev:" + md5_crypt(b"devpw", b"s4ltS4lt"),
        "plain:plainpw",  # plain text is refused
    ]
    return write(folder, "htpasswd", "\n".join(lines) + "\n")


class Web:
    """Blocking HTTP against the master, as a browser (session) or anonymously."""

    def __init__(self, url: str) -> None:
        self.url = url

    @staticmethod
    def session() -> requests.Session:
        session = requests.Session()
        session.headers["Connection"] = "close"  # no connection outlives the test
        return session

    def login(self, user: str | None, password: str = "") -> requests.Session:
        session = self.session()
        if user is not None:
            r = session.get(self.url + "auth/login", auth=(user, password), timeout=20)
            if r.status_code != 200:
                raise AssertionError(f"login as {user}: {r.status_code} {r.text[:200]}")
        return session

    def ids(self, session: requests.Session, kind: str, key: str) -> dict[str, int]:
        found = session.get(self.url + f"api/v2/{kind}", timeout=10).json()[kind]
        return {item["name"]: item[key] for item in found}

    def rpc(
        self, session: requests.Session, path: str, method: str, params: dict[str, Any]
    ) -> tuple[int, Any]:
        response = session.post(
            self.url + "api/v2/" + path,
            data=json.dumps({"jsonrpc": "2.0", "method": method, "id": 1, "params": params}),
            headers={"Content-Type": "application/json"},
            timeout=20,
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def force(
        self, session: requests.Session, scheduler: str, builder: str, **form: str
    ) -> tuple[int, Any]:
        builderid = self.ids(session, "builders", "builderid")[builder]
        return self.rpc(
            session, f"forceschedulers/{scheduler}", "force", {"builderid": builderid, **form}
        )


class AuthInProcess(RunMasterBase):
    proto = "pb"
    timeout = 180

    @defer.inlineCallbacks
    def test_roles_with_local_accounts(self) -> None:
        root = tempdir(self)
        port = free_port()
        settings = yield start_site(
            self,
            www_port=f"tcp:{port}:interface=127.0.0.1",
            url=f"http://127.0.0.1:{port}/",
            htpasswd_file=htpasswd(root),
            users={"rel": "relpw"},
            releng=["rel"],
            packagers=["pat", "dev"],
            qe=["quinn"],
            poll_interval=0,
            backend="rpmbuild",
        )
        web = Web(settings.url)
        registry = Registry(settings.registry_url)
        registry.set_owners("slow", "main", ["pat", "olga"], "rel")
        registry.set_owners("other", "main", ["oscar"], "rel")
        source = tempdir(self)
        write(source, "modules/slow/slow.yaml", module_yaml("A slow module", {"slow-a": []}))
        write(source, "rpms/slow-a/slow-a.spec", SPEC.format(name="slow-a", build="sleep 90"))
        DistGit(settings.distgit).import_dir(source)
        call = threads.deferToThread

        # Anonymous: reads, and 403 on every button.
        anon = web.login(None)
        r = yield call(anon.get, settings.url + "api/v2/builders", timeout=10)
        self.assertEqual(r.status_code, 200)
        status, _ = yield call(web.force, anon, "bbmod-rebuild", "modules", module="slow")
        self.assertEqual(status, 403)
        schedulers = yield call(web.ids, anon, "schedulers", "schedulerid")
        status, _ = yield call(
            web.rpc, anon, f"schedulers/{schedulers['bbmod-rebuild']}", "enable", {"enabled": False}
        )
        self.assertEqual(status, 403)
        workers = yield call(web.ids, anon, "workers", "workerid")
        status, _ = yield call(
            web.rpc, anon, f"workers/{workers['bbmod-modules-1']}", "pause", {"reason": "x"}
        )
        self.assertEqual(status, 403)
        status, _ = yield call(web.force, anon, "module-lint", "module-lint")
        self.assertEqual(status, 403)

        # Local accounts: a wrong password and a plain-text htpasswd entry are refused.
        for user, password in (("pat", "wrong"), ("plain", "plainpw"), ("nobody", "x")):
            r = yield call(
                requests.get, settings.url + "auth/login", auth=(user, password), timeout=20
            )
            self.assertEqual(r.status_code, 401, user)

        # A packager builds the streams they own, nothing else; an owner who is no
        # packager may not build.
        pat = yield call(web.login, "pat", "patpw")
        olga = yield call(web.login, "olga", "olgapw")
        dev = yield call(web.login, "dev", "devpw")
        status, answer = yield call(web.force, pat, "bbmod-rebuild", "modules", module="other")
        self.assertEqual(status, 403, answer)
        status, answer = yield call(web.force, olga, "bbmod-rebuild", "modules", module="slow")
        self.assertEqual(status, 403, answer)
        status, answer = yield call(web.force, dev, "bbmod-rebuild", "modules", module="slow")
        self.assertEqual(status, 403, answer)
        status, answer = yield call(web.force, pat, "bbmod-rebuild", "modules", module="slow")
        self.assertEqual(status, 200, answer)

        # The module build runs its (slow) component build. Only owners stop them.
        module_build, component_build = yield self.wait_running()
        for session in (anon, dev):
            for action in ("stop", "rebuild"):
                status, _ = yield call(
                    web.rpc, session, f"builds/{module_build['buildid']}", action, {}
                )
                self.assertEqual(status, 403, action)
        for build in (component_build, module_build):
            status, answer = yield call(
                web.rpc, olga, f"builds/{build['buildid']}", "stop", {"reason": "owner"}
            )
            self.assertEqual(status, 200, answer)
        yield self.wait_all_complete()
        stopped = yield self.master.data.get(("builds", module_build["buildid"]))
        self.assertEqual((stopped["complete"], stopped["results"]), (True, CANCELLED))

        # QE waive but do not promote; release engineering promote and toggle schedulers.
        quinn = yield call(web.login, "quinn", "quinnpw")
        rel = yield call(web.login, "rel", "relpw")
        waiver = {"nsvc": "slow:main:1:ctx1", "testcase": "modules.rpmlint", "comment": "qe"}
        status, answer = yield call(web.force, quinn, "bbmod-waive", "module-actions", **waiver)
        self.assertEqual(status, 200, answer)
        for session in (quinn, pat, olga):
            status, _ = yield call(
                web.force, session, "bbmod-promote", "module-actions", nsvc=waiver["nsvc"]
            )
            self.assertEqual(status, 403)
        status, _ = yield call(web.force, pat, "bbmod-waive", "module-actions", **waiver)
        self.assertEqual(status, 403)
        status, answer = yield call(
            web.force, rel, "bbmod-promote", "module-actions", nsvc=waiver["nsvc"]
        )
        self.assertEqual(status, 200, answer)
        for enabled in (False, True):
            status, answer = yield call(
                web.rpc,
                rel,
                f"schedulers/{schedulers['bbmod-rebuild']}",
                "enable",
                {"enabled": enabled},
            )
            self.assertEqual(status, 200, answer)
        status, _ = yield call(
            web.rpc, pat, f"schedulers/{schedulers['bbmod-rebuild']}", "enable", {"enabled": False}
        )
        self.assertEqual(status, 403)

        # The module service API shares the accounts and the roles: an owner (apr1 in the
        # htpasswd file) edits the stream's end of life, others may not.
        api = settings.url + "module-build-service/1/module-streams/slow:main"
        for user, password, expected in (
            ("dev", "devpw", 403),
            ("olga", "wrong", 401),
            ("olga", "olgapw", 200),
            ("rel", "relpw", 200),
        ):
            r = yield call(
                requests.patch, api, json={"eol": "2031-01-01"}, auth=(user, password), timeout=20
            )
            self.assertEqual(r.status_code, expected, f"{user}: {r.text[:200]}")
        yield self.wait_all_complete()

    @defer.inlineCallbacks
    def test_openid_connect_login(self) -> None:
        root = tempdir(self)
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        secret = "s3cret-from-a-file-and-long-enough-for-hs256"
        provider = OIDCProvider("bbmod-site", secret, url + "auth/login").start()
        self.addCleanup(provider.stop)
        yield start_site(
            self,
            www_port=f"tcp:{port}:interface=127.0.0.1",
            url=url,
            htpasswd_file=htpasswd(root),
            oidc_issuer=provider.issuer,
            oidc_client_id="bbmod-site",
            oidc_client_secret_file=write(root, "oidc-secret", secret + "\n"),
            oidc_scope="openid profile email groups",
            oidc_name="Example ID",
            oidc_groups={"qa-team": "qe", "rel-team": "releng"},
            poll_interval=0,
            backend="rpmbuild",
        )
        web = Web(url)
        call = threads.deferToThread

        anon = web.login(None)
        config = yield call(lambda: anon.get(url + "config", timeout=10).json())
        self.assertEqual(config["auth"]["name"], "Example ID")
        self.assertTrue(config["auth"]["oauth2"])

        # The whole redirect flow: Buildbot -> provider (consents) -> Buildbot's callback.
        provider.user = {
            "sub": "u-1",
            "preferred_username": "ida",
            "email": "ida@example.org",
            "name": "Ida Tester",
            "groups": ["qa-team", "unrelated"],
        }
        ida = web.session()
        r = yield call(ida.get, url + "auth/login", params={"redirect": "/builders"}, timeout=20)
        self.assertEqual(r.status_code, 200, r.text[:300])
        hops = [h.headers["Location"] for h in r.history]
        self.assertTrue(hops[0].startswith(provider.issuer + "/authorize?"), hops)
        self.assertTrue(hops[1].startswith(url + "auth/login?code="), hops)
        # Buildbot 4.3 drops the state's redirect (bytes vs str in OAuth2LoginResource).
        self.assertTrue(hops[2].startswith(url), hops)
        self.assertIn("POST /oidc/token", provider.requests)
        self.assertIn("GET /oidc/userinfo", provider.requests)
        config = yield call(lambda: ida.get(url + "config", timeout=10).json())
        self.assertEqual(config["user"]["username"], "ida")
        self.assertEqual(config["user"]["email"], "ida@example.org")
        self.assertEqual(config["user"]["groups"], ["qa-team", "unrelated"])

        # Its groups are its roles: qa-team -> qe waives, and may not promote.
        waiver = {"nsvc": "x:main:1:c", "testcase": "modules.rpmlint", "comment": "qe"}
        status, answer = yield call(web.force, ida, "bbmod-waive", "module-actions", **waiver)
        self.assertEqual(status, 200, answer)
        status, _ = yield call(web.force, ida, "bbmod-promote", "module-actions", nsvc="x:main:1:c")
        self.assertEqual(status, 403)

        # rel-team -> releng promotes.
        provider.user = {
            "sub": "u-2",
            "preferred_username": "remy",
            "email": "remy@example.org",
            "groups": ["rel-team"],
        }
        remy = web.session()
        r = yield call(remy.get, url + "auth/login", timeout=20)
        self.assertEqual(r.status_code, 200)
        status, answer = yield call(
            web.force, remy, "bbmod-promote", "module-actions", nsvc="x:main:1:c"
        )
        self.assertEqual(status, 200, answer)

        # A forged code is refused; local accounts still log in with HTTP Basic.
        r = yield call(requests.get, url + "auth/login", params={"code": "forged"}, timeout=20)
        self.assertGreaterEqual(r.status_code, 400)
        self.assertEqual(len(self.flushLoggedErrors()), 1)  # its failed token request
        quinn = yield call(web.login, "quinn", "quinnpw")
        config = yield call(lambda: quinn.get(url + "config", timeout=10).json())
        self.assertEqual(config["user"]["username"], "quinn")
        status, _ = yield call(web.force, quinn, "bbmod-waive", "module-actions", **waiver)
        self.assertEqual(status, 403)  # not in qe here
        yield self.wait_all_complete()

    @defer.inlineCallbacks
    def test_reading_needs_a_login_without_anonymous_read(self) -> None:
        port = free_port()
        settings = yield start_site(
            self,
            www_port=f"tcp:{port}:interface=127.0.0.1",
            url=f"http://127.0.0.1:{port}/",
            users={"rel": "relpw", "dev": "devpw"},
            releng=["rel"],
            anonymous_read=False,
            poll_interval=0,
        )
        web = Web(settings.url)
        call = threads.deferToThread
        anon = web.login(None)
        dev = yield call(web.login, "dev", "devpw")
        for path, closed in (
            ("api/v2/builders", 403),
            ("modules/", 403),
            ("module-build-service/1/module-builds/", 401),
        ):
            r = yield call(anon.get, settings.url + path, timeout=10)
            self.assertEqual(r.status_code, closed, path)
            r = yield call(dev.get, settings.url + path, timeout=10)
            self.assertEqual(r.status_code, 200, path)
        status, _ = yield call(web.force, dev, "module-lint", "module-lint")
        self.assertEqual(status, 403)

    # -- helpers

    @defer.inlineCallbacks
    def wait_running(self, seconds: float = 90) -> Any:
        """The running module build and its running component build."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            builds = yield self.master.data.get(("builds",))
            found: dict[bool, Any] = {}
            for build in builds:
                if not build["complete"]:
                    props = yield self.master.data.get(("builds", build["buildid"], "properties"))
                    found["component" in props] = build
            if len(found) == 2:
                return found[False], found[True]
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.fail(f"no module build with a running component build in {seconds} s")

    @defer.inlineCallbacks
    def wait_all_complete(self, seconds: float = 60) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            builds = yield self.master.data.get(("builds",))
            requests_ = yield self.master.data.get(("buildrequests",))
            if all(b["complete"] for b in builds) and all(r["complete"] for r in requests_):
                return
            yield task.deferLater(reactor, 0.3, lambda: None)
        self.fail(f"builds still running after {seconds} s")
