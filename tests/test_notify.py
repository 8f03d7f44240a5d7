"""Notifications and secrets (issue #8): a real master sends its mail to a real SMTP
server started here (Twisted's ESMTP server, CRAM-MD5 authentication against a password
that the master reads from a secret file); a failed module build and a build held at
stage each give one e-mail to the stream's owners, a good build none; no secret value
appears in the master's log, in a step log or in a mail."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from types import SimpleNamespace
from typing import Any
from unittest import mock

from buildbot.plugins import steps, util
from buildbot.test.util.integration import RunMasterBase
from twisted.cred import checkers, credentials, portal
from twisted.internet import defer, reactor, task
from twisted.mail import smtp
from twisted.python import log
from twisted.trial import unittest
from zope.interface import implementer

from buildbot_modules.distgit import DistGit
from buildbot_modules.master.configurator import ModulesConfigurator, Settings
from buildbot_modules.master.notify import (
    ModuleEvent,
    ModuleMailNotifier,
    mail_address,
    parse_relay,
)
from buildbot_modules.registry import Registry

from .helpers import tempdir, write
from .test_pipeline import SPEC, module_yaml

SMTP_USER = "bbmod-mailer"
SMTP_PASSWORD = "smtp-pw-7f3a9c0e1d"  # only ever in the secret file and the test server
QE_TOKEN = "qe-token-5b2d8e4f6a"  # handed to a QE check step as util.Secret in its env

# Stage requires the QE marker check; it fails for nheld only.
POLICY = """\
--- !Policy
id: stage-marker
product_versions: [fedora-*]
decision_context: stage
subject_type: redhat-module
rules:
  - !PassingTestCaseRule {test_case_name: qe.marker}
"""
MARKER = ["sh", "-c", 'case "$BBMOD_NSVC" in nheld:*) echo "marker missing"; exit 1;; esac']


# ------------------------------------------------------------------- the SMTP server


@dataclass
class Received:
    avatar: bytes
    sender: str
    recipient: str
    data: bytes

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@implementer(smtp.IMessage)
class _Message:
    def __init__(self, box: list[Received], avatar: bytes, sender: str, recipient: str):
        self.box, self.avatar, self.sender, self.recipient = box, avatar, sender, recipient
        self.lines: list[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> defer.Deferred:
        data = b"\n".join(self.lines) + b"\n"
        self.box.append(Received(self.avatar, self.sender, self.recipient, data))
        return defer.succeed(None)

    def connectionLost(self) -> None:
        self.lines = []


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, box: list[Received], avatar: bytes) -> None:
        self.box, self.avatar, self.sender = box, avatar, ""

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> bytes:
        return b"Received: from the master by the test server"

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        self.sender = str(origin)
        return origin

    def validateTo(self, user: smtp.User) -> Any:
        recipient = str(user.dest)
        return lambda: _Message(self.box, self.avatar, self.sender, recipient)


@implementer(portal.IRealm)
class _Realm:
    def __init__(self, box: list[Received]) -> None:
        self.box = box

    def requestAvatar(self, avatar: bytes, mind: Any, *interfaces: Any) -> Any:
        if smtp.IMessageDelivery in interfaces:
            return smtp.IMessageDelivery, _Delivery(self.box, avatar), lambda: None
        raise NotImplementedError(interfaces)


class _Factory(smtp.SMTPFactory):
    protocol = smtp.ESMTP

    def buildProtocol(self, addr: Any) -> Any:
        p = super().buildProtocol(addr)
        p.challengers = {b"CRAM-MD5": credentials.CramMD5Credentials}
        return p


def start_smtp_server(case: unittest.TestCase) -> tuple[int, list[Received]]:
    """An ESMTP server on a free loopback port that only takes mail from SMTP_USER
    (CRAM-MD5); returns its port and the list it collects messages in."""
    box: list[Received] = []
    users = checkers.InMemoryUsernamePasswordDatabaseDontUse()
    users.addUser(SMTP_USER.encode(), SMTP_PASSWORD.encode())
    listener = reactor.listenTCP(
        0, _Factory(portal.Portal(_Realm(box), [users])), interface="127.0.0.1"
    )
    case.addCleanup(listener.stopListening)
    return listener.getHost().port, box


# ------------------------------------------------------------------------ the tests


class NotifyUnits(unittest.TestCase):
    def test_addresses(self) -> None:
        self.assertEqual(mail_address("alice", "example.org"), "alice@example.org")
        self.assertEqual(mail_address("bob@x.net", "example.org"), "bob@x.net")
        self.assertEqual(mail_address("Bob <bob@x.net>", "example.org"), "Bob <bob@x.net>")

    def test_relay(self) -> None:
        self.assertEqual(parse_relay("mail.example.org:2525"), ("mail.example.org", 2525))
        self.assertEqual(parse_relay("localhost"), ("localhost", 25))
        self.assertEqual(parse_relay("[::1]:25"), ("::1", 25))
        self.assertRaises(ValueError, parse_relay, "host:port")

    def test_settings_are_checked(self) -> None:
        for bad in (
            {"notify": ["failed", "exploded"]},
            {"mail_domain": "a@b"},
            {"smtp_relay": "localhost"},
            {"smtp_relay": "localhost:25", "smtp_user": "u"},  # a password secret's name
        ):
            with self.subTest(bad=bad):
                self.assertRaises(ValueError, Settings(**bad).check)
        Settings(smtp_relay="localhost:25", smtp_user="u", smtp_password_secret="pw").check()


class SendFailure(unittest.TestCase):
    @defer.inlineCallbacks
    def test_a_mail_that_cannot_be_sent_is_logged(self) -> None:
        lines: list[str] = []
        observer = lambda event: lines.append(log.textFromEventDict(event) or "")  # noqa: E731
        log.addObserver(observer)
        self.addCleanup(log.removeObserver, observer)
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        notifier = ModuleMailNotifier(fromaddr="bbmod@example.org", generators=[])
        yield notifier.reconfigService(
            fromaddr="bbmod@example.org",
            relayhost="127.0.0.1",
            smtpPort=port,
            lookup="example.org",
            generators=[],
        )
        self.patch(ModuleMailNotifier, "master", mock.Mock(config=mock.Mock(title="test")))
        record = SimpleNamespace(nsvc="x:main:1:c", name="x", stream="main", id=1)
        event = ModuleEvent("failed", record, ["alice"], "component x-a failed")
        yield notifier._send_event(event, None)  # returns; never raises
        self.assertTrue(
            any("bbmod-mail: could not send '[bbmod] x:main:1:c failed'" in line for line in lines),
            lines,
        )


class NotifyInProcess(RunMasterBase):
    proto = "pb"
    timeout = 300

    @defer.inlineCallbacks
    def test_failed_and_held_builds_mail_their_owners(self) -> None:
        for tool in ("rpmbuild", "createrepo_c"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        master_log = self.capture_master_log()
        port, box = start_smtp_server(self)
        root = tempdir(self)
        secrets = os.path.join(root, "secrets")
        os.makedirs(secrets, mode=0o700)
        for name, value in (("smtp-password", SMTP_PASSWORD), ("qe-token", QE_TOKEN)):
            path = write(secrets, name, value + "\n")
            os.chmod(path, 0o600)
        settings = Settings(
            db_url="sqlite://",
            registry_url=f"sqlite:///{root}/registry.sqlite",
            www_port=None,
            url="http://bbmod.example.org/",
            distgit=os.path.join(root, "distgit"),
            publish_root=os.path.join(root, "publish"),
            artifacts=os.path.join(root, "artifacts"),
            poll_interval=1,
            backend="rpmbuild",
            checks=["qe.marker"],
            check_commands={"qe.marker": MARKER},
            gating_policy=write(root, "policy.yaml", POLICY),
            smtp_relay=f"127.0.0.1:{port}",
            smtp_user=SMTP_USER,
            smtp_password_secret="smtp-password",
            mail_from="bbmod@example.org",
            mail_domain="example.org",
            secrets_dir=secrets,
        )
        # A QE check as an ordinary Buildbot step with a secret in its environment: the
        # command proves it got the value and prints it. logEnviron=False: the module
        # builds' workers run inside the master, and Buildbot's worker writes a command's
        # environment to its twistd.log — here the master's log (docs/running.md).
        token_step = steps.ShellCommand(
            name="qe.token",
            command=[
                "sh",
                "-c",
                f'test "$QE_TOKEN" = "$(cat {secrets}/qe-token)" && echo "token $QE_TOKEN"',
            ],
            env={"QE_TOKEN": util.Secret("qe-token")},
            logEnviron=False,
        )
        DistGit.init(settings.distgit)
        yield self.setup_master(
            {"configurators": [ModulesConfigurator(settings, check_steps=[token_step])]}
        )
        registry = Registry(settings.registry_url)
        registry.set_owners("nfail", "main", ["alice", "bob@elsewhere.example.net"], "test")

        source = tempdir(self)
        write(source, "rpms/nfail-a/nfail-a.spec", SPEC.format(name="nfail-a", build="exit 1"))
        for name in ("nfail-b", "nheld-a", "ngood-a"):
            write(source, f"rpms/{name}/{name}.spec", SPEC.format(name=name, build=""))
        write(
            source,
            "modules/nfail/nfail.yaml",
            module_yaml("Fails", {"nfail-a": [], "nfail-b": ["nfail-a"]}),
        )
        write(source, "modules/nheld/nheld.yaml", module_yaml("Held", {"nheld-a": []}))
        write(source, "modules/ngood/ngood.yaml", module_yaml("Good", {"ngood-a": []}))
        # nheld and ngood have no explicit owners: their commit's author owns them.
        self.patch(os, "environ", {**os.environ, "GIT_AUTHOR_NAME": "Held Owner"})
        os.environ["GIT_AUTHOR_EMAIL"] = "holder@example.net"
        DistGit(settings.distgit).import_dir(source)

        yield self.wait_for(lambda: self.finished(registry), "the three module builds")
        yield self.wait_for(self.builds_complete, "the Buildbot builds to finish")
        yield task.deferLater(reactor, 2, lambda: None)  # any late mail would be here now

        subjects = sorted({r.message["Subject"] for r in box})
        nfail = registry.module_builds(name="nfail")[0]
        nheld = registry.module_builds(name="nheld")[0]
        ngood = registry.module_builds(name="ngood")[0]
        self.assertEqual(
            subjects,
            [f"[bbmod] {nfail.nsvc} failed", f"[bbmod] {nheld.nsvc} held at stage"],
            [r.data.decode() for r in box],
        )
        self.assertEqual(ngood.state, "ready")  # …and no mail for it

        # One mail per event, to every owner; the server only took it after CRAM-MD5.
        failed = [r for r in box if r.message["X-Bbmod-Event"] == "failed"]
        self.assertEqual(
            sorted(r.recipient for r in failed), ["alice@example.org", "bob@elsewhere.example.net"]
        )
        self.assertEqual({r.avatar for r in box}, {SMTP_USER.encode()})
        self.assertEqual({r.sender for r in box}, {"bbmod@example.org"})
        body = failed[0].message.get_payload(decode=True).decode()
        self.assertIn("Failed components:\n  nfail-a  nfail-a at", body)
        self.assertIn("Not built because of them: nfail-b", body)
        self.assertIn(f"Module build:   http://bbmod.example.org/modules/build/{nfail.id}", body)
        self.assertRegex(body, r"Buildbot build: http://bbmod\.example\.org/#/builders/\d+/builds/")
        self.assertIn("alice, bob@elsewhere.example.net", body)

        held = [r for r in box if r.message["X-Bbmod-Event"] == "held"]
        self.assertEqual([r.recipient for r in held], ["holder@example.net"])
        body = held[0].message.get_payload(decode=True).decode()
        self.assertIn("held at stage", body)
        self.assertIn("qe.marker: test-result-failed — FAILED: exit code 1", body)
        self.assertIn(f"http://bbmod.example.org/modules/build/{nheld.id}", body)

        # Secrets: the step got the token (it passed), its logs show <qe-token>; no secret
        # value in any step log, in the master's log or in a mail.
        logs = yield self.all_step_logs()
        token_logs = [text for (step, _), text in logs.items() if step == "qe.token"]
        self.assertTrue(token_logs and all("token <qe-token>" in t for t in token_logs))
        everything = [*logs.values(), "\n".join(master_log), *(r.data.decode() for r in box)]
        for text in everything:
            self.assertNotIn(SMTP_PASSWORD, text)
            self.assertNotIn(QE_TOKEN, text)
        self.assertTrue(any("bbmod-mail: sent" in line for line in master_log))

    # -- helpers

    def capture_master_log(self) -> list[str]:
        """Everything the master logs (Twisted and Python logging) while the test runs."""
        lines: list[str] = []

        def observer(event: dict[str, Any]) -> None:
            lines.append(log.textFromEventDict(event) or "")

        log.addObserver(observer)
        self.addCleanup(log.removeObserver, observer)

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines.append(self.format(record))

        handler = Handler(logging.DEBUG)
        logging.getLogger().addHandler(handler)
        self.addCleanup(logging.getLogger().removeHandler, handler)
        return lines

    def finished(self, registry: Registry) -> bool:
        def state(name: str) -> tuple[str, dict[str, Any]]:
            builds = registry.module_builds(name=name)
            return (builds[0].state, builds[0].decisions or {}) if builds else ("", {})

        return (
            state("nfail")[0] == "failed"
            and "stage" in state("nheld")[1]
            and "production" in state("ngood")[1]
        )

    @defer.inlineCallbacks
    def builds_complete(self) -> Any:
        builds = yield self.master.data.get(("builds",))
        return bool(builds) and all(b["complete"] for b in builds)

    @defer.inlineCallbacks
    def all_step_logs(self) -> Any:
        """(step name, log name) -> text, over every build of the master."""
        out: dict[tuple[str, str], str] = {}
        builds = yield self.master.data.get(("builds",))
        for build in builds:
            build_steps = yield self.master.data.get(("builds", build["buildid"], "steps"))
            for step in build_steps:
                logs = yield self.master.data.get(("steps", step["stepid"], "logs"))
                for entry in logs:
                    content = yield self.master.data.get(("logs", entry["logid"], "contents"))
                    key = (step["name"], entry["name"])
                    out[key] = out.get(key, "") + content["content"]
        return out

    @defer.inlineCallbacks
    def wait_for(self, check: Any, what: str, seconds: float = 240) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = yield defer.maybeDeferred(check)
            if value:
                return value
            yield task.deferLater(reactor, 0.5, lambda: None)
        self.fail(f"timed out after {seconds} s waiting for {what}")
