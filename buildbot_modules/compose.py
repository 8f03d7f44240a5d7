"""Compose a module build: its repositories and its final ``modules.yaml``.

A compose turns the RPMs built for a module's components into what dnf consumes:

- ``OUT/<arch>/``: the binary RPMs, ``createrepo_c`` metadata and the final modulemd
  added as the ``modules`` record (``modifyrepo_c --mdtype=modules``). A plain copy of
  ``modules.yaml`` stays beside ``repodata/``: createrepo_c picks a ``modules.yaml``
  up by itself, so re-running createrepo_c on the directory keeps the module.
- ``OUT/src/``: the source RPMs, with their own ``createrepo_c`` metadata.

The final document is a modulemd stream v2 written by libmodulemd: the packager's
document with name, stream, version, context and arch filled in, the dependencies
replaced by the single expanded build, each component's ``ref`` replaced by the commit
that was built, ``artifacts.rpms`` (NEVRAs) and ``xmd.bbmod`` (module commit, component
commits, resolved buildrequires). Defaults come from the packager's ``default: true``
profiles and, with obsoletes and translations, from documents the module repository
provides.

What goes into the repository follows modular filtering as dnf applies it: an RPM in a
module repository that no module lists is an ordinary package, visible to everyone. So
RPMs of ``buildonly`` components and RPMs whose name is in ``filter.rpms`` are neither
listed nor copied: a filtered RPM left in the repository could be installed by plain
``dnf install`` as a non-modular package (measured with dnf 4.14).

Pure Python: no Twisted, no Buildbot. Every tool runs with an argument list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .core.deps import ExpandedBuild
from .core.documents import load_text, modulemd
from .core.identity import NSVCA
from .core.module import ModuleStream
from .core.problems import ModuleError

__all__ = [
    "ComponentResult",
    "ComposeResult",
    "RpmInfo",
    "add_modules",
    "compose",
    "createrepo",
    "final_modulemd",
    "link_or_copy",
    "module_translations",
    "read_modules_metadata",
    "require_tool",
    "rpm_header",
    "rpm_headers",
    "rpm_nevra",
    "run_tool",
]

SETUP_HINT = "run `make setup` (Debian package createrepo-c and rpm; Fedora createrepo_c and rpm)"

# One record per RPM; fields separated by tabs (no RPM tag value holds a tab or newline).
_QUERY_FORMAT = (
    "%{NAME}\\t%|EPOCH?{%{EPOCH}}:{0}|\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n"
)


@dataclass(frozen=True)
class RpmInfo:
    """What a compose needs from an RPM header."""

    path: str
    name: str
    epoch: int
    version: str
    release: str
    arch: str  # the header's arch; a source RPM's NEVRA uses "src" instead
    sourcerpm: str | None  # the binary RPM's source package file name; None for a source RPM
    is_source: bool

    @property
    def source_file_name(self) -> str:
        """The file name binary RPMs record as their ``SOURCERPM`` (for a source RPM)."""
        return f"{self.name}-{self.version}-{self.release}.src.rpm"

    @property
    def nevra(self) -> str:
        """``name-epoch:version-release.arch`` (``.src`` for source RPMs), as modulemd lists it."""
        arch = "src" if self.is_source else self.arch
        return f"{self.name}-{self.epoch}:{self.version}-{self.release}.{arch}"


@dataclass
class ComponentResult:
    """What one component's build produced."""

    name: str
    rpms: list[str]  # paths of the binary and source RPMs built for the component
    commit: str  # the dist-git commit the component was built from
    buildonly: bool = False  # also taken from the module's component definition


@dataclass
class ComposeResult:
    """A composed module build, ready to publish."""

    repo: str  # the binary repository directory (OUT/<arch>)
    source_repo: str  # the source repository directory (OUT/src)
    modulemd: str  # the final YAML (stream v2, plus defaults/obsoletes/translations)
    nsvca: str
    artifacts: list[str]  # NEVRAs, source RPMs included


def require_tool(name: str) -> str:
    """The path of the command ``name``; ModuleError naming the setup step when missing."""
    path = shutil.which(name)
    if path is None:
        raise ModuleError(f"{name} is not installed", hint=SETUP_HINT)
    return path


def run_tool(argv: Sequence[str], what: str) -> str:
    """Run a tool (argument list, LC_ALL=C); its stdout, or ModuleError with its last words."""
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise ModuleError(
            f"{what} failed (exit {proc.returncode}): " + (lines[-1] if lines else "no output"),
            hint="the command was: " + " ".join(argv),
        )
    return proc.stdout


def _query(paths: Sequence[str]) -> subprocess.CompletedProcess[str]:
    # --nosignature --nodigest: no key lookup, so rpm never opens (or creates files
    # beside) the rpm database (measured: without them rpm -qp opens ~/.rpmdb read-write).
    argv = [require_tool("rpm"), "-qp", "--nosignature", "--nodigest", "--qf", _QUERY_FORMAT]
    return subprocess.run(
        [*argv, "--", *paths],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )


def _parse(path: str, line: str) -> RpmInfo:
    fields = line.split("\t")
    if len(fields) != 6:
        raise ModuleError(f"unexpected rpm query output: {line!r}", source=path)
    name, epoch, version, release, arch, sourcerpm = fields
    is_source = sourcerpm == "(none)"
    return RpmInfo(
        path=path,
        name=name,
        epoch=int(epoch),
        version=version,
        release=release,
        arch=arch,
        sourcerpm=None if is_source else sourcerpm,
        is_source=is_source,
    )


def rpm_headers(paths: Sequence[str]) -> list[RpmInfo]:
    """Read the headers of ``paths`` with one ``rpm -qp`` run (works on Debian on files)."""
    if not paths:
        return []
    for path in paths:
        if not os.path.isfile(path):
            raise ModuleError("RPM file not found", source=path)
    proc = _query(paths)
    lines = proc.stdout.splitlines()
    if proc.returncode == 0 and len(lines) == len(paths):
        return [_parse(p, line) for p, line in zip(paths, lines, strict=True)]
    # Some file is not an RPM: ask one at a time to name it.
    out = []
    for path in paths:
        one = _query([path])
        one_lines = one.stdout.splitlines()
        if one.returncode != 0 or len(one_lines) != 1:
            message = one.stderr.strip().splitlines()
            raise ModuleError(
                "rpm cannot read this file: " + (message[-1] if message else "not an RPM"),
                source=path,
            )
        out.append(_parse(path, one_lines[0]))
    return out


def rpm_header(path: str) -> RpmInfo:
    """The header fields of one RPM file."""
    return rpm_headers([path])[0]


def rpm_nevra(path: str) -> str:
    """``name-epoch:version-release.arch`` of an RPM file (epoch 0 when it has none)."""
    return rpm_header(path).nevra


# --------------------------------------------------------------------------- modulemd


def _glib() -> Any:
    from gi.repository import GLib

    return GLib


def _as_v2(stream: Any) -> Any:
    """A stream v2 object for ``stream`` (stream v1 documents are upgraded)."""
    Modulemd = modulemd()
    if stream.get_mdversion() == Modulemd.ModuleStreamVersionEnum.TWO:
        return stream
    index = stream.upgrade_ext(Modulemd.ModuleStreamVersionEnum.TWO)
    return index.get_module(stream.get_module_name()).get_all_streams()[0]


def _xmd(stream: Any, module_commit: str, build: ExpandedBuild, commits: dict[str, str]) -> Any:
    """The stream's xmd with ``bbmod`` set (other keys the packager wrote are kept)."""
    GLib = _glib()
    entries: dict[str, Any] = {}
    existing = stream.get_xmd()
    if existing is not None and existing.get_type_string() == "a{sv}":
        for i in range(existing.n_children()):
            entry = existing.get_child_value(i)
            entries[entry.get_child_value(0).get_string()] = entry.get_child_value(1).get_variant()

    def strings(mapping: dict[str, str]) -> Any:
        return GLib.Variant("a{sv}", {k: GLib.Variant("s", v) for k, v in sorted(mapping.items())})

    entries["bbmod"] = GLib.Variant(
        "a{sv}",
        {
            "commit": GLib.Variant("s", module_commit),
            "buildrequires": strings(build.buildrequires),
            "components": strings(commits),
        },
    )
    return GLib.Variant("a{sv}", entries)


def _own_default_profiles(module: ModuleStream, stream: Any) -> list[str] | None:
    """Profiles the module document marks ``default: true`` (None when it marks none)."""
    names = [p for p in stream.get_profile_names() if stream.get_profile(p).is_default()]
    Modulemd = modulemd()
    obj = module.document.obj if module.document is not None else None
    if isinstance(obj, Modulemd.PackagerV3):
        # libmodulemd turns packager v3 `default: true` into a defaults document.
        converted = obj.convert_to_index().get_module(module.name)
        defaults = converted.get_defaults() if converted is not None else None
        if defaults is not None:
            names += defaults.get_default_profiles_for_stream(module.stream, None) or []
    return sorted(set(names)) or None


def module_translations(module: Any) -> list[Any]:
    """The translations documents of a libmodulemd ``Module`` (one per stream at most)."""
    out = []
    for stream in module.get_stream_names():
        translation = module.get_translation(stream)
        if translation is not None:
            out.append(translation)
    return out


def _extra(module: ModuleStream, text: str) -> tuple[Any, list[Any], list[Any]]:
    """Defaults, obsoletes and translations for ``module`` from the repository's documents.

    Module stream documents in ``text`` are ignored (the module comes from ``module``);
    documents about another module are refused.
    """
    defaults: Any = None
    obsoletes: list[Any] = []
    translations: list[Any] = []
    source = "extra documents"
    for doc in load_text(text, source):
        if doc.is_module:
            continue
        if doc.error is not None:
            raise doc.error
        index = doc.obj
        for name in index.get_module_names():
            if name != module.name:
                raise ModuleError(
                    f"{doc.kind} document for module {name!r} in the repository of {module.name!r}",
                    source=source,
                    line=doc.raw.line,
                    hint="a module repository only describes its own module",
                )
            found = index.get_module(name)
            if found.get_defaults() is not None:
                defaults = found.get_defaults()
            obsoletes.extend(found.get_obsoletes())
            translations.extend(module_translations(found))
    return defaults, obsoletes, translations


def _defaults(module: ModuleStream, stream: Any, extra: Any) -> Any:
    Modulemd = modulemd()
    own = _own_default_profiles(module, stream)
    if own is None:
        return extra
    defaults = extra.copy() if extra is not None else Modulemd.DefaultsV1.new(module.name)
    # The module document's own `default: true` profiles win for its own stream.
    defaults.remove_default_profiles_for_stream(module.stream, None)
    for profile in own:
        defaults.add_default_profile_for_stream(module.stream, profile, None)
    return defaults


def _select(
    module: ModuleStream,
    arch: str,
    components: Iterable[ComponentResult],
    headers: dict[str, RpmInfo],
) -> tuple[list[RpmInfo], list[RpmInfo], dict[str, str]]:
    """The binary and source RPMs the compose ships, and every component's commit."""
    binaries: list[RpmInfo] = []
    sources: list[RpmInfo] = []
    commits: dict[str, str] = {}
    filtered = set(module.modulemd.get_rpm_filters()) if module.modulemd is not None else set()
    for result in components:
        definition = module.components.get(result.name)
        if definition is None:
            raise ModuleError(
                f"component {result.name!r} was built but the module has no such component",
                source=module.source,
                hint="components.rpms lists every component of the module",
            )
        commits[result.name] = result.commit
        if result.buildonly or definition.buildonly:
            continue
        infos = [headers[p] for p in result.rpms]
        kept = [i for i in infos if not i.is_source and i.name not in filtered]
        binaries.extend(kept)
        kept_sources = {i.sourcerpm for i in kept}
        # A source RPM ships while at least one of its binary RPMs does.
        sources.extend(i for i in infos if i.is_source and i.source_file_name in kept_sources)
    missing = [
        c.name
        for c in module.components.values()
        if c.name not in commits and (not c.arches or arch in c.arches or arch == "noarch")
    ]
    if missing:
        raise ModuleError(
            f"no build result for component(s) {', '.join(sorted(missing))}",
            source=module.source,
            hint="compose after every component of the module has built",
        )
    return binaries, sources, commits


def _final(
    module: ModuleStream,
    build: ExpandedBuild,
    version: int,
    arch: str,
    components: Sequence[ComponentResult],
    module_commit: str,
    extra_documents: str | None,
    headers: dict[str, RpmInfo],
) -> tuple[str, str, list[str], list[RpmInfo], list[RpmInfo]]:
    Modulemd = modulemd()
    GLib = _glib()
    if module.modulemd is None:
        raise ModuleError(
            f"module {module.name}:{module.stream} has no libmodulemd document to compose from",
            source=module.source,
            hint="load the module with buildbot_modules.core.module.load_modules",
        )
    if build.module.name != module.name or build.module.stream != module.stream:
        raise ModuleError(
            f"the expanded build is for {build.module.name}:{build.module.stream},"
            f" not {module.name}:{module.stream}"
        )
    try:
        nsvca = NSVCA(module.name, module.stream, version, build.context, arch).nsvca
    except ValueError as e:
        raise ModuleError(str(e), source=module.source) from None
    if arch == "src":
        raise ModuleError("a module's arch cannot be 'src'", source=module.source)
    binaries, sources, commits = _select(module, arch, components, headers)

    stream = _as_v2(module.modulemd).copy(module.name, module.stream)
    stream.set_version(version)
    stream.set_context(build.context)
    stream.set_arch(arch)
    stream.clear_dependencies()
    deps = Modulemd.Dependencies.new()
    for name, chosen in sorted(build.buildrequires.items()):
        deps.add_buildtime_stream(name, chosen)
    for name, streams in sorted(build.requires.items()):
        if streams:
            for s in streams:
                deps.add_runtime_stream(name, s)
        else:
            deps.set_empty_runtime_dependencies_for_module(name)
    stream.add_dependencies(deps)
    for name, commit in commits.items():
        stream.get_rpm_component(name).set_ref(commit)
    stream.clear_rpm_artifacts()
    artifacts = sorted({i.nevra for i in (*binaries, *sources)})
    for nevra in artifacts:
        stream.add_rpm_artifact(nevra)
    stream.set_xmd(_xmd(stream, module_commit, build, commits))

    index = Modulemd.ModuleIndex.new()
    extra_defaults, obsoletes, translations = (
        _extra(module, extra_documents) if extra_documents else (None, [], [])
    )
    try:
        stream.validate()
        index.add_module_stream(stream)
        defaults = _defaults(module, stream, extra_defaults)
        if defaults is not None:
            defaults.validate()
            index.add_defaults(defaults)
        for o in obsoletes:
            index.add_obsoletes(o)
        for t in translations:
            index.add_translation(t)
        text = index.dump_to_string()
    except GLib.Error as e:
        raise ModuleError(f"libmodulemd: {e.message}", source=module.source) from None
    # Read it back strictly: what we publish must be what libmodulemd (and dnf) reads.
    check = Modulemd.ModuleIndex.new()
    _ok, failures = check.update_from_string(text, True)
    if failures:
        raise ModuleError(
            "the final modulemd does not read back: " + failures[0].get_gerror().message,
            source=module.source,
        )
    return text, nsvca, artifacts, binaries, sources


def final_modulemd(
    module: ModuleStream,
    build: ExpandedBuild,
    version: int,
    arch: str,
    components: list[ComponentResult],
    module_commit: str,
    extra_documents: str | None = None,
) -> str:
    """The final ``modules.yaml`` text of one build of ``module`` (see the module docstring).

    ``artifacts.rpms`` lists every binary and source RPM of the components except those
    of ``buildonly`` components and binary RPMs whose name is in ``filter.rpms``; a source
    RPM is listed while at least one of its binary RPMs is. ``extra_documents`` is YAML
    with the module repository's defaults, obsoletes and translations documents.
    """
    headers = _headers(components)
    return _final(
        module, build, version, arch, components, module_commit, extra_documents, headers
    )[0]


def _headers(components: Sequence[ComponentResult]) -> dict[str, RpmInfo]:
    paths = list(dict.fromkeys(p for c in components for p in c.rpms))
    return {i.path: i for i in rpm_headers(paths)}


# --------------------------------------------------------------------------- repositories


def link_or_copy(source: str, target: str) -> None:
    """Hard-link ``source`` to ``target``, or copy it when a link is impossible."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def createrepo(directory: str, update_from: str | None = None) -> None:
    """``createrepo_c`` on ``directory`` (quiet; errors become ModuleError).

    ``update_from``: a repository whose package metadata createrepo_c may reuse for
    unchanged files (``--update --update-md-path``; other records, ``modules``
    included, are not carried over).
    """
    argv = [require_tool("createrepo_c"), "--quiet"]
    if update_from is not None:
        argv += ["--update", "--update-md-path", update_from]
    run_tool([*argv, directory], "createrepo_c")


def add_modules(directory: str, modules_yaml: str) -> None:
    """Write ``modules.yaml`` beside ``repodata/`` and add it as the ``modules`` record."""
    path = os.path.join(directory, "modules.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(modules_yaml)
    run_tool(
        [
            require_tool("modifyrepo_c"),
            "--mdtype=modules",
            path,
            os.path.join(directory, "repodata"),
        ],
        "modifyrepo_c",
    )


def read_modules_metadata(repo: str) -> Any:
    """The ``modules`` record of the repository ``repo`` as a libmodulemd ModuleIndex
    (None when the repository has no modules record)."""
    import xml.etree.ElementTree as ET

    repomd = os.path.join(repo, "repodata", "repomd.xml")
    try:
        root = ET.parse(repomd).getroot()
    except (OSError, ET.ParseError) as e:
        raise ModuleError(f"cannot read repository metadata: {e}", source=repomd) from None
    ns = {"r": "http://linux.duke.edu/metadata/repo"}
    for data in root.findall("r:data", ns):
        if data.get("type") != "modules":
            continue
        location = data.find("r:location", ns)
        href = location.get("href") if location is not None else None
        if not href:
            break
        Modulemd = modulemd()
        index = Modulemd.ModuleIndex.new()
        path = os.path.join(repo, href)
        try:
            _ok, failures = index.update_from_file(path, True)
        except _glib().Error as e:
            raise ModuleError(f"libmodulemd: {e.message}", source=path) from None
        if failures:
            raise ModuleError(
                "libmodulemd: " + failures[0].get_gerror().message,
                source=path,
            )
        return index
    return None


def _empty_dir(path: str) -> None:
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise ModuleError(
            "the compose directory is not empty",
            source=path,
            hint="compose into a new or empty directory",
        )
    os.makedirs(path, exist_ok=True)


def _fill(directory: str, rpms: Iterable[RpmInfo], copy: bool = False) -> None:
    """Link (or, for RPMs about to be signed in place, copy) ``rpms`` into ``directory``."""
    seen: dict[str, str] = {}
    for info in rpms:
        name = os.path.basename(info.path)
        if name in seen:
            if os.path.samefile(seen[name], info.path):
                continue
            raise ModuleError(
                f"two different RPM files are named {name}: {seen[name]} and {info.path}",
                source=info.path,
            )
        seen[name] = info.path
        if copy:
            shutil.copy2(info.path, os.path.join(directory, name))
        else:
            link_or_copy(info.path, os.path.join(directory, name))


def _rpm_files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".rpm"))


def compose(
    module: ModuleStream,
    build: ExpandedBuild,
    version: int,
    arch: str,
    components: list[ComponentResult],
    module_commit: str,
    out_dir: str,
    extra_documents: str | None = None,
    signer: Any = None,
) -> ComposeResult:
    """Compose one build of ``module`` into ``out_dir/<arch>/`` and ``out_dir/src/``.

    With a ``signer`` (:class:`buildbot_modules.signing.Signer`) the RPMs are signed before
    the metadata is written, and each ``repomd.xml`` gets a detached signature.

    The binary repository gets the shipped binary RPMs (hard links when possible),
    ``createrepo_c`` metadata and the final modulemd as its ``modules`` record; the
    source repository gets the shipped source RPMs and its own metadata. Both
    directories must be new or empty.
    """
    for tool in ("createrepo_c", "modifyrepo_c", "rpm"):
        require_tool(tool)
    headers = _headers(components)
    text, nsvca, artifacts, binaries, sources = _final(
        module, build, version, arch, components, module_commit, extra_documents, headers
    )
    repo = os.path.join(out_dir, arch)
    source_repo = os.path.join(out_dir, "src")
    _empty_dir(repo)
    _empty_dir(source_repo)
    # rpmsign rewrites a file in place: signed copies must not share the built RPMs' inodes.
    _fill(repo, binaries, copy=signer is not None)
    _fill(source_repo, sources, copy=signer is not None)
    if signer is not None:
        signer.sign_rpms(_rpm_files(repo) + _rpm_files(source_repo))
    createrepo(repo)
    add_modules(repo, text)
    createrepo(source_repo)
    if signer is not None:
        signer.sign_metadata(repo)
        signer.sign_metadata(source_repo)
    return ComposeResult(
        repo=repo, source_repo=source_repo, modulemd=text, nsvca=nsvca, artifacts=artifacts
    )
