"""Private per-build roots with the real tools: unshare, overlayfs, chroot, dnf, rpmbuild.

Every test runs ``python -m buildbot_modules.buildroot`` as the worker would, as root.
Each test skips (saying why) when not root or when unshare/overlayfs/rpmbuild/dnf are
missing. After every test the host is compared with what it was when this module was
imported: the host's ``rpm -qa``, ``/var/lib/dnf/plugins/local``, the mtimes of
``/usr``, ``/usr/bin``, ``/etc`` and ``/etc/ld.so.conf.d``, and no stray files the specs
try to write.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from twisted.trial import unittest

from buildbot_modules.buildroot import EXIT_DEPS, EXIT_SETUP, EXIT_TIMEOUT, isolation_problem
from buildbot_modules.compose import createrepo
from buildbot_modules.platform import build_platform_repo, generate_definition

from .helpers import ROOT, tempdir, write

_EVIL = ("/usr/bin/bbmod-evil", "/root/bbmod-evil", "/tmp/bbmod-evil", "/etc/bbmod-evil")
_MTIMES = ("/usr", "/usr/bin", "/etc", "/etc/ld.so.conf.d")
_PLATFORM: list[str] = []


def _host_state() -> dict[str, object]:
    rpm = (
        subprocess.run(
            ["rpm", "-qa", "--nosignature", "--nodigest"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if shutil.which("rpm")
        else ""
    )
    local = "/var/lib/dnf/plugins/local"
    return {
        "rpm -qa": sorted(rpm.splitlines()),
        local: sorted(os.listdir(local)) if os.path.isdir(local) else None,
        "mtimes": {p: os.stat(p).st_mtime_ns for p in _MTIMES if os.path.exists(p)},
        "evil": [p for p in _EVIL if os.path.lexists(p)],
        "lib64 conf": os.path.exists("/etc/ld.so.conf.d/bbmod-lib64.conf"),
    }


_BEFORE = _host_state()


def _needs_isolation() -> None:
    problem = isolation_problem()
    if problem is not None:
        raise unittest.SkipTest(problem.splitlines()[0])
    for tool in ("rpmbuild", "rpmspec", "dnf", "createrepo_c", "gcc", "pkg-config"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest(f"needs {tool} (Debian: rpm, dnf, createrepo-c, gcc)")


def _platform_repo() -> str:
    """The platform stub repository of this host, built once for the module."""
    if not _PLATFORM:
        folder = tempfile.mkdtemp(prefix="bbmod-test-platform-")
        atexit.register(shutil.rmtree, folder, True)
        _PLATFORM.append(build_platform_repo(generate_definition("f39"), folder))
    return _PLATFORM[0]


def _spec(name: str, body: str, header: str = "", arch: str = "BuildArch: noarch") -> str:
    return (
        f"Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: {name}\nLicense: MIT\n"
        f"{arch}\n{header}\n%description\n{name}\n\n{body}"
    )


_NOARCH_BODY = """\
%build
echo hello > hello.txt
%install
mkdir -p %{buildroot}/usr/share/NAME
cp hello.txt %{buildroot}/usr/share/NAME/
%files
/usr/share/NAME
"""

_LIBFOO = """\
%package devel
Summary: libfoo headers
Requires: libfoo = %{version}-%{release}
%description devel
headers
%build
cat > foo.c <<'EOF'
int foo_answer(void) { return 42; }
EOF
gcc -shared -fPIC -Wl,-soname,libfoo.so.1 -o libfoo.so.1.0 foo.c
%install
mkdir -p %{buildroot}%{_libdir}/pkgconfig %{buildroot}%{_includedir}
install -m755 libfoo.so.1.0 %{buildroot}%{_libdir}/
ln -s libfoo.so.1.0 %{buildroot}%{_libdir}/libfoo.so.1
ln -s libfoo.so.1 %{buildroot}%{_libdir}/libfoo.so
echo 'int foo_answer(void);' > %{buildroot}%{_includedir}/foo.h
cat > %{buildroot}%{_libdir}/pkgconfig/foo.pc <<'EOF'
libdir=%{_libdir}
includedir=%{_includedir}
Name: foo
Description: foo
Version: 1.0
Libs: -L${libdir} -lfoo
Cflags: -I${includedir}
EOF
%files
%{_libdir}/libfoo.so.1*
%files devel
%{_includedir}/foo.h
%{_libdir}/libfoo.so
%{_libdir}/pkgconfig/foo.pc
"""

_FOOPROG = """\
%build
cat > prog.c <<'EOF'
#include <foo.h>
#include <stdio.h>
int main(void) { printf("answer %d\\n", foo_answer()); return foo_answer() == 42 ? 0 : 1; }
EOF
gcc $(pkg-config --cflags foo) -o fooprog prog.c $(pkg-config --libs foo)
./fooprog
%install
mkdir -p %{buildroot}%{_bindir}
install -m755 fooprog %{buildroot}%{_bindir}/
%check
./fooprog | grep 'answer 42'
%files
%{_bindir}/fooprog
"""


class BuildrootTests(unittest.TestCase):
    def setUp(self) -> None:
        _needs_isolation()
        self.tmp = tempdir(self)
        self.workdirs = os.path.join(self.tmp, "work")

    def tearDown(self) -> None:
        after = _host_state()
        for key, value in _BEFORE.items():
            self.assertEqual(after[key], value, f"the host's {key} changed")
        # The work directories are gone (no --keep), mounts included.
        if os.path.isdir(self.workdirs):
            self.assertEqual(os.listdir(self.workdirs), [])

    def build(
        self, name: str, spec_text: str, *extra: str, timeout: float = 120
    ) -> tuple[subprocess.CompletedProcess[str], str]:
        src = os.path.join(self.tmp, name, "src")
        out = os.path.join(self.tmp, name, "out")
        spec = write(src, f"{name}.spec", spec_text)
        argv = [sys.executable, "-m", "buildbot_modules.buildroot", "--spec", spec]
        argv += ["--sources", src, "--results", out, "--workdir", self.workdirs, *extra]
        proc = subprocess.run(
            argv, capture_output=True, text=True, cwd=ROOT, check=False, timeout=timeout
        )
        return proc, out

    def assertBuilt(self, proc: subprocess.CompletedProcess[str], out: str, *rpms: str) -> None:
        self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-2000:])
        for rpm in rpms:
            self.assertTrue(os.path.exists(os.path.join(out, rpm)), os.listdir(out))
        for log in ("root.log", "installed_pkgs.log", "build.log"):
            self.assertTrue(os.path.exists(os.path.join(out, log)), log)

    # (a)
    def test_noarch(self) -> None:
        proc, out = self.build("hello", _spec("hello", _NOARCH_BODY.replace("NAME", "hello")))
        self.assertBuilt(proc, out, "hello-1.0-1.noarch.rpm", "hello-1.0-1.src.rpm")

    # (b)
    def test_library_then_program_against_it(self) -> None:
        platform = _platform_repo()
        header = "BuildRequires: gcc"
        proc, libout = self.build(
            "libfoo", _spec("libfoo", _LIBFOO, header, arch=""), "--repo", platform
        )
        arch = os.uname().machine
        self.assertBuilt(proc, libout, f"libfoo-1.0-1.{arch}.rpm", f"libfoo-devel-1.0-1.{arch}.rpm")
        repo = os.path.join(self.tmp, "components")
        os.makedirs(repo)
        for name in os.listdir(libout):
            if name.endswith(f".{arch}.rpm"):
                shutil.copy(os.path.join(libout, name), repo)
        createrepo(repo)

        header = "BuildRequires: gcc\nBuildRequires: libfoo-devel\nBuildRequires: pkgconfig(foo)"
        proc, out = self.build(
            "fooprog",
            _spec("fooprog", _FOOPROG, header, arch=""),
            "--repo",
            repo,
            "--repo",
            platform,
        )
        self.assertBuilt(proc, out, f"fooprog-1.0-1.{arch}.rpm")
        self.assertIn("answer 42", proc.stdout)  # %build and %check ran it
        with open(os.path.join(out, "installed_pkgs.log"), encoding="utf-8") as f:
            installed = f.read()
        for package in ("bbmod-platform", "libfoo-1.0-1", "libfoo-devel-1.0-1"):
            self.assertIn(package, installed)

    # (c)
    def test_unmet_buildrequires_names_it(self) -> None:
        header = "BuildRequires: bbmod-no-such-package-xyz"
        proc, out = self.build(
            "unmet",
            _spec("unmet", _NOARCH_BODY.replace("NAME", "unmet"), header),
            "--repo",
            _platform_repo(),
        )
        self.assertEqual(proc.returncode, EXIT_DEPS, proc.stdout[-3000:])
        self.assertIn("unmet BuildRequires: bbmod-no-such-package-xyz", proc.stdout)
        self.assertFalse([n for n in os.listdir(out) if n.endswith(".rpm")])

    def test_defines_reach_builddep_and_rpmbuild(self) -> None:
        body = "%build\necho built-with-%{flavour}\n%files\n"
        proc, out = self.build(
            "defs",
            _spec("defs", body, "BuildRequires: %{breq}"),
            "--define",
            "breq gcc",
            "--define",
            "flavour minty",
            "--repo",
            _platform_repo(),
        )
        self.assertBuilt(proc, out, "defs-1.0-1.noarch.rpm")
        self.assertIn("built-with-minty", proc.stdout)

    # (d)
    def test_no_network_and_writes_stay_inside(self) -> None:
        body = """\
%build
if python3 -c 'import socket; socket.create_connection(("127.0.0.1", 1), 2)'; then
  echo NETWORK-REACHABLE; exit 1
fi
echo evil > /usr/bin/bbmod-evil
echo evil > /root/bbmod-evil
echo evil > /tmp/bbmod-evil
echo evil > /etc/bbmod-evil
cat /usr/bin/bbmod-evil /root/bbmod-evil /tmp/bbmod-evil /etc/bbmod-evil
%files
"""
        proc, out = self.build("evil", _spec("evil", body), "--keep")
        self.assertBuilt(proc, out, "evil-1.0-1.noarch.rpm")
        self.assertIn("Network is unreachable", proc.stdout)
        self.assertNotIn("NETWORK-REACHABLE", proc.stdout)
        kept = [
            line.split()[-1]
            for line in proc.stdout.splitlines()
            if line.startswith("buildroot: kept the work directory")
        ]
        self.assertEqual(len(kept), 1, proc.stdout[-2000:])
        # The writes landed in the build's own upper layer; tearDown checks the host.
        self.assertTrue(os.path.exists(os.path.join(kept[0], "upper/usr/bin/bbmod-evil")))
        self.assertTrue(os.path.exists(os.path.join(kept[0], "upper/root/bbmod-evil")))
        shutil.rmtree(kept[0])

    # (e)
    def test_concurrent_builds_do_not_see_each_other(self) -> None:
        body = """\
%build
echo ME > /usr/share/bbmod-marker-ME
mkdir -p /tmp/bbmod-shared && echo ME > /tmp/bbmod-shared/ME
sleep 3
test ! -e /usr/share/bbmod-marker-OTHER
test ! -e /tmp/bbmod-shared/OTHER
test "$(ls /tmp/bbmod-shared)" = ME
%files
"""
        results: dict[str, tuple[subprocess.CompletedProcess[str], str]] = {}

        def run(me: str, other: str) -> None:
            text = _spec(me, body.replace("ME", me).replace("OTHER", other))
            results[me] = self.build(me, text)

        threads = [
            threading.Thread(target=run, args=("one", "two")),
            threading.Thread(target=run, args=("two", "one")),
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        for me in ("one", "two"):
            self.assertBuilt(*results[me], f"{me}-1.0-1.noarch.rpm")
        self.assertLess(elapsed, 6.5, "the two builds did not run at the same time")

    # (f)
    def test_timeout_kills_the_build(self) -> None:
        body = "%build\nsleep 61.25\n%files\n"
        started = time.monotonic()
        proc, _out = self.build("slow", _spec("slow", body), "--timeout", "3")
        elapsed = time.monotonic() - started
        self.assertEqual(proc.returncode, EXIT_TIMEOUT, proc.stdout[-2000:])
        self.assertIn("timed out after 3 s", proc.stdout)
        self.assertLess(elapsed, 10)
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
        self.assertNotIn("sleep 61.25", ps.stdout)

    def test_memory_limit(self) -> None:
        body = "%build\npython3 -c 'b = bytearray(512 * 1024 * 1024)'\n%files\n"
        proc, _out = self.build("greedy", _spec("greedy", body), "--memory", "256")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("memory limit of 256 MiB hit", proc.stdout)

    def test_refuses_without_root(self) -> None:
        if shutil.which("setpriv") is None:
            raise unittest.SkipTest("needs setpriv (util-linux)")
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        argv += [
            sys.executable,
            "-c",
            "import sys; from buildbot_modules.buildroot import "
            "main; sys.exit(main(['--spec', 'x', '--sources', '.', '--results', 'y']))",
        ]
        env = {**os.environ, "PYTHONPATH": ROOT}
        proc = subprocess.run(
            argv, capture_output=True, text=True, cwd="/", env=env, check=False, timeout=60
        )
        if "Permission denied" in proc.stderr and "needs root" not in proc.stderr:
            raise unittest.SkipTest("nobody cannot run the project's Python here")
        self.assertEqual(proc.returncode, EXIT_SETUP, proc.stderr)
        self.assertIn("needs root", proc.stderr)
        self.assertIn("sudo", proc.stderr)
