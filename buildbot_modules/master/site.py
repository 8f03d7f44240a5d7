"""The running site: settings plus the things every step needs (dist-git, registry,
artifact store, publish root), made once per configuration load."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..core.catalogue import ChainCatalogue, InMemoryCatalogue, ModuleCatalogue, RepoCatalogue
from ..distgit import DistGit
from ..registry import Registry
from ..signing import Signer
from .settings import Settings

if TYPE_CHECKING:
    from ..koji.service import KojiService
    from .quality import Quality


def absolute_sqlite(url: str, basedir: str) -> str:
    """A relative SQLite URL made absolute against ``basedir`` (the master's folder)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + os.path.join(os.path.abspath(basedir), url[len(prefix) :])
    return url


class ModuleSite:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.distgit_root = settings.path(settings.distgit)
        self._distgit: DistGit | None = None
        self.registry = Registry(absolute_sqlite(settings.registry_url, settings.basedir))
        self.artifacts = settings.path(settings.artifacts)
        self.publish_root = settings.path(settings.publish_root)
        self._quality: Quality | None = None
        self._koji: KojiService | None = None
        # Module build id -> the driver's "component built" listener (driver.py).
        self.built_listeners: dict[int, Callable[[str], Awaitable[None]]] = {}

    @property
    def distgit(self) -> DistGit:
        if self._distgit is None:
            self._distgit = DistGit(self.distgit_root)
        return self._distgit

    def prepare(self) -> None:
        """Create the registry schema, the dist-git and the folders when the master starts."""
        self._distgit = DistGit.init(self.distgit_root)
        self.registry.upgrade()
        if os.path.exists("/etc/debian_version"):
            self._publish_platforms()
        os.makedirs(self.artifacts, exist_ok=True)
        os.makedirs(self.publish_root, exist_ok=True)

    def _publish_platforms(self) -> None:
        """A Debian host's packages are not RPMs: describe them as a platform repository
        (docs/buildroots.md) for buildroots and dnf, once per platform stream."""
        from ..platform import generate_definition, publish_platform

        for stream in self.settings.platforms:
            if not os.path.exists(self.platform_repo(stream)):
                publish_platform(generate_definition(stream), self.publish_root)

    def platform_repo(self, stream: str) -> str:
        return os.path.join(self.publish_root, "platform", stream)

    def catalogue(self) -> ModuleCatalogue:
        """Published (ready) module builds, then the site's module repositories
        (``catalogues``), plus the platform streams this site builds for."""
        platforms = InMemoryCatalogue.with_streams({"platform": self.settings.platforms})
        return ChainCatalogue([self.registry.catalogue(), *self.repositories(), platforms])

    def repositories(self) -> list[RepoCatalogue]:
        return [RepoCatalogue(self.settings.path(c)) for c in self.settings.catalogues]

    async def component_built(self, module_build_id: int, component: str) -> None:
        """A component build recorded its RPMs: let its module build's driver request
        what depended on it (returns once they are requested)."""
        listener = self.built_listeners.get(module_build_id)
        if listener is not None:
            await listener(component)

    @property
    def koji(self) -> KojiService:
        """The site's Koji hub (settings ``koji_*``; docs/koji.md)."""
        if self._koji is None:
            from ..koji.service import KojiService

            self._koji = KojiService(self)
        return self._koji

    @property
    def quality(self) -> Quality:
        """Checks, gates and promotion (docs/quality.md)."""
        if self._quality is None:
            from .quality import Quality

            self._quality = Quality(self)
        return self._quality

    def module_repositories(self, name: str, stream: str) -> list[str]:
        """Where the newest build of ``name:stream`` can be installed from: this site's
        ready build's repository, else the first module repository (``catalogues``)
        that has it."""
        ready = self.registry.module_builds(name=name, stream=stream, state="ready", limit=1)
        if ready and ready[0].published_path:
            return [ready[0].published_path]
        for repository in self.repositories():
            if repository.builds(name, stream):
                return [repository.location]
        return []

    def module_rpm_files(self, name: str, stream: str) -> list[str]:
        """The binary RPMs of the newest build of ``name:stream`` that a buildroot of a
        module buildrequiring it gets: this site's ready build, else a repository's."""
        ready = self.registry.module_builds(name=name, stream=stream, state="ready", limit=1)
        if ready and ready[0].published_path:
            return binary_rpms(ready[0].published_path)
        for repository in self.repositories():
            builds = repository.builds(name, stream)
            if builds:
                return repository.rpm_files(builds[0])
        return []

    def signer(self) -> Signer | None:
        """The site's signer, or None when composes stay unsigned (the default)."""
        s = self.settings
        if not s.gpg_key:
            return None
        return Signer(s.gpg_key, s.path(s.gpg_home) if s.gpg_home else "")

    def artifact_dir(self, module_build_id: int, *parts: str) -> str:
        return os.path.join(self.artifacts, str(module_build_id), *parts)


def binary_rpms(folder: str) -> list[str]:
    """Every binary (not source) RPM under ``folder``."""
    found = []
    for base, _dirs, files in os.walk(folder, followlinks=True):
        found += [
            os.path.join(base, f)
            for f in sorted(files)
            if f.endswith(".rpm") and not f.endswith(".src.rpm")
        ]
    return found
