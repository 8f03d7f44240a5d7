"""A module build's dependency stack resolved to concrete builds (blocking, registry only).

A build's ``buildrequires`` name the stream it was built against (name → stream): the
build used is the newest *ready* build of that stream created before it (a lower registry
id: it could have been resolved then), else the newest ready one. Its ``requires`` name
streams (an empty list: the buildrequired stream, if any): each resolves to that
stream's newest ready build. A dependency the registry does not have (``platform``,
a module from another repository) is a leaf node without a build.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from ..registry import ModuleBuildRecord, NotFound, Registry

__all__ = ["Stack", "build_stack", "built_against", "find_build", "stack_dot"]


def find_build(registry: Registry, ref: str) -> ModuleBuildRecord:
    """A build by registry id, ``N:S:V:C``, or ``N:S`` (its newest ready build, else its
    newest build); :class:`NotFound` when there is none."""
    text = ref.strip()
    if text.isascii() and text.isdigit():
        return registry.module_build(int(text))
    parts = text.split(":")
    if len(parts) == 4 and (parts[2].isascii() and parts[2].isdigit()):
        name, stream, version, context = parts
        _, found = registry.query_module_builds(
            name=name, stream=stream, version=int(version), context=context, limit=20
        )
        live = [b for b in found if b.state != "failed"]
        if live or found:
            return (live or found)[0]
        raise NotFound(f"no module build {text} in the registry")
    if len(parts) == 2 and all(parts):
        name, stream = parts
        ready = registry.module_builds(name=name, stream=stream, state="ready", limit=1)
        if ready:
            return ready[0]
        _, newest = registry.query_module_builds(name=name, stream=stream, limit=1)
        if newest:
            return newest[0]
        raise NotFound(f"module stream {text} has no build in the registry")
    raise NotFound(f"{text!r} is not a build id, NAME:STREAM or NAME:STREAM:VERSION:CONTEXT")


class _Resolver:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._ready: dict[tuple[str, str], list[ModuleBuildRecord]] = {}

    def ready(self, name: str, stream: str) -> list[ModuleBuildRecord]:
        key = (name, stream)
        if key not in self._ready:
            self._ready[key] = self.registry.module_builds(
                name=name, stream=stream, state="ready", scratch=False, limit=None
            )
        return self._ready[key]

    def buildrequired(self, build: ModuleBuildRecord, name: str) -> ModuleBuildRecord | None:
        candidates = self.ready(name, build.buildrequires[name])
        earlier = [b for b in candidates if b.id < build.id]
        chosen = earlier or candidates
        return chosen[0] if chosen else None

    def required(self, name: str, stream: str) -> ModuleBuildRecord | None:
        candidates = self.ready(name, stream)
        return candidates[0] if candidates else None

    def required_streams(self, build: ModuleBuildRecord, name: str) -> list[str]:
        streams = [s for s in build.requires.get(name, []) if not s.startswith("-")]
        if not streams and name in build.buildrequires:
            streams = [build.buildrequires[name]]
        return streams


def built_against(
    registry: Registry, build: ModuleBuildRecord
) -> dict[str, ModuleBuildRecord | None]:
    """Buildrequired module name → the build ``build`` was built against (or ``None``)."""
    resolver = _Resolver(registry)
    return {name: resolver.buildrequired(build, name) for name in build.buildrequires}


@dataclass
class Stack:
    root: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"root": self.root, "nodes": self.nodes, "edges": self.edges}


def _node(build: ModuleBuildRecord) -> dict[str, Any]:
    return {
        "nsvc": build.nsvc,
        "name": build.name,
        "stream": build.stream,
        "version": str(build.version),
        "context": build.context,
        "state": build.state,
        "build_id": build.id,
    }


def build_stack(registry: Registry, root: ModuleBuildRecord) -> Stack:
    """``root`` and everything it buildrequires and requires, recursively."""
    resolver = _Resolver(registry)
    nodes: dict[str, dict[str, Any]] = {root.nsvc: _node(root)}
    edges: list[dict[str, Any]] = []
    todo = [root]
    seen = {root.id}
    while todo:
        build = todo.pop(0)
        deps: list[tuple[str, str, ModuleBuildRecord | None, str]] = []
        for name, stream in sorted(build.buildrequires.items()):
            deps.append((name, stream, resolver.buildrequired(build, name), "buildrequires"))
        for name in sorted(build.requires):
            for stream in resolver.required_streams(build, name):
                deps.append((name, stream, resolver.required(name, stream), "requires"))
        for name, stream, found, kind in deps:
            if found is None:
                key = f"{name}:{stream}"
                nodes.setdefault(
                    key,
                    {
                        "nsvc": key,
                        "name": name,
                        "stream": stream,
                        "version": None,
                        "context": None,
                        "state": None,
                        "build_id": None,
                    },
                )
            else:
                key = found.nsvc
                nodes.setdefault(key, _node(found))
                if found.id not in seen:
                    seen.add(found.id)
                    todo.append(found)
            edge = {"from": build.nsvc, "to": key, "kind": kind}
            if edge not in edges:
                edges.append(edge)
    return Stack(root=root.nsvc, nodes=list(nodes.values()), edges=edges)


STATE_COLOURS = {
    "ready": "#c8e6c9",
    "done": "#dcedc8",
    "failed": "#ffcdd2",
    "build": "#fff9c4",
    "wait": "#fff9c4",
    "init": "#fff9c4",
    "garbage": "#e0e0e0",
}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stack_dot(stack: Stack, build_url: str) -> str:
    """The stack as a Graphviz graph; nodes with a build link to ``build_url + id``."""
    lines = [
        "digraph stack {",
        "  rankdir=BT;",
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=10];',
    ]
    for node in stack.nodes:
        label = node["nsvc"] + "\\n" + (node["state"] or "not in the registry")
        attrs = [
            f"label={_quote(label)}",
            f"fillcolor={_quote(STATE_COLOURS.get(node['state'] or '', '#ffffff'))}",
        ]
        if node["build_id"] is not None:
            attrs.append(f"URL={_quote(build_url + str(node['build_id']))}")
            attrs.append(f"tooltip={_quote(html.escape(node['nsvc']))}")
        if node["nsvc"] == stack.root:
            attrs.append("penwidth=2")
        lines.append(f"  {_quote(node['nsvc'])} [{', '.join(attrs)}];")
    for edge in stack.edges:
        style = "solid" if edge["kind"] == "buildrequires" else "dashed"
        lines.append(
            f"  {_quote(edge['from'])} -> {_quote(edge['to'])} "
            f"[style={style}, tooltip={_quote(edge['kind'])}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
