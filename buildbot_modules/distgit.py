"""A local dist-git laid out as in Fedora, and the import that fills it from folders.

Layout of a dist-git ``ROOT``:

``ROOT/modules/<module>``
    A bare git repository per module; each branch is a stream and holds ``<module>.yaml``.
``ROOT/rpms/<package>``
    A bare git repository per package; a component's ``ref`` names one of its branches,
    tags or commits, which holds ``<package>.spec`` and the sources.

Sources are committed files beside the spec. There is no lookaside cache in this version:
a ``sources`` file of checksums is an ordinary committed file and nothing downloads what
it names.

The repositories carry no ``.git`` suffix (Fedora's URLs read ``rpms/<name>``). Everything
here runs ``git`` with argument lists and reads or writes only the repositories under
``ROOT``: an import builds its trees with ``git hash-object`` and ``git mktree`` straight
into the bare repository, so it needs no work tree, index or temporary files.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .core.problems import ModuleError

NAMESPACES = ("modules", "rpms")
"""The namespaces of a dist-git, each a folder of bare repositories under the root."""

DEFAULT_BRANCH = "main"
DEFAULT_NAME = "bbmod"
DEFAULT_EMAIL = "bbmod@localhost"

_NAME = re.compile(r"^[A-Za-z0-9+][A-Za-z0-9._+-]*$")
_HEX = re.compile(r"^[0-9a-fA-F]{4,64}$")
# What git forbids in ref names and reads as revision syntax instead (main~1, main^, a:b).
_NOT_A_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|^-|^$")

# Variables that point git at another repository, index or object store (what
# `git rev-parse --local-env-vars` prints): inherited from a hook or a wrapper they would
# send our reads and writes elsewhere, so every git we run goes without them.
_LOCAL_ENV = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
    }
)

# The default identity is given with -c so that it works without any git configuration
# (root on a fresh machine) and never touches the global one; GIT_AUTHOR_* and
# GIT_COMMITTER_* in the environment still win over it. Signing is off because an
# import must not stop to ask for a key.
_CONFIG = (
    "-c",
    f"user.name={DEFAULT_NAME}",
    "-c",
    f"user.email={DEFAULT_EMAIL}",
    "-c",
    "commit.gpgSign=false",
)


@dataclass(frozen=True)
class CommitInfo:
    """One commit: its full id, ``Name <email>`` of the author, committer time (unix
    seconds), the first line of its message and the files it changed against its first
    parent (every file for a root commit), sorted."""

    commit: str
    author: str
    timestamp: int
    message: str
    files: list[str]


@dataclass(frozen=True)
class ImportResult:
    """What an import did to one branch: ``commit`` is the branch head afterwards and
    ``changed`` says whether the import made it (False: the branch already held the files)."""

    namespace: str
    name: str
    branch: str
    commit: str
    changed: bool


@dataclass(frozen=True)
class _Entry:
    """One file to commit: git mode, where it goes in the tree and where it comes from."""

    mode: str
    path: str
    source: str


@dataclass(frozen=True)
class _Branch:
    namespace: str
    name: str
    branch: str
    entries: tuple[_Entry, ...]


def check_name(name: str, *, source: str = "") -> str:
    """Return ``name`` if it is a valid module or package name (the RPM name rule), else
    raise ModuleError."""
    if not _NAME.match(name):
        raise ModuleError(
            f"invalid repository name {name!r}",
            source=source,
            hint="use letters, digits and . _ + - (not first: . _ -)",
        )
    return name


def check_branch(branch: str, *, source: str = "") -> str:
    """Return ``branch`` if git accepts it as a branch name, else raise ModuleError."""
    error = ModuleError(
        f"invalid branch name {branch!r}",
        source=source,
        hint="see `git check-ref-format --branch`; no spaces, '..', '@{', leading '-' or HEAD",
    )
    # Refused before asking git: a leading '-' would read as an option and '@{-N}' would be
    # expanded against whatever repository the current folder is in.
    if not branch or branch.startswith("-") or "@{" in branch or branch == "HEAD":
        raise error
    proc = _run(
        ["git", "check-ref-format", "--branch", branch], what="check-ref-format", check=False
    )
    if proc.returncode != 0 or proc.stdout.decode("utf-8", "replace").strip() != branch:
        raise error
    return branch


def _check_namespace(namespace: str) -> str:
    if namespace not in NAMESPACES:
        raise ModuleError(
            f"unknown dist-git namespace {namespace!r}", hint="use 'modules' or 'rpms'"
        )
    return namespace


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _LOCAL_ENV}


def _run(
    cmd: list[str],
    *,
    what: str,
    input: bytes | None = None,
    check: bool = True,
    source: str = "",
) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, env=_env(), check=False)
    except OSError as e:
        raise ModuleError(f"cannot run git: {e.strerror}", hint="install git") from e
    if check and proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ModuleError(
            f"git {what} failed: " + (lines[-1] if lines else f"exit status {proc.returncode}"),
            source=source,
        )
    return proc


def _is_bare_repository(path: str) -> bool:
    # git's own test for a git directory, without starting a process per repository.
    return (
        os.path.isfile(os.path.join(path, "HEAD"))
        and os.path.isdir(os.path.join(path, "objects"))
        and os.path.isdir(os.path.join(path, "refs"))
    )


class DistGit:
    """A local dist-git: bare repositories under ``ROOT/modules/`` and ``ROOT/rpms/``.

    Every method raises ModuleError (never CalledProcessError) for what a user can fix: an
    unknown repository, ref or file, an invalid name or branch."""

    def __init__(self, root: str) -> None:
        """Open the dist-git at ``root``; ModuleError unless it has ``modules/`` and ``rpms/``."""
        self.root = os.path.abspath(root)
        if not all(os.path.isdir(os.path.join(self.root, ns)) for ns in NAMESPACES):
            raise ModuleError(
                "not a dist-git (it needs the folders modules/ and rpms/)",
                source=root,
                hint="create one with `bbmod distgit init ROOT`",
            )

    @classmethod
    def init(cls, root: str) -> DistGit:
        """Create ``root/modules`` and ``root/rpms`` (and ``root``) if missing and open the
        dist-git; existing repositories are kept, so calling it again changes nothing."""
        for ns in NAMESPACES:
            path = os.path.join(root, ns)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as e:
                raise ModuleError(
                    f"cannot create {path}: {e.strerror}",
                    source=root,
                    hint="choose a ROOT that is a folder you can write",
                ) from e
        return cls(root)

    # Reading.

    def repositories(self, namespace: str) -> list[str]:
        """The names of the bare repositories in ``namespace``, sorted; other entries of the
        folder (files, plain folders, invalid names) are not repositories and are left out."""
        folder = os.path.join(self.root, _check_namespace(namespace))
        return sorted(
            name
            for name in os.listdir(folder)
            if _NAME.match(name) and _is_bare_repository(os.path.join(folder, name))
        )

    def path(self, namespace: str, name: str) -> str:
        """The absolute path of repository ``namespace/name``, whether it exists or not."""
        return os.path.join(self.root, _check_namespace(namespace), check_name(name))

    def heads(self, namespace: str, name: str) -> dict[str, str]:
        """Every branch of the repository and the full id of its head commit."""
        out = self._git(
            namespace, name, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/"
        )
        heads = {}
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            commit, ref = line.split(" ", 1)  # ref names cannot hold spaces
            if ref.startswith("refs/heads/"):
                heads[ref.removeprefix("refs/heads/")] = commit
        return heads

    def resolve(self, namespace: str, name: str, ref: str) -> str:
        """The full commit id that ``ref`` names: a branch, else a tag, else a (short)
        commit id. Other revision syntax (``main~1``, ``HEAD``…) is not accepted."""
        candidates = []
        if not _NOT_A_REF.search(ref):
            candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        if _HEX.match(ref):
            candidates.append(ref)
        for candidate in candidates:
            proc = self._proc(
                namespace,
                name,
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                f"{candidate}^{{commit}}",
                check=False,
            )
            if proc.returncode == 0:
                return proc.stdout.decode().strip()
        raise ModuleError(
            f"no branch, tag or commit {ref!r} in {namespace}/{name}",
            source=self.path(namespace, name),
            hint="name an existing branch (see its heads), tag or unambiguous commit id",
        )

    def unsafe_links(self, namespace: str, name: str, commit: str) -> list[tuple[str, str]]:
        """Symbolic links in the tree of ``commit`` that point outside it (absolute, or
        climbing above the repository with ``..``), as (path, target). Unpacked for a
        build, such a link would read a file of the worker into the package."""
        listing = self._git(namespace, name, "ls-tree", "-r", "-z", "--end-of-options", commit)
        found = []
        for entry in listing.split(b"\0"):
            if not entry.startswith(b"120000 "):
                continue
            meta, _, path_bytes = entry.partition(b"\t")
            blob = meta.split()[2].decode()
            target = self._git(namespace, name, "cat-file", "blob", blob).decode(
                "utf-8", errors="replace"
            )
            path = path_bytes.decode("utf-8", errors="replace")
            inside = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if posixpath.isabs(target) or inside == ".." or inside.startswith("../"):
                found.append((path, target))
        return found

    def show(self, namespace: str, name: str, commit: str, path: str) -> bytes:
        """The bytes of file ``path`` in the tree of ``commit`` (any ref ``resolve`` takes)."""
        full = self.resolve(namespace, name, commit)
        proc = self._proc(namespace, name, "cat-file", "blob", f"{full}:{path}", check=False)
        if proc.returncode != 0:
            raise ModuleError(
                f"no file {path!r} at commit {full[:12]} of {namespace}/{name}",
                source=self.path(namespace, name),
                hint="paths are relative to the top of the repository",
            )
        return proc.stdout

    def commit_info(self, namespace: str, name: str, commit: str) -> CommitInfo:
        """Who made ``commit``, when (committer time), its subject line and the files it
        changed against its first parent (all files for a root commit)."""
        full = self.resolve(namespace, name, commit)
        out = self._git(
            namespace, name, "show", "-s", "--format=%an <%ae>%x00%ct%x00%P%x00%B", full
        ).decode("utf-8", "replace")
        author, timestamp, parents, message = out.split("\0", 3)
        first = parents.split()[0] if parents.split() else None
        lines = message.strip().splitlines()
        return CommitInfo(
            commit=full,
            author=author,
            timestamp=int(timestamp),
            message=lines[0] if lines else "",
            files=self._diff(namespace, name, first, full),
        )

    def changed_files(self, namespace: str, name: str, old: str | None, new: str) -> list[str]:
        """The paths that differ between the trees of ``old`` and ``new``, sorted; every path
        of ``new`` when ``old`` is None."""
        old_id = self.resolve(namespace, name, old) if old is not None else None
        return self._diff(namespace, name, old_id, self.resolve(namespace, name, new))

    def new_commits(self, namespace: str, name: str, old: str | None, new: str) -> list[str]:
        """The commits reachable from ``new`` but not from ``old`` (all of them when ``old`` is
        None), oldest first, parents always before their children."""
        args = ["rev-list", "--topo-order", "--reverse", self.resolve(namespace, name, new)]
        if old is not None:
            args += ["--not", self.resolve(namespace, name, old)]
        return self._git(namespace, name, *args).decode().split()

    def archive(self, namespace: str, name: str, commit: str, dest_tar: str) -> None:
        """Write the tree of ``commit`` to ``dest_tar`` as a tar file, files at its top."""
        full = self.resolve(namespace, name, commit)
        # git runs with --git-dir, not in the caller's folder: the path must be absolute.
        self._git(
            namespace,
            name,
            "archive",
            "--format=tar",
            f"--output={os.path.abspath(dest_tar)}",
            full,
        )

    # Writing.

    def import_dir(self, source: str, branch: str = DEFAULT_BRANCH) -> list[ImportResult]:
        """Commit every folder ``source/modules/<name>`` and ``source/rpms/<name>`` onto
        branch ``branch`` of the repository of that name, creating the repository if needed.

        A module folder must hold ``<name>.yaml``; its ``streams/<stream>.yaml`` files are
        committed as ``<name>.yaml`` on branch ``<stream>`` instead. A package folder must
        hold ``<name>.spec``; its ``branches/<b>/`` folders are committed on branch ``<b>``
        instead (then the folder's other files, if there are none, make no ``branch``).
        Everything else in a folder is committed as it is, recursively, with its executable
        bit and symbolic links kept; only ``.git`` is left out.

        A branch whose files are already its head's gets no commit (``changed`` False);
        otherwise one new commit on top of the head. Every folder is checked before anything
        is written, and ``source`` is only read. Packages are committed before modules (a
        poller never sees a module before its packages). Results are sorted by namespace,
        name, branch.
        """
        check_branch(branch, source="--branch")
        plan = _plan_import(source, branch)
        # Packages first: a poller that sees a module's new commit must find every rpms/
        # repository it names (a module committed first could start building too early).
        plan = sorted(plan, key=lambda item: item.namespace != "rpms")
        results = [self._commit(item, source) for item in plan]
        return sorted(results, key=lambda r: (r.namespace, r.name, r.branch))

    def _commit(self, item: _Branch, source: str) -> ImportResult:
        repo = self.path(item.namespace, item.name)
        if not os.path.lexists(repo):
            _run(
                ["git", "init", "--quiet", "--bare", f"--initial-branch={item.branch}", repo],
                what="init",
                source=repo,
            )
        elif not _is_bare_repository(repo):
            raise ModuleError(
                f"{item.namespace}/{item.name} exists but is not a bare git repository",
                source=repo,
                hint="move it away, or import under another name",
            )
        tree = self._write_tree(item)
        old = self.heads(item.namespace, item.name).get(item.branch)
        if old is not None:
            old_tree = self._git(item.namespace, item.name, "rev-parse", f"{old}^{{tree}}")
            if old_tree.decode().strip() == tree:
                return ImportResult(item.namespace, item.name, item.branch, old, False)
        message = f"Import {item.namespace}/{item.name} from {os.path.abspath(source)}\n"
        parent = ["-p", old] if old is not None else []
        new = (
            self._git(item.namespace, item.name, "commit-tree", *parent, tree, stdin=message)
            .decode()
            .strip()
        )
        # The expected old value makes the update fail, not overwrite, when another import
        # moved the branch meanwhile ("" means the branch must not exist yet).
        self._git(
            item.namespace,
            item.name,
            "update-ref",
            "-m",
            "bbmod distgit import",
            f"refs/heads/{item.branch}",
            new,
            old or "",
        )
        self._fix_head(item.namespace, item.name)
        return ImportResult(item.namespace, item.name, item.branch, new, True)

    def _fix_head(self, namespace: str, name: str) -> None:
        # A repository created for a package holding only branches/ folders has its HEAD on
        # an unborn branch; point it at a real one so that clones check something out.
        head = self._proc(namespace, name, "symbolic-ref", "--quiet", "HEAD", check=False)
        heads = self.heads(namespace, name)
        target = head.stdout.decode().strip().removeprefix("refs/heads/")
        if heads and target not in heads:
            first = DEFAULT_BRANCH if DEFAULT_BRANCH in heads else sorted(heads)[0]
            self._git(namespace, name, "symbolic-ref", "HEAD", f"refs/heads/{first}")

    def _write_tree(self, item: _Branch) -> str:
        """Write the blobs and trees of ``item`` into its repository; the root tree's id."""
        blobs: dict[str, str] = {}
        files = [e for e in item.entries if e.mode != "120000"]
        # Chunks keep the command line short for packages with many sources.
        for i in range(0, len(files), 200):
            chunk = files[i : i + 200]
            out = self._git(
                item.namespace,
                item.name,
                "hash-object",
                "-w",
                "--no-filters",
                "--",
                *(e.source for e in chunk),
            )
            blobs.update(zip((e.path for e in chunk), out.decode().split(), strict=True))
        for e in item.entries:
            if e.mode == "120000":
                target = os.fsencode(os.readlink(e.source))
                out = self._git(
                    item.namespace, item.name, "hash-object", "-w", "--stdin", stdin=target
                )
                blobs[e.path] = out.decode().strip()
        return self._mktree(item, {e.path: (e.mode, blobs[e.path]) for e in item.entries}, "")

    def _mktree(self, item: _Branch, files: Mapping[str, tuple[str, str]], prefix: str) -> str:
        entries: list[bytes] = []
        subdirs: set[str] = set()
        for path, (mode, oid) in files.items():
            rest = path[len(prefix) :]
            if "/" in rest:
                subdirs.add(rest.split("/", 1)[0])
            else:
                entries.append(f"{mode} blob {oid}\t".encode() + os.fsencode(rest) + b"\0")
        for sub in sorted(subdirs):
            inner = {p: v for p, v in files.items() if p.startswith(f"{prefix}{sub}/")}
            oid = self._mktree(item, inner, f"{prefix}{sub}/")
            entries.append(f"040000 tree {oid}\t".encode() + os.fsencode(sub) + b"\0")
        out = self._git(item.namespace, item.name, "mktree", "-z", stdin=b"".join(entries))
        return out.decode().strip()

    def _diff(self, namespace: str, name: str, old: str | None, new: str) -> list[str]:
        if old is None:
            args = ["ls-tree", "-r", "-z", "--name-only", new]
        else:
            args = ["diff-tree", "-r", "-z", "--name-only", "--no-renames", old, new]
        out = self._git(namespace, name, *args)
        return sorted(os.fsdecode(p) for p in out.split(b"\0") if p)

    def _proc(
        self, namespace: str, name: str, *args: str, check: bool = True, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        repo = self.path(namespace, name)
        if not _is_bare_repository(repo):
            raise ModuleError(
                f"no repository {namespace}/{name} in this dist-git",
                source=self.root,
                hint="see `bbmod distgit import` to create it",
            )
        return _run(
            ["git", *_CONFIG, f"--git-dir={repo}", *args],
            what=args[0],
            input=stdin,
            check=check,
            source=repo,
        )

    def _git(
        self, namespace: str, name: str, *args: str, stdin: bytes | str | None = None
    ) -> bytes:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return self._proc(namespace, name, *args, stdin=data).stdout


# Reading the folders to import.


def _plan_import(source: str, branch: str) -> list[_Branch]:
    if not os.path.isdir(source):
        raise ModuleError("no such folder", source=source, hint="give the folder to import")
    if not any(os.path.isdir(os.path.join(source, ns)) for ns in NAMESPACES):
        raise ModuleError(
            "nothing to import: no modules/ or rpms/ folder",
            source=source,
            hint="lay it out as modules/<name>/<name>.yaml and rpms/<name>/<name>.spec",
        )
    plan: list[_Branch] = []
    for ns in NAMESPACES:
        folder = os.path.join(source, ns)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if not os.path.isdir(path) or name == ".git":
                continue  # a README beside the repositories, or the source's own git
            check_name(name, source=path)
            if ns == "modules":
                plan.extend(_plan_module(path, name, branch))
            else:
                plan.extend(_plan_package(path, name, branch))
    return plan


def _plan_module(path: str, name: str, branch: str) -> list[_Branch]:
    main = f"{name}.yaml"
    entries = _walk(path, skip={"streams"})
    streams = os.path.join(path, "streams")
    plan = []
    if any(e.path == main for e in entries):
        plan.append(_Branch("modules", name, branch, entries))
    elif entries or not os.path.isdir(streams):
        # Only a module whose every stream is in streams/ may go without <name>.yaml.
        raise ModuleError(
            f"module folder without {main}",
            source=path,
            hint="the module definition is <name>.yaml, named as its folder",
        )
    if os.path.isdir(streams):
        for file in sorted(os.listdir(streams)):
            where = os.path.join(streams, file)
            if not file.endswith(".yaml") or not os.path.isfile(where):
                raise ModuleError(
                    "streams/ may only hold <stream>.yaml files",
                    source=where,
                    hint="move other files out of streams/",
                )
            stream = check_branch(file.removesuffix(".yaml"), source=where)
            _check_distinct(stream, branch, where)
            plan.append(_Branch("modules", name, stream, (_Entry(_mode(where), main, where),)))
    return plan


def _plan_package(path: str, name: str, branch: str) -> list[_Branch]:
    plan = []
    entries = _walk(path, skip={"branches"})
    branches = os.path.join(path, "branches")
    others = []
    if os.path.isdir(branches):
        for sub in sorted(os.listdir(branches)):
            where = os.path.join(branches, sub)
            if not os.path.isdir(where):
                raise ModuleError(
                    "branches/ may only hold one folder per branch",
                    source=where,
                    hint="move the file into branches/<branch>/ or out of branches/",
                )
            _check_distinct(check_branch(sub, source=where), branch, where)
            others.append(_Branch("rpms", name, sub, _walk(where, skip=set())))
    if entries or not others:
        plan.append(_Branch("rpms", name, branch, entries))
    for item in plan + others:
        if not any(e.path == f"{name}.spec" for e in item.entries):
            raise ModuleError(
                f"package folder without {name}.spec",
                source=path if item.branch == branch else os.path.join(branches, item.branch),
                hint="the spec is <name>.spec, named as its folder",
            )
    return plan + others


def _check_distinct(other: str, branch: str, where: str) -> None:
    if other == branch:
        raise ModuleError(
            f"branch {branch!r} would get two different contents",
            source=where,
            hint="import onto another --branch, or rename this one",
        )


def _mode(path: str) -> str:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return "120000"
    if not stat.S_ISREG(info.st_mode):
        raise ModuleError(
            "neither a file, a folder nor a symbolic link: git cannot hold it",
            source=path,
            hint="remove it from the folder to import",
        )
    # git keeps one bit of the mode: executable by the owner or not.
    return "100755" if info.st_mode & stat.S_IXUSR else "100644"


def _walk(top: str, skip: Iterable[str]) -> tuple[_Entry, ...]:
    """Every file, recursively, under ``top`` but ``.git`` (anywhere) and the top-level
    folders in ``skip``; paths relative to ``top`` with '/', sorted."""
    entries = []
    for folder, dirs, files in os.walk(top, onerror=_raise):
        rel = os.path.relpath(folder, top)
        for d in list(dirs):
            # os.walk does not follow links to folders: they are committed as links.
            if d == ".git" or (rel == "." and d in skip):
                dirs.remove(d)
            elif os.path.islink(os.path.join(folder, d)):
                files.append(d)
        for f in files:
            if f == ".git":
                continue
            path = os.path.join(folder, f)
            name = f if rel == "." else f"{rel.replace(os.sep, '/')}/{f}"
            entries.append(_Entry(_mode(path), name, path))
    return tuple(sorted(entries, key=lambda e: e.path))


def _raise(error: OSError) -> None:
    raise ModuleError(
        f"cannot read: {error.strerror}", source=str(error.filename), hint="check permissions"
    )
