"""Gating policies and decisions (Greenwave's shape), and the ResultsDB API view and
forwarding, over a real registry on SQLite and a tiny local HTTP server."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from textwrap import dedent
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twisted.trial import unittest

from buildbot_modules import gating, resultsdb
from buildbot_modules.core.problems import ModuleError
from buildbot_modules.gating import PassingTestCaseRule, Policy, PolicyError
from buildbot_modules.registry import Registry, ResultRecord, WaiverRecord

from .test_registry import T0, Clock, create, make_ready, new_registry

# Greenwave's example policies (conf/policies/fedora.yaml) in our subject type, plus the
# keys and tags real files carry: excluded_packages, blacklist, a RemoteRule, rules: [].
SITE_POLICIES = """\
# Site gating policy
--- !Policy
id: "modules_stable"
product_versions:
  - fedora-*
decision_context: modules_push_stable
subject_type: redhat-module
excluded_packages:
  - module-build*
rules:
  - !PassingTestCaseRule {test_case_name: modules.rpmlint}
  - !PassingTestCaseRule {test_case_name: modules.install}
  - !RemoteRule {}
--- !Policy
id: "modules_testing"
product_versions: [fedora-*, rhel-9]
decision_contexts: [modules_push_testing, modules_push_stable]
subject_types: [redhat-module]
blacklist: [nodejs]
rules:
  - !PassingTestCaseRule {test_case_name: modules.repoclosure}
--- !Policy
id: "rpms_only"
product_versions: ["*"]
decision_context: modules_push_stable
subject_type: koji_build
rules:
  - !PassingTestCaseRule {test_case_name: dist.rpmdeplint}
--- !Policy
id: "nothing_needed"
product_versions: [fedora-rawhide]
decision_context: modules_nightly
subject_type: redhat-module
rules: []
"""

NSVC = "nodejs:20:3920251125202037:6c81f848"
STABLE = "modules_push_stable"


def parse(text: str, source: str = "policies.yaml", **kw: Any) -> list[Policy]:
    return gating.parse_policies(dedent(text), source, **kw)


class Results:
    """Results and waivers for decide(), with a clock: each one later than the last."""

    def __init__(self) -> None:
        self.results: list[ResultRecord] = []
        self.waivers: list[WaiverRecord] = []
        self.now = T0

    def _tick(self) -> None:
        self.now += timedelta(seconds=10)

    def add(self, testcase: str, outcome: str, item: str = NSVC, **data: Any) -> int:
        self._tick()
        rid = len(self.results) + 100
        self.results.append(
            ResultRecord(rid, 1, testcase, outcome, "", None, item, "redhat-module", data, self.now)
        )
        return rid

    def waive(self, testcase: str, waived: bool = True, item: str = NSVC) -> int:
        self._tick()
        wid = len(self.waivers) + 500
        self.waivers.append(WaiverRecord(wid, item, testcase, waived, "why", "alice", self.now))
        return wid

    def decide(
        self, policies: list[Policy], context: str = STABLE, pv: str = "fedora-39", **kw: Any
    ) -> dict[str, Any]:
        return gating.decide(policies, context, pv, NSVC, self.results, self.waivers, **kw)


def types(decision: dict[str, Any], which: str) -> dict[str, str]:
    return {r["testcase"]: r["type"] for r in decision[f"{which}_requirements"]}


class Parsing(unittest.TestCase):
    def test_greenwave_site_policies(self) -> None:
        policies = parse(SITE_POLICIES)
        self.assertEqual(
            [p.id for p in policies],
            ["modules_stable", "modules_testing", "rpms_only", "nothing_needed"],
        )
        stable = policies[0]
        self.assertEqual(stable.product_versions, ("fedora-*",))
        self.assertEqual(stable.decision_contexts, (STABLE,))
        self.assertEqual(stable.subject_types, ("redhat-module",))
        self.assertEqual(
            [r.test_case_name for r in stable.rules], ["modules.rpmlint", "modules.install"]
        )
        self.assertEqual(
            stable.rules[0], PassingTestCaseRule("modules.rpmlint", None, "policies.yaml", 11)
        )
        self.assertTrue(stable.remote_rule)
        self.assertFalse(stable.from_module)
        self.assertEqual(
            (stable.source, stable.line, stable.where), ("policies.yaml", 2, "policies.yaml:2")
        )
        testing = policies[1]
        self.assertEqual(testing.decision_contexts, ("modules_push_testing", STABLE))
        self.assertEqual(testing.product_versions, ("fedora-*", "rhel-9"))
        self.assertEqual(policies[3].rules, ())
        self.assertEqual(stable.rules[0].to_json()["rule"], "PassingTestCaseRule")

    def test_applies(self) -> None:
        stable, testing, rpms, _ = parse(SITE_POLICIES)
        self.assertTrue(stable.applies(STABLE, "fedora-39"))
        self.assertFalse(stable.applies(STABLE, "rhel-9"))
        self.assertFalse(stable.applies("modules_push_testing", "fedora-39"))
        self.assertTrue(testing.applies(STABLE, "rhel-9"))
        self.assertFalse(rpms.applies(STABLE, "fedora-39"))
        self.assertTrue(rpms.applies(STABLE, "fedora-39", "koji_build"))

    def test_plain_form_without_tags(self) -> None:
        (policy,) = parse(
            """\
            id: plain
            product_versions: [fedora-*]
            decision_context: modules_push_stable
            subject_type: redhat-module
            rules:
              - {type: PassingTestCaseRule, test_case_name: modules.rpmlint}
              - type: PassingTestCaseRule
                test_case_name: modules.install
                scenario: x86_64
            """
        )
        self.assertEqual(
            [r.key for r in policy.rules],
            [("modules.rpmlint", None), ("modules.install", "x86_64")],
        )
        self.assertEqual(policy.rules[1].line, 7)

    def test_module_gating_yaml_defaults(self) -> None:
        text = """\
            --- !Policy
            decision_context: modules_push_stable
            rules:
              - !PassingTestCaseRule {test_case_name: nodejs.smoke}
            ---
            ...
            """
        (policy,) = parse(text, "modules/nodejs@1a2b:gating.yaml", module=True)
        self.assertEqual(policy.id, "modules/nodejs@1a2b:gating.yaml#1")
        self.assertEqual((policy.product_versions, policy.subject_types), (("*",), ("*",)))
        self.assertTrue(policy.from_module)
        self.assertTrue(policy.applies(STABLE, "rhel-9"))
        # The same text is no site policy: it lacks an id.
        e = self.assertRaises(PolicyError, parse, text, "site.yaml")
        self.assertEqual(
            str(e), "site.yaml:1: error: policy 1 has no id (give every site policy a unique id)"
        )

    def test_empty_text(self) -> None:
        self.assertEqual(parse(""), [])
        self.assertEqual(parse("---\n...\n# nothing\n"), [])

    def test_load_a_file_and_a_folder(self) -> None:
        folder = self.mktemp()
        os.makedirs(folder)
        with open(os.path.join(folder, "10-site.yaml"), "w") as f:
            f.write(SITE_POLICIES)
        with open(os.path.join(folder, "20-more.yml"), "w") as f:
            f.write(SITE_POLICIES.replace('id: "', 'id: "more_'))
        with open(os.path.join(folder, "README"), "w") as f:
            f.write("not a policy")
        policies = gating.load_policies(folder)
        self.assertEqual(len(policies), 8)
        self.assertEqual(policies[4].id, "more_modules_stable")
        self.assertEqual(policies[4].source, os.path.join(folder, "20-more.yml"))
        self.assertEqual(len(gating.load_policies(os.path.join(folder, "10-site.yaml"))), 4)
        e = self.assertRaises(PolicyError, gating.load_policies, os.path.join(folder, "nope.yaml"))
        self.assertIn("nope.yaml: error: no such policy file", str(e))
        with open(os.path.join(folder, "bad.yaml"), "wb") as f:
            f.write(b"id: x\nrules: [\xff]\n")
        e = self.assertRaises(PolicyError, gating.load_policies, os.path.join(folder, "bad.yaml"))
        self.assertIn("bad.yaml:2: error: not valid UTF-8", str(e))


class ParsingErrors(unittest.TestCase):
    """Every error names file and line and says what to do."""

    def error(self, text: str, **kw: Any) -> str:
        e = self.assertRaises(PolicyError, parse, text, "gating.yaml", **kw)
        self.assertIsInstance(e, ModuleError)
        return str(e)

    def test_bad_yaml(self) -> None:
        message = self.error("--- !Policy\nid: x\nrules: [a, b\n")
        self.assertTrue(message.startswith("gating.yaml:4: error: invalid YAML: "), message)
        self.assertIn("(fix the YAML syntax)", message)

    def test_unknown_rule_type(self) -> None:
        text = """\
            --- !Policy
            id: x
            product_versions: [fedora-*]
            decision_context: c
            subject_type: redhat-module
            rules:
              - !PassingTestCaseRule {test_case_name: a}
              - !PackageSpecificBuild {test_case_name: b}
            """
        message = self.error(text)
        self.assertTrue(
            message.startswith("gating.yaml:8: error: unknown tag !PackageSpecificBuild")
        )
        self.assertIn("rules are !PassingTestCaseRule, !RemoteRule", message)
        message = self.error(text.replace("!PackageSpecificBuild {", "{type: Foo, "))
        self.assertIn("gating.yaml:8: error: policy 'x': unknown rule type Foo", message)
        self.assertIn("(rule types are PassingTestCaseRule, RemoteRule)", message)
        message = self.error(text.replace("!PackageSpecificBuild {", "{"))
        self.assertIn(
            "gating.yaml:8: error: policy 'x': a rule without a tag needs a type", message
        )
        message = self.error(
            text.replace("!PackageSpecificBuild {test_case_name: b}", "just-a-name")
        )
        self.assertIn("gating.yaml:6: error: policy 'x': rule 'just-a-name' is not a rule", message)

    def test_missing_id_rules_and_keys(self) -> None:
        base = (
            "--- !Policy\nid: x\nproduct_versions: [fedora-*]\ndecision_context: c\n"
            "subject_type: redhat-module\n"
        )
        self.assertIn("gating.yaml:1: error: policy 'x' has no rules", self.error(base))
        self.assertIn("rules: [] requires nothing", self.error(base))
        message = self.error(base.replace("id: x\n", "") + "rules: []\n")
        self.assertIn("gating.yaml:1: error: policy 1 has no id", message)
        message = self.error(base.replace("decision_context: c\n", "") + "rules: []\n")
        self.assertIn(
            "policy 'x' has no decision_context or decision_contexts "
            "(give decision_context or decision_contexts)",
            message,
        )
        message = self.error(base.replace("product_versions: [fedora-*]\n", "") + "rules: []\n")
        self.assertIn("policy 'x' has no product_versions", message)
        message = self.error(base + "rules: []\ndecision_contexts: [d]\n")
        self.assertIn(
            "gating.yaml:7: error: policy 'x': both decision_context and decision_contexts", message
        )
        message = self.error(base + "rules: []\nproduct_version: fedora-39\n")
        self.assertIn("gating.yaml:7: error: policy 'x': unknown key product_version", message)
        self.assertIn("policy keys are ", message)
        message = self.error(base + "rules: !PassingTestCaseRule {test_case_name: a}\n")
        self.assertIn("gating.yaml:6: error: policy 'x': rules must be a list", message)
        message = self.error(base + "rules:\n  - !PassingTestCaseRule {name: a}\n")
        self.assertIn(
            "gating.yaml:7: error: policy 'x': PassingTestCaseRule has unknown key name", message
        )
        message = self.error(base + "rules:\n  - !PassingTestCaseRule {scenario: a}\n")
        self.assertIn(
            "gating.yaml:7: error: policy 'x': PassingTestCaseRule without test_case_name", message
        )
        message = self.error(base + "rules:\n  - !PassingTestCaseRule {test_case_name: ''}\n")
        self.assertIn("test_case_name must be a non-empty string", message)
        message = self.error(base.replace("[fedora-*]", "fedora-39") + "rules: []\n")
        self.assertIn(
            "gating.yaml:3: error: policy 'x': product_versions must be a non-empty list", message
        )

    def test_duplicate_keys_are_refused(self) -> None:
        message = self.error(
            "--- !Policy\nid: x\nrules: []\nrules: [!PassingTestCaseRule {test_case_name: a}]\n"
        )
        self.assertIn("gating.yaml:4: error: rules is given twice (first on line 3)", message)

    def test_documents_must_be_policies(self) -> None:
        self.assertIn("document 1 is not a policy", self.error("- a\n- b\n"))
        message = self.error("--- !PassingTestCaseRule {test_case_name: a}\n")
        self.assertIn(
            "gating.yaml:1: error: document 1 is a !PassingTestCaseRule, not a !Policy", message
        )
        self.assertIn(
            "gating.yaml:1: error: a policy must be a mapping", self.error("--- !Policy\n")
        )
        self.assertIn(
            "gating.yaml:1: error: unknown tag !Poilcy", self.error("--- !Poilcy\nid: x\n")
        )
        self.assertIn(
            "unknown tag tag:yaml.org,2002:python/name", self.error("id: !!python/name:os.system\n")
        )

    def test_a_module_may_not_use_remote_rules(self) -> None:
        text = "--- !Policy\ndecision_context: c\nrules:\n  - !RemoteRule {required: true}\n"
        message = self.error(text, module=True)
        self.assertIn(
            "gating.yaml:4: error: policy 1: RemoteRule is not allowed in a module's gating.yaml",
            message,
        )

    def test_oversized_and_deep(self) -> None:
        self.assertIn("larger than 1024 KiB; refused", self.error("#" * (1024 * 1024 + 1)))
        message = self.error("id: " + "[" * 5000 + "]" * 5000 + "\n")
        self.assertIn("gating.yaml", message)


class Deciding(unittest.TestCase):
    def setUp(self) -> None:
        self.policies = parse(SITE_POLICIES)
        self.r = Results()

    def test_all_passed_or_info(self) -> None:
        a = self.r.add("modules.rpmlint", "PASSED")
        b = self.r.add("modules.install", "INFO")
        c = self.r.add("modules.repoclosure", "PASSED")
        decision = self.r.decide(self.policies)
        self.assertEqual(
            set(decision),
            {
                "policies_satisfied",
                "summary",
                "applicable_policies",
                "satisfied_requirements",
                "unsatisfied_requirements",
            },
        )
        self.assertTrue(decision["policies_satisfied"])
        self.assertEqual(
            decision["summary"], "All required tests (3 total) have passed or been waived"
        )
        self.assertEqual(decision["applicable_policies"], ["modules_stable", "modules_testing"])
        self.assertEqual(decision["unsatisfied_requirements"], [])
        self.assertEqual(
            decision["satisfied_requirements"][0],
            {
                "type": "test-result-passed",
                "testcase": "modules.rpmlint",
                "subject_type": "redhat-module",
                "subject_identifier": NSVC,
                "source": "policies.yaml:2",
                "result_id": a,
                "outcome": "PASSED",
                "scenario": None,
            },
        )
        self.assertEqual([r["result_id"] for r in decision["satisfied_requirements"]], [a, b, c])
        json.dumps(decision)  # storable as it is

    def test_failed_and_needs_inspection_fail(self) -> None:
        a = self.r.add("modules.rpmlint", "FAILED")
        self.r.add("modules.install", "NEEDS_INSPECTION")
        self.r.add("modules.repoclosure", "PASSED")
        decision = self.r.decide(self.policies)
        self.assertFalse(decision["policies_satisfied"])
        self.assertEqual(decision["summary"], "Of 3 required tests, 2 tests failed")
        self.assertEqual(
            types(decision, "unsatisfied"),
            {"modules.rpmlint": "test-result-failed", "modules.install": "test-result-failed"},
        )
        self.assertEqual(
            decision["unsatisfied_requirements"][0],
            {
                "type": "test-result-failed",
                "testcase": "modules.rpmlint",
                "subject_type": "redhat-module",
                "subject_identifier": NSVC,
                "source": "policies.yaml:2",
                "result_id": a,
                "outcome": "FAILED",
                "scenario": None,
                "item": {"type": "redhat-module", "item": NSVC},
            },
        )

    def test_missing(self) -> None:
        self.r.add("modules.rpmlint", "FAILED")
        self.r.add("modules.repoclosure", "PASSED")
        decision = self.r.decide(self.policies)
        self.assertEqual(
            decision["summary"], "Of 3 required tests, 1 result missing, 1 test failed"
        )
        missing = decision["unsatisfied_requirements"][1]
        self.assertEqual(missing["type"], "test-result-missing")
        self.assertEqual(missing["testcase"], "modules.install")
        self.assertNotIn("result_id", missing)
        decision = self.r.decide(self.policies, pv="rhel-9")  # modules_testing only
        self.assertEqual(
            decision["summary"], "All required tests (1 total) have passed or been waived"
        )

    def test_the_latest_result_counts(self) -> None:
        self.r.add("modules.rpmlint", "FAILED")
        self.r.add("modules.rpmlint", "PASSED")
        self.r.add("modules.install", "PASSED")
        self.r.add("modules.install", "FAILED")
        self.r.add("modules.repoclosure", "PASSED")
        self.r.add("modules.install", "PASSED", item="nodejs:20:1:other")  # another build
        decision = self.r.decide(self.policies)
        self.assertEqual(types(decision, "unsatisfied"), {"modules.install": "test-result-failed"})
        self.assertEqual(decision["summary"], "Of 3 required tests, 1 test failed")

    def test_waived_and_revoked(self) -> None:
        self.r.add("modules.rpmlint", "FAILED")
        self.r.add("modules.repoclosure", "PASSED")
        w1 = self.r.waive("modules.rpmlint")
        w2 = self.r.waive("modules.install")  # a missing result can be waived too
        self.r.waive("modules.repoclosure", item="other:1:1:c")
        decision = self.r.decide(self.policies)
        self.assertTrue(decision["policies_satisfied"])
        self.assertEqual(
            decision["summary"], "All required tests (3 total) have passed or been waived"
        )
        self.assertEqual(
            types(decision, "satisfied"),
            {
                "modules.rpmlint": "test-result-failed-waived",
                "modules.install": "test-result-missing-waived",
                "modules.repoclosure": "test-result-passed",
            },
        )
        waived = decision["satisfied_requirements"][0]
        self.assertEqual(waived["waiver_id"], w1)
        self.assertNotIn("item", waived)
        self.assertEqual(decision["satisfied_requirements"][1]["waiver_id"], w2)
        # A later waiver with waived=false revokes; a still later one waives again.
        self.r.waive("modules.rpmlint", waived=False)
        decision = self.r.decide(self.policies)
        self.assertFalse(decision["policies_satisfied"])
        self.assertEqual(types(decision, "unsatisfied"), {"modules.rpmlint": "test-result-failed"})
        w4 = self.r.waive("modules.rpmlint")
        decision = self.r.decide(self.policies)
        self.assertTrue(decision["policies_satisfied"])
        self.assertEqual(decision["satisfied_requirements"][0]["waiver_id"], w4)

    def test_a_waiver_for_a_passing_test_changes_nothing(self) -> None:
        self.r.add("modules.rpmlint", "PASSED")
        self.r.waive("modules.rpmlint")
        decision = self.r.decide(self.policies, context="modules_push_stable")
        self.assertEqual(types(decision, "satisfied")["modules.rpmlint"], "test-result-passed")

    def test_no_applicable_policy(self) -> None:
        self.r.add("modules.rpmlint", "FAILED")
        for context, pv in (
            (STABLE, "el8-something"),
            ("unknown_context", "fedora-39"),
            ("modules_nightly", "fedora-rawhide"),
        ):
            decision = self.r.decide(self.policies, context=context, pv=pv)
            self.assertTrue(decision["policies_satisfied"])
            self.assertEqual(decision["summary"], "No tests are required")
            self.assertEqual(decision["satisfied_requirements"], [])
        self.assertEqual(
            self.r.decide(self.policies, context="modules_nightly", pv="fedora-rawhide")[
                "applicable_policies"
            ],
            ["nothing_needed"],
        )
        self.assertEqual(self.r.decide([])["summary"], "No tests are required")

    def test_product_versions_and_subject_types(self) -> None:
        self.r.add("modules.repoclosure", "PASSED")
        # rhel-9: only modules_testing applies (its one rule passed).
        decision = self.r.decide(self.policies, pv="rhel-9")
        self.assertEqual(decision["applicable_policies"], ["modules_testing"])
        self.assertTrue(decision["policies_satisfied"])
        # A koji_build subject: only the rpms policy applies (and our result is not one).
        decision = self.r.decide(self.policies, subject_type="koji_build")
        self.assertEqual(decision["applicable_policies"], ["rpms_only"])
        self.assertEqual(types(decision, "unsatisfied"), {"dist.rpmdeplint": "test-result-missing"})

    def test_scenario_rules(self) -> None:
        (policy,) = parse(
            """\
            --- !Policy
            id: arches
            product_versions: ["*"]
            decision_context: modules_push_stable
            subject_type: redhat-module
            rules:
              - !PassingTestCaseRule {test_case_name: modules.install, scenario: x86_64}
              - !PassingTestCaseRule {test_case_name: modules.install, scenario: aarch64}
            """
        )
        self.r.add("modules.install", "PASSED", scenario="x86_64")
        self.r.add("modules.install", "FAILED", scenario="aarch64")
        self.r.add("modules.install", "PASSED", scenario="s390x")
        decision = self.r.decide([policy])
        self.assertEqual(decision["summary"], "Of 2 required tests, 1 test failed")
        self.assertEqual(decision["satisfied_requirements"][0]["scenario"], "x86_64")
        self.assertEqual(decision["unsatisfied_requirements"][0]["scenario"], "aarch64")
        self.r.add("modules.install", "PASSED", scenario=["aarch64", "ppc64le"])
        self.assertTrue(self.r.decide([policy])["policies_satisfied"])

    def test_product_version_of_platform_streams(self) -> None:
        cases = {
            "f39": "fedora-39",
            "f40": "fedora-40",
            "rawhide": "fedora-rawhide",
            "eln": "fedora-eln",
            "el9": "rhel-9",
            "el8.10": "rhel-8",
            "bookworm": "bookworm",
        }
        for stream, expected in cases.items():
            self.assertEqual(gating.product_version(stream), expected)


class ModulePolicies(unittest.TestCase):
    """A module's gating.yaml can add requirements, never remove or weaken the site's."""

    def setUp(self) -> None:
        self.site = parse(SITE_POLICIES)
        self.r = Results()
        self.r.add("modules.rpmlint", "PASSED")
        self.r.add("modules.install", "PASSED")
        self.r.add("modules.repoclosure", "PASSED")

    def module(self, text: str) -> list[Policy]:
        return parse(text, "modules/nodejs@1a2b:gating.yaml", module=True)

    def test_adds_a_rule_to_the_site_context(self) -> None:
        mine = self.module(
            "--- !Policy\ndecision_context: modules_push_stable\nrules:\n"
            "  - !PassingTestCaseRule {test_case_name: nodejs.smoke}\n"
        )
        merged = gating.merge(self.site, mine)
        self.assertEqual(merged[: len(self.site)], self.site)
        decision = self.r.decide(merged)
        self.assertFalse(decision["policies_satisfied"])
        self.assertEqual(decision["summary"], "Of 4 required tests, 1 result missing")
        self.assertEqual(
            decision["applicable_policies"],
            ["modules_stable", "modules_testing", "modules/nodejs@1a2b:gating.yaml#1"],
        )
        missing = decision["unsatisfied_requirements"][0]
        self.assertEqual(missing["source"], "modules/nodejs@1a2b:gating.yaml:1")
        self.r.add("nodejs.smoke", "PASSED")
        self.assertTrue(self.r.decide(merged)["policies_satisfied"])
        # Other contexts are unchanged.
        self.assertEqual(
            self.r.decide(merged, context="modules_push_testing")["summary"],
            self.r.decide(self.site, context="modules_push_testing")["summary"],
        )

    def test_cannot_remove_or_weaken_site_rules(self) -> None:
        self.r.add("modules.rpmlint", "FAILED")
        mine = self.module(
            """\
            --- !Policy
            id: modules_stable
            product_versions: [fedora-*]
            decision_context: modules_push_stable
            subject_type: redhat-module
            excluded_packages: ["*"]
            packages: [nothing]
            rules: []
            --- !Policy
            decision_context: modules_push_stable
            rules:
              - {type: PassingTestCaseRule, test_case_name: modules.rpmlint,
                 valid_until: 2000-01-01T00:00:00}
            """
        )
        merged = gating.merge(self.site, mine)
        decision = self.r.decide(merged)
        self.assertFalse(decision["policies_satisfied"])
        self.assertEqual(types(decision, "unsatisfied"), {"modules.rpmlint": "test-result-failed"})
        self.assertEqual(decision["summary"], "Of 3 required tests, 1 test failed")  # counted once
        self.assertEqual(
            self.r.decide(self.site)["unsatisfied_requirements"],
            decision["unsatisfied_requirements"],
        )

    def test_a_context_the_site_does_not_have_still_applies(self) -> None:
        mine = self.module(
            "--- !Policy\ndecision_context: nodejs_extra\nrules:\n"
            "  - !PassingTestCaseRule {test_case_name: nodejs.smoke}\n"
        )
        decision = self.r.decide(gating.merge(self.site, mine), context="nodejs_extra")
        self.assertEqual(types(decision, "unsatisfied"), {"nodejs.smoke": "test-result-missing"})
        self.assertEqual(decision["applicable_policies"], ["modules/nodejs@1a2b:gating.yaml#1"])

    def test_merge_marks_module_policies(self) -> None:
        site_like = parse(SITE_POLICIES)[:1]
        merged = gating.merge([], site_like)
        self.assertTrue(merged[0].from_module)
        self.assertEqual(merged[0].rules, site_like[0].rules)
        self.assertEqual(
            len(gating.requirements(gating.merge(self.site, site_like), STABLE, "fedora-39")), 3
        )

    def test_a_broken_gating_yaml_fails_the_gate_until_waived(self) -> None:
        error = self.assertRaises(
            PolicyError, self.module, "--- !Policy\ndecision_context: c\nrules: [!Foo {}]\n"
        )
        decision = self.r.decide(self.site, module_policy_error=error)
        self.assertFalse(decision["policies_satisfied"])
        self.assertEqual(decision["summary"], "1 error due to invalid remote rule file")
        (broken,) = decision["unsatisfied_requirements"]
        self.assertEqual(broken["type"], "invalid-gating-yaml")
        self.assertEqual(broken["testcase"], "invalid-gating-yaml")
        self.assertEqual(broken["source"], "modules/nodejs@1a2b:gating.yaml")
        self.assertIn(
            "modules/nodejs@1a2b:gating.yaml:3: error: unknown tag !Foo", broken["details"]
        )
        self.r.add("modules.rpmlint", "FAILED")
        decision = self.r.decide(self.site, module_policy_error=error)
        self.assertEqual(
            decision["summary"],
            "1 error due to invalid remote rule file. Of 3 required tests, 1 test failed",
        )
        self.r.waive("invalid-gating-yaml")
        decision = self.r.decide(self.site, module_policy_error=error)
        self.assertEqual(decision["summary"], "Of 3 required tests, 1 test failed")


class DecideBuild(unittest.TestCase):
    def test_from_the_registry_and_recorded(self) -> None:
        clock = Clock()
        registry = new_registry(self, clock)
        build = create(registry, "nodejs", "20", buildrequires={"platform": "f39"})
        make_ready(registry, build)
        nsvc = registry.module_build(build).nsvc
        policies = parse(SITE_POLICIES)
        registry.add_result(build, "modules.rpmlint", "PASSED")
        clock.advance(1)
        registry.add_result(build, "modules.install", "FAILED")
        registry.add_waiver(nsvc, "modules.install", "known flake", "alice")
        decision = gating.decide_build(registry, build, policies, STABLE)
        self.assertEqual(decision["summary"], "Of 3 required tests, 1 result missing")
        self.assertEqual(registry.module_build(build).decisions, {STABLE: decision})
        registry.add_result(build, "modules.repoclosure", "INFO")
        decision = gating.decide_build(registry, build, policies, STABLE, record=False)
        self.assertTrue(decision["policies_satisfied"])
        self.assertFalse(registry.module_build(build).decisions[STABLE]["policies_satisfied"])
        el9 = create(
            registry, "nodejs", "20", context="e19e19e1", buildrequires={"platform": "el9"}
        )
        decision = gating.decide_build(registry, el9, policies, STABLE)
        self.assertEqual(decision["applicable_policies"], ["modules_testing"])
        nope = create(registry, "x", "1", buildrequires={})
        e = self.assertRaises(PolicyError, gating.decide_build, registry, nope, policies, STABLE)
        self.assertIn("buildrequires no platform stream", str(e))


# --------------------------------------------------------------------------- ResultsDB

BASE = "https://master.example/resultsdb/api/v2.0"


class ResultsDBView(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = new_registry(self, self.clock)
        self.build = create(self.registry, "nodejs", "20", version=3920251125202037)
        self.other = create(self.registry, "perl", "5.38")
        self.nsvc = self.registry.module_build(self.build).nsvc
        self.perl = self.registry.module_build(self.other).nsvc

    def add(self, build: int, testcase: str, outcome: str, **data: Any) -> int:
        self.clock.advance(10)
        return self.registry.add_result(
            build, testcase, outcome, note=f"{testcase} said {outcome}", data=data
        ).id

    def ids(self, registry: Registry | None = None, **args: Any) -> list[int]:
        query = {k.replace("__", ":"): [v] if isinstance(v, str) else v for k, v in args.items()}
        return [r["id"] for r in resultsdb.query(registry or self.registry, query, BASE)["data"]]

    def test_a_result_in_resultsdb_shape(self) -> None:
        details = [{"item": "nodejs-20.1-1.x86_64", "outcome": "FAILED", "note": "E: bad"}]
        record = self.registry.add_result(
            self.build,
            "modules.rpmlint",
            "FAILED",
            note="1 package with errors",
            ref_url="https://master.example/#/builders/3/builds/9",
            data={"arch": "x86_64", "details": details, "count": 1, "tags": ["a", "b"]},
        )
        self.assertEqual(
            resultsdb.result_json(record, BASE + "/"),
            {
                "id": record.id,
                "groups": [],
                "testcase": {
                    "name": "modules.rpmlint",
                    "ref_url": None,
                    "href": BASE + "/testcases/modules.rpmlint",
                },
                "submit_time": "2025-11-25T20:20:37.000000",
                "outcome": "FAILED",
                "note": "1 package with errors",
                "ref_url": "https://master.example/#/builders/3/builds/9",
                "data": {
                    "item": [self.nsvc],
                    "type": ["redhat-module"],
                    "arch": ["x86_64"],
                    "details": [json.dumps(details[0], sort_keys=True)],
                    "count": ["1"],
                    "tags": ["a", "b"],
                },
                "href": f"{BASE}/results/{record.id}",
            },
        )
        self.assertEqual(resultsdb.get_result(self.registry, record.id, BASE)["id"], record.id)

    def test_query_filters(self) -> None:
        a = self.add(self.build, "modules.rpmlint", "FAILED", arch="x86_64")
        b = self.add(self.build, "modules.install", "PASSED", arch="aarch64", scenario="minimal")
        c = self.add(self.other, "modules.rpmlint", "PASSED", arch="x86_64")
        d = self.add(self.build, "modules.rpmlint", "PASSED", arch="x86_64")
        self.assertEqual(self.ids(), [d, c, b, a])
        self.assertEqual(self.ids(item=self.nsvc), [d, b, a])
        self.assertEqual(self.ids(item=f"{self.nsvc},{self.perl}"), [d, c, b, a])
        self.assertEqual(self.ids(item=[self.nsvc, self.perl]), [d, c, b, a])
        self.assertEqual(self.ids(type="redhat-module"), [d, c, b, a])
        self.assertEqual(self.ids(type="koji_build"), [])
        self.assertEqual(self.ids(type="koji_build,redhat-module"), [d, c, b, a])
        self.assertEqual(self.ids(testcases="modules.install"), [b])
        self.assertEqual(self.ids(testcases="modules.install,modules.rpmlint", item=self.perl), [c])
        self.assertEqual(self.ids(testcases__like="modules.r*"), [d, c, a])
        self.assertEqual(
            self.ids(testcases__like="*.rpm*", testcases="modules.install"), [d, c, b, a]
        )
        self.assertEqual(self.ids(outcome="failed"), [a])
        self.assertEqual(self.ids(outcome="PASSED,FAILED", item=self.perl), [c])
        self.assertEqual(self.ids(since="2025-11-25T20:20:50"), [d, c, b])
        self.assertEqual(self.ids(since="2025-11-25T20:20:50,2025-11-25T20:21:10"), [c, b])
        self.assertEqual(self.ids(since="2025-11-25T21:20:50+01:00"), [d, c, b])
        self.assertEqual(self.ids(arch="x86_64"), [d, c, a])
        self.assertEqual(self.ids(arch__like="aarch*"), [b])
        self.assertEqual(self.ids(scenario="minimal"), [b])
        self.assertEqual(self.ids(item__like="perl:*"), [c])
        self.assertEqual(self.ids(groups="some-uuid"), [])
        self.assertEqual(self.ids(_sort="desc:submit_time", callback="cb"), [d, c, b, a])

    def test_pages(self) -> None:
        ids = [self.add(self.build, f"t{n}", "PASSED") for n in range(5)][::-1]
        first = resultsdb.query(self.registry, {"limit": ["2"], "item": [self.nsvc]}, BASE)
        self.assertEqual([r["id"] for r in first["data"]], ids[:2])
        self.assertIsNone(first["prev"])
        nxt = urlsplit(first["next"])
        self.assertEqual(f"{nxt.scheme}://{nxt.netloc}{nxt.path}", BASE + "/results")
        self.assertEqual(parse_qs(nxt.query), {"limit": ["2"], "item": [self.nsvc], "page": ["1"]})
        second = resultsdb.query(self.registry, parse_qs(nxt.query), BASE)
        self.assertEqual([r["id"] for r in second["data"]], ids[2:4])
        self.assertEqual(parse_qs(urlsplit(second["prev"]).query)["page"], ["0"])
        last = resultsdb.query(self.registry, parse_qs(urlsplit(second["next"]).query), BASE)
        self.assertEqual([r["id"] for r in last["data"]], ids[4:])
        self.assertIsNone(last["next"])
        # The same with a filter checked in Python (data keys).
        page = resultsdb.query(
            self.registry, {"limit": ["2"], "page": ["2"], "type:like": ["redhat-*"]}, BASE
        )
        self.assertEqual(([r["id"] for r in page["data"]], page["next"]), (ids[4:], None))
        self.assertEqual(len(resultsdb.query(self.registry, {}, BASE)["data"]), 5)
        self.assertEqual(len(resultsdb.query(self.registry, {"limit": ["99999"]}, BASE)["data"]), 5)

    def test_latest(self) -> None:
        self.add(self.build, "modules.rpmlint", "FAILED")
        b = self.add(self.build, "modules.rpmlint", "PASSED")
        c = self.add(self.other, "modules.rpmlint", "FAILED")
        answer = resultsdb.query(self.registry, {"item": [self.nsvc]}, BASE, latest=True)
        self.assertEqual(answer, {"data": [resultsdb.result_json(self.registry.result(b), BASE)]})
        everything = resultsdb.query(self.registry, {}, BASE, latest=True)
        self.assertEqual([r["id"] for r in everything["data"]], [c, b])

    def test_bytes_args_as_twisted_gives_them(self) -> None:
        a = self.add(self.build, "modules.rpmlint", "FAILED")
        self.add(self.other, "modules.rpmlint", "FAILED")
        args = {b"item": [self.nsvc.encode()], b"outcome": [b"FAILED"]}
        self.assertEqual([r["id"] for r in resultsdb.query(self.registry, args, BASE)["data"]], [a])

    def test_bad_queries(self) -> None:
        cases = {
            "outcome": (
                "ERROR",
                "outcome=ERROR: unknown (use PASSED, INFO, FAILED, NEEDS_INSPECTION)",
            ),
            "limit": ("many", "limit='many' is not a whole number"),
            "page": ("-1", "page=-1: must be 0 or more"),
            "since": ("yesterday", "since='yesterday': 'yesterday' is not ISO 8601"),
            "arch:unlike": ("x", "arch:unlike: unknown modifier 'unlike'"),
        }
        for key, (value, message) in cases.items():
            e = self.assertRaises(
                resultsdb.BadQuery, resultsdb.query, self.registry, {key: [value]}, BASE
            )
            self.assertIn(message, str(e))
            self.assertTrue(str(e).startswith("ResultsDB query: error: "))


class _Server(ThreadingHTTPServer):
    """A local HTTP server that keeps the requests it got and answers ``reply``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.requests: list[dict[str, Any]] = []
        self.reply: tuple[int, Any, float] = (201, {"id": 4242, "outcome": "FAILED"}, 0.0)


class _Recorder(BaseHTTPRequestHandler):
    """Records each request; answers with the server's ``reply`` (status, body, delay)."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        server = self.server
        assert isinstance(server, _Server)
        server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
        )
        status, body, delay = server.reply
        time.sleep(delay)
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Forward(unittest.TestCase):
    def setUp(self) -> None:
        self.server = _Server()
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        registry = new_registry(self, Clock())
        build = create(registry, "nodejs", "20")
        self.result = registry.add_result(
            build,
            "modules.rpmlint",
            "FAILED",
            note="1 package with errors",
            ref_url="https://master.example/log/1",
            data={"arch": "x86_64", "details": [{"item": "a", "outcome": "FAILED"}]},
        )

    def test_posts_one_result(self) -> None:
        answer = resultsdb.forward(self.result, self.url + "/")
        self.assertEqual(answer, {"id": 4242, "outcome": "FAILED"})
        (request,) = self.server.requests
        self.assertEqual(request["path"], "/api/v2.0/results")
        self.assertEqual(request["headers"]["Content-Type"], "application/json")
        self.assertEqual(
            json.loads(request["body"]),
            {
                "testcase": {"name": "modules.rpmlint"},
                "outcome": "FAILED",
                "note": "1 package with errors",
                "ref_url": "https://master.example/log/1",
                "data": {
                    "item": ["nodejs:20:1:c0ffee42"],
                    "type": ["redhat-module"],
                    "arch": ["x86_64"],
                    "details": ['{"item": "a", "outcome": "FAILED"}'],
                },
                "submit_time": "2025-11-25T20:20:37.000000",
            },
        )
        resultsdb.forward(self.result, self.url + "/api/v2.0")
        self.assertEqual(self.server.requests[1]["path"], "/api/v2.0/results")

    def test_refused_by_resultsdb(self) -> None:
        self.server.reply = (400, {"message": "Colon not allowed in key name"}, 0.0)
        e = self.assertRaises(resultsdb.ResultsDBError, resultsdb.forward, self.result, self.url)
        self.assertIn(
            f"cannot send result {self.result.id} (modules.rpmlint of nodejs:20:1:c0ffee42) to "
            f"{self.url}/api/v2.0/results: HTTP 400: Colon not allowed in key name",
            str(e),
        )
        self.assertTrue(str(e).startswith("ResultsDB: error: "))

    def test_no_answer_in_time(self) -> None:
        self.server.reply = (201, {}, 2.0)
        e = self.assertRaises(
            resultsdb.ResultsDBError, resultsdb.forward, self.result, self.url, timeout=0.3
        )
        self.assertIn("no answer within 0.3 s", str(e))

    def test_no_server(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        e = self.assertRaises(
            resultsdb.ResultsDBError, resultsdb.forward, self.result, f"http://127.0.0.1:{port}"
        )
        self.assertIn("ConnectionError", str(e))
        self.assertIn("check the ResultsDB URL", str(e))

    def test_api_url(self) -> None:
        self.assertEqual(resultsdb.api_url("https://r.example"), "https://r.example/api/v2.0")
        self.assertEqual(
            resultsdb.api_url("https://r.example/api/v2.0/"), "https://r.example/api/v2.0"
        )
