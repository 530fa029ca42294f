"""Names users type: "did you mean" for every kind of name, the optimisers' listing, and
one option name for space options everywhere."""

from __future__ import annotations

import inspect
import json

import pytest

import actsearch
from actsearch.cli import main
from actsearch.errors import ActsearchError
from actsearch.optimizers.registry import OPTIMIZERS, get_optimizer


def _error(capsys, *argv) -> str:
    """The one line a refused command prints (argparse's own refusals exit through SystemExit)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_commands_and_flags(capsys):
    assert "did you mean 'search'?" in _error(capsys, "serach")
    assert "unrecognized arguments: --budgett 3; did you mean '--budget'?" in _error(
        capsys, "search", "--budgett", "3")
    assert "did you mean '--space-option'?" in _error(capsys, "sample", "--space", "grammar",
                                                      "--space-optoin", "a=1")


@pytest.mark.parametrize("flag, value, needle", [
    ("--optimizer", "evolutoin", "unknown optimizer 'evolutoin'; choose one of: evolution, optuna, random, "
                                 "surrogate; did you mean 'evolution'?"),
    ("--space", "grammer", "unknown search space 'grammer'; choose one of: all, entropy, grammar, polynomial, "
                           "rational; did you mean 'grammar'?"),
    ("--task", "digts", "unknown task 'digts'; choose one of: charlm, cifar10-resnet, digits, mnist1d-cnn, "
                        "mnist1d-mlp or 'package.module:function'; did you mean 'digits'?"),
    ("--backend", "trion", "unknown backend 'trion'; choose one of: auto, triton, inductor, eager; "
                           "did you mean 'triton'?"),
])
def test_unknown_names_say_the_closest(flag, value, needle, capsys, tmp_path):
    err = _error(capsys, "search", flag, value, "--storage", "sqlite:///" + str(tmp_path / "n.db"))
    assert needle in err and "did you mean" in err, err
    assert not (tmp_path / "n.db").exists()


def test_presets_and_options_say_the_closest(capsys):
    with pytest.raises(ActsearchError, match="unknown preset 'gleu'.*did you mean 'gelu'"):
        actsearch.preset("gleu")
    with pytest.raises(ActsearchError) as err:
        get_optimizer("surrogate", actsearch.space("grammar"), modle="gp")
    assert "optimizer 'surrogate' has no option 'modle'; its options: model, acquisition" in str(err.value)
    assert str(err.value).endswith("did you mean 'model'?")
    err = _error(capsys, "sample", "--space", "rational", "--space-option", "versoin=B")
    assert "has no option 'versoin'" in err and "did you mean 'version'?" in err


def test_optimizers_lists_each_optimiser_with_its_options(capsys):
    assert main(["optimizers", "--format", "json"]) == 0
    listing = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert set(listing) == set(OPTIMIZERS.names())
    for name, entry in listing.items():
        params = [p for p in inspect.signature(OPTIMIZERS.load(name)).parameters if p not in ("space", "seed")]
        assert [o["name"] for o in entry["options"]] == params
        assert all(o["help"] for o in entry["options"]), name  # each one said what it does
    surrogate = {o["name"]: o for o in listing["surrogate"]["options"]}
    assert surrogate["model"]["default"] == "knn" and "gp" in surrogate["model"]["help"]
    assert surrogate["xi"]["help"] == "EI margin." and "--warm-start" in surrogate["prior"]["help"]
    assert main(["optimizers"]) == 0
    text = capsys.readouterr().out
    assert "population_size=20" in text and "(no options)" in text


def test_sample_takes_space_option_like_search(capsys):
    assert main(["sample", "--space", "rational", "-n", "2", "--space-option", "version=B"]) == 0
    new = capsys.readouterr().out
    assert main(["sample", "--space", "rational", "-n", "2", "--option", "version=B"]) == 0  # the old name
    assert capsys.readouterr().out == new
    assert main(["sample", "--space", "rational", "-n", "2", "--space-option", "version=C"]) == 0
    assert capsys.readouterr().out != new
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    out = capsys.readouterr().out
    assert "--space-option" in out and "--option " not in out
