"""An in-process Koji hub (and builder) for the tests: koji-hub and kojid cannot be
installed here, so the Koji backend's tests talk to this one instead.

It speaks koji's own XML-RPC (``koji.xmlrpcplus`` marshalling, ``i8`` integers, ``None``,
faults with koji's fault codes so that ``koji.ClientSession`` raises the same exception
classes as against a real hub), authenticates sessions the way koji 1.36's client sends
them (``Koji-Session-*`` headers, or the older ``session-id``/``session-key``/``callnum``
query string), and checks permissions and arguments the way the real hub's code does
(``kojihub/kojihub.py``, ``auth.py``): a call with wrong arguments is a
``ParameterError``, a write without the permission an ``ActionNotAllowed``, a missing
tag a ``GenericError``.

The builder plays kojid: a ``build`` task clones the commit named by the SCM URL, runs
``rpmbuild -bs`` and ``rpmbuild --rebuild`` with the build tag's ``rpm.macro.*`` extra
as macros, and imports the RPMs under ``topdir/packages/<n>/<v>/<r>/<arch>/``; a
``newRepo`` task runs ``createrepo_c`` over the tag's (inherited, latest) builds under
``topdir/repos/<tag>/<id>/<arch>/``. ``topdir`` is served over the same HTTP server
(``topdir_url``), like a site's ``kojifiles``.

What it implements, checks and leaves out is in docs/koji.md ("The in-process hub used
by the tests"). It is a test fake: learning from koji's hub, not a copy of it.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import inspect
import json
import os
import platform
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import warnings
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import koji
from koji.xmlrpcplus import ExtendedMarshaller, Fault, dumps, getparser

KOJI_VERSION = "1.36.1"

# Permissions a real hub creates in its schema (schema.sql), in its order. Any other
# ('build', 'regen-repo', …) exists only once an admin creates it (`koji
# grant-permission --new`; here: FakeKojiHub.add_permission).
KNOWN_PERMS = (
    "admin",
    "appliance",
    "dist-repo",
    "host",
    "image",
    "image-import",
    "livecd",
    "maven-import",
    "repo",
    "sign",
    "tag",
    "target",
    "win-admin",
    "win-import",
    "draft-promoter",
)

# The btypes a default hub knows. 'module' is not one of them: MBS-style sites add it
# (`koji call addBType module`; here: FakeKojiHub.add_btype).
KNOWN_BTYPES = ("rpm", "maven", "win", "image")

# Calls a session may repeat with the same callnum (auth.py's RetryWhitelist).
RETRY_WHITELIST = (
    "host.taskWait",
    "host.taskUnwait",
    "host.taskSetWait",
    "host.updateHost",
    "host.setBuildRootState",
    "repoExpire",
    "repoDelete",
    "repoProblem",
)

# Methods that never change anything: the calls log notes them like any other, but they
# do not need a session.
TASK_STATES = koji.TASK_STATES
BUILD_STATES = koji.BUILD_STATES
REPO_STATES = koji.REPO_STATES

HOST_ARCH = platform.machine()


class _Marshaller(ExtendedMarshaller):
    """The real hub's marshaller: like koji's client one, datetimes as ISO strings."""

    dispatch = ExtendedMarshaller.dispatch.copy()


def _ts_str(ts: float | None) -> str | None:
    """A timestamp as the hub's database renders it (``YYYY-MM-DD HH:MM:SS.ffffff+00:00``)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}+00:00"


@dataclass
class User:
    id: int
    name: str
    password: str | None
    perms: set[str]
    krb_principals: list[str]
    cert_cn: str | None = None

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": koji.USER_STATUS["NORMAL"],
            "usertype": koji.USERTYPES["NORMAL"],
            "krb_principals": list(self.krb_principals),
        }


@dataclass
class Session:
    id: int
    key: str
    user: User
    authtype: int
    callnum: int | None = None
    closed: bool = False


@dataclass
class Task:
    id: int
    method: str
    request: list[Any]
    owner: int
    label: str | None = None
    parent: int | None = None
    priority: int = koji.PRIO_DEFAULT
    channel_id: int = 1
    arch: str = "noarch"
    state: int = TASK_STATES["FREE"]
    host_id: int | None = None
    create_ts: float = field(default_factory=time.time)
    start_ts: float | None = None
    completion_ts: float | None = None
    result: Any = None
    fault: Fault | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def info(self, request: bool) -> dict[str, Any]:
        out = {
            "id": self.id,
            "method": self.method,
            "state": self.state,
            "owner": self.owner,
            "parent": self.parent,
            "label": self.label,
            "priority": self.priority,
            "channel_id": self.channel_id,
            "arch": self.arch,
            "host_id": self.host_id,
            "create_time": _ts_str(self.create_ts),
            "create_ts": self.create_ts,
            "start_time": _ts_str(self.start_ts),
            "start_ts": self.start_ts,
            "completion_time": _ts_str(self.completion_ts),
            "completion_ts": self.completion_ts,
            "waiting": None,
            "awaited": None,
            "weight": 1.0,
        }
        if request:
            out["request"] = self.request
        return out

    @property
    def finished(self) -> bool:
        return self.state in (TASK_STATES["CLOSED"], TASK_STATES["CANCELED"], TASK_STATES["FAILED"])


class _Ctx:
    """What one call knows: its session (or none) and how it came (for sslLogin)."""

    def __init__(self, session: Session | None, peer_cn: str | None, via_ssl: bool) -> None:
        self.session = session
        self.peer_cn = peer_cn
        self.via_ssl = via_ssl

    @property
    def user(self) -> User | None:
        return self.session.user if self.session else None

    def has_perm(self, name: str) -> bool:
        return self.user is not None and name in self.user.perms

    def assert_perm(self, name: str) -> None:
        """auth.py's assertPerm: the permission or admin, with the same message."""
        if self.has_perm(name) or self.has_perm("admin"):
            return
        msg = f"{name} permission required"
        msg += f" (logged in as {self.user.name})" if self.user else " (user not logged in)"
        raise koji.ActionNotAllowed(msg)

    def assert_login(self) -> User:
        if self.user is None:
            raise koji.ActionNotAllowed("you must be logged in for this operation")
        return self.user


@dataclass
class TlsFiles:
    """The hub's certificate and key, and the CA its clients' certificates must chain
    to (for ``sslLogin``; the user is the certificate's CN, as the hub's default
    ``DNUsernameComponent``)."""

    cert: str
    key: str
    ca: str


class FakeKojiHub:
    """A Koji hub and one builder host in this process (see the module docstring)."""

    def __init__(
        self,
        topdir: str | os.PathLike[str],
        *,
        build_delay: float = 0.0,
        repo_delay: float = 0.0,
        tls: TlsFiles | None = None,
        allow_new_repo: bool = True,
        content_generators: tuple[str, ...] = (),
    ) -> None:
        # callnum of the call being handled, per thread: stored in its session only if
        # the call changed something (auth.py stores it after the call's commit).
        self._pending_callnum = threading.local()
        self.topdir = Path(topdir)
        self.topdir.mkdir(parents=True, exist_ok=True)
        self.build_delay = build_delay
        self.repo_delay = repo_delay
        self.tls = tls
        # hub.conf's AllowNewRepo: on by default (koji 1.35+, checked on a real hub); a
        # site may turn it off in favour of kojira's on-demand repos (repo.request).
        self.allow_new_repo = allow_new_repo
        # The build_from_scm policy: who may build from an SCM URL. A real hub's default
        # policy is "has_perm admin :: allow"; sites widen it (e.g. to a builder user).
        self.build_from_scm_perms: tuple[str, ...] = ("admin",)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any], str | None]] = []
        # Koji's postTaskStateChange callbacks (what protonmsg / koji-fedoramessaging
        # plugins hook): called with {attribute: "state", old, new (state names), info}
        # after a task changes state, in the thread that changed it.
        self.task_callbacks: list[Callable[[dict[str, Any]], None]] = []
        self.url = ""
        self.topdir_url = ""
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self._event = 0
        self._events: dict[int, float] = {}
        self._new_event()
        self._users: dict[str, User] = {}
        self._sessions: dict[int, Session] = {}
        self._tags: dict[int, dict[str, Any]] = {}
        self._tag_deleted: set[int] = set()
        self._inheritance: dict[int, list[dict[str, Any]]] = {}
        self._targets: dict[int, dict[str, Any]] = {}
        self._packages: dict[str, int] = {}
        self._pkglist: dict[int, dict[int, dict[str, Any]]] = {}
        self._groups: dict[int, dict[str, dict[str, Any]]] = {}
        self._group_ids: dict[str, int] = {}
        self._builds: dict[int, dict[str, Any]] = {}
        self._rpms: dict[int, dict[str, Any]] = {}
        self._tag_listing: list[dict[str, Any]] = []
        self._tasks: dict[int, Task] = {}
        self._repos: dict[int, dict[str, Any]] = {}
        self._reservations: dict[int, str] = {}
        self._repo_queue: dict[int, dict[str, Any]] = {}
        self._cgs: dict[str, dict[str, Any]] = {}
        self._archives: list[dict[str, Any]] = []
        self.perms: list[str] = list(KNOWN_PERMS)
        self.btypes: list[str] = list(KNOWN_BTYPES)
        # editTag2 keywords the real hub silently ignores (a typo there does nothing):
        # recorded so that tests can assert there were none.
        self.ignored_kwargs: list[tuple[str, str]] = []
        for cg in content_generators:
            self.add_content_generator(cg)
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._api = _Api(self)

    # -- the test side ------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        password: str | None = None,
        perms: tuple[str, ...] | list[str] = (),
        krb_principal: str | None = None,
        cert_cn: str | None = None,
    ) -> dict[str, Any]:
        """A user (``koji add-user`` + ``grant-permission``); ``cert_cn`` defaults to the
        name, as a hub maps a client certificate's CN to the user of that name."""
        for perm in perms:
            if perm not in self.perms:
                raise ValueError(
                    f"add_user: unknown permission {perm!r} (known: {self.perms}; others"
                    " need add_permission first, as a real hub needs grant-permission --new)"
                )
        with self._lock:
            if name in self._users:
                raise ValueError(f"add_user: user {name!r} exists")
            user = User(
                id=self._next_id("user"),
                name=name,
                password=password,
                perms=set(perms),
                krb_principals=[krb_principal] if krb_principal else [],
                cert_cn=cert_cn or name,
            )
            self._users[name] = user
            self._new_event()
            return user.info()

    def add_permission(self, perm: str) -> None:
        """A permission the schema lacks (``koji grant-permission --new``), e.g. the
        ``build`` of a site's build_from_scm policy, or ``regen-repo``."""
        with self._lock:
            if perm not in self.perms:
                self.perms.append(perm)

    def add_btype(self, name: str) -> None:
        """``koji call addBType NAME`` (MBS-style sites add ``module``)."""
        with self._lock:
            if name not in self.btypes:
                self.btypes.append(name)

    def grant_permission(self, name: str, perm: str) -> None:
        if perm not in self.perms:
            raise ValueError(f"grant_permission: unknown permission {perm!r}")
        with self._lock:
            self._users[name].perms.add(perm)
            self._new_event()

    def add_content_generator(self, name: str, users: tuple[str, ...] = ()) -> None:
        """``koji grant-cg-access USER NAME --new``: the CG, and who may import with it."""
        with self._lock:
            cg = self._cgs.setdefault(name, {"id": self._next_id("cg"), "users": set()})
            cg["users"].update(users)

    def grant_cg_access(self, user: str, cg: str) -> None:
        self.add_content_generator(cg, (user,))

    def start(self) -> str:
        """Serve on 127.0.0.1 (a free port); the hub URL ``http(s)://…/kojihub``."""
        hub = self
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(hub))
        server.daemon_threads = True
        scheme = "http"
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls.cert, self.tls.key)
            ctx.load_verify_locations(self.tls.ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
            scheme = "https"
        self._server = server
        port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, name="fake-koji-hub", daemon=True)
        thread.start()
        self.url = f"{scheme}://127.0.0.1:{port}/kojihub"
        self.topdir_url = f"{scheme}://127.0.0.1:{port}/kojifiles"
        return self.url

    def stop(self) -> None:
        """Stop serving; running tasks are cancelled and their threads joined."""
        self._stopping.set()
        with self._lock:
            for task in self._tasks.values():
                task.cancelled.set()
        for thread in list(self._threads):
            thread.join(timeout=30)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until every task has finished (for tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(t.finished for t in self._tasks.values()):
                    return
            time.sleep(0.02)
        raise TimeoutError("fake koji hub: tasks still running")

    def calls_of(self, method: str) -> list[tuple[tuple[Any, ...], dict[str, Any], str | None]]:
        """The calls log of one method: (args, kwargs, user) each."""
        return [(a, k, u) for m, a, k, u in list(self.calls) if m == method]

    # -- internals shared by the API ----------------------------------------------------

    def _next_id(self, kind: str) -> int:
        with self._lock:
            self._ids[kind] = self._ids.get(kind, 0) + 1
            return self._ids[kind]

    def _mark_write(self) -> None:
        """This call changed something: its callnum is stored (see session_for)."""
        self._pending_callnum.wrote = True

    def _new_event(self) -> int:
        """A write of versioned data (tags, inheritance, package lists, groups, tag
        listings, builds) is an event; tasks, repo states and build states are not."""
        self._mark_write()
        with self._lock:
            self._event += 1
            self._events[self._event] = time.time()
            return self._event

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def dispatch(self, method: str, params: tuple[Any, ...], ctx: _Ctx) -> Any:
        """One call: decode named arguments, check them against the method's signature
        (a mismatch is a ParameterError, as koji.util.call_with_argcheck makes it)."""
        args, kwargs = koji.decode_args(*params)
        user = ctx.user.name if ctx.user else None
        self.calls.append((method, tuple(args), dict(kwargs), user))
        if method in ("multiCall", "system.multicall"):
            return self._multicall(args, kwargs, ctx)
        func = getattr(self._api, method.replace(".", "_"), None)
        if method.startswith("_") or func is None or not callable(func):
            raise koji.GenericError(f"Invalid method: {method}")
        try:
            inspect.signature(func).bind(ctx, *args, **kwargs)
        except TypeError as exc:
            raise koji.ParameterError(f"{method}(): {exc}") from None
        return func(ctx, *args, **kwargs)

    def _multicall(self, args: tuple[Any, ...], kwargs: dict[str, Any], ctx: _Ctx) -> Any:
        if kwargs or len(args) != 1 or not isinstance(args[0], list):
            raise koji.ParameterError("multiCall(): takes one list of calls")
        results: list[Any] = []
        for call in args[0]:
            try:
                if not isinstance(call, dict) or "methodName" not in call:
                    raise koji.GenericError(f"multiCall: invalid call {call!r}")
                results.append([self.dispatch(call["methodName"], call.get("params", ()), ctx)])
            except Fault as fault:
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
            except Exception as exc:
                code = getattr(type(exc), "faultCode", 1)
                results.append(
                    {
                        "faultCode": code,
                        "faultString": ", ".join(str(a) for a in exc.args),
                        "traceback": [],
                    }
                )
        return results

    # -- sessions -----------------------------------------------------------------------

    def session_for(
        self, headers: dict[str, str], query: str, method: str | None
    ) -> Session | None:
        """auth.Session.__init__: find the session named by the headers (or, for older
        clients, the query string), and check the call number."""
        sid = headers.get("koji-session-id")
        key = headers.get("koji-session-key")
        callnum: str | None = headers.get("koji-session-callnum")
        if sid is None:
            if not query:
                return None
            qs = urllib.parse.parse_qs(query)
            if "session-id" not in qs and "session-key" not in qs:
                return None
            try:
                sid = qs["session-id"][0]
                key = qs["session-key"][0]
            except KeyError as missing:
                raise koji.AuthError(f"{missing} not specified in session args") from None
            callnum = qs.get("callnum", [None])[0]
        with self._lock:
            try:
                session = self._sessions.get(int(sid))
            except ValueError:
                session = None
            if session is None or session.key != key or session.closed:
                raise koji.AuthError("Invalid session or bad credentials")
            if callnum is not None:
                try:
                    num = int(callnum)
                except ValueError:
                    raise koji.AuthError(f"Invalid callnum: {callnum!r}") from None
                last = session.callnum
                if last is not None and last > num:
                    raise koji.SequenceError(f"{last} > {num} (session {session.id})")
                if last is not None and last == num and method not in RETRY_WHITELIST:
                    raise koji.RetryError(
                        f"unable to retry call {num} (method {method}) for session {session.id}"
                    )
                # auth.py stores the callnum after the call, and only if it committed: a
                # read (or a failed write) can be sent again with the same number.
                self._pending_callnum.value = (session, num)
            return session

    def begin_call(self) -> None:
        self._pending_callnum.value = None
        self._pending_callnum.wrote = False

    def end_call(self, ok: bool) -> None:
        pending = getattr(self._pending_callnum, "value", None)
        if ok and pending is not None and getattr(self._pending_callnum, "wrote", False):
            session, num = pending
            with self._lock:
                if session.callnum is None or session.callnum < num:
                    session.callnum = num
        self._pending_callnum.value = None

    def new_session(self, user: User, authtype: int) -> dict[str, Any]:
        with self._lock:
            sid = self._next_id("session")
            key = f"{user.id}-{secrets.token_urlsafe(15)}"
            self._sessions[sid] = Session(sid, key, user, authtype)
            return {"session-id": sid, "session-key": key, "header-auth": True}

    # -- storage paths ------------------------------------------------------------------

    def build_dir(self, build: dict[str, Any]) -> Path:
        return self.topdir / "packages" / build["name"] / build["version"] / build["release"]

    def work_path(self, reldir: str, name: str, create: bool, user: User | None) -> Path:
        """kojihub.get_upload_path: a file under ``topdir/work``, never outside it, and
        not in a folder another user uploaded to."""
        orig_reldir, orig_name = reldir, name
        d, name = os.path.split(name)
        if d or not name or name.startswith("."):
            raise koji.GenericError(f"Invalid upload filename: {orig_name}")
        reldir = os.path.normpath(reldir)
        if not reldir or reldir.startswith("..") or reldir.startswith("/") or reldir == ".":
            raise koji.GenericError(f"Invalid upload directory: {orig_reldir}")
        udir = self.topdir / "work" / reldir
        if create:
            if reldir.split("/")[0] == "tasks":
                raise koji.GenericError(f"Invalid task upload directory: {orig_reldir}")
            udir.mkdir(parents=True, exist_ok=True)
            owner = udir / ".user"
            if user is not None:
                if owner.exists():
                    if int(owner.read_text()) != user.id:
                        raise koji.GenericError(f"Invalid upload directory, not owner: {reldir}")
                else:
                    owner.write_text(str(user.id))
        return udir / name

    def _task_changed(self, task: Task, old: int) -> None:
        """Run the postTaskStateChange callbacks (outside the hub's lock)."""
        kws = {
            "attribute": "state",
            "old": TASK_STATES[old],
            "new": TASK_STATES[task.state],
            "info": task.info(request=True),
        }
        for callback in list(self.task_callbacks):
            # A plugin's failure never breaks the hub (koji's ignore_error).
            with contextlib.suppress(Exception):
                callback(kws)


def _make_handler(hub: FakeKojiHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _peer_cn(self) -> str | None:
            getpeercert = getattr(self.connection, "getpeercert", None)
            if getpeercert is None:
                return None
            cert = getpeercert()
            if not cert:
                return None
            for rdn in cert.get("subject", ()):
                for key, value in rdn:
                    if key == "commonName":
                        return str(value)
            return None

        def _reply(self, status: int, body: bytes, ctype: str = "text/xml") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Koji-Version", KOJI_VERSION)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if not path.startswith("/kojifiles/"):
                self._reply(404, b"not found\n", "text/plain")
                return
            rel = urllib.parse.unquote(path[len("/kojifiles/") :])
            root = hub.topdir.resolve()
            target = (root / rel).resolve()
            if not target.is_relative_to(root) or not target.is_file():
                self._reply(404, b"not found\n", "text/plain")
                return
            self._reply(200, target.read_bytes(), "application/octet-stream")

        def do_POST(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if split.path not in ("/kojihub", "/kojihub/ssllogin"):
                self._reply(404, b"not found\n", "text/plain")
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            ctype = headers.get("content-type", "")
            hub.begin_call()
            ok = False
            try:
                if ctype == "application/octet-stream":
                    ctx = _Ctx(hub.session_for(headers, split.query, None), None, False)
                    hub.calls.append(
                        (
                            "rawUpload",
                            (),
                            dict(urllib.parse.parse_qsl(split.query)),
                            ctx.user.name if ctx.user else None,
                        )
                    )
                    result: Any = hub._api._raw_upload(ctx, split.query, body)
                else:
                    try:
                        parser, unmarshaller = getparser()
                        parser.feed(body)
                        parser.close()
                        params = unmarshaller.close()
                        method = unmarshaller.getmethodname()
                    except Exception as exc:
                        self._reply(400, f"Invalid request: {exc}\n".encode(), "text/plain")
                        return
                    session = hub.session_for(headers, split.query, method)
                    ctx = _Ctx(session, self._peer_cn(), hub.tls is not None)
                    result = hub.dispatch(method, params, ctx)
                response = dumps((result,), methodresponse=1, marshaller=_Marshaller)
                ok = True
            except Fault as fault:
                response = dumps(fault, marshaller=_Marshaller)
            except Exception as exc:
                code = getattr(type(exc), "faultCode", 1)
                text = str(exc) if isinstance(exc, koji.GenericError) else f"{type(exc)}: {exc}"
                response = dumps(Fault(code, text), marshaller=_Marshaller)
            finally:
                hub.end_call(ok)
            self._reply(200, response.encode("utf-8"))

    return Handler


# ---------------------------------------------------------------------------------------
# The API: one method per hub call, named as the hub names it ('.' → '_').
# ---------------------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[A-Za-z0-9/_.+-]+$")

# What listTagged / listTaggedRPMS return per build and per RPM (readTaggedBuilds,
# readTaggedRPMS): fewer fields than getBuild / listBuildRPMs.
_TAGGED_BUILD_KEYS = frozenset(
    [
        "build_id",
        "completion_time",
        "creation_event_id",
        "creation_time",
        "draft",
        "epoch",
        "id",
        "name",
        "nvr",
        "owner_id",
        "owner_name",
        "package_id",
        "package_name",
        "promoter_id",
        "promoter_name",
        "promotion_time",
        "release",
        "start_time",
        "state",
        "task_id",
        "version",
        "volume_id",
        "volume_name",
    ]
)
_TAGGED_RPM_KEYS = frozenset(
    [
        "arch",
        "build_id",
        "buildroot_id",
        "buildtime",
        "draft",
        "epoch",
        "extra",
        "id",
        "metadata_only",
        "name",
        "payloadhash",
        "release",
        "size",
        "version",
    ]
)


def _verify_name(name: Any) -> str:
    """kojihub.verify_name_internal with the default RegexNameInternal."""
    if not isinstance(name, str):
        raise koji.GenericError("Name should be string")
    if len(name) > 256:
        raise koji.GenericError(f"Name {name} is too long. Max length is 256 characters")
    if not _NAME_RE.match(name):
        raise koji.GenericError(f"Name {name} does not match RegexNameInternal value")
    return name


def _check_info(info: Any) -> None:
    """kojihub.name_or_id_clause: an int id, a str name, or a dict with one of them."""
    if isinstance(info, bool) or not isinstance(info, (int, str, dict)):
        raise koji.ParameterError(f"Invalid name or id value: {info}")


def _arches(arches: Any) -> str | None:
    """koji.parse_arches(strict=True, allow_none=True): a space-separated string."""
    if arches is None:
        return None
    if isinstance(arches, list):
        arches = " ".join(arches)
    if not isinstance(arches, str):
        raise koji.ParameterError(f"Invalid type for arches: {type(arches)}")
    parts = arches.split()
    for arch in parts:
        if not re.match(r"^[a-zA-Z0-9_-]+$", arch):  # "x86_64,aarch64" too
            raise koji.GenericError("Architecture can be only [a-zA-Z0-9_-]")
    return " ".join(parts)


class _Api:
    """The hub's exported calls. Every method takes the call's ``_Ctx`` first."""

    def __init__(self, hub: FakeKojiHub) -> None:
        self.hub = hub
        self.lock = hub._lock

    # -- versions, events, users --------------------------------------------------------

    def getAPIVersion(self, ctx: _Ctx) -> int:
        return int(koji.API_VERSION)

    def getKojiVersion(self, ctx: _Ctx) -> str:
        return KOJI_VERSION

    def echo(self, ctx: _Ctx, *args: Any) -> tuple[Any, ...]:
        return args

    def getLastEvent(self, ctx: _Ctx, before: Any = None, strict: bool = True) -> dict[str, Any]:
        with self.lock:
            if before is not None:
                if not isinstance(before, (int, float)):
                    raise koji.GenericError(f"Invalid type for before: {type(before)}")
                ids = [e for e, ts in self.hub._events.items() if ts < before]
                if not ids:
                    if strict:
                        raise koji.GenericError("query returned no rows")
                    return None  # type: ignore[return-value]
                eid = max(ids)
            else:
                eid = self.hub._event
            return {"id": eid, "ts": self.hub._events[eid]}

    def login(
        self,
        ctx: _Ctx,
        user: Any,
        password: Any,
        opts: Any = None,
        renew: bool = False,
        exclusive: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(password, str) or not password:
            raise koji.AuthError("invalid username or password")
        if ctx.session is not None and not renew:
            raise koji.AuthError("Already logged in")
        with self.lock:
            found = self.hub._users.get(user) if isinstance(user, str) else None
            if found is None or found.password is None or found.password != password:
                raise koji.AuthError("invalid username or password")
            return self.hub.new_session(found, koji.AUTHTYPES["NORMAL"])

    def sslLogin(
        self,
        ctx: _Ctx,
        proxyuser: Any = None,
        proxyauthtype: Any = None,
        renew: bool = False,
        exclusive: Any = None,
    ) -> dict[str, Any]:
        if ctx.session is not None and not renew:
            raise koji.AuthError("Already logged in")
        if not ctx.via_ssl or ctx.peer_cn is None:
            raise koji.AuthError("could not verify client: NONE")
        if proxyuser:
            raise koji.AuthError(f"{ctx.peer_cn} is not authorized to login other users")
        with self.lock:
            for user in self.hub._users.values():
                if user.cert_cn == ctx.peer_cn:
                    return self.hub.new_session(user, koji.AUTHTYPES["SSL"])
        raise koji.AuthError(f"Unknown user: {ctx.peer_cn}")

    def logout(self, ctx: _Ctx, session_id: Any = None) -> None:
        if ctx.session is None:
            raise koji.AuthError("Not logged in")
        with self.lock:
            if session_id is None:
                ctx.session.closed = True
                return
            other = self.hub._sessions.get(int(session_id))
            if other is None:
                return
            if other.user is not ctx.session.user and not ctx.has_perm("admin"):
                raise koji.ActionNotAllowed("only admins or owner may logout other session")
            other.closed = True

    def getLoggedInUser(self, ctx: _Ctx) -> dict[str, Any] | None:
        """getLoggedInUser: the user, the session's authtype and (deprecated)
        krb_principal."""
        if ctx.session is None:
            return None
        principals = ctx.session.user.krb_principals
        return {
            **ctx.session.user.info(),
            "authtype": ctx.session.authtype,
            "krb_principal": principals[0] if principals else None,
        }

    def getUser(
        self,
        ctx: _Ctx,
        userInfo: Any = None,
        strict: bool = False,
        krb_princs: bool = True,
        groups: bool = False,
    ) -> dict[str, Any] | None:
        if userInfo is None:
            if ctx.user is None:
                raise koji.GenericError("No user provided")
            return ctx.user.info()
        with self.lock:
            for user in self.hub._users.values():
                if userInfo in (user.id, user.name) or (
                    isinstance(userInfo, dict) and userInfo.get("id") == user.id
                ):
                    return user.info()
        if strict:
            raise koji.GenericError(f"No such user: {userInfo!r}")
        return None

    def hasPerm(self, ctx: _Ctx, perm: Any, strict: bool = False) -> bool:
        if strict and perm not in self.hub.perms:
            raise koji.GenericError(f"Permission {perm} does not exist")
        return ctx.has_perm(perm)

    def getPerms(self, ctx: _Ctx) -> list[str]:
        return sorted(ctx.user.perms) if ctx.user else []

    def getAllPerms(self, ctx: _Ctx) -> list[dict[str, Any]]:
        return [{"id": i + 1, "name": p, "description": None} for i, p in enumerate(self.hub.perms)]

    # -- tags ---------------------------------------------------------------------------

    def _tag_id(self, info: Any) -> dict[str, Any]:
        """get_tag_id(strict=True): lookup_name's message, not get_tag's."""
        tag = self._tag(info, strict=False)
        if tag is None:
            raise koji.GenericError(f"No such entry in table tag: {info}")
        return tag

    def _tag(self, info: Any, strict: bool = True) -> dict[str, Any] | None:
        _check_info(info)
        if isinstance(info, dict):
            info = info.get("id", info.get("name"))
            _check_info(info)
        with self.lock:
            for tag in self.hub._tags.values():
                if tag["id"] in self.hub._tag_deleted:
                    continue
                if info == tag["id"] or info == tag["name"]:
                    return tag
        if strict:
            raise koji.GenericError(f"No such tagInfo: {info!r}")
        return None

    def _tag_out(self, tag: dict[str, Any]) -> dict[str, Any]:
        out = dict(tag)
        out["extra"] = json.loads(json.dumps(tag["extra"]))
        return out

    def getTag(
        self,
        ctx: _Ctx,
        tagInfo: Any,
        strict: bool = False,
        event: Any = None,
        blocked: bool = False,
    ) -> dict[str, Any] | None:
        tag = self._tag(tagInfo, strict=strict)
        return self._tag_out(tag) if tag else None

    def _tag_row(self, tag: dict[str, Any]) -> dict[str, Any]:
        """listTags' rows: the tag without its extra."""
        return {k: v for k, v in tag.items() if k != "extra"}

    def listTags(
        self,
        ctx: _Ctx,
        build: Any = None,
        package: Any = None,
        perms: bool = True,
        queryOpts: Any = None,
        pattern: Any = None,
    ) -> list[Any]:
        with self.lock:
            if build is not None:
                b = self._build(build)
                ids = {
                    e["tag_id"]
                    for e in self.hub._tag_listing
                    if e["build_id"] == b["id"] and e["revoke_event"] is None
                }
                return [
                    self._tag_row(self.hub._tags[i])
                    for i in sorted(ids)
                    if i not in self.hub._tag_deleted
                ]
            return [
                self._tag_row(t)
                for i, t in sorted(self.hub._tags.items())
                if i not in self.hub._tag_deleted
                and (pattern is None or fnmatch.fnmatch(t["name"], pattern))
            ]

    def createTag(
        self,
        ctx: _Ctx,
        name: Any,
        parent: Any = None,
        arches: Any = None,
        perm: Any = None,
        locked: bool = False,
        maven_support: bool = False,
        maven_include_all: bool = False,
        extra: Any = None,
    ) -> int:
        ctx.assert_perm("tag")
        _verify_name(name)
        arches = _arches(arches)
        if maven_support or maven_include_all:
            raise koji.GenericError("Maven support not enabled")
        if extra is not None and not isinstance(extra, dict):
            raise koji.ParameterError(f"Invalid type for extra: {type(extra)}")
        with self.lock:
            if self._tag(name, strict=False):
                raise koji.GenericError(f"A tag with the name '{name}' already exists")
            parent_tag = None
            if parent:
                parent_tag = self._tag(parent, strict=False)
                if parent_tag is None:
                    raise koji.GenericError(f"Parent tag '{parent}' could not be found")
            perm_id, perm_name = self._perm(perm)
            tag_id = self.hub._next_id("tag")
            self.hub._tags[tag_id] = {
                "id": tag_id,
                "name": name,
                "perm_id": perm_id,
                "perm": perm_name,
                "arches": arches,
                "locked": bool(locked),
                "maven_support": False,
                "maven_include_all": False,
                "extra": dict(extra or {}),
            }
            self.hub._inheritance[tag_id] = []
            if parent_tag:
                self.hub._inheritance[tag_id].append(self._link(tag_id, parent_tag, priority=0))
            self.hub._new_event()
            return tag_id

    def _perm(self, perm: Any) -> tuple[int | None, str | None]:
        """kojihub.get_perm_id(strict=True): a permission by id or name."""
        if perm is None:
            return None, None
        perms = self.hub.perms
        if isinstance(perm, int) and 1 <= perm <= len(perms):
            return perm, perms[perm - 1]
        if isinstance(perm, str) and perm in perms:
            return perms.index(perm) + 1, perm
        raise koji.GenericError(f"No such entry in table permissions: {perm}")

    def _link(self, child_id: int, parent: dict[str, Any], **data: Any) -> dict[str, Any]:
        link = {
            "parent_id": parent["id"],
            "name": parent["name"],
            "priority": 0,
            "maxdepth": None,
            "intransitive": False,
            "noconfig": False,
            "pkg_filter": "",
            "child_id": child_id,
        }
        link.update(data)
        return link

    def editTag2(self, ctx: _Ctx, tagInfo: Any, **kwargs: Any) -> None:
        ctx.assert_perm("tag")
        allowed = {
            "name", "arches", "locked", "perm", "perm_id", "maven_support",
            "maven_include_all", "extra", "remove_extra", "block_extra",
        }  # fmt: skip
        for key in sorted(set(kwargs) - allowed):
            # the real edit_tag ignores unknown keywords (a typo is silent): so does this
            # hub, noting them for the tests to assert there were none
            self.hub.ignored_kwargs.append(("editTag2", key))
            del kwargs[key]
        if kwargs.get("maven_support") or kwargs.get("maven_include_all"):
            raise koji.GenericError("Maven support not enabled")
        for key in ("remove_extra", "block_extra"):
            if kwargs.get(key) is not None and not isinstance(kwargs[key], list):
                raise koji.ParameterError(f"Invalid type for value '{kwargs[key]}': list")
        with self.lock:
            tag = self._tag(tagInfo)
            assert tag is not None
            new = dict(tag)
            if "perm" in kwargs and "perm_id" not in kwargs:
                kwargs["perm_id"] = kwargs["perm"]
            if "perm_id" in kwargs:
                new["perm_id"], new["perm"] = self._perm(kwargs["perm_id"])
            name = kwargs.get("name")
            if name and name != tag["name"]:
                _verify_name(name)
                if self._tag(name, strict=False):
                    raise koji.GenericError(f"Name {name} already taken by tag")
                new["name"] = name
            if "arches" in kwargs:
                new["arches"] = _arches(kwargs["arches"])
            if "locked" in kwargs:
                new["locked"] = bool(kwargs["locked"])
            extra = dict(tag["extra"])
            if "extra" in kwargs:
                if not isinstance(kwargs["extra"], dict):
                    raise koji.ParameterError("Invalid type for extra: must be a dict")
                removed = set(kwargs.get("block_extra") or []) | set(
                    kwargs.get("remove_extra") or []
                )
                conflicts = removed & set(kwargs["extra"])
                if conflicts:
                    raise koji.GenericError(
                        f"Can not both add/update and remove tag-extra: '{conflicts.pop()}'"
                    )
                extra.update(kwargs["extra"])
            for key in kwargs.get("remove_extra") or []:
                if key not in tag["extra"]:
                    raise koji.GenericError(f"Tag: {tag['name']} doesn't have extra: {key}")
                extra.pop(key, None)
            for key in kwargs.get("block_extra") or []:
                extra.pop(key, None)
            new["extra"] = extra
            tag.update(new)
            self.hub._new_event()

    def deleteTag(self, ctx: _Ctx, tagInfo: Any) -> None:
        ctx.assert_perm("tag")
        with self.lock:
            tag = self._tag(tagInfo)
            assert tag is not None
            event = self.hub._new_event()
            self.hub._tag_deleted.add(tag["id"])
            self.hub._inheritance[tag["id"]] = []
            for links in self.hub._inheritance.values():
                links[:] = [link for link in links if link["parent_id"] != tag["id"]]
            for tid, target in list(self.hub._targets.items()):
                if tag["id"] in (target["build_tag"], target["dest_tag"]):
                    del self.hub._targets[tid]
            for entry in self.hub._tag_listing:
                if entry["tag_id"] == tag["id"] and entry["revoke_event"] is None:
                    entry["revoke_event"] = event
            self.hub._pkglist.pop(tag["id"], None)
            self.hub._groups.pop(tag["id"], None)

    # -- inheritance --------------------------------------------------------------------

    def getInheritanceData(self, ctx: _Ctx, tag: Any, event: Any = None) -> list[dict[str, Any]]:
        with self.lock:
            t = self._tag_id(tag)
            links = sorted(self.hub._inheritance.get(t["id"], []), key=lambda x: x["priority"])
            return [dict(link) for link in links]

    def setInheritanceData(self, ctx: _Ctx, tag: Any, data: Any, clear: bool = False) -> None:
        """kojihub._writeInheritanceData: add, change or ('delete link') drop parents."""
        ctx.assert_perm("tag")
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise koji.ParameterError("Invalid type for data: expected a list of links")
        with self.lock:
            t = self._tag(tag)
            assert t is not None
            fields = ("parent_id", "priority", "maxdepth", "intransitive", "noconfig", "pkg_filter")
            current = {link["parent_id"]: dict(link) for link in self.hub._inheritance[t["id"]]}
            new = {} if clear else dict(current)
            for link in data:
                if not isinstance(link, dict):
                    raise koji.GenericError(f"Invalid inheritance link: {link!r}")
                check = ("parent_id",) if link.get("delete link") else fields
                for f in check:
                    if f not in link:
                        raise koji.GenericError(f"No value for {f}")
                parent = self._tag(link["parent_id"], strict=False)
                if parent is None:
                    raise koji.GenericError(f"No such tagInfo: {link['parent_id']!r}")
                if link.get("delete link"):
                    new.pop(parent["id"], None)
                    continue
                new[parent["id"]] = self._link(
                    t["id"], parent, **{f: link[f] for f in fields if f != "parent_id"}
                )
            by_priority: dict[int, list[int]] = {}
            for link in new.values():
                by_priority.setdefault(link["priority"], []).append(link["parent_id"])
            for pri, ids in by_priority.items():
                if len(ids) > 1:
                    raise koji.GenericError(
                        f"Multiple parent tags ({sorted(ids)!r}) cannot have the "
                        f"same priority value ({pri}) on child tag {t['id']}"
                    )
            if new == current:
                return
            self.hub._inheritance[t["id"]] = sorted(new.values(), key=lambda x: x["priority"])
            self.hub._new_event()

    def _full_inheritance(self, tag_id: int) -> list[dict[str, Any]]:
        """readFullInheritance: depth-first by priority, each tag once, maxdepth and
        intransitive honoured (pkg_filter is kept but not applied)."""
        order: list[dict[str, Any]] = []
        seen = {tag_id}

        def walk(tid: int, depth: int, maxdepth: int | None, top: bool) -> None:
            for link in sorted(self.hub._inheritance.get(tid, []), key=lambda x: x["priority"]):
                if link["intransitive"] and not top:
                    continue
                if link["parent_id"] in seen or link["parent_id"] in self.hub._tag_deleted:
                    continue
                seen.add(link["parent_id"])
                entry = dict(link)
                entry["currdepth"] = depth
                entry["filter"] = []
                order.append(entry)
                md = link["maxdepth"]
                nxt = (
                    None
                    if md is None and maxdepth is None
                    else min(
                        x for x in (md, None if maxdepth is None else maxdepth - 1) if x is not None
                    )
                )
                entry["nextdepth"] = nxt
                if nxt is None or nxt > 1:
                    walk(link["parent_id"], depth + 1, None if nxt is None else nxt, False)

        walk(tag_id, 1, None, True)
        return order

    def getFullInheritance(
        self, ctx: _Ctx, tag: Any, event: Any = None, reverse: bool = False, **kwargs: Any
    ) -> list[dict[str, Any]]:
        with self.lock:
            t = self._tag(tag)
            assert t is not None
            if reverse:
                return [
                    {**dict(link), "tag_id": child, "currdepth": 1}
                    for child, links in self.hub._inheritance.items()
                    for link in links
                    if link["parent_id"] == t["id"]
                ]
            return self._full_inheritance(t["id"])

    def _tag_chain(self, tag_id: int) -> list[int]:
        return [tag_id] + [link["parent_id"] for link in self._full_inheritance(tag_id)]

    # -- targets ------------------------------------------------------------------------

    def createBuildTarget(self, ctx: _Ctx, name: Any, build_tag: Any, dest_tag: Any) -> None:
        ctx.assert_perm("target")
        _verify_name(name)
        with self.lock:
            if any(t["name"] == name for t in self.hub._targets.values()):
                raise koji.GenericError(f"A build target with the name '{name}' already exists")
            btag = self._tag(build_tag, strict=False)
            if btag is None:
                raise koji.GenericError(f"build tag '{build_tag}' does not exist")
            dtag = self._tag(dest_tag, strict=False)
            if dtag is None:
                raise koji.GenericError(f"destination tag '{dest_tag}' does not exist")
            tid = self.hub._next_id("target")
            self.hub._targets[tid] = {
                "id": tid,
                "name": name,
                "build_tag": btag["id"],
                "dest_tag": dtag["id"],
            }
            self.hub._new_event()

    def _target_out(self, target: dict[str, Any]) -> dict[str, Any]:
        out = dict(target)
        out["build_tag_name"] = self.hub._tags[target["build_tag"]]["name"]
        out["dest_tag_name"] = self.hub._tags[target["dest_tag"]]["name"]
        return out

    def getBuildTargets(
        self,
        ctx: _Ctx,
        info: Any = None,
        event: Any = None,
        buildTagID: Any = None,
        destTagID: Any = None,
        queryOpts: Any = None,
    ) -> list[dict[str, Any]]:
        if info is not None:
            _check_info(info)
        with self.lock:
            out = []
            btag = self._tag(buildTagID, strict=False) if buildTagID is not None else None
            dtag = self._tag(destTagID, strict=False) if destTagID is not None else None
            for t in self.hub._targets.values():
                if info is not None and info not in (t["id"], t["name"]):
                    continue
                if buildTagID is not None and (btag is None or t["build_tag"] != btag["id"]):
                    continue
                if destTagID is not None and (dtag is None or t["dest_tag"] != dtag["id"]):
                    continue
                out.append(self._target_out(t))
            return out

    def getBuildTarget(
        self, ctx: _Ctx, info: Any, event: Any = None, strict: bool = False
    ) -> dict[str, Any] | None:
        targets = self.getBuildTargets(ctx, info)
        if len(targets) == 1:
            return targets[0]
        if strict:
            raise koji.GenericError(f"No such build target: {info}")
        return None

    def deleteBuildTarget(self, ctx: _Ctx, buildTargetInfo: Any) -> None:
        ctx.assert_perm("target")
        with self.lock:
            target = self.getBuildTarget(ctx, buildTargetInfo)
            if target is None:
                raise koji.GenericError(f"No such build target: {buildTargetInfo}")
            del self.hub._targets[target["id"]]
            self.hub._new_event()

    # -- packages -----------------------------------------------------------------------

    def _package_id(self, name: str, create: bool) -> int | None:
        with self.lock:
            if name not in self.hub._packages and create:
                self.hub._packages[name] = self.hub._next_id("package")
            return self.hub._packages.get(name)

    def _user(self, info: Any) -> User:
        with self.lock:
            for user in self.hub._users.values():
                if info in (user.id, user.name):
                    return user
        raise koji.GenericError(f"No such user: {info!r}")

    def packageListAdd(
        self,
        ctx: _Ctx,
        taginfo: Any,
        pkginfo: Any,
        owner: Any = None,
        block: Any = None,
        extra_arches: Any = None,
        force: bool = False,
        update: bool = False,
    ) -> None:
        """pkglist_add: the package_list policy (default: admin or tag), an owner for a
        new entry."""
        ctx.assert_login()
        if not (ctx.has_perm("admin") or ctx.has_perm("tag")):
            raise koji.ActionNotAllowed(
                "policy violation (package_list): Only admin/tag can do this via default policy"
            )
        if not isinstance(pkginfo, str):
            raise koji.GenericError(f"No such package: {pkginfo}")
        with self.lock:
            tag = self._tag(taginfo)
            assert tag is not None
            pkg_id = self._package_id(pkginfo, create=True)
            assert pkg_id is not None
            previous = self._pkg_entry(tag["id"], pkg_id)
            if previous is None and update and not force:
                raise koji.GenericError(
                    f"cannot update: tag {tag['name']} has no data for package {pkginfo}"
                )
            if previous is not None:
                owner = owner if owner is not None else previous["owner_id"]
                block = previous["blocked"] if block is None else bool(block)
                if extra_arches is None:
                    extra_arches = previous["extra_arches"]
                if previous["blocked"] and not block and not force:
                    raise koji.GenericError(f"package {pkginfo} is blocked in tag {tag['name']}")
            if owner is None:
                if not force:
                    raise koji.GenericError("owner not specified")
                owner = ctx.assert_login().id
            user = self._user(owner)
            self.hub._pkglist.setdefault(tag["id"], {})[pkg_id] = {
                "package_id": pkg_id,
                "package_name": pkginfo,
                "tag_id": tag["id"],
                "tag_name": tag["name"],
                "owner_id": user.id,
                "owner_name": user.name,
                "blocked": bool(block),
                "extra_arches": _arches(extra_arches),
            }
            self.hub._new_event()

    def packageListBlock(self, ctx: _Ctx, taginfo: Any, pkginfo: Any, force: bool = False) -> None:
        self.packageListAdd(ctx, taginfo, pkginfo, block=True, force=force)

    def _pkg_entry(self, tag_id: int, pkg_id: int) -> dict[str, Any] | None:
        for tid in self._tag_chain(tag_id):
            entry = self.hub._pkglist.get(tid, {}).get(pkg_id)
            if entry is not None:
                return entry
        return None

    def listPackages(
        self,
        ctx: _Ctx,
        tagID: Any = None,
        userID: Any = None,
        pkgID: Any = None,
        prefix: Any = None,
        inherited: bool = False,
        with_dups: bool = False,
        event: Any = None,
        queryOpts: Any = None,
        with_owners: bool = True,
        with_blocked: bool = True,
    ) -> list[dict[str, Any]]:
        with self.lock:
            if tagID is None:
                return [
                    {"package_id": i, "package_name": n}
                    for n, i in sorted(self.hub._packages.items())
                ]
            tag = self._tag_id(tagID)
            chain = self._tag_chain(tag["id"]) if inherited else [tag["id"]]
            seen: dict[int, dict[str, Any]] = {}
            for tid in chain:
                for pid, entry in self.hub._pkglist.get(tid, {}).items():
                    seen.setdefault(pid, dict(entry))
            out = []
            for entry in seen.values():
                if pkgID is not None and pkgID not in (entry["package_id"], entry["package_name"]):
                    continue
                if prefix and not entry["package_name"].startswith(prefix):
                    continue
                if not with_blocked and entry["blocked"]:
                    continue
                out.append(entry)
            return sorted(out, key=lambda e: e["package_name"])

    def getPackageConfig(
        self, ctx: _Ctx, tag: Any, pkg: Any, event: Any = None
    ) -> dict[str, Any] | None:
        with self.lock:
            t = self._tag(tag)
            assert t is not None
            pid = pkg if isinstance(pkg, int) else self._package_id(str(pkg), create=False)
            return None if pid is None else self._pkg_entry(t["id"], pid)

    def getPackage(
        self, ctx: _Ctx, info: Any, strict: bool = False, create: bool = False
    ) -> dict[str, Any] | None:
        with self.lock:
            for name, pid in self.hub._packages.items():
                if info in (name, pid):
                    return {"id": pid, "name": name}
        if strict:
            raise koji.GenericError(f"No such package: {info}")
        return None

    # -- groups -------------------------------------------------------------------------

    def groupListAdd(
        self,
        ctx: _Ctx,
        taginfo: Any,
        grpinfo: Any,
        block: bool = False,
        force: bool = False,
        **opts: Any,
    ) -> None:
        ctx.assert_perm("tag")
        if not isinstance(grpinfo, str):
            raise koji.GenericError(f"No such group: {grpinfo!r}")
        cfg = (
            "exported",
            "display_name",
            "is_default",
            "uservisible",
            "description",
            "langonly",
            "biarchonly",
        )
        with self.lock:
            tag = self._tag(taginfo)
            assert tag is not None
            gid = self.hub._group_ids.setdefault(grpinfo, len(self.hub._group_ids) + 1)
            previous = self._groups(tag["id"]).get(grpinfo)
            if previous is not None and previous["blocked"] and not force:
                raise koji.GenericError(f"group {grpinfo} is blocked in tag {tag['name']}")
            own = self.hub._groups.setdefault(tag["id"], {})
            group = own.get(grpinfo) or {
                "name": grpinfo, "group_id": gid, "tag_id": tag["id"], "exported": True,
                "display_name": grpinfo, "is_default": None, "uservisible": True,
                "description": None, "langonly": None, "biarchonly": False,
                "packagelist": [], "grouplist": [],
            }  # fmt: skip
            group["blocked"] = bool(block)
            for key in cfg:
                if key in opts:
                    group[key] = opts[key]
            own[grpinfo] = group
            self.hub._new_event()

    def groupPackageListAdd(
        self,
        ctx: _Ctx,
        taginfo: Any,
        grpinfo: Any,
        pkg_name: Any,
        block: bool = False,
        force: bool = False,
        **opts: Any,
    ) -> None:
        ctx.assert_perm("tag")
        if not isinstance(pkg_name, str):
            raise koji.ParameterError(f"Invalid package name: {pkg_name!r}")
        with self.lock:
            tag = self._tag(taginfo)
            assert tag is not None
            if grpinfo not in self.hub._group_ids:
                raise koji.GenericError(f"No such entry in table groups: {grpinfo}")
            groups = self._groups(tag["id"])
            group = groups.get(grpinfo)
            if group is None:
                raise koji.GenericError(f"group {grpinfo} not present in tag {tag['name']}")
            if group["blocked"]:
                raise koji.GenericError(f"group {grpinfo} is blocked in tag {tag['name']}")
            own = self.hub._groups.setdefault(tag["id"], {})
            if grpinfo not in own:  # inherited: the child gets its own copy to extend
                own[grpinfo] = json.loads(json.dumps(group)) | {"tag_id": tag["id"]}
            mine = own[grpinfo]
            entry = next((p for p in mine["packagelist"] if p["package"] == pkg_name), None)
            if entry is not None and entry["blocked"] and not force:
                raise koji.GenericError(
                    f"package {pkg_name} blocked in group {grpinfo}, tag {tag['name']}"
                )
            if entry is None:
                entry = {
                    "package": pkg_name,
                    "group_id": mine["group_id"],
                    "tag_id": tag["id"],
                    "type": "mandatory",
                    "basearchonly": None,
                    "requires": None,
                }
                mine["packagelist"].append(entry)
            entry["blocked"] = bool(block)
            for key in ("type", "basearchonly", "requires"):
                if key in opts:
                    entry[key] = opts[key]
            self.hub._new_event()

    def _groups(self, tag_id: int) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for tid in self._tag_chain(tag_id):
            for name, group in self.hub._groups.get(tid, {}).items():
                out.setdefault(name, group)
        return out

    def getTagGroups(
        self,
        ctx: _Ctx,
        tag: Any,
        event: Any = None,
        inherit: bool = True,
        incl_pkgs: bool = True,
        incl_reqs: bool = True,
        incl_blocked: bool = False,
    ) -> list[dict[str, Any]]:
        with self.lock:
            t = self._tag_id(tag)
            groups = self._groups(t["id"]) if inherit else self.hub._groups.get(t["id"], {})
            out = []
            for group in groups.values():
                if group["blocked"] and not incl_blocked:
                    continue
                g = json.loads(json.dumps(group))
                g["packagelist"] = [p for p in g["packagelist"] if incl_blocked or not p["blocked"]]
                if not incl_pkgs:
                    del g["packagelist"]
                if not incl_reqs:
                    del g["grouplist"]
                out.append(g)
            return out

    # -- builds and rpms ----------------------------------------------------------------

    def _build(self, info: Any, strict: bool = True) -> dict[str, Any]:
        """get_build's lookup: id, NVR string, or a dict with id/build_id or n/v/r."""
        with self.lock:
            found = None
            if isinstance(info, bool):
                raise koji.GenericError(f"Invalid type for build: {info!r}")
            if isinstance(info, int):
                found = self.hub._builds.get(info)
            elif isinstance(info, str):
                try:
                    nvr = koji.parse_NVR(info)
                except koji.GenericError:
                    raise koji.GenericError(f"Invalid NVR: {info}") from None
                found = self._by_nvr(nvr["name"], nvr["version"], nvr["release"])
            elif isinstance(info, dict):
                if "id" in info or "build_id" in info:
                    found = self.hub._builds.get(info.get("id", info.get("build_id")))
                elif {"name", "version", "release"} <= set(info):
                    found = self._by_nvr(info["name"], info["version"], info["release"])
                else:
                    raise koji.GenericError(f"Invalid build info: {info!r}")
            else:
                raise koji.GenericError(f"Invalid type for build: {type(info)}")
            if found is None and strict:
                raise koji.GenericError(f"No such build: {info!r}")
            return found  # type: ignore[return-value]

    def _by_nvr(self, n: str, v: str, r: str) -> dict[str, Any] | None:
        for b in self.hub._builds.values():
            if (b["name"], b["version"], b["release"]) == (n, v, r):
                return b
        return None

    def _build_out(self, build: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in json.loads(json.dumps(build)).items() if not k.startswith("_")}

    def getBuild(self, ctx: _Ctx, buildInfo: Any, strict: bool = False) -> dict[str, Any] | None:
        build = self._build(buildInfo, strict=strict)
        return self._build_out(build) if build else None

    def listBuilds(
        self,
        ctx: _Ctx,
        packageID: Any = None,
        userID: Any = None,
        taskID: Any = None,
        prefix: Any = None,
        state: Any = None,
        volumeID: Any = None,
        source: Any = None,
        createdBefore: Any = None,
        createdAfter: Any = None,
        completeBefore: Any = None,
        completeAfter: Any = None,
        type: Any = None,
        typeInfo: Any = None,
        queryOpts: Any = None,
        pattern: Any = None,
        cgID: Any = None,
        draft: Any = None,
    ) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for b in self.hub._builds.values():
                if packageID is not None and packageID not in (b["package_id"], b["name"]):
                    continue
                if taskID is not None and b["task_id"] != taskID:
                    continue
                if state is not None and b["state"] != state:
                    continue
                if prefix and not b["name"].startswith(prefix):
                    continue
                if pattern and not fnmatch.fnmatch(b["nvr"], pattern):
                    continue
                if type is not None and type not in b["_btypes"]:
                    continue
                out.append(self._build_out(b))
            return out

    def _rpm_out(self, rpm: dict[str, Any]) -> dict[str, Any]:
        return dict(rpm)

    def listBuildRPMs(self, ctx: _Ctx, build: Any) -> list[dict[str, Any]]:
        b = self._build(build)
        with self.lock:
            return [self._rpm_out(r) for r in self.hub._rpms.values() if r["build_id"] == b["id"]]

    def listRPMs(
        self,
        ctx: _Ctx,
        buildID: Any = None,
        buildrootID: Any = None,
        imageID: Any = None,
        componentBuildrootID: Any = None,
        hostID: Any = None,
        arches: Any = None,
        queryOpts: Any = None,
        draft: Any = None,
    ) -> list[dict[str, Any]]:
        if isinstance(arches, str):
            arches = [arches]
        with self.lock:
            return [
                self._rpm_out(r)
                for r in self.hub._rpms.values()
                if (buildID is None or r["build_id"] == buildID)
                and (arches is None or r["arch"] in arches)
            ]

    def getRPM(
        self, ctx: _Ctx, rpminfo: Any, strict: bool = False, multi: bool = False
    ) -> dict[str, Any] | None:
        with self.lock:
            for r in self.hub._rpms.values():
                if rpminfo in (r["id"], r["nvr"] + "." + r["arch"]):
                    return self._rpm_out(r)
        if strict:
            raise koji.GenericError(f"No such rpm: {rpminfo}")
        return None

    def _new_build(
        self, data: dict[str, Any], owner: User, task_id: int | None, cg: str | None, state: int
    ) -> dict[str, Any]:
        """new_build: a build record; an NVR may be reused only by a failed or cancelled
        build (which is recycled)."""
        with self.lock:
            old = self._by_nvr(data["name"], data["version"], data["release"])
            if old is not None:
                if old["state"] not in (BUILD_STATES["FAILED"], BUILD_STATES["CANCELED"]):
                    raise koji.GenericError(
                        f"Build already exists (id={old['id']}, state="
                        f"{BUILD_STATES[old['state']]}): {data}"
                    )
                del self.hub._builds[old["id"]]
            pkg_id = self._package_id(data["name"], create=True)
            bid = self.hub._next_id("build")
            event = self.hub._new_event()
            now = time.time()
            build = {
                "id": bid,
                "build_id": bid,
                "package_id": pkg_id,
                "package_name": data["name"],
                "name": data["name"],
                "version": data["version"],
                "release": data["release"],
                "epoch": data.get("epoch"),
                "nvr": f"{data['name']}-{data['version']}-{data['release']}",
                "state": state,
                "task_id": task_id,
                "owner_id": owner.id,
                "owner_name": owner.name,
                "cg_id": self.hub._cgs[cg]["id"] if cg else None,
                "cg_name": cg,
                "volume_id": 0,
                "volume_name": "DEFAULT",
                "creation_event_id": event,
                "creation_time": _ts_str(now),
                "creation_ts": now,
                "start_time": _ts_str(now),
                "start_ts": now,
                "completion_time": None,
                "completion_ts": None,
                "source": data.get("source"),
                "extra": data.get("extra"),
                "draft": False,
                "promoter_id": None,
                "promoter_name": None,
                "promotion_time": None,
                "promotion_ts": None,
                "_btypes": [],
            }
            self.hub._builds[bid] = build
            return build

    def _finish_build(self, build: dict[str, Any], state: int) -> None:
        with self.lock:
            now = time.time()
            build["state"] = state
            build["completion_ts"] = now
            build["completion_time"] = _ts_str(now)
            self.hub._mark_write()

    def _import_rpm(
        self,
        build: dict[str, Any],
        path: Path,
        buildroot_id: int | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Copy an RPM into the build's folder and record it (import_rpm)."""
        hdr = _rpm_header(path)
        if hdr["sourcerpm_name"] != build["name"]:
            raise koji.GenericError(f"rpm {path.name} does not belong to build {build['nvr']}")
        arch = hdr["arch"]
        dest = self.hub.build_dir(build) / arch / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        with self.lock:
            rid = self.hub._next_id("rpm")
            nvr = f"{hdr['name']}-{hdr['version']}-{hdr['release']}"
            self.hub._rpms[rid] = {
                "id": rid,
                "name": hdr["name"],
                "version": hdr["version"],
                "release": hdr["release"],
                "epoch": hdr["epoch"],
                "arch": arch,
                "nvr": nvr,
                "draft": False,
                "build_id": build["id"],
                "buildroot_id": buildroot_id,
                "external_repo_id": 0,
                "external_repo_name": "INTERNAL",
                "payloadhash": hdr["payloadhash"],
                "size": path.stat().st_size,
                "buildtime": hdr["buildtime"],
                "metadata_only": False,
                "extra": extra,
            }
            if "rpm" not in build["_btypes"]:
                build["_btypes"].append("rpm")

    # -- tagging ------------------------------------------------------------------------

    def _check_tag_access(self, user: User, tag: dict[str, Any], force: bool) -> None:
        """check_tag_access: a locked tag, or one needing a permission the user lacks,
        refuses unless an admin forces it."""
        override = "admin" in user.perms
        reason = None
        if tag["locked"]:
            reason = "tag is locked"
        elif tag["perm"] and tag["perm"] not in user.perms:
            reason = f"tag requires {tag['perm']} permission"
        if reason and not (override and force):
            raise koji.ActionNotAllowed(reason)

    def _direct_tag(
        self, tag: dict[str, Any], build: dict[str, Any], user: User, force: bool
    ) -> None:
        with self.lock:
            if build["state"] != BUILD_STATES["COMPLETE"]:
                raise koji.TagError(
                    f"build {build['nvr']} not complete: state {BUILD_STATES[build['state']]}"
                )
            active = [
                e
                for e in self.hub._tag_listing
                if e["tag_id"] == tag["id"]
                and e["build_id"] == build["id"]
                and e["revoke_event"] is None
            ]
            event = self.hub._new_event()
            if active:
                if not force:
                    raise koji.TagError(f"build {build['nvr']} already tagged ({tag['name']})")
                for e in active:
                    e["revoke_event"] = event
            self.hub._tag_listing.append(
                {
                    "tag_id": tag["id"],
                    "build_id": build["id"],
                    "create_event": event,
                    "revoke_event": None,
                    "owner": user.id,
                }
            )

    def tagBuildBypass(
        self, ctx: _Ctx, tag: Any, build: Any, force: bool = False, notify: bool = False
    ) -> None:
        ctx.assert_perm("tag")
        user = ctx.assert_login()
        t = self._tag(tag)
        b = self._build(build)
        assert t is not None
        self._check_tag_access(user, t, force)
        self._direct_tag(t, b, user, force)

    def tagBuild(
        self, ctx: _Ctx, tag: Any, build: Any, force: bool = False, fromtag: Any = None
    ) -> int:
        """A tagBuild task, after the hub's checks (complete build, tag access, package
        list); the tagging itself happens in the task, as on a real hub."""
        user = ctx.assert_login()
        b = self._build(build)
        t = self._tag(tag)
        assert t is not None
        fromtag_id = None
        if fromtag:
            ft = self._tag(fromtag)
            assert ft is not None
            fromtag_id = ft["id"]
        if b["state"] != BUILD_STATES["COMPLETE"]:
            raise koji.TagError(f"build {b['nvr']} not complete: state {BUILD_STATES[b['state']]}")
        self._check_tag_access(user, t, force)
        entry = self._pkg_entry(t["id"], b["package_id"])
        if entry is None or entry["blocked"]:
            what = "not in list for" if entry is None else "blocked in"
            if force and "admin" in user.perms:
                self.packageListAdd(ctx, t["id"], b["name"], owner=user.id, block=False, force=True)
            else:
                raise koji.TagError(f"Package {b['name']} {what} {t['name']}")
        task = self._new_task(user, "tagBuild", [t["id"], b["id"], force, fromtag_id], priority=10)

        def run() -> None:
            self._run_task(task, lambda: self._tag_task(task, user))

        self.hub._spawn(run, f"koji-task-{task.id}")
        return task.id

    def _tag_task(self, task: Task, user: User) -> None:
        tag_id, build_id, force, fromtag_id = task.request
        tag = self._tag(tag_id)
        build = self._build(build_id)
        assert tag is not None
        self._check_tag_access(user, tag, force)
        if fromtag_id is not None:
            self._untag(self._tag(fromtag_id), build, user, strict=True, force=force)  # type: ignore[arg-type]
        self._direct_tag(tag, build, user, force)

    def _untag(
        self, tag: dict[str, Any], build: dict[str, Any], user: User, strict: bool, force: bool
    ) -> None:
        self._check_tag_access(user, tag, force)
        with self.lock:
            active = [
                e
                for e in self.hub._tag_listing
                if e["tag_id"] == tag["id"]
                and e["build_id"] == build["id"]
                and e["revoke_event"] is None
            ]
            if not active:
                if strict:
                    raise koji.TagError(f"build {build['nvr']} not in tag {tag['name']}")
                return
            event = self.hub._new_event()
            for e in active:
                e["revoke_event"] = event

    def untagBuild(
        self, ctx: _Ctx, tag: Any, build: Any, strict: bool = True, force: bool = False
    ) -> None:
        user = ctx.assert_login()
        t = self._tag(tag)
        b = self._build(build)
        assert t is not None
        self._untag(t, b, user, strict, force)

    def untagBuildBypass(
        self,
        ctx: _Ctx,
        tag: Any,
        build: Any,
        strict: bool = True,
        force: bool = False,
        notify: bool = False,
    ) -> None:
        ctx.assert_perm("tag")
        self.untagBuild(ctx, tag, build, strict=strict, force=force)

    def _tagged(
        self, tag_id: int, event: int | None, inherit: bool, latest: bool
    ) -> list[dict[str, Any]]:
        """readTaggedBuilds: newest tagging first; with inherit, a package's builds come
        from the first tag in the inheritance order that has any."""

        def active(e: dict[str, Any]) -> bool:
            if event is None:
                return e["revoke_event"] is None
            return e["create_event"] <= event and (
                e["revoke_event"] is None or e["revoke_event"] > event
            )

        chain = self._tag_chain(tag_id) if inherit else [tag_id]
        out: list[dict[str, Any]] = []
        owner_tag: dict[int, int] = {}
        for tid in chain:
            entries = sorted(
                (e for e in self.hub._tag_listing if e["tag_id"] == tid and active(e)),
                key=lambda e: -e["create_event"],
            )
            for e in entries:
                b = self.hub._builds[e["build_id"]]
                pkg = b["package_id"]
                if owner_tag.setdefault(pkg, tid) != tid:
                    continue
                if latest and any(o["package_id"] == pkg for o in out):
                    continue
                item = {k: v for k, v in self._build_out(b).items() if k in _TAGGED_BUILD_KEYS}
                item.update(
                    tag_id=tid, tag_name=self.hub._tags[tid]["name"], create_event=e["create_event"]
                )
                out.append(item)
        return out

    def listTagged(
        self,
        ctx: _Ctx,
        tag: Any,
        event: Any = None,
        inherit: bool = False,
        prefix: Any = None,
        latest: bool = False,
        package: Any = None,
        owner: Any = None,
        type: Any = None,
        strict: bool = True,
        extra: bool = False,
        draft: Any = None,
    ) -> list[dict[str, Any]]:
        with self.lock:
            t = self._tag(tag, strict=strict)
            if t is None:
                return []
            builds = self._tagged(t["id"], event, inherit, latest)
            if package is not None:
                builds = [b for b in builds if b["name"] == package]
            if prefix:
                builds = [b for b in builds if b["name"].startswith(prefix)]
            if type is not None:
                builds = [b for b in builds if type in self.hub._builds[b["id"]]["_btypes"]]
            return builds

    def listTaggedRPMS(
        self,
        ctx: _Ctx,
        tag: Any,
        event: Any = None,
        inherit: bool = False,
        latest: bool = False,
        package: Any = None,
        arch: Any = None,
        rpmsigs: bool = False,
        owner: Any = None,
        type: Any = None,
        strict: bool = True,
        extra: bool = True,
        draft: Any = None,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        builds = self.listTagged(ctx, tag, event, inherit, None, latest, package)
        ids = {b["id"] for b in builds}
        with self.lock:
            rpms = [
                {k: v for k, v in r.items() if k in _TAGGED_RPM_KEYS}
                for r in self.hub._rpms.values()
                if r["build_id"] in ids
                and (
                    arch is None
                    or r["arch"] == arch
                    or (isinstance(arch, list) and r["arch"] in arch)
                )
            ]
        return rpms, builds

    # -- tasks --------------------------------------------------------------------------

    def _new_task(
        self,
        owner: User,
        method: str,
        request: list[Any],
        priority: int = 20,
        label: str | None = None,
    ) -> Task:
        with self.lock:
            task = Task(
                id=self.hub._next_id("task"),
                method=method,
                request=request,
                owner=owner.id,
                priority=priority,
                label=label,
            )
            self.hub._tasks[task.id] = task
            self.hub._mark_write()  # a task is a row, not an event
            return task

    def _run_task(self, task: Task, work: Callable[[], Any]) -> None:
        """FREE → OPEN → CLOSED (result) or FAILED (the fault), unless cancelled."""
        with self.lock:
            if task.state != TASK_STATES["FREE"]:
                return
            task.state = TASK_STATES["OPEN"]
            task.host_id = 1
            task.start_ts = time.time()
        self.hub._task_changed(task, TASK_STATES["FREE"])
        try:
            result = work()
        except _Cancelled:
            return
        except Exception as exc:
            code = getattr(type(exc), "faultCode", 1)
            text = str(exc) if isinstance(exc, koji.GenericError) else f"{type(exc)}: {exc}"
            self._finish_task(task, TASK_STATES["FAILED"], None, Fault(code, text))
            return
        self._finish_task(task, TASK_STATES["CLOSED"], result, None)

    def _finish_task(self, task: Task, state: int, result: Any, fault: Fault | None) -> None:
        with self.lock:
            if task.finished:
                return
            old = task.state
            task.state = state
            task.result = result
            task.fault = fault
            task.completion_ts = time.time()
        self.hub._task_changed(task, old)

    def _task(self, task_id: Any) -> Task:
        with self.lock:
            task = self.hub._tasks.get(task_id) if isinstance(task_id, int) else None
        if task is None:
            raise koji.GenericError(f"No such task: {task_id}")
        return task

    def getTaskInfo(
        self, ctx: _Ctx, task_id: Any, request: bool = False, strict: bool = False
    ) -> Any:
        ids = task_id if isinstance(task_id, (list, tuple)) else [task_id]
        out = []
        with self.lock:
            for tid in ids:
                task = self.hub._tasks.get(tid)
                if task is None:
                    if strict:
                        raise koji.GenericError(f"No such task: {tid}")
                    out.append(None)
                else:
                    out.append(task.info(request))
        return out if isinstance(task_id, (list, tuple)) else out[0]

    def getTaskRequest(self, ctx: _Ctx, taskId: Any) -> list[Any]:
        return self._task(taskId).request

    def getTaskResult(self, ctx: _Ctx, taskId: Any, raise_fault: bool = True) -> Any:
        task = self._task(taskId)
        with self.lock:
            if task.state == TASK_STATES["CANCELED"]:
                raise koji.GenericError(f"Task {task.id} is canceled")
            if task.state not in (TASK_STATES["CLOSED"], TASK_STATES["FAILED"]):
                raise koji.GenericError(f"Task {task.id} is not finished")
            if task.fault is not None:
                if raise_fault:
                    raise task.fault
                return {"faultCode": task.fault.faultCode, "faultString": task.fault.faultString}
            return task.result

    def getTaskChildren(
        self, ctx: _Ctx, task_id: Any, request: bool = False, strict: bool = False
    ) -> list[dict[str, Any]]:
        with self.lock:
            return [t.info(request) for t in self.hub._tasks.values() if t.parent == task_id]

    def listTasks(self, ctx: _Ctx, opts: Any = None, queryOpts: Any = None) -> list[dict[str, Any]]:
        """A subset of the filters: method, state (list), owner, parent, id (list)."""
        opts = opts or {}
        if not isinstance(opts, dict):
            raise koji.ParameterError("listTasks(): opts must be a dict")
        with self.lock:
            out = []
            for t in self.hub._tasks.values():
                if "method" in opts and t.method != opts["method"]:
                    continue
                if "state" in opts and t.state not in opts["state"]:
                    continue
                if "owner" in opts and t.owner != opts["owner"]:
                    continue
                if "parent" in opts and t.parent != opts["parent"]:
                    continue
                if "id" in opts and t.id not in opts["id"]:
                    continue
                out.append(t.info(bool(opts.get("request"))))
            return out

    def cancelTask(self, ctx: _Ctx, task_id: Any, recurse: bool = True) -> None:
        """Task.cancel: only the owner (or an admin); a finished task stays as it was."""
        task = self._task(task_id)
        user = ctx.user
        if user is None or (task.owner != user.id and "admin" not in user.perms):
            raise koji.ActionNotAllowed("Cannot cancel task, not owner")
        with self.lock:
            if task.finished:
                return
            old = task.state
            task.cancelled.set()
            task.state = TASK_STATES["CANCELED"]
            task.completion_ts = time.time()
            self.hub._mark_write()
            for child in self.hub._tasks.values():
                if recurse and child.parent == task.id and not child.finished:
                    child.cancelled.set()
                    child.state = TASK_STATES["CANCELED"]
            for build in self.hub._builds.values():
                if build["task_id"] == task.id and build["state"] == BUILD_STATES["BUILDING"]:
                    build["state"] = BUILD_STATES["CANCELED"]
                    build["completion_ts"] = time.time()
                    build["completion_time"] = _ts_str(build["completion_ts"])
        self.hub._task_changed(task, old)

    def cancelBuild(self, ctx: _Ctx, buildID: Any, strict: bool = False) -> bool:
        build = self._build(buildID)
        if build["state"] != BUILD_STATES["BUILDING"]:
            if strict:
                raise koji.GenericError("Cannot cancel build, not in BUILDING state")
            return False
        if build["task_id"]:
            self.cancelTask(ctx, build["task_id"])
        else:
            self._finish_build(build, BUILD_STATES["CANCELED"])
        return True

    # -- the build task (kojid's job) ---------------------------------------------------

    def build(
        self,
        ctx: _Ctx,
        src: Any,
        target: Any,
        opts: Any = None,
        priority: Any = None,
        channel: Any = None,
    ) -> int:
        user = ctx.assert_login()
        if not isinstance(src, str):
            raise koji.ParameterError(f"Invalid type for value '{src}': str")
        opts = opts or {}
        if not isinstance(opts, dict):
            raise koji.ParameterError(f"Invalid type for opts: {type(opts)}")
        task_prio = koji.PRIO_DEFAULT
        if priority:
            if priority < 0 and not ctx.has_perm("admin"):
                raise koji.ActionNotAllowed("only admins may create high-priority tasks")
            task_prio += priority
        task = self._new_task(user, "build", [src, target, opts], priority=task_prio)

        def run() -> None:
            self._run_task(task, lambda: _Builder(self, task, user).run())

        self.hub._spawn(run, f"koji-task-{task.id}")
        return task.id

    # -- repositories -------------------------------------------------------------------

    def newRepo(
        self,
        ctx: _Ctx,
        tag: Any,
        event: Any = None,
        src: bool = False,
        debuginfo: bool = False,
        separate_src: bool = False,
    ) -> int:
        if not self.hub.allow_new_repo:
            raise koji.ActionNotAllowed("newRepo api call is disabled")
        if not ctx.has_perm("repo"):
            ctx.assert_perm("regen-repo")
        user = ctx.assert_login()
        t = self._tag(tag)
        assert t is not None
        task_opts: dict[str, Any] = {}
        if event is not None:
            task_opts["event"] = event
        if src:
            task_opts["src"] = True
        task = self._new_task(
            user, "newRepo", [t["name"], task_opts] if task_opts else [t["name"]], priority=15
        )

        def run() -> None:
            self._run_task(task, lambda: self._repo_task(task, t, event, bool(src)))

        self.hub._spawn(run, f"koji-task-{task.id}")
        return task.id

    def _repo_task(
        self, task: Task, tag: dict[str, Any], event: int | None, src: bool
    ) -> list[int]:
        """repo_init + createrepo per arch + repo_done, after ``repo_delay``: the repo's
        content is the tag's (inherited) latest builds at its create_event."""
        with self.lock:
            # repo_init: a new event unless one is given (the repo holds what was tagged
            # up to it)
            create_event = event if event is not None else self.hub._new_event()
            rid = self.hub._next_id("repo")
            now = time.time()
            repo = {
                "id": rid,
                "tag_id": tag["id"],
                "tag_name": tag["name"],
                "state": REPO_STATES["INIT"],
                "create_event": create_event,
                "create_ts": self.hub._events[create_event],
                "creation_time": _ts_str(now),
                "creation_ts": now,
                "state_time": _ts_str(now),
                "state_ts": now,
                "dist": False,
                "task_id": task.id,
                "begin_event": create_event,
                "end_event": None,
                "opts": {"src": src, "debuginfo": False, "separate_src": False},
                "custom_opts": {},
            }
            self.hub._repos[rid] = repo
            builds = self._tagged(tag["id"], create_event, inherit=True, latest=True)
            build_ids = {b["id"] for b in builds}
            rpms = [dict(r) for r in self.hub._rpms.values() if r["build_id"] in build_ids]
            build_by_id = {b["id"]: b for b in builds}
            groups = self._groups(tag["id"])
            arches = (tag["arches"] or "").split()
        _sleep(task, self.hub.repo_delay)
        repodir = self.hub.topdir / "repos" / tag["name"] / str(rid)
        _write_comps(repodir / "groups" / "comps.xml", groups)
        for arch in [*arches, *(["src"] if src else [])]:
            adir = repodir / arch
            adir.mkdir(parents=True, exist_ok=True)
            toplink = adir / "toplink"
            if not toplink.exists():
                toplink.symlink_to(os.path.relpath(self.hub.topdir, adir))
            wanted = ("src",) if arch == "src" else (arch, "noarch")
            lines = []
            for r in rpms:
                if r["arch"] in wanted:
                    b = build_by_id[r["build_id"]]
                    rel = (
                        f"toplink/packages/{b['name']}/{b['version']}/{b['release']}/"
                        f"{r['arch']}/{r['nvr']}.{r['arch']}.rpm"
                    )
                    lines.append(rel)
            (adir / "pkglist").write_text("".join(f"{line}\n" for line in sorted(lines)))
            argv = ["createrepo_c", "--quiet", "--pkglist", "pkglist", "--no-database"]
            if arch != "src":
                argv += ["--groupfile", "../groups/comps.xml"]
            _run(task, [*argv, "."], cwd=adir)
        with self.lock:
            if task.cancelled.is_set():
                repo["state"] = REPO_STATES["PROBLEM"]
                raise _Cancelled
            # older ready repos of the tag expire, as kojira would do
            for other in self.hub._repos.values():
                if (
                    other["tag_id"] == tag["id"]
                    and other["id"] != rid
                    and other["state"] == REPO_STATES["READY"]
                ):
                    other["state"] = REPO_STATES["EXPIRED"]
            repo["state"] = REPO_STATES["READY"]
            repo["state_ts"] = time.time()
            repo["state_time"] = _ts_str(repo["state_ts"])
        return [rid, create_event]

    # -- on-demand repos (koji 1.35+: repo.request / repo.checkRequest / repo.get) -------

    def repo_get(
        self, ctx: _Ctx, tag: Any, min_event: Any = None, at_event: Any = None, opts: Any = None
    ) -> dict[str, Any] | None:
        """repos.get_repo: the newest ready repo at ``at_event``, or not older than
        ``min_event``."""
        with self.lock:
            t = self._tag(tag)
            assert t is not None
            found = [
                r for r in self.hub._repos.values()
                if r["tag_id"] == t["id"] and r["state"] == REPO_STATES["READY"]
                and not r["dist"]
                and (at_event is None or r["create_event"] == at_event)
                and (min_event is None or r["create_event"] >= min_event)
            ]  # fmt: skip
            if not found:
                return None
            return self._repo_out(max(found, key=lambda r: r["create_event"]))

    def repo_request(
        self,
        ctx: _Ctx,
        tag: Any,
        min_event: Any = None,
        at_event: Any = None,
        opts: Any = None,
        priority: Any = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """repos.request_repo: a ready repo that fits, else a queued request (or the
        active one that already covers it). The hub's scheduler (kojira's work) starts a
        newRepo task for a new request at once; min_event defaults to the last event
        (the real default also allows a configured lag)."""
        user = ctx.assert_login()
        if at_event is not None and min_event is not None:
            raise koji.ParameterError("The min_event and at_event options conflict")
        if opts not in (None, {}):
            raise koji.GenericError(
                f"Repo options are not supported by the in-process hub: {opts!r}"
            )
        with self.lock:
            t = self._tag(tag)
            assert t is not None
            if min_event in (None, "last") and at_event is None:
                min_event = self.hub._event
            for ev in (min_event, at_event):
                if ev is not None and (not isinstance(ev, int) or ev not in self.hub._events):
                    raise koji.ParameterError(f"Invalid event: {ev}")
            prio = koji.PRIO_DEFAULT + int(priority or 0)
            if priority is not None and priority < 0 and not ctx.has_perm("admin"):
                raise koji.ActionNotAllowed("only admins may create high-priority requests")
            ret: dict[str, Any] = {"repo": None, "request": None, "duplicate": False}
            if not force:
                repo = self.repo_get(ctx, t["id"], min_event=min_event, at_event=at_event)
                if repo:
                    ret["repo"] = repo
                    return ret
            queue = self.hub._repo_queue
            for req in sorted(queue.values(), key=lambda r: r["id"]):
                if (
                    req["tag_id"] == t["id"]
                    and req["active"]
                    and (
                        req["at_event"] == at_event
                        if at_event is not None
                        else req["at_event"] is None and req["min_event"] >= min_event
                    )
                ):
                    ret.update(request=dict(req), duplicate=True)
                    return ret
            now = time.time()
            req = {
                "id": self.hub._next_id("repo_queue"),
                "owner": user.id,
                "owner_name": user.name,
                "priority": prio,
                "tag_id": t["id"],
                "tag_name": t["name"],
                "at_event": at_event,
                "min_event": min_event,
                "opts": {},
                "active": True,
                "task_id": None,
                "task_state": None,
                "repo_id": None,
                "tries": 0,
                "create_time": _ts_str(now),
                "create_ts": now,
                "update_time": _ts_str(now),
                "update_ts": now,
            }
            queue[req["id"]] = req
            task = self._new_task(user, "newRepo", [t["name"]], priority=15)
            req.update(task_id=task.id, task_state=task.state, tries=1)

        def run() -> None:
            self._run_task(task, lambda: self._repo_task(task, t, at_event, False))
            with self.lock:
                req.update(active=False, task_state=task.state, update_ts=time.time())
                if task.state == TASK_STATES["CLOSED"]:
                    req["repo_id"] = task.result[0]

        self.hub._spawn(run, f"koji-task-{task.id}")
        ret["request"] = dict(req)
        return ret

    def repo_checkRequest(self, ctx: _Ctx, req_id: Any) -> dict[str, Any]:
        with self.lock:
            req = self.hub._repo_queue.get(req_id)
            if req is None:
                raise koji.GenericError("No such request")
            ret: dict[str, Any] = {"repo": None, "request": dict(req)}
            if req["repo_id"]:
                ret["repo"] = self._repo_out(self.hub._repos[req["repo_id"]])
            elif req["task_id"]:
                ret["task"] = self.hub._tasks[req["task_id"]].info(False)
            return ret

    def _repo_out(self, repo: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(repo))

    def getRepo(
        self,
        ctx: _Ctx,
        tag: Any,
        state: Any = None,
        event: Any = None,
        dist: bool = False,
        min_event: Any = None,
    ) -> dict[str, Any] | None:
        """repos.old_get_repo: the newest repo of the tag in ``state`` (READY by
        default), no newer than ``event``, no older than ``min_event``."""
        with self.lock:
            t = self._tag_id(tag)
            if state is None:
                state = REPO_STATES["READY"]
            found = [
                r for r in self.hub._repos.values()
                if r["tag_id"] == t["id"] and r["state"] == state and r["dist"] == bool(dist)
                and (event is None or r["create_event"] <= event)
                and (min_event is None or r["create_event"] >= min_event)
            ]  # fmt: skip
            if not found:
                return None
            return self._repo_out(max(found, key=lambda r: (r["creation_ts"], r["id"])))

    def repoInfo(self, ctx: _Ctx, repo_id: Any, strict: bool = False) -> dict[str, Any] | None:
        with self.lock:
            repo = self.hub._repos.get(repo_id) if isinstance(repo_id, int) else None
            if repo is None:
                if strict:
                    raise koji.GenericError("query returned no rows")
                return None
            return self._repo_out(repo)

    def getBuildConfig(self, ctx: _Ctx, tag: Any, event: Any = None) -> dict[str, Any]:
        """The tag with extra merged along its inheritance (nearest wins)."""
        with self.lock:
            t = self._tag(tag)
            assert t is not None
            out = self._tag_out(t)
            # which ancestor gave the arches and each extra key (getBuildConfig 1.34+)
            inherited: dict[str, Any] = {"extra": {}, "arches": None}
            for tid in self._tag_chain(t["id"])[1:]:
                parent = self.hub._tags[tid]
                ref = {"id": parent["id"], "name": parent["name"]}
                if out["arches"] is None and parent["arches"] is not None:
                    out["arches"] = parent["arches"]
                    inherited["arches"] = ref
                for key, value in parent["extra"].items():
                    if key not in out["extra"]:
                        out["extra"][key] = json.loads(json.dumps(value))
                        inherited["extra"][key] = ref
            out["config_inheritance"] = inherited
            return out

    # -- uploads ------------------------------------------------------------------------

    def _raw_upload(self, ctx: _Ctx, query: str, body: bytes) -> dict[str, Any]:
        """handle_upload (the client's fastUpload): one chunk at an offset."""
        user = ctx.user
        if user is None:
            raise koji.ActionNotAllowed("you must be logged-in to upload a file")
        args = urllib.parse.parse_qs(query)
        name = args["filename"][0]
        path = args.get("filepath", [""])[0]
        verify = args.get("fileverify", [""])[0]
        overwrite = args.get("overwrite", [""])[0]
        offset = int(args.get("offset", ["0"])[0])
        fn = self.hub.work_path(path, name, create=True, user=user)
        if fn.is_symlink():
            raise koji.GenericError(f"destination is a symlink: {fn}")
        if fn.exists():
            if not fn.is_file():
                raise koji.GenericError(f"destination not a file: {fn}")
            if offset == 0 and not overwrite:
                raise koji.GenericError(f"upload path exists: {fn}")
        with self.lock, open(fn, "r+b" if fn.exists() else "w+b") as f:
            if offset == -1:
                offset = f.seek(0, 2)
            else:
                if overwrite:
                    f.truncate(offset)
                f.seek(offset)
            f.write(body)
        return {
            "size": len(body),
            "fileverify": verify,
            "offset": offset,
            "hexdigest": _digest(verify, body),
        }

    def checkUpload(
        self,
        ctx: _Ctx,
        path: Any,
        name: Any,
        verify: Any = None,
        tail: Any = None,
        volume: Any = None,
    ) -> dict[str, Any] | None:
        fn = self.hub.work_path(path, name, create=False, user=ctx.user)
        if not fn.exists():
            return None
        if not fn.is_file():
            raise koji.GenericError(f"Not a regular file: {fn}")
        data = fn.read_bytes()
        out: dict[str, Any] = {"size": len(data), "mtime": fn.stat().st_mtime}
        if verify:
            if tail is not None:
                data = data[max(len(data) - tail, 0) :]
            out["sumlength"] = len(data)
            out["hexdigest"] = _digest(verify, data)
        return out

    def uploadFile(
        self,
        ctx: _Ctx,
        path: Any,
        name: Any,
        size: Any,
        md5sum: Any,
        offset: Any,
        data: Any,
        volume: Any = None,
        checksum: Any = None,
    ) -> bool:
        """The base64 chunked upload (uploadWrapper without fast upload): a chunk whose
        size or digest does not match is refused (False), as the real hub does."""
        user = ctx.assert_login()
        contents = base64.b64decode(data)
        offset = koji.decode_int(offset)
        size = koji.decode_int(size)
        if checksum is None and md5sum is not None:
            checksum = md5sum
        if isinstance(checksum, str):
            verify, digest = "md5", checksum
        elif checksum is None:
            verify, digest = None, None
        else:
            verify, digest = checksum
        if offset != -1:
            if size is not None and size != len(contents):
                return False
            if verify is not None and digest != _digest(verify, contents):
                return False
        fn = self.hub.work_path(path, name, create=True, user=user)
        if fn.exists():
            if not fn.is_file():
                raise koji.GenericError(f"destination not a file: {fn}")
            if offset == 0 and not fn.name.endswith(".log"):
                raise koji.GenericError(f"file already exists: {fn}")
        with self.lock, open(fn, "r+b" if fn.exists() else "w+b") as f:
            if offset == 0 or (offset == -1 and size == len(contents)):
                f.truncate(0)
            if offset == -1:
                f.seek(0, 2)
            else:
                f.seek(offset)
            f.write(contents)
            if offset == -1:
                if size is not None:
                    f.truncate(size)
                if verify is not None:
                    f.seek(0)
                    if digest != _digest(verify, f.read()):
                        return False
        return True

    # -- content generators -------------------------------------------------------------

    def _assert_cg(self, ctx: _Ctx, cg: Any) -> dict[str, Any]:
        if cg not in self.hub._cgs:
            raise koji.GenericError(f"No such entry in table content_generator: {cg}")
        if ctx.user is None:
            raise koji.AuthError("Not logged-in")
        if ctx.user.name not in self.hub._cgs[cg]["users"]:
            raise koji.AuthError(f"Content generator access required ({cg})")
        return self.hub._cgs[cg]  # type: ignore[no-any-return]

    def CGInitBuild(self, ctx: _Ctx, cg: Any, data: Any) -> dict[str, Any]:
        self._assert_cg(ctx, cg)
        if not isinstance(data, dict):
            raise koji.ParameterError("CGInitBuild(): data must be a dict")
        user = ctx.assert_login()
        data = dict(data)
        data.setdefault("epoch", None)
        koji.check_NVR(data, strict=True)
        with self.lock:
            old = self._by_nvr(data["name"], data["version"], data["release"])
            if old is not None and old["id"] in self.hub._reservations:
                raise koji.GenericError("Build is already reserved")
        build = self._new_build(data, user, None, cg, BUILD_STATES["BUILDING"])
        with self.lock:
            if build["id"] in self.hub._reservations:
                raise koji.GenericError("Build is already reserved")
            token = secrets.token_hex(16)
            self.hub._reservations[build["id"]] = token
        return {"build_id": build["id"], "token": token}

    def CGRefundBuild(
        self, ctx: _Ctx, cg: Any, build_id: Any, token: Any, state: int = BUILD_STATES["FAILED"]
    ) -> None:
        if state not in (BUILD_STATES["FAILED"], BUILD_STATES["CANCELED"]):
            raise koji.GenericError("Only FAILED/CANCELED build states are allowed")
        self._assert_cg(ctx, cg)
        build = self._build(build_id)
        if build["state"] != BUILD_STATES["BUILDING"]:
            raise koji.GenericError(f"Build ID {build_id} is not in BUILDING state")
        if self.hub._reservations.get(build["id"]) != token:
            raise koji.GenericError(f"Token doesn't match build ID {build_id}")
        if build["cg_name"] != cg:
            raise koji.GenericError(f"Build ID {build_id} is not reserved by this CG")
        self._finish_build(build, state)
        self.hub._reservations.pop(build["id"], None)

    def CGImport(
        self, ctx: _Ctx, metadata: Any, directory: Any, token: Any = None
    ) -> dict[str, Any]:
        return _CGImport(self, ctx).run(metadata, directory, token)

    # -- build types, archives, logs ----------------------------------------------------

    def listBTypes(self, ctx: _Ctx, query: Any = None, queryOpts: Any = None) -> list[Any]:
        with self.lock:
            rows = [{"id": i + 1, "name": n} for i, n in enumerate(self.hub.btypes)]
        if isinstance(query, dict) and "name" in query:
            rows = [r for r in rows if r["name"] == query["name"]]
        return rows

    def addBType(self, ctx: _Ctx, name: Any) -> None:
        ctx.assert_perm("admin")
        _verify_name(name)
        with self.lock:
            if name in self.hub.btypes:
                raise koji.GenericError("btype already exists")
            self.hub.btypes.append(name)

    def getBuildType(self, ctx: _Ctx, buildInfo: Any, strict: bool = False) -> dict[str, Any]:
        """The build's typeinfo per btype (rpm builds: an empty dict)."""
        build = self._build(buildInfo, strict=strict)
        if build is None:
            return {}
        typeinfo = (build.get("extra") or {}).get("typeinfo") or {}
        return {b: json.loads(json.dumps(typeinfo.get(b) or {})) for b in build["_btypes"]}

    def listArchives(
        self,
        ctx: _Ctx,
        buildID: Any = None,
        buildrootID: Any = None,
        componentBuildrootID: Any = None,
        hostID: Any = None,
        type: Any = None,
        filename: Any = None,
        size: Any = None,
        checksum: Any = None,
        checksum_type: Any = None,
        typeInfo: Any = None,
        queryOpts: Any = None,
        imageID: Any = None,
        archiveID: Any = None,
        strict: bool = False,
    ) -> list[dict[str, Any]]:
        """The non-RPM outputs of content-generator builds (newest first)."""
        with self.lock:
            rows = [
                dict(a)
                for a in reversed(self.hub._archives)
                if (buildID is None or a["build_id"] == buildID)
                and (type is None or a["btype"] == type)
                and (filename is None or a["filename"] == filename)
            ]
        return rows

    def getBuildLogs(self, ctx: _Ctx, build: Any) -> list[dict[str, Any]]:
        """list_build_logs: every file under the build's data/logs (dir = its
        subfolder, "." for the top)."""
        b = self._build(build)
        logdir = self.hub.build_dir(b) / "data" / "logs"
        if not logdir.is_dir():
            return []
        rel = os.path.relpath(logdir, self.hub.topdir)
        out = []
        for dirpath, _dirs, files in os.walk(logdir):
            subdir = os.path.relpath(dirpath, logdir)
            for name in files:
                out.append({"name": name, "dir": subdir, "path": f"{rel}/{subdir}/{name}"})
        return out


class _Cancelled(Exception):
    """The task was cancelled while it ran."""


def _sleep(task: Task, seconds: float) -> None:
    if seconds > 0 and task.cancelled.wait(seconds):
        raise _Cancelled
    if task.cancelled.is_set():
        raise _Cancelled


def _run(task: Task, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command for a task; its output is the error's text when it fails."""
    if task.cancelled.is_set():
        raise _Cancelled
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    while True:
        try:
            out, _ = proc.communicate(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            if task.cancelled.is_set():
                proc.kill()
                proc.communicate()
                raise _Cancelled from None
    if proc.returncode != 0:
        raise koji.BuildError(f"{argv[0]} failed (exit {proc.returncode}): {out[-2000:]}")
    return out


def _digest(verify: str | None, data: bytes) -> str:
    """koji's get_verify_class: adler32 (as 8 hex digits), md5, sha256."""
    if not verify:
        return ""
    if verify == "adler32":
        return f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"
    if verify in ("md5", "sha1", "sha256"):
        return hashlib.new(verify, data).hexdigest()
    raise koji.GenericError(f"Unsupported verify type: {verify}")


def _rpm_header(path: Path) -> dict[str, Any]:
    """The header fields the hub records, read with rpm's own query."""
    qf = (
        "%{NAME}\\n%{VERSION}\\n%{RELEASE}\\n%{EPOCH}\\n%{ARCH}\\n%{SOURCEPACKAGE}\\n"
        "%{SIGMD5}\\n%{BUILDTIME}\\n%{SOURCERPM}\\n"
    )
    out = subprocess.run(
        ["rpm", "-qp", "--nosignature", "--nodigest", "--qf", qf, str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    name, version, release, epoch, arch, is_src, sigmd5, buildtime, sourcerpm = out[:9]
    if is_src == "1":
        arch = "src"
    src_name = koji.parse_NVRA(sourcerpm)["name"] if sourcerpm not in ("", "(none)") else name
    return {
        "name": name,
        "version": version,
        "release": release,
        "epoch": None if epoch == "(none)" else int(epoch),
        "arch": arch,
        "payloadhash": sigmd5,
        "buildtime": int(buildtime),
        "sourcerpm_name": src_name,
    }


def _write_comps(path: Path, groups: dict[str, dict[str, Any]]) -> None:
    """The tag's groups as comps.xml, as the repo's ``groups/comps.xml``."""
    root = ET.Element("comps")
    for group in groups.values():
        if group["blocked"]:
            continue
        g = ET.SubElement(root, "group")
        ET.SubElement(g, "id").text = group["name"]
        ET.SubElement(g, "name").text = group["display_name"] or group["name"]
        ET.SubElement(g, "description").text = group["description"] or ""
        ET.SubElement(g, "default").text = "true" if group["is_default"] else "false"
        ET.SubElement(g, "uservisible").text = "true" if group["uservisible"] else "false"
        plist = ET.SubElement(g, "packagelist")
        for pkg in group["packagelist"]:
            if pkg["blocked"]:
                continue
            req = ET.SubElement(plist, "packagereq", type=pkg["type"] or "mandatory")
            req.text = pkg["package"]
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


@dataclass
class _Scm:
    repo: str
    commit: str
    subdir: str


def _parse_scm(src: str) -> _Scm:
    """``git+file:///path?#commit`` (koji's SCM URL form, with the file scheme tests
    need) or the project's ``file:///path?#commit``; a module path in the query
    (``?module/path``) names a subfolder."""
    split = urllib.parse.urlsplit(src)
    if split.scheme not in ("git+file", "file") or split.netloc not in ("", "localhost"):
        raise koji.BuildError(
            f"Invalid SCM URL: {src} (the in-process hub builds from git+file:// or file:// "
            "URLs only)"
        )
    if not split.fragment:
        raise koji.BuildError(f"Invalid SCM URL: {src} (no #commit)")
    path = urllib.parse.unquote(split.path)
    if not os.path.isdir(path):
        raise koji.BuildError(f"Invalid SCM URL: {src} (no repository at {path})")
    return _Scm(repo=path, commit=split.fragment, subdir=split.query.strip("/"))


class _Builder:
    """kojid's build task, on this machine: SCM checkout → SRPM → RPMs → import."""

    def __init__(self, api: _Api, task: Task, user: User) -> None:
        self.api = api
        self.hub = api.hub
        self.task = task
        self.user = user

    def run(self) -> Any:
        src, target_name, opts = self.task.request
        api = self.api
        with api.lock:
            target = api.getBuildTarget(_Ctx(None, None, False), target_name)
            if target is None:
                raise koji.GenericError(f"No such build target: {target_name}")
            build_tag = api._tag(target["build_tag"])
            dest_tag = api._tag(target["dest_tag"])
            assert build_tag is not None and dest_tag is not None
            config = api.getBuildConfig(_Ctx(None, None, False), build_tag["id"])
        self.task.label = None
        if not src.startswith(("git+file:", "file:")):
            raise koji.BuildError(
                f"Invalid SCM URL: {src} (SRPM uploads are not built by the in-process hub)"
            )
        if not any(p in self.user.perms for p in self.hub.build_from_scm_perms):
            raise koji.ActionNotAllowed(
                "policy violation (build_from_scm): only "
                f"{'/'.join(self.hub.build_from_scm_perms)} can build from SCM"
            )
        scm = _parse_scm(src)
        arches = (config["arches"] or "").split()
        if not arches:
            raise koji.BuildError(f"No arches for tag {build_tag['name']} [{build_tag['id']}]")
        _sleep(self.task, self.hub.build_delay)
        work = self.hub.topdir / "work" / "tasks" / str(self.task.id % 10000) / str(self.task.id)
        work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            return self._build(Path(tmp), scm, config, dest_tag, opts)

    def _build(
        self,
        tmp: Path,
        scm: _Scm,
        config: dict[str, Any],
        dest_tag: dict[str, Any],
        opts: dict[str, Any],
    ) -> Any:
        checkout = tmp / "checkout"
        _run(
            self.task,
            ["git", "clone", "--quiet", "--no-checkout", scm.repo, str(checkout)],
            cwd=tmp,
        )
        _run(
            self.task,
            ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", scm.commit],
            cwd=checkout,
        )
        srcdir = checkout / scm.subdir if scm.subdir else checkout
        specs = sorted(srcdir.glob("*.spec"))
        if len(specs) != 1:
            raise koji.BuildError(
                f"No spec file found in {scm.subdir or '.'} of the checkout"
                if not specs
                else f"Multiple spec files found: {specs}"
            )
        macros: list[str] = []
        for key, value in sorted(config["extra"].items()):
            if key.startswith("rpm.macro."):
                macros += ["--define", f"{key[len('rpm.macro.') :]} {value}"]
        topdir = tmp / "rpmbuild"
        base = [
            "rpmbuild",
            "--nodeps",
            "--define",
            f"_topdir {topdir}",
            "--define",
            f"_sourcedir {srcdir}",
            "--define",
            f"_srcrpmdir {tmp / 'srpm'}",
            "--define",
            f"_rpmdir {tmp / 'rpms'}",
            *macros,
        ]
        env = {**os.environ, "LC_ALL": "C"}
        _run(self.task, [*base, "-bs", str(specs[0])], cwd=tmp, env=env)
        srpms = sorted((tmp / "srpm").glob("*.src.rpm"))
        if len(srpms) != 1:
            raise koji.BuildError(f"rpmbuild -bs made {len(srpms)} SRPMs")
        hdr = _rpm_header(srpms[0])
        pkg_entry = self.api._pkg_entry(
            dest_tag["id"], self.api._package_id(hdr["name"], create=True) or 0
        )
        if (
            not opts.get("skip_tag")
            and not opts.get("scratch")
            and (pkg_entry is None or pkg_entry["blocked"])
        ):
            raise koji.BuildError(f"package {hdr['name']} not in list for tag {dest_tag['name']}")
        build = self.api._new_build(
            {
                "name": hdr["name"],
                "version": hdr["version"],
                "release": hdr["release"],
                "epoch": hdr["epoch"],
                "source": f"{scm.repo}#{scm.commit}",
                "extra": {"source": {"original_url": self.task.request[0]}},
            },
            self.user,
            self.task.id,
            None,
            BUILD_STATES["BUILDING"],
        )
        try:
            _run(self.task, [*base, "--rebuild", str(srpms[0])], cwd=tmp, env=env)
            rpms = sorted((tmp / "rpms").rglob("*.rpm"))
            self.api._import_rpm(build, srpms[0], None)
            for rpm in rpms:
                self.api._import_rpm(build, rpm, None)
            logs = self.hub.build_dir(build) / "data" / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            (logs / "build.log").write_text(f"built {build['nvr']} from {self.task.request[0]}\n")
        except BaseException:
            with self.api.lock:
                if build["state"] == BUILD_STATES["BUILDING"]:
                    state = "CANCELED" if self.task.cancelled.is_set() else "FAILED"
                    self.api._finish_build(build, BUILD_STATES[state])
            raise
        with self.api.lock:
            if self.task.cancelled.is_set():
                raise _Cancelled
            self.api._finish_build(build, BUILD_STATES["COMPLETE"])
        if not opts.get("skip_tag") and not opts.get("scratch"):
            self.api._direct_tag(dest_tag, build, self.user, force=False)
        return None


class _CGImport:
    """CG_Importer.do_import, metadata version 0: the content generator's access, the
    reservation token, buildroots used by outputs, every output uploaded with its
    declared size and checksum; RPMs and other files land in the build's folder."""

    def __init__(self, api: _Api, ctx: _Ctx) -> None:
        self.api = api
        self.ctx = ctx
        self.hub = api.hub

    def run(self, metadata: Any, directory: Any, token: Any) -> dict[str, Any]:
        user = self.ctx.assert_login()
        if not isinstance(directory, str):
            raise koji.ParameterError(f"Invalid type for directory: {type(directory)}")
        md = self._metadata(metadata, directory)
        if md.get("metadata_version") != 0:
            raise koji.GenericError(f"No such metadata version: {md.get('metadata_version')!r}")
        for key in ("build", "buildroots", "output"):
            if key not in md:
                raise koji.GenericError(f"CGImport: metadata has no '{key}'")
        cg = self._cg(md)
        binfo = md["build"]
        for key in ("name", "version", "release", "start_time", "end_time"):
            if key not in binfo:
                raise koji.GenericError(f"CGImport: build has no '{key}'")
        btypes = set(binfo.get("extra", {}).get("typeinfo", {}))
        for legacy in ("maven", "win", "image"):
            if legacy in binfo.get("extra", {}):
                btypes.add(legacy)
        for btype in btypes:
            if btype not in self.hub.btypes:
                raise koji.GenericError(f"No such entry in table btype: {btype}")
        build = self._reserved(md, cg, token)
        brs = self._buildroots(md)
        outputs = self._outputs(md, directory, brs, btypes)
        with self.api.lock:
            if build is None:
                build = self.api._new_build(
                    binfo, user, binfo.get("task_id"), cg, BUILD_STATES["BUILDING"]
                )
            if self.hub.build_dir(build).exists():
                raise koji.GenericError(
                    f"Destination directory already exists: {self.hub.build_dir(build)}"
                )
            build["extra"] = binfo.get("extra")
            build["source"] = binfo.get("source")
            build["_btypes"] = sorted(btypes)
        br_id = self.hub._next_id("buildroot")  # the real import records the buildroot
        for out, path in outputs:
            if out["type"] == "rpm":
                self.api._import_rpm(build, path, br_id, dict(out.get("extra") or {}))
            elif out["type"] == "log":
                dest = self.hub.build_dir(build) / "data" / "logs" / out.get("subdir", "")
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest / out["filename"])
            else:
                btype = next(iter(out.get("extra", {}).get("typeinfo", {})), None)
                dest = self.hub.build_dir(build) / "files" / str(btype) / out.get("subdir", "")
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest / out["filename"])
                with self.api.lock:
                    self.hub._archives.append(
                        {
                            "id": self.hub._next_id("archive"),
                            "build_id": build["id"],
                            "buildroot_id": br_id,
                            "btype": btype,
                            "btype_id": self.hub.btypes.index(str(btype)) + 1,
                            "filename": out["filename"],
                            "size": out["filesize"],
                            "checksum": out["checksum"],
                            "checksum_type": koji.CHECKSUM_TYPES[out["checksum_type"]],
                            "extra": json.loads(json.dumps(out.get("extra") or {})),
                            "metadata_only": False,
                            "compression_type": None,
                        }
                    )
        metadir = self.hub.build_dir(build) / "data"
        metadir.mkdir(parents=True, exist_ok=True)
        (metadir / "metadata.json").write_text(json.dumps(md, indent=2))
        with self.api.lock:
            self.hub._reservations.pop(build["id"], None)
            if any(o["type"] == "rpm" for o, _ in outputs) and "rpm" not in build["_btypes"]:
                build["_btypes"].append("rpm")
            self.api._finish_build(build, BUILD_STATES["COMPLETE"])
            return self.api._build_out(build)

    def _metadata(self, metadata: Any, directory: str) -> dict[str, Any]:
        if isinstance(metadata, dict):
            return metadata
        if metadata is None:
            metadata = "metadata.json"
        if not isinstance(metadata, str):
            raise koji.ParameterError(f"Invalid type for metadata: {type(metadata)}")
        if metadata.endswith(".json"):
            path = self.hub.work_path(directory, metadata, create=False, user=None)
            if not path.exists():
                raise koji.GenericError(f"No such file: {metadata}")
            metadata = path.read_text(encoding="utf-8")
        try:
            md = json.loads(metadata)
        except ValueError as exc:
            raise koji.GenericError(f"Invalid metadata: {exc}") from None
        if not isinstance(md, dict):
            raise koji.GenericError("Invalid metadata: not an object")
        return md

    def _cg(self, md: dict[str, Any]) -> str:
        cg = None
        for br in md["buildroots"]:
            name = br.get("content_generator", {}).get("name")
            if name not in self.hub._cgs:
                raise koji.GenericError(f"No such entry in table content_generator: {name}")
            if cg is not None and cg != name:
                raise koji.GenericError("Koji now support only one content-generator per import")
            cg = name
        if cg is None:
            raise koji.GenericError("CGImport: no buildroots, so no content generator")
        self.api._assert_cg(self.ctx, cg)
        return cg

    def _reserved(self, md: dict[str, Any], cg: str, token: Any) -> dict[str, Any] | None:
        binfo = md["build"]
        if binfo.get("build_id"):
            build = self.api._build(binfo["build_id"])
            if self.hub._reservations.get(build["id"]) != token or token is None:
                raise koji.GenericError(f"Token doesn't match build ID {build['id']}")
            if build["cg_name"] != cg:
                raise koji.GenericError(f"Build ID {build['id']} is not reserved by this CG")
            if build["state"] != BUILD_STATES["BUILDING"]:
                raise koji.GenericError(f"Build ID {build['id']} is not in BUILDING state")
            if (build["name"], build["version"], build["release"]) != (
                binfo["name"],
                binfo["version"],
                binfo["release"],
            ):
                raise koji.GenericError(f"Build ({build['id']}) NVR is different")
            return build
        if token is not None:
            raise koji.GenericError("Reservation token given, but no build_id in metadata")
        old = self.api._by_nvr(binfo["name"], binfo["version"], binfo["release"])
        if old is not None and old["state"] not in (
            BUILD_STATES["FAILED"],
            BUILD_STATES["CANCELED"],
        ):
            raise koji.GenericError(f"Build already exists: {old['nvr']} (id={old['id']})")
        return None

    def _buildroots(self, md: dict[str, Any]) -> set[Any]:
        used = {o.get("buildroot_id") for o in md["output"]}
        seen: set[Any] = set()
        for br in md["buildroots"]:
            for key in ("id", "host", "content_generator", "container", "tools", "components"):
                if key not in br:
                    # the real importer reads br[key]: a KeyError, fault code 1
                    raise Fault(1, f"<class 'KeyError'>: '{key}'")
            if br["id"] not in used:
                raise koji.GenericError(f"Buildroot id not used in output: {br['id']!r}")
            if br["id"] in seen:
                raise koji.GenericError(f"Duplicate buildroot id in metadata: {br['id']!r}")
            seen.add(br["id"])
        return seen

    def _outputs(
        self, md: dict[str, Any], directory: str, brs: set[Any], btypes: set[str]
    ) -> list[tuple[dict[str, Any], Path]]:
        out = []
        for o in md["output"]:
            for key in (
                "buildroot_id",
                "filename",
                "filesize",
                "arch",
                "checksum",
                "checksum_type",
                "type",
            ):
                if key not in o:
                    raise koji.GenericError(f"CGImport: output has no '{key}'")
            path = self.hub.work_path(
                f"{directory}/{o.get('relpath', '')}".rstrip("/"),
                o["filename"],
                create=False,
                user=None,
            )
            if not path.is_file():
                # the real importer opens it: a FileNotFoundError, fault code 1
                raise Fault(
                    1,
                    f"<class 'FileNotFoundError'>: [Errno 2] No such file or directory: '{path}'",
                )
            size = path.stat().st_size
            if size != o["filesize"]:
                raise koji.GenericError(
                    f"File size {size} for {o['filename']} (expected {o['filesize']}) "
                    "doesn't match. Corrupted upload?"
                )
            actual = _digest(o["checksum_type"], path.read_bytes())
            if actual != o["checksum"]:
                raise koji.GenericError(
                    f"File checksum mismatch for {o['filename']}: {o['checksum']} != {actual}"
                )
            if o["buildroot_id"] not in brs:
                raise koji.GenericError(f"Missing buildroot metadata for id {o['buildroot_id']!r}")
            if o["type"] == "rpm":
                if o.get("subdir"):
                    raise koji.GenericError("subdir field not allowed for rpm outputs")
                koji.check_NVRA(o["filename"], strict=True)
            elif o["type"] != "log":
                typeinfo = o.get("extra", {}).get("typeinfo", {})
                if not typeinfo:
                    raise koji.GenericError(f"No typeinfo for: {o['filename']}")
                btype = next(iter(typeinfo))
                if btype not in btypes:
                    raise koji.GenericError(f"Output type {btype} not listed in build types")
            out.append((o, path))
        return out


def client(case: Any, url: str, opts: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """A ``koji.ClientSession`` whose HTTP connections close when the test ends: an open
    one is a ResourceWarning, which is an error once ``buildbot.test`` is imported (as it
    is when the whole suite runs in one process)."""
    import koji

    session = koji.ClientSession(url, opts, **kwargs)
    case.addCleanup(_close_session, session)
    return session


def _close_session(session: Any) -> None:
    if session.rsession is not None:
        session.rsession.close()


@contextlib.contextmanager
def koji_upload() -> Any:
    """Around ``fastUpload``/``uploadWrapper``: koji 1.36's ``fastUpload`` never closes the
    file it reads (a ResourceWarning when it is collected); collect it here, quietly."""
    import gc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield
        gc.collect()
