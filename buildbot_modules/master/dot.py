"""The component plan as an SVG picture, for the module build's plan step."""

from __future__ import annotations

import shutil
import subprocess


def render_svg(dot: str) -> str | None:
    """SVG text from Graphviz, or None when `dot` is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None
