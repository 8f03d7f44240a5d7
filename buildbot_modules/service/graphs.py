"""Pictures for the module pages: a module build's component DAG coloured by component
state, and a module stack (``service/stack.py`` resolves it) coloured by build state.

Graphviz draws them (``master/dot.py``); without ``dot`` there is no picture and the
pages show tables only. Rendering runs a subprocess: call it in a thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..master.dot import render_svg
from ..registry.model import ComponentRecord

COMPONENT_COLOURS: dict[str, str] = {
    "waiting": "#bdbdbd",  # grey
    "building": "#4a90e2",  # blue
    "built": "#43a047",  # green
    "reused": "#a5d6a7",  # light green: taken from an earlier build
    "failed": "#e53935",  # red
    "dependency-failed": "#fb8c00",  # orange
    "cancelled": "#616161",  # dark grey
}
"""Fill colour of a component node (and of its legend entry) by component state."""

MODULE_COLOURS: dict[str, str] = {
    "init": "#bdbdbd",
    "wait": "#bdbdbd",
    "build": "#4a90e2",
    "done": "#a5d6a7",
    "ready": "#43a047",
    "failed": "#e53935",
    "garbage": "#616161",
}
"""Fill colour of a module build by module state (stack pictures, state badges)."""

_LIGHT_TEXT = {"#4a90e2", "#43a047", "#e53935", "#616161"}  # white text on these fills


def _q(text: str) -> str:
    """A Graphviz quoted string (JSON's escaping is Graphviz's, for these characters)."""
    return json.dumps(text, ensure_ascii=False)


def _font(fill: str) -> str:
    return "white" if fill in _LIGHT_TEXT else "black"


def inline_svg(svg: str | None) -> str | None:
    """Graphviz's SVG document without its XML prolog and DOCTYPE, to put inside HTML."""
    if svg is None:
        return None
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else None


def components_dot(components: Sequence[ComponentRecord]) -> str:
    """The component DAG: an edge from each component to those that wait for it; nodes
    filled by state, linked to their Buildbot build (``log_url``) when they have one."""
    lines = [
        "digraph components {",
        "  rankdir=LR;",
        '  bgcolor="transparent";',
        '  node [shape=box, style="rounded,filled", fontname="sans", fontsize=11];',
        '  edge [color="#757575"];',
    ]
    known = {c.name for c in components}
    for c in components:
        fill = COMPONENT_COLOURS.get(c.state, "#ffffff")
        attrs = [
            f"label={_q(c.name)}",
            f"fillcolor={_q(fill)}",
            f"fontcolor={_q(_font(fill))}",
            f"tooltip={_q(f'{c.name}: {c.state}' + (f' ({c.nvr})' if c.nvr else ''))}",
            f"class={_q('bbmod-' + c.state)}",
        ]
        if c.log_url and c.log_url.startswith(("http://", "https://")):
            attrs += [f"URL={_q(c.log_url)}", 'target="_top"']
        lines.append(f"  {_q(c.name)} [{', '.join(attrs)}];")
    for c in components:
        for before in c.after:
            if before in known:
                lines.append(f"  {_q(before)} -> {_q(c.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def components_svg(components: Sequence[ComponentRecord]) -> str | None:
    """The component DAG as inline SVG, or None without Graphviz or components."""
    if not components:
        return None
    return inline_svg(render_svg(components_dot(components)))


def stack_dot(stack: Mapping[str, Any], link: Callable[[int], str]) -> str:
    """A module stack (the API's ``stack/<N:S>`` JSON: ``root``, ``nodes``, ``edges``) as a
    graph: an edge from each module to what it needs (``requires`` dashed); a node is
    filled by its build's state and links to ``link(build id)``."""
    lines = [
        "digraph stack {",
        "  rankdir=BT;",
        '  bgcolor="transparent";',
        '  node [shape=box, style="rounded,filled", fontname="sans", fontsize=11];',
    ]
    for node in stack["nodes"]:
        key = str(node["nsvc"])
        build_id = node.get("build_id")
        if build_id is None:
            attrs = [
                f"label={_q(key)}",
                'fillcolor="white"',
                'style="rounded,dashed"',
                f"tooltip={_q(key + ': no build on this site')}",
            ]
        else:
            state = str(node.get("state"))
            fill = MODULE_COLOURS.get(state, "#ffffff")
            label = f"{node['name']}:{node['stream']}\n{node['version']}.{node['context']}"
            attrs = [
                f"label={_q(label)}",
                f"fillcolor={_q(fill)}",
                f"fontcolor={_q(_font(fill))}",
                f"tooltip={_q(f'{key}: {state}')}",
                f"URL={_q(link(int(build_id)))}",
                'target="_top"',
            ]
        if key == stack["root"]:
            attrs.append("penwidth=2")
        lines.append(f"  {_q(key)} [{', '.join(attrs)}];")
    for edge in stack["edges"]:
        style = (
            ' [style=dashed, label="requires", fontsize=9]' if edge["kind"] == "requires" else ""
        )
        lines.append(f"  {_q(str(edge['from']))} -> {_q(str(edge['to']))}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def stack_svg(stack: Mapping[str, Any], link: Callable[[int], str]) -> str | None:
    """The stack as inline SVG, or None without Graphviz."""
    return inline_svg(render_svg(stack_dot(stack, link)))
