"""Latent build workers from the ``latent_workers`` setting (workers/latent/).

A latent worker is started by the master when a component build waits for a worker
and stopped when it has been idle for ``build_wait_timeout`` seconds: elastic capacity
from a container engine or a cloud. Buildbot has the classes; this module only turns a
settings table into them, so a site keeps its whole configuration in ``settings.toml``
(checked when the master loads it, like every other key) and the latent workers join the
``components`` builder as the static ones do. The keys besides ``type`` and ``password``
are the Buildbot class's own arguments, unchanged, so Buildbot's documentation applies.

Two values are not plain TOML: ``{ secret = "NAME" }`` stands for Buildbot's
``util.Secret("NAME")`` (a file in ``secrets_dir``; used where Buildbot renders secrets:
passwords, OpenStack's ``os_auth_args``, Kubernetes' ``bearerToken``), and Kubernetes'
``kube_config`` is a table naming how to reach the cluster (``{ proxy_port = 8001 }``:
``kubectl proxy``; ``{ in_cluster = true }``: the master runs in the cluster;
``{ master_url = "...", bearerToken = ..., verify = "ca.pem" }``: given outright).
"""

from __future__ import annotations

import importlib
from typing import Any

# type -> (module, class) in Buildbot 4.3, and whether a password must be given (a
# Kubernetes pod gets a generated one; a VM or container image must know it).
LATENT_TYPES: dict[str, tuple[str, str, bool]] = {
    "docker": ("buildbot.worker.docker", "DockerLatentWorker", True),
    "kubernetes": ("buildbot.worker.kubernetes", "KubeLatentWorker", False),
    "openstack": ("buildbot.worker.openstack", "OpenStackLatentWorker", True),
    "ec2": ("buildbot.worker.ec2", "EC2LatentWorker", True),
}


# type -> the client modules its Buildbot class imports, and their pip packages.
CLIENTS: dict[str, dict[str, str]] = {
    "docker": {"docker": "docker"},
    "kubernetes": {},
    "openstack": {"novaclient": "python-novaclient", "keystoneauth1": "keystoneauth1"},
    "ec2": {"boto3": "boto3"},
}


def check_latent_workers(latent: dict[str, dict[str, Any]], static: dict[str, str]) -> None:
    """Raise ``ValueError`` naming the worker and key for a table Buildbot would refuse
    later with less context."""
    for name, table in latent.items():
        where = f"latent_workers.{name}"
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"{where}: a worker name uses letters, digits, '-' and '_'")
        if name in static:
            raise ValueError(f"{where}: {name!r} is also a static worker in `workers`")
        if not isinstance(table, dict):
            raise ValueError(f"{where}: a table, e.g. {{ type = 'docker', image = '...' }}")
        kind = table.get("type")
        if kind not in LATENT_TYPES:
            raise ValueError(f"{where}.type {kind!r}: use one of " + ", ".join(LATENT_TYPES))
        if LATENT_TYPES[kind][2] and "password" not in table:
            raise ValueError(
                f"{where}.password: missing (the worker image logs in with it; a string or"
                " {{ secret = 'NAME' }})"
            )
        if kind == "kubernetes" and "kube_config" in table:
            _kube_config(where, table["kube_config"])  # raises on a wrong table


def latent_workers(latent: dict[str, dict[str, Any]]) -> list[Any]:
    """Buildbot latent worker objects, one per table (checked by ``check_latent_workers``).
    A missing client library (docker, boto3, novaclient) is a configuration error naming
    the package."""
    from importlib.util import find_spec

    from buildbot import config

    out = []
    for name, table in sorted(latent.items()):
        kind = table["type"]
        missing = [pkg for mod, pkg in CLIENTS[kind].items() if find_spec(mod) is None]
        if missing:  # Buildbot's own check of some classes crashes after saying so
            config.error(
                f"latent_workers.{name}: type {kind!r} needs the Python package(s) "
                f"{', '.join(missing)} in the master's virtualenv (pip install {' '.join(missing)})"
            )
            continue
        module, cls, _ = LATENT_TYPES[kind]
        kwargs = {k: _value(v) for k, v in table.items() if k != "type"}
        if kind == "kubernetes" and "kube_config" in table:
            kwargs["kube_config"] = _kube_config(f"latent_workers.{name}", table["kube_config"])
        worker_class = getattr(importlib.import_module(module), cls)
        if kind == "kubernetes":
            out.append(worker_class(name, **kwargs))
        else:
            out.append(worker_class(name, kwargs.pop("password"), **kwargs))
    return out


def _value(value: Any) -> Any:
    """``{ secret = "NAME" }`` -> ``util.Secret("NAME")``, in nested tables and lists too."""
    from buildbot.plugins import util

    if isinstance(value, dict):
        if set(value) == {"secret"} and isinstance(value["secret"], str):
            return util.Secret(value["secret"])
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _kube_config(where: str, table: Any) -> Any:
    """The Kubernetes connection a ``kube_config`` table names (Buildbot's loaders)."""
    from buildbot.util import kubeclientservice as kube

    if not isinstance(table, dict):
        raise ValueError(f"{where}.kube_config: a table, e.g. {{ proxy_port = 8001 }}")
    if table.get("in_cluster") is True and len(table) == 1:
        return kube.KubeInClusterConfigLoader()
    if "master_url" in table:
        return kube.KubeHardcodedConfig(**{k: _value(v) for k, v in table.items()})
    if set(table) <= {"proxy_port", "namespace"}:
        return kube.KubeCtlProxyConfigLoader(**table)
    raise ValueError(
        f"{where}.kube_config: one of {{ proxy_port = 8001, namespace = '...' }} (kubectl"
        " proxy), { in_cluster = true }, or { master_url = '...', bearerToken = ... }"
    )
