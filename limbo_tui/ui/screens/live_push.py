"""The consent dialog for live push: what limbo-tui will create on the user's database,
how to remove it, and what it costs the application (as the bench measured it)."""

from __future__ import annotations

from limbo_tui.pg import triggers
from limbo_tui.ui.screens.confirm import ConfirmScreen


def consent_question(schema: str) -> str:
    channel = triggers.channel_name(schema)
    tables = " and ".join(f"{schema}.{t}" for t in triggers.TABLES)
    return (
        "Switch on live push? limbo-tui will create on this database:\n"
        f"  - schema {triggers.OWN_SCHEMA} with function {triggers.OWN_SCHEMA}."
        f"{triggers.FUNCTION}() (never fails a write; silent when the NOTIFY queue is "
        f"{triggers.QUEUE_LIMIT:.0%} full)\n"
        f"  - {len(triggers.TRIGGERS)} statement triggers on each of {tables}, "
        f"notifying channel {channel}\n"
        "Remove them at any time with: limbo-tui triggers uninstall\n"
        f"Cost: {triggers.NOTIFY_COST}.\n"
        "Without them limbo-tui keeps polling, which writes nothing."
    )


class LivePushConsent(ConfirmScreen):
    def __init__(self, schema: str) -> None:
        super().__init__(consent_question(schema), yes="Install", no="Keep polling")
