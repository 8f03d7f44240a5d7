"""Module identity: context hashes, versions, N:S:V:C:A strings and RPM dist tags.

Everything here follows the Module Build Service (MBS) so that the values we compute are
the ones MBS would have computed for the same module build. Pure functions, standard
library only.

Context hashes (MBS ``ModuleBuild.calculate_*_context``)
    ``build_context`` is the SHA-1 hex digest of the expanded buildrequires, one stream per
    module, serialised as JSON::

        json.dumps({name: stream, ...}, sort_keys=True).encode("utf-8")

    ``runtime_context`` is the SHA-1 hex digest of the runtime requires, each module's
    streams de-duplicated and sorted::

        json.dumps({name: sorted(set(streams)), ...}, sort_keys=True).encode("utf-8")

    ``module_context`` is the first 8 hex digits of
    ``sha1(f"{build_context}:{runtime_context}".encode("utf-8"))``.

    The JSON is exactly what :func:`json.dumps` produces with its defaults apart from
    ``sort_keys=True``: item separator ``", "``, key separator ``": "``, no indentation,
    ``ensure_ascii=True`` (so any non-ASCII character is written as a ``\\uXXXX`` escape and
    the UTF-8 encoding is plain ASCII). Examples of the hashed text::

        {"platform": "f39"}
        {"nodejs": "20", "platform": "f39"}
        {"nodejs": ["18", "20"], "platform": ["f39"]}
        {}

Version (MBS ``submit.get_prefixed_version``)
    The commit time in UTC formatted ``%Y%m%d%H%M%S``, prefixed with the platform stream's
    version (``f39`` -> ``39``, ``el8.2.0`` -> ``80200``) unless the result would not fit
    in an unsigned 64-bit integer.

Dist tag (MBS ``builder.utils.get_rpm_release``)
    ``.<prefix><marking>+<build index>+<hash>``, where ``<hash>`` is the first 8 hex digits
    of ``sha1("name.stream.version.context")``. E.g. build 2 of
    ``testmodule:master:20170109091357:7c29193d`` on platform ``f28`` gets
    ``.module+f28+2+814cfa39`` (a value pinned in MBS's own tests).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "NSVCA",
    "UINT64_MAX",
    "build_context",
    "dist_tag",
    "modularity_label",
    "module_context",
    "module_version",
    "platform_marking",
    "runtime_context",
    "stream_version_prefix",
]

UINT64_MAX = 2**64 - 1
"""The largest module version modulemd can store (versions are unsigned 64-bit)."""

# Module names and streams: dist-git repository and branch names. Dots, dashes, underscores
# and plus signs are allowed; colons are not (they separate the N:S:V:C:A fields).
_NAME_RE = re.compile(r"[A-Za-z0-9_.+-]+")
# Contexts (MBS: 8 hex digits; packager v3: up to 10 [a-zA-Z0-9]) and arches (x86_64, noarch).
_CONTEXT_RE = re.compile(r"[A-Za-z0-9_]+")
_ARCH_RE = _CONTEXT_RE
_VERSION_RE = re.compile(r"[0-9]+")


def _sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def build_context(buildrequires: Mapping[str, str]) -> str:
    """Return the MBS build context: the 40-hex SHA-1 of the expanded buildrequires.

    ``buildrequires`` maps each buildrequired module to the single stream this build uses
    (after stream expansion), e.g. ``{"platform": "f39", "nodejs": "20"}``. The order of
    the mapping does not matter. The serialisation is described in the module docstring.

    Raises :class:`TypeError` if a stream is not a string (for example a list of streams
    that was not expanded yet).
    """
    for name, stream in buildrequires.items():
        if not isinstance(stream, str):
            raise TypeError(
                f"buildrequires[{name!r}] must be a single stream (str), got "
                f"{type(stream).__name__}; expand multi-stream buildrequires first"
            )
    return _sha1_hex(json.dumps(dict(buildrequires), sort_keys=True))


def runtime_context(requires: Mapping[str, Sequence[str]]) -> str:
    """Return the MBS runtime context: the 40-hex SHA-1 of the runtime requires.

    ``requires`` maps each required module to its list of streams, e.g.
    ``{"platform": ["f39"], "nodejs": ["20", "18"]}``; an empty list (all streams) is kept
    as is. The streams of each module are de-duplicated and sorted before hashing, as MBS
    does, so neither the order of the mapping nor the order of the streams matters.

    Raises :class:`TypeError` if a value is a bare string instead of a sequence of strings.
    """
    normalised: dict[str, list[str]] = {}
    for name, streams in requires.items():
        if isinstance(streams, str) or not all(isinstance(s, str) for s in streams):
            raise TypeError(
                f"requires[{name!r}] must be a sequence of stream names, got {streams!r}"
            )
        normalised[name] = sorted(set(streams))
    return _sha1_hex(json.dumps(normalised, sort_keys=True))


def module_context(buildrequires: Mapping[str, str], requires: Mapping[str, Sequence[str]]) -> str:
    """Return the 8-hex module context MBS gives a build with these dependencies.

    It is the first 8 hex digits of ``sha1(f"{build_context}:{runtime_context}")`` where the
    two parts are :func:`build_context` of ``buildrequires`` and :func:`runtime_context` of
    ``requires``.
    """
    combined = f"{build_context(buildrequires)}:{runtime_context(requires)}"
    return _sha1_hex(combined)[:8]


def stream_version_prefix(platform_stream: str) -> str | None:
    """Return the version number MBS reads from a platform stream, or ``None`` if it has none.

    This is MBS's ``ModuleBuild.get_stream_version(stream, right_pad=False)`` with the
    fractional stream suffix dropped, as MBS does when prefixing versions: the version is
    the first run of digits and dots in the stream (it ends at any other character, e.g. a
    ``-beta`` suffix); each dotted component is zero-padded to two digits and the
    components are concatenated, then leading zeros are dropped. So ``"f39"`` -> ``"39"``,
    ``"el8"`` -> ``"8"``, ``"el8.2.0"`` -> ``"80200"``, ``"f39.1"`` -> ``"3901"``; a
    stream without digits (``"rawhide"``, ``"master"``) gives ``None``.
    """
    match = re.search(r"[0-9][0-9.]*", platform_stream)
    if match is None:
        return None
    components = match.group().rstrip(".").split(".")
    return str(int("".join(component.zfill(2) for component in components)))


def _utc_timestamp_text(commit_time: datetime | int) -> str:
    if isinstance(commit_time, datetime):
        if commit_time.tzinfo is None or commit_time.utcoffset() is None:
            raise ValueError(
                f"naive datetime {commit_time.isoformat()} has no time zone; pass an aware "
                "datetime (e.g. with tzinfo=datetime.UTC) or a unix timestamp in seconds"
            )
        try:
            utc = commit_time.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError(f"commit time {commit_time.isoformat()} is out of range") from exc
    elif isinstance(commit_time, int) and not isinstance(commit_time, bool):
        try:
            utc = datetime.fromtimestamp(commit_time, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"unix timestamp {commit_time} is out of range") from exc
    else:
        raise TypeError(
            "commit_time must be an aware datetime or a unix timestamp (int), got "
            f"{type(commit_time).__name__}"
        )
    if utc.year < 1000:
        raise ValueError(f"commit time {utc.isoformat()} is before the year 1000")
    return utc.strftime("%Y%m%d%H%M%S")


def module_version(commit_time: datetime | int, platform_stream: str | None = None) -> int:
    """Return the module version for a build of a commit made at ``commit_time``.

    The version is the commit time in UTC as the digits ``%Y%m%d%H%M%S`` (fractions of a
    second are dropped). ``commit_time`` is an aware :class:`~datetime.datetime` or a unix
    timestamp in seconds; a naive datetime raises :class:`ValueError`.

    When ``platform_stream`` (the buildrequired platform stream) has a version, see
    :func:`stream_version_prefix`, that number is put in front: ``2023-10-01 12:00:00 UTC``
    on ``f39`` gives ``3920231001120000``. If the prefixed number would exceed
    :data:`UINT64_MAX` the unprefixed version is returned instead, as MBS does.
    """
    base = _utc_timestamp_text(commit_time)
    if platform_stream is not None:
        prefix = stream_version_prefix(platform_stream)
        if prefix is not None:
            prefixed = int(prefix + base)
            if prefixed <= UINT64_MAX:
                return prefixed
    return int(base)


def _check_name(kind: str, value: object) -> None:
    if not isinstance(value, str) or _NAME_RE.fullmatch(value) is None:
        raise ValueError(
            f"invalid module {kind} {value!r}: it must be a non-empty string of letters, "
            "digits and '._+-' (no colons or spaces)"
        )


@dataclass(frozen=True)
class NSVCA:
    """A module build's identity: name, stream, version, context and arch.

    Trailing fields may be missing (``None``) when the identity is partial, as in
    ``name:stream``; a field is only set when every field before it is. ``version`` is an
    unsigned 64-bit integer. Construction validates the fields (:class:`ValueError`
    otherwise), so ``str()`` of an instance always parses back to an equal instance.
    """

    name: str
    stream: str
    version: int | None = None
    context: str | None = None
    arch: str | None = None

    def __post_init__(self) -> None:
        _check_name("name", self.name)
        _check_name("stream", self.stream)
        if self.version is not None and (
            not isinstance(self.version, int)
            or isinstance(self.version, bool)
            or not 0 <= self.version <= UINT64_MAX
        ):
            raise ValueError(
                f"invalid module version {self.version!r}: it must be an integer "
                f"from 0 to {UINT64_MAX}"
            )
        if self.context is not None:
            if self.version is None:
                raise ValueError("a module context needs a version")
            if not isinstance(self.context, str) or _CONTEXT_RE.fullmatch(self.context) is None:
                raise ValueError(
                    f"invalid module context {self.context!r}: it must be a non-empty string "
                    "of letters, digits and '_'"
                )
        if self.arch is not None:
            if self.context is None:
                raise ValueError("a module arch needs a version and a context")
            if not isinstance(self.arch, str) or _ARCH_RE.fullmatch(self.arch) is None:
                raise ValueError(
                    f"invalid module arch {self.arch!r}: it must be a non-empty string "
                    "of letters, digits and '_'"
                )

    @property
    def nsvc(self) -> str:
        """``name:stream:version:context``; :class:`ValueError` if version or context is unset."""
        if self.version is None or self.context is None:
            missing = "a version and a context" if self.version is None else "a context"
            raise ValueError(f"{self} has no {missing}, so it has no N:S:V:C")
        return f"{self.name}:{self.stream}:{self.version}:{self.context}"

    @property
    def nsvca(self) -> str:
        """``name:stream:version:context:arch``; :class:`ValueError` if any field is unset."""
        if self.arch is None:
            raise ValueError(f"{self} has no arch, so it has no N:S:V:C:A")
        return f"{self.nsvc}:{self.arch}"

    def __str__(self) -> str:
        """The set fields joined by colons: N:S, N:S:V, N:S:V:C or N:S:V:C:A."""
        parts = [self.name, self.stream]
        if self.version is not None:
            parts.append(str(self.version))
        if self.context is not None:
            parts.append(self.context)
        if self.arch is not None:
            parts.append(self.arch)
        return ":".join(parts)

    @classmethod
    def parse(cls, text: str) -> NSVCA:
        """Parse ``N:S``, ``N:S:V``, ``N:S:V:C`` or ``N:S:V:C:A``.

        Names and streams may contain letters, digits, dots, dashes, underscores and plus
        signs; the version is decimal digits (unsigned 64-bit); context and arch are
        letters, digits and underscores. Anything else raises :class:`ValueError` naming
        the accepted forms.
        """
        if not isinstance(text, str):
            raise TypeError(f"expected a string like 'name:stream', got {type(text).__name__}")
        parts = text.split(":")
        if not 2 <= len(parts) <= 5:
            raise ValueError(
                f"invalid module identity {text!r}: expected N:S, N:S:V, N:S:V:C or N:S:V:C:A "
                f"(name:stream[:version[:context[:arch]]]), got {len(parts)} colon-separated "
                "fields"
            )
        name, stream = parts[0], parts[1]
        version: int | None = None
        if len(parts) >= 3:
            if _VERSION_RE.fullmatch(parts[2]) is None:
                raise ValueError(
                    f"invalid module identity {text!r}: the version {parts[2]!r} must be "
                    "decimal digits"
                )
            version = int(parts[2])
        context = parts[3] if len(parts) >= 4 else None
        arch = parts[4] if len(parts) >= 5 else None
        try:
            return cls(name, stream, version, context, arch)
        except ValueError as exc:
            raise ValueError(f"invalid module identity {text!r}: {exc}") from None


def modularity_label(name: str, stream: str, version: int, context: str) -> str:
    """Return the RPM ``ModularityLabel`` tag value ``name:stream:version:context``.

    The fields are validated as for :class:`NSVCA` (:class:`ValueError` otherwise).
    """
    return NSVCA(name, stream, version, context).nsvc


def _check_marking(kind: str, value: str, *, allow_empty: bool) -> None:
    # A dash would split the RPM release field of the NVR (MBS refuses it for base modules).
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ValueError(f"the dist tag {kind} must be a non-empty string, got {value!r}")
    if "-" in value or any(c.isspace() for c in value):
        raise ValueError(
            f"the dist tag {kind} {value!r} cannot contain a dash or whitespace "
            "(it becomes part of the RPM release)"
        )


def platform_marking(platform_stream: str, disttag_marking: str | None = None) -> str:
    """Return the platform's part of the RPM dist tag, as MBS chooses it.

    That is the platform module's ``xmd.mbs.disttag_marking`` when it has one, otherwise
    the platform stream unchanged (dots are kept: ``el8.2.0`` stays ``el8.2.0``). Like MBS
    when it imports a base module, :class:`ValueError` is raised if the chosen value
    contains a dash (a dash cannot appear in an RPM release), is empty or has whitespace.
    """
    if disttag_marking is not None:
        _check_marking("marking (disttag_marking)", disttag_marking, allow_empty=False)
        return disttag_marking
    _check_marking(
        "marking (platform stream; set disttag_marking)", platform_stream, allow_empty=False
    )
    return platform_stream


def dist_tag(
    name: str,
    stream: str,
    version: int,
    context: str,
    platform_marking: str,
    build_index: int,
    prefix: str = "module+",
) -> str:
    """Return the RPM dist tag for components of this module build, with its leading dot.

    The shape is MBS's: ``.<prefix><platform_marking>+<build_index>+<hash>``, where
    ``<hash>`` is the first 8 hex digits of ``sha1(f"{name}.{stream}.{version}.{context}")``
    (UTF-8). ``platform_marking`` comes from :func:`platform_marking`; an empty marking is
    left out together with its ``+``, as MBS does for a module that buildrequires no base
    module. ``build_index`` is the build's number (MBS uses the lowest database id among
    the builds of the same name, stream and version). MBS's default ``prefix`` is
    ``module+`` (Fedora configures ``module_``; scratch builds use ``scrmod+``).

    Everything after the dot is what MBS's ``get_rpm_release()`` returns; the ``%dist``
    macro MBS puts in the buildroot is ``"." + get_rpm_release()``, i.e. this value.
    """
    nsvc = NSVCA(name, stream, version, context)
    _check_marking("prefix", prefix, allow_empty=False)
    _check_marking("platform marking", platform_marking, allow_empty=True)
    if not isinstance(build_index, int) or isinstance(build_index, bool) or build_index < 0:
        raise ValueError(f"build_index must be a non-negative integer, got {build_index!r}")
    # MBS module_build_service/builder/utils.py get_rpm_release():
    #   dist_str = ".".join([name, stream, str(version), str(context)]).encode("utf-8")
    #   dist_hash = hashlib.sha1(dist_str).hexdigest()[:8]
    #   return "{prefix}{base_module_marking}{index}+{dist_hash}"  # marking ends with "+"
    dist_hash = _sha1_hex(f"{nsvc.name}.{nsvc.stream}.{nsvc.version}.{nsvc.context}")[:8]
    marking = f"{platform_marking}+" if platform_marking else ""
    return f".{prefix}{marking}{build_index}+{dist_hash}"
