"""Who may do what: web login and the roles behind every button (issue #8).

Login (``www["auth"]``), from the settings:

- local accounts: an htpasswd file (``htpasswd_file``: bcrypt, apr1/MD5, ``{SHA}``)
  and/or ``users`` (name -> password); HTTP Basic at ``<url>auth/login``;
- OpenID Connect (``oidc_issuer``): discovery at ``<issuer>/.well-known/openid-configuration``,
  Buildbot's OAuth2 flow (authorize, token, userinfo); the ``groups`` claim maps to roles.
  Local accounts still log in with HTTP Basic credentials at ``auth/login``.

Roles (:func:`roles_of`, shared by Buildbot's authz, the module service API and the module
pages): ``releng`` may do everything; ``qe`` may waive; ``packager`` may build the module
streams they own; a stream's owners (registry owners) may stop, cancel and rebuild its
builds and edit its end of life. Every other control endpoint of Buildbot is for
``releng`` (a catch-all rule): nothing is open to anonymous users.

No accounts at all (no ``users``, ``htpasswd_file``, ``oidc_issuer``): no login and no
authz, as before; the UI listens on the loopback interface only by default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from buildbot.interfaces import IRenderable
from buildbot.plugins import util
from buildbot.www.auth import CustomAuth
from buildbot.www.authz.endpointmatchers import (
    AnyControlEndpointMatcher,
    AnyEndpointMatcher,
    EndpointMatcherBase,
    Match,
)
from buildbot.www.authz.roles import RolesFromBase, RolesFromOwner
from buildbot.www.oauth2 import OAuth2Auth, OAuth2LoginResource
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.python import log
from twisted.web.error import Error
from zope.interface import implementer  # type: ignore[import-untyped]

from ..registry import owner_matches
from .threads import in_thread

if TYPE_CHECKING:
    from .settings import Settings
    from .site import ModuleSite

ROLES = ("releng", "qe", "packager")
LOGGED_IN = "user"  # every logged-in user has it (reading when anonymous_read is off)
OWNER = "owner"  # in the context of one module stream: one of its owners
PACKAGER_OWNER = "packager-owner"  # ... and a packager
# Force schedulers whose `module`/`stream` arguments name the module stream to build.
MODULE_FORCE_SCHEDULERS = ("bbmod-rebuild",)
QE_FORCE_SCHEDULERS = ("bbmod-waive",)
# Builders whose builds carry `module`/`stream` properties: their owners may stop them;
# and the virtual builders "module N:S" and "components N:S" (schedulers.py, driver.py).
MODULE_BUILDERS = ("modules", "components")
MODULE_VIRTUAL_BUILDERS = ("module ", "components ")


# -- settings and roles


def accounts_configured(settings: Settings) -> bool:
    """Whether anyone can log in; without accounts there is no login and no authz."""
    return bool(settings.users or settings.htpasswd_file or settings.oidc_issuer)


def check_auth_settings(settings: Settings) -> None:
    """Raise ValueError naming the wrong setting (called by ``Settings.check``)."""
    for key in ("releng", "qe", "packagers"):
        names = getattr(settings, key)
        if not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"{key}: a list of user names")
        # Only when `users` is the sole source of accounts can a name be checked.
        unknown = sorted(set(names) - set(settings.users))
        if unknown and not (settings.htpasswd_file or settings.oidc_issuer):
            raise ValueError(f"{key}: {', '.join(unknown)} not in users")
    if settings.htpasswd_file and not os.path.isfile(settings.path(settings.htpasswd_file)):
        raise ValueError(f"htpasswd_file: no such file {settings.htpasswd_file!r}")
    for group, role in settings.oidc_groups.items():
        if role not in ROLES:
            raise ValueError(f"oidc_groups.{group}: {role!r}; use one of {', '.join(ROLES)}")
    if settings.oidc_issuer:
        if not settings.oidc_issuer.startswith(("https://", "http://")):
            raise ValueError("oidc_issuer: the issuer's URL, e.g. https://id.example.org/openidc")
        if not settings.oidc_client_id:
            raise ValueError("oidc_issuer needs oidc_client_id")
        if bool(settings.oidc_client_secret_file) == bool(settings.oidc_client_secret_secret):
            raise ValueError(
                "oidc_issuer needs exactly one of oidc_client_secret_file (a file holding "
                "the secret) and oidc_client_secret_secret (a Buildbot secret's name)"
            )
        if settings.oidc_client_secret_secret and not settings.secrets_dir:
            raise ValueError("oidc_client_secret_secret names a secret: set secrets_dir")


def _user_name(user: Mapping[str, Any] | str | None) -> str:
    if user is None:
        return ""
    if isinstance(user, str):
        return user
    if user.get("anonymous"):
        return ""
    return str(user.get("username") or "")


def roles_of(settings: Settings, user: Mapping[str, Any] | str | None) -> frozenset[str]:
    """The site roles of ``user``: a Buildbot session's user info (``username``, OIDC
    ``groups``) or a plain user name. Anonymous: none. ``releng`` implies the others."""
    name = _user_name(user)
    if not name:
        return frozenset()
    roles = {LOGGED_IN}
    for role, names in (
        ("releng", settings.releng),
        ("qe", settings.qe),
        ("packager", settings.packagers),
    ):
        if name in names:
            roles.add(role)
    groups = user.get("groups") if isinstance(user, Mapping) else None
    if isinstance(groups, list | tuple):
        roles.update(settings.oidc_groups[g] for g in groups if g in settings.oidc_groups)
    if "releng" in roles:
        roles.update(ROLES)
    return frozenset(roles)


def owns(user: Mapping[str, Any] | str | None, owners: Iterable[str]) -> bool:
    """Whether ``user`` is one of ``owners`` (registry owners: user names or commit
    authors ``Name <email>``)."""
    name = _user_name(user)
    return bool(name) and any(owner_matches(o, name) for o in owners)


def may_manage_stream(
    settings: Settings, user: Mapping[str, Any] | str | None, owners: Iterable[str]
) -> bool:
    """Cancel, stop or rebuild a stream's builds, edit its end of life and owners:
    its owners and release engineering."""
    return "releng" in roles_of(settings, user) or owns(user, owners)


def push_refusal(settings: Settings, registry: Any, pusher: str, name: str, stream: str) -> str:
    """Why a push that its source authenticated as ``pusher`` (a signed webhook's forge
    user, a bus message's account) may not build ``name:stream``; "" when it may.

    Allowed: release engineering; the stream's owners; for a stream nobody owns yet,
    packagers. Without accounts on the site there is no one to check against. Pushes the
    poller sees carry no pusher: there the dist-git's own push permissions are the gate.
    """
    if not pusher or not accounts_configured(settings):
        return ""
    roles = roles_of(settings, pusher)
    if "releng" in roles:
        return ""
    owners = registry.owners(name, stream)
    if owns(pusher, owners):
        return ""
    if not owners and "packager" in roles:
        return ""
    if owners:
        return f"push by {pusher} refused: not an owner of {name}:{stream} ({', '.join(owners)})"
    return f"push by {pusher} refused: {name}:{stream} has no owner and {pusher} is no packager"


# -- local accounts


def _to64(value: int, count: int) -> str:
    chars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(count):
        out += chars[value & 0x3F]
        value >>= 6
    return out


def md5_crypt(password: bytes, salt: bytes, magic: bytes = b"$apr1$") -> str:
    """The MD5-based crypt of Apache (``$apr1$``, htpasswd's default) and glibc (``$1$``)."""
    salt = salt[:8]
    ctx = password + magic + salt
    final = hashlib.md5(password + salt + password).digest()
    for left in range(len(password), 0, -16):
        ctx += final[: min(16, left)]
    i = len(password)
    while i:
        ctx += b"\0" if i & 1 else password[:1]
        i >>= 1
    final = hashlib.md5(ctx).digest()
    for i in range(1000):
        step = password if i & 1 else final
        if i % 3:
            step += salt
        if i % 7:
            step += password
        step += final if i & 1 else password
        final = hashlib.md5(step).digest()
    encoded = "".join(
        _to64(final[a] << 16 | final[b] << 8 | final[c], 4)
        for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))
    )
    encoded += _to64(final[11], 2)
    return f"{magic.decode()}{salt.decode()}${encoded}"


def check_hash(hashed: str, password: str) -> bool:
    """Whether ``password`` matches an htpasswd entry's hash: bcrypt (``$2y$``, ``$2b$``,
    ``$2a$``), MD5 (``$apr1$``, ``$1$``) or SHA-1 (``{SHA}``). Plain text is refused."""
    secret = password.encode("utf-8")
    if hashed.startswith(("$2y$", "$2b$", "$2a$")):
        import bcrypt

        try:
            return bcrypt.checkpw(secret, ("$2b$" + hashed[4:]).encode("ascii"))
        except ValueError:
            return False
    for magic in ("$apr1$", "$1$"):
        if hashed.startswith(magic):
            salt = hashed[len(magic) :].partition("$")[0]
            computed = md5_crypt(secret, salt.encode("ascii"), magic.encode("ascii"))
            return hmac.compare_digest(computed, hashed)
    if hashed.startswith("{SHA}"):
        computed = "{SHA}" + base64.b64encode(hashlib.sha1(secret).digest()).decode()
        return hmac.compare_digest(computed, hashed)
    return False


_htpasswd_cache: dict[str, tuple[float, dict[str, str]]] = {}
_htpasswd_lock = threading.Lock()


def read_htpasswd(path: str) -> dict[str, str]:
    """``user -> hash`` of an htpasswd file, re-read when it changes."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return {}
    with _htpasswd_lock:
        cached = _htpasswd_cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        entries: dict[str, str] = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and ":" in line:
                    name, _, hashed = line.partition(":")
                    entries[name] = hashed
        _htpasswd_cache[path] = (mtime, entries)
        return entries


def check_password(settings: Settings, name: str, password: str) -> bool:
    """Blocking: a local account's password (``users`` or the htpasswd file)."""
    known = settings.users.get(name)
    if known is not None:
        return hmac.compare_digest(known.encode("utf-8"), password.encode("utf-8"))
    if settings.htpasswd_file:
        hashed = read_htpasswd(settings.path(settings.htpasswd_file)).get(name)
        if hashed is not None:
            return check_hash(hashed, password)
    return False


class LocalAccounts(CustomAuth):  # type: ignore[misc]
    """HTTP Basic login against ``users`` and the htpasswd file (checked in a thread:
    bcrypt is slow on purpose)."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    def check_credentials(self, username: bytes, password: bytes) -> bool:
        return check_password(
            self.settings, username.decode("utf-8", "replace"), password.decode("utf-8", "replace")
        )

    def requestAvatarId(self, cred: Any) -> defer.Deferred[Any]:
        d = in_thread(self.check_credentials, cred.username, cred.password)

        def decide(ok: bool) -> Any:
            if ok:
                return cred.username
            raise UnauthorizedLogin()

        return d.addCallback(decide)


# -- OpenID Connect


@implementer(IRenderable)
class FileSecret:
    """A secret read from a file whenever it is needed (rendered like util.Secret)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def getRenderingFor(self, props: Any) -> defer.Deferred[str]:
        def read() -> str:
            with open(self.path, encoding="utf-8") as f:
                return f.read().strip()

        return in_thread(read)


class OIDCLoginResource(OAuth2LoginResource):  # type: ignore[misc]
    """``auth/login``: HTTP Basic credentials log a local account in; anything else
    starts (or, with ``code``, ends) the OpenID Connect flow."""

    def render_GET(self, request: Any) -> Any:
        header = request.getHeader(b"authorization") or b""
        local = self.auth.local
        if local is not None and header.lower().startswith(b"basic "):
            return local.getLoginResource().render(request)
        return super().render_GET(request)


class OpenIDConnectAuth(OAuth2Auth):  # type: ignore[misc]
    """Buildbot's OAuth2 login against any OpenID Connect provider, found by discovery."""

    faIcon = "fa-openid"
    getTokenUseAuthHeaders = False

    def __init__(
        self,
        issuer: str,
        clientId: str,
        clientSecret: Any,
        scope: str = "openid profile email",
        groups_claim: str = "groups",
        name: str = "OpenID Connect",
        local: LocalAccounts | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(clientId, clientSecret, **kwargs)
        self.issuer = issuer.rstrip("/")
        self.name = name
        self.groups_claim = groups_claim
        self.authUriAdditionalParams = {"scope": scope}
        self.local = local
        self.userinfoUri = ""
        self._discovered = False

    def reconfigAuth(self, master: Any, new_config: Any) -> None:
        super().reconfigAuth(master, new_config)
        if self.local is not None:
            self.local.reconfigAuth(master, new_config)

    def getLoginResource(self) -> OIDCLoginResource:
        return OIDCLoginResource(self.master, self)

    def updateUserInfo(self, request: Any) -> defer.Deferred[None]:
        """After a local account's login (Buildbot calls the site's auth): keep the session
        (OAuth2Auth has no user info provider, which is what would save it)."""
        request.getSession().updateSession(request)
        return defer.succeed(None)

    def discover(self) -> None:
        """Blocking: the provider's endpoints from its discovery document."""
        url = self.issuer + "/.well-known/openid-configuration"
        response = requests.get(url, timeout=10, verify=self.ssl_verify)
        response.raise_for_status()
        doc = response.json()
        if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
            raise ValueError(f"{url} names issuer {doc.get('issuer')!r}, not {self.issuer!r}")
        self.authUri = doc["authorization_endpoint"]
        self.tokenUri = doc["token_endpoint"]
        self.userinfoUri = doc["userinfo_endpoint"]
        self._discovered = True

    @defer.inlineCallbacks
    def ensure_discovered(self) -> Any:
        if self._discovered:
            return
        try:
            yield in_thread(self.discover)
        except Exception as e:
            log.err(e, "OpenID Connect discovery")  # type: ignore[no-untyped-call]
            raise Error(503, f"OpenID Connect provider {self.issuer}: {e}".encode()) from e

    @defer.inlineCallbacks
    def getLoginURL(self, redirect_url: bytes | None) -> Any:
        yield self.ensure_discovered()
        url = yield super().getLoginURL(redirect_url)
        return url

    @defer.inlineCallbacks
    def verifyCode(self, code: bytes) -> Any:
        yield self.ensure_discovered()
        details = yield super().verifyCode(code)
        return details

    def createSessionFromToken(self, token: dict[str, Any]) -> requests.Session:
        if not isinstance(token, dict) or token.get("error") or "access_token" not in token:
            described = token.get("error_description") if isinstance(token, dict) else None
            raise Error(503, f"OpenID Connect token: {described or token}".encode())
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token['access_token']}"
        session.verify = self.ssl_verify
        return session

    def getUserInfoFromOAuthClient(self, c: requests.Session) -> dict[str, Any]:
        response = c.get(self.userinfoUri, timeout=10)
        response.raise_for_status()
        data = response.json()
        username = data.get("preferred_username") or data.get("nickname") or data.get("sub")
        if not username:
            raise Error(503, b"OpenID Connect userinfo names no user")
        groups = data.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = groups.split()
        return {
            "username": str(username),
            "email": str(data.get("email") or ""),
            "full_name": str(data.get("name") or username),
            "groups": [str(g) for g in groups],
        }


# -- authz: custom endpoint matchers


@dataclass(frozen=True)
class Owned:
    """What an owner-role rule matched: a module stream and its registry owners."""

    module: str
    stream: str
    owners: tuple[str, ...]


class _StreamMatch(Match):  # type: ignore[misc]
    def __init__(self, master: Any, owned: Owned) -> None:
        super().__init__(master)
        self.owned = owned

    def getOwner(self) -> defer.Deferred[Any]:
        return defer.succeed(self.owned)


class _SiteMatcher(EndpointMatcherBase):  # type: ignore[misc]
    def __init__(self, site: ModuleSite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site

    @defer.inlineCallbacks
    def owned(self, module: Any, stream: Any) -> Any:
        if not (isinstance(module, str) and module and isinstance(stream, str) and stream):
            return None
        owners = yield in_thread(self.site.registry.owners, module, stream)
        return _StreamMatch(self.master, Owned(module, stream, tuple(owners)))


class ModuleForceMatcher(_SiteMatcher):
    """Force on a scheduler building the module stream named by its ``module`` and
    ``stream`` arguments; the match carries that stream's owners."""

    def __init__(self, site: ModuleSite, schedulers: Sequence[str], **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        self.schedulers = tuple(schedulers)

    def match_ForceSchedulerEndpoint_force(
        self, epobject: Any, epdict: dict[str, Any], options: dict[str, Any]
    ) -> Any:
        if epdict.get("schedulername") not in self.schedulers:
            return defer.succeed(None)
        stream = options.get("stream") or "main"
        return self.owned(options.get("module"), stream)


class ForceSchedulerMatcher(EndpointMatcherBase):  # type: ignore[misc]
    """Force on the named force schedulers."""

    def __init__(self, schedulers: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schedulers = tuple(schedulers)

    def match_ForceSchedulerEndpoint_force(
        self, epobject: Any, epdict: dict[str, Any], options: dict[str, Any]
    ) -> defer.Deferred[Match | None]:
        if epdict.get("schedulername") in self.schedulers:
            return defer.succeed(Match(self.master))
        return defer.succeed(None)


class ModuleBuildMatcher(_SiteMatcher):
    """Stop or rebuild a build, or cancel a queued build request, of a module stream
    (builds of :data:`MODULE_BUILDERS`, by their ``module`` and ``stream`` properties).
    A build request's ``set_priority`` stays with release engineering."""

    @defer.inlineCallbacks
    def _by_properties(self, builderid: int, props_path: tuple[Any, ...]) -> Any:
        builder = yield self.master.data.get(("builders", int(builderid)))
        name = builder["name"] if builder else ""
        if name not in MODULE_BUILDERS and not name.startswith(MODULE_VIRTUAL_BUILDERS):
            return None
        props = yield self.master.data.get(props_path)
        props = props or {}
        module = props.get("module", (None,))[0]
        stream = props.get("stream", (None,))[0]
        found = yield self.owned(module, stream)
        return found

    @defer.inlineCallbacks
    def _build(self, epobject: Any, epdict: dict[str, Any]) -> Any:
        build = yield epobject.get({}, epdict)
        if build is None:
            return None
        found = yield self._by_properties(
            build["builderid"], ("builds", build["buildid"], "properties")
        )
        return found

    def match_BuildEndpoint_stop(self, epobject: Any, epdict: Any, options: Any) -> Any:
        return self._build(epobject, epdict)

    def match_BuildEndpoint_rebuild(self, epobject: Any, epdict: Any, options: Any) -> Any:
        return self._build(epobject, epdict)

    @defer.inlineCallbacks
    def match_BuildRequestEndpoint_cancel(self, epobject: Any, epdict: Any, options: Any) -> Any:
        request = yield epobject.get({}, epdict)
        if request is None:
            return None
        found = yield self._by_properties(
            request["builderid"], ("buildsets", request["buildsetid"], "properties")
        )
        return found


class RolesFromSettings(RolesFromBase):  # type: ignore[misc]
    """A user's site roles (:func:`roles_of`)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def getRolesFromUser(self, userDetails: dict[str, Any]) -> list[str]:
        return sorted(roles_of(self.settings, userDetails))


class RolesFromStreamOwners(RolesFromOwner):  # type: ignore[misc]
    """``owner`` for the owners of the module stream a rule matched, and
    ``packager-owner`` when they are packagers too."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(role=OWNER)
        self.settings = settings

    def getRolesFromUser(self, userDetails: dict[str, Any], owner: Any = None) -> list[str]:
        if not isinstance(owner, Owned) or not owns(userDetails, owner.owners):
            return []
        if "packager" in roles_of(self.settings, userDetails):
            return [OWNER, PACKAGER_OWNER]
        return [OWNER]


def authz_rules(site: ModuleSite, settings: Settings) -> list[EndpointMatcherBase]:
    """The allow rules, first match decides; the owner and QE rules fall through
    (``defaultDeny=False``) to the catch-all, which lets release engineering do anything."""
    rules: list[EndpointMatcherBase] = [
        ModuleForceMatcher(site, MODULE_FORCE_SCHEDULERS, role=PACKAGER_OWNER, defaultDeny=False),
        ForceSchedulerMatcher(QE_FORCE_SCHEDULERS, role="qe", defaultDeny=False),
        ModuleBuildMatcher(site, role=OWNER, defaultDeny=False),
        # Everything else that is not a read: every force scheduler, stop, rebuild, cancel,
        # scheduler enable/disable, worker pause/graceful shutdown, ...
        AnyControlEndpointMatcher(role="releng"),
    ]
    if not settings.anonymous_read:
        rules.append(AnyEndpointMatcher(role=LOGGED_IN))
    return rules


def web_auth(site: ModuleSite, settings: Settings) -> dict[str, Any]:
    """``www`` entries ``auth`` and ``authz``; none without accounts (no login)."""
    if not accounts_configured(settings):
        return {}
    local = LocalAccounts(settings) if settings.users or settings.htpasswd_file else None
    auth: Any = local
    if settings.oidc_issuer:
        if settings.oidc_client_secret_file:
            secret: Any = FileSecret(settings.path(settings.oidc_client_secret_file))
        else:
            secret = util.Secret(settings.oidc_client_secret_secret)
        auth = OpenIDConnectAuth(
            settings.oidc_issuer,
            settings.oidc_client_id,
            secret,
            scope=settings.oidc_scope,
            name=settings.oidc_name,
            local=local,
        )
    authz = util.Authz(
        allowRules=authz_rules(site, settings),
        roleMatchers=[RolesFromSettings(settings), RolesFromStreamOwners(settings)],
    )
    return {"auth": auth, "authz": authz}
