"""``backend = "koji"``: Koji builds each component; the component build's steps run
on the master and only talk to Koji.

Steps (between the usual *prepare sources* and *record*): **koji buildroot** — the
module's build tag needs a repository created after this component's dependencies were
tagged (coalesced per tag, ``service.RepoCoalescer``); **koji build** — ``build(scm_url,
target, {"skip_tag": True}, priority)``, followed by polling every
``koji_poll_interval`` s, the result tagged into the build tag (and the module tag
unless the component is buildonly) and its RPMs and logs downloaded from ``koji_topurl``
into the component's ``results/`` in the artifact store, so that *record*, compose and
publish work as with any backend. Stopping the build cancels its Koji task.

Where it runs: the ``components`` builder gets master-side LocalWorkers
``bbmod-koji-1…N`` (``koji_slots``) instead of the build workers: a component Koji is
building holds no build worker, and N bounds how many Koji tasks one master keeps open.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from typing import TYPE_CHECKING, Any

import koji
from buildbot.process.buildstep import BuildStep
from buildbot.process.results import CANCELLED, FAILURE, SUCCESS

from ..core.problems import ModuleError
from ..master.components import RESULTS, ComponentBackend
from ..master.steps import MasterStep
from ..master.threads import in_thread
from .client import KojiError
from .service import Waker, task_url

if TYPE_CHECKING:
    from ..master.site import ModuleSite

KOJI_WORKER = "bbmod-koji"
LOG_NAMES = ("build.log", "root.log", "installed_pkgs.log")


class KojiBackend(ComponentBackend):
    name = "koji"
    needs_sources = False  # Koji checks out the SCM URL itself
    on_master = True

    def build_steps(self) -> list[BuildStep]:
        return [KojiBuild(self.site, haltOnFailure=True)]


class KojiBuild(MasterStep):
    """Wait for a buildroot repo with the dependencies, build in Koji, tag, download."""

    name = "koji build"

    def __init__(self, site: ModuleSite, **kwargs: Any) -> None:
        super().__init__(site, **kwargs)
        self.task_id: int | None = None
        self.waker = Waker()

    async def work(self) -> int:
        koji_site = self.site.koji
        await koji_site.login_secret(self.build)
        s = self.site.settings
        props = self.getProperty
        names = koji_site.names(
            props("module"), props("stream"), props("module_version"), props("module_context")
        )
        component, package = props("component"), props("package")
        commit = props("component_commit")
        deps = list(props("after") or [])
        lines: list[str] = []

        need = await koji_site.repos.need_event(names.build_tag, deps)
        self.update(f"waiting for a repo of {names.build_tag} (event {need})")
        repo, how = await koji_site.repos.ensure(names.build_tag, need, self.waker)
        if self.waker.stopped or repo is None:
            return CANCELLED
        lines.append(
            f"buildroot: repo {repo['id']} of {names.build_tag} (event {repo['create_event']},"
            f" needed {need}; {how})"
        )

        scm = s.koji_scm_url.format(
            path=self.site.distgit.path("rpms", package), package=package, commit=commit
        )
        self.task_id = int(
            await koji_site.call(
                "build", scm, names.target, {"skip_tag": True}, priority=s.koji_priority
            )
        )
        lines.append(f"build {scm} in {names.target}: task {self.task_id}")
        if self.waker.stopped:  # stopped while the build call was on its way: cancel now
            await koji_site.call("cancelTask", self.task_id)
            await self.addCompleteLog("koji", "\n".join([*lines, "cancelled"]) + "\n")
            return CANCELLED
        url = task_url(s, self.task_id)
        if url:
            await self.addURL(f"koji task {self.task_id}", url)
        self.update(f"koji task {self.task_id}: {package}")
        info = await koji_site.wait_task(self.task_id, self.waker)
        state = koji.TASK_STATES[info["state"]]
        if self.waker.stopped and state not in ("CLOSED", "FAILED"):
            await self.addCompleteLog("koji", "\n".join([*lines, "cancelled"]) + "\n")
            return CANCELLED
        if state != "CLOSED":
            why = await self._task_failure(self.task_id)
            lines.append(f"task {self.task_id} {state}: {why}")
            await self.addCompleteLog("koji", "\n".join(lines) + "\n")
            self.summary = f"koji task {self.task_id} {state.lower()}: {why}"[:200]
            return FAILURE
        builds = await koji_site.call("listBuilds", taskID=self.task_id)
        if not builds:
            raise ModuleError(f"Koji task {self.task_id} closed without a build")
        binfo = builds[0]
        lines.append(f"built {binfo['nvr']} (build {binfo['build_id']})")
        tags = [names.build_tag] + ([] if props("buildonly") else [names.tag])
        for tag in tags:
            lines.append(await self._tag(tag, binfo))
        event = int((await koji_site.call("getLastEvent"))["id"])
        koji_site.repos.tagged(names.build_tag, component, event)
        folder = props("bbmod_artifacts")
        count = await self._download(binfo, os.path.join(folder, RESULTS))
        lines.append(f"downloaded {count} RPMs from {s.koji_topurl}")
        await self.addCompleteLog("koji", "\n".join(lines) + "\n")
        self.summary = f"koji built {binfo['nvr']} (task {self.task_id})"
        return SUCCESS

    async def _task_failure(self, task_id: int) -> str:
        try:
            await self.site.koji.call("getTaskResult", task_id)
        except KojiError as e:
            return e.message.removeprefix("Koji getTaskResult: ")
        return "no reason given"

    async def _tag(self, tag: str, binfo: dict[str, Any]) -> str:
        """Tag synchronously (``tagBuildBypass``) when the account may; else ``tagBuild``
        (a task, followed like the build)."""
        koji_site = self.site.koji
        tagged = await koji_site.call("listTagged", tag, package=binfo["name"])
        if any(b["build_id"] == binfo["build_id"] for b in tagged or []):
            return f"{binfo['nvr']} already in {tag}"
        try:
            await koji_site.call("tagBuildBypass", tag, binfo["build_id"])
            return f"tagBuildBypass {tag} {binfo['nvr']}"
        except KojiError as e:
            if "not allowed" not in e.message:
                raise
        task = int(await koji_site.call("tagBuild", tag, binfo["build_id"]))
        info = await koji_site.wait_task(task, Waker())
        if koji.TASK_STATES[info["state"]] != "CLOSED":
            why = await self._task_failure(task)
            raise ModuleError(f"Koji tagBuild {tag} {binfo['nvr']} (task {task}) failed: {why}")
        return f"tagBuild {tag} {binfo['nvr']} (task {task})"

    async def _download(self, binfo: dict[str, Any], results: str) -> int:
        koji_site = self.site.koji
        rpms = await koji_site.call("listBuildRPMs", binfo["build_id"])
        try:
            logs = await koji_site.call("getBuildLogs", binfo["build_id"])
        except KojiError:  # a hub without it (older than 1.22): the RPMs are enough
            logs = []
        topurl = self.site.settings.koji_topurl.rstrip("/")
        pathinfo = koji.PathInfo(topdir=topurl)
        base = pathinfo.build(binfo)
        files = [(f"{base}/{pathinfo.rpm(r)}", os.path.join(r["arch"], _rpm_file(r))) for r in rpms]
        # The buildroot logs of one arch (a real arch before noarch) beside the RPMs.
        arches = sorted({lg["dir"] for lg in logs or []}, key=lambda a: (a == "noarch", a))
        for lg in logs or []:
            if arches and lg["dir"] == arches[0] and lg["name"] in LOG_NAMES:
                files.append((f"{topurl}/{lg['path']}", lg["name"]))
        await in_thread(_fetch_all, files, results)
        return len(rpms)

    def interrupt(self, reason: Any) -> Any:
        """Stopping the component build cancels its Koji task."""
        first = not self.waker.stopped
        self.waker.wake()
        if self.task_id is not None and first:  # Buildbot may interrupt more than once
            d = self.site.koji.call("cancelTask", self.task_id)
            d.addErrback(lambda f: None)
        return super().interrupt(reason)


def _rpm_file(rpm: dict[str, Any]) -> str:
    return f"{rpm['name']}-{rpm['version']}-{rpm['release']}.{rpm['arch']}.rpm"


def _fetch_all(files: list[tuple[str, str]], results: str) -> None:
    shutil.rmtree(results, ignore_errors=True)
    for url, relative in files:
        target = os.path.join(results, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=300) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as e:
            raise ModuleError(
                f"download of {url} failed: {e}",
                hint="is koji_topurl where this hub's files are served?",
            ) from None
