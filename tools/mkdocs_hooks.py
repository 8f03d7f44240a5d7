"""MkDocs hooks for the documentation site (mkdocs.yml `hooks:`); no plug-in needed.

Two jobs, both done inside `mkdocs build` so that a plain `mkdocs build --strict` (what
`make docs` and tests/test_docs.py run) is the whole docs build:

- **Pages from outside docs/.** workers/README.md, contrib/README.md and README.md are
  written to be read on the forge, beside the code, so they stay where they are; the site
  takes them in as `workers.md`, `contrib.md` and `readme.md`, and every relative link
  (in them and in docs/) is rewritten from its place in the repository to its place in
  the site. A link to a file that is neither in docs/ nor one of these pages is left as it
  is, so strict mode reports it as broken.
- **Diagrams from text.** Each `docs/diagrams/NAME.dot` is rendered with Graphviz
  (`dot -Tsvg`) into the site as `diagrams/NAME.svg`; the pictures are never committed,
  so they cannot go stale. Without `dot` the build stops and says what to install.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
import shutil
import subprocess
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# repository path → page in the site
EXTRA_PAGES = {
    "README.md": "readme.md",
    "workers/README.md": "workers.md",
    "contrib/README.md": "contrib.md",
}
_SITE_TO_REPO = {site: repo for repo, site in EXTRA_PAGES.items()}

# `](target)` and `](target "title")`; reference definitions `[x]: target`.
_INLINE = re.compile(r"(\]\()([^)\s]+)")
_REFERENCE = re.compile(r"^(\s*\[[^\]]+\]:\s*)(\S+)", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def render_dot(path: str) -> bytes:
    """One diagram as SVG; a clear error naming the file when dot fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise PluginError(
            f"{path}: cannot render: Graphviz `dot` is not installed (run `make setup`)"
        )
    proc = subprocess.run([exe, "-Tsvg", path], capture_output=True, check=False, timeout=60)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise PluginError(f"{path}: dot failed: {message} (fix the diagram's source)")
    return proc.stdout


def on_files(files: Files, config: Any) -> Files:
    for repo_path, uri in EXTRA_PAGES.items():
        files.append(File.generated(config, uri, abs_src_path=os.path.join(ROOT, repo_path)))
    docs_dir = config["docs_dir"]
    for source in sorted(glob.glob(os.path.join(docs_dir, "diagrams", "*.dot"))):
        name = os.path.splitext(os.path.basename(source))[0]
        files.append(File.generated(config, f"diagrams/{name}.svg", content=render_dot(source)))
    return files


def repo_path(src_uri: str) -> str:
    """Where a page of the site lives in the repository."""
    return _SITE_TO_REPO.get(src_uri, posixpath.join("docs", src_uri))


def site_target(page_uri: str, target: str) -> str:
    """A relative link of the page, from its repository place to its site place."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
        return target
    path, hash_, anchor = target.partition("#")
    if not path:
        return target
    real = posixpath.normpath(posixpath.join(posixpath.dirname(repo_path(page_uri)), path))
    if real.startswith("docs/"):
        mapped = real[len("docs/") :]
    elif real in EXTRA_PAGES:
        mapped = EXTRA_PAGES[real]
    else:
        return target  # outside the site: strict mode reports it
    here = posixpath.dirname(page_uri) or "."
    return posixpath.relpath(mapped, here) + hash_ + anchor


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    uri = page.file.src_uri

    def fix(text: str) -> str:
        text = _INLINE.sub(lambda m: m.group(1) + site_target(uri, m.group(2)), text)
        return _REFERENCE.sub(lambda m: m.group(1) + site_target(uri, m.group(2)), text)

    # Leave fenced code alone: `](` there is code, not a link.
    out, last = [], 0
    for m in _FENCE.finditer(markdown):
        out.append(fix(markdown[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(fix(markdown[last:]))
    return "".join(out)
