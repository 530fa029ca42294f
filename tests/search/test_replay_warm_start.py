"""``search --warm-start SEARCH_OR_TABLE`` (the surrogate's prior) and ``search --replay
NAME`` (a stored search's candidates, exactly)."""

from __future__ import annotations

import pytest

import actsearch
from actsearch.cli import main
from actsearch.errors import ActsearchError
from actsearch.result import Result
from actsearch.search.config import SearchConfig, replay_config, resume_config
from actsearch.search.warm_start import WarmStartError, load_prior
from actsearch.store import Store


def _table(path, rows):
    path.write_text("text,fingerprint,mean_accuracy,status\n" + "".join(f"{t},,{a},{s}\n" for t, a, s in rows))
    return str(path)


def _search(url, name="src", mode="max", scores=(("relu(x)", 0.5), ("x*tanh(x)", 0.7), ("x + sin(x)", 0.6)),
            **fields):
    cfg = SearchConfig(task="digits", mode=mode, **fields)
    s = Store(url).open_search(name, cfg.stored(task_spec="digits", epochs=1, metric="val_accuracy", mode=mode))
    for text, score in scores:
        c = actsearch.parse(text)
        s.record(Result(key=c.key, text=c.text, score=score, seed_scores=[score], task="digits",
                        fingerprint=c.fingerprint(), status="ok" if score is not None else "error"))
    return s


def test_bad_warm_start_sources_are_one_line(tmp_path):
    store = Store("sqlite:///" + str(tmp_path / "w.db"))
    _search(store.url, name="failed", scores=(("relu(x)", None),))
    not_a_table = tmp_path / "notes.csv"
    not_a_table.write_text("name,value\na,1\n")
    cases = [
        (str(tmp_path / "missing.csv"), "table '" + str(tmp_path / "missing.csv") + "' does not exist"),
        (str(not_a_table), "is not a benchmark table (benchmark table"),
        ("nosuch", "no search named 'nosuch' in the store and no such table file (searches: failed)"),
        (_table(tmp_path / "none_ok.csv", [("relu(x)", "", "diverged"), ("tanh(x)", "", "nan")]),
         "has no finished row to learn from"),
        ("failed", "search 'failed' has no finished candidate to learn from"),
    ]
    for source, needle in cases:
        with pytest.raises(WarmStartError) as err:
            load_prior(source, store)
        assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_a_prior_from_a_min_search_is_turned_round(tmp_path):
    url = "sqlite:///" + str(tmp_path / "w.db")
    _search(url, name="losses", mode="min", scores=(("relu(x)", 0.3), ("x*tanh(x)", 0.1)))
    prior = dict((c.text, s) for c, s in load_prior("losses", Store(url)))
    assert prior == {"relu(x)": -0.3, actsearch.parse("x*tanh(x)").text: -0.1}  # the lower loss ranks higher


def test_warm_start_needs_the_surrogate(tmp_path, capsys):
    table = _table(tmp_path / "t.csv", [("relu(x)", 0.9, "ok")])
    for optimizer in ("random", "evolution"):
        assert main(["search", "--warm-start", table, "--optimizer", optimizer,
                     "--storage", "sqlite:///" + str(tmp_path / "x.db")]) == 2
        err = capsys.readouterr().err.strip()
        assert f"--warm-start {table} needs --optimizer surrogate (this search's optimiser is {optimizer})" in err
        assert len(err.splitlines()) == 1
    assert not (tmp_path / "x.db").exists()


def _capture_optimizer(monkeypatch):
    """Stop run_search where it builds the optimiser (before Ray): what it was given."""
    import actsearch.search.run as run_module

    seen = {}

    def fake(name, space, seed=0, **options):
        seen.update(options, name=name)
        raise ActsearchError("stopped by the test")

    monkeypatch.setattr(run_module, "get_optimizer", fake)
    return seen


def test_the_prior_reaches_the_surrogate_and_is_read_again_on_resume(tmp_path, monkeypatch):
    from actsearch.search.run import run_search

    url = "sqlite:///" + str(tmp_path / "w.db")
    monkeypatch.chdir(tmp_path)
    _table(tmp_path / "t.csv", [("relu(x)", 0.9, "ok"), ("tanh(x)", 0.7, "ok"), ("exp(x)", "", "diverged")])
    seen = _capture_optimizer(monkeypatch)
    with pytest.raises(ActsearchError, match="stopped by the test"):
        run_search(task="digits", optimizer="surrogate", warm_start="t.csv", storage=url)
    assert seen["name"] == "surrogate"
    assert [(c.text, s) for c, s in seen["prior"]] == [("relu(x)", 0.9), ("tanh(x)", 0.7), ("exp(x)", None)]
    # stored with the search (as an absolute path): a resume reads the same table again
    cfg = SearchConfig(task="digits", optimizer="surrogate", warm_start=str(tmp_path / "t.csv"))
    Store(url).open_search("warm", cfg.stored(task_spec="digits", epochs=1, metric="val_accuracy"))
    seen.clear()
    monkeypatch.chdir(tmp_path.parent)  # another folder: the stored path still names the table
    with pytest.raises(ActsearchError, match="stopped by the test"):
        run_search(name="warm", resume=True, storage=url)
    assert [s for _, s in seen["prior"]] == [0.9, 0.7, None]


def test_warm_start_may_not_change_on_resume(tmp_path):
    stored = SearchConfig(task="digits", optimizer="surrogate", warm_start="/data/a.csv").stored(
        task_spec="digits", epochs=1, metric="val_accuracy")
    with pytest.raises(ActsearchError, match="warm_start '/data/b.csv' \\(it was started with '/data/a.csv'\\)"):
        resume_config(stored, {"warm_start": "/data/b.csv"})
    assert resume_config(stored, {"warm_start": "/data/a.csv"}).warm_start == "/data/a.csv"


def test_a_replay_takes_the_sources_settings_and_no_optimiser():
    source = SearchConfig(task="digits", optimizer="evolution", seeds=2, epochs=3, candidates=["abs(x)"],
                          workers=4, device="cpu")
    stored = source.stored(task_spec="digits", epochs=3, metric="val_accuracy")
    config = replay_config(stored, "src", {"seed": 5, "budget": 9, "name": "again"})
    assert (config.task, config.seeds, config.epochs, config.seed, config.budget) == ("digits", 2, 3, 5, 9)
    assert config.optimizer is None and config.candidates == [] and config.references == ()
    assert config.replay == "src" and config.name == "again" and config.task_source == "the stored search 'src'"
    assert config.workers is None  # where this run happens is this run's
    config.check()
    assert replay_config(stored, "src", {"task": "digits"}).task_source == ""  # named on this command line
    with pytest.raises(ActsearchError, match="--replay src trains that search's candidates and nothing else"):
        replay_config(stored, "src", {"optimizer": "random"}).check()


def test_the_replay_queue_is_the_sources_records_in_order(tmp_path):
    from actsearch.search.run import _replayed

    url = "sqlite:///" + str(tmp_path / "r.db")
    _search(url, scores=(("relu(x)", 0.5), ("x*tanh(x)", 0.7), ("x + sin(x)", None), ("abs(x)", 0.6)),
            references=("relu",), candidates=["x*tanh(x)"])
    queue, protected = _replayed(Store(url), "src")
    assert [c.text for c in queue] == [actsearch.parse(t).text for t in ("relu(x)", "x*tanh(x)", "x + sin(x)",
                                                                           "abs(x)")]
    assert protected == {actsearch.parse("relu(x)").fingerprint(), actsearch.parse("x*tanh(x)").fingerprint()}


def test_search_replay_trains_exactly_the_stored_candidates(ray_session, tmp_path, capsys):
    url = "sqlite:///" + str(tmp_path / "replay.db")
    common = ["--task", "digits", "--epochs", "1", "--workers", "1", "--storage", url, "--backend", "eager"]
    assert main(["search", *common, "--budget", "6", "--space", "grammar", "--name", "src"]) == 0
    # on other seeds, so that every candidate trains again (none is copied from the source)
    assert main(["search", "--replay", "src", "--seed", "7", "--name", "again", "--storage", url,
                 "--workers", "1"]) == 0
    store = Store(url)
    source, again = store.results("src"), store.results("again")
    assert [r.text for r in again] == [r.text for r in source] and len(again) == 6
    assert all(not r.reused_from and r.first_seed == 7 for r in again)
    config = store.search("again").config
    assert config["replay"] == "src" and config["optimizer"] is None and config["budget"] == 6
    capsys.readouterr()
    assert main(["config", "again", "--storage", url]) == 0
    assert 'replay = "src"' in capsys.readouterr().out
