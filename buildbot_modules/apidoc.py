"""`bbmod docs api`: a module's API as a Markdown page, generated from the module itself.

The page lists the module's ``api.rpms`` — the binary packages it promises to keep for the
life of the stream — with what rpm says each one provides and requires, read from the
component specs with ``rpmspec`` (core/specs.py), before any build. docs/base-runtime-api.md
is this page for contrib's base-runtime; `make docs` writes it and tests/test_docs.py checks
that the committed page is what the command prints today, so it cannot drift from the
module.
"""

from __future__ import annotations

import os

from .core.module import ModuleStream, load_modules
from .core.problems import ModuleError
from .core.specs import BinaryPackage, binary_packages


def component_spec(sources: str, component: str, package: str, ref: str | None) -> str:
    """The spec of a component in a sources folder laid out as contrib/rpms (build-local's
    rule: DIR/<component>/ or DIR/<package>/, and branches/<ref>/ inside when it exists)."""
    for folder in dict.fromkeys((component, package or component)):
        base = os.path.join(sources, folder)
        if ref and os.path.isdir(os.path.join(base, "branches", ref)):
            base = os.path.join(base, "branches", ref)
        spec = os.path.join(base, f"{package or component}.spec")
        if os.path.isfile(spec):
            return spec
    raise ModuleError(
        f"component {component}: no spec in {os.path.join(sources, component)}",
        hint="--sources names the folder that holds one folder per component",
    )


def module_packages(module: ModuleStream, sources: str) -> dict[str, tuple[str, BinaryPackage]]:
    """Every binary package the module's components build → (component, package)."""
    found: dict[str, tuple[str, BinaryPackage]] = {}
    for name, component in module.components.items():
        spec = component_spec(sources, name, component.package, component.ref)
        for package in binary_packages(spec):
            found[package.name] = (name, package)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def api_page(module_file: str, sources: str, name: str, stream: str, command: str) -> str:
    """The Markdown page; ``command`` is how it was made (printed at its top)."""
    modules = load_modules(module_file, name, stream)
    module = modules[0]
    packages = module_packages(module, sources)
    lines = [
        f"# The API of {module.name}:{module.stream} (generated)",
        "",
        f"Generated from `{module_file}` and its component specs by `make docs`,",
        f"with `{command}`; do not edit it by hand. {module.summary}.".replace("..", "."),
        "",
        "The **API** is the set of binary packages the module promises to keep, with",
        "everything they provide, for the life of the stream; the `modules.api-stability`",
        "check compares every build with the previous one ([quality.md](quality.md)). What",
        "the API means and how to rely on it: [base-runtime.md](base-runtime.md).",
        "",
        "| API package | built by | version | summary |",
        "|---|---|---|---|",
    ]
    missing = [rpm for rpm in module.api if rpm not in packages]
    if missing:
        raise ModuleError(
            "api.rpms names packages no component builds: " + ", ".join(missing),
            source=module_file,
            hint="fix api.rpms or the component specs",
        )
    for rpm in module.api:
        component, package = packages[rpm]
        lines.append(f"| `{rpm}` | `{component}` | {package.evr} | {_cell(package.summary)} |")
    for rpm in module.api:
        component, package = packages[rpm]
        lines += ["", f"## {rpm}", "", "Provides:", ""]
        lines += [f"- `{p}`" for p in package.provides]
        lines += ["", "Requires (as written in the spec):", ""]
        lines += [f"- `{r}`" for r in package.requires] or ["- nothing"]
    lines += [
        "",
        "## Profiles",
        "",
        "| profile | installs |",
        "|---|---|",
    ]
    for profile, rpms in sorted(module.profiles.items()):
        lines.append(f"| `{profile}` | {', '.join(f'`{r}`' for r in rpms)} |")
    others = sorted(set(packages) - set(module.api))
    lines += [
        "",
        "Packages built but not in the API (no promise): "
        + (", ".join(f"`{p}`" for p in others) if others else "none")
        + ".",
        "",
        "File-level Provides (sonames, paths such as `/usr/bin/...`) are added by rpm when",
        "the packages are built; the stability check compares those too, on the built RPMs.",
        "",
    ]
    return "\n".join(lines)
