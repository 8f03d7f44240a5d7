"""The running site: settings plus the things every step needs (dist-git, registry,
artifact store, publish root), made once per configuration load."""

from __future__ import annotations

import os

from ..core.catalogue import ChainCatalogue, InMemoryCatalogue, ModuleCatalogue
from ..distgit import DistGit
from ..registry import Registry
from .settings import Settings


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

    @property
    def distgit(self) -> DistGit:
        if self._distgit is None:
            self._distgit = DistGit(self.distgit_root)
        return self._distgit

    def prepare(self) -> None:
        """Create the registry schema, the dist-git and the folders when the master starts."""
        self._distgit = DistGit.init(self.distgit_root)
        self.registry.upgrade()
        os.makedirs(self.artifacts, exist_ok=True)
        os.makedirs(self.publish_root, exist_ok=True)

    def catalogue(self) -> ModuleCatalogue:
        """Published (ready) module builds, plus the platform streams this site builds for."""
        platforms = InMemoryCatalogue.with_streams({"platform": self.settings.platforms})
        return ChainCatalogue([self.registry.catalogue(), platforms])

    def artifact_dir(self, module_build_id: int, *parts: str) -> str:
        return os.path.join(self.artifacts, str(module_build_id), *parts)
