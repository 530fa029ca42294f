"""Device, precision and Ray resource plumbing, checked on a machine without a GPU."""

from __future__ import annotations

import pytest
import torch

import actsearch
from actsearch.devices import Runtime, check_device_name, resolve_device
from actsearch.errors import ActsearchError
from actsearch.search.ray.placement import plan_placement
from actsearch.tasks import ActivationFactory, get_task


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", " CUDA:1 "])
def test_device_names_accepted(name):
    assert check_device_name(name) == name.strip().lower()


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "cuda:-1", "tpu", ""])
def test_unknown_device_names_are_one_line_errors(name):
    with pytest.raises(ActsearchError, match="unknown device") as err:
        check_device_name(name)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ActsearchError, match="torch sees no CUDA GPU"):
        resolve_device("cuda:0")


def test_placement_on_a_cpu_cluster():
    p = plan_placement("auto", {"CPU": 8.0})
    assert (p.device, p.gpus_per_trial, p.workers) == ("cpu", 0.0, 8)
    assert plan_placement("cpu", {"CPU": 8.0}, cpus_per_trial=2).workers == 4
    assert plan_placement("auto", {"CPU": 8.0}, workers=3).workers == 3  # given: kept as given


def test_placement_on_a_gpu_cluster_shares_the_gpus():
    p = plan_placement("auto", {"CPU": 16.0, "GPU": 2.0})
    assert (p.device, p.gpus_per_trial, p.workers) == ("cuda", 0.25, 8)  # 4 trials per GPU
    p = plan_placement("cuda", {"CPU": 16.0, "GPU": 1.0}, gpus_per_trial=0.5)
    assert (p.gpus_per_trial, p.workers) == (0.5, 2)
    p = plan_placement("auto", {"CPU": 3.0, "GPU": 1.0})
    assert p.workers == 3  # CPUs are the limit
    # a CPU search on a GPU machine asks for no GPU
    assert plan_placement("cpu", {"CPU": 4.0, "GPU": 1.0}).gpus_per_trial == 0.0
    # a local cuda:N search: Ray is shown that one GPU, which trials see as cuda
    assert plan_placement("cuda:1", {"CPU": 4.0, "GPU": 1.0}).device == "cuda"


@pytest.mark.parametrize("kwargs, needle", [
    ({"device": "cuda", "resources": {"CPU": 4.0}}, "asks for GPUs, but the Ray cluster has none"),
    ({"device": "auto", "resources": {"CPU": 4.0}, "gpus_per_trial": 0.5}, "--gpus-per-trial asks for GPUs"),
    ({"device": "cuda", "resources": {"CPU": 4.0, "GPU": 1.0}, "gpus_per_trial": 0},
     "need --gpus-per-trial above 0"),
    ({"device": "cuda:1", "resources": {"CPU": 4.0, "GPU": 8.0}, "local": False}, "names a GPU of this machine"),
    ({"device": "cpu", "resources": {"CPU": 1.0}, "cpus_per_trial": 2}, "one trial asks for 2 CPU(s)"),
])
def test_impossible_placements_are_one_line_errors(kwargs, needle):
    device, resources = kwargs.pop("device"), kwargs.pop("resources")
    with pytest.raises(ActsearchError, match=None) as err:
        plan_placement(device, resources, **kwargs)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_bf16_autocast_reaches_the_activation_during_training():
    """--precision bf16: the built-in tasks run the forward pass under autocast, so the
    activation (here a probe recording its input dtype) sees bfloat16."""
    seen = set()

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.add(x.dtype)
            return torch.relu(x)

    task = get_task("digits")
    out = task.train(ActivationFactory(Probe, Runtime("cpu", "bf16")), budget=1, seed=0)
    assert out.status == "ok" and seen == {torch.bfloat16}
    seen.clear()
    assert task.train(ActivationFactory(Probe, Runtime("cpu", "fp32")), budget=1, seed=0).status == "ok"
    assert seen == {torch.float32}


def test_eager_candidate_trains_in_bf16_close_to_fp32():
    c = actsearch.parse("x*sigmoid(x)")
    task = get_task("digits")
    fp32 = task.train(ActivationFactory(c.module, Runtime("cpu", "fp32")), budget=2, seed=0)
    bf16 = task.train(ActivationFactory(c.module, Runtime("cpu", "bf16")), budget=2, seed=0)
    assert fp32.status == bf16.status == "ok"
    assert abs(fp32.score - bf16.score) < 0.1  # same recipe, rounding differs


def test_charlm_batches_are_the_same_stream_drawn_per_epoch():
    """charlm draws an epoch's window starts at once (one copy to the device); the
    stream is the one a draw per step gives, so CPU results do not change."""
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    per_step = torch.stack([torch.randint(0, 1000, (8,), generator=g1) for _ in range(20)])
    at_once = torch.randint(0, 1000, (20, 8), generator=g2)
    assert torch.equal(per_step, at_once)
