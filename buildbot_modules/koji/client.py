"""The Koji hub, called from any thread.

koji's ``ClientSession`` is blocking and must not be used by two threads at once, so
:class:`KojiClient` keeps one session per thread (``threading.local``); Twisted code
calls it through ``threads.in_thread`` (``await in_thread(client.call, "getTag", t)``).

Retries: a connection that fails is tried again with exponential backoff — any call
whose request never reached the hub (connection refused, connect timeout), and read-only
calls (``get…``, ``list…``) whatever the transport error. A write whose request may have
reached the hub before the connection dropped is not repeated blindly (it could create a
second task): it fails, saying so. A Koji fault (the hub answered "no") is never retried,
except an expired session, which logs in again once. koji's own retry loop is turned
off (``max_retries = 0``) so there is one policy, this one; koji still resends a call
once on a broken keep-alive connection with the same call number, which a real hub
refuses to run twice (``RetryError``).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

import koji
import requests

from ..core.problems import ModuleError

log = logging.getLogger(__name__)

# Calls that change nothing: safe to send again after any transport error.
_READ_PREFIXES = ("get", "list", "query", "has", "check", "search", "repoInfo", "echo")


def is_read_only(method: str) -> bool:
    return method.startswith(_READ_PREFIXES) and method != "getNextRelease"


def _never_sent(error: BaseException) -> bool:
    """Whether a transport error happened before the hub could have read the request."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        text = repr(error.args[0] if error.args else error)
        return "NewConnectionError" in text or "Connection refused" in text
    return isinstance(error, ConnectionRefusedError)


def _transport_error(error: BaseException) -> bool:
    return isinstance(error, requests.exceptions.RequestException | OSError) and not isinstance(
        error, koji.GenericError
    )


class KojiError(ModuleError):
    """A Koji call that failed: which call, the hub's answer, and what to do."""


class KojiClient:
    """Calls to one hub with one login policy; one ``ClientSession`` per thread."""

    def __init__(
        self,
        hub: str,
        auth: str = "anonymous",
        user: str = "",
        password: str | Callable[[], str] = "",
        cert: str = "",
        serverca: str = "",
        keytab: str = "",
        principal: str = "",
        retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 120.0,
    ) -> None:
        self.hub = hub
        self.auth = auth
        self.user = user
        self._password = password
        self.cert, self.serverca = cert, serverca
        self.keytab, self.principal = keytab, principal
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[koji.ClientSession] = []  # every thread's, to close at stop
        self.sleep = time.sleep  # tests may shorten the waits

    # -- sessions ----------------------------------------------------------------------

    def _new_session(self) -> koji.ClientSession:
        opts: dict[str, Any] = {
            "max_retries": 0,  # our policy (below), not koji's fixed-interval loop
            "anon_retry": False,
            "timeout": self.timeout,
        }
        if self.serverca:
            opts["serverca"] = self.serverca
        if self.auth == "password":
            opts["user"] = self.user
            opts["password"] = self.password()
        return koji.ClientSession(self.hub, opts)

    def password(self) -> str:
        value = self._password() if callable(self._password) else self._password
        if not value:
            raise KojiError(
                f"Koji password login as {self.user!r}: no password",
                hint="koji_password_secret names a Buildbot secret; put the password in that"
                " file of secrets_dir",
            )
        return value

    def set_password(self, password: str) -> None:
        """The password, once read from its Buildbot secret (sessions log in with it)."""
        with self._lock:
            self._password = password

    def session(self, login: bool) -> koji.ClientSession:
        """This thread's session: anonymous, or logged in (login happens here, once)."""
        key = "authed" if login else "anon"
        current: koji.ClientSession | None = getattr(self._local, key, None)
        if current is None:
            current = self._new_session()
            setattr(self._local, key, current)
            with self._lock:
                self._sessions.append(current)
        if login and not current.logged_in:
            self._login(current)
        return current

    def close(self) -> None:
        """Close every thread's HTTP connections (the master stops); sessions reopen them
        if used again."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            if session.rsession is not None:
                session.rsession.close()

    def _login(self, session: koji.ClientSession) -> None:
        how = {
            "password": lambda: session.login(),
            "ssl": lambda: session.ssl_login(self.cert, None, self.serverca or None),
            "gssapi": lambda: session.gssapi_login(
                principal=self.principal or None, keytab=self.keytab or None
            ),
        }.get(self.auth)
        if how is None:
            raise KojiError(
                f"Koji: this call needs a login and koji_auth is {self.auth!r}",
                hint="use koji_auth 'password', 'ssl' or 'gssapi' for anything that writes",
            )
        try:
            self._with_retries("login", lambda: how(), read_only=True)
        except koji.GenericError as e:
            raise KojiError(
                f"Koji login ({self.auth}) at {self.hub} refused: {e}",
                hint="check koji_user and its secret, the certificate or the keytab",
            ) from None

    # -- calls -------------------------------------------------------------------------

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``method`` on the hub, logged in unless it is read-only."""
        return self._call(method, not is_read_only(method), args, kwargs)

    def read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A read-only ``method`` on an anonymous session (no login at all)."""
        return self._call(method, False, args, kwargs)

    def _call(self, method: str, login: bool, args: Any, kwargs: Any) -> Any:
        relogged = False
        while True:
            session = self.session(login)
            try:
                send = functools.partial(getattr(session, method), *args, **kwargs)
                return self._with_retries(method, send, read_only=is_read_only(method))
            except koji.AuthError as e:
                # The hub forgot our session (restarted, expired): log in once more.
                if not login or relogged or isinstance(e, koji.GSSAPIAuthError):
                    raise KojiError(
                        f"Koji {method}: {e}", hint="check the Koji account's login"
                    ) from None
                relogged = True
                session.setSession(None)
            except koji.ActionNotAllowed as e:
                who = self.user or self.principal or "this account"
                raise KojiError(
                    f"Koji {method}: not allowed: {e}",
                    hint=f"grant {who} the permission in Koji (docs/koji.md lists them)",
                ) from None
            except koji.GenericError as e:
                raise KojiError(f"Koji {method}: {e}") from None
            except xmlrpc.client.Fault as e:
                # A fault koji has no class for: the hub itself failed (a Python error in
                # it, fault code 1), e.g. CGImport of a file that was never uploaded.
                raise KojiError(
                    f"Koji {method}: the hub failed: {e.faultString}",
                    hint="the hub's log (httpd error_log) has the traceback",
                ) from None

    def _with_retries(self, method: str, send: Callable[[], Any], read_only: bool) -> Any:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return send()
            except koji.GenericError:
                raise
            except Exception as e:
                if not _transport_error(e):
                    raise
                if not (read_only or _never_sent(e)):
                    raise KojiError(
                        f"Koji {method}: the connection to {self.hub} broke after the call"
                        f" was sent ({type(e).__name__}); it may or may not have happened",
                        hint="look in Koji whether it did; the module build can be resubmitted",
                    ) from None
                if attempt == self.retries:
                    raise KojiError(
                        f"Koji {method}: {self.hub} unreachable after {attempt + 1} attempts:"
                        f" {type(e).__name__}",
                        hint="is the hub up and koji_hub right?",
                    ) from None
                log.info("Koji %s failed (%s); again in %.1f s", method, e, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("not reached")

    def upload(self, path: str, server_dir: str, name: str | None = None) -> None:
        """Upload a file into the hub's work area (content-generator imports), in chunks
        (``rawUpload`` at an offset: sending one again is safe), then verified with
        ``checkUpload``. Not koji's ``fastUpload``, which leaves the file open."""
        import koji.util

        name = name or os.path.basename(path)
        session = self.session(True)
        whole = koji.util.adler32_constructor()
        offset = 0
        try:
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk and offset:
                        break
                    send = functools.partial(
                        session.rawUpload, chunk, offset, server_dir, name, overwrite=True
                    )
                    result = self._with_retries("rawUpload", send, read_only=True)
                    if result["hexdigest"] != koji.util.adler32_constructor(chunk).hexdigest():
                        raise KojiError(f"Koji upload of {path}: chunk at {offset} corrupted")
                    whole.update(chunk)
                    offset += len(chunk)
                    if not chunk:
                        break
            check = functools.partial(session.checkUpload, server_dir, name, verify="adler32")
            done = self._with_retries("checkUpload", check, read_only=True)
        except (koji.GenericError, xmlrpc.client.Fault) as e:
            raise KojiError(f"Koji upload of {path}: {e}") from None
        if not done or done["size"] != offset or done["hexdigest"] != whole.hexdigest():
            raise KojiError(f"Koji upload of {path}: the hub has {done}, not {offset} bytes")

    def user_name(self) -> str:
        """The logged-in account's Koji user name (package list owner)."""
        info = self._call("getLoggedInUser", True, (), {})
        return str(info["name"]) if info else self.user


def client_from_settings(settings: Any, password: str | Callable[[], str] = "") -> KojiClient:
    s = settings
    return KojiClient(
        s.koji_hub,
        auth=s.koji_auth,
        user=s.koji_user,
        password=password,
        cert=s.path(s.koji_cert) if s.koji_cert else "",
        serverca=s.path(s.koji_serverca) if s.koji_serverca else "",
        keytab=s.path(s.koji_keytab) if s.koji_keytab else "",
        principal=s.koji_principal,
    )
