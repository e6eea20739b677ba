"""The filter's index (limbo_tui/search.py) answers as a full scan would, after any rows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from limbo_tui import status_style
from limbo_tui.model import Workflow, WorkflowGraph, WorkflowRemoved
from limbo_tui.search import SearchIndex


def _scan(graph: WorkflowGraph, text: str) -> frozenset[str]:
    needle = text.strip().lower()
    return frozenset(
        wid
        for wid, wf in graph.workflows.items()
        if any(
            needle in h.lower()
            for h in (wid, wf.name, wf.status, status_style.word(wf.status), wf.queue or "")
        )
    )


ids = st.sampled_from(["a1", "a2", "b1", "bq", "zz"])
rows = st.one_of(
    st.builds(
        Workflow,
        id=ids,
        status=st.sampled_from(["PENDING", "ENQUEUED", "SUCCESS", "ZOMBIE", ""]),
        name=st.sampled_from(["", "alpha", "beta_job", "Q"]),
        queue=st.sampled_from([None, "bulk", "qa"]),
    ),
    st.builds(WorkflowRemoved, id=ids),
)


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(st.lists(rows, max_size=4), max_size=6),
    typed=st.lists(st.sampled_from(["a", "b", "q", "u", "l", " ", "E"]), max_size=5),
)
def test_index_after_any_rows_and_typing_equals_a_full_scan(
    batches: list[list[object]], typed: list[str]
) -> None:
    graph = WorkflowGraph()
    index = SearchIndex(status_style.word)
    index.rebuild(graph)
    text = ""
    for batch, ch in zip(batches, [*typed, *[""] * len(batches)], strict=False):
        changed = graph.apply(batch)  # type: ignore[arg-type]
        index.update(graph, changed)
        text += ch
        assert index.matches(text) == _scan(graph, text)
    for ch in typed:
        text += ch
        assert index.matches(text) == _scan(graph, text)


def test_queue_prefix_finds_exactly_that_queue() -> None:
    graph = WorkflowGraph()
    graph.apply([Workflow("a", "ENQUEUED", queue="bulk"), Workflow("b", "ENQUEUED", queue="bulky")])
    index = SearchIndex(status_style.word)
    index.rebuild(graph)
    assert index.matches("queue:bulk") == {"a"}
    assert index.matches("bulk") == {"a", "b"}
