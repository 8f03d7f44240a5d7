"""Reuse (#9) with Koji: a component taken from an earlier module build must have its
Koji build in that build's tags, because the new module's tags get the same build
(MBS tags reused components into the new module's tag and build tag): dependents'
buildroots (the build tag's repository) need it, and the content tag must be complete.

``missing_in_koji`` runs at *plan* (blocking, anonymous reads): a candidate whose NVR is
in neither the earlier module tag nor its build tag (untagged, tag deleted, the earlier
build made before Koji was used) is not reused but rebuilt, and the plan log says why.
``tag_reused`` runs in *koji setup*, once the new tags exist: it tags the reused builds
into them — idempotent, so a resumed build runs it again safely.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..registry.model import NotFound
from .client import KojiClient, KojiError

if TYPE_CHECKING:
    from ..master.site import ModuleSite
    from ..master.steps import BuildUnit
    from ..registry.model import ComponentRecord, ModuleBuildRecord


def missing_in_koji(
    site: ModuleSite,
    previous: ModuleBuildRecord,
    candidates: Mapping[str, ComponentRecord],
) -> dict[str, str]:
    """component -> why, for the ``candidates`` (reusable by the registry's view, taken
    from ``previous``) whose Koji build is not tagged where it must be: ``previous``'s
    module tag or build tag (or those of the build it was first made in)."""
    client = site.koji.client
    listings: dict[str, set[str] | str] = {}  # tag -> NVRs, or why it could not be read

    def tagged(tag: str) -> set[str] | str:
        if tag not in listings:
            listings[tag] = _listing(client, tag)
        return listings[tag]

    missing: dict[str, str] = {}
    for name, record in candidates.items():
        origins = [previous]
        if record.reused_from and record.reused_from != previous.id:
            with contextlib.suppress(NotFound):
                origins.append(site.registry.module_build(record.reused_from))
        tags = []
        for build in origins:
            names = site.koji.names(build.name, build.stream, build.version, build.context)
            tags += [names.tag, names.build_tag]
        if not record.nvr:
            missing[name] = "no NVR recorded for it"
            continue
        if any(record.nvr in nvrs for nvrs in map(tagged, tags) if isinstance(nvrs, set)):
            continue
        problems = [f"{t}: {why}" for t in tags if isinstance(why := tagged(t), str)]
        missing[name] = f"Koji build {record.nvr} is not tagged in {', '.join(tags)}" + (
            f" ({'; '.join(problems)})" if problems else ""
        )
    return missing


def _listing(client: KojiClient, tag: str) -> set[str] | str:
    try:
        if not client.read("getTag", tag):
            return "no such tag"
        return {b["nvr"] for b in client.read("listTagged", tag) or []}
    except KojiError as e:
        return e.message


def tag_reused(site: ModuleSite, client: KojiClient, unit: BuildUnit) -> list[str]:
    """Tag the unit's reused components' Koji builds into its build tag and (unless
    buildonly) its module tag; one line per component (blocking)."""
    reused = sorted(c for c, state in unit.results.items() if state == "reused")
    if not reused:
        return []
    module = unit.module
    names = site.koji.names(module.name, module.stream, unit.version, unit.expanded.context)
    records = {c.name: c for c in site.registry.components(unit.registry_id)}
    lines = []
    for name in reused:
        nvr = records[name].nvr if name in records else None
        build = client.call("getBuild", nvr) if nvr else None
        if not build:
            raise KojiError(
                f"component {name}: its reused build {nvr} is not in Koji",
                hint="it was there when the build was planned; resubmit the module build"
                " (the component will then be rebuilt)",
            )
        tags = [names.build_tag] + ([] if module.components[name].buildonly else [names.tag])
        lines += [f"reused {tag_build(client, tag, build)}" for tag in tags]
    return lines


def tag_build(client: KojiClient, tag: str, build: dict[str, Any]) -> str:
    """Tag ``build`` into ``tag`` unless it is there already (``tagBuildBypass``)."""
    tagged = client.call("listTagged", tag, package=build["name"])
    if any(b["build_id"] == build["build_id"] for b in tagged or []):
        return f"{build['nvr']} already in {tag}"
    client.call("tagBuildBypass", tag, build["build_id"])
    return f"tagBuildBypass {tag} {build['nvr']}"
