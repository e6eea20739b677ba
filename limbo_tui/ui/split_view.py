"""The split between the tree and the details: its own width by default, moved by the
user (`<` / `>`, kept for the session), or the details alone, full width (`z`).

By default the tree asks for what its columns need (every column, names whole up to a
limit) and gets it between 40% of the screen and what leaves the details DETAILS_MIN
cells (on a small screen, at least what its essential columns need): at 200 columns
neither pane is half blank, at 80 the details keep a readable third. A moved split is
a share of the screen, so it holds across a resize.
"""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widget import Widget

from limbo_tui.ui.workflow_tree import WorkflowTree

DETAILS_MIN = 32
SHARE_STEP = 10
SHARE_MIN, SHARE_MAX = 20, 80
# A moved split never leaves either pane narrower than this.
PANE_MIN = 20


def tree_width(screen: int, wanted: int, share: int | None, essential: int = 0) -> int:
    """The tree pane's width on a screen `screen` cells wide: `wanted` (what its columns
    need) within bounds, or `share` percent of the screen once the user moved it. On a
    small screen the tree gets at least its `essential` width (status, id, counter and
    mark whole) as long as the details keep PANE_MIN cells."""
    if share is not None:
        return max(min(round(screen * share / 100), screen - PANE_MIN), min(PANE_MIN, screen))
    most = max(screen - DETAILS_MIN, round(screen * 0.6), min(essential, screen - PANE_MIN))
    least = round(screen * 0.4)
    return max(least, min(wanted, most))


def moved_share(screen: int, width: int, step: int) -> int:
    """The share after one step from a split `width` cells wide (a multiple of the step,
    so that the keys walk 20%, 30%, ... 80%)."""
    now = width * 100 / max(screen, 1)
    base = round(now / SHARE_STEP) * SHARE_STEP
    return max(SHARE_MIN, min(SHARE_MAX, base + step))


class SplitView(Horizontal):
    """The tree's pane and the details pane, side by side (its first and second child)."""

    def __init__(self, *children: Widget, id: str | None = None) -> None:
        super().__init__(*children, id=id)
        # None: the tree's own width; else the share of the screen the user chose.
        self.share: int | None = None
        self.zoomed = False
        self._width = 0

    @property
    def _tree_pane(self) -> Widget:
        return self.children[0]

    @property
    def _details(self) -> Widget:
        return self.children[1]

    def widen_tree(self) -> None:
        self._move(+SHARE_STEP)

    def narrow_tree(self) -> None:
        self._move(-SHARE_STEP)

    def _move(self, step: int) -> None:
        self.share = moved_share(self.size.width, self._width, step)
        self.zoomed = False
        self.apply()

    def toggle_zoom(self) -> None:
        """The details alone, full width, or back to the split."""
        self.zoomed = not self.zoomed
        self.apply()

    def apply(self) -> None:
        pane = self._tree_pane
        pane.display = not self.zoomed
        self.set_class(self.zoomed, "-zoomed")
        if not self.zoomed and self.size.width:
            tree = self.query_one(WorkflowTree)
            # + the tree's scrollbar, which its lines leave room for.
            bar = tree.styles.scrollbar_size_vertical
            wanted, essential = tree.wanted_width() + bar, tree.essential_width() + bar
            width = tree_width(self.size.width, wanted, self.share, essential)
            if width != self._width:
                self._width = width
                pane.styles.width = width

    def on_resize(self) -> None:
        self.apply()

    def on_workflow_tree_columns_changed(self, message: WorkflowTree.ColumnsChanged) -> None:
        if self.share is None:
            self.apply()
