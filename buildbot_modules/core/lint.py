"""Validation beyond libmodulemd: every problem in a document, each with its line.

libmodulemd stops at the first error and does not check some rules the modulemd
specification states (a component's ``rationale`` is mandatory) or that a build system
must enforce (names, refs and repository URLs that end up in commands and clones).
These rules run on the scanned YAML, so they can report every problem at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .documents import Document, load_text
from .plan import find_cycles
from .problems import ModuleError, Problem
from .yamlscan import read_text

RPM_NAME = re.compile(r"^[A-Za-z0-9+][A-Za-z0-9._+-]*$")
V3_CONTEXT = re.compile(r"^[A-Za-z0-9]{1,10}$")
COMMIT_ID = re.compile(r"^(?:[0-9a-f]{7,40}|[0-9a-f]{64})$")
INTEGER = re.compile(r"^[+-]?[0-9]+$")
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")

# libmodulemd messages that one of our rules reports more precisely.
_COVERED = (
    "Cannot mix buildorder and buildafter",
    "not found in components list",
    "license is missing",
    "BuildConfig context",
    "must specify a single stream",
    "summary is missing",
    "description is missing",
)


@dataclass(frozen=True)
class LintPolicy:
    """Site policy. Repository URLs must use an allowed scheme (and host, when hosts are
    listed), or point into the local dist-git."""

    allowed_schemes: frozenset[str] = frozenset({"https"})
    allowed_hosts: frozenset[str] = frozenset()  # empty: any host
    distgit_roots: tuple[str, ...] = ()


def valid_ref(ref: str) -> bool:
    """A commit id, or a name `git check-ref-format --allow-onelevel` accepts."""
    if COMMIT_ID.match(ref):
        return True
    if not ref or ref == "@" or "@{" in ref or ".." in ref or "//" in ref:
        return False
    if _BAD_REF_CHARS.search(ref) or ref.startswith("/") or ref.endswith(("/", ".")):
        return False
    return all(
        part and not part.startswith(".") and not part.endswith(".lock") for part in ref.split("/")
    )


def lint_file(
    path: str, name: str | None = None, stream: str | None = None, policy: LintPolicy | None = None
) -> list[Problem]:
    """Every problem in the file at ``path``; a file that cannot be read is one problem."""
    try:
        return lint_text(read_text(path), path, name, stream, policy)
    except ModuleError as e:
        return [e.as_problem()]


def lint_text(
    text: str,
    source: str,
    name: str | None = None,
    stream: str | None = None,
    policy: LintPolicy | None = None,
) -> list[Problem]:
    try:
        documents = load_text(text, source, name, stream)
    except ModuleError as e:
        return [e.as_problem()]
    problems: list[Problem] = []
    for doc in documents:
        problems.extend(lint_document(doc, policy or LintPolicy()))
    return problems


def lint_document(doc: Document, policy: LintPolicy) -> list[Problem]:
    checker = _Checker(doc, policy)
    if doc.is_module:
        checker.check_module()
    found = checker.problems
    if doc.error is not None and not (
        any(p.is_error for p in found) and any(c in doc.error.message for c in _COVERED)
    ):
        found.insert(0, doc.error.as_problem())
    return sorted(set(found), key=lambda p: (p.line or 0, p.message))


def _single(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)


@dataclass
class _Checker:
    doc: Document
    policy: LintPolicy
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: Sequence[str | int], message: str, hint: str = "") -> None:
        self.problems.append(
            Problem(
                self.doc.source,
                self.doc.raw.line_of(*path),
                message,
                hint,
                field=".".join(str(p) for p in path),
            )
        )

    def expect(self, path: Sequence[str | int], value: Any, kind: type, what: str) -> bool:
        """True when ``value`` has the type; otherwise report it (a missing value is fine)."""
        if value is None or isinstance(value, kind):
            return True
        kinds: dict[type, str] = {dict: "a mapping", list: "a list", str: "a single value"}
        got = kinds.get(type(value), "something else")
        self.error(path, f"{'.'.join(map(str, path))} must be {what}, not {got}")
        return False

    # -- the module document -------------------------------------------------------------

    def check_module(self) -> None:
        top = self.doc.raw.data
        if not isinstance(top, dict) or not self.expect(
            ("data",), top.get("data"), dict, "a mapping"
        ):
            return
        data = self.doc.data
        if "data" not in top:
            return  # libmodulemd's own error says so
        for key in ("summary", "description"):
            if self.expect(("data", key), data.get(key), str, "text") and not data.get(key):
                self.error(("data",), f"{key} is missing", f"add `{key}:` under data")
        for key in ("name", "stream"):
            value = data.get(key)
            # Both become folder names (artifacts, the publish tree) and branch names.
            if isinstance(value, str) and not RPM_NAME.match(value):
                self.error(
                    ("data", key),
                    f"{key} {value!r} is not a valid module {key}",
                    "use letters, digits and ._+- ; no '/', no leading '-' or '.'",
                )
        is_v3 = self.doc.kind == "modulemd-packager" and self.doc.version == 3
        self.check_license(data, is_v3)
        if is_v3:
            self.check_configurations(data.get("configurations"))
        elif self.doc.version != 1:  # stream v1 has its own dependency shape
            self.check_dependencies(data.get("dependencies"))
        for key in ("profiles", "api", "filter", "buildopts", "references", "xmd"):
            self.expect(("data", key), data.get(key), dict, "a mapping")
        components = data.get("components")
        if self.expect(("data", "components"), components, dict, "a mapping") and components:
            rpms = components.get("rpms")
            if self.expect(("data", "components", "rpms"), rpms, dict, "a mapping") and rpms:
                self.check_components(rpms)

    def check_license(self, data: dict[str, Any], is_v3: bool) -> None:
        license_ = data.get("license")
        if is_v3:
            self.expect(("data", "license"), license_, list, "a list")
            return
        if not self.expect(("data", "license"), license_, dict, "a mapping"):
            return
        module = (license_ or {}).get("module")
        if self.expect(("data", "license", "module"), module, list, "a list") and not module:
            self.error(
                ("data", "license") if license_ else ("data",),
                "license.module is missing",
                "add `license: {module: [MIT]}` with the module's own licenses",
            )

    def check_configurations(self, configurations: Any) -> None:
        path = ("data", "configurations")
        if not self.expect(path, configurations, list, "a list") or not configurations:
            return
        seen: dict[str, int] = {}
        for i, conf in enumerate(configurations):
            if not self.expect((*path, i), conf, dict, "a mapping"):
                continue
            context = conf.get("context")
            if not isinstance(context, str) or not V3_CONTEXT.match(context):
                self.error(
                    (*path, i, "context"),
                    f"configuration context {context!r} must be 1-10 letters or digits",
                    "e.g. `context: f39a`",
                )
            elif context in seen:
                self.error((*path, i, "context"), f"context {context} is used twice")
            else:
                seen[context] = i
            for key in ("buildrequires", "requires"):
                deps = conf.get(key)
                if self.expect((*path, i, key), deps, dict, "a mapping") and deps:
                    for mod, stream in deps.items():
                        if not (isinstance(stream, str) or _single(stream)):
                            self.error(
                                (*path, i, key, mod),
                                f"{key} {mod} must name one stream, as `{mod}: [stream]`",
                                "a configuration depends on a single stream of each module;"
                                " add another configuration for another stream",
                            )
            if not conf.get("platform"):
                self.error((*path, i), "configuration has no platform", "add e.g. `platform: f39`")

    def check_dependencies(self, dependencies: Any) -> None:
        path = ("data", "dependencies")
        if not self.expect(path, dependencies, list, "a list") or not dependencies:
            return
        for i, entry in enumerate(dependencies):
            if not self.expect((*path, i), entry, dict, "a mapping"):
                continue
            for key in ("buildrequires", "requires"):
                deps = entry.get(key)
                if self.expect((*path, i, key), deps, dict, "a mapping") and deps:
                    for mod, streams in deps.items():
                        self.expect((*path, i, key, mod), streams, list, "a list of streams")

    def check_components(self, rpms: dict[str, Any]) -> None:
        base = ("data", "components", "rpms")
        ordered_by: dict[str, set[str]] = {"buildorder": set(), "buildafter": set()}
        graph: dict[str, list[str]] = {}
        for name, comp in rpms.items():
            path = (*base, name)
            if not RPM_NAME.match(name):
                self.error(
                    path,
                    f"component name {name!r} is not a valid RPM name",
                    "use letters, digits and ._+- ; no '/', no leading '-' or '.'",
                )
            if not self.expect(path, comp, dict, "a mapping"):
                continue
            comp = comp or {}
            rationale = comp.get("rationale")
            if self.expect((*path, "rationale"), rationale, str, "text") and not rationale:
                self.error(
                    path,
                    f"component {name} has no rationale",
                    "say in `rationale:` why the module needs it; the spec makes it mandatory",
                )
            package = comp.get("name")
            if (
                self.expect((*path, "name"), package, str, "a package name")
                and package
                and not RPM_NAME.match(package)
            ):
                self.error((*path, "name"), f"package name {package!r} is not a valid RPM name")
            ref = comp.get("ref")
            if self.expect((*path, "ref"), ref, str, "a git ref") and ref and not valid_ref(ref):
                self.error(
                    (*path, "ref"),
                    f"ref {ref!r} is neither a valid git branch/tag name nor a commit id",
                    "see `git check-ref-format`; e.g. `ref: main` or a full commit hash",
                )
            repository = comp.get("repository")
            if self.expect((*path, "repository"), repository, str, "a URL") and repository:
                self.check_repository((*path, "repository"), repository)
            order = comp.get("buildorder")
            if self.expect((*path, "buildorder"), order, str, "an integer") and order is not None:
                if not INTEGER.match(order):
                    self.error((*path, "buildorder"), f"buildorder {order!r} is not an integer")
                ordered_by["buildorder"].add(name)
            after = comp.get("buildafter")
            if self.expect((*path, "buildafter"), after, list, "a list of components") and after:
                ordered_by["buildafter"].add(name)
                graph[name] = []
                for j, dep in enumerate(after):
                    if not isinstance(dep, str):
                        self.error((*path, "buildafter", j), "buildafter entries must be names")
                    elif dep not in rpms:
                        self.error(
                            (*path, "buildafter", j),
                            f"component {name} is built after {dep!r}, which is not a component"
                            " of this module",
                            "fix the name or add the component",
                        )
                    else:
                        graph[name].append(dep)
            self.expect((*path, "arches"), comp.get("arches"), list, "a list")
        both = ordered_by["buildorder"] & ordered_by["buildafter"]
        for name in sorted(both):
            self.error(
                (*base, name),
                f"component {name} sets both buildorder and buildafter",
                "use buildafter only; the two cannot be mixed",
            )
        if ordered_by["buildorder"] and ordered_by["buildafter"] and not both:
            self.error(
                base,
                "buildorder ("
                + ", ".join(sorted(ordered_by["buildorder"]))
                + ") and buildafter ("
                + ", ".join(sorted(ordered_by["buildafter"]))
                + ") are mixed in one module",
                "use one of the two for every component",
            )
        for c in graph:
            graph[c] = [d for d in graph[c] if d in rpms]
        for cycle in find_cycles({c: graph.get(c, []) for c in rpms}):
            self.error(
                (*base, cycle[0], "buildafter"),
                "buildafter cycle: "
                + " -> ".join(cycle)
                + f" ({', '.join(sorted(set(cycle)))} wait for each other)",
                "remove one buildafter entry on the cycle",
            )

    def check_repository(self, path: Sequence[str | int], url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "file" or (not scheme and url.startswith("/")):
            # Normalised first: `ROOT/../../etc` must not pass as inside ROOT.
            local = os.path.normpath(parts.path if scheme else url)
            if any(
                local == os.path.normpath(root)
                or local.startswith(os.path.normpath(root).rstrip("/") + "/")
                for root in self.policy.distgit_roots
            ):
                return
            where = ", ".join(self.policy.distgit_roots) or "none configured"
            self.error(
                path,
                f"repository {url!r} is a local path outside the local dist-git ({where})",
                "point at the dist-git, or pass --distgit ROOT",
            )
            return
        if scheme not in self.policy.allowed_schemes:
            self.error(
                path,
                f"repository {url!r} uses {scheme or 'no'} scheme; allowed: "
                + ", ".join(sorted(self.policy.allowed_schemes)),
                "use an https:// URL (or allow the scheme with --allow-scheme)",
            )
        elif self.policy.allowed_hosts and (parts.hostname or "") not in self.policy.allowed_hosts:
            self.error(
                path,
                f"repository host {parts.hostname!r} is not allowed; allowed: "
                + ", ".join(sorted(self.policy.allowed_hosts)),
                "use one of the allowed hosts (or --allow-host)",
            )


__all__ = ["LintPolicy", "lint_document", "lint_file", "lint_text", "valid_ref"]
