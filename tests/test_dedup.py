"""The one de-duplication and reuse rule (actsearch.dedup), and the proof that the search
driver and the replay benchmark follow it alike: the same proposals give the same
evaluations, the same tells and the same end."""

from __future__ import annotations

import pytest

import actsearch
from actsearch.benchmarking.replay import Table, _search
from actsearch.dedup import MAX_SKIPS, Seen, Training, Verdict, better_copy, copyable, may_stand_in
from actsearch.result import Result
from actsearch.search.driver import Driver, TrialDefaults
from actsearch.store import Store


def _result(status="ok", score=0.5):
    return Result(key="k", text="x", status=status, score=score)


def test_a_function_seen_in_the_search_is_a_repeat_recorded_or_in_flight():
    seen = Seen({"done": _result()})
    assert seen.verdict("done") is Verdict.REPEAT and seen.prior("done").score == 0.5
    assert seen.verdict("new") is Verdict.TRAIN
    seen.started("new")
    assert seen.verdict("new") is Verdict.REPEAT and seen.prior("new") is None  # in flight: it waits
    seen.wait("new", "a later proposal of it")
    assert seen.recorded("new", _result(score=0.7)) == ["a later proposal of it"]
    assert seen.verdict("new") is Verdict.REPEAT and seen.prior("new").score == 0.7 and len(seen) == 2


def test_repeats_in_a_row_end_the_search_and_anything_new_starts_the_count_again():
    seen = Seen()
    assert not any(seen.repeated() for _ in range(MAX_SKIPS - 1))
    seen.started("f")  # a new function trained
    assert not any(seen.repeated() for _ in range(MAX_SKIPS - 1))
    seen.recorded("g", _result())  # a new function copied from another search
    assert not any(seen.repeated() for _ in range(MAX_SKIPS - 1)) and seen.repeated()


@pytest.mark.parametrize("status, early_stop, protected, verdict", [
    ("ok", False, True, Verdict.COPY),
    ("nan", True, False, Verdict.COPY),
    ("diverged", False, False, Verdict.COPY),
    ("pruned", True, False, Verdict.COPY),
    ("pruned", False, False, Verdict.TRAIN),  # this run is never stopped early (e.g. a confirmation)
    ("pruned", True, True, Verdict.TRAIN),  # a reference or the user's own candidate trains to the end
    ("error", True, False, Verdict.TRAIN),  # a dead worker says nothing about the function
    ("timeout", True, False, Verdict.TRAIN),
])
def test_what_another_search_trained_is_copied_only_where_it_stands_in(status, early_stop, protected, verdict):
    stored = _result(status)
    assert Seen().verdict("f", {"f": stored}, early_stop=early_stop, protected=protected) is verdict
    assert may_stand_in(stored, early_stop=early_stop, protected=protected) == (verdict is Verdict.COPY)


def test_of_several_stored_runs_the_most_trusted_is_copied():
    assert copyable("ok") and copyable("pruned") and not copyable("error") and not copyable(None)
    assert better_copy("ok", "nan") and better_copy("diverged", "pruned")
    assert not better_copy("nan", "diverged") and not better_copy("pruned", "ok")


def test_runs_are_the_same_training_only_on_the_same_task_epochs_seeds_and_precision():
    record = {"task": "digits", "epochs": 3, "seeds": 2, "first_seed": 4, "precision": "bf16"}
    assert Training.of(record) == Training("digits", 3, 2, 4, "bf16")
    assert Training.of(record) != Training("digits", 3, 2, 0, "bf16")
    # written before first_seed and precision were stored: the search's seed, fp32
    assert Training.of({"task": "digits", "epochs": 3, "seeds": 2}, 7) == Training("digits", 3, 2, 7, "fp32")


class _Scripted:
    """Proposes ``texts`` in order, then the last one for ever; records what it is told."""

    def __init__(self, texts):
        self.cands = [actsearch.parse(t) for t in texts]
        self.k, self.told = 0, []

    def ask(self):
        self.k += 1
        return self.cands[min(self.k, len(self.cands)) - 1]

    def tell(self, cand, result):
        self.told.append((cand.text, result.score))

    def state_dict(self):
        return {}


# silu(x) is x*sigmoid(x): the same function, whatever the text
PROPOSALS = ["relu(x)", "tanh(x)", "relu(x)", "x*sigmoid(x)", "silu(x)", "tanh(x)", "abs(x)"]
SCORES = {"relu(x)": 0.6, "tanh(x)": 0.5, "x*sigmoid(x)": 0.7, "abs(x)": 0.4}


def test_the_driver_and_the_replay_count_alike(tmp_path):
    table = Table.from_scores([actsearch.parse(t) for t in SCORES], list(SCORES.values()))
    replayed = _Scripted(PROPOSALS)
    run = _search(replayed, table, budget=50, threshold=None, min_evals=0)

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    defaults = TrialDefaults(task="t", task_options={}, task_spec="t", metric="score", epochs=1, seeds=(0,),
                             backend="eager", device="cpu", precision="fp32", early_stop=True, trial_timeout=None)
    searched = _Scripted(PROPOSALS)
    driver = Driver(store.open_search("s", {"task": "t", "epochs": 1, "seeds": 1}), searched, [], defaults,
                    budget=50, known={})
    trial = 0
    while (spec := driver.suggest(str(trial))) is not None:
        text = actsearch.parse(spec.text).text
        driver.complete(str(trial), Result(key="", text=text, score=table.result(actsearch.parse(text)).score))
        trial += 1

    assert run.ended == "repeats" and driver.exhausted and driver.finished
    assert [r.text for r in store.results("s")] == [actsearch.parse(t).text for t in SCORES]
    assert len(run.trace) == driver.trained == len(SCORES)
    assert replayed.told == searched.told  # every proposal told once, repeats included, in the same order
    assert run.free_repeats == len(PROPOSALS) - len(SCORES) + MAX_SKIPS
