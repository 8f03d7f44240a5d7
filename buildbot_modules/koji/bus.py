"""Koji's task-state messages on the message bus (#8): a finished task is noticed at once.

A hub with Fedora's ``koji-fedoramessaging`` plugin publishes
``<prefix>.buildsys.task.state.change`` for every task state change, the body being the
plugin's: ``id`` (the task), ``attribute`` (``"state"``), ``old`` and ``new`` (state
names: ``FREE``, ``OPEN``, ``CLOSED``, ``CANCELED``, ``FAILED``…), ``method``, ``owner``,
``info`` (the task's ``getTaskInfo``). (koji's own ``protonmsg`` plugin sends the same
``attribute``/``old``/``new``/``info`` over AMQP 1.0 as ``task.<new state>``; a site
bridging it to this topic works as well: the id is read from ``info`` when the body has
none.)

``KojiTaskConsumer`` binds a private queue (exclusive, deleted with the connection:
a message only matters to the master waiting right now) and hands each message to
``KojiService.task_changed``, which ends the sleep of whoever polls that task, so the
next ``getTaskInfo`` happens at once. The hub stays the authority — the message only
wakes the poller — and polling every ``koji_poll_interval`` stays the fallback, so a
lost message costs at most one interval.
"""

from __future__ import annotations

import uuid
from typing import Any

from fedora_messaging.message import Message
from twisted.internet import reactor

from ..master.bus import _Consumer
from ..master.site import ModuleSite

TASK_STATE_CHANGE = "buildsys.task.state.change"


def parse_task_state(body: Any) -> tuple[int, str] | None:
    """(task id, new state name) of a task-state message; None when it is about
    something else (another attribute) or not understood."""
    if not isinstance(body, dict) or body.get("attribute", "state") != "state":
        return None
    info = body.get("info")
    if not isinstance(info, dict):
        info = {}
    task_id = body.get("id", info.get("id"))
    new = body.get("new")
    if isinstance(task_id, bool) or not isinstance(task_id, int) or not isinstance(new, str):
        return None
    return task_id, new


class KojiTaskConsumer(_Consumer):
    """``<prefix>.buildsys.task.state.change`` → ``site.koji.task_changed``."""

    name = "bbmod-koji-bus"
    durable = False  # a private queue: task states matter only while this master runs

    def reconfigService(  # type: ignore[override]
        self, site: ModuleSite, amqp_url: str, topic_prefix: str, queue: str = "buildbot-modules"
    ) -> Any:
        # One queue per connection, never shared: each master wakes its own waiters.
        self.queue = f"{queue}-koji-{uuid.uuid4().hex[:12]}"
        return super().reconfigService(site, amqp_url, topic_prefix)

    def checkConfig(  # type: ignore[override]
        self, site: ModuleSite, amqp_url: str, topic_prefix: str, queue: str = "buildbot-modules"
    ) -> None:
        super().checkConfig(site, amqp_url, topic_prefix)

    @property
    def topic(self) -> str:
        return f"{self.topic_prefix}.{TASK_STATE_CHANGE}"

    def _on_message(self, message: Message) -> None:
        """fedora-messaging calls this in a thread; waking is quick and happens on the
        reactor, so the message is acknowledged at once."""
        parsed = parse_task_state(message.body)
        if parsed is not None:
            reactor.callFromThread(self._wake, *parsed)  # type: ignore[attr-defined]

    def _wake(self, task_id: int, state: str) -> None:
        if self.site.settings.uses_koji:
            self.site.koji.task_changed(task_id, state)
