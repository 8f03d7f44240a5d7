"""The module client behind ``bbmod list|info|stack|builds|repos|build|watch``.

A *source* is either a module service (an ``http(s)://`` base URL of a master whose
``module-build-service/1/openapi.json`` answers) or a plain module repository (a path,
``file://`` or ``http(s)://`` URL of a repository or ``modules.yaml``, read with
:class:`~buildbot_modules.core.catalogue.RepoCatalogue`). Results from several sources
are merged; every row says which source it came from.

Default sources, user and password come from ``$XDG_CONFIG_HOME/bbmod/config.toml``
(``~/.config/bbmod/config.toml``)::

    sources = ["http://modules.example.org:8010/", "/srv/repos/extra"]
    user = "dev"
    password_env = "BBMOD_PASSWORD"   # or: password = "..."
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import quote, urlparse

import requests

from .core.catalogue import CatalogueEntry, RepoCatalogue
from .core.problems import ModuleError

__all__ = [
    "ClientConfig",
    "ClientError",
    "RepoSource",
    "ServiceSource",
    "Source",
    "config_path",
    "load_config",
    "open_sources",
    "watch",
]

API = "module-build-service/1/"
TIMEOUT = 30
PASSWORD_ENV = "BBMOD_PASSWORD"


class ClientError(Exception):
    """A source could not answer; the message says which and why."""


@dataclass
class ClientConfig:
    sources: list[str] = field(default_factory=list)
    user: str | None = None
    password: str | None = None


def config_path() -> str:
    """``$XDG_CONFIG_HOME/bbmod/config.toml``, else ``~/.config/bbmod/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "bbmod", "config.toml")


def load_config(path: str | None = None) -> ClientConfig:
    """The client configuration (empty when the file does not exist)."""
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raw = {}
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ClientError(f"{path}: {e}") from None
    unknown = sorted(set(raw) - {"sources", "user", "password", "password_env"})
    if unknown:
        raise ClientError(f"{path}: unknown key(s) {', '.join(unknown)}")
    sources = raw.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ClientError(f"{path}: sources must be a list of URLs or paths")
    password = raw.get("password")
    env = raw.get("password_env", PASSWORD_ENV)
    if password is None and isinstance(env, str):
        password = os.environ.get(env)
    user = raw.get("user")
    return ClientConfig(
        sources=list(sources),
        user=str(user) if user else None,
        password=str(password) if password else None,
    )


class Source:
    """Common interface of a service and a repository."""

    location: str
    kind: str

    def streams(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def info(self, ref: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def repos(self, area: str) -> list[dict[str, Any]]:
        raise NotImplementedError


class ServiceSource(Source):
    """A module service (this project's master): the REST API."""

    kind = "service"

    def __init__(self, base: str, user: str | None = None, password: str | None = None) -> None:
        self.location = base if base.endswith("/") else base + "/"
        self.api = self.location + API
        self.session = requests.Session()
        if user and password:
            self.session.auth = (user, password)

    def close(self) -> None:
        self.session.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        body: Any = None,
        ok: Iterable[int] = (200,),
    ) -> Any:
        try:
            response = self.session.request(
                method, self.api + path, params=params, json=body, timeout=TIMEOUT
            )
        except requests.RequestException as e:
            raise ClientError(f"{self.location}: {e}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {"message": response.text[:300]}
        if response.status_code not in tuple(ok):
            message = answer.get("message") if isinstance(answer, dict) else str(answer)
            raise ClientError(f"{self.location}: {response.status_code} {message}")
        return answer

    def pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.call(
                "GET", path, params={**(params or {}), "page": page, "per_page": 100}
            )
            out += answer["items"]
            if page >= answer["meta"]["pages"]:
                return out
            page += 1

    def streams(self) -> list[dict[str, Any]]:
        rows = []
        for s in self.pages("module-streams/"):
            ready = s.get("latest_ready") or {}
            rows.append(
                {
                    "source": self.location,
                    "name": s["name"],
                    "stream": s["stream"],
                    "latest": ready.get("nsvc"),
                    "state": (s.get("latest") or {}).get("state_name"),
                    "eol": s.get("eol"),
                    "owners": s.get("owners", []),
                }
            )
        return rows

    def info(self, ref: str) -> list[dict[str, Any]]:
        parts = ref.split(":")
        if len(parts) >= 3:
            build = self.call("GET", "module-builds/" + quote(ref), ok=(200, 404))
            return [] if build.get("status") == 404 else [{"source": self.location, **build}]
        stream = self.call("GET", "module-streams/" + quote(ref), ok=(200, 404))
        return [] if stream.get("status") == 404 else [{"source": self.location, **stream}]

    def repos(self, area: str) -> list[dict[str, Any]]:
        rows = []
        for s in self.pages("module-streams/"):
            ready = s.get("latest_ready") or {}
            path = ready.get("production_path" if area == "production" else "published_path")
            if path:
                rows.append(
                    {
                        "source": self.location,
                        "id": f"{s['name']}-{s['stream']}-{area}",
                        "name": f"{ready['nsvc']} ({area})",
                        "baseurl": "file://" + path if path.startswith("/") else path,
                    }
                )
        return rows

    def stack(self, ref: str) -> dict[str, Any] | None:
        """The stack of ``ref``, or ``None`` when this service has no such build."""
        answer: dict[str, Any] = self.call("GET", "stack/" + quote(ref), ok=(200, 404))
        return None if answer.get("status") == 404 else answer

    def builds(self, state: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"per_page": min(limit, 100)}
        if state:
            params["state"] = state
        items: list[dict[str, Any]] = self.call("GET", "module-builds/", params=params)["items"]
        return [{"source": self.location, **b} for b in items]

    def build(
        self, ref: str, *, scratch: bool = False, rebuild_strategy: str | None = None
    ) -> dict[str, Any]:
        """Submit a build of ``N:S`` at its dist-git branch head."""
        stream = self.call("GET", "module-streams/" + quote(ref))
        scm = stream.get("scm")
        if not scm:
            raise ClientError(f"{self.location}: {ref} has no branch in the site's dist-git")
        body: dict[str, Any] = {"scmurl": scm["scmurl"], "branch": scm["branch"]}
        if scratch:
            body["scratch"] = True
        if rebuild_strategy:
            body["rebuild_strategy"] = rebuild_strategy
        answer: dict[str, Any] = self.call("POST", "module-builds/", body=body, ok=(201,))
        return answer

    def module_build(self, build_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", "module-builds/" + quote(build_id))
        return answer


class RepoSource(Source):
    """A plain module repository (``modules.yaml``), read once."""

    kind = "repository"

    def __init__(self, location: str) -> None:
        self.location = location
        self.catalogue = RepoCatalogue(location)

    def _entries(self) -> list[CatalogueEntry]:
        try:
            # The catalogue answers by name; here every name is wanted.
            loaded = self.catalogue._loaded()
        except ModuleError as e:
            raise ClientError(f"{self.location}: {e.message}") from None
        return [e for streams in loaded.values() for es in streams.values() for e in es]

    def streams(self) -> list[dict[str, Any]]:
        newest: dict[tuple[str, str], CatalogueEntry] = {}
        for entry in self._entries():
            key = (entry.name, entry.stream)
            if key not in newest or entry.version > newest[key].version:
                newest[key] = entry
        return [
            {
                "source": self.location,
                "name": e.name,
                "stream": e.stream,
                "latest": e.nsvc,
                "state": "published",
                "eol": None,
                "owners": [],
            }
            for e in newest.values()
        ]

    def info(self, ref: str) -> list[dict[str, Any]]:
        parts = ref.split(":")
        out = []
        for e in self._entries():
            if [e.name, e.stream, str(e.version), e.context][: len(parts)] == parts:
                out.append(
                    {
                        "source": self.location,
                        "nsvc": e.nsvc,
                        "name": e.name,
                        "stream": e.stream,
                        "version": str(e.version),
                        "context": e.context,
                        "arch": e.arch,
                        "state_name": "published",
                        "buildrequires": {k: list(v) for k, v in e.buildrequires.items()},
                        "requires": {k: list(v) for k, v in e.requires.items()},
                        "artifacts": {"rpms": list(e.artifacts)},
                    }
                )
        return out

    def repos(self, area: str) -> list[dict[str, Any]]:
        url = self.location
        if not urlparse(url).scheme:
            url = "file://" + os.path.abspath(url)
        name = os.path.basename(url.rstrip("/")) or "modules"
        return [{"source": self.location, "id": f"bbmod-{name}", "name": url, "baseurl": url}]


def is_service(location: str) -> bool:
    """Whether an ``http(s)://`` location is a module service (its OpenAPI document answers)."""
    if urlparse(location).scheme not in ("http", "https"):
        return False
    base = location if location.endswith("/") else location + "/"
    try:
        response = requests.get(base + API + "openapi.json", timeout=10)
        return response.status_code == 200 and "paths" in response.json()
    except (requests.RequestException, ValueError):
        return False


def open_sources(locations: Iterable[str], config: ClientConfig) -> list[Source]:
    """One :class:`Source` per location: a service when one answers there, else a repository."""
    out: list[Source] = []
    for location in locations:
        if is_service(location):
            out.append(ServiceSource(location, config.user, config.password))
        else:
            out.append(RepoSource(location))
    return out


def repo_file(rows: list[dict[str, Any]]) -> str:
    """dnf ``.repo`` text for repository rows."""
    sections = []
    for row in rows:
        sections.append(
            f"[{row['id']}]\nname={row['name']}\nbaseurl={row['baseurl']}\nenabled=1\ngpgcheck=0\n"
        )
    return "\n".join(sections)


def _progress(build: dict[str, Any]) -> tuple[int, int, int, int]:
    components = build.get("components") or []
    done = sum(1 for c in components if c["state"] in ("built", "reused"))
    running = sum(1 for c in components if c["state"] == "building")
    failed = sum(1 for c in components if c["state"] in ("failed", "dependency-failed"))
    return done, len(components), running, failed


def finished(build: dict[str, Any]) -> bool:
    """Whether the build will not change any more: ready, failed or garbage — or done
    with a stage decision that held it (until a waiver), or a scratch build's (never
    ready). A satisfied decision is recorded just before the build becomes ready."""
    state = build.get("state_name")
    if state in ("ready", "failed", "garbage"):
        return True
    stage = (build.get("decisions") or {}).get("stage")
    if state != "done" or not isinstance(stage, dict):
        return False
    return bool(build.get("scratch")) or not stage.get("policies_satisfied")


def watch(
    source: ServiceSource,
    build_id: str,
    out: TextIO,
    *,
    tty: bool,
    interval: float = 1.0,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Follow a build to its end: a live line on a TTY, a line per change otherwise,
    one line per component failure as it happens. 0 when it ends ready or done, 1 failed."""
    started = time.monotonic()
    reported: set[str] = set()
    last = ""
    while True:
        build = source.module_build(build_id)
        done, total, running, failed = _progress(build)
        for c in build.get("components") or []:
            if c["state"] in ("failed", "dependency-failed") and c["name"] not in reported:
                reported.add(c["name"])
                why = f": {c['reason']}" if c.get("reason") else ""
                line = f"component {c['name']} {c['state']}{why}"
                out.write(("\r\x1b[K" if tty else "") + line + "\n")
        nsvc = build.get("nsvc") or f"build {build_id}"
        line = (
            f"{nsvc} {build.get('state_name')}: {done}/{total} components built, "
            f"{running} building, {failed} failed"
        )
        if tty:
            elapsed = int(time.monotonic() - started)
            out.write(f"\r\x1b[K{line} [{elapsed}s]")
        elif line != last:
            out.write(line + "\n")
        out.flush()
        last = line
        if finished(build):
            if tty:
                out.write("\n")
            state = build.get("state_name")
            reason = f" ({build['state_reason']})" if build.get("state_reason") else ""
            out.write(f"{nsvc} ended {state}{reason}\n")
            out.flush()
            return 0 if state in ("ready", "done") else 1
        if timeout is not None and time.monotonic() - started > timeout:
            out.write(("\n" if tty else "") + f"{nsvc}: still {build.get('state_name')}\n")
            return 1
        sleep(interval)


def main_sources(explicit: list[str] | None, config: ClientConfig) -> list[str]:
    """``--source`` values, else the configuration's; an error when there are none."""
    chosen = explicit or config.sources
    if not chosen:
        raise ClientError(
            f"no sources: give --source URL_OR_PATH or set sources in {config_path()}"
        )
    return chosen


def stderr(message: str) -> None:
    print(f"bbmod: {message}", file=sys.stderr)
