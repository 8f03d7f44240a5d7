"""One component build: a Buildbot build of its own, on any worker with a free slot.

Sources travel from the master to the worker as a tarball (``git archive`` of the
component's commit) and RPMs travel back with Buildbot's file transfer: workers on other
hosts need no shared filesystem. How the RPMs are built is the backend's business: the
buildroot backend runs ``rpmbuild`` in a private root per build (the default), the plain
backend runs it in the build directory, and Koji (issue #10) plugs in behind the same
interface.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from buildbot.plugins import steps, util
from buildbot.process.buildstep import BuildStep
from buildbot.process.results import CANCELLED, SUCCESS, WARNINGS

from ..core.problems import ModuleError
from .site import binary_rpms
from .steps import MasterStep
from .threads import in_thread

if TYPE_CHECKING:
    from .site import ModuleSite

SOURCES_TAR = "sources.tar"
BUILDROOT_TAR = "buildroot-repo.tar"
MACROS_FILE = "module.macros"  # buildopts.rpms.macros of the module, beside the repository
RESULTS = "results"  # every backend leaves the RPMs here, in the build directory


def _define(name: str, prop: str) -> util.Interpolate:
    return util.Interpolate(f"{name} %(prop:{prop})s")


# Module build macros as MBS provides them.
MODULE_MACROS = [
    ("dist", "dist_tag"),
    ("modularitylabel", "modularity_label"),
    ("_module_name", "module"),
    ("_module_stream", "stream"),
    ("_module_version", "module_version"),
    ("_module_context", "module_context"),
]


class ComponentBackend:
    """Turns a component's sources (``src/`` in the build directory) into binary and
    source RPMs in ``results/``. Subclasses return the Buildbot steps that do it."""

    name = "base"
    # Whether the master prepares a repository of what BuildRequires may need.
    needs_buildroot_repo = False
    # Whether the worker gets the sources as a tarball (Koji checks out the SCM itself).
    needs_sources = True
    # Whether every step runs on the master (Koji): no worker-side steps at all.
    on_master = False

    def __init__(self, site: ModuleSite) -> None:
        self.site = site

    def build_steps(self) -> list[BuildStep]:
        raise NotImplementedError

    def defines(self) -> list[str | util.Interpolate]:
        args: list[str | util.Interpolate] = []
        for name, prop in MODULE_MACROS:
            args += ["--define", _define(name, prop)]
        return args


class RpmbuildBackend(ComponentBackend):
    """Plain ``rpmbuild -ba`` in the build directory: no buildroot, so BuildRequires are
    checked against the worker's own rpm database (for workers that cannot run as root)."""

    name = "rpmbuild"

    def build_steps(self) -> list[BuildStep]:
        build = "%(prop:builddir)s/build"
        return [
            steps.ShellCommand(
                name="rpmbuild",
                command=[
                    "rpmbuild",
                    "-ba",
                    "--define",
                    util.Interpolate(f"_topdir {build}/rpmbuild"),
                    "--define",
                    util.Interpolate(f"_sourcedir {build}/src"),
                    "--define",
                    util.Interpolate(f"_rpmdir {build}/{RESULTS}"),
                    "--define",
                    util.Interpolate(f"_srcrpmdir {build}/{RESULTS}"),
                    *self.defines(),
                    util.Interpolate("src/%(prop:package)s.spec"),
                ],
                env={"LC_ALL": "C"},
                logEnviron=False,  # the worker's environment is not for every UI visitor
                descriptionDone=util.Interpolate("rpmbuild %(prop:package)s"),
                haltOnFailure=True,
            )
        ]


class BuildrootBackend(ComponentBackend):
    """``rpmbuild`` in a private root per build (``buildbot_modules.buildroot``): the
    platform and the BuildRequires from this module's built components and the
    buildrequired modules are installed inside it, never on the worker."""

    name = "buildroot"
    needs_buildroot_repo = True

    def build_steps(self) -> list[BuildStep]:
        s = self.site.settings
        python = s.bbmod[0]  # the worker's Python with buildbot_modules installed
        command: list[str | util.Interpolate] = [
            python,
            "-m",
            "buildbot_modules.buildroot",
            "--spec",
            util.Interpolate("src/%(prop:package)s.spec"),
            "--sources",
            "src",
            "--results",
            RESULTS,
            "--repo",
            "buildroot-repo",
            "--macros",
            f"buildroot-repo/{MACROS_FILE}",
            "--source-date-epoch",
            util.Interpolate("%(prop:source_date_epoch)s"),
            "--timeout",
            str(s.component_timeout),
            *self.defines(),
        ]
        if s.component_memory:
            command += ["--memory", str(s.component_memory)]
        if s.keep_buildroots:
            command.append("--keep")  # the runner prints where the root is
        return [
            steps.FileDownload(
                name="download buildroot repository",
                mastersrc=util.Interpolate(f"%(prop:bbmod_buildroot)s/{BUILDROOT_TAR}"),
                workerdest=BUILDROOT_TAR,
                haltOnFailure=True,
            ),
            steps.ShellCommand(
                name="unpack buildroot repository",
                command=["tar", "-xf", BUILDROOT_TAR],
                logEnviron=False,
                haltOnFailure=True,
            ),
            steps.ShellCommand(
                name="build in buildroot",
                command=command,
                env={"LC_ALL": "C"},
                logEnviron=False,
                descriptionDone=util.Interpolate("rpmbuild %(prop:package)s in its buildroot"),
                haltOnFailure=True,
            ),
        ]


class NoopBackend(ComponentBackend):
    """Builds nothing: every other step of a component build runs (sources prepared,
    transferred and unpacked, an empty upload, record), so ``bench/scale.py`` can
    measure the orchestration alone. Its components are recorded built with no RPMs.
    Setting ``backend = "noop"``: for benchmarks only, a module built so is empty."""

    name = "noop"

    def build_steps(self) -> list[BuildStep]:
        return []


BACKENDS: dict[str, type[ComponentBackend]] = {
    "rpmbuild": RpmbuildBackend,
    "buildroot": BuildrootBackend,
    "noop": NoopBackend,
}


class PrepareSources(MasterStep):
    """Mark the component building in the registry; archive its sources for the worker
    and, for buildroots, a repository of what its BuildRequires may need."""

    def __init__(self, site: ModuleSite, backend: ComponentBackend, **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        self.backend = backend

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
        stale = await self._stand_down(build_id, component)
        if stale:
            self.summary = stale
            return CANCELLED
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
            # An earlier attempt that lost its worker may have uploaded part of its RPMs.
            shutil.rmtree(os.path.join(folder, RESULTS), ignore_errors=True)
            os.makedirs(folder, exist_ok=True)
            self.site.distgit.archive("rpms", package, commit, os.path.join(folder, SOURCES_TAR))

        if self.backend.needs_sources:
            await in_thread(archive)
            info = await in_thread(self.site.distgit.commit_info, "rpms", package, commit)
            # Reproducible builds: file times and the build time come from the commit.
            self.setProperty("source_date_epoch", info.timestamp, "prepare sources")
        self.summary = f"rpms/{package} at {commit[:8]}"
        if self.backend.needs_buildroot_repo:
            where = self.site.artifact_dir(build_id, ".buildroot", component)
            buildrequires = self.getProperty("buildrequires") or {}
            macros = self.getProperty("rpm_macros") or ""
            count = await in_thread(
                buildroot_repo, self.site, build_id, buildrequires, where, macros
            )
            self.setProperty("bbmod_buildroot", where, "prepare sources")
            self.summary += f"; buildroot repository of {count} RPMs"
        return SUCCESS

    async def _stand_down(self, build_id: int, component: str) -> str:
        """Why this component build must not run, or "": its module build has a new driver
        (resumed after a master restart: this request is a leftover), or it has started
        too often already (its worker was lost each time)."""
        registry = self.site.registry
        record = await in_thread(registry.module_build, build_id)
        driver = self.getProperty("module_driver")
        if driver is not None:
            if record.driver_build is not None and driver != record.driver_build:
                return (
                    f"stood down: module build {record.nsvc} is driven by Buildbot build"
                    f" {record.driver_build} now, not {driver}"
                )
            running = await self.master.data.get(("builds", driver))
            if running is None or running["complete"]:
                # Requeued at a master restart: the module build's next driver requests it.
                return f"stood down: its module build's driver, Buildbot build {driver}, ended"
        limit = 1 + self.site.settings.component_retries
        comp = next(
            (c for c in await in_thread(registry.components, build_id) if c.name == component), None
        )
        if comp is not None and comp.attempts >= limit:
            raise ModuleError(
                f"component {component}: started {comp.attempts} times without finishing;"
                " each time its worker was lost",
                hint=f"giving up after {limit} attempts (setting component_retries ="
                f" {self.site.settings.component_retries}); look at the workers' hosts",
            )
        return ""


class RecordComponent(MasterStep):
    """Read the uploaded RPMs' headers; record NEVRAs and the built state."""

    name = "record"

    async def work(self) -> int:
        from ..compose import rpm_headers

        build_id = self.getProperty("module_build_id")
        component = self.getProperty("component")
        folder = self.getProperty("bbmod_artifacts")

        def collect() -> tuple[list[str], str | None, str]:
            paths = sorted(
                os.path.join(base, f)
                for base, _dirs, files in os.walk(folder)
                for f in files
                if f.endswith(".rpm")
            )
            headers = rpm_headers(paths) if paths else []
            nvr = next((f"{h.name}-{h.version}-{h.release}" for h in headers if h.is_source), None)
            sums = "".join(f"{_sha256(h.path)}  {h.nevra}\n" for h in headers)
            return [h.nevra for h in headers], nvr, sums

        nevras, nvr, sums = await in_thread(collect)
        if not nevras and self.site.settings.backend != NoopBackend.name:
            raise ModuleError(f"component {component}: rpmbuild produced no RPM")
        await self.addCompleteLog("sha256", sums)
        # The buildroot's own logs (its package list first), uploaded with the RPMs.
        for name in ("installed_pkgs.log", "root.log", "build.log"):
            path = os.path.join(folder, RESULTS, name)
            if os.path.isfile(path):
                text = await in_thread(_read_text, path)
                await self.addCompleteLog(name.removesuffix(".log"), text)
        await in_thread(self.site.registry.add_artifacts, build_id, component, nevras)
        await in_thread(
            self.site.registry.set_component_state, build_id, component, "built", nvr=nvr
        )
        # Tell the module build now, while this build still holds its worker: its
        # successors are queued before the worker frees, so Buildbot gives the worker to
        # the most critical waiting component, not to whichever was queued earlier.
        await self.site.component_built(int(build_id), str(component))
        self.summary = f"built {nvr} ({len(nevras)} RPMs)"
        dist = self.getProperty("dist_tag") or ""
        if nvr and dist and dist not in nvr:
            # Without %{?dist} the same NVR would come out of every stream and context.
            self.summary += f"; Release lacks %{{?dist}} ({dist} not in the NVR)"
            return WARNINGS
        return SUCCESS

    def getResultSummary(self) -> dict[str, str]:
        summary = {"step": self.summary or self.name}
        if self.summary.startswith("built "):
            summary["build"] = f"{self.getProperty('component')}: {self.summary}"
        return summary


def buildroot_repo(
    site: ModuleSite,
    module_build_id: int,
    buildrequires: dict[str, str],
    folder: str,
    macros: str = "",
) -> int:
    """Write ``folder/buildroot-repo.tar``: a repository with the binary RPMs this module
    build made so far, those of the buildrequired modules' published builds, and the
    platform stub, plus the module's macros file. Returns how many RPMs it holds."""
    from ..compose import createrepo, link_or_copy

    rpms: list[str] = []
    build_dir = site.artifact_dir(module_build_id)
    for name in sorted(os.listdir(build_dir)):
        if not name.startswith(".") and name != "compose":
            rpms += binary_rpms(os.path.join(build_dir, name, RESULTS))
    for module, stream in sorted(buildrequires.items()):
        if module == "platform":
            rpms += binary_rpms(site.platform_repo(stream))
        else:
            rpms += site.module_rpm_files(module, stream)
    shutil.rmtree(folder, ignore_errors=True)
    repo = os.path.join(folder, "buildroot-repo")
    os.makedirs(repo)
    for path in rpms:
        target = os.path.join(repo, os.path.basename(path))
        if not os.path.exists(target):
            link_or_copy(path, target)
    createrepo(repo)
    with open(os.path.join(repo, MACROS_FILE), "w", encoding="utf-8") as f:
        f.write(macros)
    subprocess.run(
        ["tar", "-cf", os.path.join(folder, BUILDROOT_TAR), "-C", folder, "buildroot-repo"],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(repo)
    return len(rpms)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def component_factory(site: ModuleSite, backend: ComponentBackend) -> util.BuildFactory:
    """The steps of every component build."""
    factory = util.BuildFactory()
    if backend.on_master:  # Koji builds: nothing to send to or fetch from a worker
        factory.addSteps(
            [
                PrepareSources(site, backend, haltOnFailure=True),
                *backend.build_steps(),
                RecordComponent(site, haltOnFailure=True),
            ]
        )
        return factory
    factory.addSteps(
        [
            PrepareSources(site, backend, haltOnFailure=True),
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
                    util.ShellArg(command=["mkdir", "-p", "src", RESULTS], logname="mkdir"),
                    util.ShellArg(command=["tar", "-xf", SOURCES_TAR, "-C", "src"], logname="tar"),
                ],
                haltOnFailure=True,
            ),
            *backend.build_steps(),
            steps.DirectoryUpload(
                name="upload RPMs",
                workersrc=RESULTS,
                masterdest=util.Interpolate(f"%(prop:bbmod_artifacts)s/{RESULTS}"),
                haltOnFailure=True,
            ),
            RecordComponent(site, haltOnFailure=True),
        ]
    )
    return factory
