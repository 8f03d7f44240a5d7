"""``bbmod``: the command line of buildbot-modules.

Exit codes: 0 success, 1 the input is invalid (each problem printed on stdout), 2 usage.
The administrator's commands (``retire``, ``collect-garbage``, ``registry``) print their
errors on stderr; ``retire`` exits 2 for a name:stream the registry does not know.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from .core.catalogue import open_catalogue
from .core.deps import ExpandedBuild, expand
from .core.identity import module_version
from .core.lint import LintPolicy, lint_file
from .core.module import load_modules
from .core.plan import ComponentPlan, plan_module, plans_dot
from .core.problems import ModuleError
from .core.specs import read_specs
from .distgit import DistGit


def _git(folder: str, *args: str) -> str:
    try:
        proc = subprocess.run(
            ["git", "-C", folder or ".", *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def default_names(path: str, name: str | None, stream: str | None) -> tuple[str, str]:
    """As dist-git does: the file's base name and its folder's git branch (or ``main``)."""
    base = os.path.basename(path)
    for ext in (".yaml", ".yml"):
        base = base.removesuffix(ext)
    branch = _git(os.path.dirname(path), "rev-parse", "--abbrev-ref", "HEAD")
    return name or base, stream or (branch if branch and branch != "HEAD" else "main")


def commit_time(path: str) -> int:
    """The file's last commit time (unix seconds), or now when it is not committed."""
    stamp = _git(os.path.dirname(path), "log", "-1", "--format=%ct", "--", os.path.basename(path))
    return int(stamp) if (stamp.isascii() and stamp.isdigit()) else int(time.time())


def _policy(args: argparse.Namespace) -> LintPolicy:
    base = LintPolicy()
    return LintPolicy(
        allowed_schemes=base.allowed_schemes | set(args.allow_scheme or ()),
        allowed_hosts=frozenset(args.allow_host or ()),
        distgit_roots=tuple(os.path.abspath(r) for r in args.distgit or ()),
    )


def cmd_lint(args: argparse.Namespace) -> int:
    policy = _policy(args)
    failed = False
    for path in args.files:
        name, stream = default_names(path, args.name, args.stream)
        for problem in lint_file(path, name, stream, policy):
            print(problem.format())
            failed = failed or problem.is_error
    return 1 if failed else 0


def _build_json(build: ExpandedBuild, version: int, plan: ComponentPlan) -> dict[str, Any]:
    levels = plan.levels()
    return {
        "nsvc": build.nsvc(version),
        "context": build.context,
        "buildrequires": dict(sorted(build.buildrequires.items())),
        "requires": {k: list(v) for k, v in sorted(build.requires.items())},
        "components": [
            {
                "name": c,
                "after": list(plan.after[c]),
                "level": levels[c],
                **({"unmatched": plan.unmatched[c]} if c in plan.unmatched else {}),
            }
            for c in plan.components
        ],
        "critical_path": plan.critical_path(),
        "warnings": list(plan.warnings)
        + [
            f"{c}: {req} cannot be matched to a component by name; not used for ordering"
            for c, reqs in sorted(plan.unmatched.items())
            for req in reqs
        ],
    }


def cmd_plan(args: argparse.Namespace) -> int:
    name, stream = default_names(args.file, args.name, args.stream)
    try:
        modules = load_modules(args.file, name, stream)
        catalogue = open_catalogue(args.catalogue) if args.catalogue else None
        commit = commit_time(args.file)
        result = []
        specs = None
        if args.sources is not None:
            # One read per spec, even when an index file holds several modules.
            specs = read_specs(args.sources, sorted({c for m in modules for c in m.components}))
        for module in modules:
            plan = plan_module(module, specs)
            for build in expand(module, catalogue):
                version = (
                    args.version
                    if args.version is not None
                    else module_version(commit, build.platform)
                )
                result.append((build, version, plan))
    except ModuleError as e:
        print(e.as_problem().format())
        return 1
    documents = [_build_json(b, v, p) for b, v, p in result]
    if args.json:
        print(json.dumps({"builds": documents}, indent=2))
    elif args.dot:
        print(plans_dot([(b.nsvc(v), p) for b, v, p in result]), end="")
    else:
        _print_text(documents)
    return 0


def _print_text(builds: list[dict[str, Any]]) -> None:
    for b in builds:
        print(f"{b['nsvc']}")
        deps = ", ".join(f"{k}:{v}" for k, v in b["buildrequires"].items())
        print(f"  buildrequires: {deps or '-'}")
        reqs = ", ".join(f"{k}:[{','.join(v)}]" for k, v in b["requires"].items())
        print(f"  requires:      {reqs or '-'}")
        by_level: dict[int, list[str]] = {}
        for c in b["components"]:
            by_level.setdefault(c["level"], []).append(
                c["name"] + (f" (after {', '.join(c['after'])})" if c["after"] else "")
            )
        for level, names in sorted(by_level.items()):
            print(f"  level {level}: " + "; ".join(names))
        print(f"  critical path: {' -> '.join(b['critical_path']) or '-'}")
        for w in b["warnings"]:
            print(f"  warning: {w}")


def cmd_distgit_init(args: argparse.Namespace) -> int:
    try:
        distgit = DistGit.init(args.root)
    except ModuleError as e:
        print(e.as_problem().format())
        return 1
    print(distgit.root)
    return 0


def cmd_distgit_import(args: argparse.Namespace) -> int:
    try:
        results = DistGit(args.root).import_dir(args.dir, args.branch)
    except ModuleError as e:
        print(e.as_problem().format())
        return 1
    for r in results:
        what = "new commit" if r.changed else "unchanged"
        print(f"{r.namespace}/{r.name} {r.branch} {r.commit[:7]} ({what})")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from .quickstart import quickstart

    try:
        result = quickstart(
            args.directory,
            distgit=args.distgit,
            publish=args.publish,
            platform=args.platform,
            port=args.port,
            workers=args.workers,
            worker_port=args.worker_port,
            poll_interval=args.poll_interval,
        )
    except ModuleError as e:
        print(e.as_problem().format())
        return 1
    print(f"master:  {result.master}  (buildbot start {result.master})")
    for folder in result.workers:
        print(f"worker:  {folder}  (buildbot-worker start {folder})")
    print(f"web UI:  {result.url}")
    return 0


def cmd_platform_generate(args: argparse.Namespace) -> int:
    from .platform import capability_kinds, definition_text, generate_definition, write_definition

    try:
        defn = generate_definition(args.stream)
        if args.output:
            write_definition(defn, args.output)
        else:
            sys.stdout.write(definition_text(defn))
    except ModuleError as e:
        print(e.as_problem().format(), file=sys.stderr if not args.output else sys.stdout)
        return 1
    counts = ", ".join(f"{n} {kind}" for kind, n in capability_kinds(defn).items())
    # On stderr: stdout may be the definition itself.
    print(f"{len(defn.provides)} capabilities ({counts})", file=sys.stderr)
    return 0


def cmd_platform_publish(args: argparse.Namespace) -> int:
    from .platform import publish_platform, read_definition

    try:
        print(publish_platform(read_definition(args.definition), args.publish))
    except ModuleError as e:
        print(e.as_problem().format())
        return 1
    return 0


def cmd_build_local(args: argparse.Namespace) -> int:
    from .local import Options, build_local

    return build_local(
        Options(
            module=args.module,
            sources=args.sources,
            output=args.output,
            name=args.name,
            stream=args.stream,
            platform=args.platform,
            catalogues=args.catalogue or [],
            workers=args.workers,
            backend=args.backend,
            strict=args.strict,
        )
    )


# --------------------------------------------------------------------------- administration


def cmd_docs_api(args: argparse.Namespace) -> int:
    from .apidoc import api_page

    command = shlex.join(
        ["bbmod", "docs", "api", args.module, "--sources", args.sources]
        + (["--name", args.name] if args.name else [])
        + (["--stream", args.stream] if args.stream else [])
    )
    name, stream = default_names(args.module, args.name, args.stream)
    try:
        page = api_page(args.module, args.sources, name, stream, command)
    except ModuleError as e:
        print(e.as_problem().format())
        return 1
    if args.check:
        try:
            with open(args.check, encoding="utf-8") as f:
                current = f.read()
        except OSError as e:
            print(f"{args.check}: error: cannot read: {e.strerror} (run `make docs` to write it)")
            return 1
        if current != page:
            print(f"{args.check}: error: not what `{command}` prints today (run `make docs`)")
            return 1
        return 0
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
        print(args.output)
    else:
        print(page, end="")
    return 0


def _fail(error: ModuleError, code: int = 1) -> int:
    print(error.as_problem().format(), file=sys.stderr)
    return code


def cmd_retire(args: argparse.Namespace) -> int:
    from .retention import UnknownStream, master_site, parse_ref, retire, retire_candidates

    try:
        name, stream, version, context = parse_ref(args.ref)
    except ModuleError as e:
        return _fail(e, 2)
    try:
        site = master_site(args.master)
        builds = retire_candidates(site.registry, name, stream, version, context)
    except UnknownStream as e:
        return _fail(e, 2)
    except ModuleError as e:
        return _fail(e)
    if not builds:
        print(f"{args.ref}: no done or ready build matches; nothing to retire", file=sys.stderr)
        return 1
    print(f"{len(builds)} module builds to retire (garbage; out of stage and production):")
    for b in builds:
        where = ", ".join(
            a
            for a, path in (("stage", b.published_path), ("production", b.production_path))
            if path
        )
        print(f"  {b.nsvc}  build {b.id}  {b.state}  {where or 'not published'}")
    if not args.yes:
        try:
            answer = input("Retire them? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing retired (answer y, or pass --yes)", file=sys.stderr)
            return 1
    try:
        user = args.by or getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    try:
        done = retire(site, builds, user, log=print)
    except ModuleError as e:
        return _fail(e)
    print(f"retired {len(done)} of {len(builds)} module builds")
    return 0 if len(done) == len(builds) else 1


def cmd_collect_garbage(args: argparse.Namespace) -> int:
    from .retention import collect_garbage, master_site

    try:
        site = master_site(args.master)
        report = collect_garbage(site, args.days, dry_run=args.dry_run)
    except ModuleError as e:
        return _fail(e)
    for line in report.lines():
        print(line)
    return 0


def cmd_registry_backup(args: argparse.Namespace) -> int:
    from .retention import backup_registry, master_site

    try:
        site = master_site(args.master)
        counts = backup_registry(site.registry, args.file)
    except ModuleError as e:
        return _fail(e)
    rows = ", ".join(f"{n} {table}" for table, n in counts.items())
    print(f"{site.registry.describe()} → {args.file}: {rows}")
    return 0


def cmd_registry_restore(args: argparse.Namespace) -> int:
    from .retention import master_running, master_site, restore_registry

    pid = master_running(args.master)
    if pid is not None:
        print(
            f"{args.master}: error: the master is running (pid {pid}) "
            "(stop it first: buildbot stop DIR; restore into a registry nobody writes to)",
            file=sys.stderr,
        )
        return 1
    try:
        site = master_site(args.master)
        counts = restore_registry(site.registry, args.file, force=args.force)
    except ModuleError as e:
        return _fail(e)
    rows = ", ".join(f"{n} {table}" for table, n in counts.items())
    print(f"{args.file} → {site.registry.describe()}: {rows}")
    return 0


def add_admin_commands(sub: Any) -> None:
    """``retire``, ``collect-garbage``, ``registry backup|restore``: run on the master's
    host against its directory (docs/running.md "Retention, retiring and backups")."""
    master = argparse.ArgumentParser(add_help=False)
    master.add_argument(
        "--master", required=True, metavar="DIR", help="the master's folder (with settings.toml)"
    )
    retire = sub.add_parser(
        "retire",
        parents=[master],
        help="retire module builds: garbage, out of the stage and production repositories",
    )
    retire.add_argument("ref", metavar="N:S[:V[:C]]")
    retire.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    retire.add_argument("--by", metavar="USER", help="who retires (default: your login name)")
    retire.set_defaults(func=cmd_retire)
    garbage = sub.add_parser(
        "collect-garbage",
        parents=[master],
        help="apply the retention policy now (the module-maintenance builder does it nightly)",
    )
    garbage.add_argument(
        "--days", type=int, metavar="N", help="older than N days (default: garbage_after_days)"
    )
    garbage.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    garbage.set_defaults(func=cmd_collect_garbage)
    registry = sub.add_parser("registry", help="back up and restore the module registry")
    rsub = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    backup = rsub.add_parser(
        "backup", parents=[master], help="write every registry table to FILE (JSON)"
    )
    backup.add_argument("file", metavar="FILE")
    backup.set_defaults(func=cmd_registry_backup)
    restore = rsub.add_parser(
        "restore", parents=[master], help="load FILE into the master's (empty) registry"
    )
    restore.add_argument("file", metavar="FILE")
    restore.add_argument(
        "--force", action="store_true", help="replace the rows of a registry that is not empty"
    )
    restore.set_defaults(func=cmd_registry_restore)


# --------------------------------------------------------------------------- module client


def _client_sources(args: argparse.Namespace) -> tuple[list[Any], Any]:
    from .client import load_config, main_sources, open_sources

    config = load_config()
    return open_sources(main_sources(args.source, config), config), config


def _client(run: Any) -> Any:
    """Run a client command: ClientError → message on stderr, exit 1."""

    def wrapper(args: argparse.Namespace) -> int:
        from .client import ClientError, stderr

        try:
            result: int = run(args)
            return result
        except ClientError as e:
            stderr(str(e))
            return 1

    return wrapper


def _print_table(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _services(sources: list[Any]) -> list[Any]:
    from .client import ClientError, ServiceSource

    found = [s for s in sources if isinstance(s, ServiceSource)]
    if not found:
        raise ClientError("this needs a module service among the sources (an http(s) URL)")
    return found


@_client
def cmd_list(args: argparse.Namespace) -> int:
    sources, _ = _client_sources(args)
    rows = sorted(
        (r for s in sources for r in s.streams()),
        key=lambda r: (r["name"], r["stream"], r["source"]),
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [["NAME:STREAM", "LATEST", "STATE", "EOL", "SOURCE"]]
    for r in rows:
        table.append(
            [
                f"{r['name']}:{r['stream']}",
                r["latest"] or "-",
                r["state"] or "-",
                r["eol"] or "-",
                r["source"],
            ]
        )
    _print_table(table)
    return 0


@_client
def cmd_info(args: argparse.Namespace) -> int:
    from .client import stderr

    sources, _ = _client_sources(args)
    found = [r for s in sources for r in s.info(args.ref)]
    if args.json:
        print(json.dumps(found, indent=2))
    for r in [] if args.json else found:
        print(f"{r.get('nsvc') or r['name'] + ':' + r['stream']}  (from {r['source']})")
        for key in (
            "state_name", "owner", "owners", "eol", "time_completed", "published_path",
            "production_path", "dependents", "builds", "dnf",
        ):  # fmt: skip
            if r.get(key) not in (None, [], ""):
                print(f"  {key}: {r[key]}")
        if r.get("buildrequires"):
            print(
                "  buildrequires: " + ", ".join(f"{k}:{v}" for k, v in r["buildrequires"].items())
            )
        for c in r.get("components") or []:
            print(f"  component {c['name']}: {c['state']} {c.get('nvr') or ''}".rstrip())
    if not found:
        stderr(f"{args.ref}: not found in any source")
        return 1
    return 0


@_client
def cmd_stack(args: argparse.Namespace) -> int:
    sources, _ = _client_sources(args)
    from .client import stderr

    stacks = []
    for service in _services(sources):
        found = service.stack(args.ref)
        if found is not None:
            stacks.append({"source": service.location, **found})
    if not stacks:
        stderr(f"{args.ref}: no module service has a build of it")
        return 1
    if args.json:
        print(json.dumps(stacks, indent=2))
        return 0
    for stack in stacks:
        print(f"# {stack['source']}")
        for line in _stack_lines(stack):
            print(line)
    return 0


def _stack_lines(stack: dict[str, Any]) -> list[str]:
    """The stack as an indented tree from its root (a node seen above is not expanded)."""
    nodes = {n["nsvc"]: n for n in stack["nodes"]}
    children: dict[str, dict[str, list[str]]] = {}
    for e in stack["edges"]:
        children.setdefault(e["from"], {}).setdefault(e["to"], []).append(e["kind"])
    lines: list[str] = []

    def show(nsvc: str, depth: int, kinds: list[str], seen: frozenset[str]) -> None:
        state = nodes[nsvc]["state"] or "not in the registry"
        label = f" ({', '.join(kinds)})" if kinds else ""
        lines.append("  " * depth + f"{nsvc} [{state}]{label}")
        if nsvc not in seen:
            for to, kind_list in children.get(nsvc, {}).items():
                show(to, depth + 1, kind_list, seen | {nsvc})

    show(stack["root"], 0, [], frozenset())
    return lines


@_client
def cmd_builds(args: argparse.Namespace) -> int:
    sources, _ = _client_sources(args)
    rows = [b for s in _services(sources) for b in s.builds(args.state, args.limit)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [["ID", "NSVC", "STATE", "OWNER", "SUBMITTED", "SOURCE"]]
    for b in rows:
        table.append(
            [str(b["id"]), b["nsvc"], b["state_name"], b["owner"], b["time_submitted"], b["source"]]
        )
    _print_table(table)
    return 0


@_client
def cmd_repos(args: argparse.Namespace) -> int:
    from .client import repo_file

    sources, _ = _client_sources(args)
    rows = [r for s in sources for r in s.repos(args.area)]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.write:
        os.makedirs(args.write, exist_ok=True)
        for r in rows:
            path = os.path.join(args.write, f"{r['id']}.repo")
            with open(path, "w", encoding="utf-8") as f:
                f.write(repo_file([r]))
            print(path)
    else:
        print(repo_file(rows), end="")
    return 0


@_client
def cmd_build(args: argparse.Namespace) -> int:
    sources, _ = _client_sources(args)
    service = _services(sources)[0]
    build = service.build(args.ref, scratch=args.scratch, rebuild_strategy=args.rebuild_strategy)
    if args.json:
        print(json.dumps(build, indent=2))
    else:
        print(f"{build['id']}  {build.get('nsvc') or args.ref}  {build['state_name']}")
    return 0


@_client
def cmd_watch(args: argparse.Namespace) -> int:
    from .client import watch

    sources, _ = _client_sources(args)
    service = _services(sources)[0]
    return watch(service, args.id, sys.stdout, tty=sys.stdout.isatty(), interval=args.interval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bbmod", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    lint = sub.add_parser("lint", help="check module definitions; print every problem")
    lint.add_argument("files", nargs="+", metavar="FILE")
    lint.add_argument("--name", help="module name when the document has none")
    lint.add_argument("--stream", help="module stream when the document has none")
    lint.add_argument(
        "--distgit", action="append", metavar="ROOT", help="local dist-git root (file:// allowed)"
    )
    lint.add_argument("--allow-scheme", action="append", metavar="SCHEME")
    lint.add_argument("--allow-host", action="append", metavar="HOST")
    lint.set_defaults(func=cmd_lint)

    plan = sub.add_parser("plan", help="print the expanded builds and their component plan")
    plan.add_argument("file", metavar="FILE")
    plan.add_argument("--name")
    plan.add_argument("--stream")
    plan.add_argument("--version", type=int, help="module version (default: from the commit)")
    plan.add_argument(
        "--catalogue", action="append", metavar="PATH_OR_URL", help="where module streams live"
    )
    plan.add_argument("--sources", metavar="DIR", help="DIR/<component>/<component>.spec")
    out = plan.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON document")
    out.add_argument("--dot", action="store_true", help="a Graphviz graph")
    plan.set_defaults(func=cmd_plan)

    distgit = sub.add_parser("distgit", help="create and fill a local dist-git")
    dsub = distgit.add_subparsers(dest="distgit_command", required=True, metavar="ACTION")
    dinit = dsub.add_parser(
        "init", help="create an empty dist-git: ROOT/modules/ and ROOT/rpms/ (idempotent)"
    )
    dinit.add_argument("root", metavar="ROOT")
    dinit.set_defaults(func=cmd_distgit_init)
    dimport = dsub.add_parser(
        "import",
        help="commit each DIR/modules/<name> and DIR/rpms/<name> onto that repository",
    )
    dimport.add_argument("root", metavar="ROOT")
    dimport.add_argument("dir", metavar="DIR")
    dimport.add_argument("--branch", default="main", help="branch to commit on (default: main)")
    dimport.set_defaults(func=cmd_distgit_import)

    qs = sub.add_parser("quickstart", help="write a ready master and worker directories")
    qs.add_argument("directory", metavar="DIR")
    qs.add_argument("--distgit", required=True, metavar="ROOT", help="the dist-git to watch")
    qs.add_argument("--publish", required=True, metavar="ROOT", help="where modules are published")
    qs.add_argument("--platform", default="f39", metavar="STREAM", help="platform stream (f39)")
    qs.add_argument("--port", type=int, default=8010, help="web UI port (8010)")
    qs.add_argument("--workers", type=int, default=2, metavar="K", help="build workers (2)")
    qs.add_argument("--worker-port", type=int, default=9989, help="worker protocol port (9989)")
    qs.add_argument("--poll-interval", type=int, default=5, metavar="SECONDS")
    qs.set_defaults(func=cmd_quickstart)

    local = sub.add_parser(
        "build-local",
        help="build a module on this machine through the Buildbot pipeline",
        description="Build MODULE.yaml from the component folders in --sources with an"
        " in-process master and K local workers; publish the result into --output.",
    )
    local.add_argument("module", metavar="MODULE.yaml")
    local.add_argument("--name", help="module name (default: the document's, else the file's)")
    local.add_argument("--stream", help="stream (default: the document's, else the git branch)")
    local.add_argument(
        "--sources", required=True, metavar="DIR", help="DIR/<component>/: its spec and sources"
    )
    local.add_argument("--output", required=True, metavar="DIR", help="where results go")
    local.add_argument(
        "--platform", metavar="STREAM", help="platform stream (default: the document's, or f39)"
    )
    local.add_argument(
        "--catalogue",
        action="append",
        metavar="PATH_OR_URL",
        help="module repository for buildrequired modules (an earlier --output, a repository"
        " or modules.yaml; path or URL); repeatable",
    )
    local.add_argument("--workers", type=int, default=2, metavar="K", help="local workers (2)")
    local.add_argument(
        "--backend",
        choices=("buildroot", "rpmbuild"),
        default="buildroot",
        help="buildroot: each component in a private root (root needed; default);"
        " rpmbuild: plain rpmbuild, BuildRequires not installed",
    )
    local.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a check (docs/quality.md) fails or needs inspection",
    )
    local.set_defaults(func=cmd_build_local)

    docs = sub.add_parser("docs", help="documentation generated from the modules themselves")
    docsub = docs.add_subparsers(dest="docs_command", required=True, metavar="WHAT")
    dapi = docsub.add_parser(
        "api", help="a module's API (api.rpms, their Provides and Requires) as Markdown"
    )
    dapi.add_argument("module", metavar="MODULE.yaml")
    dapi.add_argument("--sources", required=True, metavar="DIR", help="component spec folders")
    dapi.add_argument("--name", help="module name when the document has none")
    dapi.add_argument("--stream", help="module stream when the document has none")
    dout = dapi.add_mutually_exclusive_group()
    dout.add_argument("--output", metavar="FILE", help="write the page here")
    dout.add_argument(
        "--check", metavar="FILE", help="exit 1 unless FILE is exactly the page (stale docs)"
    )
    dapi.set_defaults(func=cmd_docs_api)

    platform = sub.add_parser("platform", help="describe and publish the platform of this host")
    psub = platform.add_subparsers(dest="platform_command", required=True, metavar="ACTION")
    pgen = psub.add_parser(
        "generate", help="write the platform definition measured on this host (YAML)"
    )
    pgen.add_argument("--stream", required=True, help="platform stream, e.g. f39")
    pgen.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    pgen.set_defaults(func=cmd_platform_generate)
    ppub = psub.add_parser(
        "publish", help="build the stub repository; publish it at ROOT/platform/<stream>/"
    )
    ppub.add_argument("definition", metavar="DEFINITION")
    ppub.add_argument("--publish", required=True, metavar="ROOT", help="the publish root")
    ppub.set_defaults(func=cmd_platform_publish)
    add_client_commands(sub)
    add_admin_commands(sub)
    return parser


def add_client_commands(sub: Any) -> None:
    """``list``, ``info``, ``stack``, ``builds``, ``repos``, ``build``, ``watch``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--source",
        action="append",
        metavar="URL_OR_PATH",
        help="a module service (http://host:8010/) or module repository; repeatable"
        " (default: sources in $XDG_CONFIG_HOME/bbmod/config.toml)",
    )
    common.add_argument("--json", action="store_true", help="JSON output")
    cl = sub.add_parser("list", parents=[common], help="module streams of every source")
    cl.set_defaults(func=cmd_list)
    ci = sub.add_parser("info", parents=[common], help="one build (N:S:V:C) or stream (N:S)")
    ci.add_argument("ref", metavar="NSVC|N:S")
    ci.set_defaults(func=cmd_info)
    cs = sub.add_parser("stack", parents=[common], help="a stream's dependency stack (services)")
    cs.add_argument("ref", metavar="N:S")
    cs.set_defaults(func=cmd_stack)
    cb = sub.add_parser("builds", parents=[common], help="recent module builds (services)")
    cb.add_argument("--state", help="only builds in this state (name or MBS number)")
    cb.add_argument("--limit", type=int, default=20, help="per service (20, at most 100)")
    cb.set_defaults(func=cmd_builds)
    cr = sub.add_parser("repos", parents=[common], help="dnf .repo sections for the modules")
    cr.add_argument("--area", choices=("stage", "production"), default="stage")
    cr.add_argument("--write", metavar="DIR", help="write DIR/<id>.repo files")
    cr.set_defaults(func=cmd_repos)
    cbuild = sub.add_parser("build", parents=[common], help="build N:S at its branch head")
    cbuild.add_argument("ref", metavar="N:S")
    cbuild.add_argument(
        "--scratch", action="store_true", help="a scratch build: never reused or promoted"
    )
    cbuild.add_argument(
        "--rebuild-strategy",
        choices=("changed-and-after", "only-changed", "all"),
        help="for this build, instead of the module's or the site's",
    )
    cbuild.set_defaults(func=cmd_build)
    cw = sub.add_parser("watch", parents=[common], help="follow a module build to its end")
    cw.add_argument("id", metavar="ID")
    cw.add_argument("--interval", type=float, default=1.0, metavar="SECONDS")
    cw.set_defaults(func=cmd_watch)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
