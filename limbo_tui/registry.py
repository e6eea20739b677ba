"""What a system database says about its DBOS release, queues and application versions.

Plain data, no I/O: pg/registry.py reads it (dbos.queues since 2.21, dbos.application_versions
in 3.x, the shape of workflow_status) and the snapshot carries it as one `Registry` row
that WorkflowGraph keeps beside the workflows. The rules read `DbosRelease` to say what
DBOS of that database will do next; the queue view reads the queue settings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DbosRelease:
    """What the DBOS releases that write this database do about stuck work. Read from
    its schema version (pg/dbos_schema.py names the releases of each), else from its
    shape: no parent_workflow_id means dbos <= 2.10, dbos.application_versions 3.x."""

    # The releases, as the header names them ("2.8-2.10", "3.4"); "" unknown.
    label: str = ""
    # DBOS fails a parent that waits on a dead child (2.12+) instead of polling for ever.
    # Without it (2.8), such a parent is in limbo at once: nothing will resolve it.
    fails_waiting_parent: bool = True

    @property
    def known(self) -> bool:
        return bool(self.label)


# No schema information (plain data, a registry that could not be read): the rules speak
# of the behaviour of current DBOS and name the release only where it matters.
UNKNOWN_RELEASE = DbosRelease()
DBOS_2_8 = DbosRelease(label="2.8-2.10", fails_waiting_parent=False)
DBOS_3 = DbosRelease(label="3.x", fails_waiting_parent=True)
# The first release that fails a parent waiting on a dead child.
_FAILS_WAITING_PARENT = (2, 12)


def release_of(releases: str, first_release: str) -> DbosRelease:
    """The behaviour of the releases `releases` ("2.11-2.12"), judged by the oldest one
    (`first_release`, X.Y.Z): a range that may hold a polling release is taken to poll."""
    major, minor = (int(p) for p in first_release.split(".")[:2])
    return DbosRelease(label=releases, fails_waiting_parent=(major, minor) >= _FAILS_WAITING_PARENT)


def release_from_schema(*, has_parent_column: bool, has_version_registry: bool) -> DbosRelease:
    """The release a schema's shape implies when its version names none. parent_workflow_id
    arrived in 2.11 and the dead-child failure in 2.12: a 2.11 shape is taken to poll."""
    if has_version_registry:
        return DBOS_3
    if has_parent_column:
        return DbosRelease(label="2.11+", fails_waiting_parent=False)
    return DBOS_2_8


@dataclass(frozen=True)
class QueueSettings:
    """One row of dbos.queues (what DBOS registered for a queue)."""

    name: str
    concurrency: int | None = None
    worker_concurrency: int | None = None
    rate_limit_max: int | None = None
    rate_limit_period_s: float | None = None
    priority_enabled: bool = False
    partitioned: bool = False


@dataclass(frozen=True)
class AppVersion:
    """One row of dbos.application_versions: the newest timestamp is the latest version."""

    name: str
    timestamp_ms: int = 0


@dataclass(frozen=True)
class Registry:
    """Everything above, read together; a new one replaces the old one whole."""

    release: DbosRelease = UNKNOWN_RELEASE
    queues: tuple[QueueSettings, ...] = ()
    versions: tuple[AppVersion, ...] = ()
    # Whether the database has each registry table at all (2.8 has neither).
    has_queue_registry: bool = False
    has_version_registry: bool = False

    def queue(self, name: str | None) -> QueueSettings | None:
        if name is None:
            return None
        for q in self.queues:
            if q.name == name:
                return q
        return None

    @property
    def latest_version(self) -> str | None:
        if not self.versions:
            return None
        return max(self.versions, key=lambda v: (v.timestamp_ms, v.name)).name
