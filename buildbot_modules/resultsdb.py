"""The registry's test results in ResultsDB's API v2.0 shape, and forwarding to ResultsDB.

Tools written for ResultsDB (Greenwave, Bodhi, ciboard, ``curl``) read
``GET /api/v2.0/results``; a web endpoint of the master answers it with :func:`query`::

    body = resultsdb.query(registry, request_args, "https://master.example/resultsdb/api/v2.0")

which returns ``{"prev": URL | None, "next": URL | None, "data": [result, …]}``, each
result as :func:`result_json` renders it::

    {"id": 7, "groups": [], "testcase": {"name": "modules.rpmlint", "ref_url": None,
     "href": BASE/testcases/modules.rpmlint}, "submit_time": "2025-11-25T20:20:37.000000",
     "outcome": "PASSED", "note": "…", "ref_url": "…",
     "data": {"item": ["nodejs:20:…:6c81f848"], "type": ["redhat-module"], "arch": ["x86_64"]},
     "href": BASE/results/7}

Query arguments, as ResultsDB reads them (every value may be a comma list, or repeated):
``item``, ``type``, ``testcases``, ``testcases:like`` (``*`` wildcards), ``outcome``,
``since`` (``START`` or ``START,END``, ISO 8601; naive times are UTC), ``limit`` (default
20, at most 1000), ``page`` (from 0), ``groups`` (the registry has no groups: nothing
matches), and any other key filters on result data (``arch=x86_64``,
``scenario:like=x86*``). ``_sort``, ``_distinct_on`` and ``callback`` are ignored; results
come newest first. A bad argument raises :class:`BadQuery` (answer HTTP 400 with
``{"message": str(error)}``). ``/results/latest`` is :func:`query` with ``latest=True``
and ``/results/<id>`` is :func:`get_result`.

:func:`forward` sends one result to a real ResultsDB (``POST /api/v2.0/results``), for
sites that configure one. Everything here blocks (database, network): the Buildbot layer
calls it from a thread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import requests

from .core.problems import ModuleError
from .registry.model import RESULT_OUTCOMES, ResultRecord

if TYPE_CHECKING:
    from .registry import Registry

__all__ = [
    "API_PATH",
    "MAX_LIMIT",
    "QUERY_LIMIT",
    "BadQuery",
    "ResultsDBError",
    "api_url",
    "data_json",
    "forward",
    "get_result",
    "parse_since",
    "query",
    "result_json",
    "submit_time",
]

API_PATH = "/api/v2.0"
"""ResultsDB's API v2.0 prefix."""

QUERY_LIMIT = 20
"""Results per page when no ``limit`` is given (ResultsDB's default)."""

MAX_LIMIT = 1000
"""The largest ``limit`` answered (larger ones are cut to it)."""

FORWARD_TIMEOUT: tuple[float, float] = (5.0, 30.0)
"""Seconds :func:`forward` waits to connect and then for the answer."""

_IGNORED = frozenset({"_sort", "_distinct_on", "callback"})
_RESERVED = frozenset(
    {"limit", "page", "since", "outcome", "testcases", "testcases:like", "groups"}
)


class BadQuery(ModuleError):
    """A query argument ResultsDB would refuse too (answer it with HTTP 400)."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message, source="ResultsDB query", hint=hint)


class ResultsDBError(ModuleError):
    """A result that could not be sent to ResultsDB: which, where and why."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message, source="ResultsDB", hint=hint)


# --------------------------------------------------------------------------- rendering


def submit_time(result: ResultRecord) -> str:
    """ResultsDB's ``submit_time``: naive UTC ISO 8601 with microseconds."""
    when = result.submitted_at.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat(timespec="microseconds")


def data_json(result: ResultRecord) -> dict[str, list[str]]:
    """The result's data as ResultsDB keeps it: key → list of strings.

    ``item`` and ``type`` come first; a list value gives one string per element; strings
    stay as they are, lists and dicts (e.g. each per-item detail) become JSON, other
    values ``str()`` (as ResultsDB stores them).
    """
    out: dict[str, list[str]] = {"item": [result.item], "type": [result.type]}
    for key, value in result.data.items():
        values = value if isinstance(value, list) else [value]
        out[key] = [_text(v) for v in values]
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def result_json(result: ResultRecord, base_url: str) -> dict[str, Any]:
    """One result as ResultsDB's ``GET /api/v2.0/results/<id>`` answers it.

    ``base_url`` is the API root the links start with (``…/api/v2.0``).
    """
    base = base_url.rstrip("/")
    return {
        "id": result.id,
        "groups": [],
        "testcase": {
            "name": result.testcase,
            "ref_url": None,
            "href": f"{base}/testcases/{quote(result.testcase, safe='')}",
        },
        "submit_time": submit_time(result),
        "outcome": result.outcome,
        "note": result.note,
        "ref_url": result.ref_url,
        "data": data_json(result),
        "href": f"{base}/results/{result.id}",
    }


def get_result(registry: Registry, result_id: int, base_url: str) -> dict[str, Any]:
    """``GET /results/<id>``: one result (the registry's :class:`NotFound` when none: 404)."""
    return result_json(registry.result(result_id), base_url)


# --------------------------------------------------------------------------- queries


def parse_since(value: str) -> tuple[datetime, datetime | None]:
    """``START`` or ``START,END`` (ISO 8601) as aware UTC datetimes; naive ones are UTC."""
    parts = [p.strip() for p in value.split(",")]
    if not 1 <= len(parts) <= 2 or not parts[0]:
        raise BadQuery(f"since={value!r}: give START or START,END", hint=_SINCE_HINT)
    times: list[datetime] = []
    for part in parts:
        try:
            when = datetime.fromisoformat(part)
        except ValueError:
            raise BadQuery(f"since={value!r}: {part!r} is not ISO 8601", hint=_SINCE_HINT) from None
        times.append(when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC))
    return times[0], times[1] if len(times) == 2 else None


_SINCE_HINT = "e.g. since=2025-11-25T00:00:00 or since=2025-11-25,2025-11-26 (UTC)"


def _normalise(args: Mapping[Any, Any]) -> dict[str, list[str]]:
    """Query arguments as ``str → [str]`` (Twisted gives bytes), comma lists split."""
    out: dict[str, list[str]] = {}
    for key, values in args.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if isinstance(values, str | bytes):
            values = [values]
        for value in values:
            text = value.decode() if isinstance(value, bytes) else str(value)
            out.setdefault(name, []).extend(v.strip() for v in text.split(",") if v.strip())
    return out


def _integer(args: dict[str, list[str]], key: str, default: int, low: int) -> int:
    values = args.get(key)
    if not values:
        return default
    try:
        number = int(values[-1])
    except ValueError:
        raise BadQuery(f"{key}={values[-1]!r} is not a whole number") from None
    if number < low:
        raise BadQuery(f"{key}={number}: must be {low} or more")
    return number


def query(
    registry: Registry,
    args: Mapping[str, Sequence[str]] | Mapping[bytes, Sequence[bytes]],
    base_url: str,
    *,
    latest: bool = False,
) -> dict[str, Any]:
    """Answer ``GET /api/v2.0/results`` (or ``/results/latest`` with ``latest``).

    ``args`` are the request's query arguments (``{"item": ["n:s:v:c"], …}``; bytes as
    Twisted gives them are decoded); ``base_url`` the API root (``…/api/v2.0``) that the
    links start with. Returns ``{"prev", "next", "data"}``; with ``latest`` (the newest
    result per item and test case, ResultsDB's ``/results/latest``) only ``{"data"}``,
    unpaged as ResultsDB's. Raises :class:`BadQuery` for a bad argument.
    """
    given = _normalise(args)
    limit = min(_integer(given, "limit", QUERY_LIMIT, 1), MAX_LIMIT)
    page = _integer(given, "page", 0, 0)
    since = until = None
    if given.get("since"):
        since, until = parse_since(",".join(given["since"]))
    outcomes = None
    if "outcome" in given:
        outcomes = [o.upper() for o in given["outcome"]]
        wrong = [o for o in outcomes if o not in RESULT_OUTCOMES]
        if wrong:
            raise BadQuery(
                f"outcome={','.join(wrong)}: unknown", hint="use " + ", ".join(RESULT_OUTCOMES)
            )
    if "groups" in given:  # the registry keeps no groups: nothing is in any
        return {"data": []} if latest else {"prev": None, "next": None, "data": []}

    testcases = given.get("testcases")
    testcase_patterns = given.get("testcases:like")
    items = given.get("item")
    types = given.get("type")
    filters = {
        key: values
        for key, values in given.items()
        if key not in _RESERVED and key not in _IGNORED and key not in ("item", "type")
    }
    # Plain ``type`` goes to the database when it is one value; the rest is checked here.
    if types is not None and len(types) != 1:
        filters["type"] = types
    for key in filters:
        modifier = key.partition(":")[2]
        if modifier not in ("", "like"):
            raise BadQuery(f"{key}: unknown modifier {modifier!r}", hint="only :like is known")
    in_python = bool(filters or testcase_patterns)

    def keep(result: ResultRecord) -> bool:
        if testcase_patterns and not (
            (testcases and result.testcase in testcases)
            or any(fnmatchcase(result.testcase, p) for p in testcase_patterns)
        ):
            return False
        data = data_json(result)
        for key, wanted in filters.items():
            name, _, modifier = key.partition(":")
            values = data.get(name, [])
            if modifier == "like":
                if not any(fnmatchcase(v, p) for v in values for p in wanted):
                    return False
            elif not any(v in wanted for v in values):
                return False
        return True

    common: dict[str, Any] = {
        "item": items,
        # With testcases:like, testcases widen the match ("either"), checked in keep().
        "testcases": None if testcase_patterns else testcases,
        "since": since,
        "until": until,
        "outcomes": outcomes,
        "type": types[0] if types is not None and len(types) == 1 else None,
        "latest_only": latest,
    }
    if latest:
        found = [r for r in registry.results(**common) if keep(r)]
        return {"data": [result_json(r, base_url) for r in found]}
    if in_python:
        matching = [r for r in registry.results(**common) if keep(r)]
        window = matching[page * limit : page * limit + limit + 1]
    else:
        window = registry.results(**common, limit=limit + 1, offset=page * limit)
    data = [result_json(r, base_url) for r in window[:limit]]
    link = _page_link(base_url, given)
    return {
        "prev": link(page - 1) if page > 0 else None,
        "next": link(page + 1) if len(window) > limit else None,
        "data": data,
    }


def _page_link(base_url: str, given: dict[str, list[str]]) -> Callable[[int], str]:
    pairs = [(k, ",".join(v)) for k, v in given.items() if k not in ("page", "callback")]

    def link(page: int) -> str:
        return f"{base_url.rstrip('/')}/results?" + urlencode([*pairs, ("page", str(page))])

    return link


# --------------------------------------------------------------------------- forwarding


def api_url(resultsdb_url: str) -> str:
    """ResultsDB's API v2.0 root from its URL (``https://resultsdb.example`` or the API
    root itself)."""
    url = resultsdb_url.rstrip("/")
    return url if re.search(r"/api/v2\.0$", url) else url + API_PATH


def forward(
    result: ResultRecord,
    resultsdb_url: str,
    *,
    timeout: float | tuple[float, float] = FORWARD_TIMEOUT,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """Send one result to the ResultsDB at ``resultsdb_url`` (``POST /api/v2.0/results``).

    Sends ``testcase`` ``{"name"}``, ``outcome``, ``note``, ``ref_url``, ``data`` (as
    :func:`data_json`: ``item``, ``type`` and the extra keys) and ``submit_time`` (the
    registry's time, so both agree). ``session`` may carry the site's authentication
    (headers, certificates, Kerberos). Returns ResultsDB's answer (the stored result).
    Raises :class:`ResultsDBError` — which result, where, and why (no answer in time,
    no connection, or ResultsDB's own message with its HTTP status).
    """
    url = api_url(resultsdb_url) + "/results"
    payload: dict[str, Any] = {
        "testcase": {"name": result.testcase},
        "outcome": result.outcome,
        "note": result.note,
        "ref_url": result.ref_url,
        "data": data_json(result),
        "submit_time": submit_time(result),
    }
    what = f"cannot send result {result.id} ({result.testcase} of {result.item}) to {url}"
    poster = session if session is not None else requests
    try:
        response = poster.post(url, json=payload, timeout=timeout)
    except requests.Timeout:
        raise ResultsDBError(
            f"{what}: no answer within {timeout} s",
            hint="check that ResultsDB is up; the result stays in the registry",
        ) from None
    except requests.RequestException as e:
        raise ResultsDBError(
            f"{what}: {type(e).__name__}: {e}",
            hint="check the ResultsDB URL and that it is reachable from the master",
        ) from None
    if response.status_code >= 400:
        raise ResultsDBError(
            f"{what}: HTTP {response.status_code}: {_message(response)}",
            hint="ResultsDB refused it; the result stays in the registry",
        )
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {"data": answer}


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.text.strip()[:300] or response.reason or "no message"
