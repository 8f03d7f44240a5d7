"""Catalogues of built modules: which streams and builds of a module exist.

The resolver asks a catalogue two questions — which streams of a module are known, and
which builds (newest version first) a stream has — and uses the answers to expand
dependencies. Three implementations:

- :class:`InMemoryCatalogue` for tests and for builds the system itself just made;
- :class:`RepoCatalogue` reads a repository's modules metadata (``modules.yaml``, as
  ``dnf`` does) from a file, a repository directory or an ``http(s)://`` URL;
- :class:`ChainCatalogue` asks several catalogues in order.

Module metadata is read with libmodulemd non-strictly, like dnf: documents libmodulemd
cannot read are skipped and listed in :attr:`RepoCatalogue.warnings` (for the caller to
report); the file is an error only when nothing in it can be read.

This module is pure: no Twisted or Buildbot imports. Downloads block (``requests``);
call them from a thread when inside the reactor.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urljoin, urlparse
from urllib.request import url2pathname

from .documents import modulemd
from .problems import ModuleError, Problem

__all__ = [
    "CatalogueEntry",
    "ChainCatalogue",
    "InMemoryCatalogue",
    "ModuleCatalogue",
    "RepoCatalogue",
    "merge_dependencies",
    "open_catalogue",
]

HTTP_TIMEOUT = 30.0
"""Seconds to wait for a server (connect and each read) when downloading metadata."""

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_LINE_IN_MESSAGE = re.compile(r"\s*\[line (\d+) col \d+\]")
_MODULES_FILE = re.compile(r"\.ya?ml(\.(gz|xz|bz2|zst|zck))?$")
_REPOMD = "repodata/repomd.xml"
_LOCATION_HINT = (
    "give a modules.yaml file (optionally compressed), a repository directory with "
    "repodata/repomd.xml, or an http(s):// or file:// URL of either"
)
_READ_HINT = (
    "a module repository's metadata is modulemd YAML (modules.yaml), optionally compressed "
    "with gzip, xz, bzip2 or zstd; regenerate it with modifyrepo_c --mdtype=modules"
)


# --------------------------------------------------------------------------- entries


def _frozen_deps(deps: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({name: tuple(deps[name]) for name in sorted(deps)})


@dataclass(frozen=True)
class CatalogueEntry:
    """One built module: N:S:V:C(:A) with the dependencies it was built with.

    ``requires`` and ``buildrequires`` map module names to streams, merged over all the
    build's ``dependencies`` entries; an empty tuple means "any stream" and ``-stream``
    excludes a stream, as in modulemd. They are stored as read-only mappings.
    """

    name: str
    stream: str
    version: int
    context: str
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    buildrequires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    arch: str | None = None
    # The binary and source RPMs of the build (NEVRAs, ``name-epoch:version-release.arch``).
    artifacts: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "requires", _frozen_deps(self.requires))
        object.__setattr__(self, "buildrequires", _frozen_deps(self.buildrequires))

    def __hash__(self) -> int:
        return hash(
            (
                self.name,
                self.stream,
                self.version,
                self.context,
                self.arch,
                tuple(self.requires.items()),
                tuple(self.buildrequires.items()),
            )
        )

    @property
    def nsvc(self) -> str:
        """``name:stream:version:context``."""
        return f"{self.name}:{self.stream}:{self.version}:{self.context}"

    @property
    def nsvca(self) -> str:
        """``name:stream:version:context:arch`` (``nsvc`` alone when the arch is unknown)."""
        return f"{self.nsvc}:{self.arch}" if self.arch else self.nsvc


def _newest_first(entries: Iterable[CatalogueEntry]) -> list[CatalogueEntry]:
    return sorted(entries, key=lambda e: (-e.version, e.context, e.arch or ""))


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class ModuleCatalogue(Protocol):
    """What the resolver needs to know about existing module builds."""

    def streams(self, name: str) -> list[str]:
        """Every stream known for module ``name``, sorted, without duplicates."""
        ...

    def builds(self, name: str, stream: str) -> list[CatalogueEntry]:
        """The builds of ``name:stream``, newest version first."""
        ...

    def describe(self) -> str:
        """Where the catalogue reads from, for error messages."""
        ...


# --------------------------------------------------------------------------- in memory


class InMemoryCatalogue:
    """A catalogue held in memory. Adding a build with an existing N:S:V:C:A replaces it."""

    def __init__(self, entries: Iterable[CatalogueEntry] = ()) -> None:
        self._entries: dict[tuple[str, str, int, str, str | None], CatalogueEntry] = {}
        for entry in entries:
            self.add(entry)

    @classmethod
    def with_streams(cls, streams: Mapping[str, Iterable[str]]) -> InMemoryCatalogue:
        """One build (version 1, context ``00000000``, no dependencies) per name and stream.

        ``InMemoryCatalogue.with_streams({"platform": ["f38", "f39"]})``
        """
        return cls(
            CatalogueEntry(name, stream, 1, "00000000", {}, {})
            for name, stream_names in streams.items()
            for stream in stream_names
        )

    def add(self, entry: CatalogueEntry) -> None:
        """Add one build."""
        key = (entry.name, entry.stream, entry.version, entry.context, entry.arch)
        self._entries[key] = entry

    def streams(self, name: str) -> list[str]:
        """Every stream known for ``name``, sorted."""
        return sorted({e.stream for e in self._entries.values() if e.name == name})

    def builds(self, name: str, stream: str) -> list[CatalogueEntry]:
        """Builds of ``name:stream``, newest version first."""
        return _newest_first(
            e for e in self._entries.values() if e.name == name and e.stream == stream
        )

    def describe(self) -> str:
        """``in-memory catalogue (N builds)``."""
        return f"in-memory catalogue ({len(self._entries)} builds)"


# --------------------------------------------------------------------------- chain


class ChainCatalogue:
    """Several catalogues asked in order.

    ``streams()`` is the union; ``builds()`` concatenates every catalogue's builds and
    sorts them newest first, keeping the order of the catalogues among builds of the same
    version. A build (same N:S:V:C:A) found in several catalogues is listed once, as the
    first catalogue has it.
    """

    def __init__(self, catalogues: Iterable[ModuleCatalogue]) -> None:
        self.catalogues: list[ModuleCatalogue] = list(catalogues)

    def load(self) -> None:
        """Load every catalogue that loads lazily, so that errors surface now."""
        for catalogue in self.catalogues:
            loader = getattr(catalogue, "load", None)
            if callable(loader):
                loader()

    @property
    def warnings(self) -> list[Problem]:
        """Problems that did not stop the catalogues from loading (skipped documents)."""
        return [p for c in self.catalogues for p in getattr(c, "warnings", ())]

    def streams(self, name: str) -> list[str]:
        """The union of the catalogues' streams of ``name``, sorted."""
        return sorted({s for c in self.catalogues for s in c.streams(name)})

    def builds(self, name: str, stream: str) -> list[CatalogueEntry]:
        """Every catalogue's builds of ``name:stream``, newest version first."""
        seen: set[tuple[str, str | None]] = set()
        found: list[CatalogueEntry] = []
        for catalogue in self.catalogues:
            for entry in catalogue.builds(name, stream):
                key = (entry.nsvc, entry.arch)
                if key not in seen:
                    seen.add(key)
                    found.append(entry)
        return sorted(found, key=lambda e: -e.version)  # stable: catalogue order kept

    def describe(self) -> str:
        """The catalogues' descriptions, in order."""
        if not self.catalogues:
            return "no module repositories"
        return ", then ".join(c.describe() for c in self.catalogues)


# --------------------------------------------------------------------------- repositories


class RepoCatalogue:
    """The modules of one repository, read from its ``modules.yaml`` with libmodulemd.

    ``location`` is one of:

    - a path to a ``modules.yaml`` file, possibly compressed (gzip, xz, bzip2, zstd);
    - a repository directory (its ``repodata/repomd.xml`` names the modules file), or the
      path of that ``repomd.xml``;
    - an ``http://`` or ``https://`` URL of either (a URL whose last part ends in
      ``.yaml``/``.yml``, optionally with a compression suffix, is a modules file;
      anything else is a repository); downloads go to a temporary directory that is
      removed once the metadata is read;
    - a ``file://`` URL, taken as a path.

    Nothing is read until the first query or :meth:`load`; errors are :class:`ModuleError`
    with ``source`` set to the location.
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self._builds: dict[str, dict[str, list[CatalogueEntry]]] | None = None
        self._warnings: list[Problem] = []
        self._root: str | None = None  # the local repository's directory, once loaded

    def rpm_files(self, entry: CatalogueEntry) -> list[str]:
        """The binary RPM files of ``entry`` in this (local) repository, found by the file
        names of its artifacts; a remote repository's RPMs are not downloaded."""
        self.load()
        if self._root is None:
            raise ModuleError(
                f"cannot take the RPMs of {entry.nsvc} from {self.location}: only a local"
                " repository's packages can go into a buildroot",
                source=self.location,
                hint="download the repository (e.g. `dnf reposync`) and name its folder",
            )
        wanted = {nevra_filename(a) for a in entry.artifacts if not a.endswith((".src", ".nosrc"))}
        found = []
        for base, _dirs, files in os.walk(self._root, followlinks=True):
            found += [os.path.join(base, f) for f in sorted(files) if f in wanted]
        return found

    # -- the protocol

    def streams(self, name: str) -> list[str]:
        """Every stream of ``name`` in the repository, sorted."""
        return sorted(self._loaded().get(name, {}))

    def builds(self, name: str, stream: str) -> list[CatalogueEntry]:
        """Builds of ``name:stream`` in the repository, newest version first."""
        return list(self._loaded().get(name, {}).get(stream, []))

    def describe(self) -> str:
        """``modules metadata at LOCATION``."""
        return f"modules metadata at {self.location}"

    # -- loading

    @property
    def warnings(self) -> list[Problem]:
        """Problems that did not stop loading, e.g. documents skipped as unreadable."""
        return list(self._warnings)

    @property
    def loaded(self) -> bool:
        """Whether the metadata has been read."""
        return self._builds is not None

    def load(self) -> None:
        """Read the metadata now (once); raise :class:`ModuleError` when it cannot be read."""
        if self._builds is not None:
            return
        url = urlparse(self.location)
        if url.scheme in ("http", "https"):
            with tempfile.TemporaryDirectory(prefix="bbmod-catalogue-") as tmp:
                entries, warnings = self._load_url(self.location, tmp)
        elif url.scheme == "file":
            entries, warnings = self._load_path(url2pathname(unquote(url.path)))
        elif url.scheme and len(url.scheme) > 1:  # one letter: a Windows drive
            raise ModuleError(
                f"unsupported URL scheme {url.scheme!r}", source=self.location, hint=_LOCATION_HINT
            )
        else:
            entries, warnings = self._load_path(os.path.expanduser(self.location))
        builds: dict[str, dict[str, list[CatalogueEntry]]] = {}
        for entry in entries:
            builds.setdefault(entry.name, {}).setdefault(entry.stream, []).append(entry)
        for by_stream in builds.values():
            for stream, found in by_stream.items():
                by_stream[stream] = _newest_first(found)
        self._warnings = warnings
        self._builds = builds

    def _loaded(self) -> dict[str, dict[str, list[CatalogueEntry]]]:
        self.load()
        assert self._builds is not None
        return self._builds

    def _named(self, where: str, preposition: str = "") -> str:
        """`` {preposition} {where}`` unless ``where`` is the location (the message's source)."""
        return "" if where == self.location else f"{preposition} {where}"

    def _error(self, message: str, hint: str, line: int | None = None) -> ModuleError:
        return ModuleError(message, source=self.location, line=line, hint=hint)

    # local files

    def _load_path(self, path: str) -> tuple[list[CatalogueEntry], list[Problem]]:
        if not os.path.exists(path):
            raise self._error(f"no such file or directory{self._named(path, ':')}", _LOCATION_HINT)
        if os.path.isdir(path):
            repomd = os.path.join(path, *_REPOMD.split("/"))
            if not os.path.isfile(repomd):
                raise self._error(
                    f"not a repository: {path} has no {_REPOMD}",
                    "create the repository metadata with `createrepo_c DIR` and "
                    "`modifyrepo_c --mdtype=modules modules.yaml DIR/repodata`, or give the "
                    "path of a modules.yaml file",
                )
            return self._load_local_repo(path, repomd)
        if os.path.basename(path) == "repomd.xml":
            return self._load_local_repo(os.path.dirname(os.path.dirname(path)), path)
        return self._read_modules(path, path)

    def _load_local_repo(
        self, root: str, repomd: str
    ) -> tuple[list[CatalogueEntry], list[Problem]]:
        self._root = root
        with open(repomd, "rb") as f:
            record = self._modules_record(f.read(), repomd)
        path = os.path.join(root, *record.href.split("/"))
        if not os.path.isfile(path):
            raise self._error(
                f"{repomd} names the modules metadata {record.href}, which is missing",
                "regenerate the repository metadata (createrepo_c, then modifyrepo_c "
                "--mdtype=modules)",
            )
        self._check(record, path, path)
        return self._read_modules(path, path)

    # remote files

    def _load_url(self, url: str, tmp: str) -> tuple[list[CatalogueEntry], list[Problem]]:
        last = urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]
        if _MODULES_FILE.search(last):
            return self._read_modules(self._download(url, tmp, "the modules metadata"), url)
        repomd_url = url if last == "repomd.xml" else urljoin(_as_directory(url), _REPOMD)
        repomd = self._download(repomd_url, tmp, "the repository index " + _REPOMD)
        with open(repomd, "rb") as f:
            record = self._modules_record(f.read(), repomd_url)
        modules_url = urljoin(urljoin(repomd_url, ".."), record.href)
        path = self._download(modules_url, tmp, "the modules metadata named by " + repomd_url)
        self._check(record, path, modules_url)
        return self._read_modules(path, modules_url)

    def _download(self, url: str, directory: str, what: str) -> str:
        import requests

        name = unquote(urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]) or "download"
        target = os.path.join(directory, name.replace(os.sep, "_"))
        try:
            with requests.get(url, timeout=HTTP_TIMEOUT, stream=True) as response:
                if response.status_code >= 400:
                    raise self._error(
                        f"HTTP {response.status_code} {response.reason} downloading {what} "
                        f"from {url}",
                        "check the URL: it must name a modules.yaml file or a repository "
                        f"(the directory above {_REPOMD})"
                        if response.status_code == 404
                        else "check the URL and that the server serves it to this machine",
                    )
                with open(target, "wb") as f:
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        f.write(chunk)
        except requests.RequestException as e:
            raise self._error(
                f"cannot download {what} from {url}: {e}",
                "check the URL, the network and any proxy settings",
            ) from e
        return target

    # metadata

    def _modules_record(self, xml: bytes, where: str) -> _Record:
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as e:
            raise self._error(
                f"unreadable repository index {where}: {e}",
                "regenerate the repository metadata with createrepo_c",
            ) from e
        for data in root:
            if _local(data.tag) != "data" or data.get("type") != "modules":
                continue
            href = None
            checksum: tuple[str, str] | None = None
            for child in data:
                if _local(child.tag) == "location":
                    href = child.get("href")
                elif _local(child.tag) == "checksum" and child.text:
                    checksum = (child.get("type", ""), child.text.strip())
            if not href:
                raise self._error(
                    f"the modules record of {where} has no location",
                    "regenerate the repository metadata with modifyrepo_c --mdtype=modules",
                )
            return _Record(href, checksum)
        raise self._error(
            f"not a module repository: {where} has no modules record",
            "add module metadata with `modifyrepo_c --mdtype=modules modules.yaml "
            "DIR/repodata`, or give a repository that carries modules",
        )

    def _check(self, record: _Record, path: str, where: str) -> None:
        if record.checksum is None:
            return
        kind, expected = record.checksum
        algorithm = "sha1" if kind == "sha" else kind.lower()
        if algorithm not in hashlib.algorithms_available:
            return
        digest = hashlib.new(algorithm)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                digest.update(chunk)
        if digest.hexdigest() != expected.lower():
            raise self._error(
                f"checksum mismatch for {where}: {_REPOMD} gives {kind} {expected}, "
                f"the file has {digest.hexdigest()}",
                "the repository changed while it was read, or is damaged; retry, or "
                "regenerate it with createrepo_c and modifyrepo_c",
            )

    def _read_modules(self, path: str, where: str) -> tuple[list[CatalogueEntry], list[Problem]]:
        """Read one modules file; ``where`` names it in messages."""
        with open(path, "rb") as f:
            compressed_zstd = f.read(4) == _ZSTD_MAGIC
        if compressed_zstd:
            # libmodulemd reads gzip, xz and bzip2 itself; zstd only where rpm supports it
            # (not on Debian 12), so unpack it here.
            with tempfile.TemporaryDirectory(prefix="bbmod-catalogue-") as tmp:
                plain = os.path.join(tmp, "modules.yaml")
                self._unzstd(path, plain, where)
                return self._read_index(plain, where)
        return self._read_index(path, where)

    def _unzstd(self, path: str, target: str, where: str) -> None:
        try:
            zstandard: Any = importlib.import_module("zstandard")
        except ImportError:
            zstandard = None
        if zstandard is not None:
            with open(path, "rb") as src, open(target, "wb") as dst:
                zstandard.ZstdDecompressor().copy_stream(src, dst)
            return
        command = shutil.which("zstd")
        if command is None:
            raise self._error(
                f"{where} is zstd-compressed and nothing here can decompress it",
                "install the zstd command or the Python package zstandard",
            )
        with open(target, "wb") as dst:
            done = subprocess.run(
                [command, "-dcq", path], stdout=dst, stderr=subprocess.PIPE, check=False
            )
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise self._error(f"cannot decompress {where}: {message}", _READ_HINT)

    def _read_index(self, path: str, where: str) -> tuple[list[CatalogueEntry], list[Problem]]:
        Modulemd = modulemd()
        from gi.repository import GLib

        index = Modulemd.ModuleIndex.new()
        try:
            _ok, failures = index.update_from_file(path, False)
        except GLib.Error as e:
            message, line = _split_line(e.message)
            if where != self.location and line is not None:
                message, line = f"{message} (line {line} of {where})", None
            raise self._error(
                f"cannot read the modules metadata{self._named(where)}: libmodulemd: {message}",
                _READ_HINT,
                line,
            ) from e
        names = list(index.get_module_names())
        warnings: list[Problem] = []
        if failures:
            first, _line = _split_line(failures[0].get_gerror().message)
            plural = len(failures) != 1
            count = f"{len(failures)} document{'s' if plural else ''}"
            verb = "were" if plural else "was"
            if not names:
                raise self._error(
                    f"no module could be read{self._named(where, ' from')}: {count} failed, "
                    f"the first with: {first}",
                    _READ_HINT,
                )
            warnings.append(
                Problem(
                    self.location,
                    None,
                    f"{count}{self._named(where, ' of')} could not be read and {verb} skipped; "
                    f"the first failed with: {first}",
                    "fix or drop the broken documents; dnf skips them too",
                    severity="warning",
                )
            )
        if names:
            try:
                index.upgrade_streams(Modulemd.ModuleStreamVersionEnum.LATEST)
            except GLib.Error as e:
                raise self._error(
                    f"cannot upgrade the module streams of {where} to modulemd v2: {e.message}",
                    _READ_HINT,
                ) from e
        entries = [
            _entry(stream) for name in names for stream in index.get_module(name).get_all_streams()
        ]
        return entries, warnings


@dataclass(frozen=True)
class _Record:
    href: str
    checksum: tuple[str, str] | None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _as_directory(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _split_line(message: str) -> tuple[str, int | None]:
    match = _LINE_IN_MESSAGE.search(message)
    if not match:
        return message, None
    return _LINE_IN_MESSAGE.sub("", message), int(match.group(1))


def _entry(stream: Any) -> CatalogueEntry:
    """A catalogue entry from a libmodulemd ``ModuleStreamV2``."""
    runtime: list[dict[str, list[str]]] = []
    buildtime: list[dict[str, list[str]]] = []
    for deps in stream.get_dependencies():
        runtime.append({m: list(deps.get_runtime_streams(m)) for m in deps.get_runtime_modules()})
        buildtime.append(
            {m: list(deps.get_buildtime_streams(m)) for m in deps.get_buildtime_modules()}
        )
    return CatalogueEntry(
        name=stream.get_module_name(),
        stream=stream.get_stream_name(),
        version=int(stream.get_version()),
        context=stream.get_context() or "",
        requires=merge_dependencies(runtime),
        buildrequires=merge_dependencies(buildtime),
        arch=stream.get_arch() or None,
        artifacts=tuple(stream.get_rpm_artifacts()),
    )


def nevra_filename(nevra: str) -> str:
    """The usual file name of an RPM: ``name-1:2.0-3.x86_64`` → ``name-2.0-3.x86_64.rpm``."""
    nevr, _, arch = nevra.rpartition(".")
    name_epoch_version, _, release = nevr.rpartition("-")
    name, _, epoch_version = name_epoch_version.rpartition("-")
    version = epoch_version.split(":", 1)[-1]
    return f"{name}-{version}-{release}.{arch}.rpm"


def merge_dependencies(
    alternatives: Iterable[Mapping[str, Sequence[str]]],
) -> dict[str, tuple[str, ...]]:
    """Merge several ``dependencies`` entries (alternatives) into one mapping.

    A module in any entry is in the result. Its streams are the union: ``[]`` (any stream)
    in one entry makes it any stream; entries that only exclude (``-s``) give the streams
    excluded by all of them that no other entry names; otherwise the named streams, sorted.
    """
    lists: dict[str, list[Sequence[str]]] = {}
    for alternative in alternatives:
        for name, streams in alternative.items():
            lists.setdefault(name, []).append(streams)
    return {name: _merge_streams(lists[name]) for name in sorted(lists)}


def _merge_streams(lists: list[Sequence[str]]) -> tuple[str, ...]:
    named: set[str] = set()
    excluded: set[str] | None = None  # None: no entry allows "every stream but …"
    for streams in lists:
        positive = {s for s in streams if not s.startswith("-")}
        if positive:
            named |= positive
        else:
            negative = {s[1:] for s in streams}
            excluded = negative if excluded is None else excluded & negative
    if excluded is None:
        return tuple(sorted(named))
    return tuple(f"-{s}" for s in sorted(excluded - named))


def open_catalogue(locations: Sequence[str]) -> ChainCatalogue:
    """A :class:`ChainCatalogue` of one :class:`RepoCatalogue` per location, in order.

    Nothing is read until the first query or ``load()``.
    """
    if isinstance(locations, str):
        raise TypeError("open_catalogue() takes a list of locations, not one string")
    return ChainCatalogue(RepoCatalogue(location) for location in locations)
