"""One component build: a Buildbot build of its own, on any worker with a free slot.

Sources travel from the master to the worker as a tarball (``git archive`` of the
component's commit) and RPMs travel back with Buildbot's file transfer: workers on other
hosts need no shared filesystem. How the RPMs are built is the backend's business: the
local backend runs plain ``rpmbuild`` in the build's private directory; issue #4 gives it
isolated buildroots, and Koji (issue #10) plugs in behind the same interface.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from buildbot.plugins import steps, util
from buildbot.process.buildstep import BuildStep
from buildbot.process.results import SUCCESS

from ..core.problems import ModuleError
from .steps import MasterStep
from .threads import in_thread

if TYPE_CHECKING:
    from .site import ModuleSite

SOURCES_TAR = "sources.tar"


class ComponentBackend:
    """Turns a component's sources (``src/`` in the build directory) into RPMs under
    ``rpmbuild/RPMS`` and ``rpmbuild/SRPMS``. Subclasses return Buildbot steps."""

    name = "base"

    def build_steps(self) -> list[BuildStep]:
        raise NotImplementedError


class RpmbuildBackend(ComponentBackend):
    """Plain ``rpmbuild -ba`` in the build directory (no buildroot yet: issue #4)."""

    name = "rpmbuild"

    def build_steps(self) -> list[BuildStep]:
        topdir = util.Interpolate("_topdir %(prop:builddir)s/build/rpmbuild")
        sourcedir = util.Interpolate("_sourcedir %(prop:builddir)s/build/src")
        return [
            steps.ShellCommand(
                name="rpmbuild",
                command=[
                    "rpmbuild",
                    "-ba",
                    "--define",
                    topdir,
                    "--define",
                    sourcedir,
                    "--define",
                    util.Interpolate("dist %(prop:dist_tag)s"),
                    "--define",
                    util.Interpolate("modularitylabel %(prop:modularity_label)s"),
                    util.Interpolate("src/%(prop:package)s.spec"),
                ],
                env={"LC_ALL": "C"},
                logEnviron=False,  # the worker's environment is not for every UI visitor
                descriptionDone=util.Interpolate("rpmbuild %(prop:package)s"),
                haltOnFailure=True,
            )
        ]


BACKENDS: dict[str, type[ComponentBackend]] = {"rpmbuild": RpmbuildBackend}


class PrepareSources(MasterStep):
    """Mark the component building in the registry; archive its sources for the worker."""

    name = "prepare sources"

    def getResultSummary(self) -> dict[str, str]:
        # The build's own summary names the component, whatever happens later.
        component, nsvc = self.getProperty("component"), self.getProperty("nsvc")
        return {"step": self.summary or self.name, "build": f"{component} ({nsvc})"}

    async def work(self) -> int:
        build_id = self.getProperty("module_build_id")
        component = self.getProperty("component")
        package = self.getProperty("package")
        commit = self.getProperty("component_commit")
        folder = self.getProperty("bbmod_artifacts")
        url = await self.build.getUrl()
        await in_thread(
            self.site.registry.set_component_state,
            build_id,
            component,
            "building",
            buildbot_build_id=self.build.buildid,
            log_url=url,
        )

        def archive() -> None:
            os.makedirs(folder, exist_ok=True)
            self.site.distgit.archive("rpms", package, commit, os.path.join(folder, SOURCES_TAR))

        await in_thread(archive)
        self.summary = f"rpms/{package} at {commit[:8]}"
        return SUCCESS


class RecordComponent(MasterStep):
    """Read the uploaded RPMs' headers; record NEVRAs and the built state."""

    name = "record"

    async def work(self) -> int:
        from ..compose import rpm_header, rpm_nevra

        build_id = self.getProperty("module_build_id")
        component = self.getProperty("component")
        folder = self.getProperty("bbmod_artifacts")

        def collect() -> tuple[list[str], str | None]:
            nevras, nvr = [], None
            for base, _dirs, files in os.walk(folder):
                for f in sorted(files):
                    if f.endswith(".rpm"):
                        path = os.path.join(base, f)
                        nevras.append(rpm_nevra(path))
                        header = rpm_header(path)
                        if header.is_source:
                            nvr = f"{header.name}-{header.version}-{header.release}"
            return nevras, nvr

        nevras, nvr = await in_thread(collect)
        if not nevras:
            raise ModuleError(f"component {component}: rpmbuild produced no RPM")
        await in_thread(self.site.registry.add_artifacts, build_id, component, nevras)
        await in_thread(
            self.site.registry.set_component_state, build_id, component, "built", nvr=nvr
        )
        self.summary = f"built {nvr} ({len(nevras)} RPMs)"
        return SUCCESS

    def getResultSummary(self) -> dict[str, str]:
        summary = {"step": self.summary or self.name}
        if self.summary.startswith("built "):
            summary["build"] = f"{self.getProperty('component')}: {self.summary}"
        return summary


def component_factory(site: ModuleSite, backend: ComponentBackend) -> util.BuildFactory:
    """The steps of every component build."""
    factory = util.BuildFactory()
    factory.addSteps(
        [
            PrepareSources(site, haltOnFailure=True),
            steps.RemoveDirectory(dir="build", name="clean", haltOnFailure=True),
            steps.FileDownload(
                name="download sources",
                mastersrc=util.Interpolate(f"%(prop:bbmod_artifacts)s/{SOURCES_TAR}"),
                workerdest=SOURCES_TAR,
                haltOnFailure=True,
            ),
            steps.ShellSequence(
                name="unpack",
                commands=[
                    util.ShellArg(command=["mkdir", "-p", "src", "rpmbuild"], logname="mkdir"),
                    util.ShellArg(command=["tar", "-xf", SOURCES_TAR, "-C", "src"], logname="tar"),
                ],
                haltOnFailure=True,
            ),
            *backend.build_steps(),
            steps.DirectoryUpload(
                name="upload RPMs",
                workersrc="rpmbuild/RPMS",
                masterdest=util.Interpolate("%(prop:bbmod_artifacts)s/RPMS"),
                haltOnFailure=True,
            ),
            steps.DirectoryUpload(
                name="upload SRPM",
                workersrc="rpmbuild/SRPMS",
                masterdest=util.Interpolate("%(prop:bbmod_artifacts)s/SRPMS"),
                haltOnFailure=True,
            ),
            RecordComponent(site, haltOnFailure=True),
        ]
    )
    return factory
