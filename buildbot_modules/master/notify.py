"""Owners are told when their module build fails or is held by a gate (issue #8).

Buildbot's own mail machinery does the sending: :class:`ModuleMailNotifier` is a
:class:`buildbot.reporters.mail.MailNotifier` (Twisted's non-blocking ESMTP client, the
SMTP user and password rendered as Buildbot secrets) fed by one report generator,
:class:`ModuleEventGenerator`. When a module build (builder ``modules``) finishes, the
generator reads the registry for the module builds it made and turns each into at most
one event:

- ``failed`` — the registry build is *failed*: the reason, the failed components (with
  their build logs) and what was not built because of them;
- ``held`` — the build is *done* and the ``stage`` decision is unsatisfied: it is held at
  stage (other modules cannot build on it); the unsatisfied requirements, each with its
  result's note;
- ``not-promoted`` — the build is *ready* but the ``production`` decision is unsatisfied
  (off by default: the build is usable, only production waits).

Setting ``notify`` picks the kinds. Each event is one e-mail to the stream's owners
(:meth:`Registry.owners`: explicit owners, else the authors of its builds); a user name
becomes ``<name>@<mail_domain>``, an owner with an ``@`` is used as it is. A build that
was cancelled, the ``module-actions`` builder's re-runs of the gates, and a definition
that fails before a module build exists in the registry send nothing. Sending happens
after the build has finished: a mail that cannot be sent is logged and changes nothing.

Secrets (``secrets_dir``): Buildbot's :class:`SecretInAFile` provider serves every file of
that folder as a secret named after the file, for ``util.Secret("name")`` in
``master.cfg`` and for settings that name a secret (``smtp_password_secret``). Buildbot
replaces a rendered secret's value with ``<name>`` in every step log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from buildbot import util as bbutil
from buildbot.interfaces import IReportGenerator
from buildbot.process.properties import Secret
from buildbot.process.results import CANCELLED
from buildbot.reporters.mail import MailNotifier
from buildbot.reporters.utils import getURLForBuild
from buildbot.secrets.providers.file import SecretInAFile
from buildbot.util.service import BuildbotService
from twisted.internet import defer
from twisted.python import log
from zope.interface import implementer  # type: ignore[import-untyped]

from ..registry.model import ModuleBuildRecord
from .threads import in_thread

if TYPE_CHECKING:
    from .settings import Settings
    from .site import ModuleSite

EVENTS = ("failed", "held", "not-promoted")
SUBJECTS = {
    "failed": "failed",
    "held": "held at stage",
    "not-promoted": "not promoted to production",
}
MODULE_BUILDER_PROPERTY = "nsvcs"  # set by "resolve dependencies" on module builds only

logger = logging.getLogger(__name__)


def mail_address(owner: str, domain: str) -> str:
    """An owner's address: a user name becomes ``name@domain``; an owner with an ``@``
    (an address, or a commit author ``Name <address>``) is used as it is."""
    owner = owner.strip()
    return owner if "@" in owner else f"{owner}@{domain}"


def parse_relay(relay: str) -> tuple[str, int]:
    """``host:port`` (or ``host``, port 25) → ``(host, port)``; ValueError if wrong."""
    host, sep, port = relay.strip().rpartition(":")
    if not sep:
        host, port = relay.strip(), "25"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"smtp_relay {relay!r}: use host:port, e.g. 'localhost:25'")
    return host, int(port)


@dataclass
class ModuleEvent:
    """One thing the owners of a module stream are told about."""

    kind: str  # one of EVENTS
    record: ModuleBuildRecord
    owners: list[str]
    reason: str
    details: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return f"[bbmod] {self.record.nsvc} {SUBJECTS[self.kind]}"

    def body(self) -> str:
        r = self.record
        lines = [f"{r.nsvc} {SUBJECTS[self.kind]}.", "", f"Reason: {self.reason}"]
        if self.details:
            lines += ["", *self.details]
        lines += [""]
        width = max((len(label) for label, _ in self.links), default=0) + 1
        lines += [f"{(label + ':').ljust(width)} {url}" for label, url in self.links]
        lines += [
            "",
            f"You receive this because you own the module stream {r.name}:{r.stream} "
            f"({', '.join(self.owners)}).",
        ]
        return "\n".join(lines) + "\n"


def module_events(
    site: ModuleSite, nsvcs: list[str], since: datetime | None, build_url: str
) -> list[ModuleEvent]:
    """The events of the registry builds a module build made (blocking).

    ``nsvcs`` are the builds the Buildbot build created (its ``nsvcs`` property); a
    failed N:S:V:C may be built again under a new registry id, so the newest record of
    each submitted since ``since`` (the Buildbot build's start) is the one.
    """
    wanted = set(site.settings.notify)
    events: list[ModuleEvent] = []
    for nsvc in nsvcs:
        record = _record_of(site, nsvc, since)
        if record is None:
            continue
        event = _event_of(site, record)
        if event is None or event.kind not in wanted:
            continue
        event.links = [
            ("Module build", f"{site.settings.url}modules/build/{record.id}"),
            ("Buildbot build", build_url),
            *event.links,
        ]
        events.append(event)
    return events


def _record_of(site: ModuleSite, nsvc: str, since: datetime | None) -> ModuleBuildRecord | None:
    parts = nsvc.split(":")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    name, stream, version, context = parts
    found = [
        b
        for b in site.registry.module_builds(name=name, stream=stream)
        if b.version == int(version)
        and b.context == context
        and (since is None or b.submitted_at >= since)
    ]
    return max(found, key=lambda b: b.id) if found else None


def _owners(site: ModuleSite, record: ModuleBuildRecord) -> list[str]:
    owners_of = getattr(site.registry, "owners", None)  # registry revision 0003
    owners = list(owners_of(record.name, record.stream)) if owners_of is not None else []
    return owners or ([record.owner] if record.owner else [])


def _event_of(site: ModuleSite, record: ModuleBuildRecord) -> ModuleEvent | None:
    decisions = record.decisions or {}
    if record.state == "failed":
        kind, reason, details = "failed", record.state_reason or "unknown", []
        components = site.registry.components(record.id)
        failed = [c for c in components if c.state == "failed"]
        if failed:
            details.append("Failed components:")
            for c in failed:
                where = f"  (log: {c.log_url})" if c.log_url else ""
                details.append(f"  {c.name}  {c.package} at {c.commit[:8]}{where}")
        skipped = [c.name for c in components if c.state == "dependency-failed"]
        if skipped:
            details.append("Not built because of them: " + ", ".join(skipped))
    elif record.state == "done" and _unsatisfied(decisions, "stage"):
        kind = "held"
        reason = (
            "the stage policy is not satisfied, so other modules cannot build on it "
            f"({decisions['stage'].get('summary', '')})"
        )
        details = _requirements(site, decisions["stage"], "stage")
    elif record.state == "ready" and _unsatisfied(decisions, "production"):
        kind = "not-promoted"
        reason = (
            "the production policy is not satisfied; it stays at stage "
            f"({decisions['production'].get('summary', '')})"
        )
        details = _requirements(site, decisions["production"], "production")
    else:
        return None
    return ModuleEvent(kind, record, _owners(site, record), reason, details)


def _unsatisfied(decisions: dict[str, dict[str, Any]], context: str) -> bool:
    decision = decisions.get(context)
    return decision is not None and not decision.get("policies_satisfied", True)


def _requirements(site: ModuleSite, decision: dict[str, Any], context: str) -> list[str]:
    lines = [f"Unsatisfied requirements (decision context {context}):"]
    for req in decision.get("unsatisfied_requirements", []):
        line = f"  {req.get('testcase', '?')}: {req.get('type', '?')}"
        if req.get("result_id") is not None:
            try:
                result = site.registry.result(int(req["result_id"]))
                line += f" — {result.outcome}: {result.note}"
                if result.ref_url:
                    line += f" ({result.ref_url})"
            except Exception:  # the decision still says enough
                line += f" — {req.get('outcome', '')}"
        elif req.get("details"):
            line += f" — {req['details']}"
        lines.append(line)
    return lines


@implementer(IReportGenerator)
class ModuleEventGenerator(bbutil.ComparableMixin):  # type: ignore[misc]
    """Reports the module events (:func:`module_events`) of each finished module build."""

    wanted_event_keys: ClassVar[list[tuple[str, None, str]]] = [("builds", None, "finished")]
    compare_attrs: ClassVar[tuple[str, ...]] = ("events",)

    def __init__(self, site: ModuleSite, events: list[str]) -> None:
        self.site = site
        self.events = tuple(events)

    def check(self) -> None:
        unknown = sorted(set(self.events) - set(EVENTS))
        if unknown:
            from buildbot import config

            config.error(f"notify: unknown events {unknown}; known: {', '.join(EVENTS)}")

    def generate_name(self) -> str:
        return "ModuleEvents"

    @defer.inlineCallbacks
    def generate(self, master: Any, reporter: Any, key: Any, build: dict[str, Any]) -> Any:
        if build.get("results") == CANCELLED:
            return None
        properties = yield master.data.get(("builds", build["buildid"], "properties"))
        nsvcs = (properties or {}).get(MODULE_BUILDER_PROPERTY, (None,))[0]
        if not nsvcs or (properties or {}).get("action"):
            return None
        build_url = getURLForBuild(master, build["builderid"], build["number"])
        events = yield in_thread(
            module_events, self.site, list(nsvcs), build.get("started_at"), build_url
        )
        if not events:
            return None
        return {"module_events": events, "builds": [build], "body": "", "subject": None}


class ModuleMailNotifier(MailNotifier):  # type: ignore[misc]
    """A MailNotifier that sends one e-mail per module event to the stream's owners."""

    name = "bbmod-mail"

    @defer.inlineCallbacks
    def sendMessage(self, reports: list[dict[str, Any]]) -> Any:
        for report in reports:
            for event in report.get("module_events", []):
                yield self._send_event(event, report.get("builds"))

    @defer.inlineCallbacks
    def _send_event(self, event: ModuleEvent, builds: Any) -> Any:
        try:
            message = yield self.createEmail(
                {"body": event.body(), "subject": event.subject, "type": "plain"},
                self.master.config.title,
                None,
                builds,
            )
            message["X-Bbmod-Event"] = event.kind
            message["X-Bbmod-Build"] = event.record.nsvc
            users = yield self.findInterrestedUsersEmails(list(event.owners))
            recipients = self.processRecipients(users, message)
            if not recipients:
                log.msg(f"bbmod-mail: {event.subject}: the stream has no owner to tell")
                return
            yield self.sendMail(message, recipients)
            log.msg(f"bbmod-mail: sent {event.subject!r} to {', '.join(sorted(recipients))}")
        except Exception as e:  # a mail never changes a build: say so and go on
            log.msg(f"bbmod-mail: could not send {event.subject!r}: {type(e).__name__}: {e}")


def notifiers(site: ModuleSite, settings: Settings) -> list[BuildbotService]:
    """The mail reporter when the site names an SMTP relay (``smtp_relay``), else none."""
    if not settings.smtp_relay or not settings.notify:
        return []
    host, port = parse_relay(settings.smtp_relay)
    auth: dict[str, Any] = {}
    if settings.smtp_user:
        # The password is a Buildbot secret (a file in secrets_dir), never a literal.
        auth = {
            "smtpUser": settings.smtp_user,
            "smtpPassword": Secret(settings.smtp_password_secret),
        }
    return [
        ModuleMailNotifier(
            fromaddr=settings.mail_from,
            relayhost=host,
            smtpPort=port,
            lookup=settings.mail_domain,
            useTls=settings.smtp_tls,
            generators=[ModuleEventGenerator(site, list(settings.notify))],
            **auth,
        )
    ]


def secrets_providers(settings: Settings) -> list[Any]:
    """Buildbot's file secret provider over ``secrets_dir`` (one secret per file)."""
    if not settings.secrets_dir:
        return []
    return [SecretInAFile(dirname=settings.path(settings.secrets_dir))]
