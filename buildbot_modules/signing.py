"""Optional signing: RPMs with ``rpmsign`` and repository metadata with a detached
``repomd.xml.asc``, using a site GPG key. Unsigned is the default.

The key must be usable without a passphrase prompt (a dedicated signing key in the
given GnuPG home, or an agent that has it unlocked): signing runs unattended.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .compose import require_tool, run_tool


@dataclass(frozen=True)
class Signer:
    """Signs with ``key`` (a key id, fingerprint or user id) from ``gnupghome``."""

    key: str
    gnupghome: str = ""

    def _gpg_path(self) -> list[str]:
        return ["--define", f"_gpg_path {self.gnupghome}"] if self.gnupghome else []

    def sign_rpms(self, paths: Sequence[str]) -> None:
        """Add a signature to each RPM (rpmsign writes the signed file in its place)."""
        if not paths:
            return
        require_tool("rpmsign")
        gpg = require_tool("gpg")
        run_tool(
            [
                "rpmsign",
                "--addsign",
                # Debian's rpm names /usr/bin/gpg2, which Debian does not ship.
                "--define",
                f"__gpg {gpg}",
                "--define",
                f"_gpg_name {self.key}",
                *self._gpg_path(),
                *paths,
            ],
            "rpmsign",
        )

    def sign_metadata(self, repo: str) -> None:
        """Write ``repodata/repomd.xml.asc``, an armored detached signature of
        ``repomd.xml`` (what dnf checks with ``repo_gpgcheck=1``)."""
        require_tool("gpg")
        repomd = os.path.join(repo, "repodata", "repomd.xml")
        home = ["--homedir", self.gnupghome] if self.gnupghome else []
        run_tool(
            [
                "gpg",
                *home,
                "--batch",
                "--yes",
                "--armor",
                "--local-user",
                self.key,
                "--output",
                repomd + ".asc",
                "--detach-sign",
                repomd,
            ],
            "gpg",
        )
