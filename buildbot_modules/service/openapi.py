"""The module service's OpenAPI 3 description (a test keeps it in sync with the routes)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_JSON = "application/json"


def _ok(description: str, schema: str = "Object", kind: str = _JSON) -> dict[str, Any]:
    content = {kind: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    if kind != _JSON:
        content = {kind: {"schema": {"type": "string"}}}
    return {"description": description, "content": content}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes}


def _q(name: str, description: str, kind: str = "string", many: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if many:
        schema = {"type": "array", "items": schema}
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **({"explode": True} if many else {}),
    }


def _p(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


PAGING = [
    _q("page", "page number, from 1", "integer"),
    _q("per_page", "items per page (default 10, at most 100)", "integer"),
]

BUILD_REF = _p("id", "registry id, or NAME:STREAM:VERSION:CONTEXT")
STREAM_REF = _p("nsv", "NAME:STREAM")
STACK_REF = _p("ref", "NAME:STREAM (its newest ready build) or NAME:STREAM:VERSION:CONTEXT")


def openapi_document(server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document; ``server_url`` is the API's base (…/module-build-service/1)."""
    build_filters = [
        _q("name", "module name"),
        _q("stream", "stream"),
        _q("version", "version", "integer"),
        _q("context", "context"),
        _q("state", "state name or MBS number (init 0 … garbage 6); repeatable", many=True),
        _q("owner", "user name (matches the commit author's name, e-mail or its local part)"),
        _q("buildrequires", "NAME or NAME:STREAM; repeatable (all must match)", many=True),
        _q("scratch", "true or false", "boolean"),
        _q("submitted_after", "ISO 8601 time (inclusive)"),
        _q("submitted_before", "ISO 8601 time (inclusive)"),
        _q("completed_after", "ISO 8601 time (inclusive)"),
        _q("completed_before", "ISO 8601 time (inclusive)"),
        _q(
            "order_by",
            "ascending sort keys: id, name, stream, version, context, state, submitted_time, "
            "started_time, completed_time; repeatable",
            many=True,
        ),
        _q("order_desc_by", "descending sort keys (as order_by); default id", many=True),
        _q("verbose", "true: full records (tasks, components, checks, …)", "boolean"),
        _q("short", "accepted for MBS clients; ignored", "boolean"),
        *PAGING,
    ]
    json_body = {
        "required": True,
        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Object"}}},
    }
    paths: dict[str, Any] = {
        "/module-builds/": {
            "get": {
                "summary": "List module builds (filters, ordering, pagination as MBS)",
                "parameters": build_filters,
                "responses": {"200": _ok("a page of builds", "Page"), **_errors(400)},
            },
            "post": {
                "summary": "Submit a module build: scmurl file://<distgit>/modules/<name>?#<commit>"
                " and branch (the commit must be the branch head)",
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Submit"}}},
                },
                "security": [{"basic": []}, {"session": []}],
                "responses": {
                    "201": _ok("the new build (state init)", "Build"),
                    **_errors(400, 401, 403, 409),
                },
            },
        },
        "/module-builds/{id}": {
            "get": {
                "summary": "One module build, full record",
                "parameters": [BUILD_REF],
                "responses": {"200": _ok("the build", "Build"), **_errors(404)},
            },
            "patch": {
                "summary": 'Cancel: {"state": "failed"} (owner of the build or stream, releng)',
                "parameters": [BUILD_REF],
                "requestBody": json_body,
                "security": [{"basic": []}, {"session": []}],
                "responses": {
                    "200": _ok("the build", "Build"),
                    **_errors(400, 401, 403, 404),
                },
            },
        },
        "/module-streams/": {
            "get": {
                "summary": "Module streams: latest ready build, end of life, owners, dependents",
                "parameters": [
                    _q("name", "module name"),
                    _q("q", "substring of NAME:STREAM (case-insensitive)"),
                    *PAGING,
                ],
                "responses": {"200": _ok("a page of streams", "Page"), **_errors(400)},
            },
        },
        "/module-streams/{nsv}": {
            "get": {
                "summary": "One module stream with its recent builds and dist-git head",
                "parameters": [STREAM_REF],
                "responses": {"200": _ok("the stream", "Stream"), **_errors(404)},
            },
            "patch": {
                "summary": 'Set {"eol": "YYYY-MM-DD"|null, "owners": [...]} (owners, releng)',
                "parameters": [STREAM_REF],
                "requestBody": json_body,
                "security": [{"basic": []}, {"session": []}],
                "responses": {
                    "200": _ok("the stream", "Stream"),
                    **_errors(400, 401, 403, 404),
                },
            },
        },
        "/stack/{ref}": {
            "get": {
                "summary": "The dependency stack resolved to concrete builds",
                "parameters": [STACK_REF],
                "responses": {"200": _ok("nodes and edges", "Stack"), **_errors(404)},
            },
        },
        "/stack/{ref}.svg": {
            "get": {
                "summary": "The stack as an SVG picture (Graphviz); nodes link to their page",
                "parameters": [STACK_REF],
                "responses": {
                    "200": _ok("SVG", kind="image/svg+xml"),
                    **_errors(404, 503),
                },
            },
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _ok("OpenAPI 3.0", "Object")},
            },
        },
    }
    error = {
        "type": "object",
        "required": ["status", "error", "message"],
        "properties": {
            "status": {"type": "integer"},
            "error": {"type": "string"},
            "message": {"type": "string"},
        },
    }
    responses = {
        f"E{code}": {
            "description": text,
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in (
            (400, "Bad request"),
            (401, "No or wrong credentials"),
            (403, "Not allowed"),
            (404, "Not found"),
            (409, "Conflict: that build exists and has not failed"),
            (503, "Unavailable (e.g. Graphviz missing)"),
        )
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "buildbot-modules module service",
            "version": "1",
            "description": "MBS-shaped API over the module registry (docs/module-service.md).",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "session": {"type": "apiKey", "in": "cookie", "name": "TWISTED_SESSION"},
            },
            "responses": responses,
            "schemas": {
                "Object": {"type": "object"},
                "Error": error,
                "Page": {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": {"type": "object"}},
                        "meta": {"type": "object"},
                    },
                },
                "Build": {"type": "object", "required": ["id", "name", "stream", "state"]},
                "Stream": {"type": "object", "required": ["name", "stream"]},
                "Stack": {"type": "object", "required": ["root", "nodes", "edges"]},
                "Submit": {
                    "type": "object",
                    "required": ["scmurl", "branch"],
                    "properties": {
                        "scmurl": {"type": "string"},
                        "branch": {"type": "string"},
                        "rebuild_strategy": {"type": "string"},
                        "scratch": {"type": "boolean"},
                        "buildrequire_overrides": {"type": "object"},
                        "require_overrides": {"type": "object"},
                    },
                },
            },
        },
    }
