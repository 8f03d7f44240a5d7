"""Module quality through the real pipeline: checks after publish to stage, results in
the registry and at the ResultsDB-format endpoint, the stage and production gates of a
Greenwave-style policy, a module's own gating.yaml, the example QE plug-in, waivers
given through the web UI by a release engineer (and refused to others), re-running
checks, and promotion to production."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import requests
from buildbot.test.util.integration import RunMasterBase
from twisted.internet import defer, reactor, task, threads

from buildbot_modules.distgit import DistGit
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .test_module_build import start_site
from .test_pipeline import free_port, module_yaml

CLEAN_SPEC = """\
Name:           {name}
Version:        {version}
Release:        1%{{?dist}}
Summary:        Payload for the quality tests
License:        MIT
URL:            https://example.org/{name}
BuildArch:      noarch
{tags}
%description
Package {name} of the quality tests of buildbot-modules:
one data file and a README.

%install
mkdir -p %{{buildroot}}%{{_datadir}}/{name} %{{buildroot}}%{{_docdir}}/{name}
echo {name} > %{{buildroot}}%{{_datadir}}/{name}/{name}.txt
echo readme > %{{buildroot}}%{{_docdir}}/{name}/README
{install}
%files
%doc %{{_docdir}}/{name}/README
%{{_datadir}}/{name}
{files}
%changelog
* Wed Nov 25 2026 Tester <tester@example.org> - {version}-1
- test
"""

POLICY = """\
--- !Policy
id: stage-closure
product_versions: [fedora-*]
decision_context: stage
subject_type: redhat-module
rules:
  - !PassingTestCaseRule {test_case_name: modules.repoclosure}
  - !PassingTestCaseRule {test_case_name: modules.api-stability}
--- !Policy
id: production-quality
product_versions: [fedora-*]
decision_context: production
subject_type: redhat-module
rules:
  - !PassingTestCaseRule {test_case_name: modules.rpmlint}
  - !PassingTestCaseRule {test_case_name: modules.modulemd}
"""

# qlic's own gating.yaml adds the plug-in's test case to production.
MODULE_GATING = """\
--- !Policy
id: qlic-licenses
product_versions: [fedora-*]
decision_context: production
subject_type: redhat-module
rules:
  - !PassingTestCaseRule {test_case_name: qe.license-file}
"""

LICENSE_INSTALL = (
    "mkdir -p %{buildroot}%{_datadir}/licenses/{name}\n"
    "echo MIT > %{buildroot}%{_datadir}/licenses/{name}/LICENSE\n"
)


def spec(name: str, tags: str = "", install: str = "", files: str = "", version: str = "1.0"):
    return CLEAN_SPEC.format(name=name, version=version, tags=tags, install=install, files=files)


class QualityInProcess(RunMasterBase):
    proto = "pb"
    timeout = 420

    @defer.inlineCallbacks
    def test_checks_gates_waivers_and_promotion(self) -> None:
        root = tempdir(self)
        policy = write(root, "policy.yaml", POLICY)
        port = free_port()
        settings = yield start_site(
            self,
            www_port=f"tcp:{port}:interface=127.0.0.1",
            url=f"http://127.0.0.1:{port}/",
            gating_policy=policy,
            module_checks={"qlic": ["qe.license-file"]},
            users={"rel": "relpw", "dev": "devpw"},
            releng=["rel"],
        )
        self.api = f"http://127.0.0.1:{port}/"
        registry = Registry(settings.registry_url)
        distgit = DistGit(settings.distgit)
        source = tempdir(self)
        specs = {
            "qgood-a": spec("qgood-a"),
            "qapi-core": spec("qapi-core", tags="Provides:       qapi-feature = %{version}\n"),
            # A file in /tmp: an rpmlint error in the API RPM.
            "qlint-a": spec(
                "qlint-a",
                install="mkdir -p %{buildroot}/tmp\necho x > %{buildroot}/tmp/qlint\n",
                files="/tmp/qlint",
            ),
            "qdep-a": spec("qdep-a", tags="Requires:       no-such-capability-qdep\n"),
            "qlic-a": spec("qlic-a"),  # no %license file
        }
        for name, text in specs.items():
            write(source, f"rpms/{name}/{name}.spec", text)
        for module in ("qgood", "qapi", "qlint", "qdep", "qlic"):
            write(
                source,
                f"modules/{module}/{module}.yaml",
                module_yaml(
                    f"Quality test module {module}",
                    {f"{module}-{'core' if module == 'qapi' else 'a'}": []},
                ),
            )
        write(source, "modules/qlic/gating.yaml", MODULE_GATING)
        distgit.import_dir(source)

        builds = {}
        for module in ("qgood", "qapi", "qlint", "qdep", "qlic"):
            builds[module] = yield self.wait_checked(registry, module)

        # A clean module passes both gates and is promoted to production.
        good = registry.module_build(builds["qgood"].id)
        self.assertEqual(good.state, "ready")
        self.assertEqual(good.decisions["stage"]["policies_satisfied"], True)
        self.assertEqual(good.decisions["production"]["policies_satisfied"], True)
        self.assertEqual(good.promoted_by, "automatic")
        self.assertTrue(
            os.path.isfile(os.path.join(good.production_path, "repodata", "repomd.xml"))
        )
        self.assertIn(f"{os.sep}production{os.sep}qgood{os.sep}", good.production_path)
        outcomes = {
            r.testcase: r.outcome for r in registry.results(item=good.nsvc, latest_only=True)
        }
        self.assertEqual(
            set(outcomes),
            {
                "modules.modulemd",
                "modules.rpmlint",
                "modules.repoclosure",
                "modules.installability",
                "modules.api-stability",
                "modules.eol",
            },
        )  # qe.license-file is enabled for qlic only
        self.assertEqual(outcomes["modules.installability"], "PASSED")
        self.assertEqual(outcomes["modules.api-stability"], "INFO")  # its first build

        # An rpmlint error in the API RPM: usable (stage) but never in production.
        lint = registry.module_build(builds["qlint"].id)
        self.assertEqual(lint.state, "ready")
        self.assertIsNone(lint.production_path)
        self.assertFalse(lint.decisions["production"]["policies_satisfied"])
        self.assertIn(
            "modules.rpmlint",
            [r["testcase"] for r in lint.decisions["production"]["unsatisfied_requirements"]],
        )
        self.assertFalse(os.path.exists(os.path.join(settings.publish_root, "production", "qlint")))

        # A broken run-time dependency: repoclosure names it and stage holds the build.
        dep = registry.module_build(builds["qdep"].id)
        self.assertEqual(dep.state, "done")
        closure = self.latest(registry, dep.nsvc, "modules.repoclosure")
        self.assertEqual(closure.outcome, "FAILED")
        self.assertIn("no-such-capability-qdep", closure.note)

        # The plug-in from contrib/checks ran for qlic, and qlic's gating.yaml made it block.
        lic = registry.module_build(builds["qlic"].id)
        self.assertEqual(self.latest(registry, lic.nsvc, "qe.license-file").outcome, "FAILED")
        self.assertEqual(lic.state, "ready")
        self.assertIsNone(lic.production_path)
        self.assertEqual(
            [r["testcase"] for r in lic.decisions["production"]["unsatisfied_requirements"]],
            ["qe.license-file"],
        )

        # The ResultsDB-format endpoint serves the results.
        url = self.api + "plugins/wsgi_dashboards/quality/api/v2.0/results"
        body = yield threads.deferToThread(self.get_json, url, {"item": good.nsvc})
        served = {r["testcase"]["name"]: r for r in body["data"]}
        self.assertEqual(served["modules.rpmlint"]["outcome"], outcomes["modules.rpmlint"])
        self.assertEqual(served["modules.rpmlint"]["data"]["item"], [good.nsvc])
        self.assertEqual(served["modules.rpmlint"]["data"]["type"], ["redhat-module"])
        self.assertTrue(served["modules.rpmlint"]["ref_url"].startswith(self.api))

        # Waiving is for release engineering: a developer is refused, the waiver of a
        # release engineer lets the held build through both gates.
        form = {
            "nsvc": dep.nsvc,
            "testcase": "modules.repoclosure",
            "comment": "known: fixed in platform",
        }
        status, _ = yield threads.deferToThread(self.force, "dev", "devpw", "bbmod-waive", form)
        self.assertEqual(status, 403)
        status, answer = yield threads.deferToThread(
            self.force, "rel", "relpw", "bbmod-waive", form
        )
        self.assertEqual(status, 200, answer)
        dep = yield self.wait_for(lambda: self.promoted(registry, dep.id), "qdep promoted")
        self.assertEqual(dep.state, "ready")
        waivers = registry.waivers(item=dep.nsvc)
        self.assertEqual(
            [(w.testcase, w.username) for w in waivers], [("modules.repoclosure", "rel")]
        )
        self.assertIn(
            "modules.repoclosure",
            [r["testcase"] for r in dep.decisions["stage"]["satisfied_requirements"]],
        )

        # A second build of qapi lost the Provides of its API RPM: held at stage, named.
        yield task.deferLater(reactor, 1.1, lambda: None)  # a later commit second
        write(source, "rpms/qapi-core/qapi-core.spec", spec("qapi-core", version="1.1"))
        distgit.import_dir(source)
        second = yield self.wait_checked(registry, "qapi", count=2)
        self.assertEqual(second.state, "done")
        stability = self.latest(registry, second.nsvc, "modules.api-stability")
        self.assertEqual(stability.outcome, "FAILED")
        self.assertIn("qapi-feature", stability.note)
        self.assertIsNone(second.production_path)

        # Re-running the checks of a build: new results, no new build.
        before = len(registry.results(item=good.nsvc))
        status, answer = yield threads.deferToThread(
            self.force, "rel", "relpw", "bbmod-recheck", {"nsvc": good.nsvc}
        )
        self.assertEqual(status, 200, answer)
        yield self.wait_for(
            lambda: len(registry.results(item=good.nsvc)) >= before + 6, "the checks to run again"
        )
        self.assertEqual(len(registry.module_builds(name="qgood")), 1)

    # -- helpers

    def latest(self, registry: Registry, nsvc: str, testcase: str) -> Any:
        found = [r for r in registry.results(item=nsvc, latest_only=True) if r.testcase == testcase]
        self.assertEqual(len(found), 1, f"{testcase} of {nsvc}")
        return found[0]

    def promoted(self, registry: Registry, build_id: int) -> Any:
        record = registry.module_build(build_id)
        return record if record.production_path else None

    @defer.inlineCallbacks
    def wait_checked(self, registry: Registry, name: str, count: int = 1) -> Any:
        """The module's newest build once its production gate has decided."""

        def decided() -> Any:
            builds = registry.module_builds(name=name)
            if len(builds) >= count and builds[0].state == "failed":
                self.fail(f"{name} failed: {builds[0].state_reason}")
            if len(builds) >= count and "production" in (builds[0].decisions or {}):
                satisfied = builds[0].decisions["production"]["policies_satisfied"]
                if satisfied and builds[0].state == "ready" and not builds[0].production_path:
                    return None  # decided; the (automatic) promotion is still publishing
                return builds[0]
            if (
                len(builds) >= count
                and builds[0].state == "done"
                and "stage" in (builds[0].decisions or {})
                and not builds[0].decisions["stage"]["policies_satisfied"]
            ):
                return builds[0]  # held at stage: production is never asked
            return None

        build = yield self.wait_for(decided, f"{name} build {count} to be gated")
        return build

    @defer.inlineCallbacks
    def wait_for(self, check: Any, what: str, seconds: float = 240) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.fail(f"timed out after {seconds} s waiting for {what}")

    def get_json(self, url: str, params: dict[str, str]) -> Any:
        response = requests.get(url, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def force(
        self, user: str, password: str, scheduler: str, form: dict[str, str]
    ) -> tuple[int, Any]:
        """Press a force scheduler's button in the web UI as ``user`` (JSON-RPC)."""
        session = requests.Session()
        login = session.get(self.api + "auth/login", auth=(user, password), timeout=10)
        if login.status_code != 200:
            raise AssertionError(f"login as {user}: {login.status_code} {login.text[:200]}")
        builders = session.get(self.api + "api/v2/builders", timeout=10).json()["builders"]
        builderid = next(b["builderid"] for b in builders if b["name"] == "module-actions")
        response = session.post(
            self.api + f"api/v2/forceschedulers/{scheduler}",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "force",
                    "id": 1,
                    "params": {"builderid": builderid, **form},
                }
            ),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text
