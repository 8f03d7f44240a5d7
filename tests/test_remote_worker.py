"""A worker made by workers/create-remote-worker.sh connects to a master over TLS: the
master listens with a self-signed certificate made here (openssl), the worker trusts
exactly that certificate, and the master's API shows the worker attached; a module build
then runs its component on it (sources and RPMs travel over that connection)."""

from __future__ import annotations

import os
import shutil
import subprocess

import requests
from twisted.trial import unittest

from buildbot_modules.registry import Registry

from .helpers import ROOT, tempdir, write
from .test_pipeline import BIN, SPEC, RealSite, free_port, module_yaml, run

SCRIPT = os.path.join(ROOT, "workers", "create-remote-worker.sh")


class RemoteWorkerOverTLS(unittest.TestCase):
    timeout = 240

    def test_a_worker_connects_over_tls_and_builds(self) -> None:
        for tool in ("openssl", "rpmbuild", "createrepo_c", "git"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"needs {tool} (run make setup)")
        root = tempdir(self)
        key, cert = os.path.join(root, "key.pem"), os.path.join(root, "cert.pem")
        run(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", key, "-out", cert, "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost",
        )  # fmt: skip
        distgit, site = os.path.join(root, "distgit"), os.path.join(root, "site")
        www, pb = free_port(), free_port()
        run(f"{BIN}/bbmod", "distgit", "init", distgit)
        run(
            f"{BIN}/bbmod", "quickstart", site, "--distgit", distgit,
            "--publish", os.path.join(root, "publish"), "--port", str(www),
            "--workers", "1", "--worker-port", str(pb), "--poll-interval", "1",
        )  # fmt: skip
        master = os.path.join(site, "master")
        settings = os.path.join(master, "settings.toml")
        with open(settings, encoding="utf-8") as f:
            text = f.read()
        port = f"ssl:{pb}:privateKey={key}:certKey={cert}:interface=127.0.0.1"
        text = text.replace(f'"tcp:{pb}:interface=127.0.0.1"', f'"{port}"')
        text = text.replace('workers = { "worker1"', 'workers = { "remote1" = "s3cret", "worker1"')
        text += 'backend = "rpmbuild"\nchecks = []\n'
        self.assertIn(port, text)
        with open(settings, "w", encoding="utf-8") as f:
            f.write(text)
        run(f"{BIN}/buildbot", "start", master)
        self.addCleanup(RealSite.stop, self, [f"{BIN}/buildbot", "stop", master], master)  # type: ignore[arg-type]

        worker = os.path.join(root, "remote1")
        run(
            SCRIPT, "--no-install", "--venv", os.path.dirname(BIN), "--ca", cert,
            worker, f"localhost:{pb}", "remote1", "s3cret",
        )  # fmt: skip
        with open(os.path.join(worker, "buildbot.tac"), encoding="utf-8") as f:
            self.assertIn(f"tls:host=localhost:port={pb}:trustRoots=", f.read())
        env = {**os.environ, "PYTHONPATH": ROOT}
        subprocess.run(
            [f"{BIN}/buildbot-worker", "start", worker], check=True, env=env, capture_output=True
        )
        self.addCleanup(RealSite.stop, self, [f"{BIN}/buildbot-worker", "stop", worker], worker)  # type: ignore[arg-type]

        api = f"http://127.0.0.1:{www}/api/v2"

        def attached() -> bool:
            try:
                workers = requests.get(f"{api}/workers", timeout=5).json()["workers"]
            except (requests.RequestException, ValueError):
                return False
            return any(w["name"] == "remote1" and w["connected_to"] for w in workers)

        RealSite.wait_for(self, attached, "remote1 to attach over TLS", 60)  # type: ignore[arg-type]

        # The only worker attached (worker1 is never started): the build runs over TLS.
        source = tempdir(self)
        write(source, "modules/tls/tls.yaml", module_yaml("Over TLS", {"t-one": []}))
        write(source, "rpms/t-one/t-one.spec", SPEC.format(name="t-one", build=""))
        run(f"{BIN}/bbmod", "distgit", "import", distgit, source)
        registry = Registry(f"sqlite:///{master}/registry.sqlite")

        def over() -> object:
            builds = registry.module_builds(name="tls")
            return builds[0] if builds and builds[0].state in ("ready", "failed") else None

        record = RealSite.wait_for(self, over, "the module build", 120)  # type: ignore[arg-type]
        self.assertEqual(record.state, "ready", record.state_reason)
        (component,) = registry.components(record.id)
        self.assertEqual(component.state, "built")
