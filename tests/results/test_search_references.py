"""One source of references: the leaderboard, the report and confirm compare with the
references a search was started with (its stored configuration), not the default
relu/gelu/silu."""

from __future__ import annotations

import html

import math

import pandas as pd
import pytest

import actsearch
from actsearch.cli import main
from actsearch.registry import REFERENCES, preset
from actsearch.result import Result
from actsearch.results.leaderboard import leaderboard
from actsearch.results.report import write_report
from actsearch.search import SearchConfig
from actsearch.search.confirm import confirm_references
from actsearch.store import Store

CRRELU = preset("crrelu").text


def _config(references) -> dict:
    # the record a real search writes (SearchConfig.stored), so the key read is the key written
    return SearchConfig(task="digits", references=references, seeds=2).stored(task_spec="digits", epochs=3,
                                                                              metric="val_accuracy")


def _record(search, text, seeds, name=""):
    search.record(Result(key=actsearch.parse(text).key, text=actsearch.parse(text).text, name=name,
                         score=sum(seeds) / len(seeds), seed_scores=list(seeds), spread=0.0, task="digits",
                         epochs=3, seeds=len(seeds), first_seed=0, fingerprint=actsearch.parse(text).fingerprint()))


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'refs.db'}"
    store = Store(url)
    default = store.open_search("default", _config(REFERENCES))
    _record(default, "relu(x)", [0.60, 0.62])
    _record(default, "gelu(x)", [0.80, 0.80])
    _record(default, "x*tanh(x)", [0.74, 0.76])
    own = store.open_search("own", _config(("relu", "crrelu")))
    _record(own, "relu(x)", [0.60, 0.62], name="relu")
    _record(own, CRRELU, [0.70, 0.70], name="crrelu")
    _record(own, "gelu(x)", [0.80, 0.80])  # a searched candidate here, though gelu is a reference elsewhere
    _record(own, "x*tanh(x)", [0.74, 0.76])
    return url


def test_gain_and_baseline_come_from_the_searchs_own_references(url):
    df = leaderboard(url, "own").set_index("formula")
    assert df.loc["relu(x)", "baseline"] == "relu" and df.loc[CRRELU, "baseline"] == "crrelu"
    assert pd.isna(df.loc["gelu(x)", "baseline"])  # not a reference of this search: ranked, and gains
    assert set(df["gain_vs"]) == {"crrelu"}  # the best of relu and crrelu
    assert df.loc["x*tanh(x)", "gain"] == pytest.approx(0.75 - 0.70)
    assert df.loc["gelu(x)", "gain"] == pytest.approx(0.80 - 0.70)
    # the same rows under the default references: gelu is the baseline there
    default = leaderboard(url, "default").set_index("formula")
    assert default.loc["gelu(x)", "baseline"] == "gelu" and default.loc["x*tanh(x)", "gain"] == pytest.approx(-0.05)


def test_against_names_one_of_the_searchs_references(url, capsys):
    df = leaderboard(url, "own", against="relu").set_index("formula")
    assert df.loc["x*tanh(x)", "gain"] == pytest.approx(0.75 - 0.61) and df.loc["x*tanh(x)", "wins"] == "2/2"
    with pytest.raises(actsearch.ActsearchError, match="'gelu' is not a reference of this search; choose one of: "
                                                       "relu, crrelu"):
        leaderboard(url, "own", against="gelu")
    assert leaderboard(url, "default", against="gelu").set_index("formula").loc["x*tanh(x)", "gain"] < 0
    # over every search, any of their references
    both = leaderboard(url, all=True, against="crrelu")
    assert math.isclose(both.set_index("id").loc["own:3", "gain"], 0.05)
    assert main(["leaderboard", "--storage", url, "--name", "own", "--against", "crrelu"]) == 0
    assert "crrelu" in capsys.readouterr().out
    assert main(["leaderboard", "--storage", url, "--name", "own", "--against", "silu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "choose one of: relu, crrelu" in err


def test_confirm_refuses_a_reference_the_search_did_not_train_before_training(url, capsys):
    assert main(["confirm", "own", "--against", "gelu", "--storage", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'gelu' is not a reference of this search" in err
    assert "own-confirm" not in [s["name"] for s in Store(url).searches()]
    assert confirm_references(Store(url).search("own").config) == ("relu", "crrelu")
    assert confirm_references({"references": []}) == REFERENCES  # fresh seeds need a baseline
    assert confirm_references({}) == REFERENCES  # stored before references were kept


def test_a_reference_only_the_searching_process_knew_is_told_by_its_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'plugin.db'}"
    search = Store(url).open_search("plugin", _config(("relu",)) | {"references": ["relu", "scaled-tanh"]})
    _record(search, "relu(x)", [0.60, 0.60], name="relu")
    _record(search, "2*tanh(x)", [0.66, 0.66], name="scaled-tanh")  # a preset registered there, not here
    _record(search, "x*tanh(x)", [0.70, 0.70])
    df = leaderboard(url, "plugin").set_index("formula")
    assert df.loc["2*tanh(x)", "baseline"] == "scaled-tanh"
    assert df.loc["x*tanh(x)", "gain"] == pytest.approx(0.04)


def test_the_report_uses_the_searchs_references(url, tmp_path):
    page = write_report(tmp_path / "report", "own", storage=url).read_text()
    assert "the search's references" in html.unescape(page)  # the legend, as a reader sees it
    table = pd.read_csv(tmp_path / "report" / "leaderboard.csv").set_index("formula")
    assert table.loc["x*tanh(x)", "gain_vs"] == "crrelu" and table.loc["x*tanh(x)", "gain"] == pytest.approx(0.05)
