"""What the app needs from the live feed it is given (a structural type, no import of
pg/feed.py). The worker and the actions are worker/protocol.py's Worker and
WorkflowActions. The CLI passes the real ones; tests pass small in-memory ones through
the same seams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


class FeedLike(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@runtime_checkable
class BacklogPages(Protocol):
    """A feed that can read the next page of a summarized backlog (pg/feed.LiveFeed): the
    ENQUEUED workflows of `queue` older than (created_at, id), newest first, with their
    steps. A feed without it leaves the rest of a backlog counted, not shown."""

    async def load_page(self, queue: str, older_than: tuple[int, str]) -> list[Any]: ...


# (on_batch(FeedBatch), on_state(FeedState)) -> a feed not yet started.
FeedFactory = Callable[[Callable[[Any], None], Callable[[Any], None]], FeedLike]
