"""The footer: every key the help lists that works in this mode, never cut.

Textual's Footer lays keys on one line and cuts what does not fit (at 80 columns the last
keys vanished, and a label could run into the next: `palettey`). This one is built from
KEYS, keeps the actions the app's check_action allows (so read-only shows no write), one
key each (the first: q for quit, not also ctrl+c), and wraps between entries onto as many
lines as the width needs: an entry is never split."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from limbo_tui.ui.bindings import KEY_CHARACTERS, KEYS, Key

SEPARATOR = " "


def short_key(key: str) -> str:
    """The key as a terminal user writes it: ^c for ctrl+c, / for slash."""
    if key.startswith("ctrl+"):
        return "^" + key.removeprefix("ctrl+")
    return KEY_CHARACTERS.get(key, key)


def footer_entries(keys: tuple[Key, ...], enabled: set[str]) -> list[tuple[str, str]]:
    """(key, label) for each enabled action, in KEYS' order, by its first key; the
    enabled keys of a group share one entry ("f/F fork")."""
    entries: dict[str, tuple[list[str], str]] = {}
    actions: set[str] = set()
    for k in keys:
        if k.action not in enabled or k.action in actions:
            continue
        actions.add(k.action)
        slot = k.group or f"\x00{k.action}"
        if slot in entries:
            entries[slot][0].append(short_key(k.key))
        else:
            entries[slot] = ([short_key(k.key)], k.short or k.label.lower())
    return [("/".join(shown), label) for shown, label in entries.values()]


def wrap_entries(entries: list[tuple[str, str]], width: int) -> list[list[tuple[str, str]]]:
    """Entries on lines of at most `width` cells, breaking only between entries."""
    lines: list[list[tuple[str, str]]] = [[]]
    used = 0
    for keys, label in entries:
        size = len(keys) + 1 + len(label)
        extra = size if not lines[-1] else len(SEPARATOR) + size
        if lines[-1] and used + extra > width:
            lines.append([])
            used, extra = 0, size
        lines[-1].append((keys, label))
        used += extra
    return lines


class KeyFooter(Widget):
    DEFAULT_CSS = """
    KeyFooter {
        height: auto;
        padding: 0;
        background: $panel;
    }
    """

    def on_mount(self) -> None:
        # The app refreshes its bindings when check_action's answers may change (focus
        # moved into an input, live push offered): the footer follows.
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh(layout=True)

    def entries(self) -> list[tuple[str, str]]:
        enabled = {k.action for k in KEYS if self.app.check_action(k.action, ()) is not False}
        return footer_entries(KEYS, enabled)

    def _lines(self, width: int) -> list[list[tuple[str, str]]]:
        return wrap_entries(self.entries(), max(width, 1))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        for n, line in enumerate(self._lines(self.content_size.width)):
            if n:
                text.append("\n")
            for i, (keys, label) in enumerate(line):
                if i:
                    text.append(SEPARATOR)
                text.append(keys, style="bold reverse")
                text.append(" " + label)
        return text
