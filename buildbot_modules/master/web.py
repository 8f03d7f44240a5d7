"""The quality dashboard in Buildbot's web UI, and the ResultsDB-format endpoint.

Served by Buildbot's ``wsgi_dashboards`` plugin under
``<url>plugins/wsgi_dashboards/quality/``:

- ``index.html`` — the "Module quality" page: recent module builds, their state, the
  stage and production decisions, each test case's latest outcome and waivers;
- ``api/v2.0/results`` (and ``…/results/latest``) — the registry's results in ResultsDB
  API v2.0 JSON, filtered by ``item``, ``testcases``, ``outcome``, ``since``, ``limit``;
- ``api/v2.0/decisions?item=NSVC`` — the recorded gating decisions of a build.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..core.problems import ModuleError

if TYPE_CHECKING:
    from .site import ModuleSite

PREFIX = "plugins/wsgi_dashboards/quality/"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def quality_dashboard(site: ModuleSite) -> dict[str, Any]:
    """The ``wsgi_dashboards`` entry for the Buildbot ``www`` configuration."""
    return {
        "name": "quality",
        "caption": "Module quality",
        "app": QualityApp(site),
        "order": 5,
        "icon": "check-square",
    }


class QualityApp:
    """A plain WSGI application (no framework): a few read-only routes."""

    def __init__(self, site: ModuleSite) -> None:
        self.site = site
        self.buildbot_api: Any = None  # set by the wsgi_dashboards plugin

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/").strip("/")
        args = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=False)
        try:
            if path in ("", "index.html"):
                return _reply(start_response, "200 OK", "text/html", self.page())
            if path in ("api/v2.0/results", "api/v2.0/results/latest"):
                from ..resultsdb import query

                base = self.site.settings.url + PREFIX + "api/v2.0/"
                answer = query(self.site.registry, args, base, latest=path.endswith("/latest"))
                return _reply(start_response, "200 OK", "application/json", json.dumps(answer))
            if path == "api/v2.0/decisions":
                return _reply(
                    start_response,
                    "200 OK",
                    "application/json",
                    json.dumps(self.decisions(args.get("item", [""])[0])),
                )
        except (ValueError, LookupError, ModuleError) as e:
            body = json.dumps({"message": str(e)})
            return _reply(start_response, "400 Bad Request", "application/json", body)
        body = json.dumps({"message": f"no such resource: /{path}"})
        return _reply(start_response, "404 Not Found", "application/json", body)

    def decisions(self, item: str) -> dict[str, Any]:
        from .quality import find_build

        if not item:
            raise ValueError("give ?item=NAME:STREAM:VERSION:CONTEXT")
        try:
            build_id = find_build(self.site, item)
        except Exception as e:  # ModuleError: unknown build
            raise LookupError(str(e)) from e
        record = self.site.registry.module_build(build_id)
        return {
            "item": item,
            "state": record.state,
            "decisions": record.decisions or {},
            "promoted_at": record.promoted_at.isoformat() if record.promoted_at else None,
            "promoted_by": record.promoted_by,
            "production_path": record.production_path,
        }

    def page(self) -> str:
        registry = self.site.registry
        rows = []
        for build in registry.module_builds(limit=50):
            results = registry.results(item=build.nsvc, latest_only=True)
            waived = {w.testcase for w in registry.waivers(item=build.nsvc) if w.waived}
            cells = []
            for r in sorted(results, key=lambda r: r.testcase):
                mark = " (waived)" if r.testcase in waived else ""
                cells.append(
                    f'<span class="bbmod-{r.outcome.lower()}" title="{html.escape(r.note)}">'
                    f"{html.escape(r.testcase)}: {r.outcome}{mark}</span>"
                )
            decisions = build.decisions or {}
            rows.append(
                "<tr>"
                f"<td>{html.escape(build.nsvc)}</td><td>{build.state}</td>"
                f"<td>{html.escape(_summary(decisions.get('stage')))}</td>"
                f"<td>{html.escape(_summary(decisions.get('production')))}"
                + (" — promoted" if build.production_path else "")
                + f"</td><td>{'<br>'.join(cells)}</td></tr>"
            )
        return (
            "<div class='container'><h3>Module quality</h3>"
            "<p>Latest outcome of every check per build; the gating decisions for stage and "
            "production. Results in ResultsDB format: <a href='" + PREFIX + "api/v2.0/results'>"
            "api/v2.0/results</a>.</p>"
            "<table class='table table-condensed'><tr><th>build</th><th>state</th>"
            "<th>stage</th><th>production</th><th>checks</th></tr>"
            + "".join(rows)
            + "</table></div>"
        )


def _summary(decision: Any) -> str:
    if not decision:
        return "not decided"
    return str(decision.get("summary", ""))


def _reply(start_response: StartResponse, status: str, kind: str, body: str) -> list[bytes]:
    data = body.encode("utf-8")
    start_response(
        status, [("Content-Type", f"{kind}; charset=utf-8"), ("Content-Length", str(len(data)))]
    )
    return [data]
