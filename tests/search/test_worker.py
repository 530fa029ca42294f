"""The trial function without Ray: device, precision, backend and what it records."""

from __future__ import annotations

import pytest
import torch

import actsearch
from actsearch.search import TrialSpec
from actsearch.search.trial.evaluate import evaluate, kernel_ms


def _count_calls(monkeypatch, cls, name, only=None):
    """Count calls of ``cls.name`` (made by an instance of ``only``, when given)."""
    calls = {"n": 0}
    original = getattr(cls, name)
    static = isinstance(cls.__dict__[name], staticmethod)

    def counted(*args, **kwargs):
        if only is None or isinstance(args[0], only):
            calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(cls, name, staticmethod(counted) if static else counted)
    return calls


@pytest.mark.slow
def test_triton_kernels_are_what_trains(monkeypatch):
    """--backend triton under TRITON_INTERPRET=1: every activation call in training goes
    through the generated kernels' autograd Function, never the eager formula."""
    from actsearch.compile._triton import KernelFunction, TritonActivation
    from actsearch.symbolic.expr import CandidateModule

    fwd = _count_calls(monkeypatch, KernelFunction, "forward")
    bwd = _count_calls(monkeypatch, KernelFunction, "backward")
    fallback = _count_calls(monkeypatch, CandidateModule, "forward", only=TritonActivation)
    spec = TrialSpec(text="x*sigmoid(x) + a*x; a=0.1", task="mnist1d-mlp",
                     task_options={"batch_size": "500"}, epochs=1, seeds=(0,), backend="triton", device="cpu")
    result = evaluate(spec)
    assert result.status == "ok", result.message
    assert result.backend == "triton" and result.device == "cpu fp32"
    steps = 4000 // 500  # training batches in one epoch, through 2 activation layers each
    assert fwd["n"] >= 2 * steps + 2 and bwd["n"] >= 2 * steps
    assert fallback["n"] == 0
    # the learned parameter moved: its gradient came back through the kernel
    assert result.learned_params and all(abs(p["a"] - 0.1) > 1e-6 for p in result.learned_params)


def test_result_records_where_and_how_it_trained():
    spec = TrialSpec(text="x*tanh(x)", task="digits", epochs=1, seeds=(2, 3), backend="auto", device="cpu",
                     precision="bf16")
    result = evaluate(spec)
    assert result.status == "ok", result.message
    assert result.backend == "eager"  # auto on a CPU: eager (benchmarks/NOTES.md, 'auto on a CPU')
    assert result.device == "cpu bf16" and result.precision == "bf16"
    assert (result.first_seed, result.seeds, result.epochs) == (2, 2, 1)
    assert len(result.seed_scores) == 2 and result.fingerprint == actsearch.parse("x*tanh(x)").fingerprint()
    # the training loss per epoch of each seed, for the leaderboard's convergence flag
    assert [len(c) for c in result.loss_curves] == [1, 1] and all(0 < c[0] < 10 for c in result.loss_curves)
    assert result.kernel_ms is not None and result.kernel_ms > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_a_trial_on_a_missing_gpu_is_an_error_result():
    result = evaluate(TrialSpec(text="x*tanh(x)", task="digits", epochs=1, device="cuda"))
    assert result.status == "error" and "torch sees no CUDA GPU" in result.message


def test_kernel_ms_times_the_given_dtype():
    m = actsearch.parse("x*sigmoid(x)").module()
    assert kernel_ms(m, "cpu", torch.bfloat16, shape=(8, 16), repeats=3) > 0


# -- the supervisor: trials in a process of their own -----------------------------------
@pytest.mark.subprocess
def test_supervisor_keeps_its_process_and_recovers_from_a_stopped_trial():
    """Trials reuse one child process; a trial Tune stops (SystemExit out of
    tune.report) is told to stop at its next epoch, and the next trial reuses the child."""
    from actsearch.search.trial.supervisor import Supervisor

    spec = TrialSpec(text="x*tanh(x)", task="digits", epochs=4, seeds=(0,), backend="eager", trial_timeout=120)
    seen = []

    def stop_at_first_report(progress):
        seen.append(progress.step)
        raise SystemExit(0)  # what tune.report raises when the scheduler stopped the trial

    with Supervisor() as sup:
        first, env_error = sup.run(spec)
        assert first.status == "ok" and env_error == "" and len(first.curves[0]) == 4
        with pytest.raises(SystemExit):
            sup.run(spec, report=stop_at_first_report)
        assert seen == [1]
        again, _ = sup.run(spec)
        assert again.status == "ok" and again.score == first.score  # same seed, same score
        assert sup.starts == 1


def sleepy(act_factory, budget, seed, report):
    """Reports once, then blocks in C: a stop cannot land."""
    import time

    act_factory()
    report(1, {"score": 0.5})
    time.sleep(1000)


@pytest.mark.subprocess
def test_a_stopped_trial_that_does_not_stop_is_replaced():
    import time

    from actsearch.search.trial.supervisor import ABORT_GRACE, Supervisor

    def stopped(progress):
        time.sleep(1)  # the task is in its sleep by now
        raise SystemExit(0)

    with Supervisor() as sup:
        with pytest.raises(SystemExit):
            sup.run(TrialSpec(text="x", task="test_worker:sleepy", epochs=3, report_steps=(1,)), report=stopped)
        t0 = time.perf_counter()
        result, _ = sup.run(TrialSpec(text="x*tanh(x)", task="digits", epochs=1, backend="eager"))
        assert result.status == "ok", result.message
        assert sup.starts == 2 and ABORT_GRACE <= time.perf_counter() - t0


@pytest.mark.subprocess
def test_supervisor_says_why_a_task_could_not_be_built():
    from actsearch.search.trial.supervisor import Supervisor

    with Supervisor() as sup:
        result, env_error = sup.run(TrialSpec(text="x", task="no_such_module_here:train", epochs=1))
    assert result.status == "error" and "no_such_module_here" in result.message
    assert env_error.startswith("cannot load task 'no_such_module_here:train'")
    assert "cannot import task module" in env_error


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_a_missing_gpu_is_the_workers_environment_not_the_candidate():
    from actsearch.search.trial.evaluate import run_steps

    result, env_error = run_steps(TrialSpec(text="x*tanh(x)", task="digits", epochs=1, device="cuda"))
    assert result.status == "error" and env_error.startswith("cannot use device 'cuda'")
    assert run_steps(TrialSpec(text="x*tanh(x)", task="digits", epochs=1))[1] == ""


def test_exit_reasons():
    from actsearch.search.trial.supervisor import exit_reason

    assert exit_reason(3) == "the task ended the worker process with exit code 3"
    assert "SIGSEGV" in exit_reason(-11) and "segmentation fault" in exit_reason(-11)
    assert "SIGKILL" in exit_reason(-9)
