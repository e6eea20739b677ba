"""The tree's columns: which ones fit a width, how wide each is, one line laid out.

Pure (no Textual): the tree and its header line both lay out from one Layout, so a
number sits under its column's title at every depth. The name takes what the other
columns leave (and what a shallow line does not use of the indentation), so it is
truncated before any number; when even that does not fit, whole columns go, least
needed first, never the status, the id, the recoveries or the marks (the essentials
at 80x24), nor the column the tree is sorted by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.cells import cell_len

Part = tuple[str, str]  # (text, style class or "")

STATUS = "status"
NAME = "name"
ID = "id"
RECOVERIES = "recoveries"
STEPS = "steps"
CURRENT = "current"
AGE = "age"
MARKS = "marks"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    right: bool = False  # numbers align on their last digit
    # Dropped first when the width is short (lowest first); None: always shown.
    drop_rank: int | None = None
    # At least this wide (a column whose cells change width as time passes).
    min_width: int = 0


COLUMNS: tuple[Column, ...] = (
    Column(STATUS, "status"),
    Column(NAME, "name", drop_rank=4),
    Column(ID, "id"),
    Column(RECOVERIES, "recovery"),
    Column(STEPS, "steps", right=True, drop_rank=2),
    Column(CURRENT, "current", drop_rank=1),
    # An age is at most 5 cells ("9m59s", "23h59m"): its width never jumps as time passes.
    Column(AGE, "age", right=True, drop_rank=3, min_width=6),
    Column(MARKS, "mark"),
)
BY_KEY: dict[str, Column] = {c.key: c for c in COLUMNS}
GAP = 1
# The name keeps at least this much before it goes as a whole column; and asks for at
# most this much when the tree is sized to what it needs.
NAME_MIN = 5
NAME_MAX = 40
ELLIPSIS = "…"


@dataclass(frozen=True)
class Layout:
    """Where each column of a line is, for a pane `width` cells wide whose deepest line
    is indented `indent_room` cells."""

    width: int
    indent_room: int
    shown: tuple[str, ...]
    # Each shown column's width; the name's is its width on the most indented line.
    widths: Mapping[str, int]
    sort_column: str | None = None
    arrow: str = ""

    def name_width(self, indent: int) -> int:
        return self.widths.get(NAME, 0) + self.indent_room - indent


def column_width(column: Column, content: Mapping[str, int], arrow: str = "") -> int:
    """Wide enough for its widest cell and its title (with the sort's arrow if sorted)."""
    title = cell_len(column.title + arrow)
    return max(title, content.get(column.key, 0), column.min_width)


def layout(
    width: int,
    content: Mapping[str, int],
    indent_room: int,
    sort_column: str | None = None,
    arrow: str = "",
) -> Layout:
    """The columns that fit `width`, given the widest cell seen of each (`content`)."""
    widths = {
        c.key: column_width(c, content, arrow if c.key == sort_column else "")
        for c in COLUMNS
        if c.key != NAME
    }
    shown = list(COLUMNS)

    def fixed() -> int:
        others = sum(widths[c.key] for c in shown if c.key != NAME)
        return indent_room + others + GAP * (len(shown) - 1)

    droppable = sorted(
        (c for c in COLUMNS if c.drop_rank is not None and c.key != sort_column),
        key=lambda c: c.drop_rank or 0,
    )
    # A column no line has anything for yet (no live step seen) only takes room.
    for column in [c for c in droppable if c.key != NAME and not content.get(c.key)]:
        shown.remove(column)
        droppable.remove(column)
    while droppable and fixed() + (NAME_MIN if BY_KEY[NAME] in shown else 0) > width:
        shown.remove(droppable.pop(0))
    if BY_KEY[NAME] in shown:
        widths[NAME] = max(NAME_MIN, width - fixed())
    else:
        # No name to take the slack: the status does (a line stays the pane's width).
        widths[STATUS] += max(0, width - fixed())
    return Layout(width, indent_room, tuple(c.key for c in shown), widths, sort_column, arrow)


def wanted_width(content: Mapping[str, int], indent_room: int) -> int:
    """The width at which every column shows and the longest name (up to NAME_MAX) fits
    whole on the most indented line: what the tree asks for when the split is its own."""
    others = sum(column_width(c, content) for c in COLUMNS if c.key != NAME)
    name = min(max(content.get(NAME, 0), NAME_MIN), NAME_MAX)
    return indent_room + others + name + GAP * (len(COLUMNS) - 1)


def essential_width(content: Mapping[str, int], indent_room: int) -> int:
    """The narrowest width at which no column that is never dropped is cut."""
    kept = [c for c in COLUMNS if c.drop_rank is None]
    return indent_room + sum(column_width(c, content) for c in kept) + GAP * (len(kept) - 1)


def fit(text: str, width: int, right: bool = False) -> str:
    """text in exactly `width` cells: cut with an ellipsis, or padded."""
    if width <= 0:
        return ""
    size = cell_len(text)
    if size > width:
        out, used = "", 0
        for ch in text:
            w = cell_len(ch)
            if used + w > width - 1:
                break
            out, used = out + ch, used + w
        return out + ELLIPSIS + " " * (width - 1 - used)
    pad = " " * (width - size)
    return pad + text if right else text + pad


def row_parts(cells: Mapping[str, Part], lay: Layout, indent: int) -> list[Part]:
    """One line's columns, `lay.width - indent` cells in all (what follows the tree's
    guides and toggle on a line indented `indent` cells)."""
    parts: list[Part] = []
    room = lay.indent_room - indent
    for i, key in enumerate(lay.shown):
        column = BY_KEY[key]
        text, cls = cells.get(key, ("", ""))
        width = lay.name_width(indent) if key == NAME else lay.widths[key]
        if i:
            parts.append((" " * GAP, ""))
        if key == STATUS and NAME not in lay.shown:
            width += room  # no name to take up the shallower indentation: the status does
        parts.append((fit(text, width, column.right), cls))
    return parts


def header_parts(lay: Layout, title_class: str, sorted_class: str) -> list[Part]:
    """The header line: each shown column's title above it, the sorted one with its
    direction arrow (and its own style, so that it reads without colour too)."""
    parts: list[Part] = []
    for i, key in enumerate(lay.shown):
        column = BY_KEY[key]
        title = column.title + (lay.arrow if key == lay.sort_column else "")
        width = lay.name_width(0) if key == NAME else lay.widths[key]
        if key == STATUS and NAME not in lay.shown:
            width += lay.indent_room
        if i:
            parts.append((" " * GAP, ""))
        cls = sorted_class if key == lay.sort_column else title_class
        cell = fit(title, width, column.right)
        # Only the title takes the style (an underline must not run into the gap).
        bare = cell.strip(" ")
        start = cell.index(bare) if bare else 0
        parts += [(cell[:start], ""), (bare, cls), (cell[start + len(bare) :], "")]
    return parts


def widths_of(cells: Mapping[str, Part]) -> dict[str, int]:
    return {key: cell_len(text) for key, (text, _) in cells.items()}
