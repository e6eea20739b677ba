"""The experiment's bounds and defaults have one owner (settings.py): a config file, the E
form's checks and an enqueue (ExperimentParams) refuse the same numbers, and a run's
parameters default to the settings' defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from limbo_tui.config import Overrides, load_settings
from limbo_tui.errors import ConfigError
from limbo_tui.settings import EXPERIMENT_BOUNDS, ExperimentSettings, out_of_bounds
from limbo_tui.worker.protocol import ExperimentParams


def test_a_run_defaults_to_the_settings_defaults() -> None:
    settings = ExperimentSettings()
    assert ExperimentParams() == ExperimentParams.from_settings(settings)
    params = ExperimentParams()
    for f in dataclasses.fields(ExperimentParams):
        if hasattr(settings, f.name):
            assert getattr(params, f.name) == getattr(settings, f.name), f.name


@pytest.mark.parametrize("name", ["children", "steps", "step_max_attempts", "step_delay_ms"])
def test_an_enqueue_and_a_config_file_refuse_the_same_numbers(tmp_path: Path, name: str) -> None:
    low, high = EXPERIMENT_BOUNDS[name]
    for bad in (low - 1, high + 1):
        assert out_of_bounds(name, bad) == f"{name.replace('_', ' ')}: between {low} and {high}"
        # A run of that size is refused before anything is written...
        changes: dict[str, object] = {name: bad, "crash_child": None}
        assert ExperimentParams().replace(**changes).validate() == out_of_bounds(name, bad)
        # ...and a config file naming it is refused in one line, at its line.
        config = tmp_path / f"{name}-{bad}.toml"
        config.write_text(f"[experiment]\ncrash_enabled = false\n{name} = {bad}\n")
        with pytest.raises(
            ConfigError, match=rf"line 3: experiment.{name} = {bad} is out of range"
        ):
            load_settings(Overrides(config=str(config)), {})
    for good in (low, high):
        assert out_of_bounds(name, good) is None
        assert ExperimentParams().replace(**{name: good, "crash_child": None}).validate() is None


@pytest.mark.parametrize(
    ("name", "setting", "field", "value"),
    [("crash_child", 4, "crash_child", 4), ("steps", 2, "crash_step", 4)],
)
def test_a_crash_point_outside_the_experiment_is_refused_for_one_reason(
    tmp_path: Path, name: str, setting: int, field: str, value: int
) -> None:
    config = tmp_path / "limbo-tui.toml"
    config.write_text(f"[experiment]\n{name} = {setting}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(Overrides(config=str(config)), {})
    exp = dataclasses.replace(ExperimentSettings(), **{name: setting})
    said = ExperimentParams.from_settings(exp).validate()
    assert said is not None and said.startswith(f"{field.replace('_', ' ')} {value} ")
    reason = said.split(f" {value} ", 1)[1]
    assert str(refused.value).endswith(f": experiment.{field} = {value} {reason}")
