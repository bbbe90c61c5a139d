"""Schema migrations (Alembic), one module per revision in ``versions/``.

Expand now, contract a release later
------------------------------------

Managers are upgraded one at a time: for a while a manager of the previous
release keeps running, and may keep leading, on the schema the new release
migrated. So within a release line a migration only **adds**: tables,
nullable columns (or NOT NULL ones with a server default, which an older
manager's inserts leave to the database), indexes, rows. It never drops,
renames or changes the type of anything an older manager reads or writes,
and never makes a column NOT NULL or adds a constraint that an older
manager's writes could break.

``prover.store.releases`` records the revision each release's schema ended
at; ``tests/unit/test_migrations_additive.py`` reads (with ``ast``, never
running them) the ``upgrade()`` of every migration after the previous
release's head and fails on anything that is not additive.

What a later release no longer uses is removed by a **contract step**: a
migration of its own that does the drop (or rename, or type change), marked
at module level with the release it belongs to::

    CONTRACT_STEP = "0.3.0"

The marker is a promise, checked by a person at review: the release before
``CONTRACT_STEP`` already stopped reading and writing what the migration
removes, so its managers run on the contracted schema. Upgrading to that
release is then rolling only from its immediate predecessor (every manager
must run the release before it first); the test accepts a marked migration's
drops only when the marker names a release after the previous one.

Migrations run under a database lock (``prover.store.migrate``): by
``prover-manager db upgrade``, or by a daemon configured with ``[database]
migrate = "auto"``.
"""

#: The module-level name that marks a migration as a contract step.
CONTRACT_MARKER = "CONTRACT_STEP"
