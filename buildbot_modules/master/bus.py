"""The message bus (fedora-messaging over AMQP, issue #8).

``BusConsumer`` consumes ``<prefix>.git.receive`` — one message per pushed commit, the body
Fedora's dist-git publishes — and turns each push to ``modules/`` or ``rpms/`` of this
site's dist-git into the same Buildbot change the dist-git poller makes (project =
repository, branch, category ``module``/``rpm``, revision, repository = local path), with
the pushing account as the change property ``pushed_by``. A push is built once: the
heads the poller has seen (its state in the master's database) are the record of what has
been turned into a change; the consumer checks and updates that record under a lock the
poller's polls also take, so a push the poller saw first is not built again by its message,
nor the other way round, and a repeated message is ignored.

``BusPublisher`` publishes ``<prefix>.bbmod.module.state.change`` on every module build
state change (``Registry.state_listeners``), the body being the module build as MBS's JSON
(``bbmod_messages.ModuleStateChangeV1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bbmod_messages import MODULE_STATES, GitReceiveV1, ModuleStateChangeV1
from buildbot.util import service
from buildbot.util.state import StateMixin
from fedora_messaging.config import BindingConfig, QueueConfig
from fedora_messaging.message import Message
from fedora_messaging.twisted.service import FedoraMessagingServiceV2
from twisted.internet import defer, reactor, threads
from twisted.python import log
from twisted.python.failure import Failure

from ..registry.model import ModuleBuildRecord
from .changes import NAMESPACES
from .site import ModuleSite

EXCHANGE = "amq.topic"  # fedora-messaging's default publish exchange
GIT_RECEIVE = "git.receive"
STATE_CHANGE = ModuleStateChangeV1.topic  # "bbmod.module.state.change"
POLLER_NAME = "bbmod-distgit"


@dataclass(frozen=True)
class Push:
    """One pushed commit, from a git.receive message."""

    namespace: str
    repo: str
    branch: str
    rev: str
    pushed_by: str | None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.namespace, self.repo, self.branch, self.rev)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.repo} {self.branch} {self.rev[:8]}"


def parse_git_receive(body: Any) -> Push | None:
    """The push a git.receive body describes; None (logged) when the body is invalid or
    names a namespace this site does not build (only ``modules`` and ``rpms``)."""
    try:
        GitReceiveV1(body=body).validate()
    except Exception as e:  # jsonschema's ValidationError
        log.msg(f"bbmod bus: invalid git.receive message ignored: {getattr(e, 'message', e)}")
        return None
    commit = body["commit"]
    if commit["namespace"] not in NAMESPACES:
        log.msg(f"bbmod bus: git.receive for namespace {commit['namespace']!r} ignored")
        return None
    return Push(
        namespace=commit["namespace"],
        repo=commit["repo"],
        branch=commit["branch"],
        rev=commit["rev"],
        pushed_by=commit.get("agent") or commit.get("username") or None,
    )


def _iso(value: datetime | None) -> str | None:
    # MBS's format: UTC, seconds, a trailing Z.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def module_build_json(
    record: ModuleBuildRecord, *, base_url: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """A module build as MBS's JSON (the body of its ``module.state.change``)."""
    terminal = record.state in ("done", "failed", "ready", "garbage")
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "stream": record.stream,
        "version": str(record.version),
        "context": record.context,
        "nsvc": record.nsvc,
        "state": MODULE_STATES[record.state],
        "state_name": record.state,
        "state_reason": record.state_reason,
        "owner": record.owner,
        "scmurl": record.scmurl,
        "scratch": record.scratch,
        "buildrequires": dict(record.buildrequires),
        "time_submitted": _iso(record.submitted_at),
        "time_modified": _iso(now or datetime.now(UTC)),
        "time_completed": _iso(record.finished_at) if terminal else None,
    }
    if base_url:
        body["url"] = f"{base_url}module-build-service/1/module-builds/{record.id}"
    return body


def _log_failure(failure: Failure | BaseException, why: str) -> None:
    value = failure.value if isinstance(failure, Failure) else failure
    if not isinstance(value, defer.CancelledError):  # cancelled: the service stopped
        log.err(failure, why)  # type: ignore[no-untyped-call]


def _fm_service(amqp_url: str) -> FedoraMessagingServiceV2:
    return FedoraMessagingServiceV2(amqp_url)


class _Bus(service.BuildbotService):  # type: ignore[misc]
    """A fedora-messaging connection that lives as long as this service."""

    fm: FedoraMessagingServiceV2 | None = None

    def checkConfig(self, site: ModuleSite, amqp_url: str, topic_prefix: str, **kw: Any) -> None:
        if not amqp_url.startswith(("amqp://", "amqps://")):
            from buildbot import config

            config.error(f"{self.name}: amqp_url must be an amqp:// or amqps:// URL")

    @defer.inlineCallbacks
    def reconfigService(self, site: ModuleSite, amqp_url: str, topic_prefix: str, **kw: Any) -> Any:
        self.site = site
        self.topic_prefix = topic_prefix.rstrip(".")
        changed = getattr(self, "amqp_url", None) not in (None, amqp_url)
        self.amqp_url = amqp_url
        self.options = kw
        if changed and self.running:
            yield self.disconnect()
            yield self.connect()

    @defer.inlineCallbacks
    def startService(self) -> Any:
        yield super().startService()
        yield self.connect()

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        yield self.disconnect()
        yield super().stopService()

    def connect(self) -> Any:
        self.fm = _fm_service(self.amqp_url)
        self.fm.startService()  # type: ignore[no-untyped-call]
        return defer.succeed(None)

    @defer.inlineCallbacks
    def disconnect(self) -> Any:
        fm = getattr(self, "fm", None)
        if fm is not None:
            self.fm = None
            yield fm.stopService()


class _Consumer(_Bus):
    """A bus service that consumes ``self.topic`` from queue ``self.queue``: durable for
    pushes (none may be lost while the master is down), a private one that goes with the
    connection otherwise (``durable = False``)."""

    durable = True

    @defer.inlineCallbacks
    def connect(self) -> Any:
        yield super().connect()
        self._consumers: list[Any] = []
        self.consuming = self._start_consuming()
        self.consuming.addErrback(_log_failure, f"bbmod bus: cannot consume {self.topic}")

    @defer.inlineCallbacks
    def _start_consuming(self) -> Any:
        fm = self.fm
        assert fm is not None
        durable = self.durable
        queues: dict[str, QueueConfig] = {
            self.queue: {
                "durable": durable,
                "auto_delete": not durable,
                "exclusive": not durable,
                "arguments": {},
            }
        }
        bindings: list[BindingConfig] = [
            {"exchange": EXCHANGE, "queue": self.queue, "routing_keys": [self.topic]}
        ]
        consumers = yield fm.factory.consume(self._on_message, bindings, queues)
        if self.fm is fm:
            self._consumers = consumers
            log.msg(f"bbmod bus: consuming {self.topic} from queue {self.queue}")
        return consumers

    @defer.inlineCallbacks
    def disconnect(self) -> Any:
        consuming = getattr(self, "consuming", None)
        if consuming is not None and not consuming.called:
            consuming.cancel()
        fm = getattr(self, "fm", None)
        if fm is not None and getattr(self, "_consumers", None):
            yield fm.factory.cancel(self._consumers)
        self._consumers = []
        yield super().disconnect()

    def _on_message(self, message: Message) -> None:
        raise NotImplementedError


class BusConsumer(_Consumer, StateMixin):  # type: ignore[misc]
    """git.receive messages → changes, like the dist-git poller's (see the module doc)."""

    name = "bbmod-bus-consumer"

    def checkConfig(  # type: ignore[override]
        self,
        site: ModuleSite,
        amqp_url: str,
        topic_prefix: str,
        queue: str = "buildbot-modules",
        poller: str = POLLER_NAME,
    ) -> None:
        super().checkConfig(site, amqp_url, topic_prefix)

    def reconfigService(  # type: ignore[override]
        self,
        site: ModuleSite,
        amqp_url: str,
        topic_prefix: str,
        queue: str = "buildbot-modules",
        poller: str = POLLER_NAME,
    ) -> Any:
        self.queue = queue
        self.poller_name = poller
        self.outcomes: list[tuple[Push, str]] = []  # the last ones, for tests and logs
        return super().reconfigService(site, amqp_url, topic_prefix)

    @property
    def topic(self) -> str:
        return f"{self.topic_prefix}.{GIT_RECEIVE}"

    def _on_message(self, message: Message) -> None:
        """fedora-messaging calls this in a thread, one message at a time; the message is
        acknowledged when it returns (after its change is in the database)."""
        push = parse_git_receive(message.body)
        if push is None:
            return
        threads.blockingCallFromThread(  # type: ignore[no-untyped-call]
            reactor, lambda: defer.Deferred.fromCoroutine(self.handle(push))
        )

    async def handle(self, push: Push) -> str:
        """Turn one push into a change unless it is unknown here or already built; returns
        what happened (``change``, ``duplicate``, ``unknown``)."""
        try:
            outcome = await self._handle(push)
        except Exception as e:  # a message never stops the consumer
            _log_failure(e, f"bbmod bus: git.receive {push}")
            outcome = f"error: {e}"
        self.outcomes = [*self.outcomes[-99:], (push, outcome)]
        log.msg(f"bbmod bus: git.receive {push} by {push.pushed_by}: {outcome}")
        return outcome

    async def _handle(self, push: Push) -> str:
        """The webhooks' mechanism (hooks.record_push): the same checks, the same record
        of pushes already turned into changes, under the same lock as the poller."""
        from . import hooks

        outcome = await hooks.record_push(
            self.master,
            self.site,
            hooks.Push(push.namespace, push.repo, push.branch, push.rev, push.pushed_by, ""),
            self.poller_name,
        )
        return "change" if outcome.startswith("change ") else outcome


class BusPublisher(_Bus):
    """Every module build state change → ``<prefix>.bbmod.module.state.change``."""

    name = "bbmod-bus-publisher"

    def checkConfig(  # type: ignore[override]
        self, site: ModuleSite, amqp_url: str, topic_prefix: str, base_url: str = ""
    ) -> None:
        super().checkConfig(site, amqp_url, topic_prefix)

    def reconfigService(  # type: ignore[override]
        self, site: ModuleSite, amqp_url: str, topic_prefix: str, base_url: str = ""
    ) -> Any:
        old = getattr(self, "site", None)
        if old is not None and old is not site and self.running:
            self._unlisten(old)
            site.registry.state_listeners.append(self._on_state)
        self.base_url = base_url
        return super().reconfigService(site, amqp_url, topic_prefix)

    @property
    def topic(self) -> str:
        return f"{self.topic_prefix}.{STATE_CHANGE}"

    @defer.inlineCallbacks
    def startService(self) -> Any:
        self._pending: set[defer.Deferred[Any]] = set()
        yield super().startService()
        self.site.registry.state_listeners.append(self._on_state)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        self._unlisten(self.site)
        for d in list(self._pending):
            d.cancel()
        yield super().stopService()

    def _unlisten(self, site: ModuleSite) -> None:
        if self._on_state in site.registry.state_listeners:
            site.registry.state_listeners.remove(self._on_state)

    def _on_state(self, record: ModuleBuildRecord) -> None:
        """Registry listener: any thread, right after the change is committed."""
        body = module_build_json(record, base_url=self.base_url)
        reactor.callFromThread(self.publish, body)  # type: ignore[attr-defined]

    def publish(self, body: dict[str, Any]) -> defer.Deferred[Any] | None:
        """Publish one module build JSON (on the reactor thread); waits for the broker."""
        if self.fm is None:
            return None
        message = ModuleStateChangeV1(topic=self.topic, body=body)
        message.validate()
        d: defer.Deferred[Any] = self.fm.factory.publish(message, EXCHANGE)
        self._pending.add(d)

        def done(result: Any) -> Any:
            self._pending.discard(d)
            return result

        d.addBoth(done)
        d.addErrback(_log_failure, f"bbmod bus: cannot publish {message.summary}")
        return d


def bus_services(site: ModuleSite, settings: Any, poller: str = POLLER_NAME) -> list[Any]:
    """The bus services a site's settings ask for (none without ``amqp_url``)."""
    s = settings
    out: list[Any] = []
    if not s.amqp_url:
        return out
    if s.bus_consume:
        out.append(BusConsumer(site, s.amqp_url, s.bus_topic_prefix, s.bus_queue, poller))
    if s.bus_publish:
        out.append(BusPublisher(site, s.amqp_url, s.bus_topic_prefix, s.url))
    if s.backend == "koji":  # Koji's task-state messages wake the task pollers
        from ..koji.bus import KojiTaskConsumer

        prefix = s.koji_bus_prefix or s.bus_topic_prefix
        out.append(KojiTaskConsumer(site, s.amqp_url, prefix, s.bus_queue))
    return out
