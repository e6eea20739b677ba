"""The status groups have one owner (model.py): they partition DBOS's statuses as its
rules do, and no other module of limbo-tui lists statuses of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import limbo_tui
from limbo_tui import model


def test_live_and_finished_split_every_status_and_unknown_ones_stay_live() -> None:
    live = set(model.LIVE_STATUSES)
    assert live | model.FINISHED_STATUSES == set(model.STATUSES)
    assert not live & model.FINISHED_STATUSES
    # A status a newer DBOS invents is shown as unfinished work, never hidden as done.
    assert not model.is_finished("SOME_NEW_STATUS") and not model.is_finished(None)


def test_the_narrower_groups_sit_where_dbos_puts_them() -> None:
    live = set(model.LIVE_STATUSES)
    assert model.QUEUED_STATUSES | {model.PENDING} == live
    assert live - {model.DELAYED} == model.NEEDS_EXECUTOR_STATUSES
    assert live == model.DEDUP_HOLDING_STATUSES
    # Cancel and resume refuse only what completed; a cancelled or dead-lettered
    # workflow can still be resumed.
    assert {model.SUCCESS, model.ERROR} == model.COMPLETED_STATUSES
    assert model.CANCELLED not in model.COMPLETED_STATUSES
    assert model.DEAD_STATUSES | {model.SUCCESS} == model.FINISHED_STATUSES


def _status_collections(tree: ast.AST) -> list[int]:
    """Lines of tuple / list / set literals that name two statuses or more."""
    names = set(model.STATUSES)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            listed = [
                e.value
                if isinstance(e, ast.Constant)
                else getattr(e, "attr", getattr(e, "id", None))
                for e in node.elts
            ]
            if sum(1 for v in listed if v in names) >= 2:
                found.append(node.lineno)
    return found


def test_no_module_but_model_lists_statuses_of_its_own() -> None:
    root = Path(limbo_tui.__file__).parent
    owners = {root / "model.py", root / "ui" / "status_style.py"}  # the look of each one
    elsewhere = {
        str(path.relative_to(root)): lines
        for path in sorted(root.rglob("*.py"))
        if path not in owners and (lines := _status_collections(ast.parse(path.read_text())))
    }
    assert elsewhere == {}
