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
    """The behaviour of the DBOS release that writes this database, as far as its schema
    tells: a schema without parent_workflow_id was written by dbos <= 2.10 (2.8's
    shape), one with dbos.application_versions by dbos 3.x."""

    # What the header and the sentences call it ("2.8-2.10", "2.11+", "3.x"); "" unknown.
    label: str = ""
    # DBOS fails a parent that waits on a dead child (2.12+) instead of polling for ever.
    # Without it (2.8), such a parent is in limbo at once: nothing will resolve it.
    fails_waiting_parent: bool = True
    # `resume` re-enqueues on DBOS's internal queue, where any live executor of the
    # workflow's version takes it, and resets its recovery attempts (3.x).
    resume_hands_over: bool = True

    @property
    def known(self) -> bool:
        return bool(self.label)


# No schema information (plain data, a registry that could not be read): the rules speak
# of the behaviour of current DBOS and name the release only where it matters.
UNKNOWN_RELEASE = DbosRelease()
DBOS_2_8 = DbosRelease(label="2.8-2.10", fails_waiting_parent=False, resume_hands_over=False)
DBOS_2_11 = DbosRelease(label="2.11+", fails_waiting_parent=True, resume_hands_over=False)
DBOS_3 = DbosRelease(label="3.x", fails_waiting_parent=True, resume_hands_over=True)


def release_from_schema(*, has_parent_column: bool, has_version_registry: bool) -> DbosRelease:
    """The release a schema's shape implies. parent_workflow_id arrived in 2.11 and the
    dead-child failure in 2.12: a 2.11 database is taken for the newer behaviour."""
    if has_version_registry:
        return DBOS_3
    if has_parent_column:
        return DBOS_2_11
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
