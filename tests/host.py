"""What the test suite must leave unchanged on the host it runs on.

``tests/__init__.py`` takes a snapshot when trial loads the suite; the last test module
(``test_zz_host_unchanged``) compares it with the host afterwards: builds, buildroots,
composes and dnf installroots must never reach the host's rpm database, ``/usr``,
``/etc`` or dnf's local plugin directory.
"""

from __future__ import annotations

import os
import subprocess

WATCHED_DIRS = ("/usr", "/usr/bin", "/usr/lib", "/usr/lib64", "/etc", "/etc/ld.so.conf.d")
DNF_LOCAL = "/var/lib/dnf/plugins/local"


def snapshot() -> dict[str, object]:
    state: dict[str, object] = {}
    try:
        # --nosignature --nodigest: a plain query would create rpm's -wal/-shm files.
        rpms = subprocess.run(
            ["rpm", "-qa", "--nosignature", "--nodigest"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        ).stdout
        state["rpm -qa"] = sorted(rpms.split())
    except OSError:
        state["rpm -qa"] = None
    for path in WATCHED_DIRS:
        state[f"mtime {path}"] = os.stat(path).st_mtime if os.path.exists(path) else None
    state[DNF_LOCAL] = sorted(os.listdir(DNF_LOCAL)) if os.path.isdir(DNF_LOCAL) else None
    return state


AT_START = snapshot()
