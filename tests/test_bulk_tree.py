"""The one seam to Textual's private Tree parts (ui/bulk_tree.py), checked against the
installed Textual: a Textual release that renames or reshapes them fails here first, with
the member's name, rather than as a broken tree somewhere in the app's tests."""

from __future__ import annotations

import inspect

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Input, Tree
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
    render_line = inspect.signature(Tree._render_line)
    assert list(render_line.parameters) == ["self", "y", "x1", "x2", "base_style"], render_line
    # A property that builds the line list on demand, each line knowing its node.
    assert isinstance(inspect.getattr_static(Tree, "_tree_lines"), property)
    assert callable(tree._line_cache.clear), "Tree._line_cache has no clear()"
    node = tree.root.add("child", "data")
    for name in PRIVATE_NODE_MEMBERS:
        assert hasattr(node, name), f"TreeNode.{name} is gone"
    assert isinstance(node._children, list), "TreeNode._children is not a list"
    assert tree.root._children == [node]
    assert node._expanded is False and node.expand()._expanded is True
    # Every node by its id: what forget() drops a node from.
    assert tree._tree_nodes[node.id] is node
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
        # Its lines are painted as Tree paints them (the style read once per paint).
        tree.cursor_line = 1
        for y in range(4):
            assert list(tree.render_line(y)) == list(Tree.render_line(tree, y))
        crop = tree.region.reset_offset
        assert [list(s) for s in tree.render_lines(crop)][:3] == [
            list(Tree.render_line(tree, y)) for y in range(3)
        ]


class FoldWatch(OneTree):
    def __init__(self) -> None:
        super().__init__()
        self.folds: list[str | None] = []

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[str]) -> None:
        self.folds.append(event.node.data)


async def test_a_child_left_out_comes_back_whole_and_forget_drops_it() -> None:
    app = FoldWatch()
    async with app.run_test() as pilot:
        tree = app.query_one(BulkTree)
        tree.show_root = False
        a = tree.make_node(tree.root, Text("a"), "a", True)
        b = tree.make_node(tree.root, Text("b"), "b", False)
        tree.set_children(tree.root, [a, b])
        tree.set_children(a, [tree.make_node(a, Text("a1"), "a1", False)])
        tree.set_children(tree.root, [b])
        await pilot.pause()
        assert [n.data for n in tree.visible_nodes()] == ["b"]
        tree.set_children(tree.root, [a, b])
        await pilot.pause()
        assert [n.data for n in tree.visible_nodes()] == ["a", "a1", "b"]
        # The program's own fold says nothing: no NodeCollapsed for the app to take as
        # the user's choice.
        tree.set_expanded(a, False)
        await pilot.pause()
        assert [n.data for n in tree.visible_nodes()] == ["a", "b"] and app.folds == []
        a.collapse()  # the user's fold is told, as before
        await pilot.pause()
        assert app.folds == ["a"]
        tree.set_children(tree.root, [b])
        tree.forget(a)
        assert a.id not in tree._tree_nodes and a.children[0].id not in tree._tree_nodes


def fifty_lines(app: App[None]) -> BulkTree:
    """The app's tree as fifty leaves n0..n49 under a hidden root (taller than the screens)."""
    tree = app.query_one(BulkTree)
    tree.show_root = False
    nodes = [tree.make_node(tree.root, Text(f"n{i}"), f"n{i}", False) for i in range(50)]
    tree.set_children(tree.root, nodes)
    return tree


async def test_a_shorter_tree_keeps_its_line_list_and_a_narrower_one_rebuilds_it() -> None:
    # Tree's own handler rebuilds every line for any new size: a 25k-line tree made one
    # line shorter (the `/` filter line showing) rebuilt them all.
    app = OneTree()
    async with app.run_test(size=(40, 20)) as pilot:
        tree = fifty_lines(app)
        await pilot.pause()
        built = tree.lines_built
        tree.styles.height = 10
        await pilot.pause()
        assert tree.size.height == 10
        assert tree.lines_built == built
        assert "n0" in tree.render_line(0).text and "n9" in tree.render_line(9).text
        tree.styles.width = 20
        await pilot.pause()
        assert tree.size.width == 20
        assert tree.lines_built == built + 1
        assert "n0" in tree.render_line(0).text


class TreeAndField(App[None]):
    def compose(self) -> ComposeResult:
        yield BulkTree("root")
        yield Input()


async def test_focus_leaving_the_tree_repaints_its_lines_without_rebuilding_them() -> None:
    # Tree's own style update rebuilds every line: `/` moving the focus to the filter
    # line rebuilt a 25k-line tree before the filter's own sync.
    app = TreeAndField()
    async with app.run_test(size=(40, 20)) as pilot:
        tree = fifty_lines(app)
        tree.focus()
        await pilot.pause()
        tree.cursor_line = 0
        await pilot.pause()
        focused = tree.render_line(0)
        built = tree.lines_built
        app.query_one(Input).focus()
        await pilot.pause()
        assert not tree.has_focus
        assert tree.lines_built == built
        # The cursor's line is painted as a blurred tree's (another style), same text.
        blurred = tree.render_line(0)
        assert blurred.text == focused.text and list(blurred) != list(focused)
