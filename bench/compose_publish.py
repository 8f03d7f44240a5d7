"""Benchmark compose and publish of a module of 1,000 RPMs.

The RPMs are real: 50 tiny noarch specs of 20 binary packages each (the main package
and 19 subpackages, one small file each), built once with ``rpmbuild -ba`` (two at a
time) and kept in a cache folder, ``$BBMOD_BENCH_CACHE`` or ``~/.cache/bbmod-bench/``,
``rpms-<components>x20/``; later runs reuse them (building them takes 1-3 minutes on a
2-core machine). The module (one packager v3 document, one context) lists the 50
components. The bench then calls the product code directly, in this process:

* compose: ``buildbot_modules.compose.compose`` into a fresh folder: RPM headers, the
  final modulemd, hard links, ``createrepo_c`` of the binary and source repositories,
  ``modifyrepo_c`` of ``modules.yaml``;
* publish: ``buildbot_modules.publish.publish`` to a fresh publish root: the copy into
  ``stage/``, the atomic rename, and the aggregate ``stage/repo`` rebuilt
  (``createrepo_c`` over every published build, merged ``modules.yaml``, symlink swap).

Each is timed with a wall clock; the figure is the best of ``--repeat`` rounds (3).
RPMs/s = binary + source RPMs / seconds.

    .venv/bin/python bench/compose_publish.py            # 1,000 binary RPMs
    .venv/bin/python bench/compose_publish.py --quick    # 200
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from results import Figure, machine, write

from buildbot_modules.compose import ComponentResult, compose
from buildbot_modules.core.deps import expand
from buildbot_modules.core.module import load_modules
from buildbot_modules.publish import publish

PER_SPEC = 20  # binary RPMs per component
VERSION = 20261126000000
ARCH = os.uname().machine

SPEC_HEAD = """\
Name:           {name}
Version:        1.0
Release:        1
Summary:        Bench package {name}
License:        MIT
BuildArch:      noarch

%description
Bench package {name}.
"""
SUB = """
%package -n {name}-s{n:02d}
Summary: Subpackage {n} of {name}
%description -n {name}-s{n:02d}
Subpackage {n} of {name}.
%files -n {name}-s{n:02d}
%{{_datadir}}/{name}/s{n:02d}
"""


def spec(name: str) -> str:
    parts = [SPEC_HEAD.format(name=name)]
    parts += [SUB.format(name=name, n=n) for n in range(1, PER_SPEC)]
    parts.append("\n%install\n")
    parts.append(f"mkdir -p %{{buildroot}}%{{_datadir}}/{name}\n")
    for n in range(PER_SPEC):
        parts.append(f"echo {n} > %{{buildroot}}%{{_datadir}}/{name}/s{n:02d}\n")
    parts.append(f"\n%files\n%{{_datadir}}/{name}/s00\n")
    return "".join(parts)


def module_text(names: list[str]) -> str:
    lines = [
        "document: modulemd-packager",
        "version: 3",
        "data:",
        "  summary: Compose benchmark",
        "  description: Many tiny RPMs.",
        "  license: [MIT]",
        "  configurations:",
        "    - context: bench01",
        "      platform: f39",
        "  components:",
        "    rpms:",
    ]
    for name in names:
        lines += [f"      {name}:", "        rationale: Bench."]
    return "\n".join(lines) + "\n"


def build_one(folder: Path, name: str) -> None:
    work = folder / ".work" / name
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{name}.spec").write_text(spec(name), encoding="utf-8")
    out = folder / name
    out.mkdir(exist_ok=True)
    subprocess.run(
        [
            "rpmbuild",
            "-ba",
            "--define",
            f"_topdir {work}/top",
            "--define",
            f"_rpmdir {out}",
            "--define",
            f"_srcrpmdir {out}",
            "--define",
            f"_sourcedir {work}",
            "--define",
            "_build_id_links none",
            str(work / f"{name}.spec"),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "LC_ALL": "C"},
    )


def cached_rpms(components: int) -> tuple[Path, dict[str, list[str]]]:
    """The cache folder and each component's RPM paths (built on first use)."""
    base = Path(os.environ.get("BBMOD_BENCH_CACHE") or Path.home() / ".cache" / "bbmod-bench")
    folder = base / f"rpms-{components}x{PER_SPEC}"
    names = [f"cp{n:03d}" for n in range(components)]
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        t = time.monotonic()
        print(f"building {components * PER_SPEC} RPMs once into {folder} ...", flush=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda n: build_one(folder, n), names))
        shutil.rmtree(folder / ".work")
        done.write_text("", encoding="utf-8")
        print(f"built in {time.monotonic() - t:.0f} s", flush=True)
    rpms = {
        n: sorted(
            os.path.join(b, f)
            for b, _d, files in os.walk(folder / n)
            for f in files
            if f.endswith(".rpm")
        )
        for n in names
    }
    return folder, rpms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 RPMs instead of 1,000")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best is kept (3)")
    parser.add_argument("--json", help="write the headline figures here (run_all.py)")
    args = parser.parse_args(argv)
    for tool in ("rpmbuild", "createrepo_c", "modifyrepo_c"):
        if shutil.which(tool) is None:
            print(f"needs {tool} (run make setup)", file=sys.stderr)
            return 2
    components = 10 if args.quick else 50
    cache, rpms = cached_rpms(components)
    count = sum(len(v) for v in rpms.values())
    binaries = sum(1 for v in rpms.values() for p in v if not p.endswith(".src.rpm"))
    tmp = Path(tempfile.mkdtemp(prefix="bbmod-bench-compose-"))
    best_compose = best_publish = float("inf")
    try:
        (tmp / "m.yaml").write_text(module_text(sorted(rpms)), encoding="utf-8")
        module = load_modules(str(tmp / "m.yaml"), "big", "main")[0]
        build = expand(module)[0]
        results = [ComponentResult(n, paths, "a" * 40) for n, paths in sorted(rpms.items())]
        for round_ in range(args.repeat):
            out = tmp / f"compose-{round_}"
            t = time.perf_counter()
            result = compose(module, build, VERSION, ARCH, results, "b" * 40, str(out))
            composed = time.perf_counter() - t
            root = tmp / f"publish-{round_}"
            t = time.perf_counter()
            publish(result, str(root), "big", "main", VERSION, build.context, ARCH)
            published = time.perf_counter() - t
            print(f"  round {round_ + 1}: compose {composed:.2f} s, publish {published:.2f} s")
            best_compose = min(best_compose, composed)
            best_publish = min(best_publish, published)
            shutil.rmtree(out)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(machine())
    print(f"{datetime.now():%Y-%m-%d %H:%M}; RPMs cached in {cache}")
    print(f"{binaries} binary + {count - binaries} source RPMs, {components} components")
    print(f"| phase | s (best of {args.repeat}) | RPMs/s |")
    print("|---|---:|---:|")
    print(f"| compose | {best_compose:.2f} | {count / best_compose:.0f} |")
    print(f"| publish (with the aggregate) | {best_publish:.2f} | {count / best_publish:.0f} |")
    write(
        args.json,
        "compose_publish",
        [
            Figure(
                f"compose of {binaries} RPMs",
                f"{best_compose:.2f} s ({count / best_compose:.0f} RPMs/s)",
            ),
            Figure(
                f"publish of {binaries} RPMs, aggregate included",
                f"{best_publish:.2f} s ({count / best_publish:.0f} RPMs/s)",
            ),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
