"""Load modulemd documents with libmodulemd, one document at a time.

Every document type libmodulemd reads is accepted: module streams (v1, v2), packager
documents (v2, v3; upgraded to stream v2 the way libmodulemd does), defaults, obsoletes
and translations. A module's name and stream come from the document or, as in dist-git,
from the repository name and branch the caller passes in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import yaml

from .problems import ModuleError
from .yamlscan import RawDocument, read_text, scan

MODULE_KINDS = {"modulemd", "modulemd-stream", "modulemd-packager"}
OTHER_KINDS = {"modulemd-defaults", "modulemd-obsoletes", "modulemd-translations"}

_LINE_IN_MESSAGE = re.compile(r"\s*\[line (\d+) col \d+\]")
_UNKNOWN_KEY = re.compile(r"Unexpected key in [^:]*: (\S+)")
_VERSION = re.compile(r"[0-9]{1,18}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


@cache
def modulemd() -> Any:
    """The libmodulemd GObject module (``Modulemd``), imported on first use."""
    import gi

    gi.require_version("Modulemd", "2.0")
    from gi.repository import Modulemd

    return Modulemd


@dataclass
class Document:
    """One document of a file, with libmodulemd's verdict on it."""

    source: str
    raw: RawDocument
    kind: str | None
    version: int | None
    name: str | None = None
    stream: str | None = None
    obj: Any = None
    # Module streams as stream v2 (a packager v3 document gives one per configuration).
    streams: list[Any] = field(default_factory=list)
    error: ModuleError | None = None

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def is_module(self) -> bool:
        return self.kind in MODULE_KINDS

    @property
    def data(self) -> dict[str, Any]:
        body = self.raw.data.get("data") if isinstance(self.raw.data, dict) else None
        return body if isinstance(body, dict) else {}


def load_file(path: str, name: str | None = None, stream: str | None = None) -> list[Document]:
    return load_text(read_text(path), path, name, stream)


def load_text(
    text: str, source: str = "", name: str | None = None, stream: str | None = None
) -> list[Document]:
    """Split ``text`` into documents and load each; raise ModuleError if none can be read."""
    raws = scan(text, source)
    if not raws:
        raise ModuleError(
            "no YAML document found", source=source, hint="a module file starts with `document:`"
        )
    return [_load_one(raw, source, name, stream) for raw in raws]


def _scalar(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _load_one(raw: RawDocument, source: str, name: str | None, stream: str | None) -> Document:
    top = raw.data if isinstance(raw.data, dict) else {}
    kind = _scalar(top.get("document"))
    version_text = _scalar(top.get("version"))
    # ASCII digits only, and few: str.isdigit() accepts "²" and int() refuses it (and any
    # number past 4300 digits). Another version is libmodulemd's to report.
    version = int(version_text) if version_text and _VERSION.fullmatch(version_text) else None
    doc = Document(source, raw, kind, version)
    body = doc.data
    doc.name = _scalar(body.get("name")) or name
    doc.stream = _scalar(body.get("stream")) or stream
    if kind in MODULE_KINDS:
        doc.error = (
            _eol_error(raw, body, source)
            or _rpm_buildopts_error(raw, body, kind == "modulemd-packager" and version == 3, source)
            or _empty_artifacts_error(raw, body, source)
        )
        if doc.error is not None:
            return doc
    Modulemd = modulemd()
    from gi.repository import GLib

    try:
        if kind in MODULE_KINDS:
            if kind != "modulemd-packager":
                # Strict read first (read_packager_string ignores unknown keys in stream
                # documents), through a ModuleIndex: ModuleStream.read_string is deprecated.
                strict = Modulemd.ModuleIndex.new()
                _ok, failures = strict.update_from_string(_named(raw, doc), True)
                if failures:
                    raise _gerror(failures[0], source)
            # libmodulemd crashes converting a nameless packager v3 document: name it.
            _kind, obj = Modulemd.read_packager_string(
                raw.text, doc.name or "unnamed", doc.stream or "unnamed"
            )
            doc.obj = obj
            if isinstance(obj, Modulemd.PackagerV3):
                index = obj.convert_to_index()
                doc.streams = [
                    s
                    for module in index.get_module_names()
                    for s in index.get_module(module).get_all_streams()
                ]
            else:
                doc.streams = [obj]
            for s in doc.streams:
                s.validate()
        else:
            index = Modulemd.ModuleIndex.new()
            ok, failures = index.update_from_string(raw.text, True)
            doc.obj = index
            if failures:
                raise _gerror(failures[0], source)
            if not ok:  # pragma: no cover - libmodulemd reports failures when not ok
                raise ModuleError("libmodulemd could not read this document", source=source)
    except GLib.Error as e:
        doc.error = _from_glib(e.message, raw, source)
    except ModuleError as e:
        doc.error = e
        if e.line is None:
            e.line = raw.line
    return doc


def _gerror(failure: Any, source: str) -> Exception:
    """The GLib.Error of a libmodulemd read failure. A stream v1 document with an empty
    ``artifacts: {}`` fails with no error at all (found by fuzz/): say so instead."""
    error = failure.get_gerror()
    if error is None:
        return ModuleError("libmodulemd: invalid document (no detail given)", source=source)
    return error  # type: ignore[no-any-return]


def _empty_artifacts_error(
    raw: RawDocument, body: dict[str, Any], source: str
) -> ModuleError | None:
    """``artifacts: {}``: libmodulemd fails on it with no error at all and a GLib warning
    (found by fuzz/); say what is wrong instead."""
    if body.get("artifacts") == {}:
        return ModuleError(
            "artifacts is an empty mapping",
            source=source,
            line=raw.line_of("data", "artifacts"),
            hint="list the RPMs under `artifacts: rpms:`, or leave artifacts out",
        )
    return None


def _eol_error(raw: RawDocument, body: dict[str, Any], source: str) -> ModuleError | None:
    """An end-of-life date (``data.eol``, ``servicelevels.<name>.eol``) that is not a real
    YYYY-MM-DD date, found here: libmodulemd 2.14 crashes the process (a segmentation
    fault) on one that looks like a date but is not, e.g. 2077-13-01 or 2077-10-32
    (found by fuzz/)."""
    levels = body.get("servicelevels")
    places: list[tuple[tuple[str | int, ...], Any]] = [(("data", "eol"), body.get("eol"))]
    if isinstance(levels, dict):
        places += [
            (("data", "servicelevels", name, "eol"), level.get("eol"))
            for name, level in levels.items()
            if isinstance(level, dict)
        ]
    for path, value in places:
        if not isinstance(value, str):
            continue  # absent, or libmodulemd's own (safe) error for a list or mapping
        match = _DATE.fullmatch(value)
        try:
            if match is None:
                raise ValueError(value)
            date(*(int(part) for part in match.groups()))
        except ValueError:
            return ModuleError(
                f"{'.'.join(str(p) for p in path[1:])} {value!r} is not a date",
                source=source,
                line=raw.line_of(*path),
                hint="write the end of life as YYYY-MM-DD, e.g. 2030-12-31",
            )
    return None


def _rpm_buildopts_error(
    raw: RawDocument, body: dict[str, Any], v3: bool, source: str
) -> ModuleError | None:
    """A mistake inside ``buildopts.rpms`` (data's, or a v3 configuration's), found here.

    libmodulemd 2.14 reports any mistake there (an unknown key, ``macros`` not text,
    ``whitelist`` entries not names) with a GError whose message is gone — freed: reading
    it prints a GLib warning, gives ``None`` or crashes the process (found by fuzz/).
    So such a block never reaches libmodulemd.
    """
    configurations = body.get("configurations")
    places: list[tuple[tuple[str | int, ...], Any]] = [
        (("data", "buildopts"), body.get("buildopts"))
    ]
    if v3:  # buildopts belong to each configuration there
        places = [
            (("data", "configurations", i, "buildopts"), conf.get("buildopts"))
            for i, conf in enumerate(configurations if isinstance(configurations, list) else [])
            if isinstance(conf, dict)
        ]
    for place, buildopts in places:
        if not isinstance(buildopts, dict) or "rpms" not in buildopts:
            continue
        path = (*place, "rpms")
        where = ".".join(str(p) for p in path[1:])
        rpms = buildopts["rpms"]
        if not isinstance(rpms, dict):
            return ModuleError(
                f"{where} must be a mapping",
                source=source,
                line=raw.line_of(*path),
                hint="give `macros: |` and/or `whitelist: [NAMES]` under it",
            )
        for key, value in rpms.items():
            line = raw.line_of(*path, key)
            if key not in ("macros", "whitelist"):
                return ModuleError(
                    f"Unexpected key in {where}: {key}",
                    source=source,
                    line=line,
                    hint="buildopts.rpms has macros and whitelist",
                )
            names = isinstance(value, list) and all(isinstance(v, str) for v in value)
            if not (value is None or isinstance(value, str) or (key == "whitelist" and names)):
                what = "text (`macros: |`)" if key == "macros" else "a list of package names"
                return ModuleError(f"{where}.{key} must be {what}", source=source, line=line)
    return None


def _named(raw: RawDocument, doc: Document) -> str:
    """The document's text, with the name and stream filled in when it has none (an
    index refuses nameless streams). Scalars stay strings, as libmodulemd reads them."""
    if _scalar(doc.data.get("name")) and _scalar(doc.data.get("stream")):
        return raw.text
    data = dict(raw.data)
    data["data"] = {
        **doc.data,
        "name": doc.name or "unnamed",
        "stream": doc.stream or "unnamed",
    }
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _from_glib(message: str | None, raw: RawDocument, source: str) -> ModuleError:
    line = raw.line
    if message is None:  # libmodulemd lost it (see _rpm_buildopts_error)
        return ModuleError(
            "libmodulemd: invalid document (no detail given)", source=source, line=line
        )
    match = _LINE_IN_MESSAGE.search(message)
    if match:
        line = raw.line + int(match.group(1)) - 1
        message = _LINE_IN_MESSAGE.sub("", message)
    # libmodulemd's mark for an unknown key is where it stopped reading, often lines
    # later; the scanned document knows where the key itself is.
    unknown = _UNKNOWN_KEY.search(message)
    if unknown:
        lines = [n for path, n in raw.lines.items() if path and path[-1] == unknown.group(1)]
        if lines:
            line = min(lines)
    return ModuleError(f"libmodulemd: {message}", source=source, line=line)
