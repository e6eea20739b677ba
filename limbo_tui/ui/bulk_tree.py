"""BulkTree: Textual's Tree with the bulk operations a large live tree needs.

Tree's public API adds one node at a time and invalidates the whole tree for each
(a snapshot makes ~10k nodes), has no way to reorder children (remove + add would lose
each subtree's expansion) and no way to repaint every line without rebuilding them; and
Tree rebuilds its whole line list on any resize and any style update, where only a new
width can change a line (the `/` filter line showing made the tree 1 line shorter and
took its focus: two rebuilds of 25k lines before the filter's own).
Those need Tree's private parts; this is the one module that touches them, and
tests/test_bulk_tree.py checks them against the installed Textual, so that an upgrade
that changes them fails there first, by name.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

# What this module reads or calls of Textual's Tree and TreeNode (the seam's test
# checks each one on the installed Textual).
PRIVATE_TREE_MEMBERS: tuple[str, ...] = (
    "_add_node",
    "_invalidate",
    "_tree_lines",
    "_line_cache",
    "_tree_nodes",
    "_build",
    "_on_resize",
    "_render_line",
)
PRIVATE_NODE_MEMBERS: tuple[str, ...] = ("_children", "_expanded")
# What Tree's click handler looks for on a line's toggle icon (a line painted by
# render_label of our own draws the icon with it, as Tree's does).
TOGGLE_STYLE = Style.from_meta({"toggle": True})


class BulkTree(Tree[str]):
    """A Tree of string node data with bulk node making, reordering and repainting."""

    # How many times the line list was rebuilt (tests count them; a rebuild walks every
    # open node).
    lines_built = 0
    _lines_width = -1

    def _build(self) -> None:
        self.lines_built += 1
        super()._build()

    # The widget's style while its lines are painted (render_lines): Tree reads it again
    # for every line, ~0.1 ms each, more than a kept line costs to paint.
    _line_style: Style | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._line_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._line_style = None

    def render_line(self, y: int) -> Strip:
        # Tree's own, with the style read once per paint (render_lines), not per line.
        style = self._line_style if self._line_style is not None else self.rich_style
        scroll_x, scroll_y = self.scroll_offset
        return self._render_line(y + scroll_y, scroll_x, scroll_x + self.size.width, style)

    def notify_style_update(self) -> None:
        # Instead of Tree's, which rebuilds the line list as well: a style (a focus
        # moving to the `/` filter line, a theme) changes how lines look, not which.
        super(Tree, self).notify_style_update()
        self.repaint_lines()

    def _on_resize(self, event: events.Resize) -> None:
        # Instead of Tree's handler (prevent_default), which rebuilds the line list for
        # any new size: lines depend on the width only.
        event.prevent_default()
        self._line_cache.grow(event.size.height)
        if event.size.width != self._lines_width:
            self._lines_width = event.size.width
            self._invalidate()

    def make_node(
        self, parent: TreeNode[str], label: Text, data: str, expanded: bool
    ) -> TreeNode[str]:
        """A node for parent's child list, not yet in it: place it with set_children.
        Nothing is invalidated (TreeNode.add would invalidate the tree for each node)."""
        return self._add_node(parent, label, data, expanded)

    def set_children(self, parent: TreeNode[str], children: Sequence[TreeNode[str]]) -> None:
        """Make `children` (nodes of this tree, existing or from make_node) parent's
        child list, in this order, keeping each subtree and its expansion; the tree's
        lines are rebuilt once. A child left out is kept whole (with its subtree), off
        the screen, and can be placed under the same parent again; forget() drops it."""
        parent._children[:] = children
        self._invalidate()

    def forget(self, node: TreeNode[str]) -> None:
        """Drop for good a node (and its subtree) that set_children left out."""
        stack = [node]
        while stack:
            gone = stack.pop()
            self._tree_nodes.pop(gone.id, None)
            stack.extend(gone._children)

    @staticmethod
    def subtree(node: TreeNode[str]) -> list[TreeNode[str]]:
        """A node and every node made under it, shown or folded, parents first: what a
        view hides with it (25k nodes at once for a filter)."""
        out = [node]
        i = 0
        while i < len(out):
            out.extend(out[i]._children)
            i += 1
        return out

    def set_expanded(self, node: TreeNode[str], expanded: bool) -> None:
        """Open or fold a node as the program's choice: no NodeExpanded / NodeCollapsed
        message (those say the user chose), the lines rebuilt on the next paint."""
        if node._expanded != expanded:
            node._expanded = expanded
            self._invalidate()

    def visible_nodes(self, start: int = 0, end: int | None = None) -> list[TreeNode[str]]:
        """The node of each line the tree shows (inside opened families), top to bottom;
        of lines start to end (exclusive) when given."""
        return [line.node for line in self._tree_lines[start:end]]

    def repaint_lines(self) -> None:
        """Paint every visible line again (what render_label adds changed, e.g. ages),
        without rebuilding the line list."""
        self._line_cache.clear()
        self.refresh()
