"""Site settings: one small TOML file beside ``master.cfg``.

Every value has a default for the embedded, single-machine setup (SQLite, a local
dist-git, local rpmbuild). Relative paths are relative to the settings file's folder.
A wrong value is reported when the master loads its configuration, naming the key.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any

from ..core.problems import ModuleError
from ..core.reuse import REBUILD_STRATEGIES

DEFAULT_CHECKS = (
    "modules.modulemd",
    "modules.rpmlint",
    "modules.repoclosure",
    "modules.installability",
    "modules.api-stability",
    "modules.eol",
)


@dataclass
class Settings:
    """Everything a site sets. See ``docs/architecture.md`` for how the parts connect."""

    title: str = "buildbot-modules"
    url: str = "http://localhost:8010/"
    # Loopback only by default: without accounts (users, htpasswd_file, oidc_issuer) the
    # UI has no login and anyone who reaches it may do anything (docs/running.md).
    www_port: int | str | None = "tcp:8010:interface=127.0.0.1"
    db_url: str = "sqlite:///state.sqlite"
    # The module registry (published module builds); SQLite beside the master by default.
    registry_url: str = "sqlite:///registry.sqlite"
    worker_port: str = "tcp:9989:interface=127.0.0.1"
    # Sign RPMs and repository metadata with this GPG key (id or user id); "" = unsigned.
    gpg_key: str = ""
    gpg_home: str = ""  # its GnuPG home; "" = the master user's
    # Worker name -> password. Passwords come from the site, never from this file's code.
    workers: dict[str, str] = field(default_factory=dict)
    distgit: str = "distgit"
    publish_root: str = "publish"
    artifacts: str = "artifacts"
    # Platform streams this site builds for (a module's `platform: []` means all of them).
    platforms: list[str] = field(default_factory=lambda: ["f39"])
    # Module repositories (paths or URLs of a repository or a modules.yaml) whose module
    # builds may be buildrequired besides this site's own ready builds.
    catalogues: list[str] = field(default_factory=list)
    # Seconds between two looks at the dist-git; 0 = never (builds are forced or pushed).
    poll_interval: int = 10
    # Take every component from this site's dist-git even when the module names another
    # `repository:` (bbmod build-local: the packager's folders stand in for dist-git).
    ignore_component_repositories: bool = False
    # "buildroot": each component in a private root (needs root on the workers);
    # "rpmbuild": plain rpmbuild in the build directory, BuildRequires not installed;
    # "noop": builds nothing, no RPMs (benchmarks of the orchestration alone, bench/scale.py).
    backend: str = "buildroot"
    component_timeout: int = 3600  # seconds, per component build (buildroot backend)
    component_memory: int = 0  # MiB of address space per component build; 0 = no limit
    keep_buildroots: bool = False  # keep each buildroot on its worker, for debugging
    fail_fast: bool = False
    # "dag": a component is requested as soon as its own dependencies are built;
    # "batches": MBS-style, level by level, a level once the previous one has finished.
    scheduling: str = "dag"
    # What a new build of a module stream takes from its newest ready build (MBS's
    # strategies): "changed-and-after" rebuilds changed components and what depends on
    # them in the DAG, "only-changed" only the changed ones, "all" everything. A module
    # may choose its own in `xmd: {bbmod: {rebuild_strategy: ...}}`.
    rebuild_strategy: str = "changed-and-after"
    # Quality (docs/quality.md). Checks every module build runs after publishing to stage:
    # built-in ones, plug-ins (entry points `buildbot_modules.checks`), `check_commands`.
    checks: list[str] = field(default_factory=lambda: list(DEFAULT_CHECKS))
    # Module name -> checks added ("name") or removed ("-name") for that module.
    module_checks: dict[str, list[str]] = field(default_factory=dict)
    check_config: dict[str, dict[str, Any]] = field(default_factory=dict)  # check -> its settings
    # Test case name -> command run on the module build's worker (QE scripts).
    check_commands: dict[str, list[str]] = field(default_factory=dict)
    gating_policy: str = ""  # Greenwave-style policy file; "" = no requirements
    promotion: str = "auto"  # "auto": production as soon as its policy passes; "manual"
    resultsdb_url: str = ""  # also send every result to this ResultsDB (API v2.0)
    # Web UI users (name -> password) and those with the release-engineering role, who
    # alone may waive, promote and re-run checks. No users: no login (loopback UI).
    users: dict[str, str] = field(default_factory=dict)
    releng: list[str] = field(default_factory=list)
    # Who may do what (docs/running.md "Who may do what", master/auth.py). Local accounts
    # also from an htpasswd file (bcrypt, apr1/MD5 or {SHA} hashes).
    htpasswd_file: str = ""
    packagers: list[str] = field(default_factory=list)  # may build the streams they own
    qe: list[str] = field(default_factory=list)  # may waive
    anonymous_read: bool = True  # False: reading the UI and the API needs a login too
    # OpenID Connect login: the issuer's URL (discovery at <issuer>/.well-known/...), the
    # client id, and its secret from a file or a Buildbot secret (its NAME), never here.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret_file: str = ""
    oidc_client_secret_secret: str = ""
    oidc_scope: str = "openid profile email"
    oidc_name: str = "OpenID Connect"  # the login button: "Login with <name>"
    oidc_groups: dict[str, str] = field(default_factory=dict)  # OIDC group -> role
    # Builds of module streams may run at once (each mostly waits for its components).
    module_slots: int = 8
    # The message bus (fedora-messaging, docs/running.md "Message bus"): the AMQP broker's
    # URL; "" = no bus. Consumes <prefix>.git.receive (pushes), publishes
    # <prefix>.bbmod.module.state.change (every module build state change).
    amqp_url: str = ""
    bus_topic_prefix: str = "org.fedoraproject.dev"
    bus_consume: bool = True  # build on git.receive messages (besides the poller)
    bus_publish: bool = True  # publish module state changes
    bus_queue: str = "buildbot-modules"  # durable: pushes wait there while the master is down
    # Push webhooks (docs/running.md "Push webhooks"): source name (its URL is
    # <url>change_hook/<name>) -> {"dialect": "pagure"|"forgejo", "secret_file": path,
    # "namespaces": "modules,rpms"}. Secrets live in those files, never in settings.
    webhooks: dict[str, dict[str, str]] = field(default_factory=dict)
    # Notifications (docs/running.md "Notifications and secrets"): e-mail to a module
    # stream's owners through this SMTP relay (host:port); "" = no mail.
    smtp_relay: str = ""
    smtp_tls: bool = False  # require STARTTLS
    smtp_user: str = ""  # "" = no SMTP authentication
    smtp_password_secret: str = ""  # the NAME of a Buildbot secret (a file in secrets_dir)
    mail_from: str = "buildbot-modules@localhost"
    mail_domain: str = "fedoraproject.org"  # an owner's user name -> name@mail_domain
    notify: list[str] = field(default_factory=lambda: ["failed", "held"])  # + "not-promoted"
    # A folder of secret files, one secret per file (Buildbot's SecretInAFile provider):
    # util.Secret("name") in master.cfg, and settings that name a secret.
    secrets_dir: str = ""
    # How a worker runs the bbmod CLI (the embedded workers share the master's venv).
    bbmod: list[str] = field(default_factory=lambda: [sys.executable, "-m", "buildbot_modules.cli"])
    basedir: str = "."

    def check(self) -> None:
        if not self.url.endswith("/"):
            raise ValueError(f"Settings.url must end with '/': {self.url!r}")
        for name in self.workers:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"worker name {name!r}: use letters, digits, '-' and '_'")
        if self.backend not in ("buildroot", "rpmbuild", "noop"):
            raise ValueError(
                f"backend {self.backend!r}: use 'buildroot' or 'rpmbuild' ('noop' for benchmarks)"
            )
        if self.scheduling not in ("dag", "batches"):
            raise ValueError(f"scheduling {self.scheduling!r}: use 'dag' or 'batches'")
        if self.rebuild_strategy not in REBUILD_STRATEGIES:
            raise ValueError(
                f"rebuild_strategy {self.rebuild_strategy!r}: use one of "
                + ", ".join(REBUILD_STRATEGIES)
            )
        if self.promotion not in ("auto", "manual"):
            raise ValueError(f"promotion {self.promotion!r}: use 'auto' or 'manual'")
        for name, command in self.check_commands.items():
            if not command or not all(isinstance(a, str) for a in command):
                raise ValueError(f"check_commands.{name}: a command is a list of strings")
        from .auth import check_auth_settings

        check_auth_settings(self)
        if not self.platforms:
            raise ValueError("platforms: name at least one platform stream, e.g. ['f39']")
        if self.amqp_url and not self.amqp_url.startswith(("amqp://", "amqps://")):
            raise ValueError("amqp_url: an amqp:// or amqps:// URL, or '' for no message bus")
        if self.amqp_url and not (self.bus_topic_prefix and self.bus_queue):
            raise ValueError("bus_topic_prefix and bus_queue must not be empty with amqp_url")
        if self.poll_interval < 0:
            raise ValueError("poll_interval: seconds (at least 1), or 0 for no polling")
        if self.webhooks:
            from .hooks import check_webhooks

            check_webhooks(self.webhooks, self.path)
        unknown_events = sorted(set(self.notify) - {"failed", "held", "not-promoted"})
        if unknown_events:
            raise ValueError(f"notify: {unknown_events}; use 'failed', 'held', 'not-promoted'")
        if not self.mail_domain or "@" in self.mail_domain:
            raise ValueError(f"mail_domain {self.mail_domain!r}: a domain, e.g. 'example.org'")
        relay_port = self.smtp_relay.rpartition(":")[2]
        if self.smtp_relay and not (relay_port.isdigit() and ":" in self.smtp_relay):
            raise ValueError(f"smtp_relay {self.smtp_relay!r}: host:port, e.g. 'localhost:25'")
        if self.smtp_user and not self.smtp_password_secret:
            raise ValueError("smtp_user needs smtp_password_secret (a secret's name, not it)")

    def path(self, value: str) -> str:
        """``value`` as an absolute path, relative to the settings' folder."""
        return os.path.abspath(os.path.join(self.basedir, value))


def load_settings(path: str) -> Settings:
    """Read ``path`` (TOML); unknown keys and wrong types are errors naming the key."""
    try:
        with open(path, "rb") as f:
            raw: dict[str, Any] = tomllib.load(f)
    except FileNotFoundError:
        raise ModuleError("settings file not found", source=path) from None
    except tomllib.TOMLDecodeError as e:
        raise ModuleError(f"invalid TOML: {e}", source=path) from None
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known or key == "basedir":
            raise ModuleError(
                f"unknown setting {key!r}",
                source=path,
                hint="known settings: " + ", ".join(sorted(k for k in known if k != "basedir")),
            )
        default = getattr(Settings(), key)
        if not isinstance(value, type(default)) and not (
            key == "www_port" and isinstance(value, int | str)
        ):
            raise ModuleError(
                f"setting {key!r} must be {type(default).__name__}, not {type(value).__name__}",
                source=path,
            )
        values[key] = value
    settings = Settings(**values, basedir=os.path.dirname(os.path.abspath(path)))
    try:
        settings.check()
    except ValueError as e:
        raise ModuleError(str(e), source=path) from None
    return settings
