"""The local dist-git: its layout, the import that fills it, reading it back, `bbmod distgit`.

Real git on temporary folders throughout."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tarfile

from twisted.trial import unittest

from buildbot_modules.core.problems import ModuleError
from buildbot_modules.distgit import CommitInfo, DistGit, ImportResult

from .helpers import CONTRIB, bbmod, tempdir, write

MODULES = sorted(os.listdir(os.path.join(CONTRIB, "modules")))
PACKAGES = sorted(os.listdir(os.path.join(CONTRIB, "rpms")))

IDENTITY = (
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "EMAIL",
)


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def files_under(folder: str) -> list[str]:
    """Every file below ``folder``, relative, with '/'."""
    out: list[str] = []
    for base, _dirs, files in os.walk(folder):
        rel = os.path.relpath(base, folder)
        out.extend(f if rel == "." else f"{rel}/{f}" for f in files)
    return sorted(out)


def snapshot(folder: str) -> dict[str, tuple[int, int, bytes]]:
    """Every entry below ``folder``: mode, modification time and content (or link target)."""
    out = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(base, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                content = os.fsencode(os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                content = read(path)
            else:
                content = b""
            out[path] = (info.st_mode, info.st_mtime_ns, content)
    out[folder] = (os.lstat(folder).st_mode, os.lstat(folder).st_mtime_ns, b"")
    return out


def git(repo: str, *args: str) -> str:
    proc = subprocess.run(
        ["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


class Case(unittest.TestCase):
    def setUp(self) -> None:
        # Fixed identity and dates, whatever the environment of the test run.
        self.environ(
            GIT_AUTHOR_NAME="Ann Author",
            GIT_AUTHOR_EMAIL="ann@example.org",
            GIT_AUTHOR_DATE="2026-11-20T10:00:00Z",
            GIT_COMMITTER_NAME="Carl Committer",
            GIT_COMMITTER_EMAIL="carl@example.org",
            GIT_COMMITTER_DATE="2026-11-20T10:11:12Z",
        )

    def environ(self, **values: str | None) -> None:
        """Set (or, for None, unset) environment variables until the test ends."""
        for key, value in values.items():
            old = os.environ.get(key)
            self.addCleanup(self._restore, key, old)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @staticmethod
    def _restore(key: str, value: str | None) -> None:
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

    def distgit(self) -> DistGit:
        return DistGit.init(os.path.join(tempdir(self), "distgit"))

    def contrib_copy(self) -> str:
        """A copy of contrib the test may change."""
        folder = os.path.join(tempdir(self), "src")
        shutil.copytree(CONTRIB, folder, symlinks=True)
        return folder

    def error(self, call: object, *args: object, **kwargs: object) -> str:
        """The formatted ModuleError that ``call`` raises."""
        assert callable(call)
        e = self.assertRaises(ModuleError, call, *args, **kwargs)
        return str(e)


class Init(Case):
    def test_creates_the_layout(self) -> None:
        root = os.path.join(tempdir(self), "a", "distgit")
        dg = DistGit.init(root)
        self.assertEqual(dg.root, root)
        self.assertEqual(sorted(os.listdir(root)), ["modules", "rpms"])
        self.assertEqual(os.listdir(os.path.join(root, "modules")), [])
        self.assertEqual(os.listdir(os.path.join(root, "rpms")), [])
        self.assertEqual((dg.repositories("modules"), dg.repositories("rpms")), ([], []))

    def test_is_idempotent_and_keeps_repositories(self) -> None:
        dg = self.distgit()
        results = dg.import_dir(CONTRIB)
        before = snapshot(dg.root)
        again = DistGit.init(dg.root)
        self.assertEqual(snapshot(dg.root), before)
        self.assertEqual(again.repositories("modules"), MODULES)
        self.assertEqual(
            {(r.namespace, r.name, r.branch): r.commit for r in results},
            {
                (ns, name, b): c
                for ns in ("modules", "rpms")
                for name in again.repositories(ns)
                for b, c in again.heads(ns, name).items()
            },
        )

    def test_refuses_a_file_and_opening_what_is_not_a_distgit(self) -> None:
        folder = tempdir(self)
        path = write(folder, "file", "x")
        self.assertIn("cannot create", self.error(DistGit.init, path))
        message = self.error(DistGit, folder)
        self.assertEqual(
            message,
            f"{folder}: error: not a dist-git (it needs the folders modules/ and rpms/)"
            " (create one with `bbmod distgit init ROOT`)",
        )
        os.mkdir(os.path.join(folder, "modules"))
        self.assertIn("not a dist-git", self.error(DistGit, folder))

    def test_repositories_lists_only_bare_repositories(self) -> None:
        dg = self.distgit()
        dg.import_dir(CONTRIB)
        os.mkdir(os.path.join(dg.root, "rpms", "plain-folder"))
        write(dg.root, "rpms/a-file", "x")
        self.assertEqual(dg.repositories("rpms"), PACKAGES)
        self.assertIn("unknown dist-git namespace 'tests'", self.error(dg.repositories, "tests"))
        self.assertEqual(dg.path("rpms", "greeter"), os.path.join(dg.root, "rpms", "greeter"))


class ImportContrib(Case):
    def test_every_folder_becomes_a_repository(self) -> None:
        dg = self.distgit()
        results = dg.import_dir(CONTRIB)
        self.assertEqual(dg.repositories("modules"), MODULES)
        self.assertEqual(dg.repositories("rpms"), PACKAGES)
        self.assertGreaterEqual(len(MODULES), 8)
        self.assertGreaterEqual(len(PACKAGES), 20)
        self.assertTrue(all(isinstance(r, ImportResult) and r.changed for r in results))
        # + modules/greeter 2.0, rpms/greeter 1.0 and 2.0
        self.assertEqual(len(results), len(MODULES) + len(PACKAGES) + 3)
        self.assertEqual(
            [(r.namespace, r.name, r.branch) for r in results],
            sorted((r.namespace, r.name, r.branch) for r in results),
        )
        for name in PACKAGES:
            repo = dg.path("rpms", name)
            self.assertEqual(git(repo, "rev-parse", "--is-bare-repository"), "true")
            self.assertEqual(git(repo, "symbolic-ref", "HEAD"), "refs/heads/main")

    def test_module_branches_hold_the_module_file(self) -> None:
        dg = self.distgit()
        dg.import_dir(CONTRIB)
        hello = dg.heads("modules", "hello")
        self.assertEqual(list(hello), ["main"])
        self.assertEqual(
            dg.show("modules", "hello", hello["main"], "hello.yaml"),
            read(os.path.join(CONTRIB, "modules", "hello", "hello.yaml")),
        )
        self.assertEqual(dg.changed_files("modules", "hello", None, "main"), ["hello.yaml"])

    def test_greeter_streams_become_branches(self) -> None:
        dg = self.distgit()
        dg.import_dir(CONTRIB)
        heads = dg.heads("modules", "greeter")
        # Every stream is in streams/: no main branch.
        self.assertEqual(sorted(heads), ["1.0", "2.0"])
        folder = os.path.join(CONTRIB, "modules", "greeter")
        self.assertEqual(
            dg.show("modules", "greeter", heads["1.0"], "greeter.yaml"),
            read(os.path.join(folder, "streams", "1.0.yaml")),
        )
        self.assertEqual(
            dg.show("modules", "greeter", heads["2.0"], "greeter.yaml"),
            read(os.path.join(folder, "streams", "2.0.yaml")),
        )
        # streams/ is what makes the other branches, never a folder of the main one.
        for branch in heads:
            self.assertEqual(dg.changed_files("modules", "greeter", None, branch), ["greeter.yaml"])

    def test_package_branches_hold_every_file(self) -> None:
        dg = self.distgit()
        dg.import_dir(CONTRIB)
        for name in PACKAGES:
            folder = os.path.join(CONTRIB, "rpms", name)
            head = dg.heads("rpms", name)["main"]
            # branches/<b>/ goes onto branch <b>, not onto main.
            on_main = [f for f in files_under(folder) if not f.startswith("branches/")]
            self.assertEqual(dg.changed_files("rpms", name, None, head), on_main)
            self.assertIn(f"{name}.spec", on_main)
            for path in on_main:
                self.assertEqual(
                    dg.show("rpms", name, head, path), read(os.path.join(folder, path))
                )
        # The executable bit survives (the greeter script is installed as it is).
        self.assertTrue(os.access(os.path.join(CONTRIB, "rpms", "greeter", "greeter"), os.X_OK))
        mode = git(dg.path("rpms", "greeter"), "ls-tree", "main", "greeter").split()[0]
        self.assertEqual(mode, "100755")
        mode = git(dg.path("rpms", "greeter"), "ls-tree", "main", "greeter.spec").split()[0]
        self.assertEqual(mode, "100644")

    def test_source_folder_is_only_read(self) -> None:
        source = self.contrib_copy()
        before = snapshot(source)
        dg = self.distgit()
        dg.import_dir(source)
        dg.import_dir(source)
        self.assertEqual(snapshot(source), before)


class Reimport(Case):
    def test_same_files_make_no_commit(self) -> None:
        dg = self.distgit()
        first = dg.import_dir(CONTRIB)
        repo = dg.path("rpms", "hello-script")
        count = git(repo, "rev-list", "--all", "--count")
        second = dg.import_dir(CONTRIB)
        self.assertEqual(
            [(r.namespace, r.name, r.branch, r.commit) for r in second],
            [(r.namespace, r.name, r.branch, r.commit) for r in first],
        )
        self.assertFalse(any(r.changed for r in second))
        self.assertEqual(git(repo, "rev-list", "--all", "--count"), count)

    def test_a_change_makes_one_commit_on_top(self) -> None:
        source = self.contrib_copy()
        dg = self.distgit()
        dg.import_dir(source)
        old = dg.heads("rpms", "hello-script")["main"]
        with open(os.path.join(source, "rpms", "hello-script", "README.hello"), "a") as f:
            f.write("One more line.\n")
        self.environ(GIT_COMMITTER_DATE="2026-11-21T08:00:00Z")
        results = dg.import_dir(source)
        changed = [r for r in results if r.changed]
        self.assertEqual(
            [(r.namespace, r.name, r.branch) for r in changed], [("rpms", "hello-script", "main")]
        )
        new = changed[0].commit
        self.assertEqual(dg.heads("rpms", "hello-script"), {"main": new})
        self.assertEqual(git(dg.path("rpms", "hello-script"), "rev-parse", f"{new}^"), old)
        self.assertEqual(dg.changed_files("rpms", "hello-script", old, new), ["README.hello"])
        self.assertEqual(dg.new_commits("rpms", "hello-script", old, new), [new])
        self.assertEqual(dg.new_commits("rpms", "hello-script", None, new), [old, new])
        self.assertEqual(dg.new_commits("rpms", "hello-script", new, new), [])
        info = dg.commit_info("rpms", "hello-script", new)
        self.assertEqual(info.files, ["README.hello"])
        self.assertEqual(info.timestamp, 1795248000)  # 2026-11-21T08:00:00Z

    def test_removed_and_added_files(self) -> None:
        source = self.contrib_copy()
        dg = self.distgit()
        dg.import_dir(source)
        old = dg.heads("rpms", "hello-script")["main"]
        os.remove(os.path.join(source, "rpms", "hello-script", "README.hello"))
        write(source, "rpms/hello-script/patches/fix.patch", "--- a\n+++ b\n")
        dg.import_dir(source)
        new = dg.heads("rpms", "hello-script")["main"]
        self.assertEqual(
            dg.changed_files("rpms", "hello-script", old, new),
            ["README.hello", "patches/fix.patch"],
        )
        self.assertEqual(
            dg.changed_files("rpms", "hello-script", None, new),
            ["bbmod-hello", "hello-script.spec", "patches/fix.patch"],
        )

    def test_other_branch_starts_its_own_history(self) -> None:
        dg = self.distgit()
        dg.import_dir(CONTRIB)
        main = dg.heads("modules", "hello")["main"]
        results = dg.import_dir(CONTRIB, branch="f39")
        self.assertTrue(all(r.changed and r.branch in ("f39", "2.0") for r in results if r.changed))
        heads = dg.heads("modules", "hello")
        self.assertEqual(sorted(heads), ["f39", "main"])
        self.assertEqual(heads["main"], main)
        self.assertEqual(dg.new_commits("modules", "hello", None, "f39"), [heads["f39"]])
        # greeter's stream branches were already there with the same files; it has no
        # main file, so --branch gives it no new branch.
        greeter = [r for r in results if r.name == "greeter" and r.namespace == "modules"]
        self.assertEqual([(r.branch, r.changed) for r in greeter], [("1.0", False), ("2.0", False)])


class Reading(Case):
    def setUp(self) -> None:
        super().setUp()
        self.dg = self.distgit()
        self.dg.import_dir(CONTRIB)
        self.head = self.dg.heads("rpms", "greeter")["main"]

    def test_resolve(self) -> None:
        dg, head = self.dg, self.head
        self.assertEqual(dg.resolve("rpms", "greeter", "main"), head)
        self.assertEqual(dg.resolve("rpms", "greeter", head), head)
        self.assertEqual(dg.resolve("rpms", "greeter", head[:7]), head)
        self.assertEqual(dg.resolve("rpms", "greeter", head[:7].upper()), head)
        git(dg.path("rpms", "greeter"), "tag", "-a", "-m", "release", "v1.0", head)
        self.assertEqual(dg.resolve("rpms", "greeter", "v1.0"), head)

    def test_resolve_refuses_unknown_refs_and_revision_syntax(self) -> None:
        repo = self.dg.path("rpms", "greeter")
        self.assertEqual(
            self.error(self.dg.resolve, "rpms", "greeter", "9.9"),
            f"{repo}: error: no branch, tag or commit '9.9' in rpms/greeter"
            " (name an existing branch (see its heads), tag or unambiguous commit id)",
        )
        for ref in ("main~1", "main^", "HEAD", "--all", "", "main:greeter", "0000000"):
            self.assertIn(
                "no branch, tag or commit", self.error(self.dg.resolve, "rpms", "greeter", ref)
            )

    def test_unknown_repository(self) -> None:
        self.assertIn(
            "no repository rpms/nothing in this dist-git",
            self.error(self.dg.heads, "rpms", "nothing"),
        )
        self.assertIn(
            "invalid repository name '../rpms'", self.error(self.dg.heads, "rpms", "../rpms")
        )

    def test_show_missing_file(self) -> None:
        self.assertIn(
            "no file 'nothing.spec' at commit",
            self.error(self.dg.show, "rpms", "greeter", "main", "nothing.spec"),
        )

    def test_commit_info(self) -> None:
        info = self.dg.commit_info("rpms", "greeter", "main")
        self.assertIsInstance(info, CommitInfo)
        self.assertEqual(
            (info.commit, info.author, info.timestamp, info.files),
            (self.head, "Ann Author <ann@example.org>", 1795169472, ["greeter", "greeter.spec"]),
        )
        self.assertEqual(info.message, f"Import rpms/greeter from {CONTRIB}")

    def test_default_identity_without_any_configuration(self) -> None:
        self.environ(**dict.fromkeys(IDENTITY))
        self.environ(HOME=tempdir(self), XDG_CONFIG_HOME=tempdir(self))  # no user config
        source = self.contrib_copy()
        write(source, "rpms/greeter/NEWS", "news\n")
        dg = DistGit(self.dg.root)
        dg.import_dir(source)
        info = dg.commit_info("rpms", "greeter", "main")
        self.assertEqual(info.author, "bbmod <bbmod@localhost>")
        committer = git(dg.path("rpms", "greeter"), "show", "-s", "--format=%cn <%ce>", "main")
        self.assertEqual(committer, "bbmod <bbmod@localhost>")
        self.assertEqual(info.files, ["NEWS"])

    def test_archive(self) -> None:
        dest = os.path.join(tempdir(self), "greeter.tar")
        self.dg.archive("rpms", "greeter", "main", dest)
        with tarfile.open(dest) as tar:
            self.assertEqual(sorted(tar.getnames()), ["greeter", "greeter.spec"])
            spec = tar.extractfile("greeter.spec")
            assert spec is not None
            self.assertEqual(
                spec.read(), read(os.path.join(CONTRIB, "rpms", "greeter", "greeter.spec"))
            )
            self.assertTrue(tar.getmember("greeter").mode & 0o100)
            self.assertFalse(tar.getmember("greeter.spec").mode & 0o100)


class Refused(Case):
    def import_error(self, source: str, branch: str = "main") -> str:
        """The error of importing ``source`` into a new dist-git, which must stay empty."""
        dg = self.distgit()
        message = self.error(dg.import_dir, source, branch)
        self.assertEqual((dg.repositories("modules"), dg.repositories("rpms")), ([], []))
        return message

    def test_invalid_names(self) -> None:
        source = tempdir(self)
        write(source, "rpms/good/good.spec", "Name: good\n")
        write(source, "rpms/bad name/bad name.spec", "Name: bad\n")
        self.assertEqual(
            self.import_error(source),
            f"{source}/rpms/bad name: error: invalid repository name 'bad name'"
            " (use letters, digits and . _ + - (not first: . _ -))",
        )
        for name in ("-x", "_x", "a@b"):
            source = tempdir(self)
            write(source, f"modules/{name}/{name}.yaml", "x\n")
            self.assertIn(f"invalid repository name {name!r}", self.import_error(source))

    def test_invalid_branches(self) -> None:
        for branch in ("a..b", "-x", "HEAD", "@{-1}", "a b", "main.lock", "", "a~1"):
            message = self.import_error(CONTRIB, branch)
            self.assertIn(f"--branch: error: invalid branch name {branch!r}", message)
        source = tempdir(self)
        write(source, "modules/m/m.yaml", "x\n")
        write(source, "modules/m/streams/bad..stream.yaml", "x\n")
        self.assertIn("invalid branch name 'bad..stream'", self.import_error(source))

    def test_missing_main_files(self) -> None:
        source = tempdir(self)
        write(source, "modules/m/other.yaml", "x\n")
        self.assertEqual(
            self.import_error(source),
            f"{source}/modules/m: error: module folder without m.yaml"
            " (the module definition is <name>.yaml, named as its folder)",
        )
        source = tempdir(self)
        write(source, "rpms/p/p.txt", "x\n")
        self.assertIn("rpms/p: error: package folder without p.spec", self.import_error(source))

    def test_streams_folder_holds_only_yaml_files(self) -> None:
        source = tempdir(self)
        write(source, "modules/m/m.yaml", "x\n")
        write(source, "modules/m/streams/README", "x\n")
        self.assertIn("streams/ may only hold <stream>.yaml files", self.import_error(source))
        source = tempdir(self)
        write(source, "modules/m/m.yaml", "x\n")
        write(source, "modules/m/streams/main.yaml", "x\n")
        self.assertIn("branch 'main' would get two different contents", self.import_error(source))

    def test_nothing_to_import(self) -> None:
        source = tempdir(self)
        write(source, "README", "x\n")
        self.assertIn("nothing to import: no modules/ or rpms/ folder", self.import_error(source))
        missing = os.path.join(source, "missing")
        self.assertEqual(
            self.import_error(missing),
            f"{missing}: error: no such folder (give the folder to import)",
        )

    def test_special_files(self) -> None:
        source = tempdir(self)
        write(source, "rpms/p/p.spec", "x\n")
        os.mkfifo(os.path.join(source, "rpms", "p", "pipe"))
        self.assertIn("rpms/p/pipe: error: neither a file", self.import_error(source))

    def test_plain_folder_in_the_way(self) -> None:
        dg = self.distgit()
        os.mkdir(os.path.join(dg.root, "rpms", "greeter"))
        self.assertIn(
            "rpms/greeter exists but is not a bare git repository",
            self.error(dg.import_dir, CONTRIB),
        )


class Layouts(Case):
    def test_git_folders_are_left_out_and_links_kept(self) -> None:
        source = tempdir(self)
        write(source, "rpms/p/p.spec", "Name: p\n")
        write(source, "rpms/p/.git/config", "[core]\n")
        write(source, "rpms/p/sub/.git", "gitdir: elsewhere\n")
        write(source, "rpms/p/sub/data.txt", "data\n")
        write(source, "rpms/p/.gitignore", "*.txt\n")
        os.symlink("p.spec", os.path.join(source, "rpms", "p", "link.spec"))
        os.symlink("sub", os.path.join(source, "rpms", "p", "linkdir"))
        write(source, "rpms/README", "not a repository\n")
        dg = self.distgit()
        dg.import_dir(source)
        self.assertEqual(dg.repositories("rpms"), ["p"])
        self.assertEqual(
            dg.changed_files("rpms", "p", None, "main"),
            [".gitignore", "link.spec", "linkdir", "p.spec", "sub/data.txt"],
        )
        tree = git(dg.path("rpms", "p"), "ls-tree", "main")
        self.assertIn("120000 blob", [line[:11] for line in tree.splitlines()])
        self.assertEqual(dg.show("rpms", "p", "main", "link.spec"), b"p.spec")
        self.assertEqual(dg.show("rpms", "p", "main", "linkdir"), b"sub")

    def test_package_branches_folders(self) -> None:
        source = tempdir(self)
        write(source, "rpms/g/branches/1.0/g.spec", "Version: 1.0\n")
        write(source, "rpms/g/branches/2.0/g.spec", "Version: 2.0\n")
        write(source, "rpms/g/branches/2.0/extra/g.conf", "x\n")
        dg = self.distgit()
        results = dg.import_dir(source)
        self.assertEqual([(r.name, r.branch) for r in results], [("g", "1.0"), ("g", "2.0")])
        self.assertEqual(sorted(dg.heads("rpms", "g")), ["1.0", "2.0"])
        self.assertEqual(dg.show("rpms", "g", "2.0", "g.spec"), b"Version: 2.0\n")
        self.assertEqual(dg.changed_files("rpms", "g", None, "2.0"), ["extra/g.conf", "g.spec"])
        # No main branch here: HEAD names a branch that exists, so clones check it out.
        self.assertEqual(git(dg.path("rpms", "g"), "symbolic-ref", "HEAD"), "refs/heads/1.0")
        write(source, "rpms/g/g.spec", "Version: 3.0\n")
        results = dg.import_dir(source)
        self.assertEqual(
            [(r.branch, r.changed) for r in results],
            [("1.0", False), ("2.0", False), ("main", True)],
        )
        self.assertEqual(dg.changed_files("rpms", "g", None, "main"), ["g.spec"])

    def test_package_branch_without_spec(self) -> None:
        source = tempdir(self)
        write(source, "rpms/g/g.spec", "x\n")
        write(source, "rpms/g/branches/1.0/README", "x\n")
        dg = self.distgit()
        self.assertIn(
            "rpms/g/branches/1.0: error: package folder without g.spec",
            self.error(dg.import_dir, source),
        )


class Cli(Case):
    def test_init_and_import(self) -> None:
        root = os.path.join(tempdir(self), "dg")
        proc = bbmod("distgit", "init", root)
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, f"{root}\n", ""))
        proc = bbmod("distgit", "init", root)
        self.assertEqual((proc.returncode, proc.stdout), (0, f"{root}\n"))
        proc = bbmod("distgit", "import", root, CONTRIB)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        dg = DistGit(root)
        lines = proc.stdout.splitlines()
        self.assertEqual(len(lines), len(MODULES) + len(PACKAGES) + 3)
        hello = dg.heads("modules", "hello")["main"]
        self.assertIn(f"modules/hello main {hello[:7]} (new commit)", lines)
        greeter = dg.heads("modules", "greeter")["2.0"]
        self.assertIn(f"modules/greeter 2.0 {greeter[:7]} (new commit)", lines)
        proc = bbmod("distgit", "import", root, CONTRIB)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(
            proc.stdout.splitlines(),
            [line.replace("(new commit)", "(unchanged)") for line in lines],
        )

    def test_branch_option(self) -> None:
        root = os.path.join(tempdir(self), "dg")
        bbmod("distgit", "init", root)
        proc = bbmod("distgit", "import", root, CONTRIB, "--branch", "f39")
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertEqual(sorted(DistGit(root).heads("modules", "hello")), ["f39"])
        self.assertEqual(sorted(DistGit(root).heads("modules", "greeter")), ["1.0", "2.0"])
        proc = bbmod("distgit", "import", root, CONTRIB, "--branch", "a..b")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("--branch: error: invalid branch name 'a..b'", proc.stdout)

    def test_errors(self) -> None:
        folder = tempdir(self)
        proc = bbmod("distgit", "import", folder, CONTRIB)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(
            proc.stdout,
            f"{folder}: error: not a dist-git (it needs the folders modules/ and rpms/)"
            " (create one with `bbmod distgit init ROOT`)\n",
        )
        root = os.path.join(folder, "dg")
        bbmod("distgit", "init", root)
        empty = os.path.join(folder, "empty")
        os.mkdir(empty)
        proc = bbmod("distgit", "import", root, empty)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(f"{empty}: error: nothing to import", proc.stdout)
        proc = bbmod("distgit", "init", write(folder, "file", "x"))
        self.assertEqual(proc.returncode, 1)
        self.assertIn("cannot create", proc.stdout)

    def test_usage(self) -> None:
        for args in (("distgit",), ("distgit", "import", "root"), ("distgit", "push", "x")):
            proc = bbmod(*args)
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn("usage: bbmod distgit", proc.stderr)
