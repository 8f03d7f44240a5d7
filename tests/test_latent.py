"""The latent worker examples (workers/latent/*.toml): each appended to a site's
settings passes `buildbot checkconfig` — the table reaches Buildbot's own latent worker
class and that class accepts it. None is started here (no container engine, no cloud):
that part is Buildbot's and is not run on these machines.

Docker, OpenStack and EC2 need a client library in the master's venv (docker;
python-novaclient + keystoneauth1; boto3). `make setup` installs the first two (the
`latent` extra); boto3 cannot be installed beside our pins (every botocore requires
python-dateutil<3). Without a client the configuration is refused naming the package: the
test asserts exactly that refusal, then skips, naming the package, since Buildbot's own
check of the class could not run. With it, each example must pass, and the same example
with a key Buildbot's class requires taken out must be refused with Buildbot's own
message: the class's check really ran on our arguments.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess

from twisted.trial import unittest

from buildbot_modules.master.latent import CLIENTS
from buildbot_modules.master.settings import load_settings
from buildbot_modules.quickstart import MASTER_CFG

from .helpers import ROOT, tempdir, write
from .test_pipeline import BIN

LATENT = os.path.join(ROOT, "workers", "latent")


class LatentExamples(unittest.TestCase):
    timeout = 120

    def site(self, example: str, drop: str = "") -> str:
        """A site whose settings hold the example, less the text ``drop``."""
        master = tempdir(self)
        with open(os.path.join(LATENT, f"{example}.toml"), encoding="utf-8") as f:
            fragment = f.read()
        if drop:
            self.assertIn(drop, fragment)
            fragment = fragment.replace(drop, "")
        write(master, "master.cfg", MASTER_CFG)
        secrets = os.path.join(master, "secrets")
        os.makedirs(secrets)
        base = (
            f'workers = {{ "worker1" = "pw" }}\nsecrets_dir = "{secrets}"\n'
            f'distgit = "{master}/distgit"\npublish_root = "{master}/publish"\n'
        )
        write(master, "settings.toml", base + fragment)
        return master

    def checkconfig(self, master: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [f"{BIN}/buildbot", "checkconfig", master],
            capture_output=True,
            text=True,
            check=False,
            timeout=90,
            env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")},
        )

    def missing(self, example: str) -> list[str]:
        """The pip packages of ``example``'s client library not installed here."""
        return [
            pkg for mod, pkg in CLIENTS[example].items() if importlib.util.find_spec(mod) is None
        ]

    def check(self, example: str) -> None:
        master = self.site(example)
        settings = load_settings(os.path.join(master, "settings.toml"))
        self.assertTrue(settings.latent_workers)
        self.assertEqual({t["type"] for t in settings.latent_workers.values()}, {example})
        result = self.checkconfig(master)
        output = result.stdout + result.stderr
        missing = self.missing(example)
        if not missing:
            # `buildbot checkconfig` exits 0 even when loading crashed: read what it says.
            self.assertEqual(result.returncode, 0, output)
            self.assertIn("Config file is good!", output)
            return
        self.assertNotIn("Config file is good!", output)
        self.assertIn(f"type {example!r} needs the Python package(s) {', '.join(missing)}", output)
        raise unittest.SkipTest(
            f"{example}: needs the Python package(s) {', '.join(missing)} in the master's venv"
            " to check the rest; the configuration was refused naming them"
        )

    def test_kubernetes(self) -> None:
        self.check("kubernetes")

    def test_docker(self) -> None:
        self.check("docker")

    def test_openstack(self) -> None:
        self.check("openstack")

    def test_ec2(self) -> None:
        self.check("ec2")

    def refused_by_buildbot(self, example: str, drop: str, message: str) -> None:
        """The example less ``drop`` fails Buildbot's own check of its class."""
        missing = self.missing(example)
        if missing:
            raise unittest.SkipTest(
                f"{example}: needs the Python package(s) {', '.join(missing)} in the master's"
                " venv for Buildbot's class to check its arguments"
            )
        result = self.checkconfig(self.site(example, drop))
        output = result.stdout + result.stderr
        self.assertNotIn("Config file is good!", output)
        self.assertIn(message, output)

    def test_docker_without_image_is_refused_by_buildbot(self) -> None:
        self.refused_by_buildbot(
            "docker",
            'image = "registry.example.org/bbmod/worker:f39"\n',
            "You need to specify at least an image name, or a dockerfile",
        )

    def test_openstack_without_auth_url_is_refused_by_buildbot(self) -> None:
        self.refused_by_buildbot(
            "openstack",
            'auth_url = "https://keystone.example.org:5000/v3", ',
            "Missing 'auth_url' from os_auth_args for OpenStackLatentWorker",
        )

    def test_ec2_without_keypair_is_refused_by_buildbot(self) -> None:
        self.refused_by_buildbot(
            "ec2",
            'keypair_name = "bbmod"\n',
            "'keypair_name' parameter must be specified",
        )

    def test_a_wrong_table_is_refused_naming_it(self) -> None:
        master = self.site("kubernetes")
        with open(os.path.join(master, "settings.toml"), "a", encoding="utf-8") as f:
            f.write('\n[latent_workers.bad]\ntype = "libvirt-ish"\n')
        result = self.checkconfig(master)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("latent_workers.bad.type 'libvirt-ish'", result.stdout + result.stderr)
