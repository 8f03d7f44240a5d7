"""Tests for buildbot_modules.core.identity.

Every hash below was computed by hand, outside the code under test, with
``hashlib.sha1(<the literal string in the comment>.encode()).hexdigest()``; the values
marked "MBS" are also pinned in MBS's own test suite (fm-orchestrator,
tests/test_common/test_models/test_models.py and tests/test_builder/test_builder_utils.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from twisted.trial import unittest

from buildbot_modules.core.identity import (
    NSVCA,
    UINT64_MAX,
    build_context,
    dist_tag,
    modularity_label,
    module_context,
    module_version,
    platform_marking,
    runtime_context,
    stream_version_prefix,
)

# sha1('{"platform": "f39"}')
BC_PLATFORM = "dcc6ef3bf51ac185cdee4f960bfae4a6724ae849"
# sha1('{"platform": ["f39"]}')
RC_PLATFORM = "f623d2112ff5feed557f5bf692bcd963d5fb630a"
# sha1(BC_PLATFORM + ":" + RC_PLATFORM)[:8]
CTX_PLATFORM = "c44cc2b9"

# sha1('{"nodejs": "20", "platform": "f39"}')
BC_NODEJS = "ab8161fa65a9354403c1ef79051ab55272a6b38d"
# sha1('{"nodejs": ["18", "20"], "platform": ["f39"]}')
RC_NODEJS = "b9ce28378e6d1f9f243d7b7885809ca342beca5c"
# sha1(BC_NODEJS + ":" + RC_NODEJS)[:8]
CTX_NODEJS = "6a272d2c"

# MBS test_context_functions (testmodule_dependencies.yaml):
# sha1('{"base-runtime": "f28", "fluffy": "foo", "zebra": "2.0"}')
MBS_BC = "089df24993c037e10174f3fa7342ab4dc191a4d4"
# sha1('{"base-runtime": ["master"], "fidget": ["spinner"], "glass": ["water"], '
#      '"silly": ["puddy"]}')
MBS_RC = "bbc84c7b817ab3dd54916c0bcd6c6bdf512f7f9c"
MBS_CTX = "3ee22b28"

# sha1('{}')
BC_EMPTY = "bf21a9e8fbc5a3846fb05b4fa0859e0917b2202f"

# 2023-10-01 12:00:00 UTC == unix 1696161600
COMMIT_TIME = datetime(2023, 10, 1, 12, 0, 0, tzinfo=UTC)
COMMIT_TS = 1696161600


class ContextTests(unittest.TestCase):
    def test_build_context_platform_only(self) -> None:
        self.assertEqual(build_context({"platform": "f39"}), BC_PLATFORM)

    def test_runtime_context_platform_only(self) -> None:
        self.assertEqual(runtime_context({"platform": ["f39"]}), RC_PLATFORM)

    def test_module_context_platform_only(self) -> None:
        self.assertEqual(module_context({"platform": "f39"}, {"platform": ["f39"]}), CTX_PLATFORM)

    def test_two_modules(self) -> None:
        br = {"platform": "f39", "nodejs": "20"}
        req = {"platform": ["f39"], "nodejs": ["20", "18"]}
        self.assertEqual(build_context(br), BC_NODEJS)
        self.assertEqual(runtime_context(req), RC_NODEJS)
        self.assertEqual(module_context(br, req), CTX_NODEJS)

    def test_runtime_streams_deduplicated(self) -> None:
        # MBS unions the streams into a set before sorting.
        req = {"nodejs": ["20", "18", "20"], "platform": ["f39"]}
        self.assertEqual(runtime_context(req), RC_NODEJS)

    def test_mbs_pinned_values(self) -> None:
        br = {"zebra": "2.0", "base-runtime": "f28", "fluffy": "foo"}
        req = {
            "fidget": ["spinner"],
            "base-runtime": ["master"],
            "silly": ["puddy"],
            "glass": ["water"],
        }
        self.assertEqual(build_context(br), MBS_BC)
        self.assertEqual(runtime_context(req), MBS_RC)
        self.assertEqual(module_context(br, req), MBS_CTX)

    def test_empty_buildrequires(self) -> None:
        self.assertEqual(build_context({}), BC_EMPTY)

    def test_unexpanded_buildrequires_rejected(self) -> None:
        with self.assertRaises(TypeError) as cm:
            build_context({"platform": ["f39"]})  # type: ignore[dict-item]
        self.assertIn("expand", str(cm.exception))

    def test_bare_string_requires_rejected(self) -> None:
        with self.assertRaises(TypeError):
            runtime_context({"platform": "f39"})


class StreamVersionPrefixTests(unittest.TestCase):
    def test_values(self) -> None:
        cases = {
            "f39": "39",
            "el8": "8",
            "el8.2.0": "80200",
            "f39.1": "3901",
            "f27.0.1": "270001",
            "el9.10.0": "91000",
            "f39-beta": "39",
            "el8.2.": "802",
        }
        for stream, expected in cases.items():
            self.assertEqual(stream_version_prefix(stream), expected, stream)

    def test_no_number(self) -> None:
        self.assertIsNone(stream_version_prefix("rawhide"))
        self.assertIsNone(stream_version_prefix("master"))
        self.assertIsNone(stream_version_prefix(""))


class ModuleVersionTests(unittest.TestCase):
    def test_unprefixed(self) -> None:
        self.assertEqual(module_version(COMMIT_TIME), 20231001120000)

    def test_unix_timestamp(self) -> None:
        self.assertEqual(module_version(COMMIT_TS), 20231001120000)

    def test_other_time_zone_converted_to_utc(self) -> None:
        cest = timezone(timedelta(hours=2))
        self.assertEqual(
            module_version(datetime(2023, 10, 1, 14, 0, 0, tzinfo=cest)), 20231001120000
        )

    def test_microseconds_dropped(self) -> None:
        t = datetime(2023, 10, 1, 12, 0, 0, 999999, tzinfo=UTC)
        self.assertEqual(module_version(t), 20231001120000)

    def test_prefixed(self) -> None:
        self.assertEqual(module_version(COMMIT_TIME, "f39"), 3920231001120000)
        self.assertEqual(module_version(COMMIT_TS, "el8.2.0"), 8020020231001120000)

    def test_platform_without_number(self) -> None:
        self.assertEqual(module_version(COMMIT_TIME, "rawhide"), 20231001120000)

    def test_largest_prefix_that_fits(self) -> None:
        # 18446720231001120000 <= 18446744073709551615
        self.assertEqual(module_version(COMMIT_TIME, "f184467"), 18446720231001120000)

    def test_overflow_falls_back_to_unprefixed(self) -> None:
        # 18446820231001120000 > 18446744073709551615
        self.assertEqual(module_version(COMMIT_TIME, "f184468"), 20231001120000)
        # "el1.2.3.4" -> 1020304, 21 digits once prefixed
        self.assertEqual(module_version(COMMIT_TIME, "el1.2.3.4"), 20231001120000)

    def test_uint64_max(self) -> None:
        self.assertEqual(UINT64_MAX, 18446744073709551615)

    def test_naive_datetime_rejected(self) -> None:
        with self.assertRaises(ValueError) as cm:
            module_version(datetime(2023, 10, 1, 12, 0, 0))
        self.assertIn("aware datetime", str(cm.exception))
        self.assertIn("unix timestamp", str(cm.exception))

    def test_bool_and_float_rejected(self) -> None:
        with self.assertRaises(TypeError):
            module_version(True)
        with self.assertRaises(TypeError):
            module_version(1696161600.0)  # type: ignore[arg-type]


class NSVCATests(unittest.TestCase):
    def test_parse_all_forms(self) -> None:
        self.assertEqual(NSVCA.parse("nodejs:20"), NSVCA("nodejs", "20"))
        self.assertEqual(
            NSVCA.parse("nodejs:20:3920231001120000"), NSVCA("nodejs", "20", 3920231001120000)
        )
        self.assertEqual(
            NSVCA.parse("nodejs:20:3920231001120000:6a272d2c"),
            NSVCA("nodejs", "20", 3920231001120000, "6a272d2c"),
        )
        self.assertEqual(
            NSVCA.parse("nodejs:20:3920231001120000:6a272d2c:x86_64"),
            NSVCA("nodejs", "20", 3920231001120000, "6a272d2c", "x86_64"),
        )

    def test_parse_fields(self) -> None:
        m = NSVCA.parse("perl-DBD-Pg:3.7.4:820200101120000:abc_1:aarch64")
        self.assertEqual(m.name, "perl-DBD-Pg")
        self.assertEqual(m.stream, "3.7.4")
        self.assertEqual(m.version, 820200101120000)
        self.assertEqual(m.context, "abc_1")
        self.assertEqual(m.arch, "aarch64")

    def test_missing_fields_are_none(self) -> None:
        m = NSVCA.parse("nodejs:20")
        self.assertIsNone(m.version)
        self.assertIsNone(m.context)
        self.assertIsNone(m.arch)

    def test_round_trips(self) -> None:
        for text in (
            "nodejs:20",
            "python3.11:3.11:1",
            "389-ds:1.4:8020020231001120000:6a272d2c",
            "nodejs:20:3920231001120000:6a272d2c:x86_64",
        ):
            self.assertEqual(str(NSVCA.parse(text)), text)

    def test_nsvc_and_nsvca(self) -> None:
        m = NSVCA("nodejs", "20", 3920231001120000, "6a272d2c", "x86_64")
        self.assertEqual(m.nsvc, "nodejs:20:3920231001120000:6a272d2c")
        self.assertEqual(m.nsvca, "nodejs:20:3920231001120000:6a272d2c:x86_64")
        self.assertEqual(str(m), "nodejs:20:3920231001120000:6a272d2c:x86_64")
        no_arch = NSVCA("nodejs", "20", 3920231001120000, "6a272d2c")
        self.assertEqual(str(no_arch), "nodejs:20:3920231001120000:6a272d2c")
        self.assertRaises(ValueError, lambda: no_arch.nsvca)

    def test_nsvc_needs_version_and_context(self) -> None:
        self.assertRaises(ValueError, lambda: NSVCA("nodejs", "20").nsvc)
        self.assertRaises(ValueError, lambda: NSVCA("nodejs", "20", 1).nsvc)

    def test_frozen(self) -> None:
        m = NSVCA("nodejs", "20")
        with self.assertRaises(AttributeError):
            m.name = "other"  # type: ignore[misc]

    def test_parse_errors(self) -> None:
        bad = [
            "",
            "nodejs",
            "nodejs:",
            ":20",
            "nodejs:20:",
            "nodejs:20:v1",
            "nodejs:20:-1",
            "nodejs:20:1:",
            "nodejs:20:1:ctx:",
            "nodejs:20:1:ctx:x86_64:extra",
            "node js:20",
            "nodejs:20:1:ab-cd",
            f"nodejs:20:{UINT64_MAX + 1}",
        ]
        for text in bad:
            try:
                NSVCA.parse(text)
            except ValueError as exc:
                self.assertIn(repr(text), str(exc))
            else:
                self.fail(f"{text!r} was accepted")

    def test_parse_error_names_forms(self) -> None:
        with self.assertRaises(ValueError) as cm:
            NSVCA.parse("nodejs")
        self.assertIn("N:S:V:C:A", str(cm.exception))

    def test_version_limits(self) -> None:
        self.assertEqual(NSVCA.parse(f"a:b:{UINT64_MAX}").version, UINT64_MAX)
        self.assertRaises(ValueError, NSVCA, "a", "b", UINT64_MAX + 1)
        self.assertRaises(ValueError, NSVCA, "a", "b", -1)

    def test_gaps_rejected(self) -> None:
        self.assertRaises(ValueError, NSVCA, "a", "b", None, "ctx")
        self.assertRaises(ValueError, NSVCA, "a", "b", 1, None, "x86_64")


class ModularityLabelTests(unittest.TestCase):
    def test_label(self) -> None:
        self.assertEqual(
            modularity_label("nodejs", "20", 3920231001120000, "6a272d2c"),
            "nodejs:20:3920231001120000:6a272d2c",
        )

    def test_invalid(self) -> None:
        self.assertRaises(ValueError, modularity_label, "nodejs", "2:0", 1, "6a272d2c")


class DistTagTests(unittest.TestCase):
    def test_mbs_pinned_value(self) -> None:
        # MBS test_get_rpm_release_platform_stream: "module+f28+2+814cfa39";
        # sha1('testmodule.master.20170109091357.7c29193d') = 814cfa39eb4af210...
        self.assertEqual(
            dist_tag("testmodule", "master", 20170109091357, "7c29193d", "f28", 2),
            ".module+f28+2+814cfa39",
        )

    def test_mbs_marking_override_and_scratch(self) -> None:
        self.assertEqual(
            dist_tag("testmodule", "master", 20170109091357, "7c29193d", "fedora28", 2),
            ".module+fedora28+2+814cfa39",
        )
        self.assertEqual(
            dist_tag(
                "testmodule", "master", 20170109091357, "7c29193d", "f28", 2, prefix="scrmod+"
            ),
            ".scrmod+f28+2+814cfa39",
        )

    def test_own_value(self) -> None:
        # sha1('nodejs.20.3920231001120000.6a272d2c')[:8] = 221005dd
        self.assertEqual(
            dist_tag("nodejs", "20", 3920231001120000, "6a272d2c", "el8.2.0", 1234),
            ".module+el8.2.0+1234+221005dd",
        )

    def test_fedora_prefix(self) -> None:
        # sha1('nodejs.20.3920231001120000.abcdef12')[:8] = 4f1b12c2
        self.assertEqual(
            dist_tag("nodejs", "20", 3920231001120000, "abcdef12", "f39", 7, prefix="module_"),
            ".module_f39+7+4f1b12c2",
        )

    def test_no_marking(self) -> None:
        self.assertEqual(
            dist_tag("testmodule", "master", 20170109091357, "7c29193d", "", 2),
            ".module+2+814cfa39",
        )

    def test_invalid_inputs(self) -> None:
        args = ("testmodule", "master", 20170109091357, "7c29193d")
        self.assertRaises(ValueError, dist_tag, *args, "f-28", 2)
        self.assertRaises(ValueError, dist_tag, *args, "f28", -1)
        self.assertRaises(ValueError, dist_tag, *args, "f28", 2, "module-")


class PlatformMarkingTests(unittest.TestCase):
    def test_stream_kept_with_dots(self) -> None:
        self.assertEqual(platform_marking("f39"), "f39")
        self.assertEqual(platform_marking("el8.2.0"), "el8.2.0")

    def test_disttag_marking_wins(self) -> None:
        self.assertEqual(platform_marking("f28", "fedora28"), "fedora28")
        self.assertEqual(platform_marking("el-8", "el8"), "el8")

    def test_dash_rejected(self) -> None:
        with self.assertRaises(ValueError) as cm:
            platform_marking("el-8")
        self.assertIn("dash", str(cm.exception))
        self.assertRaises(ValueError, platform_marking, "f39", "fedora-39")
        self.assertRaises(ValueError, platform_marking, "f39", "")
