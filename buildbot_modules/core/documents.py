"""Load modulemd documents with libmodulemd, one document at a time.

Every document type libmodulemd reads is accepted: module streams (v1, v2), packager
documents (v2, v3; upgraded to stream v2 the way libmodulemd does), defaults, obsoletes
and translations. A module's name and stream come from the document or, as in dist-git,
from the repository name and branch the caller passes in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from .problems import ModuleError
from .yamlscan import RawDocument, read_text, scan

MODULE_KINDS = {"modulemd", "modulemd-stream", "modulemd-packager"}
OTHER_KINDS = {"modulemd-defaults", "modulemd-obsoletes", "modulemd-translations"}

_LINE_IN_MESSAGE = re.compile(r"\s*\[line (\d+) col \d+\]")
_UNKNOWN_KEY = re.compile(r"Unexpected key in [^:]*: (\S+)")


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
    version = int(version_text) if version_text and version_text.isdigit() else None
    doc = Document(source, raw, kind, version)
    body = doc.data
    doc.name = _scalar(body.get("name")) or name
    doc.stream = _scalar(body.get("stream")) or stream
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
                    raise failures[0].get_gerror()
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
                raise failures[0].get_gerror()
            if not ok:  # pragma: no cover - libmodulemd reports failures when not ok
                raise ModuleError("libmodulemd could not read this document", source=source)
    except GLib.Error as e:
        doc.error = _from_glib(e.message, raw, source)
    return doc


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


def _from_glib(message: str, raw: RawDocument, source: str) -> ModuleError:
    line = raw.line
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
