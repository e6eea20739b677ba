"""The queue view (Q), fork onto the live version (F), send (s) and waits in the steps
table, through Pilot at 80x24 on the rows real DBOS 3.x workers write."""

from __future__ import annotations

from typing import Any

from test_ui_keys import SIZE, settle
from test_ui_support import NOW_MS, ActionsDouble, make_app

from limbo_tui.model import SLEEP_STEP, Step, Workflow
from limbo_tui.registry import DBOS_3, QueueSettings, Registry
from limbo_tui.ui.details_pane import StepsTable
from limbo_tui.ui.screens.confirm import ConfirmScreen
from limbo_tui.ui.screens.queue_view import QueueScreen
from limbo_tui.ui.screens.send_form import SendFormScreen
from limbo_tui.ui.workflow_tree import WorkflowTree

MIN = 60_000
HOLDER = "0ae65423-1111-4222-8333-444455556666"


def fleet_rows() -> list[Any]:
    """Executor a silent for 10 minutes holding q_one's only slot (dedup id "job-1"), three
    waiting behind it, executor b alive on v2, a v1 workflow nobody runs, a recv waiter."""
    old = NOW_MS - 10 * MIN
    rows: list[Any] = [
        Registry(release=DBOS_3, queues=(QueueSettings("q_one", concurrency=1),)),
        Workflow(
            HOLDER,
            "PENDING",
            name="job",
            queue="q_one",
            dedup_id="job-1",
            executor_id="a",
            app_version="v2",
            created_at_ms=old,
            updated_at_ms=old,
        ),
        Workflow(
            "b-done",
            "SUCCESS",
            name="job",
            executor_id="b",
            app_version="v2",
            created_at_ms=NOW_MS - 2_000,
            updated_at_ms=NOW_MS - 1_000,
        ),
        Workflow(
            "old-v1",
            "PENDING",
            name="job",
            queue="q_work",
            executor_id="a",
            app_version="v1",
            created_at_ms=old,
            updated_at_ms=old,
        ),
        Step("old-v1", 1, "prepare", started_at_ms=old, completed_at_ms=old),
        Workflow(
            "waiter",
            "PENDING",
            name="approve",
            queue="q_work",
            executor_id="b",
            app_version="v2",
            created_at_ms=old,
            updated_at_ms=old,
        ),
        Step("waiter", 1, "prepare", started_at_ms=old, completed_at_ms=old),
        Step(
            "waiter",
            3,
            SLEEP_STEP,
            started_at_ms=old,
            completed_at_ms=old,
            output=str((NOW_MS + 3_600_000) / 1000),
            serialization="portable_json",
        ),
    ]
    for i in range(3):
        rows.append(
            Workflow(
                f"w{i}",
                "ENQUEUED",
                name="job",
                queue="q_one",
                created_at_ms=NOW_MS - (5 - i) * MIN,
                updated_at_ms=NOW_MS - (5 - i) * MIN,
            )
        )
    return rows


def visible(app: Any) -> set[str]:
    tree = app.query_one(WorkflowTree)
    return {tree.get_node_at_line(i).data for i in range(tree.last_line + 1)}


async def test_Q_shows_the_blocked_queue_and_enter_filters_the_tree_to_it() -> None:
    app, feeds = make_app(actions=ActionsDouble())
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(fleet_rows())
        await pilot.pause()
        await pilot.press("Q")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        table = screen.query_one("#queues")
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        assert set(rows) == {"q_one", "q_work"}
        q_one = rows["q_one"]
        assert q_one[1] == "concurrency 1" and q_one[2] == "1" and q_one[3] == "3"
        assert q_one[4] == "5m00s" and q_one[5] == "1" and q_one[6] == "BLOCKED"
        detail = str(screen.query_one("#queue-detail").render())
        assert "BLOCKED: 1 of 1 slots held by 0ae65423" in detail and "3 waiting" in detail
        assert "dedup job-1 held by 0ae65423 (PENDING, 10m)" in detail
        assert "PENDING by executor: a 1" in detail
        assert "ENQUEUED by executor: - 3; by version: - 3" in detail
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, QueueScreen)
        assert app.filter_text == "queue:q_one"
        assert visible(app) == {HOLDER, "w0", "w1", "w2"}


async def test_F_forks_unserved_work_onto_the_live_version_from_its_next_step() -> None:
    actions = ActionsDouble()
    app, feeds = make_app(actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(fleet_rows())
        await pilot.pause()
        kinds = [d.kind for d in app.diagnoses if d.workflow_id == "old-v1"]
        assert kinds == ["unserved-version"]
        app.query_one(WorkflowTree).select_workflow("old-v1")
        await pilot.pause()
        await pilot.press("F")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one("#question").render())
        assert "onto version v2, from step 2" in question
        await pilot.press("y")
        await settle(app, pilot)
        assert actions.calls == [("fork", "old-v1", 2, "v2")]


async def test_s_sends_the_awaited_message_and_the_steps_table_shows_the_wait() -> None:
    actions = ActionsDouble()
    app, feeds = make_app(actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(fleet_rows())
        await pilot.pause()
        assert [d.kind for d in app.diagnoses if d.workflow_id == "waiter"] == ["awaiting-message"]
        app.query_one(WorkflowTree).select_workflow("waiter")
        await pilot.pause()
        steps = app.query_one(StepsTable)
        cells = [[str(c) for c in steps.get_row_at(i)] for i in range(steps.row_count)]
        assert [c[:3] for c in cells] == [
            ["1", "prepare", "ok"],
            ["2", "DBOS.recv / get_event", "waiting"],
            ["3", "DBOS.sleep", "timeout"],
        ]
        assert cells[1][3] == "→22:23:25Z"  # an hour after: the time of day
        fields = str(app.query_one("#details-fields").render())
        assert "b (live, runs v2)" in fields
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SendFormScreen)
        await pilot.press(*"approval", "enter", *"yes", "enter")
        await settle(app, pilot)
        assert actions.calls == [("send", "waiter", "approval", "yes")]


async def test_s_on_a_workflow_that_does_not_wait_sends_nothing() -> None:
    actions = ActionsDouble()
    app, feeds = make_app(actions=actions)
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(fleet_rows())
        await pilot.pause()
        app.query_one(WorkflowTree).select_workflow(HOLDER)
        await pilot.pause()
        assert "a (silent, last write 10m" in str(app.query_one("#details-fields").render())
        await pilot.press("s")
        await settle(app, pilot)
        assert not isinstance(app.screen, SendFormScreen) and actions.calls == []
        assert any("nothing to send" in str(n.message) for n in app._notifications)


async def test_the_open_queue_view_follows_the_feed() -> None:
    app, feeds = make_app(actions=ActionsDouble())
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(fleet_rows())
        await pilot.pause()
        await pilot.press("Q")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        table = screen.query_one("#queues")

        def q_one() -> Any:
            return next(
                table.get_row_at(i)
                for i in range(table.row_count)
                if table.get_row_at(i)[0] == "q_one"
            )

        assert q_one()[3] == "3"
        feeds[0].push([Workflow("w9", "ENQUEUED", name="job", queue="q_one", created_at_ms=NOW_MS)])
        await pilot.pause(0.6)  # it follows at most twice a second
        feeds[0].push([])
        await pilot.pause()
        assert q_one()[3] == "4"
        # The holder gets cancelled: the queue is no longer blocked.
        feeds[0].push([Workflow(HOLDER, "CANCELLED", name="job", created_at_ms=NOW_MS - 10 * MIN)])
        await pilot.pause(0.6)
        feeds[0].push([])
        await pilot.pause()
        assert q_one()[6] == "" and q_one()[2] == "0"


async def test_hostile_queue_names_and_dedup_ids_reach_no_terminal_in_the_queue_view() -> None:
    evil = "q\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202eevil"
    rows = [
        Registry(release=DBOS_3, queues=(QueueSettings(evil, concurrency=1),)),
        Workflow(
            "h",
            "PENDING",
            queue=evil,
            dedup_id="\x1b[31mred",
            executor_id="a\x07",
            created_at_ms=NOW_MS - 10 * MIN,
            updated_at_ms=NOW_MS - 10 * MIN,
        ),
        Workflow("w", "ENQUEUED", queue=evil, created_at_ms=NOW_MS - MIN),
    ]
    app, feeds = make_app(actions=ActionsDouble())
    async with app.run_test(size=SIZE) as pilot:
        feeds[0].push(rows)
        await pilot.pause()
        await pilot.press("Q")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        table = app.screen.query_one("#queues")
        cells = [str(c) for i in range(table.row_count) for c in table.get_row_at(i)]
        detail = str(app.screen.query_one("#queue-detail").render())
        text = "\n".join([*cells, detail])
        assert "BLOCKED" in cells and "dedup" in detail
        assert not any(ord(c) < 32 and c != "\n" for c in text) and "\x1b" not in text
        assert "\u202e" not in text
