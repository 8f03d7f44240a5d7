"""buildbot-modules tests (trial). Loading the suite takes a snapshot of the host."""

from . import host  # noqa: F401  (the snapshot is taken now, before any test runs)
