"""Alembic migrations of the module registry (run by :meth:`Registry.upgrade`).

No ``alembic.ini`` is needed: :meth:`Registry.alembic_config` builds the configuration.
A new revision, from the project's root::

    .venv/bin/python -c "from alembic import command; from buildbot_modules.registry import \
Registry; command.revision(Registry('sqlite:///dev.sqlite').alembic_config(), 'what', \
rev_id='0002')"

then write its ``upgrade()`` and ``downgrade()`` with portable operations (SQLite needs
``op.batch_alter_table`` to alter columns) and update ``schema.py`` to match.
"""
