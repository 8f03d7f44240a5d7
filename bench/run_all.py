"""Run every benchmark (``make bench``) and print one table of every figure and its goal.

The benchmarks run one after the other (they share the machine's cores), each as its
own process from the repository root, its output shown as it comes and kept in
``OUT/<name>.log``. Those that take ``--json`` write their headline figures to
``OUT/<name>.json`` (``bench/results.py``); the table at the end is made from those
files, so every ratio in it was measured in this run, on this machine. A benchmark whose
script does not exist is skipped with a message; one that fails is reported as failed
and ``run_all.py`` exits 1 after the others have run.

    .venv/bin/python bench/run_all.py            # the full run (~15 minutes, 2 cores)
    .venv/bin/python bench/run_all.py --quick    # smaller sizes (~5 minutes)
    .venv/bin/python bench/run_all.py --only scale,rebuild
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from results import Figure, machine, read

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Bench:
    """One benchmark command: ``args`` for the full run, ``quick`` for ``--quick``."""

    name: str
    what: str
    script: str
    args: list[str] = field(default_factory=list)
    quick: list[str] = field(default_factory=list)
    json: bool = True  # it takes --json PATH (bench/results.py)


# The list ``make bench`` runs, in this order. To add a benchmark, add a line.
BENCHES = [
    Bench("plan", "module core: load, validate, plan", "bench/plan.py",
          ["--sizes", "100,1000,5000", "--repeat", "3", "--seed", "1"],
          ["--sizes", "100,1000", "--repeat", "1", "--seed", "1"]),
    Bench("simulate", "scheduling at scale, simulated clock", "bench/simulate.py",
          ["--seed", "1"], ["--seed", "1"], json=False),
    Bench("koji_sim", "Koji repo regeneration: dag + coalesced repos vs MBS, simulated",
          "bench/koji_sim.py", ["--seed", "1", "--dags", "5", "--regen", "90"],
          ["--seed", "1", "--dags", "2", "--regen", "90"], json=False),
    Bench("scale", "makespan / LB, orchestration overhead, capacity", "bench/scale.py",
          [], ["--quick"]),
    Bench("pipeline", "dag against batches, 10 components", "bench/pipeline.py",
          ["--backend", "rpmbuild"], ["--backend", "rpmbuild"], json=False),
    Bench("push_latency", "push webhook -> module build started", "bench/push_latency.py",
          ["--pushes", "20"], ["--pushes", "5"]),
    Bench("rebuild", "one-leaf change with component reuse", "bench/rebuild.py",
          [], ["--quick"]),
    Bench("compose_publish", "compose + publish of 1,000 RPMs", "bench/compose_publish.py",
          [], ["--quick"]),
    Bench("capacity", "builds/min: 1 and 2 masters vs bare Trigger, 8 workers",
          "bench/capacity.py", ["-n", "40"], ["-n", "16", "--one-master"]),
]  # fmt: skip


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_one(bench: Bench, quick: bool, out: Path) -> str:
    """Run one benchmark; its status: "ok", "failed (N)" or "skipped: why"."""
    script = ROOT / bench.script
    if not script.exists():
        status = f"skipped: {bench.script} does not exist in this checkout"
        print(f"\n=== {bench.name}: {status}", flush=True)
        return status
    argv = [sys.executable, str(script), *(bench.quick if quick else bench.args)]
    if bench.json:
        argv += ["--json", str(out / f"{bench.name}.json")]
    print(f"\n=== {bench.name}: {bench.what}\n$ {' '.join(argv[1:])}", flush=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.monotonic()
    with (out / f"{bench.name}.log").open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Started from a background shell, SIGINT is ignored and the child would inherit
            # that; with the default restored, its Python turns SIGINT into
            # KeyboardInterrupt and the benchmark stops its site in its `finally`.
            preexec_fn=_default_sigint,
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
        except KeyboardInterrupt:
            # The benchmark stops its own site (master, workers) on SIGINT: let it.
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=300)
            raise
        code = proc.wait()
    print(f"=== {bench.name}: {time.monotonic() - started:.0f} s, exit {code}", flush=True)
    return "ok" if code == 0 else f"failed (exit {code}; see {out / bench.name}.log)"


def table(results: list[tuple[Bench, str]], out: Path) -> list[str]:
    rows: list[list[str]] = []
    for bench, status in results:
        path = out / f"{bench.name}.json"
        if status == "ok" and bench.json and path.exists():
            for f in read(str(path))[1]:
                rows.append(cell_row(bench.name, f))
        elif status == "ok":
            rows.append([bench.name, bench.what, "printed above", "", "", ""])
        else:
            rows.append([bench.name, bench.what, status, "", "", ""])
    header = ["bench", "figure", "value", "goal", "met", "note"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return lines


def cell_row(bench: str, f: Figure) -> list[str]:
    met = "-" if f.met is None else ("yes" if f.met else "NO")
    return [bench, f.name, f.value, f.goal or "-", met, f.note]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--only", help="comma-separated benchmark names: " + ", ".join(
        b.name for b in BENCHES))  # fmt: skip
    parser.add_argument("--out", default=str(ROOT / ".bench"), help="logs and JSON (.bench/)")
    args = parser.parse_args(argv)
    chosen = BENCHES
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {b.name for b in BENCHES}
        if unknown:
            parser.error(f"--only: unknown benchmark(s) {', '.join(sorted(unknown))}")
        chosen = [b for b in BENCHES if b.name in names]
    # `kill` (SIGTERM) stops the running benchmark cleanly, as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.json"):
        stale.unlink()
    began = time.monotonic()
    try:
        results = [(b, run_one(b, args.quick, out)) for b in chosen]
    except KeyboardInterrupt:
        print("\ninterrupted: the running benchmark was stopped (its site too)", file=sys.stderr)
        return 130
    lines = [
        "",
        f"== All figures ({'quick' if args.quick else 'full'} run), measured in this run:"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {time.monotonic() - began:.0f} s",
        machine(),
        "",
        *table(results, out),
    ]
    for bench, status in results:
        if status.startswith("skipped"):
            lines.append(f"{bench.name} {status}")
    print("\n".join(lines))
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if any(s.startswith("failed") for _b, s in results) else 0


if __name__ == "__main__":
    sys.exit(main())
