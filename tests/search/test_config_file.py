"""Search settings from the command line and from TOML files, and back."""

from __future__ import annotations

import pytest

import actsearch
from actsearch.cli import main
from actsearch.errors import ActsearchError
from actsearch.search.config import SearchConfig
from actsearch.search.config_file import dump_config, load_config, loads_config, stored_as_file
from actsearch.store import Store


def test_round_trip_of_every_kind_of_value():
    values = {"task": "charlm", "space": "rational", "budget": 9, "early_stop": False, "trial_timeout": 2.5,
              "candidates": ["x*tanh(x)", 'x*"q"'], "references": ("relu",), "gpus_per_trial": 0.25,
              "task_options": {"path": "/tmp/a b.txt", "steps_per_epoch": 20},
              "space_options": {"degrees": "5,4", "version": "B"}}
    assert loads_config(dump_config(values)) == values


@pytest.mark.parametrize("text, needle", [
    ("budgett = 3", "unknown setting 'budgett'"),
    ("budget = ", "config file <text>:"),
    ("task_options = 3", "task_options must be a table"),
    ("resume = true", "unknown setting 'resume'"),
])
def test_bad_files_are_one_line_errors(text, needle):
    with pytest.raises(ActsearchError, match=None) as err:
        loads_config(text)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ActsearchError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_dashes_and_underscores_both_name_a_setting():
    assert loads_config('trial-timeout = 4.0\ngpus_per_trial = 0.5') == {"trial_timeout": 4.0, "gpus_per_trial": 0.5}


def test_command_line_overrides_the_file(tmp_path, monkeypatch):
    import actsearch.cli
    import actsearch.search

    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["search"])
    seen = {}

    def fake_run_search(progress=None, **fields):
        seen.update(fields)
        raise ActsearchError("stopped by the test")

    monkeypatch.setattr(actsearch.search, "run_search", fake_run_search)
    cfg = tmp_path / "s.toml"
    cfg.write_text('task = "digits"\nbudget = 5\nspace = "rational"\n[space_options]\nversion = "B"\n'
                   'degrees = "3,2"\n[task_options]\nlr = 0.01\n')
    assert main(["search", "--config", str(cfg), "--budget", "7", "--space-option", "degrees=4,3",
                 "--optimizer-option", "population_size=5", "--optimizer", "evolution"]) == 2
    assert seen["task"] == "digits" and seen["budget"] == 7 and seen["space"] == "rational"
    assert seen["space_options"] == {"version": "B", "degrees": "4,3"}  # one key changed, the other kept
    assert seen["optimizer_options"] == {"population_size": "5"} and seen["task_options"] == {"lr": 0.01}


def test_help_lists_the_spaces_and_optimisers(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in actsearch.spaces():
        assert name in out
    for name in ("random", "evolution", "surrogate", "optuna"):
        assert name in out


def test_space_options_reach_the_space_and_a_stored_search_runs_again(ray_session, tmp_path, capsys):
    url = "sqlite:///" + str(tmp_path / "c.db")
    argv = ["--task", "digits", "--epochs", "1", "--budget", "5", "--workers", "2", "--space", "rational",
            "--space-option", "version=B", "--space-option", "degrees=3,2", "--storage", url]
    assert main(["search", *argv, "--name", "first"]) == 0
    first = Store(url).results("first")
    rational = [r for r in first if r.family == "rational"]
    assert len(rational) == 2
    for r in rational:  # version B, degrees (3, 2): P of degree 3 over 1 + |b1 x + b2 x^2|
        c = actsearch.parse(r.text)
        assert {"a0", "a1", "a2", "a3", "b1", "b2"} == set(c.params)
    capsys.readouterr()
    out = tmp_path / "first.toml"
    assert main(["config", "first", "--storage", url, "--out", str(out)]) == 0
    values = load_config(out)
    assert values["space_options"] == {"version": "B", "degrees": "3,2"} and values["budget"] == 5
    # the same settings again: the same candidates first, each found in the store (a copy
    # does not count against the budget, so 5 more are trained after them)
    assert main(["search", "--config", str(out), "--storage", url, "--name", "again"]) == 0
    again = Store(url).results("again")
    reused = [r for r in again if r.reused_from == "first"]
    assert sorted(r.fingerprint for r in reused) == sorted(r.fingerprint for r in first)  # records: completion order
    assert len(again) == 10


def test_stored_as_file_keeps_what_differs_from_the_defaults():
    stored = SearchConfig(task="digits", budget=6, precision="bf16", candidates=["abs(x)"]).stored(
        task_spec="digits", epochs=2, metric="val_accuracy")
    values = loads_config(stored_as_file(stored))
    assert values["precision"] == "bf16" and values["candidates"] == ["abs(x)"] and values["epochs"] == 2
    assert "device" not in values and "backend" not in values  # defaults left out


def test_the_final_line_masks_the_store_password(monkeypatch, capsys):
    import actsearch.cli
    import actsearch.commands.search as search_command
    import actsearch.search
    from actsearch.search.driver import SearchOutcome

    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["search"])
    url = "postgresql://user:s3cret@db.example/actsearch"
    monkeypatch.setattr(actsearch.search, "run_search", lambda progress=None, **fields: SearchOutcome(
        name="s", url=url, results=[], references=[], finished=False, trained=0, reused=0, wall_time=1.0))
    monkeypatch.setattr(search_command, "print_leaderboard", lambda *a, **k: None)
    assert main(["search", "--storage", url]) == 130
    err = capsys.readouterr().err
    assert "s3cret" not in err and "postgresql://user:***@db.example/actsearch" in err
