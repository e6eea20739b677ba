"""Every key of the app, defined once: the footer, the help screen and the command
palette are all built from KEYS. Each Binding has an id so that keymaps can remap it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    binding_id: str
    key: str
    action: str
    label: str
    help: str
    # Changes the database or the worker: refused in read-only mode.
    mutating: bool = False
    show: bool = True
    # Works whichever widget has the focus (the filter field included).
    priority: bool = False
    # Listed in the command palette (not for a second key of an action already there).
    palette: bool = True
    # The footer's word for it (empty: the label in lower case); short, so that every key
    # fits in two lines at 80 columns.
    short: str = ""
    # Keys of one group share a footer entry: their keys joined by "/", then the short
    # word of the group's first key ("f/F fork", "</> split").
    group: str = ""


KEYS: tuple[Key, ...] = (
    # Help and quit first: the footer reads in this order.
    Key("help", "question_mark", "help", "Help", "this help"),
    Key("quit", "q", "quit", "Quit", "quit"),
    # Textual only hints at ctrl+q on ctrl+c; a user's reflex is ctrl+c, so it quits.
    Key("quit-ctrl-c", "ctrl+c", "quit", "Quit", "quit", show=False, priority=True, palette=False),
    # Textual reads ctrl+z as a key (the terminal's signals are off): without this binding
    # nothing suspends, and the reflexive `fg` + Enter that follows lands in the app.
    Key(
        "suspend",
        "ctrl+z",
        "suspend",
        "Suspend",
        "suspend to the shell (fg returns)",
        short="susp",
        show=False,
        priority=True,
    ),
    Key(
        "enqueue",
        "e",
        "enqueue",
        "Enqueue",
        "enqueue the experiment with the defaults",
        True,
        short="enq",
        group="enqueue",
    ),
    Key(
        "enqueue-form",
        "E",
        "enqueue_form",
        "Form",
        "enqueue the experiment with a form",
        True,
        group="enqueue",
    ),
    Key("crash", "x", "crash", "Crash", "crash the embedded worker", True),
    Key("restart", "r", "restart", "Restart", "restart (recover) the embedded worker", True),
    # The worker's keys together: its log beside crash and restart.
    Key(
        "worker-log",
        "L",
        "worker_log",
        "Log",
        "the embedded worker's DBOS log, live, and where it is written",
        show=False,
    ),
    Key("cancel", "c", "cancel", "Cancel", "cancel the selected workflow (asks)", True),
    Key("resume", "u", "resume", "Resume", "resume the selected workflow (asks)", True),
    Key("fork", "f", "fork", "Fork", "fork the selected workflow from a step", True, group="fork"),
    Key(
        "fork-onto-live",
        "F",
        "fork_onto_live",
        "Fork onto",
        "fork the selected workflow onto the version live executors run",
        True,
        short="fork+",
        show=False,
        group="fork",
    ),
    Key(
        "send",
        "s",
        "send",
        "Send",
        "send a message to the selected workflow (DBOS.recv)",
        True,
        show=False,
    ),
    Key(
        "queues",
        "Q",
        "queues",
        "Queues",
        "the queues: limits, counts, held dedup ids, blocked; enter filters to one",
        show=False,
        short="queue",
    ),
    Key(
        "live-push",
        "P",
        "live_push",
        "Live push",
        "live push: install limbo-tui's NOTIFY triggers on this database (asks)",
        True,
        short="push",
    ),
    Key(
        "filter",
        "slash",
        "filter",
        "Filter",
        "filter by id, name, status or queue",
        priority=True,
        short="find",
    ),
    Key("limbo-only", "l", "toggle_limbo_only", "Limbo", "show only workflows in limbo"),
    Key(
        "sort",
        "o",
        "cycle_sort",
        "Sort",
        "sort the families by status, by age, by recoveries, then newest first again",
        group="sort",
    ),
    Key(
        "sort-reverse",
        "O",
        "reverse_sort",
        "Reverse",
        "reverse the sort (the header's arrow shows which way)",
        show=False,
        group="sort",
    ),
    Key(
        "narrow-tree",
        "less_than_sign",
        "narrow_tree",
        "Narrower",
        "move the split left: a narrower tree, wider details (kept for the session)",
        short="split",
        group="split",
    ),
    Key(
        "widen-tree",
        "greater_than_sign",
        "widen_tree",
        "Wider",
        "move the split right: a wider tree, narrower details",
        show=False,
        group="split",
    ),
    Key(
        "zoom-details",
        "z",
        "toggle_zoom",
        "Zoom",
        "the details alone, full width (z or escape goes back to the split)",
        show=False,
        group="split",
    ),
    Key("pause", "p", "toggle_pause", "Pause", "pause / resume live updates"),
    Key(
        "copy-id", "y", "copy_id", "Copy id", "copy the selected workflow id (OSC 52)", short="copy"
    ),
    Key(
        "timeline",
        "t",
        "toggle_timeline",
        "Timeline",
        "the selected workflow's timeline (its story): status changes, dispatches, steps, crashes",
        show=False,
        short="story",
    ),
)

MUTATING_ACTIONS: frozenset[str] = frozenset(k.action for k in KEYS if k.mutating)
KEY_BY_ACTION: dict[str, Key] = {k.action: k for k in KEYS}

# Keys handled by the focused widget (tree, steps table) rather than by the app; listed on
# the help screen so that it names every key.
WIDGET_KEYS: tuple[tuple[str, str], ...] = (
    ("enter", "fold / unfold a family; on a child step: jump to it"),
    ("space", "fold / unfold a family"),
    ("↑/↓ j/k", "move the selection"),
    ("g/G", "first / last line (home / end)"),
    ("←/→", "fold, or go to the parent / unfold, or go to the first child"),
    ("-/+", "fold every family / unfold every family"),
    ("tab", "move between the tree, the details and the steps (the focused frame is ═)"),
    ("ctrl+p", "command palette: every action by name"),
    (
        "escape",
        "back out: close a dialog, else leave the full-width details, else clear the "
        "filter, else leave limbo only",
    ),
)


# Key names Textual gives the characters a footer or the help shows as themselves.
KEY_CHARACTERS: dict[str, str] = {
    "slash": "/",
    "question_mark": "?",
    "less_than_sign": "<",
    "greater_than_sign": ">",
}


def display_key(key: str) -> str:
    return KEY_CHARACTERS.get(key, key)


def app_bindings() -> list[Binding]:
    """The app's bindings: each mutating key also gets a hidden twin that explains the
    refusal in read-only mode (check_action enables exactly one of the two)."""
    out: list[Binding] = []
    for k in KEYS:
        out.append(
            Binding(k.key, k.action, k.label, show=k.show, priority=k.priority, id=k.binding_id)
        )
        if k.mutating:
            out.append(
                Binding(
                    k.key,
                    f"refuse_read_only('{k.action}')",
                    k.label,
                    show=False,
                    id=f"{k.binding_id}-read-only",
                )
            )
    # Escape backs out of a narrowed view (dialogs and the filter line bind it first).
    out.append(Binding("escape", "back_out", "Back", show=False, id="back-out"))
    return out
