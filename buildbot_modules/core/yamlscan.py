"""Safe first look at YAML text before libmodulemd sees it.

libmodulemd takes seconds and a gigabyte on a deeply nested document and gives up
silently on an alias bomb, so every document is scanned here first, event by event
(libyaml's C parser): size, nesting depth and alias expansion are bounded, and the
text is split into documents, each turned into plain data (scalars stay strings, as
libmodulemd reads them) with the line of every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .problems import ModuleError

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
# Nodes that aliases may add on top of the document's own nodes.
MAX_ALIAS_NODES = 100_000

Path = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULLS = {"", "~", "null", "Null", "NULL"}


@dataclass
class RawDocument:
    """One YAML document of a file: its own text, where it starts, its data and lines."""

    text: str
    line: int
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, *path: str | int) -> int | None:
        """The 1-based line of the deepest known prefix of ``path``."""
        p: Path = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.line


def read_text(path: str) -> str:
    """Read a module file, refusing oversized or undecodable ones with a clear error."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ModuleError(
            "no such file", source=path, hint="check the path, or create the module file"
        ) from None
    except IsADirectoryError:
        raise ModuleError("is a directory, not a module file", source=path) from None
    except OSError as e:
        raise ModuleError(f"cannot read: {e.strerror}", source=path) from None
    return decode(raw, path)


def _check_size(size: int, source: str) -> None:
    if size > MAX_BYTES:
        raise ModuleError(
            f"document is larger than {MAX_BYTES // (1024 * 1024)} MiB; refused",
            source=source,
            hint="a module definition is a few kilobytes; split indexes into several files",
        )


def decode(raw: bytes, source: str) -> str:
    """UTF-8 text of a module file, refusing oversized or undecodable bytes."""
    _check_size(len(raw), source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ModuleError(
            f"not valid UTF-8 (byte {e.start})", source=source, line=line, hint="save as UTF-8"
        ) from None


def scan(text: str, source: str = "") -> list[RawDocument]:
    """Check bounds and split ``text`` into documents; raise ModuleError when refused."""
    _check_size(len(text.encode("utf-8", errors="replace")), source)
    starts = _check_events(text, source)
    lines = text.splitlines(keepends=True)
    docs = []
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            start = starts[index]
            end = starts[index + 1] if index + 1 < len(starts) else len(lines)
            data, where = _to_data(node, source)
            docs.append(RawDocument("".join(lines[start:end]), start + 1, data, where))
            index += 1
    except yaml.YAMLError as e:  # pragma: no cover - _check_events parsed it already
        raise _yaml_error(e, source) from None
    finally:
        loader.dispose()
    return docs


def _yaml_error(e: yaml.YAMLError, source: str) -> ModuleError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    if "nesting depth" in problem:  # libyaml's own limit, met before ours in flow style
        return ModuleError(
            f"YAML nested deeper than {MAX_DEPTH} levels; refused",
            source=source,
            line=mark.line + 1 if mark is not None else None,
            hint="modulemd documents need fewer than 10 levels",
        )
    return ModuleError(
        f"invalid YAML: {problem}",
        source=source,
        line=mark.line + 1 if mark is not None else None,
        hint="fix the YAML syntax",
    )


def _line(event: yaml.Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 1


def _check_events(text: str, source: str) -> list[int]:
    """Bound depth and alias expansion; return each document's first line (0-based)."""
    starts: list[int] = []
    depth = 0
    stack: list[list[Any]] = []  # [anchor, node count]
    sizes: dict[str, int] = {}
    expanded = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                starts.append(_line(event) - 1)
                expanded = 0
                sizes.clear()
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ModuleError(
                        f"YAML nested deeper than {MAX_DEPTH} levels; refused",
                        source=source,
                        line=_line(event),
                        hint="modulemd documents need fewer than 10 levels",
                    )
                stack.append([event.anchor, 1])
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                anchor, count = stack.pop()
                if anchor:
                    sizes[anchor] = count
                if stack:
                    stack[-1][1] += count
            elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
                if isinstance(event, yaml.AliasEvent):
                    count = sizes.get(event.anchor or "", 1)
                    expanded += count
                else:
                    count = 1
                    if event.anchor:
                        sizes[event.anchor] = 1
                if stack:
                    stack[-1][1] += count
                if expanded > MAX_ALIAS_NODES:
                    raise ModuleError(
                        f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes"
                        " (an alias bomb); refused",
                        source=source,
                        line=_line(event),
                        hint="write the values out; modulemd does not need anchors",
                    )
    except yaml.YAMLError as e:
        raise _yaml_error(e, source) from None
    return starts


def _to_data(node: yaml.Node, source: str = "") -> tuple[Any, dict[Path, int]]:
    where: dict[Path, int] = {}
    # Collections being converted: an alias inside its own anchor (`&a [*a]`) makes the
    # node graph a cycle, which the composer allows and plain data cannot hold.
    open_nodes: set[int] = set()

    def convert(n: yaml.Node, path: Path) -> Any:
        where.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.CollectionNode):
            if id(n) in open_nodes:
                raise ModuleError(
                    "YAML alias inside its own anchor (a recursive structure); refused",
                    source=source,
                    line=n.start_mark.line + 1,
                    hint="write the values out; modulemd does not need anchors",
                )
            open_nodes.add(id(n))
            try:
                return convert_collection(n, path)
            finally:
                open_nodes.discard(id(n))
        plain = getattr(n, "style", None) is None
        if plain and n.value in _NULLS and n.tag != "tag:yaml.org,2002:str":
            return None
        return n.value

    def convert_collection(n: yaml.CollectionNode, path: Path) -> Any:
        if isinstance(n, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                where[(*path, key)] = k.start_mark.line + 1
                out[key] = convert(v, (*path, key))
            return out
        return [convert(v, (*path, i)) for i, v in enumerate(n.value)]

    return convert(node, ()), where
