"""Shared test helpers: where the project and the libmodulemd corpus are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRIB = os.path.join(ROOT, "contrib")
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "libmodulemd")


def corpus(*parts: str) -> str:
    """A path in the libmodulemd corpus; skip the test (saying why) when it is absent."""
    if not os.path.isdir(CORPUS):
        raise unittest.SkipTest(
            f"needs the libmodulemd corpus at {CORPUS} (../shared beside the clone, as in CI)"
        )
    return os.path.join(CORPUS, *parts)


def corpus_documents() -> list[str]:
    """Every YAML file of the corpus, sorted."""
    out = []
    for folder, _dirs, files in os.walk(corpus()):
        out.extend(os.path.join(folder, f) for f in files if f.endswith(".yaml"))
    return sorted(out)


def write(folder: str, name: str, text: str) -> str:
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def tempdir(case: unittest.TestCase) -> str:
    path = tempfile.mkdtemp(prefix="bbmod-test-")
    case.addCleanup(shutil.rmtree, path, True)
    return path


def bbmod(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "buildbot_modules.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        check=False,
        timeout=120,
    )


def throwaway_gpg_key(case: unittest.TestCase, uid: str) -> str:
    """A GnuPG home holding a new passphrase-less signing key for ``uid`` (an e-mail
    address); its agent is stopped after the test. Skips without gpg or rpmsign."""
    for tool in ("gpg", "rpmsign"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest(f"needs {tool} (Debian packages gpg, rpm; make setup)")
    home = tempdir(case)
    os.chmod(home, 0o700)
    subprocess.run(
        [
            "gpg",
            "--homedir",
            home,
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            f"bbmod test <{uid}>",
            "rsa2048",
            "sign",
            "never",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    case.addCleanup(
        subprocess.run,
        ["gpgconf", "--homedir", home, "--kill", "all"],
        capture_output=True,
        check=False,
    )
    return home
