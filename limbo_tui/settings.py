"""The settings limbo-tui runs with: one frozen tree of dataclasses.

config.py fills it from flags, environment, config.toml and these defaults; every other
module only reads it. The defaults here are the single source of truth that config.toml
documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WorkerMode = Literal["thread", "process", "none"]
WORKER_MODES: tuple[WorkerMode, ...] = ("thread", "process", "none")
FeedSource = Literal["auto", "poll", "logical"]
FEED_SOURCES: tuple[FeedSource, ...] = ("auto", "poll", "logical")
TriggerPolicy = Literal["ask", "auto", "never"]
TRIGGER_POLICIES: tuple[TriggerPolicy, ...] = ("ask", "auto", "never")


@dataclass(frozen=True)
class DatabaseSettings:
    # None means: start (or reuse) the embedded private Postgres server.
    url: str | None = None
    schema: str = "dbos"
    # Where the URL came from, for error messages ("--db-url", "LIMBO_TUI_DB_URL", ...).
    url_source: str = "default"
    # Where the schema came from ("--schema", a file and line, "default").
    schema_source: str = "default"


@dataclass(frozen=True)
class EmbeddedSettings:
    # None means the platform's user data dir (or /var/lib/limbo-tui when run as root).
    data_dir: str | None = None
    # The database inside the embedded server that holds the DBOS system tables.
    database: str = "limbo_tui"


@dataclass(frozen=True)
class WorkerSettings:
    mode: WorkerMode = "thread"
    # Where `mode` came from: "default" lets a monitor (a user's database) run none.
    mode_source: str = "default"
    executor_id: str = "limbo-tui-worker"
    app_version: str = "limbo-tui-demo-1"
    # Seconds after a crash before the worker restarts by itself; 0 = only on `r`.
    auto_restart_s: float = 0.0
    # How long a stop (r, q) lets DBOS wait for the workflows still running in the process
    # worker: DBOS.destroy(workflow_completion_timeout_sec=...). 10 is the seed's, whose
    # Ctrl+C waited 10 s for its stuck parent; 0 stops without waiting.
    shutdown_wait_s: int = 10
    # Modules imported before launch so the embedded worker also runs the user's workflows.
    imports: tuple[str, ...] = ()
    # The DBOS release the process worker runs ("2.8.0"), provisioned by uv into
    # limbo-tui's cache; None: limbo-tui's own dbos. Same as --dbos.
    dbos: str | None = None
    # The interpreter of the process worker, e.g. your project's ".venv/bin/python", so
    # that your own dbos runs your code; None: limbo-tui's (or the --dbos release's).
    python: str | None = None


@dataclass(frozen=True)
class ExperimentSettings:
    children: int = 6
    steps: int = 5
    # Numbered as DBOS numbers them (numbering.py): the crash child is the id suffix of a
    # child (1, 3, 5, ...: the function id that started it in the parent), the crash step
    # a function id in that child (1..steps). The seed's: the first child's 4th step.
    crash_child: int = 1
    crash_step: int = 4
    # Set crash_enabled = false to run the experiment without its crash point.
    crash_enabled: bool = True
    # How the process worker dies there: "SIGKILL", or "SIGSEGV" (a real segmentation
    # fault, as the seed's). The thread worker's crash is the same either way.
    crash_signal: str = "SIGKILL"
    max_recovery_attempts: int = 2
    child_max_recovery_attempts: int = 2
    step_max_attempts: int = 3
    step_delay_ms: int = 300
    queue: str = "example-queue"


# The experiment's numbers as a config file, the E form and an enqueue all accept them
# (inclusive). A crash point must also lie inside its experiment's children and steps.
EXPERIMENT_BOUNDS: dict[str, tuple[int, int]] = {
    "children": (1, 100),
    "steps": (1, 100),
    # Numbered as DBOS numbers them (numbering.py): a child's id suffix, a function id.
    "crash_child": (1, 199),
    "crash_step": (1, 100),
    "max_recovery_attempts": (0, 1000),
    "child_max_recovery_attempts": (0, 1000),
    "step_max_attempts": (1, 100),
    "step_delay_ms": (0, 60_000),
}


def out_of_bounds(name: str, value: int) -> str | None:
    """Why `value` cannot be the experiment's `name`, as one line ("children: between 1
    and 100"); None when it can."""
    low, high = EXPERIMENT_BOUNDS[name]
    return None if low <= value <= high else f"{name.replace('_', ' ')}: between {low} and {high}"


@dataclass(frozen=True)
class LimboSettings:
    # PENDING with no progress for this long is `stalled`.
    stalled_after_s: float = 300.0
    # ENQUEUED for this long is `stuck-enqueued`.
    enqueued_after_s: float = 600.0
    # recovery_attempts this close to the max is `near-max-recovery`.
    near_max_margin: int = 1


@dataclass(frozen=True)
class FeedSettings:
    # How many finished families (most recent first) the snapshot keeps besides live work.
    finished_families: int = 200
    # Delta polling's interval: poll_min_interval_s while changes flow, backing off to
    # poll_interval_s when idle.
    poll_interval_s: float = 2.0
    poll_min_interval_s: float = 0.2
    # "auto": NOTIFY when limbo-tui's triggers are there (or may be installed), else
    # delta polling; "poll": always poll; "logical": a temporary logical replication slot.
    source: FeedSource = "auto"
    # On a user's database (a monitor): "ask" offers live push (installs the triggers
    # after a confirm), "auto" installs them unasked, "never" neither.
    triggers: TriggerPolicy = "ask"
    heartbeat_s: float = 15.0
    coalesce_ms: int = 10
    # On a user's database (a monitor) limbo-tui lowers its own CPU priority by this
    # (os.nice), so that it never takes CPU the application needs; 0 keeps it.
    nice: int = 10
    # source = "logical": a publication the user made over the two DBOS tables (pgoutput,
    # which formats only their keys); "" = test_decoding, nothing to create.
    publication: str = ""


@dataclass(frozen=True)
class UISettings:
    refresh_hz: float = 20.0


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    embedded: EmbeddedSettings = field(default_factory=EmbeddedSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    experiment: ExperimentSettings = field(default_factory=ExperimentSettings)
    limbo: LimboSettings = field(default_factory=LimboSettings)
    feed: FeedSettings = field(default_factory=FeedSettings)
    ui: UISettings = field(default_factory=UISettings)
    # Known max_recovery_attempts by workflow name (DBOS does not store it).
    limits: dict[str, int] = field(default_factory=dict)
    read_only: bool = False
    # A lab: the embedded database, or one the user made a lab (--lab). limbo-tui may run
    # its worker and install its triggers there; anywhere else it is a monitor that
    # writes nothing until asked.
    lab: bool = False
    # Which config file was read, if any (shown by `--help`-style messages and errors).
    config_path: str | None = None
