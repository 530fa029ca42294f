"""What runs inside a Ray Tune trial: train one candidate on K seeds, report per epoch.

Kept free of Ray imports at module level except ``tune.report`` so the same function
runs without Ray in tests (``report`` injectable).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from typing import Any, Callable

__all__ = ["evaluate", "trainable", "FAILED_SCORE"]

#: what Tune sees for a failed candidate (ASHA needs a number; the store keeps None)
FAILED_SCORE = -1e30

_TASKS: dict[str, Any] = {}


def _task(name: str, options: dict):
    from actsearch.tasks import get_task

    key = json.dumps([name, options], sort_keys=True)
    if key not in _TASKS:  # a reused worker keeps its task and data in memory
        _TASKS[key] = get_task(name, **options)
    return _TASKS[key]


def evaluate(config: dict, report: Callable[[dict], None]) -> dict:
    """Train ``config["text"]`` on ``config["seeds"]`` seeds one after another.

    ``report(metrics)`` gets, after each epoch listed in ``config["report_steps"]``
    (default: every epoch) but the last, ``step`` (epochs done
    over all seeds so far), ``score`` (the metric at this epoch averaged over the seeds
    that reached it) and ``curves`` (JSON); it returns the final metrics dict, which
    has ``done`` and ``payload`` (JSON of the whole outcome) too.
    """
    import torch

    from actsearch.compile import compile_candidate
    from actsearch.expr import parse

    start = time.perf_counter()
    torch.set_num_threads(1)  # one core per worker: W workers on W cores do not oversubscribe
    epochs, seeds = int(config["epochs"]), [int(s) for s in config["seeds"]]
    total = epochs * len(seeds)
    report_steps = set(config.get("report_steps", range(1, total + 1)))
    curves: list[list[float]] = []
    seed_scores: list[float] = []
    learned: list = []
    status, message, train_time = "ok", "", 0.0
    setup = 0.0
    try:
        t0 = time.perf_counter()
        task = _task(config["task"], config.get("task_options") or {})
        cand = parse(config["text"], family=config.get("family", "custom"))
        backend = config.get("backend", "auto")
        compile_candidate(cand, backend=backend)  # compile (and check) once before timing
        setup = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - a candidate that fails to build is a result
        status, message = "error", f"{type(exc).__name__}: {exc}"
    if status == "ok":
        for i, seed in enumerate(seeds):
            curve: list[float] = []

            def on_epoch(epoch: int, metrics: dict, i=i, curve=curve) -> None:
                value = float(metrics[task.metric])
                curve.append(value)
                step = i * epochs + epoch
                if step >= total or step not in report_steps:
                    return  # reports cost ~15 ms each: only where the scheduler decides
                reached = [c[epoch - 1] for c in curves if len(c) >= epoch] + [value]
                elapsed = time.perf_counter() - start
                report({"step": step, "score": statistics.fmean(reached),
                        "curves": json.dumps(curves + [curve]), "done": False,
                        "elapsed": elapsed, "setup_time": setup})

            out = task.train(lambda: compile_candidate(cand, backend=backend), epochs, seed, on_epoch)
            curves.append(list(out.get("curve", curve)))
            train_time += float(out.get("train_time", 0.0))
            if i == 0:
                learned = out.get("learned_params", [])
            if out.get("status") != "ok" or out.get("score") is None:
                status = out.get("status", "error")
                message = out.get("message", "") or f"seed {seed}: no score"
                break
            seed_scores.append(float(out["score"]))
    score = statistics.fmean(seed_scores) if status == "ok" and seed_scores else None
    if score is not None and not math.isfinite(score):
        status, message, score = "nan", "non-finite score", None
    payload = {
        "status": status, "score": score, "metric": getattr(_TASKS.get(json.dumps(
            [config["task"], config.get("task_options") or {}], sort_keys=True)), "metric", ""),
        "seed_scores": seed_scores,
        "spread": statistics.pstdev(seed_scores) if len(seed_scores) > 1 else 0.0,
        "curves": curves, "learned_params": learned, "message": message,
        "train_time": train_time, "setup_time": setup,
        "wall_time": time.perf_counter() - start,
    }
    final = {"step": total, "score": score if score is not None else FAILED_SCORE,
             "curves": json.dumps(curves), "done": True, "payload": json.dumps(payload)}
    report(final)
    return final


def trainable(config: dict) -> None:
    """The Ray Tune function trainable."""
    from ray import tune

    evaluate(config, tune.report)
