"""The one seam to Textual's private Tree parts (ui/bulk_tree.py), checked against the
installed Textual: a Textual release that renames or reshapes them fails here first, with
the member's name, rather than as a broken tree somewhere in the app's tests."""

from __future__ import annotations

import inspect

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from limbo_tui.ui.bulk_tree import (
    PRIVATE_NODE_MEMBERS,
    PRIVATE_TREE_MEMBERS,
    TOGGLE_STYLE,
    BulkTree,
)


def test_the_private_tree_members_exist_with_the_expected_shapes() -> None:
    tree: Tree[str] = Tree("root")
    for name in PRIVATE_TREE_MEMBERS:
        assert hasattr(tree, name), f"Tree.{name} is gone"
    add_node = inspect.signature(Tree._add_node)
    assert list(add_node.parameters) == ["self", "parent", "label", "data", "expand"], add_node
    assert list(inspect.signature(Tree._invalidate).parameters) == ["self"]
    # A property that builds the line list on demand, each line knowing its node.
    assert isinstance(inspect.getattr_static(Tree, "_tree_lines"), property)
    assert callable(tree._line_cache.clear), "Tree._line_cache has no clear()"
    node = tree.root.add("child", "data")
    for name in PRIVATE_NODE_MEMBERS:
        assert isinstance(getattr(node, name), list), f"TreeNode.{name} is not a list"
    assert tree.root._children == [node]
    # A click on a line's toggle icon folds / unfolds only if the icon carries this meta.
    from textual.widgets import _tree

    assert _tree.TOGGLE_STYLE.meta == TOGGLE_STYLE.meta


class OneTree(App[None]):
    def compose(self) -> ComposeResult:
        yield BulkTree("root")


async def test_bulk_nodes_reorder_keeping_their_subtrees() -> None:
    app = OneTree()
    async with app.run_test() as pilot:
        tree = app.query_one(BulkTree)
        tree.show_root = False
        a = tree.make_node(tree.root, Text("a"), "a", True)
        b = tree.make_node(tree.root, Text("b"), "b", False)
        # Made but not placed: the tree shows nothing yet.
        assert tree.visible_nodes() == []
        tree.set_children(tree.root, [a, b])
        a_kid = tree.make_node(a, Text("a1"), "a1", False)
        tree.set_children(a, [a_kid])
        await pilot.pause()
        assert [n.data for n in tree.visible_nodes()] == ["a", "a1", "b"]
        # Reordered: a keeps its open subtree, b stays folded.
        tree.set_children(tree.root, [b, a])
        await pilot.pause()
        assert [n.data for n in tree.visible_nodes()] == ["b", "a", "a1"]
        assert isinstance(a_kid, TreeNode) and a.is_expanded and not b.is_expanded
        tree.repaint_lines()
        await pilot.pause()
        assert "a1" in "".join(str(s.text) for s in [tree.render_line(2)])
