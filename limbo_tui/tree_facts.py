"""What the tree's lines depend on beside the graph (TreeFacts: marks, live progress,
which rows are shown, the families' order) and which rows a view shows (visible_ids).

Pure: MonitorState builds them for its frame, the tree widget only paints from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from limbo_tui.model import WorkflowGraph
from limbo_tui.view_sort import Sort


@dataclass(frozen=True)
class TreeFacts:
    """Everything a tree line depends on besides the graph."""

    limbo_ids: frozenset[str] = frozenset()
    warning_ids: frozenset[str] = frozenset()
    # workflow id -> StepProgress(step_id, name, attempt, max_attempts) from the worker.
    progress: Mapping[str, Any] = field(default_factory=dict)
    # None: show everything; else only these ids.
    shown: frozenset[str] | None = None
    # The order of the families (view_sort).
    sort: Sort = field(default_factory=Sort)


def visible_ids(graph: WorkflowGraph, matches: Iterable[str]) -> frozenset[str]:
    """Matching workflows, their ancestors (the path to them) and their descendants
    (the context that explains them, e.g. the dead child of a parent in limbo)."""
    shown: set[str] = set()
    for wid in matches:
        if wid in shown:
            continue
        node: str | None = wid
        while node is not None and node not in shown:
            shown.add(node)
            node = graph.parent_of(node)
        stack = list(graph.children(wid))
        while stack:
            child = stack.pop()
            if child in shown:
                continue
            shown.add(child)
            stack.extend(graph.children(child))
    return frozenset(shown)
