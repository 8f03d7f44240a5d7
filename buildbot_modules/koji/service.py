"""The site's Koji: one client, the repository coalescer, and waiting on Koji tasks —
the Twisted side of ``client.py`` (every call runs in a thread).

Repository regeneration (``newRepo``) costs a minute or more on a real hub, so it is
COALESCED per build tag: a component whose dependencies are tagged needs a repository
created after that tagging (Koji's event ids order both). If the tag's current repo is
new enough it goes on at once; if a ``newRepo`` requested after that tagging is pending
it waits for that one; only otherwise it requests a new one — which every component that
becomes ready while it is pending then shares. Three components released together cost
one regeneration, not three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import koji
from twisted.internet import defer, reactor

from ..master.threads import in_thread
from .client import KojiClient, KojiError, client_from_settings
from .naming import build_tag, module_tag, target_name

if TYPE_CHECKING:
    from ..master.site import ModuleSite

FINAL_TASK_STATES = ("CLOSED", "FAILED", "CANCELED")


class Waker:
    """An interruptible sleep: ``await waker.sleep(s)``; ``waker.wake()`` ends it now."""

    def __init__(self) -> None:
        self.stopped = False
        self._current: defer.Deferred[None] | None = None
        self._sleep: defer.Deferred[None] | None = None
        self._poked = False

    async def sleep(self, seconds: float) -> None:
        if self.stopped:
            return
        if self._poked:  # news came while we were not sleeping: look again at once
            self._poked = False
            return
        d: defer.Deferred[None] = defer.Deferred()
        call = reactor.callLater(seconds, d.callback, None)  # type: ignore[attr-defined]
        self._current = self._sleep = d
        try:
            await d
        finally:
            self._current = self._sleep = None
            if call.active():
                call.cancel()

    def poke(self) -> None:
        """End the current ``sleep`` now without stopping (a message said the task
        changed); when not sleeping, the next ``sleep`` returns at once."""
        if self._sleep is not None and not self._sleep.called:
            self._sleep.callback(None)
        else:
            self._poked = True

    async def until(self, d: defer.Deferred[Any]) -> Any:
        """``d``'s result, or ``None`` as soon as ``wake()`` is called (a stopped build
        must not wait for a repository that a busy hub may take many minutes to make)."""
        if self.stopped:
            return None
        out: defer.Deferred[Any] = defer.Deferred()

        def fire(result: Any) -> None:
            if not out.called:
                out.callback(result)

        def fail(failure: Any) -> None:
            if not out.called:
                out.errback(failure)

        d.addCallbacks(fire, fail)
        self._current = out
        try:
            return await out
        finally:
            self._current = None

    def wake(self) -> None:
        self.stopped = True
        if self._current is not None and not self._current.called:
            self._current.callback(None)


@dataclass
class RepoRequest:
    tag: str
    event: int  # Koji's last event when it was requested: it covers tagging up to here
    task_id: int
    listeners: list[defer.Deferred[dict[str, Any]]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: Exception | None = None

    def wait(self) -> defer.Deferred[dict[str, Any]]:
        d: defer.Deferred[dict[str, Any]] = defer.Deferred()
        if self.result is not None:
            d.callback(self.result)
        elif self.error is not None:
            d.errback(self.error)
        else:
            self.listeners.append(d)
        return d


class RepoCoalescer:
    """One shared ``newRepo`` per build tag for every component that became ready since
    the last one (see the module docstring)."""

    def __init__(self, service: KojiService) -> None:
        self.service = service
        self._pending: dict[str, list[RepoRequest]] = {}
        self._locks: dict[str, defer.DeferredLock] = {}
        self._events: dict[tuple[str, str], int] = {}
        #: every request made: (build tag, event, task id), for the logs and the tests
        self.requested: list[tuple[str, int, int]] = []

    def tagged(self, tag: str, component: str, event: int) -> None:
        """``component``'s build was tagged into ``tag`` at Koji event ``event``."""
        self._events[(tag, component)] = event

    async def need_event(self, tag: str, deps: list[str]) -> int:
        """The Koji event a repo must be newer than to hold ``deps``' builds: their tagging
        events when this master tagged them, else (resumed builds) Koji's last event."""
        known = [self._events.get((tag, d)) for d in deps]
        if all(e is not None for e in known):
            return max((e for e in known if e is not None), default=0)
        last = await self.service.call("getLastEvent")
        return int(last["id"])

    async def ensure(self, tag: str, need: int, waker: Waker) -> tuple[dict[str, Any] | None, str]:
        """A ready repo of ``tag`` created at or after event ``need``, and how it was had:
        "current", "shared" (a pending request) or "requested"; ``None`` when ``waker``
        was woken first (the build was stopped; the request stays for the others)."""
        lock = self._locks.setdefault(tag, defer.DeferredLock())
        await lock.acquire()
        try:
            repo = await self.service.call("getRepo", tag)
            if repo and repo["create_event"] >= need:
                return repo, "current"
            pending = [r for r in self._pending.get(tag, []) if r.event >= need]
            if pending:
                request, how = pending[0], "shared"
            else:
                request, how = await self._request(tag), "requested"
        finally:
            lock.release()
        return await waker.until(request.wait()), how

    async def _request(self, tag: str) -> RepoRequest:
        event = int((await self.service.call("getLastEvent"))["id"])
        task_id = int(await self.service.call("newRepo", tag))
        request = RepoRequest(tag, event, task_id)
        self._pending.setdefault(tag, []).append(request)
        self.requested.append((tag, event, task_id))
        d = defer.ensureDeferred(self._follow(request))
        d.addErrback(lambda f: None)
        return request

    async def _follow(self, request: RepoRequest) -> None:
        try:
            info = await self.service.wait_task(request.task_id, Waker())
            state = koji.TASK_STATES[info["state"]]
            if state != "CLOSED":
                raise KojiError(
                    f"Koji newRepo for {request.tag} (task {request.task_id}) ended {state}",
                    hint="look at the task in Koji; the components waiting for it failed",
                )
            repo_id, _event = await self.service.call("getTaskResult", request.task_id)
            request.result = await self.service.call("repoInfo", repo_id, strict=True)
        except Exception as e:
            request.error = e
        finally:
            self._pending[request.tag].remove(request)
        for d in request.listeners:
            if request.result is not None:
                d.callback(request.result)
            else:
                assert request.error is not None
                d.errback(request.error)


class KojiService:
    """The site's Koji hub: settings, client, coalescer (one per configuration)."""

    def __init__(self, site: ModuleSite, client: KojiClient | None = None) -> None:
        self.site = site
        self.settings = site.settings
        self.client = client or client_from_settings(site.settings)
        self.repos = RepoCoalescer(self)
        self._password_read = False
        self._waiting: dict[int, set[Waker]] = {}  # task id -> who waits for it
        #: task-state messages seen (task id, new state, waiters woken), the last 100
        self.messages: list[tuple[int, str, int]] = []

    async def login_secret(self, build: Any) -> None:
        """Read the password from its Buildbot secret (once); rendering it through the
        build also hides it from every log."""
        s = self.settings
        if s.koji_auth != "password" or self._password_read:
            return
        from buildbot.process.properties import Secret

        password = await build.render(Secret(s.koji_password_secret))
        self.client.set_password(str(password))
        self._password_read = True

    def call(self, method: str, *args: Any, **kwargs: Any) -> defer.Deferred[Any]:
        return in_thread(self.client.call, method, *args, **kwargs)

    async def wait_task(self, task_id: int, waker: Waker) -> dict[str, Any]:
        """Poll ``task_id`` every ``koji_poll_interval`` s until it ends (or ``waker`` is
        woken: then its last state). A task-state message (``task_changed``, from the
        bus) makes the next look happen at once; polling alone always finishes, so no
        lost message can leave a build hanging."""
        self._waiting.setdefault(task_id, set()).add(waker)
        try:
            while True:
                info: dict[str, Any] = await self.call("getTaskInfo", task_id, strict=True)
                if koji.TASK_STATES[info["state"]] in FINAL_TASK_STATES or waker.stopped:
                    return info
                await waker.sleep(self.settings.koji_poll_interval)
        finally:
            waiting = self._waiting.get(task_id, set())
            waiting.discard(waker)
            if not waiting:
                self._waiting.pop(task_id, None)

    def task_changed(self, task_id: int, state: str) -> int:
        """A message said Koji task ``task_id`` is now ``state``: whoever waits for it
        looks now (the hub stays the authority: the message only ends the sleep).
        Returns how many waiters were woken (reactor thread)."""
        waiters = list(self._waiting.get(task_id, ()))
        for waker in waiters:
            waker.poke()
        self.messages = [*self.messages[-99:], (task_id, state, len(waiters))]
        return len(waiters)

    def names(self, module: str, stream: str, version: int | str, context: str) -> Names:
        prefix = self.settings.koji_tag_prefix
        tag = module_tag(prefix, module, stream, version, context)
        return Names(tag, build_tag(tag), target_name(prefix, module, stream, version, context))


@dataclass(frozen=True)
class Names:
    tag: str
    build_tag: str
    target: str


def task_url(settings: Any, task_id: int) -> str:
    """The task's page in Koji's web UI, or "" without ``koji_weburl``."""
    base = str(settings.koji_weburl).rstrip("/")
    return f"{base}/taskinfo?taskID={task_id}" if base else ""
