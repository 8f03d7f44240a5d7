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
    # A component build whose worker is lost is started again on another worker, at most
    # this many more times (then it fails, saying so).
    component_retries: int = 2
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
    # Retention (docs/running.md "Retention, retiring and backups"): failed, scratch and
    # superseded (done, never ready) module builds older than this many days go to garbage
    # and their artifacts are deleted, nightly on the `module-maintenance` builder; 0 = never.
    garbage_after_days: int = 14
    # Buildbot's janitor deletes build logs older than this many days; 0 = keep them.
    log_retention_days: int = 30
    maintenance_hour: int = 3  # the hour (0-23, master's local time) both run at
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
    # Koji (docs/koji.md). backend = "koji": Koji builds every component; koji_import:
    # our workers build them (backend buildroot/rpmbuild) and Koji records them through
    # the content-generator API. Both create the module's tags and target in Koji.
    koji_import: bool = False
    koji_hub: str = ""  # the hub's XML-RPC URL, e.g. https://koji.example.org/kojihub
    koji_topurl: str = ""  # where Koji's files are served, e.g. https://kojipkgs.example.org
    koji_weburl: str = ""  # the web UI (task links in the build pages); "" = no links
    # "password" | "ssl" | "gssapi" | "anonymous" (read-only: cannot build or import).
    koji_auth: str = "gssapi"
    koji_user: str = ""  # password login: the user name
    koji_password_secret: str = ""  # its password: the NAME of a Buildbot secret
    koji_cert: str = ""  # ssl login: client certificate (PEM with its key)
    koji_serverca: str = ""  # the hub's CA bundle ("" = the system's)
    koji_keytab: str = ""  # gssapi login: a keytab ("" = the master user's credentials cache)
    koji_principal: str = ""  # and its principal
    koji_tag_prefix: str = "module"  # tags module-<n>-<s>-<v>-<c> and its -build tag
    # Platform stream -> the Koji tag the build tags inherit from, e.g. {"f39": "f39-build"}.
    koji_platform_tag: dict[str, str] = field(default_factory=dict)
    koji_arches: list[str] = field(default_factory=list)  # [] = the module's, else the master's
    koji_tag_permission: str = ""  # the `perm` Koji sets on module tags ("" = none)
    # Packages of the build tag's `build` and `srpm-build` groups besides the buildroot and
    # srpm-buildroot profiles of the buildrequired modules (the platform has no modulemd).
    koji_buildroot_packages: list[str] = field(default_factory=list)
    koji_srpm_buildroot_packages: list[str] = field(default_factory=list)
    # The SCM URL Koji builds a component from: {path} (this dist-git's repository),
    # {package}, {commit}. A real site names its dist-git's public URL.
    koji_scm_url: str = "git+file://{path}#{commit}"
    koji_priority: int = 10  # Koji's build priority (lower is sooner)
    koji_cg_name: str = "buildbot-modules"  # the content generator's name in Koji
    koji_poll_interval: float = 10.0  # seconds between looks at a Koji task
    # With amqp_url and backend = "koji": Koji's <prefix>.buildsys.task.state.change
    # messages wake the look at once ("" = bus_topic_prefix; docs/koji.md).
    koji_bus_prefix: str = ""
    # Components being built by Koji at once per master (master-side workers, no build
    # worker is held while Koji builds).
    koji_slots: int = 16
    # Several masters (docs/scaling.md "Several masters"): "simple" = one master; "wamp" =
    # masters sharing one db_url (PostgreSQL), registry_url, distgit, artifacts and
    # publish_root, their events carried by a WAMP router (Crossbar) at mq_router_url.
    mq: str = "simple"
    mq_router_url: str = ""  # e.g. "ws://mq.example.org:8080/ws"
    mq_realm: str = "buildbot"
    # Seconds after which the other masters declare a silent master dead and take over
    # its builds (they run again; a module build resumes). 0 = Buildbot's own: about ten
    # minutes. Each master then also says it is alive every master_timeout / 4 seconds.
    master_timeout: int = 0
    # Latent workers (workers/latent/, docs/scaling.md): name -> {"type": "docker" |
    # "kubernetes" | "openstack" | "ec2", "password": ..., other keys: the Buildbot class's
    # arguments}. Started on demand for component builds, stopped when idle.
    latent_workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # How a worker runs the bbmod CLI (the embedded workers share the master's venv).
    bbmod: list[str] = field(default_factory=lambda: [sys.executable, "-m", "buildbot_modules.cli"])
    basedir: str = "."

    def check(self) -> None:
        if not self.url.endswith("/"):
            raise ValueError(f"Settings.url must end with '/': {self.url!r}")
        for name in self.workers:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"worker name {name!r}: use letters, digits, '-' and '_'")
        if self.backend not in ("buildroot", "rpmbuild", "koji", "noop"):
            raise ValueError(
                f"backend {self.backend!r}: use 'buildroot', 'rpmbuild' or 'koji'"
                " ('noop' for benchmarks)"
            )
        if self.uses_koji:
            from ..koji.config import check_koji_settings

            check_koji_settings(self)
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
        if self.mq not in ("simple", "wamp"):
            raise ValueError(f"mq {self.mq!r}: use 'simple' (one master) or 'wamp' (several)")
        if self.mq == "wamp" and not self.mq_router_url.startswith(("ws://", "wss://")):
            raise ValueError(
                f"mq_router_url {self.mq_router_url!r}: the WAMP router's ws:// or wss:// URL"
                " (mq = 'wamp')"
            )
        if self.mq == "wamp" and self.db_url.startswith("sqlite"):
            raise ValueError(
                "db_url: several masters (mq = 'wamp') share one database server, e.g."
                " 'postgresql+psycopg2://buildbot@db.example.org/buildbot', not SQLite"
            )
        if self.master_timeout and self.master_timeout < 20:
            raise ValueError(
                f"master_timeout {self.master_timeout}: at least 20 seconds (0 = Buildbot's)"
            )
        from .latent import check_latent_workers

        check_latent_workers(self.latent_workers, self.workers)
        if self.poll_interval < 0:
            raise ValueError("poll_interval: seconds (at least 1), or 0 for no polling")
        if self.component_retries < 0:
            raise ValueError("component_retries: 0 or more (starts after a lost worker)")
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
        for key in ("garbage_after_days", "log_retention_days"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: a number of days, or 0 to keep everything")
        if not 0 <= self.maintenance_hour <= 23:
            raise ValueError(f"maintenance_hour {self.maintenance_hour}: an hour, 0 to 23")

    @property
    def uses_koji(self) -> bool:
        """Whether module builds are set up in Koji (Koji builds, or content-generator import)."""
        return self.backend == "koji" or self.koji_import

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
            (key == "www_port" and isinstance(value, int | str))
            or (
                isinstance(default, float)
                and isinstance(value, int)
                and not isinstance(value, bool)
            )
        ):
            raise ModuleError(
                f"setting {key!r} must be {type(default).__name__}, not {type(value).__name__}",
                source=path,
            )
        values[key] = float(value) if isinstance(default, float) else value
    settings = Settings(**values, basedir=os.path.dirname(os.path.abspath(path)))
    try:
        settings.check()
    except ValueError as e:
        raise ModuleError(str(e), source=path) from None
    return settings
