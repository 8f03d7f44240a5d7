"""One line in ``master.cfg``: ``c['configurators'] = [ModulesConfigurator(Settings(...))]``.

This is the Buildbot side of buildbot-modules: it fills in what a module build master
needs (database, web UI with the release engineers' dashboards, worker protocol,
workers) and a ``module-lint`` builder that checks a module file on a worker. The
module build pipeline itself (change source, scheduler, module builders) comes next
(issue #3).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from buildbot.configurators import ConfiguratorBase
from buildbot.plugins import schedulers, steps, util, worker

WWW_PLUGINS = ("waterfall_view", "console_view", "grid_view")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Settings:
    """Everything a site sets; the defaults are the embedded, single-machine setup."""

    title: str = "buildbot-modules"
    url: str = "http://localhost:8010/"
    # Loopback only by default: the UI has no authentication yet (issue #8 adds it).
    www_port: int | str = "tcp:8010:interface=127.0.0.1"
    db_url: str = "sqlite:///state.sqlite"
    worker_port: str = "tcp:9989:interface=127.0.0.1"
    # Worker name -> password. Passwords come from the site, never from this file.
    workers: dict[str, str] = field(default_factory=dict)
    # How a worker runs the bbmod CLI (the embedded workers share the master's venv).
    bbmod: list[str] = field(default_factory=lambda: [sys.executable, "-m", "buildbot_modules.cli"])

    def check(self) -> None:
        if not self.url.endswith("/"):
            raise ValueError(f"Settings.url must end with '/': {self.url!r}")
        for name in self.workers:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"worker name {name!r}: use letters, digits, '-' and '_'")


class ModulesConfigurator(ConfiguratorBase):  # type: ignore[misc]
    """Fills a master configuration dictionary from :class:`Settings`."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.settings.check()

    def configure(self, config_dict: dict[str, Any]) -> None:
        super().configure(config_dict)
        s = self.settings
        config_dict.setdefault("title", s.title)
        config_dict.setdefault("buildbotURL", s.url)
        config_dict.setdefault("db", {"db_url": s.db_url})
        config_dict.setdefault("buildbotNetUsageData", None)
        self.www.setdefault("port", s.www_port)
        plugins = self.www.setdefault("plugins", {})
        for name in WWW_PLUGINS:
            plugins.setdefault(name, {})
        if s.workers:
            self.protocols.setdefault("pb", {"port": s.worker_port})
        known = {w.name for w in self.workers}
        for name, password in sorted(s.workers.items()):
            if name not in known:
                self.workers.append(worker.Worker(name, password))
        self.add_lint_builder()

    def add_lint_builder(self) -> None:
        """``module-lint``: run ``bbmod lint`` on a module file, forced from the UI."""
        names = list(self.settings.workers) or [w.name for w in self.workers]
        factory = util.BuildFactory()
        factory.addStep(
            steps.ShellCommand(
                name="bbmod lint",
                command=[*self.settings.bbmod, "lint", util.Property("module_file")],
                descriptionDone=util.Interpolate("lint %(prop:module_file)s"),
                haltOnFailure=True,
            )
        )
        self.builders.append(
            util.BuilderConfig(name="module-lint", workernames=names, factory=factory)
        )
        self.schedulers.append(
            schedulers.ForceScheduler(
                name="module-lint",
                builderNames=["module-lint"],
                buttonName="Lint",
                properties=[
                    util.StringParameter(
                        name="module_file",
                        label="Module file on the worker",
                        default=os.path.join(PROJECT_ROOT, "contrib/modules/hello/hello.yaml"),
                        size=60,
                    )
                ],
            )
        )
