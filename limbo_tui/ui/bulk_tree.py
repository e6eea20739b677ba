"""BulkTree: Textual's Tree with the bulk operations a large live tree needs.

Tree's public API adds one node at a time and invalidates the whole tree for each
(a snapshot makes ~10k nodes), has no way to reorder children (remove + add would lose
each subtree's expansion) and no way to repaint every line without rebuilding them.
Those need Tree's private parts; this is the one module that touches them, and
tests/test_bulk_tree.py checks them against the installed Textual, so that an upgrade
that changes them fails there first, by name.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
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
)
PRIVATE_NODE_MEMBERS: tuple[str, ...] = ("_children", "_expanded")
# What Tree's click handler looks for on a line's toggle icon (a line painted by
# render_label of our own draws the icon with it, as Tree's does).
TOGGLE_STYLE = Style.from_meta({"toggle": True})


class BulkTree(Tree[str]):
    """A Tree of string node data with bulk node making, reordering and repainting."""

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
