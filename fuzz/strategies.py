"""Hypothesis strategies for fuzz/run.py: YAML-ish text, mutated module documents,
gating policies and webhook requests. Seeds: contrib/modules/**/*.yaml and, when present,
the libmodulemd corpus (../shared/corpus/libmodulemd beside the clone, or FUZZ_CORPUS)."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from typing import Any

import yaml
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.environ.get(
    "FUZZ_CORPUS", os.path.join(os.path.dirname(ROOT), "shared", "corpus", "libmodulemd")
)

MODULE_KEYS = [
    "document", "version", "data", "name", "stream", "context", "static_context", "arch",
    "summary", "description", "servicelevels", "eol", "license", "module", "content", "xmd",
    "dependencies", "buildrequires", "requires", "references", "community", "documentation",
    "tracker", "profiles", "rpms", "default", "api", "filter", "demodularized", "buildopts",
    "macros", "whitelist", "arches", "components", "modules", "rationale", "repository",
    "ref", "cache", "buildorder", "buildafter", "buildonly", "multilib", "artifacts",
    "rpm-map", "configurations", "platform", "buildroot", "srpm-buildroot", "profile",
    "intents", "module_name", "modified", "reset", "eol_date", "message", "obsoleted_by",
    "mdversion", "translations", "stream_name", "context", "<<",
]  # fmt: skip
MODULE_VALUES = [
    "modulemd", "modulemd-packager", "modulemd-stream", "modulemd-defaults",
    "modulemd-obsoletes", "modulemd-translations", "1", "2", "3", "0", "-1", "f39", "main",
    "platform", "true", "false", "null", "~", "", "MIT", "x86_64", "noarch", "ctx1",
    "https://example.org/x.git", "file:///etc", "/etc", "ext::sh -c id", "--upload-pack=x",
    "../../etc", "a/../b", "@{-1}", "main..x", "2020-13-45", "1e999", "0x1F", ".inf",
    "9" * 30, "9" * 5000, "²", "٣", "\u0000", "\ud7ff", "\ufeff", "\u202e", "\U0001f600",
]  # fmt: skip
YAML_TOKENS = [
    "\n", "\n", "\n  ", "\n    ", ": ", ":", "- ", "-", "[", "]", "{", "}", ", ", "---\n",
    "...\n", "&a ", "*a", "&b ", "*b", "<<: *a", "? ", "|\n  ", ">-\n  ", "!tag ", "!!str ",
    "!!int ", "!!float ", "!!binary ", "!!timestamp ", "!!set ", "!!omap ", "!!map ",
    "!!seq ", "!!null ", "!!bool ", "!!python/object:os.system ", "!Policy ",
    "!PassingTestCaseRule ", "!RemoteRule ", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", '"',
    "'", "\\", '"\\0"', '"\\ud800"', '"\\x00"', "#", "\t", " ", "  ", "\r\n", "\ufeff",
    "\x85", "\u2028",
]  # fmt: skip
POLICY_KEYS = [
    "id", "product_versions", "decision_context", "decision_contexts", "subject_type",
    "subject_types", "rules", "excluded_packages", "blacklist", "packages", "relevance_key",
    "relevance_value", "type", "test_case_name", "scenario", "valid_since", "valid_until",
    "required", "sources",
]  # fmt: skip
POLICY_VALUES = [
    "fedora-*", "*", "rhel-9", "modules_push_stable", "redhat-module", "koji_build",
    "modules.rpmlint", "x86_64", "PassingTestCaseRule", "RemoteRule", "2020-13-45",
    "2021-01-01", "2021-01-01 25:00:00", "9" * 5000, "0o9", "0b2", "1_000", "1:20:30",
    ".nan", "", " ", "\u0000", "\u202e",
]  # fmt: skip
POLICY_TAGS = [None, None, "!Policy", "!PassingTestCaseRule", "!RemoteRule", "!Unknown"]
RULE_TAGS = [None, "!PassingTestCaseRule", "!PassingTestCaseRule", "!RemoteRule", "!Policy"]


# --------------------------------------------------------------------------- seeds


def _read_yaml_files(root: str) -> list[str]:
    out = []
    for folder, _dirs, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")):
                try:
                    with open(os.path.join(folder, name), encoding="utf-8") as f:
                        text = f.read()
                except (OSError, UnicodeDecodeError):
                    continue
                if len(text) < 200_000:
                    out.append(text)
    return out


@cache
def module_seeds() -> list[str]:
    seeds = _read_yaml_files(os.path.join(ROOT, "contrib", "modules"))
    if os.path.isdir(CORPUS):
        seeds += _read_yaml_files(CORPUS)
    return seeds


@cache
def parsed_module_seeds() -> list[list[Any]]:
    """Each seed as plain data (every scalar a string, as libmodulemd reads them)."""
    out = []
    for text in module_seeds():
        try:
            docs = list(yaml.load_all(text, Loader=yaml.BaseLoader))
        except yaml.YAMLError:
            continue
        if docs:
            out.append(docs)
    return out


POLICY_SEEDS = [
    """\
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
  - !PassingTestCaseRule {test_case_name: modules.install, scenario: x86_64}
  - !RemoteRule {}
--- !Policy
id: "modules_testing"
product_versions: [fedora-*, rhel-9]
decision_contexts: [modules_push_testing, modules_push_stable]
subject_types: [redhat-module]
blacklist: [nodejs]
rules:
  - !PassingTestCaseRule {test_case_name: modules.repoclosure}
""",
    """\
---
id: untagged
product_versions: ["*"]
decision_context: modules_nightly
subject_type: redhat-module
rules:
  - {type: PassingTestCaseRule, test_case_name: dist.rpmdeplint, valid_since: 2021-01-01}
  - type: RemoteRule
    required: true
    sources: [https://example.org/gating.yaml]
""",
    """\
--- !Policy
decision_context: modules_push_stable
rules:
  - !PassingTestCaseRule {test_case_name: modules.mine}
""",
]


# --------------------------------------------------------------------------- values


def scalars(values: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(values),
        st.text(max_size=24),
        st.integers(1, 6000).map(lambda n: "9" * n),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.binary(max_size=8),
    )


def values(keys: list[str], scalar_values: list[str]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(keys), st.text(max_size=12))
    return st.recursive(
        scalars(scalar_values),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key, inner, max_size=4),
        max_leaves=16,
    )


def yamlish(words: list[str]) -> st.SearchStrategy[str]:
    """Token soup: YAML punctuation, indentation, keys and values, and random text."""
    piece = st.one_of(
        st.sampled_from(YAML_TOKENS),
        st.sampled_from(words),
        st.text(max_size=6),
    )
    return st.lists(piece, max_size=80).map("".join)


# --------------------------------------------------------------------------- mutations


def _slots(node: Any, out: list[tuple[Any, Any]], seen: set[int]) -> None:
    """Every (container, key) in ``node``: the places a mutation can change."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, dict):
        for k in list(node):
            out.append((node, k))
            _slots(node[k], out, seen)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _slots(node[i], out, seen)


OPERATIONS = [
    "set", "set", "delete", "add", "rename", "share", "recurse", "wrap", "deepen", "huge",
    "special", "swap", "empty",
]  # fmt: skip
SPECIAL_CHARS = ["\x00", "\x01", "\x7f", "\u0085", "\u2028", "\ufeff", "\u202e", "\U0001f600", "²"]


def mutate(draw: st.DrawFn, docs: list[Any], keys: list[str], scalar_values: list[str]) -> None:
    """One structural mutation of ``docs`` (in place)."""
    slots: list[tuple[Any, Any]] = []
    _slots(docs, slots, set())
    if not slots:
        return
    container, key = draw(st.sampled_from(slots))
    old = container[key]
    op = draw(st.sampled_from(OPERATIONS))
    if op == "set":
        container[key] = draw(values(keys, scalar_values))
    elif op == "delete":
        del container[key]
    elif op == "add":
        if isinstance(old, dict):
            old[draw(st.sampled_from(keys))] = draw(values(keys, scalar_values))
        elif isinstance(old, list):
            old.insert(draw(st.integers(0, len(old))), draw(values(keys, scalar_values)))
        else:
            container[key] = {draw(st.sampled_from(keys)): old}
    elif op == "rename" and isinstance(container, dict):
        new = draw(st.one_of(st.sampled_from(keys), st.text(max_size=10)))
        container[new] = container.pop(key)
    elif op == "share":  # another subtree by reference: dumped as an anchor and an alias
        other, other_key = draw(st.sampled_from(slots))
        container[key] = other[other_key]
    elif op == "recurse":  # a container that holds itself: a recursive alias
        container[key] = container
    elif op == "wrap":
        container[key] = [old] if draw(st.booleans()) else {draw(st.sampled_from(keys)): old}
    elif op == "deepen":
        for _ in range(draw(st.integers(1, 90))):
            old = [old] if draw(st.booleans()) else {"k": old}
        container[key] = old
    elif op == "huge":
        container[key] = draw(st.sampled_from(["9", "1", "-1", "0x1"])) * draw(
            st.integers(20, 6000)
        )
    elif op == "special":
        text = old if isinstance(old, str) else str(old)
        at = draw(st.integers(0, len(text)))
        container[key] = text[:at] + draw(st.sampled_from(SPECIAL_CHARS)) + text[at:]
    elif op == "swap":
        if isinstance(old, dict):
            container[key] = list(old.values())
        elif isinstance(old, list):
            container[key] = {str(i): v for i, v in enumerate(old)}
        else:
            container[key] = [old]
    elif op == "empty":
        container[key] = draw(st.sampled_from([{}, [], "", None]))


class _Tagged(dict[Any, Any]):
    def __init__(self, tag: str | None, items: dict[Any, Any]) -> None:
        super().__init__(items)
        self.tag = tag


class _Dumper(yaml.SafeDumper):
    pass


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged) -> yaml.Node:
    return dumper.represent_mapping(data.tag or "tag:yaml.org,2002:map", dict(data))


_Dumper.add_representer(_Tagged, _represent_tagged)


def dump(draw: st.DrawFn, docs: list[Any], fallback: str) -> str:
    try:
        return yaml.dump_all(
            docs,
            Dumper=_Dumper,
            allow_unicode=draw(st.booleans()),
            default_flow_style=draw(st.sampled_from([False, True, None])),
            sort_keys=False,
            width=draw(st.sampled_from([80, 12, 100_000])),
            explicit_start=draw(st.booleans()),
        )
    except (yaml.YAMLError, RecursionError, ValueError, TypeError):
        return fallback


TEXT_OPERATIONS = [
    "delete-line", "duplicate-line", "swap-lines", "indent", "insert", "insert", "cut",
    "replace-char", "splice", "truncate",
]  # fmt: skip


def mutate_text(draw: st.DrawFn, text: str, others: list[str]) -> str:
    lines = text.splitlines(keepends=True) or [""]
    op = draw(st.sampled_from(TEXT_OPERATIONS))
    i = draw(st.integers(0, len(lines) - 1))
    if op == "delete-line":
        del lines[i]
    elif op == "duplicate-line":
        lines.insert(i, lines[i])
    elif op == "swap-lines":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "indent":
        lines[i] = draw(st.sampled_from([" ", "  ", "\t", "    "])) + lines[i]
    elif op == "splice":
        lines.insert(i, "---\n" + draw(st.sampled_from(others)))
    else:
        text = "".join(lines)
        at = draw(st.integers(0, len(text)))
        if op == "insert":
            piece = draw(st.one_of(st.sampled_from(YAML_TOKENS), st.text(max_size=4)))
            return text[:at] + piece + text[at:]
        if op == "cut":
            return text[:at] + text[at + draw(st.integers(1, 40)) :]
        if op == "replace-char":
            return text[:at] + draw(st.characters()) + text[at + 1 :]
        return text[:at]
    return "".join(lines)


# --------------------------------------------------------------------------- targets

_NAME = st.one_of(st.none(), st.sampled_from(["hello", "main", "a.b", ""]), st.text(max_size=12))


@st.composite
def _mutated_module(draw: st.DrawFn) -> str:
    parsed = parsed_module_seeds()
    seeds = module_seeds()
    index = draw(st.integers(0, len(parsed) - 1))
    docs = copy.deepcopy(parsed[index])
    text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
    mode = draw(st.sampled_from(["structure", "structure", "text", "both"]))
    if mode != "text":
        for _ in range(draw(st.integers(1, 6))):
            mutate(draw, docs, MODULE_KEYS, MODULE_VALUES)
        text = dump(draw, docs, text)
    if mode != "structure":
        for _ in range(draw(st.integers(1, 4))):
            text = mutate_text(draw, text, seeds)
    return text


def loader_text() -> st.SearchStrategy[tuple[str, str | None, str | None]]:
    text = st.one_of(yamlish(MODULE_KEYS + MODULE_VALUES), st.text(max_size=200))
    return st.tuples(text, _NAME, _NAME)


def loader_mutations() -> st.SearchStrategy[tuple[str, str | None, str | None]]:
    return st.tuples(_mutated_module(), _NAME, _NAME)


@st.composite
def _policy_document(draw: st.DrawFn) -> Any:
    val = values(POLICY_KEYS, POLICY_VALUES)
    rule_value = st.builds(
        _Tagged,
        st.sampled_from(RULE_TAGS),
        st.dictionaries(
            st.sampled_from(POLICY_KEYS), st.one_of(st.sampled_from(POLICY_VALUES), val), max_size=4
        ),
    )
    fields: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(POLICY_KEYS[:12]), max_size=9, unique=True)):
        if key == "rules":
            fields[key] = draw(st.one_of(st.lists(rule_value, max_size=4), val))
        elif key.endswith("s"):
            fields[key] = draw(st.one_of(st.lists(st.sampled_from(POLICY_VALUES), max_size=3), val))
        else:
            fields[key] = draw(st.one_of(st.sampled_from(POLICY_VALUES), val))
    return _Tagged(draw(st.sampled_from(POLICY_TAGS)), fields)


@st.composite
def _policy_text(draw: st.DrawFn) -> str:
    mode = draw(st.sampled_from(["generated", "seed", "soup"]))
    if mode == "soup":
        return draw(yamlish(POLICY_KEYS + POLICY_VALUES))
    if mode == "generated":
        docs = draw(st.lists(_policy_document(), min_size=1, max_size=3))
        text = dump(draw, docs, "")
    else:
        text = draw(st.sampled_from(POLICY_SEEDS))
    for _ in range(draw(st.integers(0 if mode == "generated" else 1, 4))):
        text = mutate_text(draw, text, POLICY_SEEDS)
    return text


def gating_inputs() -> st.SearchStrategy[tuple[str, bool]]:
    return st.tuples(_policy_text(), st.booleans())


# Webhook requests: (headers, body). Bodies are JSON-ish (mutated Pagure/Forgejo shapes),
# arbitrary JSON, or arbitrary bytes.
_JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
_HOOK_KEYS = [
    "ref", "before", "after", "repository", "name", "full_name", "clone_url", "html_url",
    "owner", "login", "username", "commits", "id", "message", "timestamp", "pusher", "sender",
    "topic", "msg", "repo", "branch", "rev", "agent", "namespace", "fullname", "project",
    "commit", "oldrev", "newrev", "forkedFrom", "default_branch", "url", "authors", "stats",
    "pull_request", "action", "head", "base", "sha", "label", "user",
]  # fmt: skip
_HOOK_HEADERS = [
    "Content-Type", "X-Forgejo-Event", "X-Gitea-Event", "X-GitHub-Event", "X-Gogs-Event",
    "X-Forgejo-Signature", "X-Gitea-Signature", "X-Hub-Signature-256", "X-Pagure-Topic",
    "X-Pagure-Signature", "X-Pagure-Signature-256", "X-Pagure", "X-Pagure-Project",
    "X-Forgejo-Delivery", "User-Agent", "Authorization",
]  # fmt: skip
_HOOK_HEADER_VALUES = [
    "push", "git.receive", "pull-request.new", "create", "delete", "application/json",
    "application/x-www-form-urlencoded", "sha256=", "sha256=" + "0" * 64, "", "\u0000",
]  # fmt: skip


_SHA = "0123456789abcdef" * 2 + "01234567"
HOOK_SEEDS: list[Any] = [
    {  # Pagure git.receive
        "topic": "git.receive",
        "msg_id": "2024-1a2b",
        "timestamp": 1700000000,
        "i": 1,
        "msg": {
            "repo": {"namespace": "rpms", "name": "foo", "fullname": "rpms/foo"},
            "branch": "main",
            "start_commit": _SHA,
            "end_commit": _SHA,
            "agent": "alice",
            "total_commits": 1,
        },
    },
    {  # Forgejo push
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": _SHA,
        "repository": {"full_name": "modules/hello", "name": "hello", "owner": {"login": "x"}},
        "pusher": {"login": "alice", "username": "alice"},
        "commits": [{"id": _SHA, "message": "m"}],
    },
]
_HOOK_VALUES = ["git.receive", "push", "rpms", "modules", "refs/heads/main", _SHA, "0" * 40, ""]


@st.composite
def _hook_body(draw: st.DrawFn) -> bytes:
    mode = draw(st.sampled_from(["seed", "seed", "shaped", "json", "bytes", "form"]))
    if mode == "seed":
        docs = [copy.deepcopy(draw(st.sampled_from(HOOK_SEEDS)))]
        for _ in range(draw(st.integers(0, 4))):
            mutate(draw, docs, _HOOK_KEYS, _HOOK_VALUES)
        try:
            return json.dumps(docs[0] if docs else None).encode()
        except (ValueError, TypeError, RecursionError):  # a recursive or bytes value
            return b"{}"
    if mode == "bytes":
        return draw(st.binary(max_size=300))
    if mode == "json":
        return json.dumps(draw(_JSON)).encode()
    key = st.one_of(st.sampled_from(_HOOK_KEYS), st.text(max_size=8))
    shaped = st.recursive(
        st.one_of(_JSON, st.sampled_from(["refs/heads/main", "rpms/x", "modules/y", "0" * 40])),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key, inner, max_size=6),
        max_leaves=25,
    )
    data = draw(st.dictionaries(key, shaped, min_size=1, max_size=8))
    text = json.dumps(data)
    if mode == "form":
        from urllib.parse import urlencode

        return urlencode({"payload": text}).encode()
    return text.encode()


def webhook_inputs() -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
    headers = st.dictionaries(
        st.one_of(st.sampled_from(_HOOK_HEADERS), st.text(max_size=10)),
        st.one_of(st.sampled_from(_HOOK_HEADER_VALUES), st.text(max_size=20)),
        max_size=5,
    )
    base = st.sampled_from(
        [
            {},
            {"X-Forgejo-Event": "push", "X-Forgejo-Delivery": "d-1"},
            {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d-2", "X-Pagure-Topic": "git.receive"},
        ]
    )
    both = st.tuples(base, headers).map(lambda pair: {**pair[0], **pair[1]})
    return st.tuples(both, _hook_body())


def warm_up(target: str) -> Any:
    """One ordinary input of ``target``: imports everything before per-example deadlines."""
    if target.startswith("loader"):
        return (module_seeds()[0], None, None)
    if target == "gating":
        return (POLICY_SEEDS[0], False)
    return ({"Content-Type": "application/json"}, b"{}")
