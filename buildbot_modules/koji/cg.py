"""Registering builds in Koji as a content generator (metadata version 0).

``CGInitBuild`` reserves the NVR (and gives a token), the files go to a unique folder of
the hub's work area (``uploadWrapper``), then ``CGImport`` with the metadata: the build
(name, version, release, epoch, source, times, ``extra.typeinfo``), one buildroot (the
host, this content generator, the tools) and one output per file (size, md5, arch,
type ``rpm`` / ``log`` / ``file``). Blocking: call from a thread.

Two kinds: a component's RPMs (built by our workers, ``koji_import = true``) and the
module itself, as MBS imports it: build type ``module``, NVR ``<name>-<stream with _>-
<version>.<context>``, ``extra.typeinfo.module`` with the NSVC, the module's content tag
and its modulemd, outputs ``modulemd.txt`` and ``modulemd.<arch>.txt``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .client import KojiClient
from .naming import module_nvr

CG_VERSION = "1"


@dataclass
class Host:
    os: str
    arch: str

    @classmethod
    def here(cls) -> Host:
        try:
            info = platform.freedesktop_os_release()
            name = f"{info.get('NAME', 'Linux')} {info.get('VERSION_ID', '')}".strip()
        except OSError:
            name = "Linux"
        return cls(name, os.uname().machine)


def _md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def buildroot(cg_name: str, host: Host, tools: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    return {
        "id": 1,
        "host": {"os": host.os, "arch": host.arch},
        "content_generator": {"name": cg_name, "version": CG_VERSION},
        "container": {"type": "none", "arch": host.arch},
        "tools": [{"name": n, "version": v} for n, v in tools],
        "components": [],
        "extra": {"bbmod": {"generator": "buildbot-modules"}},
    }


def output(path: str, kind: str, arch: str, btype: str = "") -> dict[str, Any]:
    """One output file; a ``file`` of a build type names it in ``extra.typeinfo``."""
    return {
        "buildroot_id": 1,
        "filename": os.path.basename(path),
        "filesize": os.path.getsize(path),
        "arch": arch,
        "checksum_type": "md5",
        "checksum": _md5(path),
        "type": kind,
        "components": [],
        "extra": {"typeinfo": {btype: {}}} if btype else {},
    }


def cg_import(
    client: KojiClient,
    cg_name: str,
    build: dict[str, Any],
    files: list[tuple[str, dict[str, Any]]],
    host: Host,
    tools: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Reserve the NVR, upload ``files`` (path, output metadata) and import; returns
    the new build's info."""
    nvr = {k: build[k] for k in ("name", "version", "release", "epoch")}
    reserved = client.call("CGInitBuild", cg_name, nvr)
    server_dir = f"bbmod-cg/{time.strftime('%Y%m%d%H%M%S')}.{uuid.uuid4().hex[:12]}"
    for path, meta in files:
        client.upload(path, server_dir, name=meta["filename"])
    metadata = {
        "metadata_version": 0,
        "build": {**build, "build_id": reserved["build_id"]},
        "buildroots": [buildroot(cg_name, host, tools)],
        "output": [meta for _path, meta in files],
    }
    result: dict[str, Any] = client.call("CGImport", metadata, server_dir, token=reserved["token"])
    return result


@dataclass
class RpmBuild:
    """One component's RPMs and logs, as the import needs them."""

    name: str
    version: str
    release: str
    epoch: int | None
    rpms: list[tuple[str, str]]  # (path, arch: "src" for the source RPM)
    logs: list[str]
    source: str
    start_time: int
    end_time: int


def import_rpm_build(client: KojiClient, cg_name: str, build: RpmBuild, host: Host) -> Any:
    files = [(p, output(p, "rpm", arch)) for p, arch in build.rpms]
    files += [(p, output(p, "log", "noarch")) for p in build.logs]
    info: dict[str, Any] = {
        "name": build.name,
        "version": build.version,
        "release": build.release,
        "epoch": build.epoch,
        "source": build.source,
        "start_time": build.start_time,
        "end_time": build.end_time,
        "extra": {"typeinfo": {"rpm": {}}},
    }
    return cg_import(client, cg_name, info, files, host, tools=[("rpmbuild", _rpm_version())])


def import_module_build(
    client: KojiClient,
    cg_name: str,
    nsvc: tuple[str, str, int, str],
    modulemd: str,
    content_tag: str,
    registry_id: int,
    source: str,
    times: tuple[int, int],
    host: Host,
) -> Any:
    """The module as a Koji build of type ``module`` (what MBS imports)."""
    name, stream, version, context = nsvc
    kname, kversion, krelease = module_nvr(name, stream, version, context)
    folder = tempfile.mkdtemp(prefix="bbmod-cg-")
    try:
        files = []
        for filename, arch in (
            ("modulemd.txt", "noarch"),
            (f"modulemd.{host.arch}.txt", host.arch),
        ):
            path = os.path.join(folder, filename)
            with open(path, "w", encoding="utf-8") as f:
                f.write(modulemd)
            files.append((path, output(path, "file", arch, "module")))
        info: dict[str, Any] = {
            "name": kname,
            "version": kversion,
            "release": krelease,
            "epoch": None,
            "source": source,
            "start_time": times[0],
            "end_time": times[1],
            "extra": {
                "typeinfo": {
                    "module": {
                        "module_build_service_id": registry_id,
                        "content_koji_tag": content_tag,
                        "modulemd_str": modulemd,
                        "name": name,
                        "stream": stream,
                        "version": str(version),
                        "context": context,
                    }
                }
            },
        }
        return cg_import(client, cg_name, info, files, host, tools=[("bbmod", CG_VERSION)])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _rpm_version() -> str:
    import subprocess

    rpm = shutil.which("rpm")
    if rpm is None:
        return "unknown"
    out = subprocess.run([rpm, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().rpartition(" ")[2] or "unknown"
