"""The footer at 80 and 60 columns: every key the help lists for the mode, none cut."""

from __future__ import annotations

from typing import Any

import pytest
from test_ui_support import WorkerDouble, make_app, screen_lines

from limbo_tui.ui.bindings import KEYS
from limbo_tui.ui.key_footer import KeyFooter, short_key


def footer_text(app: Any) -> str:
    footer = app.query_one(KeyFooter)
    lines = screen_lines(app)
    region = footer.region
    return "\n".join(lines[region.y : region.bottom])


def expected(app: Any) -> list[Any]:
    """The first key of each action the app allows now (the help lists them all; q
    stands for quit, ctrl+c being its second key)."""
    first: dict[str, Any] = {}
    for k in KEYS:
        if app.check_action(k.action, ()) is not False:
            first.setdefault(k.action, k)
    return list(first.values())


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("mode", ["lab", "monitor", "read-only"])
async def test_footer_shows_every_key_of_the_mode_uncut(width: int, mode: str) -> None:
    worker = None if mode == "monitor" else WorkerDouble()
    app, _ = make_app(worker=worker, read_only=mode == "read-only")
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause()
        text = footer_text(app)
        rows = text.split("\n")
        assert 1 <= len(rows) <= (2 if width == 80 else 3), text
        # Each entry whole on one row: "<keys> <label>", never split across rows; the
        # keys of a group share one ("f/F fork", "</>/z split").
        keys = expected(app)
        for k in keys:
            group = [m for m in keys if k.group and m.group == k.group] or [k]
            label = group[0].short or group[0].label.lower()
            entry = "/".join(short_key(m.key) for m in group) + f" {label}"
            assert any(entry in row for row in rows), (k, entry, text)
        for row in rows:
            assert len(row.rstrip()) <= width, row
        assert "palettey" not in text
        if mode == "read-only":
            assert "crash" not in text and "enq" not in text
        else:
            assert "x crash" in text


async def test_footer_drops_the_filter_key_while_typing_in_the_filter() -> None:
    app, _ = make_app(worker=WorkerDouble())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "/ find" in footer_text(app)
        await pilot.press("slash")
        await pilot.pause()
        assert "/ find" not in footer_text(app)
