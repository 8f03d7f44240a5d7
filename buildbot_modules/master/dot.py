"""The component plan as a Graphviz picture, for the module build's plan step."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any


def plan_dot(units: Sequence[Any]) -> str:
    """One cluster per expanded build; critical-path edges drawn bold."""
    lines = ["digraph plan {", "  rankdir=LR;", '  node [shape=box, fontname="sans"];']
    for i, unit in enumerate(units):
        plan = unit.plan
        lines.append(f"  subgraph cluster_{i} {{ label={json.dumps(unit.nsvc)};")
        path = plan.critical_path()
        critical = set(itertools.pairwise(path))
        for c in plan.components:
            lines.append(f"    {json.dumps(f'{i}:{c}')} [label={json.dumps(c)}];")
            for p in plan.after[c]:
                bold = " [penwidth=2]" if (p, c) in critical else ""
                lines.append(f"    {json.dumps(f'{i}:{p}')} -> {json.dumps(f'{i}:{c}')}{bold};")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(dot: str) -> str | None:
    """SVG text from Graphviz, or None when `dot` is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None
