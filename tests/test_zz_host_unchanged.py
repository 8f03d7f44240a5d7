"""Runs last (trial orders modules by name): the whole suite left the host unchanged."""

from __future__ import annotations

from twisted.trial import unittest

from . import host


class HostUnchanged(unittest.TestCase):
    def test_rpm_database_usr_etc_and_dnf_local_plugin(self) -> None:
        now = host.snapshot()
        changed = {k: (host.AT_START[k], now[k]) for k in now if now[k] != host.AT_START[k]}
        self.assertEqual(changed, {}, "the test suite changed the host")
