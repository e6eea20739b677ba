"""The workflow tree: families, most recent first, children nested in call order.

Updates are incremental: sync() touches only the families whose ids changed, keeps
every existing node (so expansion, the cursor and the scroll position survive) and only
relabels lines whose content changed. A batch that leaves the top level as it was (no
root came, went, moved in the order or changed its backlog) does not look at the list
of roots at all: per frame, the work is the touched families', not 5,000 roots'.

A new view (filter, limbo only, sort) reconciles only the parents of the ids it shows
or hides, found from the smaller of the two views, and relabels nothing: the nodes it
hides are kept whole, off screen (only the top of each hidden subtree is recorded,
nothing under it visited), and placed again (as the user left them, reading as they do
now) when a view shows them, so a view change makes no node it made before and costs
what it shows, not what it hides (issue #16: rebuilding nodes per view took seconds at
20k workflows); a family shown again in the view it was hidden from, nothing in it
changed meanwhile (clearing a filter), is placed back without being reconciled. Nodes
are made lazily: a folded family's children get theirs when it is
first opened (or a search selects one of them). Ages are painted from `now_ms` over the
line as it was laid out (which keeps an empty age cell), so the 1 Hz age tick repaints
only the age cells that read otherwise, from the lines Tree keeps: an idle screen of
workflows seconds or minutes old paints a few cells a second, and lays out no line.

Lines are laid out in columns (tree_columns): each workflow's cells are kept by id, and
a line is laid out when it is painted, for the pane's width and the line's indentation,
so that the numbers of parents and children sit in the same columns. The layout follows
the widest cell seen of each column and the pane's width; when it changes every line is
painted again and ColumnsChanged tells the header line.

Labels carry styles resolved from the stylesheet's component classes; resolving one
costs ~0.1 ms, so they are resolved once and kept until the stylesheet says otherwise.

A queue's large ENQUEUED backlog is one summarized node (backlog.group_roots), folded;
opened, it holds a page of its members and a "more" node that enter turns into the next
page. A parent of thousands of children shows them a page at a time the same way. Their
node data start with a NUL character, which no workflow id can contain (PostgreSQL text
never holds one), so they are never taken for a workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets.tree import NodeID, TreeNode

from limbo_tui import status_style
from limbo_tui.backlog import (
    GROUP_MIN,
    PAGE,
    RootGroup,
    children_not_loaded,
    group_roots,
    live_not_loaded,
    older_than,
    summarized_queues,
)
from limbo_tui.model import ChildrenTotal, Totals, WorkflowGraph
from limbo_tui.time_text import age_text
from limbo_tui.tree_facts import TreeFacts
from limbo_tui.ui import tree_columns as columns
from limbo_tui.ui.bulk_tree import TOGGLE_STYLE, BulkTree
from limbo_tui.ui.messages import BacklogPageWanted, FamiliesPageWanted
from limbo_tui.ui.workflow_lines import (
    Part,
    cells_text,
    group_parts,
    more_children_parts,
    more_families_parts,
    more_parts,
    row_cells,
)
from limbo_tui.view_sort import RootOrder, SortKey

WorkflowNode = TreeNode[str]

# The column whose title shows the sort (the default order, newest first, shows none).
SORT_COLUMNS: dict[SortKey, str] = {
    SortKey.STATUS: columns.STATUS,
    SortKey.AGE: columns.AGE,
    SortKey.RECOVERIES: columns.RECOVERIES,
}

# Every component class a line uses (workflow_lines.row_cells names them).
GROUP_KEY = "\x00group\x00"
MORE_KEY = "\x00more\x00"
# The "more" line under a parent with more than GROUP_MIN children (then PAGE at a time).
MORE_CHILDREN_KEY = "\x00children\x00"
# The last line of the top level while older live families are only counted (the TUI's
# snapshot loads the newest: backlog.LIVE_FIRST); enter reads the next page of them.
MORE_FAMILIES_KEY = "\x00families\x00"
NO_TOTALS = Totals(workflows=0)


def is_workflow_key(data: str | None) -> bool:
    """A node that stands for one workflow (not a summarized group or its "more" line)."""
    return data is not None and not data.startswith("\x00")


STYLED_CLASSES: tuple[str, ...] = (
    *sorted(status_style.STATUS_CLASSES),
    status_style.LIMBO_CLASS,
    status_style.WARNING_CLASS,
    status_style.DIM_CLASS,
    status_style.NOT_LOADED_CLASS,
)


class WorkflowTree(BulkTree):
    """Tree of workflow ids (node.data); lines come from workflow_lines.row_cells, laid
    out by tree_columns."""

    @dataclass
    class ColumnsChanged(Message):
        """The columns moved (width, widest cells, sort): the header line follows."""

        layout: columns.Layout

    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | set(STYLED_CLASSES)
    # The keys terminal users reach for first (less, vim, htop, k9s); listed on the help
    # screen from bindings.TREE_KEYS.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g,home", "scroll_home", "First", show=False),
        Binding("G,end", "scroll_end", "Last", show=False),
        Binding("left,h", "fold_or_parent", "Fold", show=False),
        Binding("right", "unfold_or_child", "Unfold", show=False),
        Binding("minus", "fold_all", "Fold all", show=False),
        Binding("plus,equals_sign", "unfold_all", "Unfold all", show=False),
    ]

    def __init__(self, clock: Callable[[], int], *, id: str | None = None) -> None:
        # Before Tree's own set-up, which already measures lines.
        # Each workflow line's cells (by column), the widest cell seen of each column and
        # the deepest node made: what the layout is made from.
        self._cells: dict[str, dict[str, columns.Part]] = {}
        self._content: dict[str, int] = {}
        self._max_depth = 0
        self._root_order = RootOrder()
        self.column_layout = columns.layout(0, self._content, 0)
        super().__init__("workflows", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.auto_expand = True
        self._clock = clock
        self.now_ms = clock()
        # Every node made and not dropped, shown or hidden by the view.
        self._node_by_id: dict[str, WorkflowNode] = {}
        # The nodes a view took out of their parent's child list (filter, limbo only),
        # each kept whole with its subtree, so that the next view places it again
        # instead of making it anew; only these tops are kept here, so hiding a family
        # costs one entry, not one per node under it. _stale: the hidden ids whose line
        # may read differently since they were hidden.
        self._detached: dict[str, WorkflowNode] = {}
        self._stale: set[str] = set()
        # The view each hidden top was hidden from, and the view the tree was in before
        # this sync: a family shown again in the view it was hidden from, with nothing in
        # it changed meanwhile, is placed back as it was, not reconciled node by node.
        self._hidden_from: dict[str, frozenset[str] | None] = {}
        self._prior_shown: frozenset[str] | None = None
        # The visible lines' clock-driven text as last painted, by node id.
        self._ticked_ages: dict[NodeID, str] = {}
        # The user's own expand / fold choices, so that they outlive a node (a filter
        # removes nodes; clearing it brings them back as the user left them).
        self._expanded_by_user: dict[str, bool] = {}
        self._graph = WorkflowGraph()
        self._facts = TreeFacts()
        # Component class -> resolved style; None until the stylesheet has been applied.
        self._styles: dict[str, Style] | None = None
        # Root id -> whether its family opens by default; valid for one sync only.
        self._family_open: dict[str, bool] = {}
        # Summarized backlogs by node key, and how many pages of each are open.
        self._groups: dict[str, RootGroup] = {}
        self._pages: dict[str, int] = {}
        # The feed reads older live families on demand (the app sets it before a sync).
        self.families_paged = False
        # What each root's place on the top level was laid out from (_top_fact), kept
        # as batches come, and the totals the groups were folded with: a batch that
        # changes none of them leaves the top level as it is (_sync_families).
        self._root_facts: dict[str, tuple[object, ...]] = {}
        self._top_counted: frozenset[str | None] = frozenset()
        self._top_more_families = False

    # -- reading -----------------------------------------------------------------------
    @property
    def selected_id(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None and is_workflow_key(node.data) else None

    def node_for(self, workflow_id: str) -> WorkflowNode | None:
        """A workflow's node in the view (inside an opened family or not), None when
        the view hides it."""
        node = self._node_by_id.get(workflow_id)
        return node if node is not None and self._in_view(node) else None

    def line_text(self, workflow_id: str) -> str:
        """The line of a workflow as the tree paints it now (columns and age)."""
        node = self.node_for(workflow_id)
        return self._label(node, Style.null(), Style.null(), True).plain if node else ""

    def shown_ids(self) -> list[str]:
        """Ids on visible lines, top to bottom (tests and the palette use it)."""
        return [node.data for node in self.visible_nodes() if node.data is not None]

    # -- updating ----------------------------------------------------------------------
    def sync(
        self,
        graph: WorkflowGraph,
        facts: TreeFacts,
        changed: Iterable[str],
        everything: bool,
        relabel: bool | None = None,
    ) -> None:
        """Bring the tree in line with the graph for the changed ids (or everything).

        `relabel` (default: `everything`) says every line may read differently; a new
        view alone (filter, limbo only, sort) changes which lines show and their order,
        not what a line reads, so it relabels only the changed ids."""
        relabel_all = everything if relabel is None else relabel
        if graph is not self._graph:
            self._forget_detached()
            relabel_all = everything = True
        old_facts = self._facts
        old_shown = self._prior_shown = old_facts.shown
        self._graph, self._facts = graph, facts
        self._family_open = {}
        anchor = self._cursor_anchor()
        changed = set(changed)
        if not everything and self._top_stays(old_facts, changed):
            self._sync_families(changed)
            self._restore_anchor(anchor)
            self._update_columns()
            return
        # A new view alone: only the child lists of the parents it shows in both views
        # whose children it shows or hides change (and the families' order), so only
        # those are reconciled, not the whole tree.
        kept_parents = (
            self._parents_of_moved(old_shown, facts.shown)
            if everything and not relabel_all
            else None
        )
        full = everything and kept_parents is None
        # A changed id may change its own line, its child list and (via shown) the lines
        # of its ancestors: those are the nodes whose children get reconciled.
        affected: set[str] = set()
        parent_of = graph.parent_of
        for wid in [*changed, *(kept_parents or ())]:
            node_id: str | None = wid
            while node_id is not None and node_id not in affected:
                affected.add(node_id)
                node_id = parent_of(node_id)
        ordered = self._root_order.ordered(graph, facts.sort, changed)
        roots = [r for r in ordered if facts.shown is None or r in facts.shown]
        top: list[str] = []
        groups: dict[str, RootGroup] = {}
        filtered = facts.shown is not None
        for entry in group_roots(graph, roots, facts.limbo_ids, filtered=filtered):
            if isinstance(entry, RootGroup):
                key = GROUP_KEY + entry.queue
                groups[key] = entry
                top.append(key)
            else:
                top.append(entry)
        self._groups = groups
        if self._more_families():
            top.append(MORE_FAMILIES_KEY)
        # A group's members come and go with any batch: its page is reconciled each time.
        affected |= groups.keys()
        self._note_top(ordered, changed, relabel_all)
        if relabel_all:
            # A new snapshot may have dropped rows: their hidden nodes go with them.
            for wid in [w for w in self._detached if not self._in_graph(w)]:
                self._forget(self._detached.pop(wid))
        created = self._reconcile(self.root, top, affected, full)
        self._prior_shown = facts.shown
        if relabel_all:
            self.relabel_all(created)
            self._relabel_lines([], created)
        else:
            self._relabel_lines(changed, created)
        self._restore_anchor(anchor)
        self._update_columns()

    def _top_fact(self, wid: str) -> tuple[object, ...] | None:
        """What a root's place on the top level depends on (its order under any sort,
        whether it folds into its queue's backlog); None when it is no root."""
        graph = self._graph
        wf = graph.workflows.get(wid)
        if wf is None or graph.root_of(wid) != wid:
            return None
        return (
            wf.status,
            wf.queue,
            wf.created_at_ms,
            wf.recovery_attempts,
            bool(graph.children(wid)),
            wid in self._facts.limbo_ids,
        )

    def _note_top(self, roots: list[str], changed: set[str], every: bool) -> None:
        """Keep _root_facts for the top level just laid out from `roots`."""
        self._top_counted = self._summarized()
        self._top_more_families = self._more_families()
        if every:
            fact = self._top_fact
            self._root_facts = {r: f for r in roots if (f := fact(r)) is not None}
            return
        for wid in changed:
            for rid in (wid, self._graph.root_of(wid)):
                now = self._top_fact(rid)
                if now is None:
                    self._root_facts.pop(rid, None)
                else:
                    self._root_facts[rid] = now

    def _summarized(self) -> frozenset[str | None]:
        totals = self._graph.totals
        return summarized_queues(totals) if totals is not None else frozenset()

    def _more_families(self) -> bool:
        """Whether the top level ends with the line that reads older live families."""
        return (
            self.families_paged and self._facts.shown is None and live_not_loaded(self._graph) > 0
        )

    def _top_stays(self, old: TreeFacts, changed: set[str]) -> bool:
        """Whether a batch leaves the top level (roots, their order, the backlogs folded)
        as the last sync laid it out: no root came or went, none moved in the order, the
        view and the totals are the same."""
        facts = self._facts
        if facts.shown is not old.shown or facts.sort != old.sort:
            return False
        if self._summarized() != self._top_counted or not self._root_facts:
            return False  # a queue's backlog folds or unfolds by its count
        if self._more_families() != self._top_more_families:
            return False
        known, fact = self._root_facts, self._top_fact
        for wid in changed:
            if wid not in self._graph.workflows:
                return False  # a row gone: the slow path drops its node
            root = self._graph.root_of(wid)
            if root != wid and wid in known:
                return False  # a root before, a child now
            if known.get(root) != fact(root):
                return False
        return True

    def _sync_families(self, changed: set[str]) -> None:
        """A batch that leaves the top level as it is: only the families it touched are
        reconciled and their changed lines relabeled, not every root (a frame at 5,000
        families walked them all for one changed row)."""
        graph = self._graph
        affected: set[str] = set()
        families: set[str] = set()
        for wid in changed:
            node_id: str | None = wid
            while node_id is not None and node_id not in affected:
                affected.add(node_id)
                node_id = graph.parent_of(node_id)
            families.add(graph.root_of(wid))
        totals = graph.totals
        for key, group in self._groups.items():
            # Their members are as they were; their counts follow the totals.
            total = totals.group(group.status, group.queue) if totals is not None else None
            self._groups[key] = replace(group, total=total)
        created: set[str] = set()
        for root in families:
            node = self._node_by_id.get(root)
            if node is None or node.parent is not self.root or self._detached.get(root) is node:
                continue  # in a summarized backlog, or hidden: the view is unchanged
            created |= self._reconcile_under(root, affected, False, frozenset())
        self._relabel_lines(changed, created)

    def _relabel_lines(self, changed: Iterable[str], created: set[str]) -> None:
        """Relabel the lines of the changed ids (hidden ones: when shown again), the
        backlogs' and the "more" lines, but no line just made."""
        groups = self._groups
        lines = [*changed, *groups]
        lines += [MORE_KEY + key[len(GROUP_KEY) :] for key in groups]
        lines += [MORE_CHILDREN_KEY + wid for wid in changed]
        # A count of children never loaded moves with the totals alone.
        totals = self._graph.totals or NO_TOTALS
        lines += [MORE_CHILDREN_KEY + f.parent_id for f in totals.families]
        lines.append(MORE_FAMILIES_KEY)
        for wid in lines:
            node = self._node_by_id.get(wid)
            if node is None or wid in created:
                continue
            if self._in_view(node):
                self._relabel(node)
            else:
                self._stale.add(wid)

    def relabel_all(self, created: Collection[str] = ()) -> None:
        """Relabel every node in the view (folded families' too); those the view hides
        are relabeled when it shows them again."""
        in_view = self.subtree(self.root)[1:]
        for node in in_view:
            if node.data not in created:
                self._relabel(node)
        self._stale = set(self._node_by_id).difference(n.data for n in in_view)

    def tick(self) -> None:
        """Repaint, of the visible lines, the age cells that read otherwise than when
        last painted (a backlog's line whole); no line is laid out again."""
        self.now_ms = self._clock()
        top = round(self.scroll_y)
        span = self.age_span()
        ages: dict[NodeID, str] = {}
        for row, node in enumerate(self.visible_nodes(top, top + self.size.height)):
            text = ages[node.id] = self._clock_text(node)
            if self._ticked_ages.get(node.id) == text:
                continue
            if node.data is not None and node.data.startswith(GROUP_KEY):
                node.refresh()  # its words hold the ages: laid out again
            elif span is not None and text:
                self.refresh(Region(span[0], row, span[1], 1))
        self._ticked_ages = ages

    def _clock_text(self, node: WorkflowNode) -> str:
        """What of a line reads from the clock: a workflow's age, a backlog's ages."""
        if node.data is not None and node.data.startswith(GROUP_KEY):
            return "".join(part for part, _ in self._parts(node.data))
        return self._age(node)

    def select_workflow(self, workflow_id: str) -> bool:
        """Move the cursor to a workflow, expanding its ancestors; False if not shown."""
        node = self.node_for(workflow_id) or self._build_path_to(workflow_id)
        if node is None:
            return False
        parent = node.parent
        while parent is not None and parent is not self.root:
            parent.expand()
            parent = parent.parent
        _ = self.last_line  # rebuilds the line list: a just opened node has no line yet
        self.move_cursor(node, animate=False)
        return True

    # -- painting ----------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        """Tree's line (kept until the line reads otherwise), the age painted over its
        empty age cell from the clock."""
        strip = super().render_line(y)
        span = self.age_span()
        lines = self.visible_nodes(y + round(self.scroll_y), y + round(self.scroll_y) + 1)
        if span is None or not lines:
            return strip
        node = lines[0]
        text = self._ticked_ages[node.id] = self._clock_text(node)
        age = text if node.data in self._cells else ""
        if not age:
            return strip
        x, width = span
        cell = strip.crop(x, x + width)
        style = next((seg.style for seg in cell if seg.text), None)
        painted = Strip([Segment(columns.fit(age, width, right=True), style)], width)
        return Strip.join([strip.crop(0, x), painted, strip.crop(x + width, strip.cell_length)])

    def age_span(self) -> tuple[int, int] | None:
        """Where the age column is on every line (x, width), None when not shown: after
        the guides, the name takes up what a line is indented less than the deepest."""
        lay = self.column_layout
        if columns.AGE not in lay.shown:
            return None
        x = lay.indent_room
        for key in lay.shown:
            if key == columns.AGE:
                return x, lay.widths[key]
            x += lay.widths[key] + columns.GAP
        return None

    def render_label(self, node: WorkflowNode, base_style: Style, style: Style) -> Text:
        return self._label(node, base_style, style, False)

    def _label(self, node: WorkflowNode, base_style: Style, style: Style, age: bool) -> Text:
        """A node's line after its guides; a workflow's age cell empty unless `age`
        (render_line paints it)."""
        if node.allow_expand:
            toggle = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        else:
            toggle = ""
        indent = self._indent(node) + cell_len(toggle)
        width = max(0, self.column_layout.width - indent)
        cells = self._cells.get(node.data) if node.data is not None else None
        if cells is None:
            # A backlog's summary or a "more" line: its own words, or in a narrow pane
            # the compact ones (counts first), cut to the pane.
            label = node.label if isinstance(node.label, Text) else Text(node.label)
            if label.cell_len > width and node.data is not None:
                label = self._styled(self._parts(node.data, compact=True))
            label = label.copy()
            label.truncate(width, overflow="ellipsis", pad=True)
        else:
            age_cell = (self._age(node) if age else "", status_style.DIM_CLASS)
            line = {**cells, columns.AGE: age_cell}
            label = self._styled(columns.row_parts(line, self.column_layout, indent))
        label.stylize(style)
        return Text.assemble((toggle, base_style + TOGGLE_STYLE), label) if toggle else label

    def get_label_width(self, node: WorkflowNode) -> int:
        # Asked for every line whenever lines come or go (25k calls for a large tree),
        # only to size the tree for sideways scrolling, which it has none of: every line
        # is painted the pane's width whatever this says, so no line is measured.
        return 0

    def _indent(self, node: WorkflowNode) -> int:
        """The cells of guides before a node's line (the toggle comes after them)."""
        return self._depth(node) * self.guide_depth

    def _depth(self, node: WorkflowNode) -> int:
        """0 for a family's top line (the root's children), 1 under it, ...; -1: root."""
        depth, above = -1, node.parent
        while above is not None:
            depth, above = depth + 1, above.parent
        return depth if node is not self.root else -1

    def _indent_room(self) -> int:
        """The indentation of the deepest line there can be, toggle included."""
        return self._max_depth * self.guide_depth + cell_len(self.ICON_NODE)

    def on_resize(self, event: events.Resize) -> None:
        self._update_columns()

    def _update_columns(self) -> None:
        """Lay the columns out again for the pane's width and the widest cells; when
        they moved, paint every line again and tell the header."""
        sort = self._facts.sort
        # The scrollbar's column is kept free whether it shows or not: a tree that grows
        # past the screen must not push its last column under the scrollbar.
        width = max(0, self.size.width - self.styles.scrollbar_size_vertical)
        lay = columns.layout(
            width,
            self._content,
            self._indent_room(),
            SORT_COLUMNS.get(sort.key),
            sort.arrow,
        )
        if lay != self.column_layout:
            self.column_layout = lay
            self.repaint_lines()
            self.post_message(self.ColumnsChanged(lay))

    def essential_width(self) -> int:
        """The pane width below which the status, id, counter or mark would be cut."""
        return columns.essential_width(self._content, self._indent_room())

    def wanted_width(self) -> int:
        """The pane width at which every column shows and names fit (the split's own)."""
        return columns.wanted_width(self._content, self._indent_room())

    def process_label(self, label: str | Text) -> Text:
        # Our labels are one line already (workflow_lines makes them safe): skip the copy
        # Tree makes to cut a label at its first newline.
        if isinstance(label, Text) and "\n" not in label.plain:
            return label
        return super().process_label(label)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # A new theme reaches the component classes after this call: look once the
        # stylesheet is done.
        self.call_later(self._restyle)

    def _restyle(self) -> None:
        """Labels carry styles resolved from the stylesheet: relabel when those changed
        (theme or CSS), not on every focus or hover change that also notifies a style
        update."""
        styles = self._resolve_styles()
        if styles != self._styles:
            self._styles = styles
            self.relabel_all()

    # -- internals ---------------------------------------------------------------------
    def _resolve_styles(self) -> dict[str, Style] | None:
        try:
            return {cls: self.get_component_rich_style(cls, partial=True) for cls in STYLED_CLASSES}
        except KeyError:  # mounting: the component styles are not set up yet
            return None

    def _style(self, cls: str) -> Style:
        if self._styles is None:
            self._styles = self._resolve_styles()
        return self._styles.get(cls, Style.null()) if self._styles else Style.null()

    def _age(self, node: WorkflowNode) -> str:
        wf = self._graph.get(node.data) if node.data is not None else None
        if wf is None or wf.created_at_ms is None:
            return ""
        return age_text(self.now_ms - wf.created_at_ms)

    def _parts(self, key: str, compact: bool = False) -> list[Part]:
        """A line's parts; a summary or "more" line in few words when compact."""
        if key.startswith(GROUP_KEY):
            group = self._groups.get(key)
            if group is None:
                return [("(empty group)", "")]
            return group_parts(group, self.now_ms, self._facts.warning_ids, compact=compact)
        if key.startswith(MORE_KEY):
            group = self._groups.get(GROUP_KEY + key[len(MORE_KEY) :])
            if group is None:
                return [("…", "")]
            return more_parts(group, self._page_size(group), compact=compact)
        if key == MORE_FAMILIES_KEY:
            return more_families_parts(live_not_loaded(self._graph), compact=compact)
        if key.startswith(MORE_CHILDREN_KEY):
            parent = key[len(MORE_CHILDREN_KEY) :]
            every = self._all_kids(parent)
            shown = self._pages.get(parent, 1) * PAGE
            loaded = sum(1 for c in every if c in self._graph.workflows)
            return more_children_parts(
                len(every),
                shown,
                self._counted_children(parent),
                loaded,
                self.now_ms,
                compact=compact,
            )
        cells = row_cells(self._graph, key, self._facts)
        self._cells[key] = cells
        sizes = columns.widths_of(cells)
        wf = self._graph.get(key)
        if wf is not None and wf.created_at_ms is not None:
            # Painted from the clock, never wider than its column's minimum.
            sizes[columns.AGE] = columns.BY_KEY[columns.AGE].min_width
        for column, size in sizes.items():
            if size > self._content.get(column, 0):
                self._content[column] = size
        return cells_text(cells)

    def _page_size(self, group: RootGroup) -> int:
        return self._pages.get(GROUP_KEY + group.queue, 1) * PAGE

    def _line_label(self, workflow_id: str) -> Text:
        return self._styled(self._parts(workflow_id))

    def _styled(self, parts: list[Part]) -> Text:
        text = Text("".join(part for part, _ in parts))
        start = 0
        for part, cls in parts:
            end = start + len(part)
            if cls:
                text.stylize(self._style(cls), start, end)
            start = end
        return text

    def _relabel(self, node: WorkflowNode) -> None:
        if node.data is None:
            return
        label = self._line_label(node.data)
        if label != node.label:  # set_label schedules a refresh of the line: skip if same
            node.set_label(label)
        kids = bool(self._kids(node.data))
        if kids != node.allow_expand:
            node.allow_expand = kids

    def _kids(self, workflow_id: str) -> list[str]:
        if workflow_id.startswith(GROUP_KEY):
            group = self._groups.get(workflow_id)
            if group is None:
                return []
            size = self._page_size(group)
            page = list(group.members[:size])
            if len(group.members) > size or group.not_loaded:
                page.append(MORE_KEY + group.queue)
            return page
        if workflow_id.startswith("\x00"):
            return []
        kids = self._all_kids(workflow_id)
        counted = self._counted_children(workflow_id)
        if len(kids) < GROUP_MIN and counted is None:
            return kids
        # A parent of thousands: a page of its children at a time, then a "more" line
        # (past the loaded ones, it reads the next page from the database).
        size = self._pages.get(workflow_id, 1) * PAGE
        if len(kids) <= size and counted is None:
            return kids
        return [*kids[:size], MORE_CHILDREN_KEY + workflow_id]

    def _counted_children(self, workflow_id: str) -> ChildrenTotal | None:
        """A parent's children as counted while the database holds more than are loaded
        (not under a filter: it chose which children show)."""
        if self._facts.shown is not None:
            return None
        return children_not_loaded(self._graph, workflow_id)

    def _all_kids(self, workflow_id: str) -> list[str]:
        shown = self._facts.shown
        return [c for c in self._graph.children(workflow_id) if shown is None or c in shown]

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        if event.node.data is not None:
            self._expanded_by_user[event.node.data] = True
            self._build_children(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        data = event.node.data
        if data is not None and data.startswith(MORE_KEY):
            key = GROUP_KEY + data[len(MORE_KEY) :]
            group = self._groups.get(key)
            if group is not None and len(group.members) <= self._page_size(group):
                # Every loaded member is shown: the next page comes from the database,
                # and shows as soon as it is applied (the page is already open for it).
                start = older_than(self._graph, group)
                if group.not_loaded and start is not None and self._facts.shown is None:
                    self.post_message(BacklogPageWanted(group.queue, start))
            self._next_page(key)
        elif data is not None and data.startswith(MORE_CHILDREN_KEY):
            parent = data[len(MORE_CHILDREN_KEY) :]
            wanted = (self._pages.get(parent, 1) + 1) * PAGE
            loaded = sum(1 for c in self._all_kids(parent) if c in self._graph.workflows)
            if loaded < wanted and self._counted_children(parent) is not None:
                # The next page is not all loaded: read it from the database (it shows
                # as soon as it is applied: the page is open for it).
                self.post_message(FamiliesPageWanted(parent))
            self._next_page(parent)
        elif data == MORE_FAMILIES_KEY:
            self.post_message(FamiliesPageWanted())

    def _more_key(self, key: str) -> str:
        if key.startswith(GROUP_KEY):
            return MORE_KEY + key[len(GROUP_KEY) :]
        return MORE_CHILDREN_KEY + key

    def _next_page(self, key: str, pages: int | None = None) -> None:
        """Open one more page of a group or a parent (or as many as `pages`)."""
        node = self._node_by_id.get(key)
        if node is None:
            return
        self._pages[key] = pages if pages is not None else self._pages.get(key, 1) + 1
        self._family_open = {}
        self._reconcile(node, self._kids(key), {key}, False, frozenset({key}))
        more = self._node_by_id.get(self._more_key(key))
        if more is not None:
            self._relabel(more)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[str]) -> None:
        if event.node.data is not None:
            self._expanded_by_user[event.node.data] = False

    def _default_expanded(self, workflow_id: str) -> bool:
        """The user's choice; else, under a filter, open (matches must be seen); else
        families still at work (or in limbo) open and finished families folded."""
        if workflow_id in self._expanded_by_user:
            return self._expanded_by_user[workflow_id]
        if not is_workflow_key(workflow_id):
            return False  # a backlog stays one line until asked for
        if self._facts.shown is not None:
            return True
        root = self._graph.root_of(workflow_id)
        is_open = self._family_open.get(root)
        if is_open is None:
            # The same answer for every member of a family: walk it once per sync.
            is_open = any(
                (wf := self._graph.get(wid)) is None
                or not wf.finished
                or wid in self._facts.limbo_ids
                for wid in self._graph.family(root)
            )
            self._family_open[root] = is_open
        return is_open

    # -- keys ----------------------------------------------------------------------------
    def action_fold_or_parent(self) -> None:
        """←: fold an open family; on a folded one or a leaf, go to its parent."""
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.children:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            _ = self.last_line  # as in action_unfold_or_child: lines current first
            self.move_cursor(node.parent, animate=False)

    def action_unfold_or_child(self) -> None:
        """→: unfold a folded family; on an open one, go to its first child."""
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
            self._build_children(node)
        elif node.children:
            # A family unfolded by the key just before has no line yet until the tree is
            # next painted (a loaded machine may not paint between two keys): build the
            # line list now so that the cursor lands on the child.
            _ = self.last_line
            self.move_cursor(node.children[0], animate=False)

    def action_fold_all(self) -> None:
        for family in self.root.children:
            family.collapse_all()
        if self.cursor_node is None and self.root.children:
            self.move_cursor(self.root.children[0], animate=False)

    def action_unfold_all(self) -> None:
        stack = list(self.root.children)
        while stack:
            node = stack.pop()
            if node.allow_expand:
                node.expand()
                # Folded families build their children lazily: build them on the way down.
                self._build_children(node)
                stack.extend(node.children)

    def _build_children(self, node: WorkflowNode) -> None:
        """Give a node opened for the first time the children it did not build folded;
        not a node the view no longer holds (a NodeExpanded handled after a batch hid
        or dropped it would take its children's nodes away from where they are)."""
        if node.data is None or self._node_by_id.get(node.data) is not node:
            return
        if not node.children and self._kids(node.data) and self._in_view(node):
            self._family_open = {}
            self._reconcile(node, self._kids(node.data), set(), True, frozenset({node.data}))

    def _build_path_to(self, workflow_id: str) -> WorkflowNode | None:
        """The node of a workflow inside folded families, built along its ancestors."""
        path: list[str] = []
        wid: str | None = workflow_id
        while wid is not None and wid not in self._node_by_id:
            if wid in path:
                return None  # a cycle of unbuilt ids: nothing of it is in the tree
            path.append(wid)
            wid = self._graph.parent_of(wid)
        if wid is None:
            group = self._group_of(path[-1]) if path else None
            if group is None:
                return None  # not under any node: filtered out or not in the graph
            # A member of a summarized backlog: open the group as far as its page.
            key = GROUP_KEY + group.queue
            pages = group.members.index(path[-1]) // PAGE + 1
            if pages > self._pages.get(key, 1):
                self._next_page(key, pages)
            group_node = self._node_by_id.get(key)
            if group_node is None:
                return None
            group_node.expand()
            self._build_children(group_node)
            wid = path.pop()
            if wid not in self._node_by_id:
                return None
        for child in reversed(path):
            parent = self._node_by_id.get(wid)
            if parent is None:
                return None
            self._build_children(parent)
            if child not in self._node_by_id:
                every = self._all_kids(wid)
                if child not in every:
                    return None  # hidden by the filter
                # Beyond the pages open so far: open as far as its page.
                self._next_page(wid, every.index(child) // PAGE + 1)
                if child not in self._node_by_id:
                    return None
            wid = child
        return self.node_for(workflow_id)

    def _group_of(self, workflow_id: str) -> RootGroup | None:
        for group in self._groups.values():
            if workflow_id in group.members:
                return group
        return None

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
        # set_children below leaves them out.
        self._hide([node for node in parent.children if node.data not in wanted])
        fresh: set[str] = set()
        # Hidden before and placed again: their subtrees follow the view like new ones,
        # unless shown in the view they were hidden from with nothing in them changed.
        revived: set[str] = set()
        for wid in desired:
            existing = self._node_by_id.get(wid)
            if existing is not None and self._detached.get(wid) is existing:
                placed = self._show_again(existing, parent)
                if placed is not None:
                    if not placed:
                        revived.add(wid)
                    continue
                existing = None  # its parent went meanwhile: _show_again forgot it
            elif existing is not None and existing.parent is not parent:
                self._drop(existing)  # moved to another parent
                existing = None
            if existing is None:
                self._node_by_id[wid] = self._new_node(parent, wid)
                fresh.add(wid)
        if fresh or revived or [n.data for n in parent.children] != desired:
            # Tree has no "move node" API; reordering the child list keeps each subtree
            # (and its expansion) intact, where remove + add would lose it.
            self.set_children(parent, [self._node_by_id[w] for w in desired])
        created |= fresh
        for wid in desired:
            if wid in visiting:
                continue  # a cycle in bad data: never recurse for ever
            anew = wid in fresh or wid in revived
            if full or anew or wid in affected:
                created |= self._reconcile_under(wid, affected, full or anew, visiting)
        return created

    def _reconcile_under(
        self, wid: str, affected: set[str], full: bool, visiting: frozenset[str]
    ) -> set[str]:
        """Reconcile the children of wid's node (placed already). Returns ids created."""
        kids = self._kids(wid)
        node = self._node_by_id[wid]
        if node.allow_expand != bool(kids):
            node.allow_expand = bool(kids)
        if not node.children and (not kids or not node.is_expanded):
            # A leaf, or folded and never opened (its children are made on demand):
            # nothing under it to reconcile (most of a 25k tree).
            return set()
        return self._reconcile(node, kids, affected, full, visiting | {wid})

    def _new_node(self, parent: WorkflowNode, workflow_id: str) -> WorkflowNode:
        """A node for parent's child list, not yet in it (the caller places it).

        TreeNode.add would invalidate the whole tree for each node: a snapshot makes
        ~10k of them, so they are made with Tree's own node factory and the child list
        is set (and the tree invalidated) once per parent.
        """
        # allow_expand is set by _reconcile, which looks at every fresh node's children.
        self._max_depth = max(self._max_depth, self._depth(parent) + 1)
        return self.make_node(
            parent, self._line_label(workflow_id), workflow_id, self._default_expanded(workflow_id)
        )

    def _drop(self, node: WorkflowNode) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if n.data is not None and self._node_by_id.get(n.data) is n:
                del self._node_by_id[n.data]
                self._cells.pop(n.data, None)
            stack.extend(n.children)
        node.remove()

    def _hide(self, nodes: list[WorkflowNode]) -> None:
        """Take nodes the view hides out of their parent's child list (set_children
        leaves them out), each kept whole with its subtree for the view that shows it
        again: one entry per node taken out, nothing under it visited (a filter hides
        5,000 families of 25k nodes at once)."""
        detached = self._detached
        for node in nodes:
            if node.data is None:
                continue
            older = detached.get(node.data)
            if older is not None and older is not node:
                self._forget(older)  # an older node of the same id, hidden before
            detached[node.data] = node
            self._hidden_from[node.data] = self._prior_shown

    def _show_again(self, node: WorkflowNode, parent: WorkflowNode) -> bool | None:
        """Place a hidden node under parent again, with its subtree as it was kept; its
        lines open or fold as a new node's would, and read as they do now. True: as it
        should be (the view it was hidden from, nothing in it changed since); False: to
        be reconciled; None (and the node forgotten): its parent was dropped meanwhile."""
        assert node.data is not None
        del self._detached[node.data]
        hidden_from = self._hidden_from.pop(node.data, ())
        if node.parent is not parent:
            self._forget(node)
            return None
        intact = hidden_from is self._facts.shown
        by_id, stale = self._node_by_id, self._stale
        for n in self.subtree(node):
            if n.data is None or by_id.get(n.data) is not n:
                intact = False  # replaced while hidden: the reconcile sets it right
                continue
            self.set_expanded(n, self._default_expanded(n.data))
            if n.data in stale:
                stale.discard(n.data)
                self._relabel(n)
                intact = False
            elif n.is_expanded and not n.children and n.allow_expand:
                intact = False  # opens now, its children never made
        return intact

    def _in_view(self, node: WorkflowNode) -> bool:
        """Whether the view holds a node: no node above it (nor itself) is hidden."""
        detached = self._detached
        n: WorkflowNode | None = node
        while n is not None and n is not self.root:
            if n.data is not None and detached.get(n.data) is n:
                return False
            n = n.parent
        return n is self.root

    def _parents_of_moved(
        self, old: frozenset[str] | None, new: frozenset[str] | None
    ) -> list[str]:
        """The ids both views show that have a child one view shows and the other does
        not: the child lists a new view changes below the families' own list. Walks
        the smaller view (every id for no view): a filter over 25k workflows that shows
        a few costs those few."""
        if old is None and new is None:
            return []
        if old is None or new is None:
            both: Iterable[str] = new if new is not None else old  # type: ignore[assignment]
        else:
            small, large = (old, new) if len(old) <= len(new) else (new, old)
            both = [w for w in small if w in large]
        children = self._graph.children
        out = []
        for wid in both:
            for child in children(wid):
                if (old is None or child in old) != (new is None or child in new):
                    out.append(wid)
                    break
        return out

    def _in_graph(self, key: str) -> bool:
        if not is_workflow_key(key):
            return True  # a group or "more" line: the reconcile decides
        return self._graph.get(key) is not None or self._graph.parent_of(key) is not None

    def _forget(self, node: WorkflowNode) -> None:
        """Drop for good a hidden node and its subtree (BulkTree.forget), by id too."""
        if node.data is not None:
            self._hidden_from.pop(node.data, None)
        by_id = self._node_by_id
        for n in self.subtree(node):
            if n.data is not None and by_id.get(n.data) is n:
                del by_id[n.data]
                self._cells.pop(n.data, None)
                self._stale.discard(n.data)
        self.forget(node)

    def _forget_detached(self) -> None:
        for node in list(self._detached.values()):
            self._forget(node)
        self._detached.clear()
        self._hidden_from.clear()
        self._stale.clear()

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
        if node.data is None or self.node_for(node.data) is not node:
            return  # gone, or hidden by the view (its line number is an old one)
        _ = self.last_line  # rebuilds the line list so node.line is current
        if node.line < 0:
            return
        self.cursor_line = node.line
        if at_top and node.line < self.scrollable_content_region.height:
            return
        self.scroll_to(y=max(0, node.line - offset), animate=False, immediate=True)
