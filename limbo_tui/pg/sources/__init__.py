"""Change sources: what tells the live feed which rows changed.

Every source has the same shape (ChangeSource): `start()` subscribes before the feed's
snapshot (so nothing between the two is lost), `changes(timeout)` waits for and returns
what changed as `Changes` (ids to fetch, or `resync`: take a new snapshot), `prove()` is
an end-to-end round trip through the source itself, and `close()` lets go. A source that
stops working raises SourceFailed with a reason the header can show; the feed then falls
back to delta polling, which needs nothing but SELECT.

  polling.DeltaPoller  reads only what can have changed, on DBOS's own indexes (default)
  notify.NotifySource  LISTEN on limbo-tui's trigger channel (the lab's default)
  logical.LogicalSource  a temporary logical replication slot (opt-in, any write rate)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol


class SourceFailed(Exception):
    """The source cannot (or no longer) tell changes; `reason` is for the header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Changes:
    # Workflow rows to fetch again (missing ones are deletions).
    workflows: set[str] = field(default_factory=set)
    # Single step rows to fetch again: (workflow id, function id).
    steps: set[tuple[str, int]] = field(default_factory=set)
    # Workflows whose every step row is fetched again.
    all_steps: set[str] = field(default_factory=set)
    # Something changed that the ids cannot say: take a new snapshot.
    resync: bool = False

    def __bool__(self) -> bool:
        return self.resync or bool(self.workflows or self.steps or self.all_steps)

    def merge(self, other: Changes) -> None:
        self.workflows |= other.workflows
        self.steps |= other.steps
        self.all_steps |= other.all_steps
        self.resync = self.resync or other.resync


class ChangeSource(Protocol):
    # "notify", "logical" or "poll": what the header names.
    kind: str

    async def start(self) -> None:
        """Subscribe; called before the snapshot. Raises SourceFailed."""

    async def changes(self, timeout: float) -> Changes:
        """What changed, waiting at most `timeout` s for something (may be empty)."""

    async def prove(self) -> None:
        """A round trip through the source itself; raises SourceFailed when it fails."""

    def describe(self) -> str:
        """The header's words for this source now, e.g. 'via notify'."""

    async def close(self) -> None: ...


async def wait_for_turn(next_at: float, timeout: float) -> bool:
    """A source that reads on a schedule: sleep until its next read (monotonic next_at)
    and say True, or, when that is further off than timeout, sleep timeout and say False
    (the caller returns no changes)."""
    wait = next_at - time.monotonic()
    if wait > timeout:
        await asyncio.sleep(max(0.0, timeout))
        return False
    if wait > 0:
        await asyncio.sleep(wait)
    return True
