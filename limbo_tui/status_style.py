"""The one owner of how a workflow status looks: glyph, short word and style class.

Words keep the screen readable without colour (NO_COLOR, monochrome terminals); the
colours themselves live only in app.tcss, keyed by the style classes named here.
"""

from __future__ import annotations

from limbo_tui import model

# glyph, word shown on a tree line, style class (a component class of WorkflowTree and a
# CSS class of the details pane's status label).
_LOOK: dict[str, tuple[str, str, str]] = {
    model.PENDING: ("●", "PENDING", "status-pending"),
    model.ENQUEUED: ("○", "ENQUEUED", "status-enqueued"),
    model.DELAYED: ("◌", "DELAYED", "status-delayed"),
    model.SUCCESS: ("✔", "SUCCESS", "status-success"),
    model.ERROR: ("✖", "ERROR", "status-error"),
    model.CANCELLED: ("⊘", "CANCELLED", "status-cancelled"),
    # The full DBOS name is 30 columns wide; "DEAD" (dead-lettered) keeps tree lines short.
    # The details pane and the help screen spell out the full status.
    model.MAX_RECOVERY_ATTEMPTS_EXCEEDED: ("†", "DEAD", "status-dead"),
}
_UNKNOWN = ("?", "", "status-unknown")

STATUS_CLASSES: frozenset[str] = frozenset({look[2] for look in _LOOK.values()} | {_UNKNOWN[2]})

# Marks a line whose workflow has a diagnosis of severity "limbo".
LIMBO_MARK = "‼ LIMBO"
LIMBO_CLASS = "wf-limbo"
WARNING_MARK = "! "
WARNING_CLASS = "wf-warning"
# Secondary text on a line: ids, counters, age.
DIM_CLASS = "wf-dim"
NOT_LOADED_CLASS = "wf-not-loaded"


def glyph(status: str) -> str:
    return _LOOK.get(status, _UNKNOWN)[0]


def word(status: str) -> str:
    """The short word for a status; unknown statuses are shown as they are."""
    return _LOOK.get(status, _UNKNOWN)[1] or status


def style_class(status: str) -> str:
    return _LOOK.get(status, _UNKNOWN)[2]


def legend() -> list[tuple[str, str, str]]:
    """(glyph, word, DBOS status) for the help screen."""
    return [(g, w, status) for status, (g, w, _) in _LOOK.items()]
