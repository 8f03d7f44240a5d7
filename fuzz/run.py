"""Fuzz the module loader, lint, gating policies and webhook parsers for a bounded time.

    .venv/bin/python fuzz/run.py                    # every target, FUZZ_SECONDS (60) each
    .venv/bin/python fuzz/run.py loader-mutate -s 300
    .venv/bin/python fuzz/run.py --list

Each target runs in its own child process (``--child``) with an address-space limit
(FUZZ_MEMORY_MB, default 3072) and a per-example watchdog (FUZZ_HANG_SECONDS, default
20: a hang dumps the stacks and ends the child). Before every example the child writes
the input to ``fuzz/out/<target>.current``, so an input that crashes libmodulemd (a
signal) or hangs is kept and reported by the parent. Hypothesis shrinks ordinary
findings; its example database (``fuzz/.hypothesis``) replays them first on the next run.

The invariant of every target: the entry point returns normally or raises the project's
own error (``ModuleError``, and its ``PolicyError``) — never another exception, never a
hang, never a crash. Exit status: 0 clean, 1 when any target found something.
See docs/fuzzing.md.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import strategies as fz  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase  # noqa: E402


@dataclass
class Target:
    name: str
    about: str
    strategy: Callable[[], st.SearchStrategy[Any]]
    check: Callable[[Any], None]
    available: Callable[[], str | None] = lambda: None  # a reason to skip, or None


def _targets() -> dict[str, Target]:
    import invariants as checks

    targets = [
        Target(
            "loader-text",
            "lint_text + load_text/modules_of on arbitrary YAML-ish text",
            fz.loader_text,
            checks.check_loader,
        ),
        Target(
            "loader-mutate",
            "lint_text + load_text/modules_of on mutated module documents (contrib, corpus)",
            fz.loader_mutations,
            checks.check_loader,
        ),
        Target(
            "gating",
            "parse_policies (site and module=True) on arbitrary and mutated policies",
            fz.gating_inputs,
            checks.check_gating,
        ),
        Target(
            "webhooks",
            "the webhook dialects' payload parsing (buildbot_modules/master/hooks.py)",
            fz.webhook_inputs,
            checks.check_webhook,
            checks.webhooks_missing,
        ),
    ]
    return {t.name: t for t in targets}


# --------------------------------------------------------------------------- the child


def _limit_memory() -> None:
    mb = int(os.environ.get("FUZZ_MEMORY_MB", "3072"))
    limit = mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _encode(value: Any) -> Any:
    """``value`` as JSON: tuples become lists, bytes {"bytes": latin-1 text}."""
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return {"bytes": value.decode("latin-1")}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if isinstance(value, dict):
        if set(value) == {"bytes"}:
            return value["bytes"].encode("latin-1")
        return {k: _decode(v) for k, v in value.items()}
    return value


def replay(name: str, path: str) -> int:
    """Run one kept input (``fuzz/out/*.current`` or a crash file) through ``name``."""
    faulthandler.enable()
    with open(path, encoding="utf-8") as f:
        value = _decode(json.load(f))
    _targets()[name].check(value)
    print(f"[{name}] {path}: holds")
    return 0


def run_child(name: str, seconds: float) -> int:
    target = _targets()[name]
    os.makedirs(OUT, exist_ok=True)
    current = os.path.join(OUT, f"{name}.current")
    hang = float(os.environ.get("FUZZ_HANG_SECONDS", "20"))
    per_example = float(os.environ.get("FUZZ_DEADLINE_MS", "5000"))
    reason = target.available()
    if reason:
        print(f"[{name}] skipped: {reason}", flush=True)
        return 0
    _limit_memory()
    faulthandler.enable()  # a crash in C (libmodulemd) prints the Python stack
    checks_warm = target.check  # import everything (gi, libmodulemd) before timing
    tried = 0

    def body(value: Any) -> None:
        nonlocal tried
        tried += 1
        with open(current, "w", encoding="utf-8") as f:
            json.dump(_encode(value), f, ensure_ascii=True)
        faulthandler.dump_traceback_later(hang, exit=True)
        try:
            checks_warm(value)
        finally:
            faulthandler.cancel_dump_traceback_later()

    try:
        checks_warm(fz.warm_up(name))
    except Exception:  # the harness itself must work before fuzzing means anything
        traceback.print_exc()
        return 2
    db = DirectoryBasedExampleDatabase(os.path.join(HERE, ".hypothesis", name))
    end = time.monotonic() + seconds
    batch = 0
    while time.monotonic() < end:
        batch += 1
        test = settings(
            max_examples=int(os.environ.get("FUZZ_BATCH", "500")),
            deadline=per_example,
            database=db,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
            print_blob=True,
        )(given(target.strategy())(body))
        try:
            test()
        except Exception as e:
            report = "".join(traceback.format_exception(e))
            digest = hashlib.sha1(report.encode("utf-8", "replace")).hexdigest()[:10]
            os.makedirs(os.path.join(HERE, "findings"), exist_ok=True)
            path = os.path.join(HERE, "findings", f"{name}-{digest}.txt")
            with open(path, "w", encoding="utf-8", errors="replace") as f:
                f.write(report)
            print(f"[{name}] FINDING after {tried} examples (batch {batch}): {path}", flush=True)
            print(report[-6000:], flush=True)
            return 1
    took = time.monotonic() - end + seconds
    print(f"[{name}] clean: {tried} examples in {took:.0f} s", flush=True)
    return 0


# --------------------------------------------------------------------------- the parent


def run_parent(names: list[str], seconds: float) -> int:
    os.makedirs(OUT, exist_ok=True)
    failed: list[str] = []
    for name in names:
        started = time.monotonic()
        current = os.path.join(OUT, f"{name}.current")
        if os.path.exists(current):
            os.remove(current)
        print(f"== fuzz {name}: {_targets()[name].about} ({seconds:.0f} s)", flush=True)
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", name, "--seconds", str(seconds)],
                timeout=seconds * 3 + 300,
                check=False,
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -999
        took = time.monotonic() - started
        if code == 0:
            continue
        failed.append(name)
        if code == 1:
            continue  # the child printed its shrunk finding
        what = {-999: "did not finish (harness timeout)"}.get(
            code, f"died (exit {code}; a signal or the hang watchdog)"
        )
        kept = os.path.join(HERE, "findings", f"{name}-crash-{int(time.time())}.json")
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        if os.path.exists(current):
            os.replace(current, kept)
            print(f"[{name}] FINDING: {what} after {took:.0f} s; last input kept in {kept}")
            print(f"  replay: {sys.executable} fuzz/run.py {name} --replay {kept}")
        else:
            print(f"[{name}] FINDING: {what} after {took:.0f} s; no input recorded")
    if failed:
        print(f"fuzz: findings in {', '.join(failed)} (see fuzz/findings/)")
        return 1
    print(f"fuzz: {len(names)} targets clean, {seconds:.0f} s each")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help="targets to run (default: all)")
    parser.add_argument(
        "-s", "--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "60"))
    )
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--replay", metavar="FILE", help="run one kept input (one target)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    targets = _targets()
    if args.list:
        for t in targets.values():
            print(f"{t.name:15} {t.about}")
        return 0
    if args.replay:
        if len(args.targets) != 1 or args.targets[0] not in targets:
            parser.error("--replay FILE needs exactly one target")
        return replay(args.targets[0], args.replay)
    if args.child:
        return run_child(args.child, args.seconds)
    unknown = [n for n in args.targets if n not in targets]
    if unknown:
        parser.error(f"unknown target {unknown[0]}; --list shows them")
    return run_parent(args.targets or list(targets), args.seconds)


if __name__ == "__main__":
    sys.exit(main())
