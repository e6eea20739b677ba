"""Terminal-safe text: the one sanitiser every string from the database passes through.

The database is someone else's input: a workflow name, a status, an id or an output could
carry terminal escape sequences (change the window title, rewrite the clipboard via OSC 52,
clear or hide text) or controls that make a pasted id run a command. Everything limbo-tui
writes to a terminal, a dialog, a notification, the window title or the clipboard that came
from the database goes through safe_text() first.
"""

from __future__ import annotations

import re

_ELLIPSIS = "…"

# Whole escape sequences are dropped (colours in a stored log line then read as plain
# text); any other control character becomes U+FFFD so that its presence stays visible.
_ESCAPE_SEQUENCE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?                        # CSI: colours, cursor moves, erase
    | \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?     # OSC: title, clipboard, hyperlinks
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?          # DCS, SOS, PM, APC strings
    | \x1b[ -/]*[0-~]?                                # two-byte and nF escapes, lone ESC
    | \x9b[0-?]*[ -/]*[@-~]?                          # 8-bit CSI
    | \x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?       # 8-bit OSC
    | [\x90\x98\x9e\x9f][^\x1b\x9c]*(?:\x1b\\|\x9c)?  # 8-bit DCS, SOS, PM, APC
    """,
    re.VERBOSE,
)
# C0 and C1 controls, DEL, line/paragraph separators and the bidirectional overrides
# that make text display in an order other than the one it has ("Trojan Source").
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def safe_text(s: object, limit: int | None = None, *, multiline: bool = False) -> str:
    """`s` as text that cannot drive the terminal: no escape sequences, no controls.

    Single-line (the default, for ids, names and table cells) turns newlines and tabs
    into spaces; multiline keeps newlines. `limit` bounds the length, ending in "…".
    """
    if s is None:
        return ""
    text = s if isinstance(s, str) else str(s)
    if not text.isprintable():
        text = _ESCAPE_SEQUENCE.sub("", text)
        text = text.replace("\r\n", "\n").replace("\r", "").replace("\t", " ")
        if not multiline:
            text = text.replace("\n", " ")
        text = _CONTROL.sub("\ufffd", text)
    if limit is not None and len(text) > limit:
        text = (text[: limit - 1] + _ELLIPSIS) if limit > 0 else ""
    return text


def is_terminal_safe(text: str) -> bool:
    """True when `text` passes safe_text() unchanged: nothing in it a terminal acts on,
    no newline or tab either (an id pasted into a shell must stay one word of one line)."""
    return safe_text(text) == text
