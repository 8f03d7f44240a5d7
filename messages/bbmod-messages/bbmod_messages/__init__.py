"""fedora-messaging schemas of buildbot-modules.

``GitReceiveV1``: a push to dist-git, one message per commit, with the body Fedora's
dist-git publishes on ``org.fedoraproject.prod.git.receive``. ``ModuleStateChangeV1``: a
module build changed state; the body is the module build as MBS's JSON (MBS publishes the
same on ``…mbs.module.state.change``).
"""

from __future__ import annotations

from typing import Any

from fedora_messaging.message import Message

__all__ = [
    "GIT_RECEIVE_SCHEMA",
    "MODULE_STATES",
    "MODULE_STATE_CHANGE_SCHEMA",
    "GitReceiveV1",
    "ModuleStateChangeV1",
]

SCHEMA_URL = "https://buildbot-modules.invalid/message-schema/"

# MBS's module build states, name -> code.
MODULE_STATES = {
    "init": 0,
    "wait": 1,
    "build": 2,
    "done": 3,
    "failed": 4,
    "ready": 5,
    "garbage": 6,
}

_SHA = "^[0-9a-f]{40}([0-9a-f]{24})?$"  # SHA-1, or SHA-256 repositories

GIT_RECEIVE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "id": SCHEMA_URL + "git.receive.v1.json",
    "description": "A commit pushed to a dist-git branch (one message per commit)",
    "type": "object",
    "required": ["commit"],
    "properties": {
        "commit": {
            "type": "object",
            "required": ["repo", "namespace", "branch", "rev"],
            "properties": {
                "repo": {"type": "string", "minLength": 1},
                "namespace": {"type": "string"},
                "branch": {"type": "string", "minLength": 1},
                "rev": {"type": "string", "pattern": _SHA},
                # The account that pushed (Fedora: the FAS user of the push).
                "agent": {"type": ["string", "null"]},
                # The commit author's account, when dist-git knows it.
                "username": {"type": ["string", "null"]},
                "name": {"type": ["string", "null"]},
                "email": {"type": ["string", "null"]},
                "summary": {"type": ["string", "null"]},
                "message": {"type": ["string", "null"]},
                "path": {"type": ["string", "null"]},
                "seen": {"type": ["boolean", "null"]},
                "stats": {"type": ["object", "null"]},
            },
        }
    },
}

_TIME = {"type": ["string", "null"], "format": "date-time"}

MODULE_STATE_CHANGE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "id": SCHEMA_URL + "module.state.change.v1.json",
    "description": "A module build changed state; the body is the module build (MBS JSON)",
    "type": "object",
    "required": [
        "id",
        "name",
        "stream",
        "version",
        "context",
        "state",
        "state_name",
        "state_reason",
        "owner",
        "scmurl",
        "time_submitted",
        "time_modified",
        "time_completed",
    ],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "minLength": 1},
        "stream": {"type": "string", "minLength": 1},
        # MBS sends the version as a string of digits.
        "version": {"type": "string", "pattern": "^[0-9]+$"},
        "context": {"type": "string", "minLength": 1},
        "state": {"type": "integer", "enum": sorted(MODULE_STATES.values())},
        "state_name": {"type": "string", "enum": list(MODULE_STATES)},
        "state_reason": {"type": ["string", "null"]},
        "owner": {"type": "string"},
        "scmurl": {"type": "string"},
        "scratch": {"type": "boolean"},
        "nsvc": {"type": "string"},
        "buildrequires": {"type": "object"},
        "time_submitted": _TIME,
        "time_modified": _TIME,
        "time_completed": _TIME,
        "url": {"type": ["string", "null"]},
    },
}


class GitReceiveV1(Message):
    """A commit pushed to a dist-git branch."""

    topic = "git.receive"
    body_schema = GIT_RECEIVE_SCHEMA

    @property
    def _commit(self) -> dict[str, Any]:
        commit: dict[str, Any] = self.body.get("commit", {})
        return commit

    @property
    def app_name(self) -> str:
        return "dist-git"

    @property
    def agent_name(self) -> str | None:
        c = self._commit
        return c.get("agent") or c.get("username")

    @property
    def usernames(self) -> list[str]:
        c = self._commit
        return sorted({u for u in (c.get("agent"), c.get("username")) if u})

    @property
    def packages(self) -> list[str]:
        c = self._commit
        return [c["repo"]] if c.get("namespace") == "rpms" else []

    @property
    def modules(self) -> list[str]:
        c = self._commit
        return [c["repo"]] if c.get("namespace") == "modules" else []

    @property
    def summary(self) -> str:
        c = self._commit
        who = self.agent_name or "someone"
        return (
            f"{who} pushed to {c.get('namespace')}/{c.get('repo')} "
            f"({c.get('branch')}) {str(c.get('rev', ''))[:8]}"
        )

    def __str__(self) -> str:
        c = self._commit
        return f"{self.summary}\n\n{c.get('message') or c.get('summary') or ''}".rstrip()


class ModuleStateChangeV1(Message):
    """A module build changed state."""

    topic = "bbmod.module.state.change"
    body_schema = MODULE_STATE_CHANGE_SCHEMA

    @property
    def app_name(self) -> str:
        return "buildbot-modules"

    @property
    def agent_name(self) -> str | None:
        owner: str | None = self.body.get("owner") or None
        return owner

    @property
    def usernames(self) -> list[str]:
        return [self.body["owner"]] if self.body.get("owner") else []

    @property
    def modules(self) -> list[str]:
        return [self.body["name"]] if self.body.get("name") else []

    @property
    def url(self) -> str | None:
        url: str | None = self.body.get("url")
        return url

    @property
    def nsvc(self) -> str:
        b = self.body
        return f"{b.get('name')}:{b.get('stream')}:{b.get('version')}:{b.get('context')}"

    @property
    def summary(self) -> str:
        b = self.body
        reason = f" ({b['state_reason']})" if b.get("state_reason") else ""
        return f"module build {b.get('id')} {self.nsvc} is {b.get('state_name')}{reason}"

    def __str__(self) -> str:
        return self.summary
