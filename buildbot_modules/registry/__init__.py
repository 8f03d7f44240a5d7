"""The module registry: every module build, its component builds and artifacts.

Stored with SQLAlchemy (a SQLite file by default, the same schema on PostgreSQL), the
schema created and migrated by Alembic (:meth:`Registry.upgrade`). Module builds keep MBS's
states and meaning (:data:`MODULE_STATES`); the registry serves the ``ModuleCatalogue``
interface over *ready* builds (:meth:`Registry.catalogue`), so a module that buildrequires
another resolves against what was published. Component states live here too, so that a
module build can be resumed after a master restart.

Quality records live here too (revision 0002): test results in ResultsDB's shape
(:meth:`Registry.add_result`, :meth:`Registry.results`), waivers in WaiverDB's
(:meth:`Registry.add_waiver`, :meth:`Registry.waivers`), the last gating decision per
decision context (:meth:`Registry.record_decision`), promotion
(:meth:`Registry.set_promoted`) and streams' end of life (:meth:`Registry.set_eol`,
:meth:`Registry.eol`). Revision 0003 adds streams' owners (:meth:`Registry.set_owners`,
:meth:`Registry.owners`); :meth:`Registry.query_module_builds` and
:meth:`Registry.stream_summaries` filter and page in SQL for the module service.
The policy that reads them is :mod:`buildbot_modules.gating`; the
ResultsDB API view is :mod:`buildbot_modules.resultsdb`.

Pure Python (no Twisted, no Buildbot) and thread-safe: the Buildbot layer calls it through
``deferToThread``.
"""

from __future__ import annotations

from .model import (
    COMPONENT_STATES,
    DEFAULT_RESULT_TYPE,
    MAX_VERSION,
    MODULE_STATES,
    MODULE_TRANSITIONS,
    PROMOTABLE_STATES,
    RESULT_OUTCOMES,
    ComponentRecord,
    DuplicateBuild,
    InvalidState,
    ModuleBuildRecord,
    NotFound,
    RegistryError,
    ResultRecord,
    StreamEOL,
    StreamOwners,
    StreamSummary,
    WaiverRecord,
    owner_matches,
)
from .store import DEFAULT_DB_FILE, Registry, RegistryCatalogue, default_db_url, migrations_config

__all__ = [
    "COMPONENT_STATES",
    "DEFAULT_DB_FILE",
    "DEFAULT_RESULT_TYPE",
    "MAX_VERSION",
    "MODULE_STATES",
    "MODULE_TRANSITIONS",
    "PROMOTABLE_STATES",
    "RESULT_OUTCOMES",
    "ComponentRecord",
    "DuplicateBuild",
    "InvalidState",
    "ModuleBuildRecord",
    "NotFound",
    "Registry",
    "RegistryCatalogue",
    "RegistryError",
    "ResultRecord",
    "StreamEOL",
    "StreamOwners",
    "StreamSummary",
    "WaiverRecord",
    "default_db_url",
    "migrations_config",
    "owner_matches",
]
