"""Durations and timestamps as limbo-tui writes them: the one place each format is made.

Times are epoch milliseconds, always shown in UTC (the database server's clock, which
may be in another zone than this terminal), marked with a Z. A time read from the
database can be anything: one no calendar holds is written as its number, never raised.

- age_text: how long ago, compact for a column ("45s", "4m05s", "12m", "3h05m", "2d").
- duration_text: how long a step took ("80ms", "2.5s", then as age_text).
- span_text: how long, in a sentence ("45s", "12m", "3h 5m", "2d 4h"); span_changes_after
  says when it next reads otherwise.
- stamp_text: a moment in a sentence or a field ("2026-02-05 21:22:25Z").
- time_of_day_text: a moment of a timeline, to the millisecond ("21:22:25.905Z").
- until_text: a deadline beside its start ("→21:22:25Z" within a day, else "→2026-02-06").
- iso: a moment for JSON (ISO 8601, milliseconds, "2026-02-05T21:22:25.905Z").
"""

from __future__ import annotations

from datetime import UTC, datetime

_DAY_MS = 86_400_000


def _utc(ms: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def age_text(ms: int | None) -> str:
    """How long ago, to the precision a tree column has room for; "" when unknown or
    in the future (a clock ahead of the server's)."""
    if ms is None or ms < 0:
        return ""
    s = ms // 1000
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d"


def duration_text(ms: int | None) -> str:
    """How long a step or a timeout took: milliseconds below a second, tenths below a
    minute, then as age_text."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms}ms"
    return f"{ms / 1000:.1f}s" if ms < 60_000 else age_text(ms)


def span_text(ms: float) -> str:
    """45s, 12m, 3h 5m, 2d 4h: the precision a person needs for "how long stuck"."""
    s = max(int(ms // 1000), 0)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m}m" if m else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d {h}h" if h else f"{d}d"


def span_changes_after(ms: int) -> int:
    """The first span after `ms` that span_text writes otherwise: when a "for 12m" in a
    sentence moves on (a live monitor schedules its next look for then)."""
    s = max(ms // 1000, 0)
    if s < 60:
        return (s + 1) * 1000
    if s < 86400:
        return (s // 60 + 1) * 60_000
    return (s // 3600 + 1) * 3_600_000


def stamp_text(ms: int) -> str:
    at = _utc(ms)
    return at.strftime("%Y-%m-%d %H:%M:%SZ") if at else f"epoch ms {ms}"


def time_of_day_text(ms: int) -> str:
    at = _utc(ms)
    return at.strftime("%H:%M:%S.") + f"{ms % 1000:03d}Z" if at else f"epoch ms {ms}"


def until_text(deadline_ms: int | None, since_ms: int | None) -> str:
    """A deadline short enough for a "took" column: its time of day when it falls within
    a day of `since_ms`, else its date."""
    if deadline_ms is None:
        return "no deadline"
    at = _utc(deadline_ms)
    if at is None:
        return f"→epoch ms {deadline_ms}"
    if since_ms is not None and 0 <= deadline_ms - since_ms < _DAY_MS:
        return at.strftime("→%H:%M:%SZ")
    return at.strftime("→%Y-%m-%d")


def iso(ms: int | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, for JSON; None stays None (JSON null), and a
    time no calendar holds is its number as text."""
    if ms is None:
        return None
    at = _utc(ms)
    if at is None:
        return str(ms)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
