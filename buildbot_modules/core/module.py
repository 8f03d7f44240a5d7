"""The module as the rest of the system sees it: plain, immutable Python data.

``ModuleStream`` is built from libmodulemd's stream v2 object (after upgrading packager
documents), so everything downstream — dependency expansion, the component plan, the
Buildbot layer — works on one shape whatever document the packager wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .documents import Document, load_file
from .problems import ModuleError


@dataclass(frozen=True)
class Component:
    """An RPM component: ``components.rpms.<name>``."""

    name: str
    rationale: str = ""
    package: str = ""  # the package name in dist-git when it differs (`name:` key)
    repository: str | None = None
    ref: str | None = None
    buildorder: int = 0
    buildafter: tuple[str, ...] = ()
    buildonly: bool = False
    arches: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dependencies:
    """One entry of ``dependencies``: alternative entries expand separately."""

    buildrequires: Mapping[str, tuple[str, ...]]
    requires: Mapping[str, tuple[str, ...]]


@dataclass
class ModuleStream:
    """A module stream definition, as the packager wrote it (not yet expanded)."""

    name: str
    stream: str
    summary: str = ""
    description: str = ""
    context: str | None = None
    static_context: bool = False
    dependencies: list[Dependencies] = field(default_factory=list)
    components: dict[str, Component] = field(default_factory=dict)
    profiles: dict[str, list[str]] = field(default_factory=dict)
    api: list[str] = field(default_factory=list)
    arches: list[str] = field(default_factory=list)
    rpm_macros: str = ""  # buildopts.rpms.macros: `%name value` lines for every component
    source: str = ""
    document: Document | None = None
    # libmodulemd's ModuleStreamV2 this was read from: compose starts from it.
    modulemd: Any = field(default=None, repr=False, compare=False)

    @property
    def order_declared(self) -> bool:
        """True when the packager ordered components (buildorder or buildafter)."""
        return any(c.buildorder or c.buildafter for c in self.components.values())

    def line_of(self, *path: str | int) -> int | None:
        return self.document.raw.line_of(*path) if self.document else None

    @classmethod
    def from_libmodulemd(cls, stream: Any, document: Document | None = None) -> ModuleStream:
        """Convert a ``Modulemd.ModuleStreamV2``."""
        components = {}
        for cname in stream.get_rpm_component_names():
            c = stream.get_rpm_component(cname)
            components[cname] = Component(
                name=cname,
                rationale=c.get_rationale() or "",
                package=c.get_name() or cname,
                repository=c.get_repository(),
                ref=c.get_ref(),
                buildorder=c.get_buildorder(),
                buildafter=tuple(c.get_buildafter()),
                buildonly=bool(c.get_buildonly()),
                arches=tuple(c.get_arches()),
            )
        deps = [
            Dependencies(
                buildrequires={
                    m: tuple(d.get_buildtime_streams(m)) for m in d.get_buildtime_modules()
                },
                requires={m: tuple(d.get_runtime_streams(m)) for m in d.get_runtime_modules()},
            )
            for d in stream.get_dependencies()
        ]
        profiles = {p: list(stream.get_profile(p).get_rpms()) for p in stream.get_profile_names()}
        buildopts = stream.get_buildopts()
        context = stream.get_context()
        static = bool(stream.props.static_context)
        if document is not None and document.kind == "modulemd-packager" and context:
            static = True  # a packager v3 configuration names its context
        return cls(
            name=stream.get_module_name(),
            stream=stream.get_stream_name(),
            summary=stream.get_summary("C") or "",
            description=stream.get_description("C") or "",
            context=context,
            static_context=static,
            dependencies=deps,
            components=components,
            profiles=profiles,
            api=list(stream.get_rpm_api()),
            arches=list(buildopts.get_arches()) if buildopts else [],
            rpm_macros=(buildopts.get_rpm_macros() or "") if buildopts else "",
            source=document.source if document else "",
            document=document,
            modulemd=stream,
        )


def modules_of(documents: list[Document]) -> list[ModuleStream]:
    """The module streams of ``documents``; raise ModuleError on the first invalid one."""
    out: list[ModuleStream] = []
    for doc in documents:
        if not doc.is_module:
            continue
        if doc.error is not None:
            raise doc.error
        out.extend(ModuleStream.from_libmodulemd(s, doc) for s in doc.streams)
    return out


def load_modules(
    path: str, name: str | None = None, stream: str | None = None
) -> list[ModuleStream]:
    """Load the module streams defined in ``path`` (one per packager v3 configuration)."""
    modules = modules_of(load_file(path, name, stream))
    if not modules:
        raise ModuleError(
            "no module stream document in this file",
            source=path,
            hint="a module file has `document: modulemd` or `document: modulemd-packager`",
        )
    return modules
