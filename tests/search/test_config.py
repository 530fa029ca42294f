"""SearchConfig: checks, the stored record, and what a resume may change."""

from __future__ import annotations

import re

import pytest

import actsearch
from actsearch.errors import ActsearchError
from actsearch.search.config import MAY_CHANGE, SearchConfig, resume_config
from actsearch.search.trial.messages import TrialProgress, TrialSpec


def _stored(**fields):
    cfg = SearchConfig(task="digits", space="grammar", optimizer="evolution", budget=8, seeds=2, seed=3, epochs=2,
                       candidates=["x*tanh(x)"], task_options={"lr": "0.01"}, trial_timeout=60.0, **fields)
    return cfg, cfg.stored(task_spec="digits(lr=0.01)", epochs=2, metric="val_accuracy")


@pytest.mark.parametrize("fields, needle", [
    ({"budget": 0}, "budget must be a positive number"),
    ({"workers": 0}, "workers must be at least 1"),
    ({"seeds": 0}, "seeds must be at least 1"),
    ({"epochs": -1}, "epochs must be at least 1"),
    ({"trial_timeout": 0}, "trial timeout must be a positive number"),
    ({"max_failures": -1}, "max_failures must be 0 or more"),
    ({"cpus_per_trial": 0}, "cpus per trial must be above 0"),
    ({"gpus_per_trial": 1.5}, "gpus per trial must be a fraction up to 1 or a whole number"),
    ({"gpus_per_trial": -0.5}, "gpus per trial"),
    ({"backend": "tpu"}, "unknown backend 'tpu'"),
    ({"device": "gpu"}, "unknown device 'gpu'"),
    ({"precision": "fp8"}, "unknown precision 'fp8'"),
])
def test_impossible_settings_are_refused(fields, needle):
    with pytest.raises(ActsearchError, match=re.escape(needle)):
        SearchConfig(**fields).check()


def test_whole_gpus_and_fractions_are_fine():
    for g in (0, 0.25, 0.5, 1, 2, 4):
        SearchConfig(gpus_per_trial=g).check()


def test_resume_rebuilds_the_stored_search_and_applies_what_may_change():
    cfg, stored = _stored()
    again = resume_config(stored, {"name": "s", "resume": True, "budget": 20, "workers": 4, "trial_timeout": 5.0,
                                   "device": "cpu"})
    assert again.resume and (again.budget, again.workers, again.trial_timeout, again.device) == (20, 4, 5.0, "cpu")
    for field in ("task", "space", "optimizer", "seeds", "seed", "epochs", "task_options", "references",
                  "precision", "early_stop", "backend"):
        assert getattr(again, field) == getattr(cfg, field), field
    assert again.candidates == ["x*tanh(x)"]
    # giving the stored values again is no conflict
    assert resume_config(stored, {"task": "digits", "seeds": 2, "task_options": {"lr": 0.01}}).seeds == 2


def test_resume_refuses_every_conflict_in_one_message():
    _, stored = _stored()
    with pytest.raises(ActsearchError) as err:
        resume_config(stored, {"name": "s", "task": "mnist1d-mlp", "seeds": 5, "precision": "bf16", "budget": 4,
                               "candidates": ["abs(x)"]})
    text = str(err.value)
    assert "\n" not in text
    for needle in ("task 'mnist1d-mlp' (it was started with 'digits')", "seeds 5 (it was started with 2)",
                   "precision 'bf16'", "budget 4 (it was started with 8; a budget may only grow)", "candidates"):
        assert needle in text, text


def test_a_space_instance_resumes_when_it_is_the_same_space():
    _, stored = _stored()
    space = actsearch.space("grammar")
    assert resume_config(stored, {"space": space}).space is space
    with pytest.raises(ActsearchError, match="space"):
        resume_config(stored, {"space": actsearch.space("rational")})


def test_options_that_may_change_say_where_and_how_long_not_what():
    assert MAY_CHANGE.isdisjoint({"task", "task_options", "space", "space_options", "optimizer", "seeds", "seed",
                                  "epochs", "precision", "candidates", "references", "early_stop"})


def test_stored_notes_survive_a_resume():
    _, stored = _stored(notes={"confirms": "src"})
    assert stored["confirms"] == "src"
    assert resume_config(stored, {}).notes == {"confirms": "src"}


def test_trial_contracts_round_trip():
    spec = TrialSpec(text="x*tanh(x)", task="digits", task_options={"lr": "0.1"}, epochs=3, seeds=(4, 5),
                     device="cuda", precision="bf16", report_steps=(2, 4), protected=True, trial_timeout=9.0)
    assert TrialSpec.from_config(spec.to_config()) == spec
    assert spec.total_steps == 6
    progress = TrialProgress(step=2, score=0.5, curves=[[0.25, 0.5]], elapsed=1.5, setup_time=0.5)
    assert TrialProgress.from_metrics(progress.to_metrics()) == progress
