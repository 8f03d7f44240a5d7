"""`lint`: our rules beyond libmodulemd, each one justified by a case libmodulemd accepts
or stops too early on, and the bounds that protect the loader."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap

from twisted.trial import unittest

from buildbot_modules.core.documents import load_text
from buildbot_modules.core.lint import LintPolicy, lint_text, valid_ref

from .helpers import ROOT, tempdir, write

V3 = """\
document: modulemd-packager
version: 3
data:
  name: demo
  stream: main
  summary: A demo module
  description: >-
    A demo module.
  license: [MIT]
  configurations:
    - context: ctx1
      platform: f39
  components:
    rpms:
{components}
"""


def v3(components: str, **replace: str) -> str:
    text = V3.format(components=textwrap.indent(textwrap.dedent(components), "      "))
    for old, new in replace.items():
        text = text.replace(old.replace("_", " "), new)
    return text


def messages(text: str, policy: LintPolicy | None = None) -> list[str]:
    return [p.format() for p in lint_text(text, "m.yaml", policy=policy)]


def libmodulemd_accepts(text: str) -> bool:
    return all(d.valid for d in load_text(text, "m.yaml"))


class Rules(unittest.TestCase):
    def test_valid_module_has_no_problem(self) -> None:
        text = v3("""\
            a:
              rationale: Needed.
              ref: main
            b:
              rationale: Needed.
              ref: 0123abcd
              buildafter: [a]
            """)
        self.assertEqual(messages(text), [])

    def test_missing_rationale_libmodulemd_accepts(self) -> None:
        text = v3("""\
            a:
              ref: main
            b:
              rationale: Needed.
            c: {}
            """)
        self.assertTrue(libmodulemd_accepts(text))
        found = messages(text)
        self.assertEqual(len(found), 2, found)
        self.assertIn("m.yaml:15: error: component a has no rationale", found[0])
        self.assertIn("component c has no rationale", found[1])

    def test_every_problem_at_once(self) -> None:
        # libmodulemd reports only its first error; we report all of them.
        text = textwrap.dedent("""\
            document: modulemd
            version: 2
            data:
              name: demo
              stream: main
              components:
                rpms:
                  -bad:
                    rationale: Needed.
                  ok:
                    ref: "bad..ref"
                    repository: git://example.org/x.git
            """)
        found = messages(text)
        joined = "\n".join(found)
        for expected in (
            "summary is missing",
            "description is missing",
            "license.module is missing",
            "m.yaml:8: error: component name '-bad' is not a valid RPM name",
            "m.yaml:11: error: ref 'bad..ref' is neither",
            "m.yaml:12: error: repository 'git://example.org/x.git' uses git scheme",
            "component ok has no rationale",
        ):
            self.assertIn(expected, joined)
        # Each problem on its own line, as FILE:LINE: error: message (hint).
        for line in found:
            self.assertRegex(line, r"^m\.yaml:\d+: error: .+")

    def test_buildorder_mixed_with_buildafter(self) -> None:
        found = messages(
            v3("""\
            a:
              rationale: Needed.
              buildorder: 1
            b:
              rationale: Needed.
              buildafter: [a]
            """)
        )
        self.assertTrue(any("buildorder (a) and buildafter (b) are mixed" in m for m in found))
        found = messages(
            v3("""\
            a:
              rationale: Needed.
            b:
              rationale: Needed.
              buildorder: 1
              buildafter: [a]
            """)
        )
        self.assertTrue(any("component b sets both buildorder and buildafter" in m for m in found))
        # libmodulemd's own message is not repeated once ours says it better.
        self.assertFalse(any("libmodulemd" in m for m in found), found)

    def test_buildafter_unknown(self) -> None:
        found = messages(
            v3("""\
            a:
              rationale: Needed.
              buildafter: [nosuch, b]
            b:
              rationale: Needed.
              buildafter: [ghost]
            """)
        )
        self.assertEqual(sum("which is not a component" in m for m in found), 2, found)
        self.assertTrue(any("m.yaml:17:" in m and "'nosuch'" in m for m in found), found)

    def test_cycles_name_every_component(self) -> None:
        text = v3("""\
            a:
              rationale: Needed.
              buildafter: [c]
            b:
              rationale: Needed.
              buildafter: [a]
            c:
              rationale: Needed.
              buildafter: [b]
            d:
              rationale: Needed.
              buildafter: [e]
            e:
              rationale: Needed.
              buildafter: [d]
            f:
              rationale: Needed.
              buildafter: [a]
            """)
        # libmodulemd accepts a cyclic buildafter; a build would wait forever.
        self.assertTrue(libmodulemd_accepts(text))
        cycles = [m for m in messages(text) if "cycle" in m]
        self.assertEqual(len(cycles), 2, cycles)
        self.assertIn("buildafter cycle: a -> c -> b -> a (a, b, c wait for each other)", cycles[0])
        self.assertIn("buildafter cycle: d -> e -> d", cycles[1])
        # f waits for the cycle but is not on it.
        self.assertNotIn(" f ", cycles[0])
        self.assertNotIn(", f", cycles[0])

    def test_self_cycle(self) -> None:
        found = messages(
            v3("""\
            a:
              rationale: Needed.
              buildafter: [a]
            """)
        )
        self.assertTrue(any("buildafter cycle: a -> a" in m for m in found), found)

    def test_component_names(self) -> None:
        for bad in ("foo/bar", ".hidden", "-dash", "sp ace", "ünï"):
            found = messages(
                v3(f"""\
                "{bad}":
                  rationale: Needed.
                """)
            )
            self.assertTrue(any("is not a valid RPM name" in m for m in found), (bad, found))
        for good in ("perl-Foo", "libstdc++", "python3.11", "a_b", "0ad"):
            self.assertEqual(
                messages(
                    v3(f"""\
                "{good}":
                  rationale: Needed.
                """)
                ),
                [],
                good,
            )

    def test_refs(self) -> None:
        for ref in (
            "main",
            "f39",
            "1.0",
            "refs/heads/main",
            "v1.2-3",
            "0123456",
            "a" * 40,
            "feature/x_y",
        ):
            self.assertTrue(valid_ref(ref), ref)
        for ref in (
            "a..b",
            "x.lock",
            "foo/",
            "/foo",
            ".x",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "@",
            "a@{1}",
            "a//b",
            "end.",
            "x/.y",
        ):
            self.assertFalse(valid_ref(ref), ref)

    def test_repository_allow_list(self) -> None:
        comps = """\
            a:
              rationale: Needed.
              repository: {url}
            """
        ok = messages(v3(comps.format(url="https://src.fedoraproject.org/rpms/a.git")))
        self.assertEqual(ok, [])
        for url in (
            "git://pkgs.example.org/a",
            "http://example.org/a",
            "ssh://x/a",
            "file:///etc/a",
            "/etc/a",
        ):
            self.assertTrue(messages(v3(comps.format(url=url))), url)
        policy = LintPolicy(distgit_roots=("/srv/distgit",))
        self.assertEqual(messages(v3(comps.format(url="file:///srv/distgit/rpms/a")), policy), [])
        self.assertTrue(messages(v3(comps.format(url="file:///srv/distgit-evil/a")), policy))
        escape = "file:///srv/distgit/../../etc/a"
        self.assertTrue(messages(v3(comps.format(url=escape)), policy), escape)
        hosts = LintPolicy(allowed_hosts=frozenset({"src.fedoraproject.org"}))
        self.assertTrue(messages(v3(comps.format(url="https://evil.example/a")), hosts))
        self.assertEqual(
            messages(v3(comps.format(url="https://src.fedoraproject.org/rpms/a")), hosts), []
        )

    def test_v3_contexts_all_reported(self) -> None:
        text = v3("a:\n  rationale: Needed.\n").replace(
            "    - context: ctx1\n      platform: f39\n",
            "    - context: toolongcontext\n      platform: f39\n"
            "    - context: a-b\n      platform: f39\n"
            "    - context: ok1\n      platform: f39\n"
            "    - context: ok1\n      platform: f40\n"
            "    - context: ok2\n",
        )
        found = messages(text)
        self.assertTrue(any("'toolongcontext' must be 1-10 letters or digits" in m for m in found))
        self.assertTrue(any("'a-b' must be 1-10 letters or digits" in m for m in found))
        self.assertTrue(any("context ok1 is used twice" in m for m in found))
        self.assertTrue(any("configuration has no platform" in m for m in found))

    def test_wrong_types(self) -> None:
        text = textwrap.dedent("""\
            document: modulemd
            version: 2
            data:
              summary: [not, text]
              description: Fine.
              license:
                module: MIT
              dependencies:
                buildrequires: {platform: [f39]}
              components:
                rpms:
                  - a
            """)
        found = "\n".join(messages(text))
        self.assertIn("m.yaml:4: error: data.summary must be text, not a list", found)
        self.assertIn(
            "m.yaml:7: error: data.license.module must be a list, not a single value", found
        )
        self.assertIn("m.yaml:8: error: data.dependencies must be a list, not a mapping", found)
        self.assertIn("m.yaml:11: error: data.components.rpms must be a mapping, not a list", found)

    def test_index_checked_document_by_document(self) -> None:
        good = v3("a:\n  rationale: Needed.\n")
        bad = v3("b:\n  ref: main\n")
        text = good + "---\n" + bad
        found = messages(text)
        self.assertEqual(len(found), 1, found)
        bad_line = len(good.splitlines()) + 1 + 15
        self.assertIn(f"m.yaml:{bad_line}: error: component b has no rationale", found[0])

    def test_libmodulemd_error_keeps_its_line(self) -> None:
        text = v3("a:\n  rationale: Needed.\n").replace(
            "  summary:", "  unknown_key: 1\n  summary:"
        )
        found = messages(text)
        self.assertEqual(
            found,
            ["m.yaml:6: error: libmodulemd: Unexpected key in packager v3 document: unknown_key"],
        )


def _child(code: str, path: str) -> tuple[float, int, str]:
    """Lint ``path`` in a fresh interpreter: CPU seconds (user + system: what the input
    costs, whatever else the machine is doing), peak memory (KiB) and output."""
    script = textwrap.dedent(code)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-c", script, path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out, _, rss = proc.stdout.rpartition("RSS ")
    return elapsed, int(rss), out + proc.stderr


# The peak is this process's own: ru_maxrss would count pages of the (large) test process
# it was forked from before exec, so reset the high-water mark (Linux: clear_refs 5) and
# read VmHWM.
_LINT_CHILD = """
import sys
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
from buildbot_modules.core.lint import lint_file
for p in lint_file(sys.argv[1]):
    print(p.format())
with open("/proc/self/status") as f:
    peak = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
print("RSS", peak)
"""


class Bounds(unittest.TestCase):
    """Hostile documents are refused in under 2 s and 200 MB, with a message."""

    def check_refused(self, text: str, expected: str) -> str:
        path = write(tempdir(self), "hostile.yaml", text)
        elapsed, rss_kib, out = _child(_LINT_CHILD, path)
        self.assertIn(expected, out)
        self.assertNotIn("Traceback", out)
        self.assertLess(elapsed, 2.0 + 1.0)  # 1 s for the interpreter and gi to start
        self.assertLess(rss_kib, 200 * 1024)
        return out

    def test_deep_nesting(self) -> None:
        depth = 20_000
        text = "document: modulemd\nversion: 2\ndata:\n  xmd:\n    k: " + "[" * depth + "]" * depth
        out = self.check_refused(text, "nested deeper than 64 levels; refused")
        self.assertIn("hostile.yaml:5: error:", out)
        block = "document: modulemd\nversion: 2\ndata:\n" + "".join(
            " " * (2 * i + 2) + f"k{i}:\n" for i in range(200)
        )
        out = self.check_refused(block, "nested deeper than 64 levels; refused")
        self.assertIn("hostile.yaml:67: error:", out)

    def test_alias_bomb(self) -> None:
        lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for i in range(1, 12):
            prev = f"*a{i - 1}"
            lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
        text = "document: modulemd\nversion: 2\ndata:\n  xmd:\n" + "\n".join(
            "    " + line for line in lines
        )
        self.check_refused(text, "an alias bomb); refused")

    def test_oversized(self) -> None:
        text = "document: modulemd\nversion: 2\ndata:\n  description: " + "x" * (6 * 1024 * 1024)
        self.check_refused(text, "larger than 5 MiB; refused")

    def test_not_utf8_and_not_yaml(self) -> None:
        folder = tempdir(self)
        path = os.path.join(folder, "bin.yaml")
        with open(path, "wb") as f:
            f.write(b"document: modulemd\nsummary: \xff\xfe\n")
        from buildbot_modules.core.lint import lint_file

        self.assertIn("bin.yaml:2: error: not valid UTF-8", lint_file(path)[0].format())
        broken = write(folder, "broken.yaml", "document: modulemd\ndata: [\n  a: b\n")
        found = lint_file(broken)[0].format()
        self.assertRegex(found, r"broken\.yaml:\d+: error: invalid YAML: ")
        empty = write(folder, "empty.yaml", "# nothing\n")
        self.assertIn("no YAML document found", lint_file(empty)[0].format())
