"""End to end: a small search on Ray (2 CPUs) and what it leaves in the store."""

from __future__ import annotations

import pytest

import actsearch
from actsearch.cli import main
from actsearch.scoring import SCORE_EPOCHS
from actsearch.search import run_search
from actsearch.search_spaces.base import SearchSpace
from actsearch.store import Store


class TinySpace(SearchSpace):
    """A finite space so the test knows what can be proposed."""

    name = "tiny"
    FORMULAS = ["x*tanh(x)", "abs(x)", "tanh(x)", "x + sin(x)", "softplus(x)", "max(x, 0)", "x*sigmoid(x)"]

    def sample(self, rng):
        return actsearch.parse(self.FORMULAS[int(rng.integers(len(self.FORMULAS)))], family="tiny")

    def mutate(self, candidate, rng):
        return self.sample(rng)

    def crossover(self, a, b, rng):
        return self.sample(rng)


BUDGET = 7
USER = ["exp(exp(x))", "x*erf(x)", "crrelu"]  # a preset is taken wherever a formula is


@pytest.fixture(scope="module")
def search(ray_session, tmp_path_factory):
    url = "sqlite:///" + str(tmp_path_factory.mktemp("store") / "s.db")
    lines: list[str] = []
    outcome = run_search(task="mnist1d-mlp", space=TinySpace(), budget=BUDGET, workers=2, epochs=2,
                         candidates=USER, storage=url, name="e2e", progress=lines.append)
    return outcome, url, lines


def test_search_records_every_candidate_once(search):
    outcome, url, lines = search
    results = Store(url).results("e2e")
    assert outcome.finished
    assert Store(url).search("e2e").state == "finished"
    # exp(exp(x)) is rejected before training: recorded, but no training of the budget spent
    assert len(results) == BUDGET + 1 and outcome.trained == BUDGET and outcome.rejected == 1
    fps = [r.fingerprint for r in results]
    assert len(set(fps)) == len(fps)
    # each recorded fingerprint is the candidate's own
    assert all(actsearch.parse(r.text).fingerprint() == r.fingerprint for r in results)
    assert len(lines) == len(results)


def test_references_and_user_candidates_present(search):
    outcome, url, _ = search
    results = Store(url).results("e2e")
    by_fp = {r.fingerprint: r for r in results}
    for text in ("relu(x)", "x*sigmoid(x)", "x*(1 + erf(x/sqrt(2)))/2", "x*erf(x)"):
        r = by_fp[actsearch.parse(text).fingerprint()]
        assert r.status == "ok" and 0.0 < r.score <= 1.0
        assert len(r.curves) == 1 and len(r.curves[0]) == 2
        # the score is the mean of the last SCORE_EPOCHS epochs (here both of the two)
        tail = r.curves[0][-SCORE_EPOCHS:]
        assert r.score == pytest.approx(sum(tail) / len(tail))
    assert by_fp[actsearch.preset("crrelu").fingerprint()].name == "crrelu"
    refs = [r for r in results if r.name in ("relu", "gelu", "silu")]
    assert sorted(r.name for r in refs) == ["gelu", "relu", "silu"]
    # references are evaluated first
    assert {r.name for r in results[:3]} <= {"relu", "gelu", "silu", ""}


def test_nan_candidate_recorded_as_failed(search):
    _, url, _ = search
    results = Store(url).results("e2e")
    bad = [r for r in results if r.text == actsearch.parse("exp(exp(x))").text]
    assert len(bad) == 1
    assert bad[0].status in ("nan", "diverged") and bad[0].score is None
    # exp(exp(x)) overflows float32 for x > 4.4: the pre-training screen rejects it
    assert "rejected before training: non-finite output" in bad[0].message
    study = Store(url).storage.get_all_trials(Store(url).search("e2e").study_id)
    states = {t.user_attrs["text"]: t.state.name for t in study}
    assert states[bad[0].text] == "FAIL"


def test_second_search_reuses_stored_results(search, ray_session):
    _, url, _ = search
    outcome = run_search(task="mnist1d-mlp", space=TinySpace(), budget=2, workers=2, epochs=2,
                         storage=url, name="again", seed=0)
    results = Store(url).results("again")
    reused = [r for r in results if r.reused_from]
    # the three references were trained by "e2e" on the same seed: copied, not trained again
    assert {r.name for r in reused if r.name} >= {"relu", "gelu", "silu"}
    assert all(r.reused_from == "e2e" for r in reused)
    trained = [r for r in results if not r.reused_from]
    assert outcome.trained == len(trained) <= 2


def test_scores_on_other_seeds_are_never_reused(search, ray_session):
    _, url, _ = search
    outcome = run_search(task="mnist1d-mlp", space=TinySpace(), budget=3, workers=2, epochs=2,
                         storage=url, name="other-seed", seed=7)
    results = Store(url).results("other-seed")
    assert outcome.reused == 0 and outcome.trained == 3
    assert sorted(r.name for r in results) == ["gelu", "relu", "silu"]
    assert all(r.first_seed == 7 and not r.reused_from for r in results)


def test_resume_continues_to_a_larger_budget(search, ray_session):
    _, url, _ = search
    before = {r.fingerprint for r in Store(url).results("e2e")}
    outcome = run_search(task="mnist1d-mlp", space=TinySpace(), budget=BUDGET + 1, workers=2, epochs=2,
                         storage=url, name="e2e", resume=True)
    after = Store(url).results("e2e")
    assert outcome.finished
    fps = [r.fingerprint for r in after]
    assert len(fps) == len(set(fps))
    assert before < set(fps)


def test_cli_errors_are_one_line(capsys, tmp_path, monkeypatch):
    import actsearch.cli

    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["search"])  # only this command's parser
    url = "sqlite:///" + str(tmp_path / "x.db")
    assert main(["search", "--budget", "0", "--storage", url]) == 2
    assert "budget" in capsys.readouterr().err
    assert main(["search", "--task", "nope", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'nope'" in err and "Traceback" not in err
    assert main(["search", "--optimizer", "nope", "--space", "grammar", "--storage", url]) == 2


def test_random_optimizer_resumes_exactly():
    from actsearch.optimizers.registry import get_optimizer

    a = get_optimizer("random", TinySpace(), seed=3)
    [a.ask() for _ in range(4)]
    b = get_optimizer("random", TinySpace(), seed=99)
    b.load_state_dict(a.state_dict())
    assert [a.ask().text for _ in range(5)] == [b.ask().text for _ in range(5)]


class _FailingSpace(TinySpace):
    """Samples once, then raises: the search must stop with a one-line error, keeping results."""

    def __init__(self):
        self.calls = 0

    def sample(self, rng):
        self.calls += 1
        if self.calls > 1:
            raise actsearch.ActsearchError("space ran dry")
        return super().sample(rng)


def test_optimizer_failure_stops_cleanly(ray_session, tmp_path):
    url = "sqlite:///" + str(tmp_path / "f.db")
    with pytest.raises(actsearch.ActsearchError, match="space ran dry"):
        run_search(task="mnist1d-mlp", space=_FailingSpace(), budget=4, workers=2, epochs=1,
                   storage=url, name="dry", references=())
    search = Store(url).search("dry")
    assert search.state == "interrupted"
    assert len(search.results()) == 1 and search.results()[0].status == "ok"


def test_two_resumes_tell_each_result_once(ray_session, tmp_path):
    """Resuming must not tell the optimiser again what it already knows: before, after
    two resumes evolution had been told relu, gelu and silu three times each."""
    import actsearch.registry
    from actsearch.optimizers.registry import get_optimizer

    url = "sqlite:///" + str(tmp_path / "tell.db")
    common = dict(task="digits", space="grammar", optimizer="evolution", workers=2, epochs=1, storage=url,
                  name="tell", early_stop=False)
    run_search(budget=4, **common)
    run_search(budget=5, resume=True, storage=url, name="tell")
    run_search(budget=6, resume=True, storage=url, name="tell")
    stored = Store(url).search("tell")
    results = stored.results()
    assert len(results) == 6
    opt = get_optimizer("evolution", actsearch.registry.space("grammar"), seed=0)
    opt.load_state_dict(stored.optimizer_state)
    members = [c.fingerprint() for c, _ in opt.population]
    for ref in ("relu", "gelu", "silu"):
        assert members.count(actsearch.preset(ref).fingerprint()) == 1, ref
    # one tell per recorded candidate (no proposal of the optimiser was a repeat here)
    assert stored.optimizer_state["told"] == len(results) == len(set(members))
