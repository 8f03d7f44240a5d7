"""Which components a new build of a module stream may take from its previous build.

MBS's rebuild strategies, over the component DAG:

- ``changed-and-after`` (the default): a changed component and everything downstream of
  it in the DAG is rebuilt; the rest is reused. "After" is the DAG, not the batch: a
  change to a leaf rebuilds that leaf alone.
- ``only-changed``: only the changed components are rebuilt.
- ``all``: nothing is reused.

What "changed" means (commit, buildrequires, macros, arches, missing RPMs) is decided
by the caller, who knows the previous build; this module only applies the strategy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .plan import ComponentPlan
from .problems import ModuleError

REBUILD_STRATEGIES: tuple[str, ...] = ("changed-and-after", "only-changed", "all")
DEFAULT_REBUILD_STRATEGY = "changed-and-after"


def reusable(plan: ComponentPlan, changed: Collection[str], strategy: str) -> set[str]:
    """The components of ``plan`` that are not rebuilt, given those that ``changed``."""
    if strategy not in REBUILD_STRATEGIES:
        raise ValueError(f"rebuild strategy {strategy!r}: use one of {REBUILD_STRATEGIES}")
    if strategy == "all":
        return set()
    rebuilt = set(changed)
    if strategy == "changed-and-after":
        rebuilt |= plan.downstream(rebuilt)
    return {c for c in plan.components if c not in rebuilt}


def module_strategy(xmd: Mapping[str, Any] | None, default: str, source: str = "") -> str:
    """The strategy a module asks for in ``xmd: {bbmod: {rebuild_strategy: …}}``, else
    ``default``; an unknown one is the packager's error."""
    bbmod = (xmd or {}).get("bbmod")
    value = bbmod.get("rebuild_strategy") if isinstance(bbmod, Mapping) else None
    if value is None:
        return default
    if value not in REBUILD_STRATEGIES:
        raise ModuleError(
            f"xmd.bbmod.rebuild_strategy {value!r} is not a rebuild strategy",
            source=source,
            hint="use " + ", ".join(REBUILD_STRATEGIES),
        )
    return str(value)
