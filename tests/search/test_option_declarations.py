"""One declaration per search option: the CLI, settings files, the resume rule and the
stored record all come from the fields of SearchConfig (actsearch/search/option.py)."""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from actsearch.commands.search import add_search_options, config_fields
from actsearch.errors import ActsearchError
from actsearch.search.config import MAY_CHANGE, SearchConfig, StoredConfig, from_stored, resume_config
from actsearch.search.config_file import loads_config, stored_as_file
from actsearch.search.option import Text, Whole, option, options_of


@dataclasses.dataclass
class WithColour(SearchConfig):
    """SearchConfig plus one option, declared in one line as a new option would be."""

    colour: str = option("red", Text(choices=("red", "blue")), "the colour (default: {default})", may_change=True)
    size: int = option(3, Whole(low=1), "a size that a resume may not change")


def _parser(config_class=SearchConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--config", default=None)
    add_search_options(p, config_class)
    return p


def test_a_new_option_is_one_field_and_appears_everywhere(tmp_path, capsys):
    # the command line: a flag with its help, checked by its kind
    parser = _parser(WithColour)
    args = parser.parse_args(["--colour", "blue", "--size", "5", "--budget", "4"])
    assert config_fields(args, WithColour) == {"colour": "blue", "size": 5, "budget": 4}
    with pytest.raises(ActsearchError, match="colour must be one of red, blue, not 'green'"):
        config_fields(parser.parse_args(["--colour", "green"]), WithColour)
    parser.print_help()
    assert "the colour (default: red)" in " ".join(capsys.readouterr().out.split())
    # a settings file, the command line over it
    path = tmp_path / "s.toml"
    path.write_text('colour = "blue"\nsize = 7\n')
    assert config_fields(parser.parse_args(["--config", str(path), "--size", "8"]), WithColour) == {
        "colour": "blue", "size": 8}
    with pytest.raises(ActsearchError, match="size must be at least 1, not 0"):
        loads_config("size = 0", config_class=WithColour)
    # the stored record, and back
    cfg = WithColour(task="digits", colour="blue", size=5)
    stored = cfg.stored(task_spec="digits", epochs=2, metric="val_accuracy")
    assert stored["colour"] == "blue" and stored["size"] == 5
    assert from_stored(stored, WithColour).colour == "blue"
    assert 'colour = "blue"' in stored_as_file(stored, WithColour)
    # the resume rule: colour may change, size may not
    again = resume_config(stored, {"colour": "red"}, WithColour)
    assert again.colour == "red" and again.size == 5 and again.resume
    with pytest.raises(ActsearchError, match=re.escape("size 6 (it was started with 5)")):
        resume_config(stored, {"size": 6}, WithColour)
    # and the Python API's check
    with pytest.raises(ActsearchError, match="colour must be one of red, blue"):
        WithColour(colour="green").check()


def test_may_change_is_derived_from_the_declarations():
    declared = options_of(SearchConfig)
    assert MAY_CHANGE == {name for name, d in declared.items() if d.option.may_change}
    assert {"budget", "workers", "device", "backend", "trial_timeout"} <= MAY_CHANGE


def test_every_command_line_flag_is_a_declared_option():
    parser = _parser()
    dests = {a.dest for a in parser._actions} - {"help", "config"}
    declared = {name for name, d in options_of(SearchConfig).items() if d.flags}
    assert dests == declared
    assert {"references", "callbacks", "notes", "task_source", "results_dir"}.isdisjoint(dests)


def test_stored_config_is_typed_and_round_trips():
    cfg = SearchConfig(task="digits", space="rational", optimizer="evolution", budget=8, seeds=2, seed=3,
                       candidates=["x*tanh(x)"], task_options={"lr": "0.01"}, trial_timeout=60.0, workers=3,
                       metric="val_accuracy", mode="max", notes={"confirms": "src"})
    stored = cfg.stored(task_spec="digits(lr=0.01)", epochs=2, metric="val_accuracy")
    typed = StoredConfig.from_dict({**stored, "created": "2025-01-01T00:00:00+00:00"})
    assert typed.task_spec == "digits(lr=0.01)" and typed.confirms == "src" and typed.mode == "max"
    assert typed.created.startswith("2025")
    assert typed.config.references == ("relu", "gelu", "silu") and typed.config.epochs == 2
    assert (typed.config.workers, typed.config.seed, typed.config.candidates) == (3, 3, ["x*tanh(x)"])
    again = StoredConfig.from_dict(typed.to_dict())
    assert again == typed
    # an older record without the newer keys reads with their defaults
    old = {"task": "digits", "task_name": "digits", "epochs": 2, "seeds": 1, "metric": "val_accuracy"}
    assert StoredConfig.from_dict(old).config.workers is None and StoredConfig.from_dict(old).mode == "max"


def test_a_resume_keeps_the_workers_the_search_was_started_with():
    stored = SearchConfig(task="digits", workers=3).stored(task_spec="digits", epochs=1, metric="val_accuracy")
    assert resume_config(stored, {"name": "s"}).workers == 3
    assert resume_config(stored, {"name": "s", "workers": 1}).workers == 1


def test_unknown_given_options_name_the_closest():
    stored = SearchConfig().stored(task_spec="mnist1d-mlp", epochs=1, metric="val_accuracy")
    with pytest.raises(ActsearchError, match="unknown search option 'budgett'; did you mean 'budget'"):
        resume_config(stored, {"budgett": 3})
