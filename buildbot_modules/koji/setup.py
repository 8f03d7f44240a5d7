"""A module build's place in Koji: its tags, build target, groups, inheritance and
package lists, created the way MBS creates them and idempotent — a resumed or
resubmitted build runs this again and only what is missing is added (an existing target
pointing elsewhere is an error, never changed: builds were made with it).

Macros: MBS builds a ``module-build-macros`` package into every buildroot to define
``%dist``, ``%modularitylabel`` and the ``%_module_*`` macros. Koji (≥ 1.18) reads
``rpm.macro.<name>`` from a build tag's ``extra``, which needs no extra build and no repo
regeneration before the first component: we set them there (the same macros and values
as ``master/components.py`` ``MODULE_MACROS``, plus ``buildopts.rpms.macros``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .client import KojiClient, KojiError

# The tag options MBS sets on every module tag (its koji_tag_extra_opts defaults).
MOCK_OPTIONS: dict[str, Any] = {
    "mock.package_manager": "dnf",
    "repo_include_all": True,  # a repo holds every build of the inherited tags, not the latest
    "mock.new_chroot": 0,
    "mock.yum.module_hotfixes": 1,  # modular RPMs of the buildroot are not filtered out
}
GROUPS = ("build", "srpm-build")
_MACRO_LINE = re.compile(r"^%(?:define\s+|global\s+)?([A-Za-z_][A-Za-z0-9_]*)\s+(.*\S)\s*$")


@dataclass
class ModuleTags:
    """Everything Koji gets for one module build (one context)."""

    tag: str
    build_tag: str
    target: str
    arches: list[str]
    macros: dict[str, str]
    parents: list[str]  # tags the build tag inherits from, highest priority first
    groups: dict[str, list[str]]  # "build" / "srpm-build" -> packages
    packages: list[str]  # the package list of both tags
    perm: str = ""
    owner: str = ""
    extra_options: dict[str, Any] = field(default_factory=dict)

    def extra(self) -> dict[str, Any]:
        out = {**MOCK_OPTIONS, **self.extra_options}
        out.update((f"rpm.macro.{k}", v) for k, v in self.macros.items())
        return out


def module_macros(rpm_macros: str) -> dict[str, str]:
    """``buildopts.rpms.macros`` (``%name value`` lines) as name -> value."""
    out: dict[str, str] = {}
    for line in rpm_macros.splitlines():
        match = _MACRO_LINE.match(line.strip())
        if match:
            out[match.group(1)] = match.group(2)
    return out


def ensure_module_tags(client: KojiClient, spec: ModuleTags) -> list[str]:
    """Create or complete the module's tags and target in Koji; return what was done
    (one line per change; nothing when everything existed already)."""
    done: list[str] = []
    owner = spec.owner or client.user_name()
    for name in (spec.tag, spec.build_tag):
        _ensure_tag(client, spec, name, done)
    _ensure_inheritance(client, spec, done)
    _ensure_groups(client, spec, done)
    for name in (spec.tag, spec.build_tag):
        listed = {p["package_name"] for p in client.call("listPackages", tagID=name) or []}
        for package in spec.packages:
            if package not in listed:
                client.call("packageListAdd", name, package, owner)
                done.append(f"packageListAdd {name} {package} (owner {owner})")
    _ensure_target(client, spec, done)
    return done


def _ensure_tag(client: KojiClient, spec: ModuleTags, name: str, done: list[str]) -> None:
    info = client.call("getTag", name)
    if not info:
        client.call("createTag", name)
        done.append(f"createTag {name}")
        info = client.call("getTag", name, strict=True)
    if info.get("locked"):
        raise KojiError(
            f"Koji tag {name} is locked",
            hint="a locked tag cannot take builds; unlock it or retire this module build",
        )
    changes: dict[str, Any] = {}
    if sorted((info.get("arches") or "").split()) != sorted(spec.arches):
        changes["arches"] = " ".join(spec.arches)
    if spec.perm and info.get("perm") != spec.perm:
        changes["perm"] = spec.perm
    extra = spec.extra()
    current = info.get("extra") or {}
    if any(current.get(k) != v for k, v in extra.items()):
        changes["extra"] = extra
    if changes:
        client.call("editTag2", name, **changes)
        done.append(f"editTag2 {name} {', '.join(sorted(changes))}")


def _ensure_inheritance(client: KojiClient, spec: ModuleTags, done: list[str]) -> None:
    data = list(client.call("getInheritanceData", spec.build_tag) or [])
    have = {d["parent_id"] for d in data}
    priority = max((d["priority"] for d in data), default=-10) + 10
    added = []
    for parent in spec.parents:
        info = client.call("getTag", parent)
        if not info:
            raise KojiError(
                f"Koji tag {parent} does not exist; {spec.build_tag} must inherit from it",
                hint="create it, or fix koji_platform_tag; a buildrequired module's tag exists"
                " once it is built with Koji or imported (koji_import)",
            )
        if info["id"] in have:
            continue
        data.append(
            {
                "parent_id": info["id"],
                "priority": priority,
                "maxdepth": None,
                "intransitive": False,
                "noconfig": False,
                "pkg_filter": "",
            }
        )
        added.append(parent)
        priority += 10
    if added:
        client.call("setInheritanceData", spec.build_tag, data)
        done.append(f"setInheritanceData {spec.build_tag} <- {', '.join(added)}")


def _ensure_groups(client: KojiClient, spec: ModuleTags, done: list[str]) -> None:
    existing = {
        g["name"]: {p["package"] for p in g.get("packagelist", [])}
        for g in client.call("getTagGroups", spec.build_tag, inherit=False) or []
    }
    for group in GROUPS:
        if group not in existing:
            client.call("groupListAdd", spec.build_tag, group)
            done.append(f"groupListAdd {spec.build_tag} {group}")
        for package in spec.groups.get(group, []):
            if package not in existing.get(group, set()):
                client.call("groupPackageListAdd", spec.build_tag, group, package)
                done.append(f"groupPackageListAdd {spec.build_tag} {group} {package}")


def _ensure_target(client: KojiClient, spec: ModuleTags, done: list[str]) -> None:
    target = client.call("getBuildTarget", spec.target)
    if not target:
        client.call("createBuildTarget", spec.target, spec.build_tag, spec.tag)
        done.append(f"createBuildTarget {spec.target} ({spec.build_tag} -> {spec.tag})")
        return
    if (target["build_tag_name"], target["dest_tag_name"]) != (spec.build_tag, spec.tag):
        raise KojiError(
            f"Koji target {spec.target} builds in {target['build_tag_name']} into"
            f" {target['dest_tag_name']}, not {spec.build_tag} into {spec.tag}",
            hint="a target is never changed once builds used it; ask a Koji admin",
        )
