"""Watching dist-git: every repository under ``modules/`` and ``rpms/``, every branch.

Each poll lists the repositories (so ones created later are found without a reconfig)
and their branch heads, compares them with the heads it saw last (kept in the master's
database, so a restart neither loses nor repeats a push) and turns each moved head into
one Buildbot change: project = repository name, branch = stream (or the rpm branch),
category ``module`` or ``rpm``. Webhooks and the message bus (issue #8) feed the same
scheduler with the same kind of change.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from buildbot.changes.base import ReconfigurablePollingChangeSource
from buildbot.util.state import StateMixin
from twisted.internet import defer

from ..distgit import DistGit
from .threads import in_thread

NAMESPACES = {"modules": "module", "rpms": "rpm"}


class DistGitPoller(ReconfigurablePollingChangeSource, StateMixin):  # type: ignore[misc]
    compare_attrs: ClassVar[tuple[str, ...]] = (
        *ReconfigurablePollingChangeSource.compare_attrs,
        "root",
    )

    def checkConfig(
        self, root: str, name: str | None = None, pollInterval: int = 10, **kwargs: Any
    ) -> None:
        super().checkConfig(name=name or f"distgit:{root}", pollInterval=pollInterval, **kwargs)

    @defer.inlineCallbacks
    def reconfigService(
        self, root: str, name: str | None = None, pollInterval: int = 10, **kwargs: Any
    ) -> Any:
        self.root = root
        self._distgit: DistGit | None = None
        kwargs.setdefault("pollAtLaunch", True)
        yield super().reconfigService(
            name=name or f"distgit:{root}", pollInterval=pollInterval, **kwargs
        )

    def distgit(self) -> DistGit:
        if self._distgit is None:
            self._distgit = DistGit(self.root)
        return self._distgit

    def describe(self) -> str:
        return f"DistGitPoller watching {self.root}"

    def _scan(self) -> dict[str, dict[str, str]]:
        heads: dict[str, dict[str, str]] = {}
        if not os.path.isdir(os.path.join(self.root, "modules")):
            return heads  # not created yet: nothing to build
        for namespace in NAMESPACES:
            for name in self.distgit().repositories(namespace):
                heads[f"{namespace}/{name}"] = self.distgit().heads(namespace, name)
        return heads

    def _describe(
        self, namespace: str, name: str, old: str | None, new: str
    ) -> tuple[Any, list[str]]:
        info = self.distgit().commit_info(namespace, name, new)
        return info, self.distgit().changed_files(namespace, name, old, new)

    @defer.inlineCallbacks
    def poll(self) -> Any:
        seen: dict[str, dict[str, str]] = yield self.getState("heads", {})
        current = yield in_thread(self._scan)
        for key in sorted(current):
            namespace, name = key.split("/", 1)
            for branch, commit in sorted(current[key].items()):
                old = seen.get(key, {}).get(branch)
                if old == commit:
                    continue
                info, files = yield in_thread(self._describe, namespace, name, old, commit)
                yield self.master.data.updates.addChange(
                    author=info.author,
                    committer=info.author,
                    revision=commit,
                    files=files,
                    comments=info.message,
                    when_timestamp=info.timestamp,
                    branch=branch,
                    category=NAMESPACES[namespace],
                    project=name,
                    repository=self.distgit().path(namespace, name),
                    codebase="",
                    src="bbmod-distgit",
                )
                seen.setdefault(key, {})[branch] = commit
                # Saved after every change: a restart resumes exactly here.
                yield self.setState("heads", seen)
