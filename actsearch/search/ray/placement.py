"""Where a search's trials run on a Ray cluster: the device and what each trial asks Ray for.

:func:`plan_placement` turns ``--device``, ``--workers``, ``--cpus-per-trial`` and
``--gpus-per-trial`` into a :class:`Placement`.  Trials that ask for a GPU (share) see
the GPU Ray assigns them as ``cuda``.  Nothing here imports Ray: the numbers are the
cluster's resources, as ``ray.cluster_resources()`` gives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from actsearch.devices import check_device_name
from actsearch.errors import ActsearchError

__all__ = ["Placement", "plan_placement", "DEFAULT_GPU_SHARE"]

#: GPU share of one trial when ``--gpus-per-trial`` is not given and trials run on
#: CUDA: the built-in tasks are small, so four of them share a GPU
DEFAULT_GPU_SHARE = 0.25


@dataclass(frozen=True)
class Placement:
    """Where the trials run: the device they train on and the Ray resources of each."""

    device: str
    cpus_per_trial: float
    gpus_per_trial: float
    workers: int

    def describe(self) -> str:
        gpu = f", {self.gpus_per_trial:g} GPU" if self.gpus_per_trial else ""
        return f"{self.workers} parallel trial(s) on {self.device}, each {self.cpus_per_trial:g} CPU{gpu}"


def plan_placement(device: str, resources: dict[str, float], *, workers: int | None = None,
                   cpus_per_trial: float = 1.0, gpus_per_trial: float | None = None,
                   local: bool = True) -> Placement:
    """The placement of a search's trials on a cluster with ``resources``
    (``ray.cluster_resources()``: ``{"CPU": 16, "GPU": 1, ...}``).

    ``auto`` is ``cuda`` when the cluster has GPUs.  ``cuda:N`` is a GPU of this
    machine, so only a local search takes it (:func:`ray_cluster` shows Ray that
    GPU alone).  ``workers`` defaults to as many trials as the resources hold.

    Example:
        >>> plan_placement("auto", {"CPU": 16.0, "GPU": 1.0})
        Placement(device='cuda', cpus_per_trial=1.0, gpus_per_trial=0.25, workers=4)
        >>> plan_placement("auto", {"CPU": 2.0}).workers
        2
    """
    name = check_device_name(device)
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    if name == "auto":
        name = "cuda" if gpus > 0 else "cpu"
    if name.startswith("cuda:") and not local:
        raise ActsearchError(f"--device {name} names a GPU of this machine; on a Ray cluster use --device cuda "
                             "and Ray assigns each trial its GPU")
    on_gpu = name.startswith("cuda")
    share = (DEFAULT_GPU_SHARE if on_gpu else 0.0) if gpus_per_trial is None else float(gpus_per_trial)
    if on_gpu and share <= 0:
        raise ActsearchError("trials on cuda need --gpus-per-trial above 0: Ray hides the GPUs from trials "
                             "that ask for none")
    if share > 0 and gpus <= 0:
        raise ActsearchError(f"{'--device ' + name if on_gpu else '--gpus-per-trial'} asks for GPUs, but the "
                             f"Ray cluster has none ({cpus:g} CPUs)")
    fit = math.floor(cpus / cpus_per_trial + 1e-9)
    if share > 0:
        fit = min(fit, math.floor(gpus / share + 1e-9))
    if fit < 1:
        raise ActsearchError(f"one trial asks for {cpus_per_trial:g} CPU(s) and {share:g} GPU(s); the Ray "
                             f"cluster has {cpus:g} CPU(s) and {gpus:g} GPU(s)")
    # a local cuda:N search shows Ray that one GPU, which trials see as cuda
    return Placement(device="cuda" if on_gpu else "cpu", cpus_per_trial=float(cpus_per_trial),
                     gpus_per_trial=share, workers=fit if workers is None else int(workers))
