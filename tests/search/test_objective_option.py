"""``--objective``: checked like every option, kept in the stored config, fixed on a resume."""

from __future__ import annotations

import pytest

from actsearch.errors import ActsearchError
from actsearch.search.config import SearchConfig, StoredConfig, resume_config


def _stored(**fields):
    return SearchConfig(task="digits", **fields).stored(task_spec="digits", epochs=2, metric="val_accuracy")


def test_objective_is_stored_and_read_back():
    assert _stored(objective="pareto")["objective"] == "pareto"
    assert StoredConfig.from_dict(_stored(objective="pareto")).config.objective == "pareto"
    old = _stored()
    del old["objective"]  # a search stored before the option existed
    assert StoredConfig.from_dict(old).config.objective == "score"


def test_a_resume_keeps_the_objective():
    assert resume_config(_stored(objective="pareto"), {"budget": 20}).objective == "pareto"
    with pytest.raises(ActsearchError, match=r"objective 'score' \(it was started with 'pareto'\)"):
        resume_config(_stored(objective="pareto"), {"objective": "score"})


def test_a_bad_objective_is_one_line():
    with pytest.raises(ActsearchError, match="objective must be one of score, pareto, not 'front'") as info:
        SearchConfig(objective="front").check()
    assert "\n" not in str(info.value)


def test_the_command_line_takes_it():
    import argparse

    from actsearch.commands import search

    parser = argparse.ArgumentParser()
    search.register(parser.add_subparsers())
    args = parser.parse_args(["search", "--objective", "pareto"])
    assert search.config_fields(args)["objective"] == "pareto"


@pytest.mark.parametrize("key, flag", [("objective", "--objective"), ("seed", "--seed"), ("prior", "--warm-start")])
def test_an_optimizer_option_the_search_sets_is_one_line(key, flag):
    """Passed on as well, it would clash with the search's own value inside the call (a TypeError)."""
    with pytest.raises(ActsearchError, match=f"--optimizer-option {key}=...: the optimiser's {key} is set with "
                                             f"{flag}") as info:
        SearchConfig(optimizer="surrogate", optimizer_options={key: "pareto"}).check()
    assert "\n" not in str(info.value)
