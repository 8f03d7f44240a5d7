"""Push webhooks (issue #8): Pagure's ``git.receive`` and Forgejo's (or Gitea's) ``push``.

Each configured source (``Settings.webhooks``) is a Buildbot change-hook dialect with a
custom class, served at ``<url>change_hook/<source>``. A request is checked in this
order, and answered as Buildbot's change hook answers (202 and a line of text) unless
refused:

1. the body is at most ``MAX_BODY`` bytes (else 400);
2. its HMAC-SHA256 signature over the raw body, hex in ``X-Pagure-Signature-256`` or
   ``X-Forgejo-Signature`` (``X-Gitea-Signature``), matches the source's secret, compared
   in constant time (else 403: nothing of the body is looked at);
3. it is a JSON object of the event's shape (else 400, naming the field);
4. it is a push to a branch of a repository in one of the source's namespaces
   (``modules``, ``rpms``), not a fork, a tag or a deleted branch (else 202 "ignored",
   with a line in the master's log).

A push passing all four becomes the change the dist-git poller makes (``changes.py``):
project = repository name, branch, category ``module``/``rpm``, revision = the new head,
repository = the local dist-git path, author and comments from the commit, and the
pushing account as the change property ``pushed_by``. The commit must be on that branch
of the local dist-git already (a forge serving the dist-git, or mirroring into it before
its hooks run); otherwise the push is ignored and the poller builds it once it arrives.

Each push is built once, whoever sees it first. The record is the dist-git poller's
``heads`` state in the master's database (the same record the message bus consumer
keeps, ``bus.py``), read and updated under one lock that the poller's polls also take:
a commit that is, or is an ancestor of, the recorded head of its branch is a duplicate.
Besides, every delivery handled is remembered (its id in the source's own state, the
last ``KEEP_DELIVERIES``): a replayed delivery is answered "ignored: replay". Pagure's
id (``msg_id``) is inside the signed body; Forgejo's (``X-Forgejo-Delivery``) is a header
the signature does not cover, so a replay under a fresh id passes that check, and it is
the heads record that makes it a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar

from twisted.internet import defer
from twisted.python import log

from ..core.problems import ModuleError
from .changes import NAMESPACES
from .threads import in_thread

MAX_BODY = 1024 * 1024  # bytes; pushes are a few KiB, Forgejo's with many commits more
KEEP_DELIVERIES = 500  # delivery ids remembered per source
POLLER_NAME = "bbmod-distgit"
POLLER_CLASS = "DistGitPoller"  # the poller's state object: (name, class name)
DIALECTS = ("pagure", "forgejo")
SOURCE_NAME = re.compile(r"[A-Za-z0-9_]+\Z")  # what Buildbot's /change_hook/<dialect> takes
_HEX = re.compile(r"[0-9a-fA-F]{64}\Z")
_COMMIT = re.compile(r"[0-9a-f]{40}\Z|[0-9a-f]{64}\Z")  # SHA-1 or SHA-256 object ids
_ZERO = re.compile(r"0+\Z")


class Refused(Exception):
    """The request is answered with ``code`` and ``message``; nothing is created."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Ignored(Exception):
    """A valid request that asks for no build (202, logged)."""


@dataclass(frozen=True)
class Push:
    """One push to a branch, as a webhook describes it."""

    namespace: str
    repo: str
    branch: str
    rev: str
    pushed_by: str | None
    delivery: str  # the id replays are recognised by

    def __str__(self) -> str:
        return f"{self.namespace}/{self.repo} {self.branch} {self.rev[:8]}"


# Secrets.


def read_secrets(path: str) -> dict[str, str]:
    """The keys in a secret file: ``{"rpms/foo": key}`` for a line ``rpms/foo KEY``
    (Pagure's per-project web-hook keys), ``{"*": key}`` for a line ``* KEY`` or a line
    that is only a key (every other repository). Blank lines and ``#`` comments are
    skipped. Raises OSError or ValueError."""
    keys: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            words = line.split(None, 1)
            if len(words) == 2 and (words[0] == "*" or "/" in words[0]):
                keys[words[0]] = words[1]
            else:
                keys["*"] = line
    if not keys:
        raise ValueError(f"{path}: no key in the file")
    return keys


def signature(key: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``key``, as Pagure and Forgejo send it."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _signature_ok(key: str, body: bytes, sent: str | None) -> bool:
    if sent is None or not _HEX.match(sent):
        return False
    return hmac.compare_digest(signature(key, body), sent.lower())


# Payloads: (type-checked) field access.


def _field(obj: Any, path: str, kind: type | tuple[type, ...] = str) -> Any:
    """``obj[a][b]…`` for ``path`` "a.b…", checked to be ``kind``; else a 400."""
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise Refused(400, f"payload: {path} is missing")
        value = value[part]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise Refused(400, f"payload: {path} must be {names}")
    return value


def _commit(obj: Any, path: str) -> str:
    value: str = _field(obj, path)
    if not _COMMIT.match(value):
        raise Refused(400, f"payload: {path} must be a full commit id (hex)")
    return value


def _name(value: str, what: str) -> str:
    """A repository or namespace name as the payload gives it, for log lines only."""
    return value if re.fullmatch(r"[\w.+-]{1,100}", value) else f"<invalid {what}>"


def parse_pagure(body: dict[str, Any], topic: str | None) -> Push:
    """A Pagure ``git.receive`` web-hook body (``pagure.lib.tasks_services``):
    ``{"topic", "msg": {"repo": {...}, "branch", "start_commit", "end_commit",
    "agent", ...}, "msg_id", "timestamp", "i"}``."""
    body_topic = body.get("topic", topic)
    if body_topic != "git.receive":
        raise Ignored(f"topic {body_topic!r} is not git.receive")
    namespace = _field(body, "msg.repo.namespace", (str, type(None))) or ""
    name: str = _field(body, "msg.repo.name")
    fullname: str = _field(body, "msg.repo.fullname")
    branch: str = _field(body, "msg.branch")
    rev = _commit(body, "msg.end_commit")
    agent = _field(body, "msg.agent", (str, type(None)))
    msg_id = body.get("msg_id")
    if msg_id is not None and not isinstance(msg_id, str):
        raise Refused(400, "payload: msg_id must be str")
    if fullname != f"{namespace}/{name}":  # forks are "forks/<user>/<namespace>/<name>"
        raise Ignored(f"{_name(fullname, 'repository')} is a fork or outside the namespaces")
    delivery = f"pagure:{msg_id}" if msg_id else f"pagure:{fullname}:{branch}:{rev}"
    return Push(namespace, name, branch, rev, agent or None, delivery)


def parse_forgejo(body: dict[str, Any], event: str | None, delivery: str | None) -> Push:
    """A Forgejo/Gitea ``push`` body: ``{"ref": "refs/heads/main", "before", "after",
    "repository": {"full_name": "rpms/foo", "name", "owner": {...}}, "pusher": {"login"},
    "commits": [...], ...}``."""
    if event != "push":
        raise Ignored(f"event {event!r} is not push")
    ref: str = _field(body, "ref")
    after: str = _field(body, "after")
    full_name: str = _field(body, "repository.full_name")
    name: str = _field(body, "repository.name")
    pusher = body.get("pusher")
    login = None
    if isinstance(pusher, dict):
        login = pusher.get("login") or pusher.get("username")
    if not isinstance(login, str | None):
        raise Refused(400, "payload: pusher.login must be str")
    if not ref.startswith("refs/heads/"):
        raise Ignored(f"{ref[:100]!r} is not a branch")
    if _ZERO.match(after):
        raise Ignored(f"{ref[:100]!r} was deleted")
    rev = _commit(body, "after")
    owner, _, repo = full_name.partition("/")
    if repo != name:
        raise Refused(400, "payload: repository.full_name is not <owner>/<name>")
    return Push(
        owner, name, ref.removeprefix("refs/heads/"), rev, login or None, f"forgejo:{delivery}"
    )


# Recording pushes as changes.


class _DbState:
    """An object's state in the master's database (``buildbot.util.state.StateMixin``'s
    record, by name and class name) without the object: the poller's ``heads`` when the
    poller does not run, a webhook source's delivery ids."""

    def __init__(self, master: Any, name: str, class_name: str) -> None:
        self.master = master
        self.name = name
        self.class_name = class_name

    async def getState(self, key: str, default: Any) -> Any:
        db = self.master.db.state
        objectid = await db.getObjectId(self.name, self.class_name)
        return await db.getState(objectid, key, default)

    async def setState(self, key: str, value: Any) -> None:
        db = self.master.db.state
        objectid = await db.getObjectId(self.name, self.class_name)
        await db.setState(objectid, key, value)


_LOCKS: weakref.WeakKeyDictionary[Any, defer.DeferredLock] = weakref.WeakKeyDictionary()


def heads_record(master: Any, poller_name: str = POLLER_NAME) -> tuple[Any, defer.DeferredLock]:
    """The record of pushes turned into changes (an object with ``getState``/``setState``)
    and the lock that guards it. With the poller running, that is the poller and the lock
    its polls take (the attribute the bus consumer uses too, so all three share it)."""
    poller = None
    with contextlib.suppress(KeyError):
        poller = master.change_svc.getServiceNamed(poller_name)
    if poller is None:
        lock = _LOCKS.get(master)
        if lock is None:
            lock = _LOCKS[master] = defer.DeferredLock()
        return _DbState(master, poller_name, POLLER_CLASS), lock
    existing: defer.DeferredLock | None = getattr(poller, "_bbmod_heads_lock", None)
    if existing is not None:
        return poller, existing
    new = defer.DeferredLock()
    poll = poller.poll

    def locked_poll() -> defer.Deferred[Any]:
        return new.run(poll)

    poller.poll = locked_poll
    poller._bbmod_heads_lock = new
    return poller, new


def _reaches(distgit: Any, ns: str, repo: str, tip: str, commit: str) -> bool:
    """Whether ``commit`` is ``tip`` or one of its ancestors (blocking)."""
    if tip == commit:
        return True
    try:
        return not distgit.new_commits(ns, repo, tip, commit)
    except ModuleError:
        return False  # an unknown commit (e.g. a tip force-pushed away)


def _on_branch(distgit: Any, push: Push) -> str | None:
    """Why ``push`` cannot be built from the local dist-git, or None (blocking)."""
    try:
        heads = distgit.heads(push.namespace, push.repo)
    except ModuleError:
        return "no such repository"
    if push.branch not in heads:
        return "no such branch"
    if not _reaches(distgit, push.namespace, push.repo, heads[push.branch], push.rev):
        return "commit not on the branch"
    return None


def _describe(distgit: Any, push: Push, old: str | None) -> tuple[bool, Any, list[str]]:
    """(duplicate?, commit info, changed files) against the recorded head ``old``."""
    ns, repo = push.namespace, push.repo
    if old is not None and _reaches(distgit, ns, repo, old, push.rev):
        return True, None, []  # this commit, or a later one, was turned into a change
    since = old if old is not None and _reaches(distgit, ns, repo, push.rev, old) else None
    info = distgit.commit_info(ns, repo, push.rev)
    return False, info, distgit.changed_files(ns, repo, since, push.rev)


async def record_push(master: Any, site: Any, push: Push, poller_name: str = POLLER_NAME) -> str:
    """Turn ``push`` into the poller's kind of change unless it is unknown to the local
    dist-git or was already turned into one; returns ``change N``, ``duplicate`` or
    ``unknown: …``."""
    distgit = site.distgit
    why = await in_thread(_on_branch, distgit, push)
    if why is not None:
        return f"unknown: {why}"
    record, lock = heads_record(master, poller_name)
    await lock.acquire()
    try:
        seen: dict[str, dict[str, str]] = await record.getState("heads", {})
        key = f"{push.namespace}/{push.repo}"
        old = seen.get(key, {}).get(push.branch)
        duplicate, info, files = await in_thread(_describe, distgit, push, old)
        if duplicate:
            return "duplicate"
        changeid = await master.data.updates.addChange(
            author=info.author,
            committer=info.author,
            revision=push.rev,
            files=files,
            comments=info.message,
            when_timestamp=info.timestamp,
            branch=push.branch,
            category=NAMESPACES[push.namespace],
            project=push.repo,
            repository=distgit.path(push.namespace, push.repo),
            codebase="",
            src="bbmod-distgit",
            properties={"pushed_by": push.pushed_by} if push.pushed_by else {},
        )
        seen.setdefault(key, {})[push.branch] = push.rev
        await record.setState("heads", seen)
        return f"change {changeid}"
    finally:
        lock.release()


# The change-hook dialect.


class _Submitted(list[dict[str, Any]]):
    """What ``getChanges`` returns for a change it already added itself (under the heads
    lock): Buildbot's change hook iterates it to add changes (there is none left to add)
    and answers "N change found" with its length."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.submitted = count

    def __len__(self) -> int:
        return self.submitted

    def __bool__(self) -> bool:
        return self.submitted > 0


def _header(request: Any, name: bytes) -> str | None:
    value = request.getHeader(name)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


class WebhookHandler:
    """One webhook source: a Buildbot change-hook dialect (``custom_class``). Buildbot
    keeps one per dialect across reconfigurations, so each request reads the source's
    current options from the master's configuration."""

    dialect: ClassVar[str] = ""
    signature_headers: ClassVar[tuple[bytes, ...]] = ()
    signature_name: ClassVar[str] = ""  # for messages

    def __init__(self, master: Any, options: dict[str, Any]) -> None:
        self.master = master
        self.options = options

    def current_options(self) -> dict[str, Any]:
        dialects = self.master.config.www.get("change_hook_dialects") or {}
        options: dict[str, Any] = dialects.get(self.options["source"], self.options)
        return options

    def getChanges(self, request: Any) -> defer.Deferred[tuple[list[dict[str, Any]], str]]:
        return defer.Deferred.fromCoroutine(self._get_changes(request))

    async def _get_changes(self, request: Any) -> tuple[list[dict[str, Any]], str]:
        options = self.current_options()
        try:
            count = await self._handle(request, options)
        except Refused as e:
            # Buildbot's change hook answers 202 (400 for a ValueError, the message as the
            # reason phrase); ours goes out with the first write, before it sets its own.
            log.msg(f"bbmod webhook {options['source']}: refused ({e.code}): {e.message}")
            request.setResponseCode(e.code)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.write(f"{e.message}\n".encode())
            return [], "bbmod-distgit"
        return _Submitted(count), "bbmod-distgit"

    async def _handle(self, request: Any, options: dict[str, Any]) -> int:
        source = options["source"]
        body = self._read_body(request)
        key, project = self._key(request, options)
        sent = next(
            (v for v in (_header(request, h) for h in self.signature_headers) if v is not None),
            None,
        )
        if not _signature_ok(key, body, sent):
            raise Refused(403, f"missing or wrong {self.signature_name}")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise Refused(400, f"the body is not JSON: {str(e)[:200]}") from None
        if not isinstance(payload, dict):
            raise Refused(400, "the body is not a JSON object")
        try:
            push = self.parse(request, payload)
            if project is not None and project != f"{push.namespace}/{push.repo}":
                # A project's own key signs only that project's pushes.
                raise Refused(403, "the body names another repository than X-Pagure-Project")
            namespaces = [n.strip() for n in options.get("namespaces", "").split(",")]
            if push.namespace not in namespaces or push.namespace not in NAMESPACES:
                raise Ignored(f"namespace {_name(push.namespace, 'namespace')!r} is not built")
        except Ignored as e:
            log.msg(f"bbmod webhook {source}: ignored: {e}")
            request.setResponseCode(202)  # Buildbot's, which our first write fixes
            request.write(f"ignored: {e}\n".encode())
            return 0
        outcome = await self._record(options, push)
        log.msg(f"bbmod webhook {source}: push {push} by {push.pushed_by}: {outcome}")
        request.setResponseCode(202)
        request.write(f"{outcome}: {push}\n".encode())
        return 1 if outcome.startswith("change") else 0

    def _read_body(self, request: Any) -> bytes:
        length = _header(request, b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            raise Refused(400, f"the body is larger than {MAX_BODY} bytes")
        request.content.seek(0)
        body: bytes = request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise Refused(400, f"the body is larger than {MAX_BODY} bytes")
        return body

    def _key(self, request: Any, options: dict[str, Any]) -> tuple[str, str | None]:
        """The key to check the signature with, and the project it is reserved to (a
        line ``rpms/foo KEY`` of the secret file, chosen by Pagure's X-Pagure-Project)."""
        try:
            keys = read_secrets(options["secret_file"])
        except (OSError, ValueError) as e:
            log.msg(f"bbmod webhook {options['source']}: cannot read its secret: {e}")
            raise Refused(500, "the webhook secret is not available") from None
        project = _header(request, b"x-pagure-project")
        if project is not None and project != "*" and project in keys:
            return keys[project], project
        if "*" not in keys:
            raise Refused(403, f"missing or wrong {self.signature_name}")  # no key for it
        return keys["*"], None

    def parse(self, request: Any, payload: dict[str, Any]) -> Push:
        raise NotImplementedError

    async def _record(self, options: dict[str, Any], push: Push) -> str:
        """The push under the replay check: each delivery is handled once."""
        poller = options.get("poller", POLLER_NAME)
        deliveries = _DbState(self.master, f"bbmod-webhook-{options['source']}", "WebhookHandler")
        _heads, lock = heads_record(self.master, poller)
        await lock.acquire()  # also serialises the delivery list's read-modify-write
        try:
            seen: list[str] = await deliveries.getState("deliveries", [])
            if push.delivery in seen:
                return "ignored: replay"
            kept = seen[-(KEEP_DELIVERIES - 1) :]
            await deliveries.setState("deliveries", [*kept, push.delivery])
        finally:
            lock.release()
        try:
            return await record_push(self.master, options["site"], push, poller)
        except Exception as e:  # a delivery never stops the master; the forge may retry
            log.err(e, f"bbmod webhook {options['source']}: push {push}")  # type: ignore[no-untyped-call]
            await lock.acquire()
            try:  # not handled after all: a redelivery is welcome
                seen = await deliveries.getState("deliveries", [])
                await deliveries.setState("deliveries", [d for d in seen if d != push.delivery])
            finally:
                lock.release()
            raise Refused(500, "the push could not be recorded (see the master's log)") from None


class PagureHook(WebhookHandler):
    dialect = "pagure"
    signature_headers = (b"x-pagure-signature-256",)
    signature_name = "X-Pagure-Signature-256"

    def parse(self, request: Any, payload: dict[str, Any]) -> Push:
        return parse_pagure(payload, _header(request, b"x-pagure-topic"))


class ForgejoHook(WebhookHandler):
    dialect = "forgejo"
    signature_headers = (b"x-forgejo-signature", b"x-gitea-signature")
    signature_name = "X-Forgejo-Signature (or X-Gitea-Signature)"

    def parse(self, request: Any, payload: dict[str, Any]) -> Push:
        event = _header(request, b"x-forgejo-event") or _header(request, b"x-gitea-event")
        delivery = _header(request, b"x-forgejo-delivery") or _header(request, b"x-gitea-delivery")
        if not delivery or len(delivery) > 100:
            raise Refused(400, "X-Forgejo-Delivery (or X-Gitea-Delivery) is missing")
        return parse_forgejo(payload, event, delivery)


HANDLERS: dict[str, type[WebhookHandler]] = {"pagure": PagureHook, "forgejo": ForgejoHook}


def change_hook_dialects(site: Any, settings: Any) -> dict[str, dict[str, Any]]:
    """``c['www']['change_hook_dialects']`` for ``settings.webhooks``: one dialect per
    source, served at ``<url>change_hook/<source>``."""
    out: dict[str, dict[str, Any]] = {}
    for source, conf in sorted(settings.webhooks.items()):
        out[source] = {
            "custom_class": HANDLERS[conf["dialect"]],
            "source": source,
            "site": site,
            "secret_file": settings.path(conf["secret_file"]),
            "namespaces": conf.get("namespaces", ",".join(NAMESPACES)),
            "poller": POLLER_NAME,
        }
    return out


def check_webhooks(webhooks: dict[str, Any], path: Any) -> None:
    """ValueError naming the key for a wrong ``webhooks`` setting; ``path`` makes the
    secret file's path absolute."""
    if not isinstance(webhooks, dict):
        raise ValueError("webhooks: a table of sources")
    for source, conf in webhooks.items():
        where = f"webhooks.{source}"
        if not SOURCE_NAME.match(source) or source == "base":
            raise ValueError(f"{where}: a source name is letters, digits and '_' (in its URL)")
        if not isinstance(conf, dict) or not all(isinstance(v, str) for v in conf.values()):
            raise ValueError(f"{where}: a table of strings (dialect, secret_file, namespaces)")
        unknown = sorted(set(conf) - {"dialect", "secret_file", "namespaces"})
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}")
        if conf.get("dialect") not in DIALECTS:
            raise ValueError(f"{where}.dialect: one of {', '.join(DIALECTS)}")
        if not conf.get("secret_file"):
            raise ValueError(f"{where}.secret_file: the file holding the webhook secret")
        secret_file = path(conf["secret_file"])
        if not os.path.isfile(secret_file):
            raise ValueError(f"{where}.secret_file: {secret_file} is not a file")
        namespaces = [n.strip() for n in conf.get("namespaces", "modules,rpms").split(",")]
        wrong = [n for n in namespaces if n not in NAMESPACES]
        if wrong or not namespaces:
            raise ValueError(f"{where}.namespaces: a comma-separated subset of modules,rpms")
