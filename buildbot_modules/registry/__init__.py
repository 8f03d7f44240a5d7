"""The module registry: every module build, its component builds and artifacts.

Stored with SQLAlchemy (a SQLite file by default, the same schema on PostgreSQL), the
schema created and migrated by Alembic (:meth:`Registry.upgrade`). Module builds keep MBS's
states and meaning (:data:`MODULE_STATES`); the registry serves the ``ModuleCatalogue``
interface over *ready* builds (:meth:`Registry.catalogue`), so a module that buildrequires
another resolves against what was published. Component states live here too, so that a
module build can be resumed after a master restart.

Pure Python (no Twisted, no Buildbot) and thread-safe: the Buildbot layer calls it through
``deferToThread``.
"""

from __future__ import annotations

from .model import (
    COMPONENT_STATES,
    MAX_VERSION,
    MODULE_STATES,
    MODULE_TRANSITIONS,
    ComponentRecord,
    DuplicateBuild,
    InvalidState,
    ModuleBuildRecord,
    NotFound,
    RegistryError,
)
from .store import DEFAULT_DB_FILE, Registry, RegistryCatalogue, default_db_url, migrations_config

__all__ = [
    "COMPONENT_STATES",
    "DEFAULT_DB_FILE",
    "MAX_VERSION",
    "MODULE_STATES",
    "MODULE_TRANSITIONS",
    "ComponentRecord",
    "DuplicateBuild",
    "InvalidState",
    "ModuleBuildRecord",
    "NotFound",
    "Registry",
    "RegistryCatalogue",
    "RegistryError",
    "default_db_url",
    "migrations_config",
]
