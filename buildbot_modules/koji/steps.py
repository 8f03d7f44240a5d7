"""The module build's Koji steps (with ``backend = "koji"`` or ``koji_import = true``).

* **koji setup** (after *plan*): the module's tags, target, inheritance, groups and
  package lists (``setup.py``), for every context. Idempotent, so a resumed build runs it
  again safely.
* **koji import** (after *compose*): with ``koji_import``, every component this build made
  is imported as a content-generator build and tagged into the module's tags (a reused
  one is tagged, and imported only if Koji lacks it); in both modes the module itself is
  imported as a build of type ``module``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from buildbot.process.results import SUCCESS

from ..core.identity import dist_tag, modularity_label, platform_marking
from ..core.problems import ModuleError
from ..master.steps import BuildUnit, ModuleStep, machine_arch
from ..master.threads import in_thread
from .cg import Host, RpmBuild, import_module_build, import_rpm_build
from .client import KojiClient
from .naming import module_nvr
from .reuse import tag_build, tag_reused
from .setup import ModuleTags, ensure_module_tags, module_macros

if TYPE_CHECKING:
    from ..master.site import ModuleSite


def module_tags_spec(site: ModuleSite, unit: BuildUnit) -> ModuleTags:
    """What Koji gets for ``unit`` (blocking: reads the registry)."""
    from ..core.documents import load_text
    from ..core.module import modules_of

    s, module = site.settings, unit.module
    context, platform = unit.expanded.context, unit.expanded.platform or ""
    names = site.koji.names(module.name, module.stream, unit.version, context)
    macros = {
        "dist": dist_tag(
            module.name,
            module.stream,
            unit.version,
            context,
            platform_marking(platform) if platform else "",
            unit.registry_id,
        ),
        "modularitylabel": modularity_label(module.name, module.stream, unit.version, context),
        "_module_build": "1",
        "_module_name": module.name,
        "_module_stream": module.stream,
        "_module_version": str(unit.version),
        "_module_context": context,
        **module_macros(module.rpm_macros),
    }
    parents: list[str] = []
    groups: dict[str, list[str]] = {
        "build": list(s.koji_buildroot_packages),
        "srpm-build": list(s.koji_srpm_buildroot_packages),
    }
    for name, stream in sorted(unit.expanded.buildrequires.items()):
        if name == "platform":
            continue
        ready = site.registry.module_builds(name=name, stream=stream, state="ready", limit=1)
        if not ready:
            raise ModuleError(
                f"buildrequired module {name}:{stream} has no ready build on this site, so"
                " it has no Koji tag to inherit from",
                hint="build it here first (with Koji or koji_import)",
            )
        dep = ready[0]
        parents.append(site.koji.names(name, stream, dep.version, dep.context).tag)
        streams = modules_of(load_text(dep.modulemd, dep.nsvc)) if dep.modulemd else []
        for profile, group in (("buildroot", "build"), ("srpm-buildroot", "srpm-build")):
            for m in streams:
                groups[group] += m.profiles.get(profile, [])
    if platform:
        parents.append(s.koji_platform_tag[platform])
    assert unit.plan is not None
    packages = sorted({module.components[c].package or c for c in unit.plan.components})
    return ModuleTags(
        tag=names.tag,
        build_tag=names.build_tag,
        target=names.target,
        arches=list(s.koji_arches or module.arches or [machine_arch()]),
        macros=macros,
        parents=parents,
        groups={g: sorted(set(p)) for g, p in groups.items()},
        packages=packages,
        perm=s.koji_tag_permission,
    )


class KojiSetup(ModuleStep):
    name = "koji setup"

    async def work(self) -> int:
        koji_site = self.site.koji
        await koji_site.login_secret(self.build)
        lines: list[str] = []
        for unit in self.state.units:
            spec = await in_thread(module_tags_spec, self.site, unit)
            done = await in_thread(ensure_module_tags, koji_site.client, spec)
            # Reused components' builds into the new tags, before any component's
            # buildroot repository is requested (koji/reuse.py).
            done += await in_thread(tag_reused, self.site, koji_site.client, unit)
            lines.append(f"{unit.nsvc}: target {spec.target} ({spec.build_tag} -> {spec.tag})")
            lines += [f"  {line}" for line in done] or ["  (everything existed already)"]
        await self.addCompleteLog("koji", "\n".join(lines) + "\n")
        first = self.site.koji.names(
            self.state.units[0].module.name,
            self.state.units[0].module.stream,
            self.state.units[0].version,
            self.state.units[0].expanded.context,
        )
        self.summary = f"koji target {first.target}"
        return SUCCESS


class KojiImport(ModuleStep):
    name = "koji import"

    async def work(self) -> int:
        koji_site = self.site.koji
        await koji_site.login_secret(self.build)
        host = await in_thread(Host.here)
        lines: list[str] = []
        for unit in self.state.units:
            lines += await in_thread(import_unit, self.site, koji_site.client, unit, host)
        await self.addCompleteLog("koji", "\n".join(lines) + "\n")
        self.summary = "; ".join(line for line in lines if line.startswith("module "))
        return SUCCESS


def import_unit(site: ModuleSite, client: KojiClient, unit: BuildUnit, host: Host) -> list[str]:
    """Import (koji_import) and tag the unit's components, then the module itself."""
    from ..compose import rpm_headers
    from ..master.components import RESULTS

    s, module = site.settings, unit.module
    names = site.koji.names(module.name, module.stream, unit.version, unit.expanded.context)
    cg = s.koji_cg_name
    lines: list[str] = []
    if s.backend != "koji":
        records = {c.name: c for c in site.registry.components(unit.registry_id)}
        for name in sorted(records):
            record = records[name]
            if record.state not in ("built", "reused") or not record.nvr:
                continue
            build = client.call("getBuild", record.nvr)
            if not build:
                folder = site.artifact_dir(unit.registry_id, name, RESULTS)
                paths = sorted(
                    os.path.join(base, f)
                    for base, _d, files in os.walk(folder)
                    for f in files
                    if f.endswith(".rpm")
                )
                headers = rpm_headers(paths)
                srpm = next((h for h in headers if h.is_source), None)
                if srpm is None:
                    raise ModuleError(f"component {name}: no source RPM to import into Koji")
                start = record.started_at or record.finished_at
                end = record.finished_at or start
                build = import_rpm_build(
                    client,
                    cg,
                    RpmBuild(
                        name=srpm.name,
                        version=srpm.version,
                        release=srpm.release,
                        epoch=srpm.epoch or None,
                        rpms=[(h.path, "src" if h.is_source else h.arch) for h in headers],
                        logs=[
                            os.path.join(folder, n)
                            for n in ("build.log", "root.log", "installed_pkgs.log")
                            if os.path.isfile(os.path.join(folder, n))
                        ],
                        source=f"{unit.module.name}:{record.package}#{record.commit}",
                        start_time=int(start.timestamp()) if start else int(time.time()),
                        end_time=int(end.timestamp()) if end else int(time.time()),
                    ),
                    host,
                )
                lines.append(f"imported {record.nvr} (build {build['build_id']})")
            tags = [names.build_tag] + ([] if module.components[name].buildonly else [names.tag])
            for tag in tags:
                lines.append(tag_build(client, tag, build))
    kname, kversion, krelease = module_nvr(
        module.name, module.stream, unit.version, unit.expanded.context
    )
    nvr = f"{kname}-{kversion}-{krelease}"
    existing = client.call("getBuild", nvr)
    if existing:
        lines.append(f"module {nvr} already in Koji (build {existing['build_id']})")
        return lines
    module_record = site.registry.module_build(unit.registry_id)
    start = module_record.started_at or module_record.submitted_at
    built = import_module_build(
        client,
        cg,
        (module.name, module.stream, unit.version, unit.expanded.context),
        unit.compose.modulemd,
        names.tag,
        unit.registry_id,
        module_record.scmurl,
        (int(start.timestamp()), int(time.time())),
        host,
    )
    lines.append(f"module {nvr} imported (build {built['build_id']})")
    return lines
