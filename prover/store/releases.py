"""Which migration each release's schema ended at: the one record that the
schema checks (``tests/unit/test_migrations_additive.py``), ``prover-manager
db status`` and the rolling-upgrade test (``tests/e2e/test_rolling_upgrade.py``,
``.ci/previous-release``) all read, so that they cannot disagree.

Why it matters: managers of one release line share a database with managers
of the release before it while they are upgraded one at a time. Every
migration after the previous release's head must therefore only add (see
``prover.store.migrations``), and ``db status`` can say which release a
database's schema belongs to.

Add a line here when a release is tagged: its version, the revision its
schema ended at, its git tag, and the commit the tag names (the fallback
where a checkout has no tags, such as a shallow CI clone).

This module imports nothing of prover's, so that ``.ci/previous-release``
can read it with a bare ``python3`` (``runpy.run_path``) before anything is
installed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    version: str  # "0.1.0"
    head: str  # the last migration revision of its schema, "0012"
    tag: str  # the git tag, "v0.1.0"
    commit: str  # the commit the tag names (short hash)


#: Every tagged release, oldest first.
RELEASES: tuple[Release, ...] = (
    Release(version="0.1.0", head="0012", tag="v0.1.0", commit="73e2e59"),
)


def previous_release() -> Release:
    """The newest tagged release: the one this tree's managers must run
    beside during a rolling upgrade, and whose head starts this release's
    additive-only migrations."""
    return RELEASES[-1]


def release_of(revision: str | None) -> Release | None:
    """The release whose schema ended at ``revision``, or None (a revision
    between releases, or unknown)."""
    return next((r for r in RELEASES if r.head == revision), None)


def version_key(version: str) -> tuple[int, ...]:
    """``"0.10.2"`` as ``(0, 10, 2)``, for ordering release versions
    (a ``ValueError`` for anything else: a marker must name a release)."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a release version (MAJOR.MINOR.PATCH): {version!r}")
    return tuple(int(p) for p in parts)
