"""The REST API at ``<buildbot url>/module-build-service/1/`` (docs/module-service.md).

A twisted.web resource mounted on Buildbot's web root by :class:`ModuleService` (a
Buildbot service the configurator adds). Every registry or git call runs in a thread;
requests are answered asynchronously (``NOT_DONE_YET``). Errors are JSON as MBS sends
them: ``{"status": 404, "error": "Not Found", "message": "..."}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from buildbot.data import resultspec
from buildbot.util import service
from twisted.internet import defer, task
from twisted.internet import reactor as _reactor
from twisted.python import log
from twisted.web import http, resource, server

from ..core.problems import ModuleError
from ..core.reuse import REBUILD_STRATEGIES
from ..master.auth import (
    accounts_configured,
    check_password,
    may_manage_stream,
    owns,
    roles_of,
)
from ..master.dot import render_svg
from ..master.threads import in_thread
from ..registry import (
    InvalidState,
    ModuleBuildRecord,
    NotFound,
    RegistryError,
    StreamSummary,
)
from .openapi import openapi_document
from .queries import BadRequest, build_json, iso, page_meta, paging, parse_build_query
from .stack import build_stack, built_against, find_build, stack_dot

if TYPE_CHECKING:
    from ..master.site import ModuleSite

reactor: Any = _reactor

__all__ = ["API_PREFIX", "ROUTES", "ModuleService", "ServiceResource"]

MOUNT = b"module-build-service"
API_PREFIX = "module-build-service/1"
FORCE_SCHEDULER = "bbmod-rebuild"
RECORD_WAIT = 20.0  # seconds POST waits for the registry to record the new build
CANCEL_WAIT = 15.0  # seconds PATCH waits for a stopped build to be recorded failed
CANCELLABLE = ("init", "wait", "build")

ROUTES: list[tuple[str, str]] = [
    ("GET", "/module-builds/"),
    ("POST", "/module-builds/"),
    ("GET", "/module-builds/{id}"),
    ("PATCH", "/module-builds/{id}"),
    ("GET", "/module-streams/"),
    ("GET", "/module-streams/{nsv}"),
    ("PATCH", "/module-streams/{nsv}"),
    ("GET", "/stack/{ref}"),
    ("GET", "/stack/{ref}.svg"),
    ("GET", "/openapi.json"),
]
"""Every (method, path template) the API serves, relative to ``/module-build-service/1``."""


class ApiError(Exception):
    """An HTTP error answer."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


def _json(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value, indent=1, sort_keys=False).encode("utf-8"))


@dataclass
class User:
    name: str
    releng: bool
    info: dict[str, Any] | None = None  # the Buildbot session's user info (OIDC groups)


class ServiceResource(resource.Resource):
    """``/module-build-service/``: every path below it is routed here."""

    isLeaf = True

    def __init__(self, owner: ModuleService) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.owner = owner

    # -- plumbing

    @property
    def site(self) -> ModuleSite:
        return self.owner.site

    @property
    def master(self) -> Any:
        return self.owner.master

    @property
    def base(self) -> str:
        return self.site.settings.url + API_PREFIX

    def render(self, request: Any) -> Any:
        d = defer.ensureDeferred(self.respond(request))
        d.addErrback(_log_failure)
        return server.NOT_DONE_YET

    async def respond(self, request: Any) -> None:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _f: gone.append(True))
        try:
            reply = await self.route(request)
        except ApiError as e:
            for key, value in e.headers.items():
                request.setHeader(key.encode(), value.encode())
            reply = _error(e.status, e.message)
        except BadRequest as e:
            reply = _error(e.status, str(e))
        except NotFound as e:
            reply = _error(404, e.message)
        except (InvalidState, RegistryError, ModuleError) as e:
            reply = _error(400, e.message)
        except Exception as e:  # an answer, not a hanging request
            log.err(e, "module service")  # type: ignore[no-untyped-call]
            reply = _error(500, f"internal error: {e}")
        if gone:
            return
        request.setResponseCode(reply.status)
        request.setHeader(b"content-type", f"{reply.content_type}; charset=utf-8".encode())
        request.setHeader(b"cache-control", b"no-store")
        request.write(reply.body)
        request.finish()

    async def route(self, request: Any) -> Reply:
        method = request.method.decode("ascii", "replace").upper()
        parts = [p.decode("utf-8", "replace") for p in request.postpath]
        settings = self.site.settings
        if not settings.anonymous_read and accounts_configured(settings):
            self.user(request)  # reading needs a login too (401 otherwise)
        if not parts or parts[0] != "1":
            raise ApiError(404, "the API is at /module-build-service/1/ (see 1/openapi.json)")
        rest = "/".join(parts[1:])
        args = {
            k.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in values]
            for k, values in (request.args or {}).items()
        }
        collection, _, item = rest.partition("/")
        handlers: dict[tuple[str, str], Callable[[], Awaitable[Reply]]] = {}
        if collection == "module-builds" and not item:
            handlers = {
                ("GET", "/module-builds/"): lambda: self.list_builds(args),
                ("POST", "/module-builds/"): lambda: self.submit(request),
            }
        elif collection == "module-builds":
            handlers = {
                ("GET", "/module-builds/{id}"): lambda: self.get_build(item),
                ("PATCH", "/module-builds/{id}"): lambda: self.patch_build(request, item),
            }
        elif collection == "module-streams" and not item:
            handlers = {("GET", "/module-streams/"): lambda: self.list_streams(args)}
        elif collection == "module-streams":
            handlers = {
                ("GET", "/module-streams/{nsv}"): lambda: self.get_stream(item),
                ("PATCH", "/module-streams/{nsv}"): lambda: self.patch_stream(request, item),
            }
        elif collection == "stack" and item.endswith(".svg"):
            handlers = {("GET", "/stack/{ref}.svg"): lambda: self.stack_svg(item[:-4])}
        elif collection == "stack" and item:
            handlers = {("GET", "/stack/{ref}"): lambda: self.stack(item)}
        elif rest == "openapi.json":
            handlers = {("GET", "/openapi.json"): self.openapi}
        if not handlers:
            raise ApiError(404, f"no such resource: /{API_PREFIX}/{rest}")
        for (allowed, _template), handler in handlers.items():
            if allowed == method:
                return await handler()
        methods = ", ".join(sorted(m for m, _ in handlers))
        raise ApiError(405, f"{method} not allowed here; use {methods}", {"Allow": methods})

    # -- auth

    def user(self, request: Any) -> User:
        """Who asks: HTTP Basic against the local accounts (``users``, the htpasswd
        file), else the Buildbot session; 401 if nobody. A site without accounts has no
        login: everyone may do everything. Roles: :func:`..master.auth.roles_of`."""
        settings = self.site.settings
        if not accounts_configured(settings):
            return User("anonymous", True)
        header = request.getHeader(b"authorization") or b""
        if header.lower().startswith(b"basic "):
            name = request.getUser().decode("utf-8", "replace")
            password = request.getPassword().decode("utf-8", "replace")
            if not check_password(settings, name, password):
                raise ApiError(401, f"wrong user name or password for {name!r}", _challenge())
            return User(name, "releng" in roles_of(settings, name))
        try:
            info = self.master.www.getUserInfos(request) or {}
        except Exception:
            info = {}
        name = info.get("username")
        if not name or info.get("anonymous"):
            raise ApiError(
                401, "log in (Buildbot session) or send HTTP Basic credentials", _challenge()
            )
        return User(str(name), "releng" in roles_of(settings, info), dict(info))

    def owns_stream(self, user: User, name: str, stream: str) -> bool:
        """Blocking: whether ``user`` may manage the stream (an owner, or releng)."""
        who = user.info or user.name
        return may_manage_stream(self.site.settings, who, self.site.registry.owners(name, stream))

    # -- module builds

    async def list_builds(self, args: dict[str, list[str]]) -> Reply:
        query = parse_build_query(args)

        def run() -> dict[str, Any]:
            registry = self.site.registry
            total, records = query.run(registry)
            items = []
            for record in records:
                against = built_against(registry, record) if query.verbose else None
                items.append(
                    build_json(registry, record, verbose=query.verbose, built_against=against)
                )
            meta = page_meta(self.base + "/module-builds/", args, query.page, query.per_page, total)
            return {"items": items, "meta": meta}

        return _json(await in_thread(run))

    def full_build(self, record: ModuleBuildRecord) -> dict[str, Any]:
        registry = self.site.registry
        out = build_json(
            registry, record, verbose=True, built_against=built_against(registry, record)
        )
        out["links"] = {
            "self": f"{self.base}/module-builds/{record.id}",
            "page": f"{self.site.settings.url}modules/build/{record.id}",
            "stack": f"{self.base}/stack/{record.nsvc}",
        }
        return out

    async def get_build(self, ref: str) -> Reply:
        def run() -> dict[str, Any]:
            return self.full_build(find_build(self.site.registry, _build_ref(ref)))

        return _json(await in_thread(run))

    async def submit(self, request: Any) -> Reply:
        user = self.user(request)
        body = _body(request)
        unknown = sorted(
            set(body)
            - {
                "scmurl",
                "branch",
                "rebuild_strategy",
                "scratch",
                "buildrequire_overrides",
                "require_overrides",
            }
        )
        if unknown:
            raise BadRequest("unknown field(s) " + ", ".join(unknown))
        scmurl, branch = body.get("scmurl"), body.get("branch")
        if not isinstance(scmurl, str) or not isinstance(branch, str) or not branch:
            raise BadRequest(
                'give {"scmurl": "file://<dist-git>/modules/<name>?#<commit>", '
                '"branch": "<stream>"}'
            )
        scratch = body.get("scratch", False)
        if not isinstance(scratch, bool):
            raise BadRequest("scratch: true or false")
        strategy = body.get("rebuild_strategy")
        if strategy is not None and strategy not in REBUILD_STRATEGIES:
            raise BadRequest("rebuild_strategy: one of " + ", ".join(REBUILD_STRATEGIES))
        for key in ("buildrequire_overrides", "require_overrides"):
            if body.get(key):
                raise BadRequest(f"{key} are not supported: edit the module's dependencies")
        name, commit = self.check_scmurl(scmurl)

        def check() -> tuple[str, int]:
            distgit = self.site.distgit
            heads = distgit.heads("modules", name)
            if branch not in heads:
                raise BadRequest(f"modules/{name} has no branch {branch!r}")
            try:
                full = distgit.resolve("modules", name, commit)
            except ModuleError as e:
                raise BadRequest(f"commit {commit} not in modules/{name}: {e.message}") from None
            if full != heads[branch]:
                raise BadRequest(
                    f"commit {full[:12]} is not the head of {name} {branch} "
                    f"({heads[branch][:12]}): this service builds a branch head only; push the "
                    "commit to the branch (or submit the head)"
                )
            _, existing = self.site.registry.query_module_builds(
                name=name, stream=branch, limit=None
            )
            for record in existing:
                # A scratch build never conflicts: its context gets a suffix of its own.
                if record.commit == full and record.state != "failed" and not scratch:
                    raise ApiError(
                        409,
                        f"module build {record.nsvc} (id {record.id}, state {record.state}) "
                        f"already exists for {name}:{branch} at {full[:12]}; only a new commit "
                        "or the resubmission of a failed build starts a build",
                    )
            last = max((r.id for r in existing), default=0)
            return full, last

        full, last = await in_thread(check)
        bsid, brids = await self.master.data.control(
            "force",
            {
                "owner": user.name,
                "module": name,
                "stream": branch,
                "reason": f"submitted through the module service by {user.name}",
                "scratch": scratch,
                "rebuild_strategy": strategy or "",
            },
            ("forceschedulers", FORCE_SCHEDULER),
        )
        record = await self.wait_recorded(name, branch, full, last, bsid)
        if record is None:
            placeholder = {
                "id": None,
                "name": name,
                "stream": branch,
                "state": 0,
                "state_name": "init",
                "state_reason": "queued in Buildbot; not recorded yet",
                "owner": user.name,
                "scmurl": scmurl,
                "commit": full,
                "buildbot": {"buildset_id": bsid, "buildrequest_ids": sorted(brids.values())},
            }
            return _json(placeholder, 201)
        answer = await in_thread(self.full_build, record[0])
        answer["siblings"] = [r.id for r in record[1:]]
        answer["buildbot"] = {"buildset_id": bsid, "buildrequest_ids": sorted(brids.values())}
        return _json(answer, 201)

    def check_scmurl(self, scmurl: str) -> tuple[str, str]:
        """``(module name, commit)`` of a ``file://<dist-git>/modules/<name>?#<commit>`` URL
        in this site's dist-git; 403 for any other repository."""
        url = urlparse(scmurl)
        commit = url.fragment
        path = os.path.realpath(unquote(url.path)) if url.scheme == "file" else ""
        modules = os.path.realpath(os.path.join(self.site.distgit_root, "modules"))
        name = os.path.basename(path)
        if name.endswith(".git"):
            name = name[:-4]
        if url.scheme != "file" or url.netloc or os.path.dirname(path) != modules or not name:
            raise ApiError(
                403,
                f"{scmurl!r} is not in the allow-list: only this site's dist-git, "
                f"file://{modules}/<name>, is built",
            )
        if not commit:
            raise BadRequest(f"{scmurl!r} names no commit: end it with ?#<commit>")
        return name, commit

    async def wait_recorded(
        self, name: str, stream: str, commit: str, last: int, bsid: int
    ) -> list[ModuleBuildRecord] | None:
        """The new build's records (one per context) once the registry has them; None
        after :data:`RECORD_WAIT` s (the request is queued); 400 when the Buildbot build
        ended without recording one (e.g. the module file is invalid)."""

        drivers: set[int] = set()  # this buildset's builds: a resubmission's new driver

        def look() -> list[ModuleBuildRecord]:
            _, found = self.site.registry.query_module_builds(
                name=name, stream=stream, order=[("id", False)], limit=None
            )
            return [
                r
                for r in found
                if r.commit == commit and (r.id > last or r.driver_build in drivers)
            ]

        deadline = time.monotonic() + RECORD_WAIT
        while time.monotonic() < deadline:
            requests = await self.master.data.get(
                ("buildrequests",), filters=[resultspec.Filter("buildsetid", "eq", [bsid])]
            )
            for br in requests:
                builds = await self.master.data.get(
                    ("buildrequests", br["buildrequestid"], "builds")
                )
                drivers.update(b["buildid"] for b in builds)
            found = await in_thread(look)
            if found:
                return found
            buildset = await self.master.data.get(("buildsets", bsid))
            if buildset and buildset.get("complete"):
                found = await in_thread(look)
                if found:
                    return found
                raise BadRequest(
                    f"the Buildbot build of {name}:{stream} (buildset {bsid}) ended without "
                    "recording a module build: see its steps in the web UI"
                )
            await task.deferLater(reactor, 0.3, lambda: None)
        return None

    async def patch_build(self, request: Any, ref: str) -> Reply:
        user = self.user(request)
        body = _body(request)
        state = body.get("state")
        if set(body) != {"state"} or str(state).lower() not in ("failed", "4"):
            raise BadRequest('the only change is {"state": "failed"} (cancel the build)')

        def check() -> ModuleBuildRecord:
            record = find_build(self.site.registry, _build_ref(ref))
            allowed = (
                user.releng
                or owns(user.info or user.name, [record.owner])
                or self.owns_stream(user, record.name, record.stream)
            )
            if not allowed:
                raise ApiError(
                    403,
                    f"{user.name} may not cancel {record.nsvc}: only its owner, the stream's "
                    "owners and release engineering may",
                )
            if record.state not in CANCELLABLE:
                raise BadRequest(
                    f"module build {record.id} is {record.state}: only builds in state "
                    + ", ".join(CANCELLABLE)
                    + " can be cancelled"
                )
            return record

        record = await in_thread(check)
        reason = f"cancelled by {user.name} through the module service"
        buildid = await self.buildbot_build(record)
        if buildid is not None:
            await self.master.data.control("stop", {"reason": reason}, ("builds", buildid))
            deadline = time.monotonic() + CANCEL_WAIT
            while time.monotonic() < deadline:
                record = await in_thread(self.site.registry.module_build, record.id)
                if record.state == "failed":
                    break
                await task.deferLater(reactor, 0.3, lambda: None)
        if record.state != "failed":  # no running build, or it did not record it: do so
            with contextlib.suppress(InvalidState):  # it moved on meanwhile: report that
                await in_thread(self.site.registry.set_module_state, record.id, "failed", reason)
        return _json(await in_thread(self.full_build, record))

    async def buildbot_build(self, record: ModuleBuildRecord) -> int | None:
        """The running Buildbot module build of ``record``: the one whose ``nsvcs``
        property names it, else (not resolved yet) the one building its module stream."""
        builds = await self.master.data.get(
            ("builds",), filters=[resultspec.Filter("complete", "eq", [False])]
        )
        fallback = None
        for build in builds:
            props = await self.master.data.get(("builds", build["buildid"], "properties"))
            props = props or {}

            def prop(key: str, p: dict[str, Any] = props) -> Any:
                return p[key][0] if key in p else None

            if prop("component") is not None:
                continue
            if record.nsvc in (prop("nsvcs") or []):
                return int(build["buildid"])
            if prop("module") == record.name and prop("stream") == record.stream:
                fallback = int(build["buildid"])
        return fallback

    # -- module streams

    def stream_json(
        self,
        summary: StreamSummary,
        dependents: dict[tuple[str, str], list[str]],
        detail: bool = False,
    ) -> dict[str, Any]:
        """Blocking: one stream's record."""
        registry = self.site.registry
        key = (summary.name, summary.stream)
        latest_ready = None
        if summary.latest_ready_id is not None:
            latest_ready = build_json(
                registry, registry.module_build(summary.latest_ready_id), verbose=False
            )
        latest = None
        if summary.latest_id is not None:
            newest = registry.module_build(summary.latest_id)
            latest = {"id": newest.id, "nsvc": newest.nsvc, "state_name": newest.state}
        eol = registry.eol(*key)
        explicit = registry.explicit_owners(*key)
        out: dict[str, Any] = {
            "name": summary.name,
            "stream": summary.stream,
            "latest_ready": latest_ready,
            "latest": latest,
            "eol": eol.isoformat() if eol else None,
            "owners": registry.owners(*key),
            "owners_set_by": explicit.set_by if explicit else None,
            "owners_set_at": iso(explicit.set_at) if explicit else None,
            "dependents": dependents.get(key, []),
            "builds": summary.builds,
        }
        if detail:
            eols = [e for e in registry.stream_eols(summary.name) if e.stream == summary.stream]
            out["eol_set_by"] = eols[0].set_by if eols else None
            out["eol_set_at"] = iso(eols[0].set_at) if eols else None
            _, recent = registry.query_module_builds(
                name=summary.name, stream=summary.stream, limit=10
            )
            out["recent_builds"] = [build_json(registry, r, verbose=False) for r in recent]
            head = self.head(summary.name, summary.stream)
            out["scm"] = (
                {
                    "url": f"file://{self.site.distgit.path('modules', summary.name)}",
                    "branch": summary.stream,
                    "head": head,
                    "scmurl": f"file://{self.site.distgit.path('modules', summary.name)}?#{head}",
                }
                if head
                else None
            )
        return out

    def head(self, name: str, stream: str) -> str | None:
        try:
            return self.site.distgit.heads("modules", name).get(stream)
        except (ModuleError, OSError):
            return None

    async def list_streams(self, args: dict[str, list[str]]) -> Reply:
        unknown = sorted(set(args) - {"name", "q", "page", "per_page"})
        if unknown:
            raise BadRequest("unknown query argument(s) " + ", ".join(unknown))
        page, per_page = paging(args)

        def run() -> dict[str, Any]:
            registry = self.site.registry
            total, summaries = registry.stream_summaries(
                name=args["name"][-1] if args.get("name") else None,
                q=args["q"][-1] if args.get("q") else None,
                offset=(page - 1) * per_page,
                limit=per_page,
            )
            dependents = registry.dependents()
            return {
                "items": [self.stream_json(s, dependents) for s in summaries],
                "meta": page_meta(self.base + "/module-streams/", args, page, per_page, total),
            }

        return _json(await in_thread(run))

    def find_stream(self, nsv: str) -> StreamSummary:
        """Blocking: the summary of ``N:S``; 404 when neither the registry nor the
        dist-git knows it."""
        name, _, stream = nsv.partition(":")
        if not name or not stream or ":" in stream:
            raise BadRequest(f"{nsv!r} is not NAME:STREAM")
        _, found = self.site.registry.stream_summaries(name=name, stream=stream)
        if found:
            return found[0]
        if self.head(name, stream):
            return StreamSummary(name, stream, 0, None, None)
        raise ApiError(404, f"no module stream {nsv} in the registry or the dist-git")

    async def get_stream(self, nsv: str) -> Reply:
        def run() -> dict[str, Any]:
            summary = self.find_stream(nsv)
            return self.stream_json(summary, self.site.registry.dependents(), detail=True)

        return _json(await in_thread(run))

    async def patch_stream(self, request: Any, nsv: str) -> Reply:
        user = self.user(request)
        body = _body(request)
        if not body or set(body) - {"eol", "owners"}:
            raise BadRequest('give {"eol": "YYYY-MM-DD" or null} and/or {"owners": [...]}')
        eol: date | None = None
        if "eol" in body and body["eol"] is not None:
            try:
                eol = date.fromisoformat(str(body["eol"]))
            except ValueError:
                raise BadRequest(f"eol: {body['eol']!r} is not YYYY-MM-DD") from None
        owners = body.get("owners")
        if "owners" in body and (
            not isinstance(owners, list) or not all(isinstance(o, str) and o for o in owners)
        ):
            raise BadRequest("owners: a list of user names")

        def run() -> dict[str, Any]:
            summary = self.find_stream(nsv)
            name, stream = summary.name, summary.stream
            if not (user.releng or self.owns_stream(user, name, stream)):
                raise ApiError(
                    403,
                    f"{user.name} may not change {name}:{stream}: only its owners and release "
                    "engineering may",
                )
            registry = self.site.registry
            if "eol" in body:
                registry.set_eol(name, stream, eol, user.name)
            if owners is not None:
                registry.set_owners(name, stream, owners, user.name)
            return self.stream_json(summary, registry.dependents(), detail=True)

        return _json(await in_thread(run))

    # -- stack

    def resolve_stack(self, ref: str) -> Any:
        registry = self.site.registry
        return build_stack(registry, find_build(registry, _build_ref(ref)))

    async def stack(self, ref: str) -> Reply:
        found = await in_thread(self.resolve_stack, ref)
        return _json(found.as_json())

    async def stack_svg(self, ref: str) -> Reply:
        found = await in_thread(self.resolve_stack, ref)
        dot = stack_dot(found, self.site.settings.url + "modules/build/")
        svg = await in_thread(render_svg, dot)
        if svg is None:
            raise ApiError(503, "Graphviz (dot) is not installed on the master")
        return Reply(200, svg.encode("utf-8"), "image/svg+xml")

    async def openapi(self) -> Reply:
        return _json(openapi_document(self.base))


def _log_failure(failure: Any) -> None:
    log.err(failure, "module service request")  # type: ignore[no-untyped-call]


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Basic realm="module-build-service"'}


def _error(status: int, message: str) -> Reply:
    reason = http.RESPONSES.get(status, b"Error").decode("ascii")
    return _json({"status": status, "error": reason, "message": message}, status)


def _build_ref(ref: str) -> str:
    """A build reference from the path: an id or N:S:V:C (N:S for the stack)."""
    return ref.strip().rstrip("/")


def _body(request: Any) -> dict[str, Any]:
    raw = request.content.read() if request.content is not None else b""
    try:
        body = json.loads(raw or b"{}")
    except ValueError as e:
        raise BadRequest(f"the body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


class ModuleService(service.BuildbotService):  # type: ignore[misc]
    """Mounts the API at ``<url>module-build-service/`` on Buildbot's web root when the
    master starts and after every reconfiguration (the resource reads the current site)."""

    name = "bbmod-module-service"

    def checkConfig(self, site: ModuleSite) -> None:
        pass

    def reconfigService(self, site: ModuleSite) -> None:
        self.site = site
        self.mount()

    def mount(self) -> None:
        www = self.master.www
        if www.base_plugin_name not in www.apps:
            log.msg("module service: no buildbot-www plugin; the API is not served")
            return
        root = www.apps.get(www.base_plugin_name).resource
        current = root.children.get(MOUNT)
        if not isinstance(current, ServiceResource) or current.owner is not self:
            root.putChild(MOUNT, ServiceResource(self))
