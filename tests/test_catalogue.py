"""Tests for buildbot_modules.core.catalogue, against Fedora 29's real module metadata."""

from __future__ import annotations

import bz2
import functools
import gzip
import http.server
import lzma
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from typing import Any

from twisted.trial import unittest

from buildbot_modules.core.catalogue import (
    CatalogueEntry,
    ChainCatalogue,
    InMemoryCatalogue,
    ModuleCatalogue,
    RepoCatalogue,
    merge_dependencies,
    open_catalogue,
)
from buildbot_modules.core.problems import ModuleError

from .helpers import corpus

# Builds pinned from Fedora 29's modules.yaml (test_data/f29.yaml) and its updates
# repository (test_data/f29-updates.yaml).
NODEJS_10_F29 = "nodejs:10:20180920144631:6c81f848"
NODEJS_10_UPDATES = "nodejs:10:20181101171344:6c81f848"
LIBGIT2_026_F29 = "libgit2:0.26:20180928101841:6c81f848"
LIBGIT2_026_UPDATES = "libgit2:0.26:20181103165214:6c81f848"

V1_STREAM = """\
---
document: modulemd
version: 1
data:
  name: nodejs
  stream: 8
  version: 20180816123422
  context: 6c81f848
  arch: x86_64
  summary: Javascript runtime
  description: Node.js
  license:
    module: [MIT]
  dependencies:
    buildrequires:
      platform: f29
    requires:
      platform: f29
      python3: "3.6"
...
"""


def corpus_file(name: str) -> str:
    """A file of the libmodulemd corpus, or skip the test when the corpus is absent."""
    return corpus("test_data", name)


def nsvcs(entries: list[CatalogueEntry]) -> list[str]:
    return [e.nsvc for e in entries]


def make_repo(test: unittest.TestCase, modules: str | None) -> str:
    """A repository made by createrepo_c, with ``modules`` added by modifyrepo_c."""
    if shutil.which("createrepo_c") is None or shutil.which("modifyrepo_c") is None:
        raise unittest.SkipTest("needs createrepo_c and modifyrepo_c (Debian: createrepo-c)")
    repo = test.mktemp()
    os.makedirs(repo)
    subprocess.run(["createrepo_c", "--quiet", repo], check=True, capture_output=True)
    if modules is not None:
        source = os.path.join(test.mktemp() + "-modules", "modules.yaml")
        os.makedirs(os.path.dirname(source))
        shutil.copy(modules, source)
        subprocess.run(
            ["modifyrepo_c", "--mdtype=modules", source, os.path.join(repo, "repodata")],
            check=True,
            capture_output=True,
        )
    return repo


def modules_file_of(repo: str) -> str:
    """The modules file modifyrepo_c placed in ``repo``."""
    names = [n for n in os.listdir(os.path.join(repo, "repodata")) if "modules" in n]
    assert len(names) == 1, names
    return os.path.join(repo, "repodata", names[0])


class F29Checks:
    """Assertions about Fedora 29's metadata, whatever way the catalogue read it."""

    def check_f29(self, test: unittest.TestCase, catalogue: ModuleCatalogue) -> None:
        test.assertEqual(catalogue.streams("reviewboard"), ["2.5", "3.0"])
        test.assertEqual(catalogue.streams("dwm"), ["6.0", "6.1", "latest"])
        test.assertEqual(catalogue.streams("no-such-module"), [])
        test.assertEqual(nsvcs(catalogue.builds("nodejs", "10")), [NODEJS_10_F29])
        (build,) = catalogue.builds("reviewboard", "3.0")
        test.assertEqual(build.version, 20180828143238)
        test.assertEqual(build.context, "083bce86")
        test.assertEqual(build.arch, "x86_64")
        test.assertEqual(dict(build.requires), {"django": ("1.6",), "platform": ("f29",)})


class RepoCatalogueFileTests(unittest.TestCase, F29Checks):
    """A modules.yaml file, plain or compressed."""

    def test_f29_streams_and_builds(self) -> None:
        catalogue = RepoCatalogue(corpus_file("f29.yaml"))
        self.check_f29(self, catalogue)
        self.assertEqual(catalogue.streams("nodejs"), ["10", "8"])
        self.assertEqual(catalogue.builds("nodejs", "9"), [])
        self.assertEqual(catalogue.warnings, [])

    def test_runtime_and_buildtime_requires_differ(self) -> None:
        catalogue = RepoCatalogue(corpus_file("f29.yaml"))
        (stratis,) = catalogue.builds("stratis", "1")
        self.assertEqual(stratis.nsvc, "stratis:1:20180927214347:7a127764")
        self.assertEqual(dict(stratis.requires), {"platform": ("f29",)})
        self.assertEqual(dict(stratis.buildrequires), {"platform": ("f30",)})
        # `platform: []` (any stream) stays empty.
        (ripgrep,) = catalogue.builds("ripgrep", "main")
        self.assertEqual(dict(ripgrep.requires), {"platform": ()})
        self.assertEqual(dict(ripgrep.buildrequires), {"platform": ("f29",)})

    def test_builds_newest_first(self) -> None:
        # f29 and its updates in one file, like a compose that kept both versions.
        both = self.mktemp()
        with open(both, "wb") as out:
            for name in ("f29.yaml", "f29-updates.yaml"):
                with open(corpus_file(name), "rb") as f:
                    out.write(f.read())
        catalogue = RepoCatalogue(both)
        self.assertEqual(
            nsvcs(catalogue.builds("libgit2", "0.26")), [LIBGIT2_026_UPDATES, LIBGIT2_026_F29]
        )
        self.assertEqual(
            nsvcs(catalogue.builds("nodejs", "10")), [NODEJS_10_UPDATES, NODEJS_10_F29]
        )
        self.assertEqual(catalogue.streams("nodejs"), ["10", "11", "8"])

    def _compressed(self, suffix: str, compress: Any) -> str:
        with open(corpus_file("f29.yaml"), "rb") as f:
            data = f.read()
        directory = self.mktemp()
        os.makedirs(directory)
        path = os.path.join(directory, "modules.yaml" + suffix)
        with open(path, "wb") as f:
            f.write(compress(data))
        return path

    def test_gzip(self) -> None:
        self.check_f29(self, RepoCatalogue(self._compressed(".gz", gzip.compress)))

    def test_xz(self) -> None:
        self.check_f29(self, RepoCatalogue(self._compressed(".xz", lzma.compress)))

    def test_bzip2(self) -> None:
        self.check_f29(self, RepoCatalogue(self._compressed(".bz2", bz2.compress)))

    def test_zstd(self) -> None:
        if shutil.which("zstd") is None:
            raise unittest.SkipTest("needs the zstd command to make a .zst file")
        plain = self._compressed("", lambda data: data)
        subprocess.run(["zstd", "-q", plain], check=True)
        os.unlink(plain)
        self.check_f29(self, RepoCatalogue(plain + ".zst"))

    def test_file_url(self) -> None:
        self.check_f29(self, RepoCatalogue("file://" + corpus_file("f29.yaml")))

    def test_v1_streams_are_upgraded(self) -> None:
        path = self.mktemp() + ".yaml"
        with open(path, "w") as f:
            f.write(V1_STREAM)
        (build,) = RepoCatalogue(path).builds("nodejs", "8")
        self.assertEqual(build.nsvca, "nodejs:8:20180816123422:6c81f848:x86_64")
        self.assertEqual(dict(build.requires), {"platform": ("f29",), "python3": ("3.6",)})
        self.assertEqual(dict(build.buildrequires), {"platform": ("f29",)})

    def test_bad_documents_are_skipped_with_a_warning(self) -> None:
        path = corpus_file("good_and_bad.yaml")
        catalogue = RepoCatalogue(path)
        self.assertEqual(catalogue.streams("nodejs"), ["11", "8"])
        (warning,) = catalogue.warnings
        self.assertEqual(warning.severity, "warning")
        self.assertEqual(warning.source, path)
        self.assertIn("1 document could not be read", warning.message)
        self.assertIn("No data section provided", warning.message)

    def test_loads_lazily_and_once(self) -> None:
        path = self.mktemp() + ".yaml"
        catalogue = RepoCatalogue(path)  # does not exist yet: nothing is read here
        self.assertFalse(catalogue.loaded)
        shutil.copy(corpus_file("f29.yaml"), path)
        self.assertEqual(catalogue.streams("reviewboard"), ["2.5", "3.0"])
        self.assertTrue(catalogue.loaded)
        os.unlink(path)
        self.assertEqual(catalogue.streams("dwm"), ["6.0", "6.1", "latest"])
        self.assertIn(path, catalogue.describe())


class RepoCatalogueErrorTests(unittest.TestCase):
    """Every failure is a ModuleError naming the location, with a hint."""

    def assert_error(self, location: str, *fragments: str) -> ModuleError:
        catalogue = RepoCatalogue(location)
        error = self.assertRaises(ModuleError, catalogue.streams, "nodejs")
        self.assertEqual(error.source, location)
        for fragment in fragments:
            self.assertIn(fragment, error.message)
        self.assertTrue(error.hint)
        self.assertFalse(catalogue.loaded)
        return error

    def test_missing_path(self) -> None:
        error = self.assert_error(os.path.join(self.mktemp(), "modules.yaml"), "no such file")
        self.assertIn("modules.yaml", error.hint)

    def test_missing_file_url(self) -> None:
        path = os.path.join(self.mktemp(), "modules.yaml")
        self.assert_error("file://" + os.path.abspath(path), "no such file", os.path.abspath(path))

    def test_directory_that_is_not_a_repository(self) -> None:
        directory = self.mktemp()
        os.makedirs(directory)
        error = self.assert_error(directory, "not a repository", "repodata/repomd.xml")
        self.assertIn("createrepo_c", error.hint)

    def test_repository_without_modules(self) -> None:
        repo = make_repo(self, None)
        error = self.assert_error(repo, "not a module repository")
        self.assertIn("modifyrepo_c --mdtype=modules", error.hint)

    def test_garbage_yaml(self) -> None:
        path = self.mktemp() + ".yaml"
        with open(path, "w") as f:
            f.write("this: is: not: yaml: [\n")
        error = self.assert_error(path, "libmodulemd", "Unexpected YAML event")
        self.assertEqual(error.line, 1)

    def test_yaml_without_any_module(self) -> None:
        path = self.mktemp() + ".yaml"
        with open(path, "w") as f:
            f.write("foo: bar\n")
        self.assert_error(path, "no module could be read", "1 document failed")

    def test_unsupported_scheme(self) -> None:
        self.assert_error("ftp://example.org/repo", "unsupported URL scheme 'ftp'")

    def test_checksum_mismatch(self) -> None:
        repo = make_repo(self, corpus_file("f29.yaml"))
        with open(modules_file_of(repo), "ab") as f:
            f.write(b"\0")
        self.assert_error(repo, "checksum mismatch")

    def test_modules_file_named_but_missing(self) -> None:
        repo = make_repo(self, corpus_file("f29.yaml"))
        os.unlink(modules_file_of(repo))
        self.assert_error(repo, "which is missing")


class RepoCatalogueRepositoryTests(unittest.TestCase, F29Checks):
    """A repository made by createrepo_c and modifyrepo_c, as the compose step makes it."""

    def test_repository_directory(self) -> None:
        repo = make_repo(self, corpus_file("f29.yaml"))
        self.assertTrue(modules_file_of(repo).endswith(".gz"))  # modifyrepo_c compresses
        self.check_f29(self, RepoCatalogue(repo))

    def test_repository_file_url_and_repomd_path(self) -> None:
        repo = make_repo(self, corpus_file("f29.yaml"))
        self.check_f29(self, RepoCatalogue("file://" + os.path.abspath(repo) + "/"))
        self.check_f29(self, RepoCatalogue(os.path.join(repo, "repodata", "repomd.xml")))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class RepoCatalogueHTTPTests(unittest.TestCase, F29Checks):
    """Repositories and files served over HTTP by a local server."""

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        handler = functools.partial(QuietHandler, directory=self.root)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join()

        self.addCleanup(stop)
        # Downloads go to a directory of this test, to see that they are removed.
        self.tmp = os.path.abspath(self.mktemp())
        os.makedirs(self.tmp)
        self.patch(tempfile, "tempdir", self.tmp)

    def serve_repo(self, name: str, modules: str | None) -> str:
        shutil.move(make_repo(self, modules), os.path.join(self.root, name))
        return f"{self.url}/{name}"

    def test_repository_url(self) -> None:
        url = self.serve_repo("f29", corpus_file("f29.yaml"))
        self.check_f29(self, RepoCatalogue(url))
        self.check_f29(self, RepoCatalogue(url + "/"))
        self.check_f29(self, RepoCatalogue(url + "/repodata/repomd.xml"))
        self.assertEqual(os.listdir(self.tmp), [])

    def test_modules_file_url(self) -> None:
        shutil.copy(corpus_file("f29.yaml"), os.path.join(self.root, "modules.yaml"))
        self.check_f29(self, RepoCatalogue(self.url + "/modules.yaml"))
        self.assertEqual(os.listdir(self.tmp), [])

    def test_lazy(self) -> None:
        catalogue = RepoCatalogue(self.url + "/later.yaml")  # not served yet: nothing is read
        shutil.copy(corpus_file("f29.yaml"), os.path.join(self.root, "later.yaml"))
        self.assertEqual(catalogue.streams("reviewboard"), ["2.5", "3.0"])

    def assert_http_error(self, location: str, *fragments: str) -> None:
        error = self.assertRaises(ModuleError, RepoCatalogue(location).load)
        self.assertEqual(error.source, location)
        for fragment in fragments:
            self.assertIn(fragment, error.message)
        self.assertTrue(error.hint)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_404_modules_file(self) -> None:
        self.assert_http_error(self.url + "/missing/modules.yaml.gz", "HTTP 404")

    def test_404_repository(self) -> None:
        os.makedirs(os.path.join(self.root, "empty"))
        self.assert_http_error(self.url + "/empty", "HTTP 404", "/empty/repodata/repomd.xml")

    def test_repository_url_without_modules(self) -> None:
        url = self.serve_repo("plain", None)
        self.assert_http_error(url, "not a module repository")

    def test_garbage_over_http(self) -> None:
        with open(os.path.join(self.root, "modules.yaml"), "w") as f:
            f.write("this: is: not: yaml: [\n")
        self.assert_http_error(self.url + "/modules.yaml", "libmodulemd")

    def test_connection_refused(self) -> None:
        with socket.socket() as s:  # a port nothing listens on: bound, never listening
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            self.assert_http_error(f"http://127.0.0.1:{port}/repo", "cannot download")


def entry(name: str, stream: str, version: int, context: str = "00000000") -> CatalogueEntry:
    return CatalogueEntry(name, stream, version, context, {}, {})


class CatalogueEntryTests(unittest.TestCase):
    def test_nsvc_and_nsvca(self) -> None:
        built = CatalogueEntry("nodejs", "10", 3, "abcdef01", {}, {}, arch="x86_64")
        self.assertEqual(built.nsvc, "nodejs:10:3:abcdef01")
        self.assertEqual(built.nsvca, "nodejs:10:3:abcdef01:x86_64")
        self.assertEqual(entry("nodejs", "10", 3).nsvca, "nodejs:10:3:00000000")

    def test_dependencies_are_frozen_tuples(self) -> None:
        requires = {"platform": ["f29"]}
        built = CatalogueEntry("a", "1", 1, "c", requires, {})  # type: ignore[arg-type]
        requires["platform"].append("f30")
        self.assertEqual(dict(built.requires), {"platform": ("f29",)})
        with self.assertRaises(TypeError):
            built.requires["x"] = ()  # type: ignore[index]

    def test_equal_entries_hash_equal(self) -> None:
        one = CatalogueEntry("a", "1", 1, "c", {"platform": ("f29",)}, {})
        two = CatalogueEntry("a", "1", 1, "c", {"platform": ("f29",)}, {})
        other = CatalogueEntry("a", "1", 1, "c", {"platform": ("f30",)}, {})
        self.assertEqual(one, two)
        self.assertNotEqual(one, other)
        self.assertEqual(len({one, two, other}), 2)


class InMemoryCatalogueTests(unittest.TestCase):
    def test_with_streams(self) -> None:
        catalogue = InMemoryCatalogue.with_streams(
            {"platform": ["f39", "f38"], "nodejs": ["20", "18", "20"]}
        )
        self.assertIsInstance(catalogue, ModuleCatalogue)
        self.assertEqual(catalogue.streams("platform"), ["f38", "f39"])
        self.assertEqual(catalogue.streams("nodejs"), ["18", "20"])
        self.assertEqual(catalogue.streams("perl"), [])
        self.assertEqual(nsvcs(catalogue.builds("nodejs", "20")), ["nodejs:20:1:00000000"])

    def test_builds_newest_first_and_replaced(self) -> None:
        catalogue = InMemoryCatalogue([entry("perl", "5.26", 2), entry("perl", "5.24", 9)])
        catalogue.add(entry("perl", "5.26", 7))
        catalogue.add(entry("perl", "5.26", 4))
        catalogue.add(CatalogueEntry("perl", "5.26", 4, "00000000", {"platform": ("f29",)}, {}))
        builds = catalogue.builds("perl", "5.26")
        self.assertEqual([b.version for b in builds], [7, 4, 2])
        self.assertEqual(dict(builds[1].requires), {"platform": ("f29",)})
        self.assertIn("4 builds", catalogue.describe())


class ChainCatalogueTests(unittest.TestCase):
    def test_union_and_order(self) -> None:
        first = InMemoryCatalogue(
            [entry("nodejs", "10", 5, "aaaaaaaa"), entry("nodejs", "10", 1), entry("go", "1", 1)]
        )
        second = InMemoryCatalogue(
            [
                entry("nodejs", "10", 7),
                entry("nodejs", "10", 5, "bbbbbbbb"),
                entry("nodejs", "12", 1),
            ]
        )
        chain = ChainCatalogue([first, second])
        self.assertIsInstance(chain, ModuleCatalogue)
        self.assertEqual(chain.streams("nodejs"), ["10", "12"])
        self.assertEqual(chain.streams("go"), ["1"])
        self.assertEqual(
            nsvcs(chain.builds("nodejs", "10")),
            [
                "nodejs:10:7:00000000",
                "nodejs:10:5:aaaaaaaa",  # same version: the first catalogue's first
                "nodejs:10:5:bbbbbbbb",
                "nodejs:10:1:00000000",
            ],
        )
        self.assertEqual(chain.describe(), f"{first.describe()}, then {second.describe()}")

    def test_same_build_in_two_catalogues_listed_once(self) -> None:
        first = InMemoryCatalogue([CatalogueEntry("a", "1", 3, "c", {"platform": ("f29",)}, {})])
        second = InMemoryCatalogue([entry("a", "1", 3, "c"), entry("a", "1", 2, "c")])
        builds = ChainCatalogue([first, second]).builds("a", "1")
        self.assertEqual([b.version for b in builds], [3, 2])
        self.assertEqual(dict(builds[0].requires), {"platform": ("f29",)})

    def test_f29_and_updates(self) -> None:
        chain = open_catalogue([corpus_file("f29.yaml"), corpus_file("f29-updates.yaml")])
        self.assertEqual(chain.streams("nodejs"), ["10", "11", "8"])
        self.assertEqual(
            nsvcs(chain.builds("libgit2", "0.26")), [LIBGIT2_026_UPDATES, LIBGIT2_026_F29]
        )
        self.assertEqual(nsvcs(chain.builds("nodejs", "8")), ["nodejs:8:20180816123422:6c81f848"])

    def test_open_catalogue_is_lazy_and_load_surfaces_errors(self) -> None:
        missing = os.path.join(self.mktemp(), "modules.yaml")
        chain = open_catalogue([corpus_file("f29.yaml"), missing])
        self.assertEqual(
            [c.location for c in chain.catalogues if isinstance(c, RepoCatalogue)],
            [corpus_file("f29.yaml"), missing],
        )
        error = self.assertRaises(ModuleError, chain.load)
        self.assertEqual(error.source, missing)
        self.assertIn(missing, chain.describe())
        self.assertRaises(TypeError, open_catalogue, missing)

    def test_warnings_collected(self) -> None:
        chain = open_catalogue([corpus_file("f29.yaml"), corpus_file("good_and_bad.yaml")])
        chain.load()
        self.assertEqual([w.source for w in chain.warnings], [corpus_file("good_and_bad.yaml")])

    def test_empty(self) -> None:
        chain = open_catalogue([])
        self.assertEqual(chain.streams("platform"), [])
        self.assertEqual(chain.builds("platform", "f29"), [])


class MergeDependenciesTests(unittest.TestCase):
    def test_union_of_alternatives(self) -> None:
        merged = merge_dependencies(
            [{"platform": ["f30"], "python3": ["3.6"]}, {"platform": ["f29", "f30"]}]
        )
        self.assertEqual(merged, {"platform": ("f29", "f30"), "python3": ("3.6",)})

    def test_any_stream_wins(self) -> None:
        self.assertEqual(
            merge_dependencies([{"platform": ["f29"]}, {"platform": []}]), {"platform": ()}
        )

    def test_exclusions(self) -> None:
        merged = merge_dependencies(
            [{"platform": ["-f27", "-f28"]}, {"platform": ["-f28", "-f29"]}, {"platform": ["f28"]}]
        )
        # f27 and f29 are each allowed by one alternative, f28 by the last one.
        self.assertEqual(merged, {"platform": ()})
        self.assertEqual(
            merge_dependencies([{"platform": ["-f28"]}, {"platform": ["f30"]}]),
            {"platform": ("-f28",)},
        )
