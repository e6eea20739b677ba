"""What the `/` filter searches, kept as rows change (pure: no I/O, no widgets).

Each workflow is found by its id, name, status, the status's word on screen and its
queue, case-insensitively; `queue:NAME` finds exactly the workflows of that queue (the
queue view's enter). The lower-cased text is built once per row change, not once per
keystroke; and while the filter text only grows (typing), a query searches only what the
previous one found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from limbo_tui.model import Workflow, WorkflowGraph

# Between the fields: a filter text (stripped, one line) never spans two of them.
_SEP = "\x00"
# `queue:NAME` in the filter: exactly the workflows of that queue.
QUEUE_FILTER = "queue:"


class SearchIndex:
    def __init__(self, status_word: Callable[[str], str]) -> None:
        self._word = status_word
        self._text: dict[str, str] = {}
        self._queue: dict[str, str | None] = {}
        self._last: tuple[str, frozenset[str]] | None = None

    def _haystack(self, wid: str, wf: Workflow) -> str:
        fields = (wid, wf.name or "", wf.status, self._word(wf.status), wf.queue or "")
        return _SEP.join(fields).lower()

    def rebuild(self, graph: WorkflowGraph) -> None:
        self._text = {wid: self._haystack(wid, wf) for wid, wf in graph.workflows.items()}
        self._queue = {wid: wf.queue for wid, wf in graph.workflows.items()}
        self._last = None

    def update(self, graph: WorkflowGraph, ids: Iterable[str]) -> None:
        """The rows of `ids` changed (or went): index them again."""
        for wid in ids:
            wf = graph.workflows.get(wid)
            if wf is None:
                self._queue.pop(wid, None)
                if self._text.pop(wid, None) is not None:
                    self._last = None
                continue
            self._queue[wid] = wf.queue
            text = self._haystack(wid, wf)
            if self._text.get(wid) != text:
                self._text[wid] = text
                self._last = None

    def matches(self, text: str) -> frozenset[str]:
        """Ids whose id, name, status or queue contains `text` (every id for none); with
        `queue:NAME`, those whose queue is exactly NAME."""
        if text.startswith(QUEUE_FILTER):
            queue = text[len(QUEUE_FILTER) :]
            return frozenset(w for w, q in self._queue.items() if q == queue)
        needle = text.strip().lower()
        if not needle:
            return frozenset(self._text)
        last = self._last
        if last is not None and needle.startswith(last[0]):
            pool: Iterable[str] = last[1]
            found = frozenset(w for w in pool if needle in self._text[w])
        else:
            found = frozenset(w for w, hay in self._text.items() if needle in hay)
        self._last = (needle, found)
        return found
