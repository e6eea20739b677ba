"""The workflow tree: families, most recent first, children nested in call order.

Updates are incremental: sync() touches only the families whose ids changed, keeps
every existing node (so expansion, the cursor and the scroll position survive) and only
relabels lines whose content changed. Ages are painted at render time from `now_ms`,
so the 1 Hz age tick repaints visible lines only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from limbo_tui.model import WorkflowGraph
from limbo_tui.ui import status_style
from limbo_tui.ui.workflow_lines import TreeFacts, age_text, line_parts

WorkflowNode = TreeNode[str]


class WorkflowTree(Tree[str]):
    """Tree of workflow ids (node.data); labels come from workflow_lines.line_parts."""

    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {
        *status_style.STATUS_CLASSES,
        status_style.LIMBO_CLASS,
        status_style.WARNING_CLASS,
        status_style.DIM_CLASS,
        status_style.NOT_LOADED_CLASS,
    }

    def __init__(self, clock: Callable[[], int], *, id: str | None = None) -> None:
        super().__init__("workflows", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.auto_expand = True
        self._clock = clock
        self.now_ms = clock()
        self._node_by_id: dict[str, WorkflowNode] = {}
        # The user's own expand / fold choices, so that they outlive a node (a filter
        # removes nodes; clearing it brings them back as the user left them).
        self._expanded_by_user: dict[str, bool] = {}
        self._graph = WorkflowGraph()
        self._facts = TreeFacts()

    # -- reading -----------------------------------------------------------------------
    @property
    def selected_id(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def node_for(self, workflow_id: str) -> WorkflowNode | None:
        return self._node_by_id.get(workflow_id)

    def shown_ids(self) -> list[str]:
        """Ids on visible lines, top to bottom (tests and the palette use it)."""
        return [line.node.data for line in self._tree_lines if line.node.data is not None]

    # -- updating ----------------------------------------------------------------------
    def sync(
        self, graph: WorkflowGraph, facts: TreeFacts, changed: Iterable[str], everything: bool
    ) -> None:
        """Bring the tree in line with the graph for the changed ids (or everything)."""
        self._graph, self._facts = graph, facts
        anchor = self._cursor_anchor()
        changed = set(changed)
        # A changed id may change its own line, its child list and (via shown) the lines
        # of its ancestors: those are the nodes whose children get reconciled.
        affected: set[str] = set()
        for wid in changed:
            node_id: str | None = wid
            while node_id is not None and node_id not in affected:
                affected.add(node_id)
                node_id = graph.parent_of(node_id)
        roots = [r for r in graph.roots() if facts.shown is None or r in facts.shown]
        created = self._reconcile(self.root, roots, affected, everything)
        for wid in changed if not everything else list(self._node_by_id):
            node = self._node_by_id.get(wid)
            if node is not None and wid not in created:
                self._relabel(node)
        self._restore_anchor(anchor)

    def relabel_all(self) -> None:
        for node in self._node_by_id.values():
            self._relabel(node)

    def tick(self) -> None:
        """Repaint the visible lines so that ages move on; no rebuild of the tree."""
        self.now_ms = self._clock()
        self._line_cache.clear()
        self.refresh()

    def select_workflow(self, workflow_id: str) -> bool:
        """Move the cursor to a workflow, expanding its ancestors; False if not shown."""
        node = self._node_by_id.get(workflow_id)
        if node is None:
            return False
        parent = node.parent
        while parent is not None and parent is not self.root:
            parent.expand()
            parent = parent.parent
        self.move_cursor(node, animate=False)
        return True

    # -- painting ----------------------------------------------------------------------
    def render_label(self, node: WorkflowNode, base_style: Style, style: Style) -> Text:
        text = super().render_label(node, base_style, style)
        wf = self._graph.get(node.data) if node.data is not None else None
        if wf is not None and wf.created_at_ms is not None:
            age = age_text(self.now_ms - wf.created_at_ms)
            dim = self.get_component_rich_style(status_style.DIM_CLASS, partial=True)
            text.append(f" {age}", style=style + dim)
        return text

    def notify_style_update(self) -> None:
        # Labels carry styles resolved from the stylesheet: re-resolve on theme change.
        super().notify_style_update()
        self.relabel_all()

    # -- internals ---------------------------------------------------------------------
    def _line_label(self, workflow_id: str) -> Text:
        text = Text()
        for part, cls in line_parts(self._graph, workflow_id, self._facts):
            style = self.get_component_rich_style(cls, partial=True) if cls else ""
            text.append(part, style=style)
        return text

    def _relabel(self, node: WorkflowNode) -> None:
        if node.data is None:
            return
        node.set_label(self._line_label(node.data))
        node.allow_expand = bool(self._kids(node.data))

    def _kids(self, workflow_id: str) -> list[str]:
        shown = self._facts.shown
        return [c for c in self._graph.children(workflow_id) if shown is None or c in shown]

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        if event.node.data is not None:
            self._expanded_by_user[event.node.data] = True

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[str]) -> None:
        if event.node.data is not None:
            self._expanded_by_user[event.node.data] = False

    def _default_expanded(self, workflow_id: str) -> bool:
        """The user's choice; else, under a filter, open (matches must be seen); else
        families still at work (or in limbo) open and finished families folded."""
        if workflow_id in self._expanded_by_user:
            return self._expanded_by_user[workflow_id]
        if self._facts.shown is not None:
            return True
        for wid in self._graph.family(workflow_id):
            wf = self._graph.get(wid)
            if wf is None or not wf.finished or wid in self._facts.limbo_ids:
                return True
        return False

    def _reconcile(
        self,
        parent: WorkflowNode,
        desired: list[str],
        affected: set[str],
        full: bool,
        visiting: frozenset[str] = frozenset(),
    ) -> set[str]:
        """Make parent's children exactly `desired`, in order, and recurse into the
        affected ones (all of them when full). Returns the ids of nodes created."""
        created: set[str] = set()
        wanted = set(desired)
        for node in list(parent.children):
            if node.data not in wanted:
                self._drop(node)
        fresh: set[str] = set()
        for wid in desired:
            node = self._node_by_id.get(wid)
            if node is not None and node.parent is not parent:
                self._drop(node)  # moved to another parent
                node = None
            if node is None:
                node = parent.add(
                    self._line_label(wid), data=wid, expand=self._default_expanded(wid)
                )
                self._node_by_id[wid] = node
                fresh.add(wid)
        if [n.data for n in parent.children] != desired:
            # Tree has no "move node" API; reordering the child list keeps each subtree
            # (and its expansion) intact, where remove + add would lose it.
            parent._children[:] = [self._node_by_id[w] for w in desired]
            self._invalidate()
        created |= fresh
        for wid in desired:
            if wid in visiting:
                continue  # a cycle in bad data: never recurse for ever
            if full or wid in fresh or wid in affected:
                kids = self._kids(wid)
                node = self._node_by_id[wid]
                node.allow_expand = bool(kids)
                created |= self._reconcile(
                    node, kids, affected, full or wid in fresh, visiting | {wid}
                )
        return created

    def _drop(self, node: WorkflowNode) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if n.data is not None and self._node_by_id.get(n.data) is n:
                del self._node_by_id[n.data]
            stack.extend(n.children)
        node.remove()

    def _cursor_anchor(self) -> tuple[WorkflowNode, int, bool] | None:
        node = self.cursor_node
        if node is None or node.line < 0:
            return None
        return node, node.line - round(self.scroll_y), self.scroll_y == 0

    def _restore_anchor(self, anchor: tuple[WorkflowNode, int, bool] | None) -> None:
        """Keep the cursor on the same workflow, and that line where it was on screen
        when lines above it come or go; at the top, stay at the top (new families show)
        as long as the selected line remains in view."""
        if anchor is None:
            return
        node, offset, at_top = anchor
        if node.data is None or self._node_by_id.get(node.data) is not node:
            return
        _ = self.last_line  # rebuilds the line list so node.line is current
        if node.line < 0:
            return
        self.cursor_line = node.line
        if at_top and node.line < self.scrollable_content_region.height:
            return
        self.scroll_to(y=max(0, node.line - offset), animate=False, immediate=True)
