"""What the app needs from the live feed it is given (a structural type, no import of
pg/feed.py). The worker and the actions are worker/protocol.py's Worker and
WorkflowActions. The CLI passes the real ones; tests pass small in-memory ones through
the same seams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class FeedLike(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


# (on_batch(FeedBatch), on_state(FeedState)) -> a feed not yet started.
FeedFactory = Callable[[Callable[[Any], None], Callable[[Any], None]], FeedLike]
