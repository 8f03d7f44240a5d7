"""Koji (docs/koji.md): module builds set up in a Koji hub — tags, target, groups,
inheritance — and their components either built by Koji (``backend = "koji"``) or built
by our workers and registered in Koji as a content generator (``koji_import = true``).

``client.py`` talks to the hub (blocking; one session per thread, retries), ``naming.py``
names tags the MBS way, ``setup.py`` creates a module's tags and target, ``repos.py``
coalesces repository regenerations, ``backend.py`` is the component backend,
``cg.py`` the content-generator import, ``steps.py`` the module build's Koji steps.
"""
