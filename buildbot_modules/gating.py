"""Gating: Greenwave's policies and decisions, over the registry's results and waivers.

A *policy* file is YAML with one or more documents in Greenwave's format::

    --- !Policy
    id: modules_stable
    product_versions: [fedora-*]          # fnmatch against the build's product version
    decision_context: modules_push_stable # or decision_contexts: [a, b]
    subject_type: redhat-module           # or subject_types: [...]
    rules:
      - !PassingTestCaseRule {test_case_name: modules.rpmlint}
      - !PassingTestCaseRule {test_case_name: modules.install, scenario: x86_64}

Untagged documents are policies too, and a rule may be a plain mapping with
``type: PassingTestCaseRule`` (Greenwave's form without tags). ``!RemoteRule`` is accepted
in a site policy, for compatibility with Greenwave's, and means nothing more here: a
module's ``gating.yaml`` is always read (see :func:`merge`). ``excluded_packages``,
``blacklist``, ``packages``, ``relevance_key``/``relevance_value`` and a rule's
``valid_since``/``valid_until`` are accepted and ignored — ignoring them can only make
gating stricter. Anything else (a typo in a key, an unknown tag or rule type, a missing
``id`` or ``rules``) is a :class:`PolicyError` naming the file and line and what to do.

The site's policies come from :func:`load_policies`; a module's ``gating.yaml`` from its
dist-git repository is parsed with ``module=True`` (then ``id`` is optional and
``product_versions`` and ``subject_type`` default to ``*``, as Greenwave's remote rule
files) and merged with :func:`merge`, which can only **add** requirements.

:func:`decide` answers in the shape of Greenwave's ``POST /api/v1.0/decision``; the build
step calls :func:`decide_build`, which reads the registry and records the decision::

    site = gating.load_policies(settings_policies_path)
    try:
        mine = gating.parse_policies(text_of_gating_yaml, "modules/nodejs@1a2b3c:gating.yaml",
                                     module=True)
        error = None
    except ModuleError as e:       # a broken gating.yaml fails the gate (waivable)
        mine, error = [], e
    decision = gating.decide_build(registry, build_id, gating.merge(site, mine),
                                   "modules_push_stable", module_policy_error=error)
    if decision["policies_satisfied"]: ...promote...

Pure Python: no Twisted, no Buildbot. Greenwave's documentation of the requirement
types: https://github.com/release-engineering/greenwave (docs/decision_requirements.rst).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import yaml

from .core.problems import ModuleError
from .registry.model import DEFAULT_RESULT_TYPE, ResultRecord, WaiverRecord

if TYPE_CHECKING:
    from .registry import ModuleBuildRecord, Registry

__all__ = [
    "INVALID_GATING_YAML",
    "OUTCOMES_PASSED",
    "SUBJECT_TYPE",
    "PassingTestCaseRule",
    "Policy",
    "PolicyError",
    "build_product_version",
    "decide",
    "decide_build",
    "load_policies",
    "merge",
    "parse_policies",
    "product_version",
    "requirements",
]

SUBJECT_TYPE = DEFAULT_RESULT_TYPE
"""Greenwave's subject type of a module build (``redhat-module``); its identifier is the NSVC."""

OUTCOMES_PASSED: frozenset[str] = frozenset({"PASSED", "INFO"})
"""Outcomes that satisfy a :class:`PassingTestCaseRule` (Greenwave's ``OUTCOMES_PASSED``).
Every other outcome (``FAILED``, ``NEEDS_INSPECTION``) fails it unless waived."""

INVALID_GATING_YAML = "invalid-gating-yaml"
"""Requirement type and test case name of a broken module ``gating.yaml``: a waiver for
this test case (and the build's NSVC) lets the build through without the file's rules."""

MAX_POLICY_BYTES = 1024 * 1024
"""Largest policy file read (a policy file is a few kilobytes)."""

_POLICY_KEYS = frozenset(
    {
        "id",
        "product_versions",
        "decision_context",
        "decision_contexts",
        "subject_type",
        "subject_types",
        "rules",
        # Accepted and ignored: each could only exempt builds from rules.
        "excluded_packages",
        "blacklist",
        "packages",
        "relevance_key",
        "relevance_value",
    }
)
_RULE_KEYS = {
    "PassingTestCaseRule": frozenset(
        {"type", "test_case_name", "scenario", "valid_since", "valid_until"}
    ),
    "RemoteRule": frozenset({"type", "required", "sources"}),
}


class PolicyError(ModuleError):
    """A policy file that cannot be used: ``FILE:LINE: error: MESSAGE (HINT)``."""


@dataclass(frozen=True)
class PassingTestCaseRule:
    """Requires the latest result of ``test_case_name`` (with ``scenario``, when given) for
    the subject to be ``PASSED`` or ``INFO``, or a waiver for it."""

    test_case_name: str
    scenario: str | None = None
    source: str = ""
    line: int | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        """``(test_case_name, scenario)``: two rules with the same key require the same."""
        return (self.test_case_name, self.scenario)

    def to_json(self) -> dict[str, Any]:
        """Greenwave's JSON form of the rule."""
        return {
            "rule": "PassingTestCaseRule",
            "test_case_name": self.test_case_name,
            "scenario": self.scenario,
        }


@dataclass(frozen=True)
class Policy:
    """One ``!Policy`` document.

    ``source`` and ``line`` say where it was read; ``from_module`` is true for a module's
    ``gating.yaml`` policy (see :func:`merge`); ``remote_rule`` records a site policy's
    ``!RemoteRule`` (accepted for compatibility; a module's file is always read).
    """

    id: str
    product_versions: tuple[str, ...]
    decision_contexts: tuple[str, ...]
    subject_types: tuple[str, ...]
    rules: tuple[PassingTestCaseRule, ...]
    source: str = ""
    line: int | None = None
    from_module: bool = False
    remote_rule: bool = False

    def applies(
        self, decision_context: str, product_version: str, subject_type: str = SUBJECT_TYPE
    ) -> bool:
        """Whether the policy is about this decision context, product version and subject
        type (product versions and subject types are fnmatch patterns, ``*`` = any)."""
        return (
            decision_context in self.decision_contexts
            and any(fnmatchcase(product_version, p) for p in self.product_versions)
            and any(fnmatchcase(subject_type, t) for t in self.subject_types)
        )

    @property
    def where(self) -> str:
        """``SOURCE:LINE`` (or ``SOURCE``), for messages and the requirements' ``source``."""
        return f"{self.source}:{self.line}" if self.line is not None else self.source


# --------------------------------------------------------------------------- reading


class _Mapping(dict[Any, Any]):
    """A YAML mapping as read, with its tag (``!Policy`` …, or ``None``) and lines."""

    def __init__(self, tag: str | None, line: int) -> None:
        super().__init__()
        self.tag = tag
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _PolicyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that knows ``!Policy``, ``!PassingTestCaseRule`` and
    ``!RemoteRule``, keeps the line of every mapping and key, and refuses other tags and
    duplicate keys."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # PyYAML's own scalar constructors fail with plain Python errors on values they
        # matched but cannot build (found by fuzz/): `!!bool x` (KeyError), `!!int ""`
        # (IndexError), `!!int x`, a date 2020-13-45 or an integer of more than 4300
        # digits (ValueError), `!!timestamp x` (AttributeError). Each is the file's
        # mistake: say so, with its line.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, LookupError, AttributeError, TypeError, OverflowError) as e:
            value = node.value if isinstance(node, yaml.ScalarNode) else ""
            shown = value if len(value) <= 40 else value[:40] + "…"
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise PolicyError(
                f"invalid {tag} value {shown!r}: {str(e)[:80]}",
                line=_line(node),
                hint="quote the value to keep it a string",
            ) from None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.Node) -> _Mapping:
    tag = node.tag if node.tag.startswith("!") else None
    if not isinstance(node, yaml.MappingNode):
        what = "a policy" if tag == "!Policy" else f"a {tag}" if tag else "this"
        raise PolicyError(
            f"{what} must be a mapping",
            line=_line(node),
            hint="write key: value pairs, e.g. !PassingTestCaseRule {test_case_name: NAME}",
        )
    loader.flatten_mapping(node)
    data = _Mapping(tag, _line(node))
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise PolicyError(f"key {key!r} is not a string", line=_line(key_node))
        if key in data:
            raise PolicyError(
                f"{key} is given twice (first on line {data.key_lines[key]})",
                line=_line(key_node),
                hint="keep one; YAML would silently drop the first",
            )
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = _line(key_node)
    return data


def _unknown_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    tag = node.tag
    rules = ", ".join(f"!{name}" for name in _RULE_KEYS)
    raise PolicyError(
        f"unknown tag {tag}",
        line=_line(node),
        hint=f"documents are !Policy; rules are {rules} (PassingTestCaseRule requires a "
        "passing result)",
    )


_PolicyLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
for _tag in ("!Policy", *(f"!{name}" for name in _RULE_KEYS)):
    _PolicyLoader.add_constructor(_tag, _construct_mapping)
_PolicyLoader.add_multi_constructor("!", _unknown_tag)
_PolicyLoader.add_multi_constructor("tag:", _unknown_tag)


def load_policies(path: str, *, module: bool = False) -> list[Policy]:
    """Policies of a YAML file, or of every ``*.yaml``/``*.yml`` file of a folder (sorted).

    ``module=True`` reads a module's ``gating.yaml`` (see :func:`parse_policies`).
    Raises :class:`PolicyError` (a :class:`ModuleError`) naming file and line.
    """
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith((".yaml", ".yml")))
        policies: list[Policy] = []
        for name in names:
            policies.extend(load_policies(os.path.join(path, name), module=module))
        return policies
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        raise PolicyError(
            "no such policy file", source=path, hint="check the gating policy path"
        ) from None
    except OSError as e:
        raise PolicyError(f"cannot read: {e.strerror}", source=path) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise _too_large(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyError(
            f"not valid UTF-8 (byte {e.start})",
            source=path,
            line=raw[: e.start].count(b"\n") + 1,
            hint="save as UTF-8",
        ) from None
    return parse_policies(text, path, module=module)


def parse_policies(text: str, source: str, *, module: bool = False) -> list[Policy]:
    """The policies in ``text`` (read from ``source``, which messages name).

    Site policies (``module=False``) need ``id``, ``product_versions``, a decision
    context, a subject type and ``rules``. A module's ``gating.yaml`` (``module=True``)
    may leave out ``id`` (then ``SOURCE#N``), ``product_versions`` and the subject type
    (both ``*``), as Greenwave's remote rule files do, and may not use ``!RemoteRule``.
    Empty documents are skipped. Raises :class:`PolicyError` naming ``source`` and the
    line, with what to do.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_POLICY_BYTES:
        raise _too_large(source)
    try:
        documents = list(yaml.load_all(text, Loader=_PolicyLoader))
    except PolicyError as e:
        e.source = source
        raise
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise PolicyError(
            f"invalid YAML: {e.problem or e}",
            source=source,
            line=mark.line + 1 if mark is not None else None,
            hint="fix the YAML syntax",
        ) from None
    except yaml.YAMLError as e:
        raise PolicyError(f"invalid YAML: {e}", source=source, hint="fix the YAML syntax") from None
    except RecursionError:
        raise PolicyError(
            "YAML nested too deeply; refused",
            source=source,
            hint="a policy needs three levels",
        ) from None
    policies: list[Policy] = []
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        try:
            policies.append(_policy(document, number, source, module))
        except PolicyError as e:
            e.source = source
            raise
    return policies


def _too_large(source: str) -> PolicyError:
    return PolicyError(
        f"larger than {MAX_POLICY_BYTES // 1024} KiB; refused",
        source=source,
        hint="a policy file is a few kilobytes",
    )


def _policy(doc: Any, number: int, source: str, module: bool) -> Policy:
    if not isinstance(doc, _Mapping):
        raise PolicyError(
            f"document {number} is not a policy (a mapping)",
            hint="start each policy with --- !Policy and give id, product_versions, "
            "decision_context, subject_type and rules",
        )
    if doc.tag not in (None, "!Policy"):
        raise PolicyError(
            f"document {number} is a {doc.tag}, not a !Policy",
            line=doc.line,
            hint="rules go in a policy's rules list",
        )
    label = f"policy {doc['id']!r}" if isinstance(doc.get("id"), str) else f"policy {number}"
    unknown = sorted(k for k in doc if k not in _POLICY_KEYS)
    if unknown:
        raise PolicyError(
            f"{label}: unknown key {unknown[0]}",
            line=doc.line_of(unknown[0]),
            hint="policy keys are " + ", ".join(sorted(_POLICY_KEYS)),
        )
    if "id" in doc:
        policy_id = _string(doc, "id", label)
    elif module:
        policy_id = f"{source}#{number}"
    else:
        raise PolicyError(
            f"{label} has no id",
            line=doc.line,
            hint="give every site policy a unique id",
        )
    default = ("*",) if module else None
    product_versions = _strings(doc, ("product_versions",), label, default)
    contexts = _strings(doc, ("decision_context", "decision_contexts"), label, None)
    subject_types = _strings(doc, ("subject_type", "subject_types"), label, default)
    if "rules" not in doc:
        raise PolicyError(
            f"{label} has no rules",
            line=doc.line,
            hint="give rules: [!PassingTestCaseRule {test_case_name: NAME}, …] "
            "(rules: [] requires nothing)",
        )
    rules_value = doc["rules"]
    if not isinstance(rules_value, list):
        raise PolicyError(
            f"{label}: rules must be a list",
            line=doc.line_of("rules"),
            hint="write each rule on its own line: - !PassingTestCaseRule {test_case_name: NAME}",
        )
    rules: list[PassingTestCaseRule] = []
    remote = False
    for rule_value in rules_value:
        kind, rule = _rule(rule_value, label, doc.line_of("rules"), source, module)
        if rule is not None:
            rules.append(rule)
        remote = remote or kind == "RemoteRule"
    return Policy(
        id=policy_id,
        product_versions=product_versions,
        decision_contexts=contexts,
        subject_types=subject_types,
        rules=tuple(rules),
        source=source,
        line=doc.line,
        from_module=module,
        remote_rule=remote,
    )


def _string(doc: _Mapping, key: str, label: str) -> str:
    value = doc[key]
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(
            f"{label}: {key} must be a non-empty string, not {value!r}", line=doc.line_of(key)
        )
    return value.strip()


def _strings(
    doc: _Mapping, keys: tuple[str, ...], label: str, default: tuple[str, ...] | None
) -> tuple[str, ...]:
    """The value of ``keys[0]`` (one string) or ``keys[-1]`` (a list of strings)."""
    given = [k for k in keys if k in doc]
    if len(given) > 1:
        raise PolicyError(
            f"{label}: both {keys[0]} and {keys[1]} are given",
            line=doc.line_of(given[1]),
            hint=f"keep one: {keys[0]}: VALUE or {keys[1]}: [VALUES]",
        )
    if not given:
        if default is not None:
            return default
        ask = f"{keys[0]} or {keys[1]}" if len(keys) > 1 else keys[0]
        raise PolicyError(f"{label} has no {ask}", line=doc.line, hint=f"give {ask}")
    key = given[0]
    value = doc[key]
    if len(keys) > 1 and key == keys[0]:
        return (_string(doc, key, label),)
    if not isinstance(value, list) or not value:
        raise PolicyError(
            f"{label}: {key} must be a non-empty list", line=doc.line_of(key), hint=f"{key}: [A, B]"
        )
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise PolicyError(
                f"{label}: {key} has {item!r}, not a non-empty string", line=doc.line_of(key)
            )
        out.append(item.strip())
    return tuple(out)


def _rule(
    value: Any, label: str, line: int, source: str, module: bool
) -> tuple[str, PassingTestCaseRule | None]:
    if not isinstance(value, _Mapping):
        raise PolicyError(
            f"{label}: rule {value!r} is not a rule",
            line=line,
            hint="write - !PassingTestCaseRule {test_case_name: NAME}",
        )
    if value.tag is not None:
        kind = value.tag[1:]
    else:
        kind_value = value.get("type")
        if not isinstance(kind_value, str):
            raise PolicyError(
                f"{label}: a rule without a tag needs a type",
                line=value.line,
                hint="tag it (!PassingTestCaseRule {...}) or give type: PassingTestCaseRule",
            )
        kind = kind_value
    if kind not in _RULE_KEYS:
        raise PolicyError(
            f"{label}: unknown rule type {kind}",
            line=value.line,
            hint="rule types are " + ", ".join(_RULE_KEYS),
        )
    unknown = sorted(k for k in value if k not in _RULE_KEYS[kind])
    if unknown:
        raise PolicyError(
            f"{label}: {kind} has unknown key {unknown[0]}",
            line=value.line_of(unknown[0]),
            hint=f"{kind} keys are " + ", ".join(sorted(_RULE_KEYS[kind] - {"type"})),
        )
    if kind == "RemoteRule":
        if module:
            raise PolicyError(
                f"{label}: RemoteRule is not allowed in a module's gating.yaml",
                line=value.line,
                hint="list the module's own rules instead",
            )
        return kind, None
    if "test_case_name" not in value:
        raise PolicyError(
            f"{label}: PassingTestCaseRule without test_case_name",
            line=value.line,
            hint="give the ResultsDB test case name, e.g. {test_case_name: modules.rpmlint}",
        )
    name = _string(value, "test_case_name", label)
    scenario = _string(value, "scenario", label) if value.get("scenario") is not None else None
    return kind, PassingTestCaseRule(name, scenario, source, value.line)


# --------------------------------------------------------------------------- merging


def merge(site_policies: Sequence[Policy], module_policies: Sequence[Policy]) -> list[Policy]:
    """The site's policies plus a module's ``gating.yaml`` policies: requirements only add.

    A decision needs every applicable policy satisfied (:func:`decide`), so a module
    policy's rules are *added* to the site's for its decision contexts: the module can
    require more tests, never fewer. It cannot remove or weaken a site rule — site
    policies are returned unchanged, the module's file cannot exclude packages (those
    keys are ignored), cannot use ``!RemoteRule``, and a rule it repeats requires the
    same thing once. A module policy for a decision context the site has no policy for
    still applies. Module policies come last, marked ``from_module``.
    """
    merged = list(site_policies)
    merged.extend(p if p.from_module else replace(p, from_module=True) for p in module_policies)
    return merged


def requirements(
    policies: Iterable[Policy],
    decision_context: str,
    product_version: str,
    subject_type: str = SUBJECT_TYPE,
) -> list[tuple[Policy, PassingTestCaseRule]]:
    """The rules that apply, each ``(test case, scenario)`` once (its first policy kept),
    in policy order: what :func:`decide` checks."""
    seen: set[tuple[str, str | None]] = set()
    out: list[tuple[Policy, PassingTestCaseRule]] = []
    for policy in policies:
        if not policy.applies(decision_context, product_version, subject_type):
            continue
        for rule in policy.rules:
            if rule.key not in seen:
                seen.add(rule.key)
                out.append((policy, rule))
    return out


# --------------------------------------------------------------------------- deciding

_PRODUCT_VERSIONS = (
    (re.compile(r"^f(\d+)$"), "fedora-{0}"),
    (re.compile(r"^(?:f?rawhide)$"), "fedora-rawhide"),
    (re.compile(r"^eln$"), "fedora-eln"),
    (re.compile(r"^el(\d+)(?:\.\d+)*$"), "rhel-{0}"),
)


def product_version(platform_stream: str) -> str:
    """The product version of a platform stream: ``f39`` → ``fedora-39``, ``el9`` (or
    ``el9.2``) → ``rhel-9``, ``eln`` → ``fedora-eln``; any other stream as it is."""
    for pattern, template in _PRODUCT_VERSIONS:
        match = pattern.match(platform_stream)
        if match:
            return template.format(*match.groups())
    return platform_stream


def build_product_version(build: ModuleBuildRecord) -> str:
    """The product version of a module build, from the platform stream it buildrequires."""
    platform = build.buildrequires.get("platform")
    if not platform:
        raise PolicyError(
            f"module build {build.id} ({build.nsvc}) buildrequires no platform stream",
            source="gating",
            hint="its product version (e.g. fedora-39) comes from the platform stream",
        )
    return product_version(platform)


@dataclass
class _Answer:
    satisfied: bool
    json: dict[str, Any]
    summary_text: str = ""  # for unsatisfied ones: Greenwave's words
    is_test_result: bool = True


def decide(
    policies: Iterable[Policy],
    decision_context: str,
    product_version: str,
    subject_item: str,
    results: Iterable[ResultRecord],
    waivers: Iterable[WaiverRecord],
    *,
    subject_type: str = SUBJECT_TYPE,
    module_policy_error: ModuleError | None = None,
) -> dict[str, Any]:
    """Greenwave's decision about ``subject_item`` (an NSVC) at ``decision_context``.

    ``policies`` are the site's (merged with the module's, :func:`merge`); ``results``
    and ``waivers`` those of the registry (others' items are ignored). For each rule of
    the applicable policies (:func:`requirements`) the latest result of its test case
    (and scenario) counts: ``PASSED``/``INFO`` satisfy it (``test-result-passed``),
    ``FAILED``/``NEEDS_INSPECTION`` do not (``test-result-failed``), and no result is
    ``test-result-missing``. An unsatisfied rule is satisfied by the effective waiver of
    its test case — the newest for ``(item, testcase)``, when its ``waived`` is true — as
    ``test-result-failed-waived`` / ``test-result-missing-waived``. A
    ``module_policy_error`` (a module's broken ``gating.yaml``) adds an unsatisfied
    ``invalid-gating-yaml`` requirement, removed by a waiver of that test case.

    Returns ``{"policies_satisfied": bool, "summary": str, "applicable_policies": [ids],
    "satisfied_requirements": [...], "unsatisfied_requirements": [...]}`` with
    requirements as Greenwave's: ``type``, ``testcase``, ``subject_type``,
    ``subject_identifier``, ``result_id`` (when a result exists), ``scenario``,
    ``source`` (the policy's file:line), plus ``outcome`` of the result counted and
    ``waiver_id`` for waived ones. No applicable policy: satisfied, "No tests are
    required" (Greenwave answers 404 there; a module without policies is not gated).
    """
    policies = list(policies)
    applicable = [p for p in policies if p.applies(decision_context, product_version, subject_type)]
    mine = [r for r in results if r.item == subject_item and r.type == subject_type]
    effective = _effective_waivers(w for w in waivers if w.item == subject_item)
    subject: dict[str, Any] = {"subject_type": subject_type, "subject_identifier": subject_item}
    item: dict[str, Any] = {"type": subject_type, "item": subject_item}

    answers: list[_Answer] = []
    for policy, rule in requirements(applicable, decision_context, product_version, subject_type):
        base: dict[str, Any] = {"testcase": rule.test_case_name, **subject}
        requirement: dict[str, Any]
        latest = _latest(mine, rule)
        if latest is None:
            requirement = {
                "type": "test-result-missing",
                **base,
                "scenario": rule.scenario,
                "source": policy.where,
                "item": item,
            }
            answer = _Answer(False, requirement, "result{s} missing")
        else:
            requirement = {
                **base,
                "source": policy.where,
                "result_id": latest.id,
                "outcome": latest.outcome,
                "scenario": rule.scenario if rule.scenario is not None else latest.scenario,
            }
            if latest.outcome in OUTCOMES_PASSED:
                answer = _Answer(True, {"type": "test-result-passed", **requirement})
            else:
                requirement = {"type": "test-result-failed", **requirement, "item": item}
                answer = _Answer(False, requirement, "test{s} failed")
        answers.append(_waive(answer, effective.get(rule.test_case_name)))

    if module_policy_error is not None:
        waiver = effective.get(INVALID_GATING_YAML)
        if waiver is None or not waiver.waived:  # a waiver drops it, as in Greenwave
            details = str(module_policy_error)
            answers.append(
                _Answer(
                    False,
                    {
                        "type": INVALID_GATING_YAML,
                        "testcase": INVALID_GATING_YAML,
                        **subject,
                        "scenario": None,
                        "source": module_policy_error.source,
                        "details": details,
                    },
                    "error{s} due to invalid remote rule file",
                    is_test_result=False,
                )
            )

    return {
        "policies_satisfied": all(a.satisfied for a in answers),
        "summary": _summary(answers),
        "applicable_policies": list(dict.fromkeys(p.id for p in applicable)),
        "satisfied_requirements": [a.json for a in answers if a.satisfied],
        "unsatisfied_requirements": [a.json for a in answers if not a.satisfied],
    }


def decide_build(
    registry: Registry,
    build_id: int,
    policies: Iterable[Policy],
    decision_context: str,
    *,
    record: bool = True,
    module_policy_error: ModuleError | None = None,
) -> dict[str, Any]:
    """:func:`decide` for a registry's module build, from its results and waivers.

    The product version comes from the build's platform stream
    (:func:`build_product_version`), the item is its NSVC. With ``record`` the decision
    is kept (:meth:`Registry.record_decision`) under ``decision_context``. Blocking
    (database): call it from a thread in the Buildbot layer.
    """
    build = registry.module_build(build_id)
    decision = decide(
        policies,
        decision_context,
        build_product_version(build),
        build.nsvc,
        registry.results(item=build.nsvc),
        registry.waivers(item=build.nsvc),
        module_policy_error=module_policy_error,
    )
    if record:
        registry.record_decision(build_id, decision_context, decision)
    return decision


def _effective_waivers(waivers: Iterable[WaiverRecord]) -> dict[str, WaiverRecord]:
    """Test case → its newest waiver (by time, then id)."""
    newest: dict[str, WaiverRecord] = {}
    for waiver in waivers:
        known = newest.get(waiver.testcase)
        if known is None or (waiver.timestamp, waiver.id) > (known.timestamp, known.id):
            newest[waiver.testcase] = waiver
    return newest


def _latest(results: Sequence[ResultRecord], rule: PassingTestCaseRule) -> ResultRecord | None:
    found: ResultRecord | None = None
    for result in results:
        if result.testcase != rule.test_case_name:
            continue
        if rule.scenario is not None and not _has_scenario(result, rule.scenario):
            continue
        if found is None or (result.submitted_at, result.id) > (found.submitted_at, found.id):
            found = result
    return found


def _has_scenario(result: ResultRecord, scenario: str) -> bool:
    value = result.data.get("scenario")
    if isinstance(value, list):
        return scenario in value
    return value == scenario


def _waive(answer: _Answer, waiver: WaiverRecord | None) -> _Answer:
    if answer.satisfied or waiver is None or not waiver.waived:
        return answer
    requirement = {k: v for k, v in answer.json.items() if k != "item"}
    requirement["type"] += "-waived"
    requirement["waiver_id"] = waiver.id
    return _Answer(True, requirement)


def _summary(answers: Sequence[_Answer]) -> str:
    """Greenwave's one-line summary (``_Summary.to_text``), word for word."""
    test_msgs: dict[str, int] = {}
    other_msgs: dict[str, int] = {}
    test_count = 0
    for answer in answers:
        if not answer.satisfied:
            msgs = test_msgs if answer.is_test_result else other_msgs
            msgs[answer.summary_text] = msgs.get(answer.summary_text, 0) + 1
        if answer.is_test_result:
            test_count += 1

    def words(text: str, number: int) -> str:
        return text.format(num=number, s="" if number == 1 else "s")

    text = ", ".join(words(f"{{num}} {m}", n) for m, n in sorted(other_msgs.items()))
    if test_msgs:
        tests = words("Of {num} required test{s}, ", test_count) + ", ".join(
            words(f"{{num}} {m}", n) for m, n in sorted(test_msgs.items())
        )
        text = f"{text}. {tests}" if text else tests
    if text:
        return text
    if test_count:
        return f"All required tests ({test_count} total) have passed or been waived"
    return "No tests are required"
