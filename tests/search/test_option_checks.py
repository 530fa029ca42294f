"""Settings files checked field by field with the command line's own kinds and ranges,
and safe search names: each bad value is one line, before anything runs."""

from __future__ import annotations

import pytest

from actsearch.cli import main
from actsearch.errors import ActsearchError
from actsearch.search.config import SearchConfig
from actsearch.search.config_file import loads_config
from actsearch.search.option import check_search_name


@pytest.mark.parametrize("text, needle", [
    ('budget = "four"', "budget must be a whole number, not 'four'"),
    ('task = {name="digits"}', "task must be text, not a table"),
    ("name = 5", "name must be text, not 5"),
    ("storage = 5", "storage must be text, not 5"),
    ('address = ["a"]', "address must be text, not a list"),
    ("a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    ("budget = 4.5", "budget must be a whole number, not 4.5"),
    ("budget = true", "budget must be a whole number, not true"),
    ('candidates = "x*tanh(x)"', 'candidates must be a list of formulas (e.g. ["x*tanh(x)"]), not \'x*tanh(x)\''),
    ("seed = -1", "seed must be 0 or more, not -1"),
    ("trial_timeout = -3.0", "trial timeout must be a positive number of seconds"),
    ("trial_timeout = inf", "trial timeout must be a number, not inf"),
    ('mode = "up"', "mode must be one of max, min, not 'up'"),
    ("[task_options]\nlr = {a = 1}", "task_options: lr must be text, a number, true/false or a list of them"),
    ('references = "relu"', "references must be a list of texts, not 'relu'"),
    ('name = ".."', "search name '..' is not allowed"),
    ('budgett = 3', "unknown setting 'budgett'"),
])
def test_each_bad_setting_is_one_line_naming_it(text, needle):
    with pytest.raises(ActsearchError) as err:
        loads_config(text, "'s.toml'")
    message = str(err.value)
    assert needle in message and "\n" not in message and message.startswith("config file 's.toml': "), message


def test_a_bad_file_stops_the_command_before_anything_runs(tmp_path, capsys, monkeypatch):
    import actsearch.search

    called = []
    monkeypatch.setattr(actsearch.search, "run_search", lambda **kw: called.append(kw))
    path = tmp_path / "s.toml"
    for text in ('budget = "four"', "budget = true", 'candidates = "x*tanh(x)"'):
        path.write_text(text)
        assert main(["search", "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not called


@pytest.mark.parametrize("argv, needle", [
    (["--seed", "-1"], "seed must be 0 or more, not -1"),
    (["--budget", "0"], "budget must be a positive number of candidates, not 0"),
    (["--budget", "4.5"], "argument --budget: must be a whole number, not '4.5'"),
    (["--workers", "0"], "workers must be at least 1, not 0"),
    (["--gpus-per-trial", "1.5"], "must be a fraction up to 1 or a whole number, not 1.5"),
    (["--name", ".."], "search name '..' is not allowed"),
    (["--name", "."], "search name '.' is not allowed"),
    (["--name", "a" * 300], "at most 100 characters"),
    (["--name", "exp:1"], "search name 'exp:1' is not allowed"),
    (["--name", "two\nlines"], "must be one line of text"),
    (["--mode", "maximum"], "must be one of max, min"),
])
def test_bad_command_lines_are_one_line(argv, needle, capsys, monkeypatch):
    import actsearch.search

    monkeypatch.setattr(actsearch.search, "run_search", lambda **kw: pytest.fail("the search ran"))
    try:  # a word that is no number is argparse's refusal; the rest, the options' own checks
        code = main(["search", *argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_the_python_api_checks_the_same_kinds():
    for fields, needle in (({"seed": -1}, "seed must be 0 or more"), ({"budget": 4.5}, "budget must be a whole"),
                           ({"budget": True}, "budget must be a whole number, not true"),
                           ({"name": "../x"}, "search name '../x' is not allowed"),
                           ({"candidates": "x*tanh(x)"}, "candidates must be a list of formulas")):
        with pytest.raises(ActsearchError, match=needle):
            SearchConfig(**fields).check()


def test_safe_names_pass():
    for name in ("a", "digits-grammar-random-1", "run_2.b", "A" * 100, "-x"):
        assert check_search_name(name) == name
    for name in ("", ".hidden", "a/b", "a b", "a" * 101, "é"):
        with pytest.raises(ActsearchError):
            check_search_name(name)
