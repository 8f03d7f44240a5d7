"""The component plan: which component builds after which, as a DAG.

The order comes from ``buildorder`` (every component waits for each lower batch), from
``buildafter`` (an explicit DAG), or — when the module declares neither — from the
components' spec files (``BuildRequires`` matched against what each component's spec
provides). The scheduler asks the plan which components are ready once others finished.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .module import ModuleStream
from .problems import ModuleError
from .specs import SpecInfo, capability_name, is_plain_name


@dataclass
class ComponentPlan:
    """A DAG over component names. ``after[c]`` are c's direct predecessors."""

    after: dict[str, tuple[str, ...]]
    source: str = "none"  # buildorder | buildafter | specs | none
    warnings: list[str] = field(default_factory=list)
    unmatched: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.order = topological_order(self.after)
        self._levels: dict[str, int] | None = None

    @property
    def components(self) -> list[str]:
        """Every component, predecessors before successors (ties by name)."""
        return self.order

    def levels(self) -> dict[str, int]:
        """Depth in the DAG: 0 for a component with no predecessor."""
        if self._levels is None:
            levels: dict[str, int] = {}
            for c in self.order:
                levels[c] = 1 + max((levels[p] for p in self.after[c]), default=-1)
            self._levels = levels
        return self._levels

    def batches(self) -> list[list[str]]:
        """Components grouped by level: what MBS-style batch barriers would build together."""
        out: list[list[str]] = []
        for c, level in self.levels().items():
            while len(out) <= level:
                out.append([])
            out[level].append(c)
        return [sorted(b) for b in out]

    def critical_path(self, durations: Mapping[str, float] | None = None) -> list[str]:
        """The chain of components with the largest total duration (default 1 each)."""
        if not self.order:
            return []
        finish: dict[str, float] = {}
        via: dict[str, str | None] = {}
        for c in self.order:
            best = max(self.after[c], key=lambda p: (finish[p], p), default=None)
            finish[c] = (finish[best] if best else 0.0) + (durations or {}).get(c, 1.0)
            via[c] = best
        end: str | None = max(self.order, key=lambda c: (finish[c], c))
        path: list[str] = []
        while end is not None:
            path.append(end)
            end = via[end]
        return path[::-1]

    def progress(self) -> PlanProgress:
        """A tracker for one run of this plan: what becomes ready as components finish."""
        return PlanProgress(self)

    def ready(self, finished: Collection[str], running: Collection[str] = ()) -> list[str]:
        """Components not finished nor running whose predecessors have all finished.

        This walks the whole plan; a scheduler that learns of builds one at a time
        should use :meth:`progress`, which costs O(successors) per finished build."""
        done = set(finished)
        busy = set(running)
        return [
            c
            for c in self.order
            if c not in done and c not in busy and all(p in done for p in self.after[c])
        ]

    def downstream(self, names: Iterable[str]) -> set[str]:
        """Every component that (transitively) waits for one of ``names``."""
        successors = self.successors()
        seen: set[str] = set()
        todo = list(names)
        while todo:
            for s in successors[todo.pop()]:
                if s not in seen:
                    seen.add(s)
                    todo.append(s)
        return seen

    def successors(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {c: [] for c in self.after}
        for c, preds in self.after.items():
            for p in preds:
                out[p].append(c)
        return out


class PlanProgress:
    """Incremental readiness: ``start()`` once, then ``finish(name)`` per finished build."""

    def __init__(self, plan: ComponentPlan) -> None:
        self._successors = plan.successors()
        self._waiting = {c: len(set(preds)) for c, preds in plan.after.items()}
        self._order = {c: i for i, c in enumerate(plan.order)}
        self.finished: set[str] = set()

    def start(self) -> list[str]:
        """The components with no predecessor, in plan order."""
        return sorted((c for c, n in self._waiting.items() if n == 0), key=self._order.__getitem__)

    def finish(self, name: str) -> list[str]:
        """Record ``name`` as built; return the components that just became ready."""
        if name in self.finished:
            return []
        self.finished.add(name)
        ready = []
        for s in self._successors[name]:
            self._waiting[s] -= 1
            if self._waiting[s] == 0:
                ready.append(s)
        return sorted(ready, key=self._order.__getitem__)

    @property
    def done(self) -> bool:
        return len(self.finished) == len(self._waiting)


def topological_order(after: Mapping[str, Iterable[str]]) -> list[str]:
    """Kahn's algorithm, smallest name first among the ready; ModuleError on a cycle."""
    import heapq

    waiting = {c: len(set(preds)) for c, preds in after.items()}
    successors: dict[str, list[str]] = {c: [] for c in after}
    for c, preds in after.items():
        for p in set(preds):
            successors[p].append(c)
    heap = [c for c, n in waiting.items() if n == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        c = heapq.heappop(heap)
        order.append(c)
        for s in successors[c]:
            waiting[s] -= 1
            if waiting[s] == 0:
                heapq.heappush(heap, s)
    if len(order) != len(waiting):
        cycle = find_cycle(after)
        raise ModuleError(
            "components depend on each other in a cycle: " + " -> ".join(cycle or []),
            hint="break the cycle: remove one of these dependencies",
        )
    return order


def find_cycles(after: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle (as a closed path ``a, b, …, a``) per strongly connected component."""
    graph = {c: [p for p in preds if p in after] for c, preds in after.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    sccs: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                scc = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    scc.append(n)
                    if n == node:
                        break
                if len(scc) > 1 or node in graph[node]:
                    sccs.append(scc)
    return [_cycle_in(graph, set(scc)) for scc in sorted(sccs, key=min)]


def find_cycle(after: Mapping[str, Iterable[str]]) -> list[str] | None:
    cycles = find_cycles(after)
    return cycles[0] if cycles else None


def _cycle_in(graph: Mapping[str, list[str]], members: set[str]) -> list[str]:
    """A closed path through the strongly connected ``members``, reading "waits for"."""
    start = min(members)
    # Breadth-first from start back to start: the shortest cycle through it.
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for n in frontier:
            for p in sorted(graph[n]):
                if p not in members:
                    continue
                if p == start:
                    path = [n]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *path[::-1][1:], start] if n != start else [start, start]
                if p not in parents:
                    parents[p] = n
                    nxt.append(p)
        frontier = nxt
    return [start, start]  # pragma: no cover - members are strongly connected


def plan_module(module: ModuleStream, specs: Mapping[str, SpecInfo] | None = None) -> ComponentPlan:
    """The plan for ``module``; ``specs`` (by component) orders undeclared modules."""
    names = sorted(module.components)
    try:
        return _plan(module, names, specs)
    except ModuleError as e:
        if not e.source:
            e.source = module.source
            e.line = module.line_of("data", "components")
        raise


def _plan(
    module: ModuleStream, names: list[str], specs: Mapping[str, SpecInfo] | None
) -> ComponentPlan:
    spec_edges, unmatched, spec_warnings = (
        _spec_edges(names, specs) if specs is not None else ({}, {}, [])
    )
    if any(c.buildafter for c in module.components.values()):
        after = {c: tuple(sorted(module.components[c].buildafter)) for c in names}
        plan = ComponentPlan(after, "buildafter")
    elif len({c.buildorder for c in module.components.values()}) > 1:
        batches = sorted({c.buildorder for c in module.components.values()})
        previous = {
            order: tuple(sorted(n for n in names if module.components[n].buildorder == prior))
            for prior, order in itertools.pairwise(batches)
        }
        after = {c: previous.get(module.components[c].buildorder, ()) for c in names}
        plan = ComponentPlan(after, "buildorder")
    elif specs is not None:
        plan = ComponentPlan(
            {c: tuple(sorted({p for p, _ in spec_edges.get(c, [])})) for c in names}, "specs"
        )
    else:
        plan = ComponentPlan({c: () for c in names}, "none")
        if len(names) > 1:
            plan.warnings.append(
                "no build order declared and no spec files given: all components are planned"
                " as one level (pass --sources DIR to order them by their BuildRequires)"
            )
    plan.unmatched = unmatched
    plan.warnings.extend(spec_warnings)
    if specs is not None and plan.source != "specs":
        plan.warnings.extend(_contradictions(plan, spec_edges))
    return plan


def _spec_edges(
    names: list[str], specs: Mapping[str, SpecInfo]
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[str]], list[str]]:
    """Edges (provider, requirement) per component from BuildRequires; unmatched ones."""
    providers: dict[str, set[str]] = {}
    for c in names:
        info = specs.get(c)
        for provided in info.provides if info else ():
            providers.setdefault(provided, set()).add(c)
    edges: dict[str, list[tuple[str, str]]] = {}
    unmatched: dict[str, list[str]] = {}
    warnings = []
    for c in names:
        info = specs.get(c)
        if info is None:
            continue
        if info.generates_buildrequires:
            unmatched.setdefault(c, []).append(
                "%generate_buildrequires (requirements known only at build time)"
            )
        for req in info.buildrequires:
            cap = capability_name(req)
            found = providers.get(cap, set()) - {c} if cap else set()
            if len(found) > 1:
                warnings.append(
                    f"{c}: BuildRequires {req} is provided by several components:"
                    f" {', '.join(sorted(found))}; ordered after all of them"
                )
            if found:
                edges.setdefault(c, []).extend((p, req) for p in sorted(found))
            elif cap is None or not is_plain_name(cap):
                unmatched.setdefault(c, []).append(req)
    return edges, unmatched, warnings


def _contradictions(
    plan: ComponentPlan, spec_edges: Mapping[str, list[tuple[str, str]]]
) -> list[str]:
    """Spec dependencies the declared order does not honour."""
    ancestors: dict[str, set[str]] = {}
    for c in plan.order:
        acc: set[str] = set()
        for p in plan.after[c]:
            acc.add(p)
            acc |= ancestors[p]
        ancestors[c] = acc
    out = []
    for c in sorted(spec_edges):
        for provider, req in spec_edges[c]:
            if provider not in ancestors.get(c, set()):
                out.append(
                    f"{c} BuildRequires {req}, which {provider} builds, but {c} is not ordered"
                    f" after {provider} (add {provider} to {c}'s buildafter or give {c} a"
                    " higher buildorder)"
                )
    return out


def plans_dot(clusters: Sequence[tuple[str, ComponentPlan]]) -> str:
    """A Graphviz graph: one cluster per (label, plan); critical-path edges drawn bold."""
    lines = ["digraph plan {", "  rankdir=LR;", '  node [shape=box, fontname="sans"];']
    for i, (label, plan) in enumerate(clusters):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={json.dumps(label)};")
        critical = set(itertools.pairwise(plan.critical_path()))
        for c in plan.components:
            lines.append(f"    {json.dumps(f'{i}:{c}')} [label={json.dumps(c)}];")
            for p in plan.after[c]:
                bold = " [penwidth=2]" if (p, c) in critical else ""
                lines.append(f"    {json.dumps(f'{i}:{p}')} -> {json.dumps(f'{i}:{c}')}{bold};")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"
