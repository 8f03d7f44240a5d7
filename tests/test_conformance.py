"""Our loader's verdict on every corpus document equals libmodulemd's own."""

from __future__ import annotations

import contextlib
import os
from collections import Counter

from twisted.trial import unittest

from buildbot_modules.core.documents import load_file, modulemd
from buildbot_modules.core.lint import lint_file
from buildbot_modules.core.problems import ModuleError

from .helpers import corpus, corpus_documents

# libmodulemd leaves these to callers: a ModuleIndex ignores packager documents and
# refuses nameless streams, so the reference reads those with read_packager_string.
_DEFERRED = (
    "modulemd-packager document ignored",
    "module and stream names are required",
)


def reference_verdict(path: str) -> Counter[str] | None:
    """libmodulemd on the whole file: Counter of 'valid'/'invalid' documents, or None if
    the file as a whole is unreadable. Valid translations are not counted: an index
    merges them per stream and cannot say how many documents there were."""
    from gi.repository import GLib

    Modulemd = modulemd()
    index = Modulemd.ModuleIndex.new()
    try:
        _ok, failures = index.update_from_file(path, True)
    except GLib.Error:
        return None
    verdict: Counter[str] = Counter()
    for name in index.get_module_names():
        module = index.get_module(name)
        verdict["valid"] += len(module.get_all_streams())
        verdict["valid"] += module.get_defaults() is not None
        verdict["valid"] += len(module.get_obsoletes())
    for failure in failures:
        message = failure.get_gerror().message
        if not any(d in message for d in _DEFERRED):
            verdict["invalid"] += 1
            continue
        try:
            _kind, obj = Modulemd.read_packager_string(failure.get_yaml(), "n", "s")
            streams = (
                _streams_of(obj.convert_to_index())
                if isinstance(obj, Modulemd.PackagerV3)
                else [obj]
            )
            for stream in streams:
                stream.validate()
            verdict["valid"] += len(streams)
        except GLib.Error:
            verdict["invalid"] += 1
    return verdict


def _streams_of(index: object) -> list[object]:
    return [
        s
        for name in index.get_module_names()  # type: ignore[attr-defined]
        for s in index.get_module(name).get_all_streams()  # type: ignore[attr-defined]
    ]


def our_verdict(path: str) -> Counter[str] | None:
    try:
        documents = load_file(path, "n", "s")
    except ModuleError:
        return None
    verdict: Counter[str] = Counter()
    for doc in documents:
        if doc.valid and doc.kind == "modulemd-translations":
            continue
        if doc.valid:
            verdict["valid"] += max(1, len(doc.streams))
        else:
            verdict["invalid"] += 1
    return verdict


def _outcome(verdict: Counter[str] | None) -> tuple[int, bool]:
    """(valid documents, anything rejected); an unreadable file is rejected whole."""
    if verdict is None:
        return (0, True)
    return (verdict["valid"], verdict["invalid"] > 0)


class Conformance(unittest.TestCase):
    def test_every_corpus_document(self) -> None:
        files = corpus_documents()
        # Every document type libmodulemd reads is in the corpus.
        kinds = set()
        for path in files:
            with contextlib.suppress(ModuleError):
                kinds.update((d.kind, d.version) for d in load_file(path, "n", "s"))
        for kind in [
            ("modulemd", 1),
            ("modulemd", 2),
            ("modulemd-packager", 2),
            ("modulemd-packager", 3),
            ("modulemd-defaults", 1),
            ("modulemd-obsoletes", 1),
            ("modulemd-translations", 1),
        ]:
            self.assertIn(kind, kinds)
        disagreements = []
        for path in files:
            ours, theirs = _outcome(our_verdict(path)), _outcome(reference_verdict(path))
            if ours != theirs:
                disagreements.append(
                    f"{os.path.relpath(path, corpus())}: ours {ours} libmodulemd {theirs}"
                )
        self.assertEqual(disagreements, [])
        self.assertGreater(len(files), 80)

    def test_known_verdicts(self) -> None:
        # Spot checks that the comparison above compares something.
        self.assertEqual(
            our_verdict(corpus("test_data", "f29.yaml")), Counter(valid=48 + 7)
        )  # 48 streams, 7 defaults
        self.assertEqual(our_verdict(corpus("test_data", "bad_stream_v2.yaml")), Counter(invalid=1))
        self.assertIsNone(our_verdict(corpus("test_data", "valid_defaults_with_garbage.yaml")))
        good_and_bad = our_verdict(corpus("test_data", "good_and_bad.yaml"))
        self.assertEqual(good_and_bad, Counter(valid=2, invalid=1))

    def test_f29_index_loads_and_lint_reports_policy(self) -> None:
        path = corpus("test_data", "f29.yaml")
        documents = load_file(path)
        self.assertTrue(all(d.valid for d in documents))
        self.assertEqual(sum(len(d.streams) for d in documents), 48)
        problems = lint_file(path)
        self.assertTrue(problems)
        # Every finding is policy (the git:// and git+https:// URLs), none a load failure.
        self.assertTrue(all("repository" in p.message for p in problems), problems)
        self.assertTrue(
            any(
                "git://pkgs.fedoraproject.org/rpms/perl-List-Compare" in p.message for p in problems
            )
        )
        self.assertTrue(all(p.line and p.line > 1 for p in problems))

    def test_upgrade_packager_v3_like_libmodulemd(self) -> None:
        from buildbot_modules.core.module import load_modules

        modules = load_modules(corpus("yaml_specs", "modulemd_packager_v3.yaml"))
        self.assertEqual(
            [(m.name, m.stream, m.context) for m in modules],
            [("foo", "latest", "CTX1"), ("foo", "latest", "CTX2")],
        )
        self.assertTrue(all(m.static_context for m in modules))
        self.assertEqual(
            dict(modules[0].dependencies[0].buildrequires),
            {"appframework": ("v1",), "platform": ("f32",)},
        )
        self.assertEqual(modules[0].components["bar"].package, "bar-real")
