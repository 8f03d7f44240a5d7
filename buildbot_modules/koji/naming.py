"""Names in Koji, the way MBS gives them, so that tools that know MBS's names (pungi,
ODCS, people) find ours.

* Module tag ``<prefix>-<name>-<stream>-<version>-<context>`` and its build tag
  ``…-build``. When the build tag's name would pass Koji's 256 characters, MBS falls back
  to ``<prefix>-<16 hex digits of sha1("name.stream.version.context")>``.
* Build target: the same rule with a limit of 50 characters for the target itself.
* The module as a Koji build (content generator): name = module name, version = stream
  with ``-`` made ``_`` (a version may not contain ``-``), release = ``version.context``.
"""

from __future__ import annotations

import hashlib

TAG_LIMIT = 256  # Koji's longest tag name
TARGET_LIMIT = 50  # the longest target name this builds (as MBS)
BUILD_SUFFIX = "-build"


def module_tag(
    prefix: str, name: str, stream: str, version: int | str, context: str, limit: int = TAG_LIMIT
) -> str:
    """The module's destination tag (its build tag is this plus ``-build``)."""
    parts = [name, stream, str(version), context]
    tag = f"{prefix}-" + "-".join(parts)
    if len(tag) + len(BUILD_SUFFIX) > limit:
        digest = hashlib.sha1(".".join(parts).encode("utf-8")).hexdigest()[:16]
        return f"{prefix}-{digest}"
    return tag


def build_tag(tag: str) -> str:
    return tag + BUILD_SUFFIX


def target_name(prefix: str, name: str, stream: str, version: int | str, context: str) -> str:
    """The module's build target: its tag name when that fits in 50 characters."""
    return module_tag(prefix, name, stream, version, context, TARGET_LIMIT + len(BUILD_SUFFIX))


def module_nvr(name: str, stream: str, version: int | str, context: str) -> tuple[str, str, str]:
    """(name, version, release) of the module's own Koji build."""
    return name, stream.replace("-", "_"), f"{version}.{context}"
