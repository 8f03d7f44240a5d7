"""Checks of the ``koji_*`` settings: a wrong value stops the master at configuration
time, naming the setting and what to write instead."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..master.settings import Settings

AUTH_MODES = ("password", "ssl", "gssapi", "anonymous")
_TAG_TEXT = re.compile(r"^[A-Za-z0-9_.+-]+$")


def check_koji_settings(s: Settings) -> None:
    """Raise ValueError (``setting: problem (hint)``) for unusable Koji settings."""
    mode = "backend = 'koji'" if s.backend == "koji" else "koji_import = true"
    if not s.koji_hub.startswith(("http://", "https://")):
        raise ValueError(
            f"koji_hub {s.koji_hub!r}: the hub's XML-RPC URL is needed with {mode}"
            " (e.g. 'https://koji.fedoraproject.org/kojihub')"
        )
    if s.backend == "koji" and not s.koji_topurl.startswith(("http://", "https://", "file://")):
        raise ValueError(
            f"koji_topurl {s.koji_topurl!r}: where Koji serves its files is needed to download"
            " the RPMs Koji built (e.g. 'https://kojipkgs.fedoraproject.org')"
        )
    if s.koji_auth not in AUTH_MODES:
        raise ValueError(f"koji_auth {s.koji_auth!r}: use one of {', '.join(AUTH_MODES)}")
    if s.koji_auth == "anonymous":
        raise ValueError(
            f"koji_auth 'anonymous': {mode} creates tags and builds in Koji, which needs a"
            " login (use 'password', 'ssl' or 'gssapi')"
        )
    if s.koji_auth == "password" and not (s.koji_user and s.koji_password_secret):
        raise ValueError(
            "koji_auth 'password' needs koji_user and koji_password_secret (the NAME of a"
            " Buildbot secret, a file in secrets_dir; never the password itself)"
        )
    if s.koji_auth == "password" and not s.secrets_dir:
        raise ValueError(
            "koji_password_secret: no secrets_dir is set, so the secret cannot be read"
            " (set secrets_dir to the folder holding the secret's file)"
        )
    if s.koji_auth == "ssl" and not s.koji_cert:
        raise ValueError("koji_auth 'ssl' needs koji_cert (the client certificate, PEM with key)")
    if s.koji_keytab and not s.koji_principal:
        raise ValueError("koji_keytab needs koji_principal (the principal the keytab is for)")
    if not _TAG_TEXT.match(s.koji_tag_prefix):
        raise ValueError(
            f"koji_tag_prefix {s.koji_tag_prefix!r}: letters, digits and '_.+-' (e.g. 'module')"
        )
    missing = [p for p in s.platforms if not s.koji_platform_tag.get(p)]
    if missing:
        raise ValueError(
            f"koji_platform_tag: no Koji tag for platform stream(s) {', '.join(missing)}; the"
            " module build tags inherit from it (e.g. {f39 = 'f39-build'})"
        )
    for arch in s.koji_arches:
        if not isinstance(arch, str) or not _TAG_TEXT.match(arch):
            raise ValueError(f"koji_arches: {arch!r} is not an architecture name")
    if "{commit}" not in s.koji_scm_url:
        raise ValueError(
            f"koji_scm_url {s.koji_scm_url!r}: must contain {{commit}} (Koji builds an exact"
            " commit), e.g. 'git+https://src.example.org/rpms/{package}.git#{commit}'"
        )
    if not s.koji_cg_name:
        raise ValueError("koji_cg_name: the content generator's name must not be empty")
    if s.koji_poll_interval <= 0:
        raise ValueError("koji_poll_interval: seconds between looks at a Koji task, above 0")
    if s.koji_slots < 1:
        raise ValueError("koji_slots: at least 1 (components Koji builds at once)")
