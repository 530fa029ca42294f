"""Scoring tasks: each trains briefly with ReLU; failure statuses; user tasks; CIFAR archive."""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import re
import sys
import tarfile
import textwrap

import numpy as np
import pytest
import torch

import actsearch
from actsearch.scoring import SCORE_EPOCHS
from actsearch.errors import TaskError
from actsearch.tasks import get_task, tasks
from actsearch.tasks.base import Task, TrainLoop


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _check_ok(out, epochs, layers):
    assert out.status == "ok", out.message
    assert len(out.curve) == epochs and all(math.isfinite(v) for v in out.curve)
    assert out.score == out.curve[-1]
    assert len(out.learned_params) == layers
    assert out.train_time > 0


@pytest.mark.parametrize("name,layers", [("mnist1d-mlp", 2), ("mnist1d-cnn", 3), ("digits", 3)])
def test_task_trains_one_epoch(name, layers):
    seen = []
    out = get_task(name).train(torch.nn.ReLU, budget=1, seed=0, report=lambda s, m: seen.append((s, m)))
    _check_ok(out, 1, layers)
    assert 0.1 < out.score <= 1.0  # above chance (10 classes) after one epoch
    assert seen == [(1, {"val_accuracy": out.score, "train_loss": out.losses[0]})]


def test_mnist1d_data_is_the_packages_default_dataset():
    from mnist1d.data import get_dataset_args, make_dataset

    from actsearch.tasks.mnist1d import load_mnist1d

    ref = make_dataset(get_dataset_args())
    got = load_mnist1d()
    assert got["x"].shape == (4000, 40) and got["x_test"].shape == (1000, 40)
    np.testing.assert_allclose(got["x"].numpy(), ref["x"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got["y_test"].numpy(), ref["y_test"])


@pytest.mark.slow
def test_mnist1d_data_seed_draws_another_sample_of_the_same_distribution(tmp_path, monkeypatch):
    from mnist1d.data import get_dataset_args, make_dataset

    from actsearch.tasks.mnist1d import load_mnist1d

    monkeypatch.setenv("ACTSEARCH_DATA", str(tmp_path / "cache"))
    args = get_dataset_args()
    args.seed = 3
    ref = make_dataset(args)
    got = load_mnist1d(3)
    assert (tmp_path / "cache" / "mnist1d-seed3.npz").exists()
    np.testing.assert_allclose(got["x_test"].numpy(), ref["x_test"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got["y"].numpy(), ref["y"])
    default = load_mnist1d()
    assert got["x"].shape == default["x"].shape and not np.allclose(got["x"].numpy(), default["x"].numpy())
    task = get_task("mnist1d-mlp", data_seed="3")
    assert task.data_seed == 3 and task.spec == f"mnist1d-mlp(data_seed=3,score_epochs={SCORE_EPOCHS})"


def test_task_spec_names_every_changed_setting():
    # results are reused by spec: a setting that changes training must change the spec
    tail = f"score_epochs={SCORE_EPOCHS}"  # the default score: in every spec, so last-epoch results are never reused
    assert get_task("mnist1d-mlp").spec == get_task("mnist1d-mlp", lr="0.01", batch_size="100").spec == \
        f"mnist1d-mlp({tail})"
    assert get_task("mnist1d-mlp", score_epochs="1").spec == "mnist1d-mlp"
    assert get_task("mnist1d-mlp", lr="0.001").spec == f"mnist1d-mlp(lr=0.001,{tail})"
    assert get_task("digits", batch_size="32").spec == f"digits(batch_size=32,{tail})"
    assert get_task("mnist1d-cnn", lr="0.02", batch_size="50").spec == f"mnist1d-cnn(batch_size=50,lr=0.02,{tail})"
    assert get_task("charlm", lr="0.01", steps_per_epoch="5").spec == f"charlm(lr=0.01,{tail},steps_per_epoch=5)"
    for bad in ({"data_seed": "three"}, {"data_seed": "-1"}):
        with pytest.raises(TaskError, match="bad options for task 'mnist1d-mlp'"):
            get_task("mnist1d-mlp", **bad)


def test_deterministic_per_seed_and_learned_params_read_back():
    cand = actsearch.parse("a*x + relu(x); a=0.1")
    task = get_task("mnist1d-mlp")
    one = task.train(cand.module, budget=1, seed=5)
    two = task.train(cand.module, budget=1, seed=5)
    other = task.train(cand.module, budget=1, seed=6)
    assert one.curve == two.curve and one.losses == two.losses
    assert one.losses != other.losses
    # a is trained: moved from its initial value, one value per layer
    values = [layer["a"] for layer in one.learned_params]
    assert len(values) == 2 and all(v != pytest.approx(0.1, abs=1e-6) for v in values)
    assert values == [layer["a"] for layer in two.learned_params]


def test_nan_and_error_candidates_are_results():
    task = get_task("mnist1d-mlp")
    bad = actsearch.parse("exp(exp(x))")
    out = task.train(bad.module, budget=2, seed=0)
    assert out.status == "nan" and out.score is None and "non-finite" in out.message

    def broken():
        raise RuntimeError("kernel exploded")

    out = task.train(broken, budget=1)
    assert out.status == "error" and "kernel exploded" in out.message


class _Scripted(Task):
    name, metric = "scripted", "val_accuracy"

    def __init__(self, losses):
        super().__init__()
        self.losses = losses

    def train(self, act_factory, budget=None, seed=0, report=None):
        w = torch.nn.Parameter(torch.zeros(()))
        model = torch.nn.Module()
        model.w = w
        it = iter(self.losses)

        def batches(epoch):
            yield torch.zeros(1), torch.zeros(1)

        return TrainLoop(self, model, [], torch.optim.SGD([w], lr=0.0), batches,
                         lambda m, x, y: m.w * 0 + next(it), lambda m: 0.5, budget, report).run()


def test_divergence_rule():
    # the rule: loss > 1e4, or loss > 10 * first loss + 1
    assert _Scripted([2.0, 3.0, 20.0]).train(None, 3).status == "ok"
    out = _Scripted([2.0, 3.0, 21.5]).train(None, 3)
    assert out.status == "diverged" and "epoch 3" in out.message
    assert _Scripted([5e3, 2e4]).train(None, 2).status == "diverged"
    assert _Scripted([1.0, float("inf")]).train(None, 2).status == "nan"


def test_charlm_on_a_small_text_file(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    out = get_task("charlm", path=str(text), steps_per_epoch=20, batch_size=8).train(torch.nn.GELU, budget=1)
    _check_ok(out, 1, 2)
    # bits per byte: a uniform guess over 256 bytes is 8 bits; 20 steps on a repeated
    # sentence must do better than that
    assert -8.0 < out.score < 0.0
    with pytest.raises(TaskError, match="cannot read"):
        get_task("charlm", path=str(tmp_path / "missing.txt")).train(torch.nn.GELU, budget=1)


def test_charlm_default_corpus_is_stdlib_source():
    from actsearch.tasks.charlm import default_corpus

    data = default_corpus(50_000)
    assert len(data) == 50_000 and b"import" in data
    assert default_corpus(50_000) == data


# -- CIFAR-10 on a generated archive in the official format --------------------------

def _write_archive(path, n=16, payload=None):
    rng = np.random.default_rng(0)
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, 10, n)]
            batches[name] = (data, labels)
            obj = payload if payload is not None and name == "data_batch_1" else {
                b"batch_label": name.encode(), b"labels": labels, b"data": data,
                b"filenames": [f"img{i}.png".encode() for i in range(n)]}
            raw = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return batches


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar10_generated_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTSEARCH_DATA", str(tmp_path / "cache"))
    archive = tmp_path / "cifar.tar.gz"
    batches = _write_archive(archive)
    from actsearch.tasks.cifar10 import load_cifar10

    arrays = load_cifar10(archive, expected_md5=None)
    assert arrays["x"].shape == (80, 3, 32, 32) and arrays["x_test"].shape == (16, 3, 32, 32)
    np.testing.assert_array_equal(arrays["x"][16:32].reshape(16, -1), batches["data_batch_2"][0])
    assert list(arrays["y_test"]) == batches["test_batch"][1]
    # the md5 is checked before anything is unpickled
    with pytest.raises(TaskError, match="MD5"):
        load_cifar10(archive)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    assert load_cifar10(archive, expected_md5=md5)["y"].shape == (80,)
    out = get_task("cifar10-resnet", archive=str(archive), expected_md5=None, subset=64, test_subset=16,
                   batch_size=32).train(torch.nn.ReLU, budget=1)
    _check_ok(out, 1, 7)


def test_cifar10_refuses_foreign_globals(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACTSEARCH_DATA", str(tmp_path / "cache"))
    archive = tmp_path / "evil.tar.gz"
    _write_archive(archive, payload={b"data": _Evil()})
    from actsearch.tasks.cifar10 import load_cifar10

    with pytest.raises(TaskError, match=r"refusing to load [\w.]*print"):
        load_cifar10(archive, expected_md5=None)
    assert "pwned" not in capsys.readouterr().out


def test_cifar10_missing_archive_is_a_task_error(tmp_path):
    from actsearch.tasks.cifar10 import load_cifar10

    with pytest.raises(TaskError, match="does not exist"):
        load_cifar10(tmp_path / "nope.tar.gz")


# -- user tasks --------------------------------------------------------------------

def test_user_tasks(tmp_path, monkeypatch):
    (tmp_path / "mytasks.py").write_text(textwrap.dedent("""
        import torch
        from actsearch.tasks import get_task

        def make(**options):
            return get_task("digits", **options)

        def train(act_factory, budget, seed, report):
            act = act_factory()
            value = float(act(torch.tensor([-1.0, 2.0])).sum())
            return {"score": value, "curve": [value]}

        NOT_A_TASK = 3
    """))
    (tmp_path / "broken_tasks.py").write_text("import does_not_exist_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    task = get_task("mytasks:make", lr=0.01)
    assert task.name == "digits" and task.lr == 0.01
    fn_task = get_task("mytasks:train")
    out = fn_task.train(torch.nn.ReLU, budget=1, seed=0)
    assert out.status == "ok" and out.score == 2.0  # relu(-1) + relu(2)
    with pytest.raises(TaskError, match="cannot import task module 'broken_tasks'"):
        get_task("broken_tasks:make")
    with pytest.raises(TaskError, match="cannot import task module 'no_such_module_xyz'"):
        get_task("no_such_module_xyz:make")
    with pytest.raises(TaskError, match="has no attribute 'nope'"):
        get_task("mytasks:nope")
    with pytest.raises(TaskError, match="neither a Task nor a function"):
        get_task("mytasks:NOT_A_TASK")
    with pytest.raises(TaskError, match="package.module:function"):
        get_task(":make")
    sys.modules.pop("mytasks", None)


def test_score_epochs_averages_the_last_epochs_everywhere_the_score_is_read(tmp_path, monkeypatch):
    task = get_task("mnist1d-mlp", score_epochs="3")
    assert task.spec == "mnist1d-mlp(score_epochs=3)" and get_task("mnist1d-mlp").score_epochs == SCORE_EPOCHS
    seen = []
    out = task.train(torch.nn.ReLU, budget=4, seed=0, report=lambda epoch, m: seen.append(m["val_accuracy"]))
    assert out.score == pytest.approx(float(np.mean(out.curve[-3:])), abs=1e-12)
    assert seen == out.curve  # the per-epoch reports stay raw
    for bad in ("0", "-2", "2.5", "all"):
        with pytest.raises(TaskError, match="score_epochs must be a whole number"):
            get_task("digits", score_epochs=bad)
    # a user's train function: its curve's tail becomes the score
    (tmp_path / "tailtask.py").write_text(textwrap.dedent("""
        def train(act_factory, budget, seed, report):
            return {"score": 0.0, "curve": [0.1, 0.5, 0.2, 0.9]}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_task("tailtask:train", score_epochs=2).train(torch.nn.ReLU, 4, 0).score == pytest.approx(0.55)
    # by default the tail mean of the last SCORE_EPOCHS epochs (all four here), not the returned score
    assert get_task("tailtask:train").train(torch.nn.ReLU, 4, 0).score == pytest.approx(0.425)
    assert get_task("tailtask:train", score_epochs=1).train(torch.nn.ReLU, 4, 0).score == 0.0  # the user's own
    sys.modules.pop("tailtask", None)
    with pytest.raises(actsearch.ActsearchError, match="score_epochs 10 is more than the 5 epochs"):
        from actsearch.search import run_search

        run_search(task="digits", task_options={"score_epochs": "10"}, epochs=5, storage="sqlite:///" +
                   str(tmp_path / "never.db"))
    assert not (tmp_path / "never.db").exists()  # refused before the store or Ray


def test_rung_reports_score_what_the_final_score_would_be(monkeypatch):
    """ASHA compares candidates at a rung by the same tail mean the final score uses."""
    import actsearch.search.trial.evaluate as worker
    from actsearch.search import TrialSpec
    from actsearch.tasks.base import Task

    class LastEpoch(Task):
        """A user's task that scores the last epoch itself, knowing nothing of score_epochs."""

        name, metric = "fixed", "score"

        def train(self, act_factory, budget=None, seed=0, report=None):
            curve = [0.1, 0.5, 0.2, 0.9, 0.4][:budget]
            for epoch, value in enumerate(curve, start=1):
                report(epoch, {"score": value})
            return {"status": "ok", "score": curve[-1], "curve": curve}

    task = LastEpoch()
    task.score_epochs = 2
    monkeypatch.setitem(worker._TASKS, '["fixed", {}]', task)
    rung = []
    out = worker.evaluate(TrialSpec(text="x", task="fixed", epochs=5, seeds=(0,), backend="eager",
                                    report_steps=(3,), screen=False), report=rung.append)
    assert [r.step for r in rung] == [3] and rung[0].score == pytest.approx((0.5 + 0.2) / 2)
    assert out.score == pytest.approx((0.9 + 0.4) / 2)


def test_user_task_options_reach_the_spec_or_are_refused(tmp_path, monkeypatch):
    (tmp_path / "optasks.py").write_text(textwrap.dedent("""
        from actsearch.tasks.base import Task

        class LRTask(Task):
            name = "lrtask"

            def __init__(self, lr=0.1):
                super().__init__()  # records nothing itself
                self.lr = float(lr)

            def train(self, act_factory, budget=None, seed=0, report=None):
                return {"status": "ok", "score": self.lr, "curve": [self.lr]}

        READY = LRTask()

        def train(act_factory, budget, seed, report):
            return {"score": 1.0, "curve": [1.0]}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_task("optasks:LRTask", lr="0.5").spec == f"lrtask(lr=0.5,score_epochs={SCORE_EPOCHS})"
    assert get_task("optasks:LRTask", score_epochs="2").spec == "lrtask(score_epochs=2)"
    assert get_task("optasks:READY", score_epochs="1").spec == "lrtask"
    for name, options, needle in (("optasks:train", {"lr": "1"}, "a train function and takes no options"),
                                  ("optasks:READY", {"lr": "1"}, "a ready-made Task"),
                                  ("optasks:LRTask", {"foo": "1"}, "bad options for task 'optasks:LRTask'"),
                                  ("optasks:LRTask", {"lr": "abc"}, "bad options for task 'optasks:LRTask'")):
        with pytest.raises(TaskError, match=re.escape(needle)):
            get_task(name, **options)
    sys.modules.pop("optasks", None)


def test_unknown_task_name():
    with pytest.raises(actsearch.ActsearchError, match="unknown task 'mnist'"):
        get_task("mnist")
    assert {"mnist1d-mlp", "mnist1d-cnn", "digits", "cifar10-resnet", "charlm"} == set(tasks())


def test_out_of_memory_inside_a_built_in_task_is_named():
    class Hungry(torch.nn.Module):
        def forward(self, x):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    out = get_task("digits").train(Hungry, budget=1, seed=0)
    assert out.status == "error" and out.message.startswith("out of memory (OutOfMemoryError: CUDA out of memory")
