"""The module pages: server-rendered HTML under ``<url>modules/`` on Buildbot's web root.

- ``modules/`` — the module streams (``?q=`` filters; a few lines of JS filter as you type);
- ``modules/build/<id>`` — one module build: summary, progress, the component DAG coloured
  by state (the page refreshes while the build runs), checks, gating decisions, Buildbot
  links, where it is published and a ``dnf`` command to install it;
- ``modules/stack/<name:stream>`` — what a stream builds on, as a picture;
- ``modules/stream/<name:stream>`` — end of life and owners; owners of the stream and
  release engineers (``releng``) change them with a form (POST), as their Buildbot login.

No framework: every page is one string, every value passes through ``html.escape``.
Registry reads run in Twisted's thread pool; the reactor only answers.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

import yaml
from buildbot.util import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

from ..master.auth import accounts_configured, may_manage_stream
from ..master.threads import in_thread
from ..registry.model import (
    ComponentRecord,
    ModuleBuildRecord,
    NotFound,
    RegistryError,
    ResultRecord,
)
from .graphs import COMPONENT_COLOURS, MODULE_COLOURS, components_svg, stack_svg
from .stack import build_stack, find_build

if TYPE_CHECKING:
    from ..master.site import ModuleSite

__all__ = ["ModulePages", "ModulePagesService", "modules_dashboard"]

_log = Logger()

UNFINISHED_STATES = frozenset({"init", "wait", "build"})
REFRESH_SECONDS = 5
OUTCOME_COLOURS = {
    "PASSED": "#43a047",
    "INFO": "#4a90e2",
    "FAILED": "#e53935",
    "NEEDS_INSPECTION": "#fb8c00",
}
_STREAM = re.compile(r"^([^:/\s]+):([^:/\s]+)$")

CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #212121; background: #fafafa; }
header { background: #263238; padding: .6em 1em; }
header a { color: #eceff1; margin-right: 1.2em; text-decoration: none; font-weight: 600; }
main { padding: 1em 1.5em; max-width: 1200px; }
h1 { font-size: 1.4em; margin: .2em 0 .6em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .4em 0; }
th, td { text-align: left; padding: .25em .8em .25em 0; border-bottom: 1px solid #e0e0e0;
         vertical-align: top; }
th { color: #546e7a; font-weight: 600; }
.badge { display: inline-block; padding: .05em .55em; border-radius: .8em; font-size: .85em;
         color: #fff; }
.badge.light { color: #212121; }
.muted { color: #757575; }
.legend span { margin-right: .8em; white-space: nowrap; }
.legend i { display: inline-block; width: .9em; height: .9em; border-radius: .2em;
            vertical-align: -.1em; margin-right: .3em; }
.graph { background: #fff; border: 1px solid #e0e0e0; padding: .5em; overflow-x: auto; }
.graph svg { max-width: 100%; height: auto; }
pre { background: #263238; color: #eceff1; padding: .8em; overflow-x: auto; }
.bar { background: #e0e0e0; height: .6em; width: 24em; border-radius: .3em; overflow: hidden; }
.bar div { background: #43a047; height: 100%; }
form.search input[type=search] { width: 24em; padding: .3em; }
.error { color: #b71c1c; }
"""

_LIGHT = {"#bdbdbd", "#a5d6a7", "#fb8c00", "#ffffff"}  # dark text on these


def e(value: object) -> str:
    """``value`` as HTML text (also safe inside a quoted attribute)."""
    return html.escape("" if value is None else str(value))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _badge(text: str, colour: str) -> str:
    light = " light" if colour in _LIGHT else ""
    return f'<span class="badge{light}" style="background:{colour}">{e(text)}</span>'


def state_badge(state: str) -> str:
    return _badge(state, MODULE_COLOURS.get(state, "#9e9e9e"))


def _legend(colours: dict[str, str]) -> str:
    items = "".join(
        f'<span><i style="background:{c}"></i>{e(s)}</span>' for s, c in colours.items()
    )
    return f'<p class="legend">{items}</p>'


def parse_stream(text: str) -> tuple[str, str]:
    """``name:stream`` split; ValueError naming the expected form otherwise."""
    match = _STREAM.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not NAME:STREAM")
    return match.group(1), match.group(2)


def dnf_command(record: ModuleBuildRecord, publish_root: str, profile: str | None) -> str:
    """A copy-paste ``dnf`` installing the stream into an installroot from the stage
    repository (``stage.repo`` names the platform repository too)."""
    platform = record.buildrequires.get("platform", "")
    root = f"/tmp/{record.name}-root"
    target = f"{record.name}:{record.stream}" + (f"/{profile}" if profile else "")
    lines = [
        f"dnf --installroot={root}",
        f"--setopt=reposdir={os.path.join(publish_root, 'stage')}",
        f"--setopt=cachedir={root}/var/cache/dnf",
        "--disableplugin=local --disableplugin=generate_completion_cache",
    ]
    if platform:
        release = platform.lstrip("abcdefghijklmnopqrstuvwxyz") or platform
        lines.append(f"--releasever={release} --setopt=module_platform_id=platform:{platform}")
    lines.append(f"--nogpgcheck -y module install {target}")
    return " \\\n    ".join(lines)


def default_profile(modulemd: str | None) -> str | None:
    """The profile a plain ``module install`` would take: the one named ``default``, else
    the first one, from the build's final modulemd."""
    if not modulemd:
        return None
    try:
        for doc in yaml.safe_load_all(modulemd):
            if isinstance(doc, dict) and doc.get("document") == "modulemd":
                profiles = (doc.get("data") or {}).get("profiles") or {}
                if "default" in profiles:
                    return "default"
                return next(iter(profiles), None)
    except yaml.YAMLError:
        return None
    return None


def stream_owners(site: ModuleSite, name: str, stream: str) -> list[str]:
    """The stream's owners: the registry's (``Registry.owners``, when it has them), else
    the owners of the stream's builds."""
    owners = getattr(site.registry, "owners", None)
    if callable(owners):
        return list(owners(name, stream))
    builds = site.registry.module_builds(name=name, stream=stream, limit=None)
    return sorted({b.owner for b in builds if b.owner})


# --------------------------------------------------------------------------- replies


@dataclass
class Reply:
    body: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class StreamRow:
    name: str
    stream: str
    latest: ModuleBuildRecord
    ready: ModuleBuildRecord | None
    builds: int
    eol: date | None
    owners: list[str]

    @property
    def key(self) -> str:
        return f"{self.name}:{self.stream}"


@dataclass(frozen=True)
class BuildView:
    record: ModuleBuildRecord
    components: list[ComponentRecord]
    svg: str | None
    results: list[ResultRecord]
    waived: set[str]
    profile: str | None
    eol: date | None


@dataclass(frozen=True)
class StreamView:
    name: str
    stream: str
    builds: list[ModuleBuildRecord]
    eol: date | None
    eol_set_by: str | None
    eol_set_at: datetime | None
    owners: list[str]
    owners_editable: bool


class ModulePages(resource.Resource):
    """The ``modules`` child of Buildbot's web root (see the module docstring)."""

    isLeaf = True

    def __init__(self, site: ModuleSite, master: Any) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.site = site
        self.master = master
        self.base = urlsplit(site.settings.url).path or "/"
        self._form_key = os.urandom(32)  # signs the edit form's token (per process)

    # -- links

    def link(self, *parts: str) -> str:
        return self.base + "modules/" + "/".join(quote(p, safe=":") for p in parts)

    def build_link(self, build_id: int) -> str:
        return self.link("build", str(build_id))

    # -- Twisted

    def render_GET(self, request: server.Request) -> int:
        return self._serve(request, self._get)

    def render_POST(self, request: server.Request) -> int:
        return self._serve(request, self._post)

    def _serve(self, request: Any, handler: Callable[[Any], Awaitable[Reply]]) -> int:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _f: gone.append(True))

        async def answer() -> None:
            try:
                reply = await handler(request)
            except HTTPError as err:
                reply = self.error_page(err.status, err.message)
            except NotFound as err:
                reply = self.error_page(404, str(err))
            except (ValueError, RegistryError) as err:
                reply = self.error_page(400, str(err))
            except Exception:
                _log.failure("module pages: {uri}", uri=request.uri.decode("utf-8", "replace"))
                reply = self.error_page(500, "internal error (see the master's log)")
            if gone:
                return
            request.setResponseCode(reply.status)
            request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
            request.setHeader(b"X-Content-Type-Options", b"nosniff")
            request.setHeader(b"X-Frame-Options", b"SAMEORIGIN")
            for key, value in reply.headers.items():
                request.setHeader(key.encode(), value.encode())
            request.write(reply.body.encode("utf-8"))
            request.finish()

        defer.ensureDeferred(answer())
        return server.NOT_DONE_YET

    def _route(self, request: server.Request) -> list[str]:
        return [p.decode("utf-8", "replace") for p in request.postpath or []]

    async def _get(self, request: server.Request) -> Reply:
        settings = self.site.settings
        reader = self.username(request)
        if not settings.anonymous_read and accounts_configured(settings) and reader is None:
            raise HTTPError(403, "log in to Buildbot to read the module pages")
        path = self._route(request)
        if not path:
            return Reply("", 301, {"Location": self.link("")})
        args = parse_qs(urlsplit(request.uri.decode("utf-8", "replace")).query)
        if path == [""]:
            return await self.streams_page(args.get("q", [""])[0].strip())
        if len(path) == 2 and path[0] == "build" and (path[1].isascii() and path[1].isdigit()):
            return await self.build_page(int(path[1]))
        if len(path) == 2 and path[0] == "stack":
            return await self.stack_page(*parse_stream(path[1]))
        if len(path) == 2 and path[0] == "stream":
            return await self.stream_page(request, *parse_stream(path[1]))
        raise HTTPError(404, "no such page: " + "/".join(path))

    async def _post(self, request: server.Request) -> Reply:
        path = self._route(request)
        if len(path) == 2 and path[0] == "stream":
            return await self.edit_stream(request, *parse_stream(path[1]))
        raise HTTPError(405, "only a stream's page takes a form")

    # -- the page frame

    def page(self, title: str, body: str, *, refresh: bool = False) -> str:
        meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)} — {e(self.site.settings.title)}</title>{meta}"
            f'<link rel="icon" href="{e(self.base)}icon.svg">'
            f"<style>{CSS}</style></head><body><header>"
            f'<a href="{e(self.link(""))}">Modules</a>'
            f'<a href="{e(self.base)}#/waterfall" target="_top">Waterfall</a>'
            f'<a href="{e(self.base)}" target="_top">Buildbot</a>'
            f"</header><main>{body}</main></body></html>"
        )

    def error_page(self, status: int, message: str) -> Reply:
        return Reply(self.page(f"{status}", f'<h1 class="error">{e(message)}</h1>'), status)

    # -- /modules/

    async def streams_page(self, q: str) -> Reply:
        rows = await in_thread(self.stream_rows, q)
        lines = []
        for r in rows:
            ready = (
                f'<a href="{e(self.build_link(r.ready.id))}">{e(r.ready.version)}</a>'
                if r.ready
                else '<span class="muted">none</span>'
            )
            lines.append(
                f'<tr data-search="{e(r.key.lower())} {e(" ".join(r.owners).lower())}">'
                f'<td><a href="{e(self.link("stream", r.key))}">{e(r.key)}</a></td>'
                f'<td><a href="{e(self.build_link(r.latest.id))}">{state_badge(r.latest.state)}'
                f"</a> {e(r.latest.version)}.{e(r.latest.context)}</td>"
                f"<td>{ready}</td><td>{e(r.eol or '—')}</td><td>{e(', '.join(r.owners))}</td>"
                f"<td>{r.builds}</td>"
                f'<td><a href="{e(self.link("stack", r.key))}">stack</a></td></tr>'
            )
        table = (
            '<table id="streams"><thead><tr><th>stream</th><th>latest build</th>'
            "<th>latest ready version</th><th>end of life</th><th>owners</th><th>builds</th>"
            "<th></th></tr></thead><tbody>" + "".join(lines) + "</tbody></table>"
            if rows
            else '<p class="muted">No module stream matches.</p>'
        )
        body = (
            "<h1>Module streams</h1>"
            f'<form class="search" method="get" action="{e(self.link(""))}">'
            f'<input type="search" name="q" id="q" value="{e(q)}" '
            'placeholder="name:stream or owner" autofocus> <button>Search</button></form>'
            + table
            + "<script>"
            "document.getElementById('q').addEventListener('input', function (ev) {"
            " var q = ev.target.value.toLowerCase();"
            " document.querySelectorAll('#streams tbody tr').forEach(function (tr) {"
            "  tr.hidden = tr.dataset.search.indexOf(q) < 0; }); });"
            "</script>"
        )
        return Reply(self.page("Module streams", body))

    def stream_rows(self, q: str) -> list[StreamRow]:
        registry = self.site.registry
        by_stream: dict[tuple[str, str], list[ModuleBuildRecord]] = {}
        for b in registry.module_builds(limit=None):
            by_stream.setdefault((b.name, b.stream), []).append(b)
        eols = {(x.name, x.stream): x.eol for x in registry.stream_eols()}
        rows = []
        for (name, stream), builds in sorted(by_stream.items()):
            owners = stream_owners(self.site, name, stream)
            key = f"{name}:{stream}".lower()
            needle = q.lower()
            if needle and needle not in key and not any(needle in o.lower() for o in owners):
                continue
            rows.append(
                StreamRow(
                    name=name,
                    stream=stream,
                    latest=max(builds, key=lambda b: b.id),
                    ready=next((b for b in builds if b.state == "ready"), None),
                    builds=len(builds),
                    eol=eols.get((name, stream)),
                    owners=owners,
                )
            )
        return rows

    # -- /modules/build/<id>

    async def build_page(self, build_id: int) -> Reply:
        view = await in_thread(self.build_view, build_id)
        record = view.record
        module_url, components_url = await self.buildbot_links(record)
        unfinished = record.state in UNFINISHED_STATES or (
            record.state == "done" and not record.decisions
        )
        body = [
            f"<h1>{e(record.nsvc)} {state_badge(record.state)}</h1>",
            self.summary_table(view, module_url, components_url),
            self.progress(view.components),
            "<h2>Components</h2>",
            _legend(COMPONENT_COLOURS),
            f'<div class="graph" id="dag">{view.svg}</div>'
            if view.svg
            else '<p class="muted">No picture (no components yet, or Graphviz is missing).</p>',
            self.components_table(view.components),
            "<h2>Checks</h2>",
            self.checks_table(view),
            "<h2>Gating</h2>",
            self.decisions_table(record),
            "<h2>Install</h2>",
            self.install(view),
        ]
        return Reply(self.page(record.nsvc, "".join(body), refresh=unfinished))

    def build_view(self, build_id: int) -> BuildView:
        registry = self.site.registry
        record = registry.module_build(build_id)
        components = registry.components(build_id)
        effective: dict[str, bool] = {}
        for w in registry.waivers(item=record.nsvc):  # newest first: the first one counts
            effective.setdefault(w.testcase, w.waived)
        return BuildView(
            record=record,
            components=components,
            svg=components_svg(components),
            results=sorted(
                registry.results(module_build_id=build_id, latest_only=True),
                key=lambda r: r.testcase,
            ),
            waived={t for t, waived in effective.items() if waived},
            profile=default_profile(record.modulemd),
            eol=registry.eol(record.name, record.stream),
        )

    async def buildbot_links(self, record: ModuleBuildRecord) -> tuple[str | None, str | None]:
        """The Buildbot build that made ``record`` (its ``nsvcs`` property names it) and
        the ``components N:S`` builder; None when Buildbot does not know them."""
        url = self.site.settings.url
        stream = f"{record.name}:{record.stream}"
        try:
            builders = await self.master.data.get(("builders",))
            ids = {b["name"]: b["builderid"] for b in builders}
            components = ids.get(f"components {stream}")
            components_url = f"{url}#/builders/{components}" if components else None
            for name in (f"module {stream}", "modules"):
                if name not in ids:
                    continue
                builds = await self.master.data.get(
                    ("builders", ids[name], "builds"), order=["-number"], limit=30
                )
                for b in builds:
                    props = await self.master.data.get(("builds", b["buildid"], "properties"))
                    nsvcs = (props or {}).get("nsvcs", ([], ""))[0] or []
                    if record.nsvc in nsvcs:
                        return f"{url}#/builders/{ids[name]}/builds/{b['number']}", components_url
            return None, components_url
        except Exception:  # the page is still useful without the links
            _log.failure("module pages: Buildbot links of {nsvc}", nsvc=record.nsvc)
            return None, None

    def summary_table(
        self, view: BuildView, module_url: str | None, components_url: str | None
    ) -> str:
        r = view.record
        stream = f"{r.name}:{r.stream}"

        def deps(values: Iterable[tuple[str, str]]) -> str:
            return ", ".join(
                f'<a href="{e(self.link("stream", f"{n}:{s}"))}">{e(n)}:{e(s)}</a>'
                for n, s in values
            )

        requires = [(n, s) for n, streams in r.requires.items() for s in (streams or ["*"])]
        links = [
            f'<a href="{e(self.link("stream", stream))}">stream {e(stream)}</a>',
            f'<a href="{e(self.link("stack", stream))}">stack picture</a>',
        ]
        if module_url:
            links.append(f'<a href="{e(module_url)}" target="_top">Buildbot build</a>')
        if components_url:
            links.append(
                f'<a href="{e(components_url)}" target="_top">Buildbot: components {e(stream)}</a>'
            )
        rows = [
            ("state", state_badge(r.state) + (f" {e(r.state_reason)}" if r.state_reason else "")),
            ("owner", e(r.owner)),
            ("source", f"{e(r.scmurl)} <span class='muted'>{e(r.commit[:12])}</span>"),
            ("submitted", e(_when(r.submitted_at))),
            ("started", e(_when(r.started_at))),
            ("finished", e(_when(r.finished_at))),
            ("buildrequires", deps(sorted(r.buildrequires.items()))),
            ("requires", deps(sorted(requires))),
            ("end of life", e(view.eol or "—")),
            ("links", " · ".join(links)),
        ]
        if r.scratch:
            rows.insert(1, ("scratch", "yes"))
        return (
            "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
        )

    def progress(self, components: Sequence[ComponentRecord]) -> str:
        total = len(components)
        if not total:
            return '<p class="muted">No components planned yet.</p>'
        count = {s: sum(1 for c in components if c.state == s) for s in COMPONENT_COLOURS}
        done = count["built"] + count["reused"]
        parts = [f"{done}/{total} components built"]
        parts += [
            f"{count[s]} {s}" for s in ("building", "failed", "dependency-failed") if count[s]
        ]
        percent = 100 * done // total
        return (
            f'<p id="progress">{e(", ".join(parts))}</p>'
            f'<div class="bar"><div style="width:{percent}%"></div></div>'
        )

    def components_table(self, components: Sequence[ComponentRecord]) -> str:
        if not components:
            return ""
        rows = []
        for c in sorted(components, key=lambda c: (c.level, c.name)):
            log_link = (
                f'<a href="{e(c.log_url)}" target="_top">build</a>'
                if c.log_url and c.log_url.startswith(("http://", "https://"))
                else ""
            )
            if c.state == "reused" and c.reused_from:  # where its RPMs were built
                log_link = (
                    f'<a href="{e(self.build_link(c.reused_from))}">from build {c.reused_from}</a>'
                )
            took = f"{c.duration:.0f} s" if c.duration is not None else ""
            rows.append(
                f"<tr><td>{e(c.name)}</td>"
                f"<td>{_badge(c.state, COMPONENT_COLOURS.get(c.state, '#9e9e9e'))}</td>"
                f"<td>{e(c.nvr or '')}</td><td>{e(', '.join(c.after))}</td>"
                f"<td>{e(took)}</td><td>{log_link}</td><td>{e(c.reason or '')}</td></tr>"
            )
        return (
            "<table><tr><th>component</th><th>state</th><th>NVR</th><th>after</th>"
            "<th>took</th><th>Buildbot</th><th>reason</th></tr>" + "".join(rows) + "</table>"
        )

    def checks_table(self, view: BuildView) -> str:
        if not view.results:
            later = view.record.state in UNFINISHED_STATES or view.record.state == "done"
            return f'<p class="muted">No check results{" yet" if later else ""}.</p>'
        rows = []
        for r in view.results:
            waived = " <span class='muted'>(waived)</span>" if r.testcase in view.waived else ""
            ref = (
                f'<a href="{e(r.ref_url)}" target="_top">log</a>'
                if r.ref_url and r.ref_url.startswith(("http://", "https://"))
                else ""
            )
            rows.append(
                f"<tr><td>{e(r.testcase)}</td>"
                f"<td>{_badge(r.outcome, OUTCOME_COLOURS.get(r.outcome, '#9e9e9e'))}{waived}</td>"
                f"<td>{e(r.note)}</td><td>{e(_when(r.submitted_at))}</td><td>{ref}</td></tr>"
            )
        return (
            '<table id="checks"><tr><th>test case</th><th>outcome</th><th>note</th>'
            "<th>when</th><th></th></tr>" + "".join(rows) + "</table>"
        )

    def decisions_table(self, r: ModuleBuildRecord) -> str:
        rows = []
        for context in ("stage", "production"):
            decision = (r.decisions or {}).get(context)
            if not decision:
                rows.append(f"<tr><th>{context}</th><td class='muted'>not decided</td></tr>")
                continue
            ok = bool(decision.get("policies_satisfied"))
            missing = [
                str(u.get("testcase", u.get("type", "?")))
                for u in decision.get("unsatisfied_requirements", [])
                if isinstance(u, dict)
            ]
            extra = f" — unsatisfied: {e(', '.join(missing))}" if missing else ""
            rows.append(
                f"<tr><th>{context}</th><td>"
                + _badge("passed" if ok else "held", "#43a047" if ok else "#e53935")
                + f" {e(decision.get('summary', ''))}{extra}</td></tr>"
            )
        if r.production_path:
            rows.append(
                f"<tr><th>promoted</th><td>{e(_when(r.promoted_at))} by {e(r.promoted_by)}: "
                f"<code>{e(r.production_path)}</code></td></tr>"
            )
        return "<table>" + "".join(rows) + "</table>"

    def install(self, view: BuildView) -> str:
        r = view.record
        if not r.published_path:
            return '<p class="muted">Not published (yet).</p>'
        stage_repo = os.path.join(self.site.publish_root, "stage", "stage.repo")
        command = dnf_command(r, self.site.publish_root, view.profile)
        return (
            f"<p>Published to <code>{e(r.published_path)}</code>; dnf reads it through "
            f"<code>{e(stage_repo)}</code> (the stage repository and the platform "
            "repository). Install the stream's newest build into an installroot:</p>"
            f'<pre id="dnf">{e(command)}</pre>'
            "<p class='muted'>On Fedora: copy the .repo file to /etc/yum.repos.d/ and run "
            f"<code>dnf module install {e(r.name)}:{e(r.stream)}</code>.</p>"
        )

    # -- /modules/stack/<N:S>

    async def stack_page(self, name: str, stream: str) -> Reply:
        stack, svg = await in_thread(self.stack_view, name, stream)
        key = f"{name}:{stream}"
        by_key = {n["nsvc"]: n for n in stack["nodes"]}
        rows = []
        for node in stack["nodes"]:
            build_id = node.get("build_id")
            cell = (
                f'<a href="{e(self.build_link(int(build_id)))}">{e(node["nsvc"])}</a> '
                + state_badge(str(node.get("state")))
                if build_id is not None
                else '<span class="muted">no build on this site</span>'
            )
            needs = ", ".join(
                f"{e(self._stream_of(by_key.get(x['to'], {})) or x['to'])} ({e(x['kind'])})"
                for x in stack["edges"]
                if x["from"] == node["nsvc"]
            )
            rows.append(
                f"<tr><td>{e(self._stream_of(node))}</td><td>{cell}</td><td>{needs}</td></tr>"
            )
        api = self.base + "module-build-service/1/stack/" + quote(key, safe=":")
        body = (
            f"<h1>Stack of {e(key)}</h1><p>What {e(key)} was built against and runs with: "
            "the streams it buildrequires and requires (dashed), each resolved to a build. "
            "Click a module to open its build.</p>"
            + _legend(MODULE_COLOURS)
            + (
                f'<div class="graph" id="stack">{svg}</div>'
                if svg
                else '<p class="muted">No picture (Graphviz is missing).</p>'
            )
            + "<table><tr><th>stream</th><th>build</th><th>needs</th></tr>"
            + "".join(rows)
            + "</table>"
            + f'<p class="muted">From the API: <a href="{e(api)}">JSON</a> · '
            f'<a href="{e(api)}.svg">SVG</a></p>'
        )
        return Reply(self.page(f"Stack of {key}", body))

    @staticmethod
    def _stream_of(node: dict[str, Any]) -> str:
        if not node:
            return ""
        return f"{node['name']}:{node['stream']}"

    def stack_view(self, name: str, stream: str) -> tuple[dict[str, Any], str | None]:
        """The stack of the stream's newest ready build (else newest), and its picture."""
        registry = self.site.registry
        stack = build_stack(registry, find_build(registry, f"{name}:{stream}")).as_json()
        return stack, stack_svg(stack, self.build_link)

    # -- /modules/stream/<N:S>

    async def stream_page(
        self, request: server.Request, name: str, stream: str, message: str = ""
    ) -> Reply:
        view = await in_thread(self.stream_view, name, stream)
        user = self.username(request)
        key = f"{name}:{stream}"
        rows = "".join(
            f'<tr><td><a href="{e(self.build_link(b.id))}">{e(b.version)}.{e(b.context)}</a></td>'
            f"<td>{state_badge(b.state)}</td><td>{e(_when(b.submitted_at))}</td>"
            f"<td>{e(b.owner)}</td></tr>"
            for b in view.builds
        )
        eol = e(view.eol or "none")
        if view.eol_set_by:
            eol += f" <span class='muted'>(set by {e(view.eol_set_by)}, "
            eol += f"{e(_when(view.eol_set_at))})</span>"
        body = [
            f"<h1>{e(key)}</h1>",
            f"<p class='error'>{e(message)}</p>" if message else "",
            "<table>",
            f"<tr><th>end of life</th><td id='eol'>{eol}</td></tr>",
            f"<tr><th>owners</th><td id='owners'>{e(', '.join(view.owners) or '—')}</td></tr>",
            f'<tr><th>links</th><td><a href="{e(self.link("stack", key))}">stack picture</a>'
            "</td></tr></table>",
        ]
        if user and self.may_edit(request, view.owners):
            owners_field = (
                '<label>Owners (comma separated) <input name="owners" size="40" '
                f'value="{e(", ".join(view.owners))}"></label><br>'
                if view.owners_editable
                else ""
            )
            body.append(
                f"<h2>Edit (as {e(user)})</h2>"
                f'<form method="post" action="{e(self.link("stream", key))}">'
                f'<input type="hidden" name="token" value="{e(self.form_token(user))}">'
                '<label>End of life <input type="date" name="eol" '
                f'value="{e(view.eol or "")}"></label> '
                '<span class="muted">(empty: none)</span><br>'
                f"{owners_field}<button>Save</button></form>"
            )
        else:
            who = f"{user} is" if user else "you are not logged in, or"
            body.append(
                f"<p class='muted'>Only the stream's owners and release engineers may edit; "
                f"{e(who)} not one of them (log in to Buildbot).</p>"
            )
        body.append(
            "<h2>Builds</h2><table><tr><th>version.context</th><th>state</th>"
            f"<th>submitted</th><th>owner</th></tr>{rows}</table>"
        )
        return Reply(self.page(key, "".join(body)))

    def stream_view(self, name: str, stream: str) -> StreamView:
        registry = self.site.registry
        record = next((x for x in registry.stream_eols(name) if x.stream == stream), None)
        return StreamView(
            name=name,
            stream=stream,
            builds=registry.module_builds(name=name, stream=stream, limit=20),
            eol=record.eol if record else None,
            eol_set_by=record.set_by if record else None,
            eol_set_at=record.set_at if record else None,
            owners=stream_owners(self.site, name, stream),
            owners_editable=callable(getattr(registry, "set_owners", None)),
        )

    def username(self, request: server.Request) -> str | None:
        """The Buildbot web session's user, or None (anonymous, or no web login)."""
        try:
            info = self.master.www.getUserInfos(request)
        except Exception:  # no session secret: the web server is not configured
            return None
        if not isinstance(info, dict) or info.get("anonymous"):
            return None
        name = info.get("username")
        return str(name) if name else None

    def may_edit(self, request: server.Request, owners: Sequence[str]) -> bool:
        """The stream's owners and release engineering (``master.auth``'s roles)."""
        try:
            info = self.master.www.getUserInfos(request)
        except Exception:  # no session secret: the web server is not configured
            return False
        return isinstance(info, dict) and may_manage_stream(self.site.settings, info, owners)

    def form_token(self, user: str) -> str:
        """Ties a form to the logged-in user: another site cannot post it for them."""
        return hmac.new(self._form_key, user.encode("utf-8"), hashlib.sha256).hexdigest()

    async def edit_stream(self, request: server.Request, name: str, stream: str) -> Reply:
        user = self.username(request)
        if user is None:
            raise HTTPError(403, "log in to Buildbot to edit a module stream")
        owners = await in_thread(stream_owners, self.site, name, stream)
        if not self.may_edit(request, owners):
            raise HTTPError(403, f"{user} is neither an owner of {name}:{stream} nor in releng")
        form = {
            k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace").strip()
            for k, v in (request.args or {}).items()
            if v
        }
        if not hmac.compare_digest(form.get("token", ""), self.form_token(user)):
            raise HTTPError(403, "the form has expired or did not come from this page; reload")
        eol: date | None = None
        if form.get("eol"):
            try:
                eol = date.fromisoformat(form["eol"])
            except ValueError:
                raise HTTPError(400, f"end of life {form['eol']!r}: use YYYY-MM-DD") from None
        new_owners = None
        if "owners" in form:
            new_owners = [o.strip() for o in form["owners"].split(",") if o.strip()]

        def save() -> None:
            registry = self.site.registry
            if registry.eol(name, stream) != eol:
                registry.set_eol(name, stream, eol, user)
            set_owners = getattr(registry, "set_owners", None)
            if new_owners is not None and callable(set_owners) and new_owners != owners:
                set_owners(name, stream, new_owners, user)

        await in_thread(save)
        return Reply("", 303, {"Location": self.link("stream", f"{name}:{stream}")})


class ModulePagesService(service.BuildbotService):  # type: ignore[misc]
    """Mounts :class:`ModulePages` as ``modules`` on Buildbot's web root at start."""

    name = "bbmod-pages"

    def checkConfig(self, site: ModuleSite) -> None:
        pass

    def reconfigService(self, site: ModuleSite) -> None:
        www = self.master.www
        root = www.apps.get(www.base_plugin_name).resource
        root.putChild(b"modules", ModulePages(site, self.master))


# --------------------------------------------------------------------------- menu entry


def modules_dashboard(site: ModuleSite) -> dict[str, Any]:
    """A ``wsgi_dashboards`` entry: "Modules" in Buildbot's menu, showing the pages."""
    return {
        "name": "modules",
        "caption": "Modules",
        "app": _ModulesMenuApp(urlsplit(site.settings.url).path or "/"),
        "order": 4,
        "icon": "cubes",
    }


class _ModulesMenuApp:
    """The dashboard's one page: the module pages in a frame, and a link to them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.buildbot_api: Any = None  # set by the wsgi_dashboards plugin

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], Any]
    ) -> list[bytes]:
        url = e(self.base + "modules/")
        body = (
            f'<p style="margin:.4em 1em"><a href="{url}">Open the module pages on their own</a>'
            f'</p><iframe src="{url}" title="Modules" '
            'style="width:100%;height:calc(100vh - 110px);border:0"></iframe>'
        ).encode()
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]
