"""What must hold for every fuzzed input (fuzz/run.py): the entry point returns, or raises
the project's own error (ModuleError; PolicyError is one) — no other exception."""

from __future__ import annotations

import importlib.util
import json
import os

from buildbot_modules.core.documents import load_text
from buildbot_modules.core.lint import lint_text
from buildbot_modules.core.module import modules_of
from buildbot_modules.core.problems import ModuleError, Problem
from buildbot_modules.gating import Policy, parse_policies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check_loader(value: tuple[str, str | None, str | None]) -> None:
    text, name, stream = value
    # `bbmod lint` and the pipeline's "load and validate" step.
    try:
        problems = lint_text(text, "fuzz.yaml", name, stream)
    except ModuleError as e:
        str(e)
    else:
        assert isinstance(problems, list), problems
        for p in problems:
            assert isinstance(p, Problem), p
            assert p.line is None or p.line >= 1, p
            p.format()
    # The loader the rest of the system uses: documents -> ModuleStream.
    try:
        modules = modules_of(load_text(text, "fuzz.yaml", name, stream))
    except ModuleError as e:
        str(e)
    else:
        for m in modules:
            assert isinstance(m.name, str) and isinstance(m.stream, str), m
            for c in m.components.values():
                assert isinstance(c.buildorder, int), c


def check_gating(value: tuple[str, bool]) -> None:
    text, module = value
    try:
        policies = parse_policies(text, "fuzz-gating.yaml", module=module)
    except ModuleError as e:  # PolicyError is a ModuleError
        str(e)
        return
    for p in policies:
        assert isinstance(p, Policy), p
        assert p.id and p.decision_contexts and p.product_versions and p.subject_types, p
        p.applies("modules_push_stable", "fedora-39")


# --------------------------------------------------------------------------- webhooks

HOOKS = os.path.join(ROOT, "buildbot_modules", "master", "hooks.py")


def webhooks_missing() -> str | None:
    if not os.path.exists(HOOKS):
        return "buildbot_modules/master/hooks.py does not exist (yet)"
    if importlib.util.find_spec("buildbot_modules.master.hooks") is None:
        return "buildbot_modules.master.hooks cannot be imported"
    return None


class _Request:
    """What the dialects' ``parse`` reads of a Twisted request: its headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = {k.lower().encode("latin-1", "replace"): v for k, v in headers.items()}

    def getHeader(self, name: bytes) -> bytes | None:
        value = self.headers.get(name.lower())
        return value.encode("utf-8", "surrogatepass") if value is not None else None


def check_webhook(value: tuple[dict[str, str], bytes]) -> None:
    """The pure part of a delivery (hooks.WebhookHandler._handle before recording):
    signature check, JSON, then each dialect's parse. A delivery may be refused (4xx,
    Refused) or ignored (Ignored), or give a Push of strings — nothing else."""
    from buildbot_modules.master import hooks

    headers, body = value
    request = _Request(headers)
    for sent in (headers.get("X-Pagure-Signature-256"), hooks.signature("k", body)):
        assert hooks._signature_ok("k", body, sent) in (True, False)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return  # the handler answers 400
    if not isinstance(payload, dict):
        return  # 400 too
    for handler in (hooks.PagureHook, hooks.ForgejoHook):
        try:
            push = handler(None, {"source": "fuzz"}).parse(request, payload)
        except (hooks.Refused, hooks.Ignored) as e:
            if isinstance(e, hooks.Refused):
                assert 400 <= e.code < 600 and isinstance(e.message, str), e
            str(e)
            continue
        assert isinstance(push, hooks.Push), push
        for field in (push.namespace, push.repo, push.branch, push.rev, push.delivery):
            assert isinstance(field, str), push
        assert push.pushed_by is None or isinstance(push.pushed_by, str), push
        str(push)


__all__ = ["check_gating", "check_loader", "check_webhook", "webhooks_missing"]
