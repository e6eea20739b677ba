"""The tree's columns (ui/tree_columns.py), pure: which fit, and every number whole and
in its column at every depth."""

from __future__ import annotations

from rich.cells import cell_len

from limbo_tui.ui import tree_columns as c

CELLS = {
    c.STATUS: ("● PENDING", "status-pending"),
    c.NAME: ("a_rather_long_workflow_name", ""),
    c.ID: ("fe5f923f", "wf-dim"),
    c.RECOVERIES: ("disp 4/3 refused", ""),
    c.STEPS: ("12 +1 failed", "wf-dim"),
    c.CURRENT: ("step 3 (try 2/3)", ""),
    c.AGE: ("1h05m", "wf-dim"),
    c.MARKS: ("‼ LIMBO", "wf-limbo"),
}
CONTENT = c.widths_of(CELLS)
# A child under a parent: guides of one level, no toggle.
INDENTS = (0, 2, 3, 5, 6)


def text(parts: list[c.Part]) -> str:
    return "".join(t for t, _ in parts)


def test_every_column_shows_when_there_is_room_and_lines_are_the_pane_width() -> None:
    lay = c.layout(160, CONTENT, indent_room=6)
    assert lay.shown == tuple(col.key for col in c.COLUMNS)
    for indent in INDENTS:
        line = text(c.row_parts(CELLS, lay, indent))
        assert cell_len(line) == 160 - indent
        assert "a_rather_long_workflow_name" in line


def test_numbers_sit_in_the_same_screen_columns_at_every_depth_and_under_their_title() -> None:
    lay = c.layout(120, CONTENT, indent_room=6)
    header = text(c.header_parts(lay, "t", "s"))
    lines = {i: " " * i + text(c.row_parts(CELLS, lay, i)) for i in INDENTS}
    for cell in ("fe5f923f", "disp 4/3 refused", "‼ LIMBO", "step 3 (try 2/3)"):
        places = {line.index(cell) for line in lines.values()}
        assert len(places) == 1, (cell, lines)
    # Titles of left-aligned columns start where their cells do; right-aligned end there.
    line = lines[3]
    assert header.index("id ") == line.index("fe5f923f")
    assert header.index("recovery") == line.index("disp 4/3 refused")
    assert header.index("age") + len("age") == line.index("1h05m") + len("1h05m")


def test_at_80x24_the_essentials_stay_whole_and_the_name_is_cut_first() -> None:
    # 80 columns: the tree pane gets 48 of them.
    lay = c.layout(48, CONTENT, indent_room=5)
    assert {c.STATUS, c.ID, c.RECOVERIES, c.MARKS} <= set(lay.shown)
    for indent in INDENTS[:4]:
        line = text(c.row_parts(CELLS, lay, indent))
        for whole in ("● PENDING", "fe5f923f", "disp 4/3 refused", "‼ LIMBO"):
            assert whole in line, (whole, line)
        assert cell_len(line) == 48 - indent
    # What went, went whole: no number cut in half.
    line = text(c.row_parts(CELLS, lay, 0))
    assert "step 3" not in line and "1h0" not in line and "12 +" not in line


def test_columns_go_least_needed_first_as_the_width_shrinks() -> None:
    order = []
    for width in range(160, 20, -1):
        shown = c.layout(width, CONTENT, indent_room=5).shown
        for key in (c.CURRENT, c.STEPS, c.AGE, c.NAME):
            if key not in shown and key not in order:
                order.append(key)
    assert order == [c.CURRENT, c.STEPS, c.AGE, c.NAME]
    narrow = c.layout(30, CONTENT, indent_room=5)
    assert narrow.shown == (c.STATUS, c.ID, c.RECOVERIES, c.MARKS)


def test_the_sorted_column_stays_and_its_title_carries_the_arrow() -> None:
    lay = c.layout(48, CONTENT, indent_room=5, sort_column=c.AGE, arrow="↓")
    assert c.AGE in lay.shown
    header = c.header_parts(lay, "t", "s")
    assert "s" in {cls for t, cls in header if "age↓" in t}, header
    assert "1h05m" in text(c.row_parts(CELLS, lay, 0))


def test_a_cell_that_does_not_fit_is_cut_with_an_ellipsis_never_wider() -> None:
    assert c.fit("dbos_workflow", 6) == "dbos_…"
    assert c.fit("12", 5, right=True) == "   12"
    assert c.fit("日本語の名前", 5) == "日本…"
    assert c.fit("日本語の名前", 6) == "日本… "
    assert cell_len(c.fit("日本語の名前", 5)) == 5


def test_wanted_width_fits_every_column_and_the_longest_name() -> None:
    want = c.wanted_width(CONTENT, indent_room=5)
    lay = c.layout(want, CONTENT, indent_room=5)
    assert lay.shown == tuple(col.key for col in c.COLUMNS)
    assert "a_rather_long_workflow_name" in text(c.row_parts(CELLS, lay, 5))


def test_a_column_no_line_has_a_cell_for_takes_no_room() -> None:
    content = {k: v for k, v in CONTENT.items() if k != c.CURRENT}
    lay = c.layout(160, content, indent_room=5)
    assert c.CURRENT not in lay.shown and c.AGE in lay.shown
    # Sorted by a column, it shows whatever its cells.
    assert c.AGE in c.layout(160, {c.STATUS: 9}, 5, sort_column=c.AGE, arrow="↓").shown
