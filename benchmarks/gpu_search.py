"""Part 2 of the GPU check: a real search through the trial function, without Ray.

The search's own bookkeeping (:class:`~actsearch.search.driver.Driver`: the
references first, then the random optimiser's ``grammar`` proposals, de-duplication,
the budget) hands out the TrialSpecs a search builds; a pool of ``--workers``
processes (spawned, all on the same device, as Ray's fractional GPUs share one)
runs each through :func:`~actsearch.search.trial.evaluate.evaluate`, the function a Ray
trial runs; each result goes back through the driver into actsearch's store
(SQLite, when Optuna imports) or, without Optuna, into a JSON file of the same
records.  Neither Ray nor Optuna is imported unless the SQLite store is used.

This module is the one place the GPU check names actsearch's internals (imports
below): a moved module is fixed here.

    python benchmarks/gpu_search.py --out DIR [--device cuda] [--candidates 8] [--workers 4]
                                    [--epochs N] [--store auto|sqlite|json]

Writes ``DIR/search.json`` (every recorded result, rewritten after each trial) and,
with the SQLite store, ``DIR/search.db`` (the store, copied whole at the end; read
it with ``actsearch leaderboard --storage sqlite:///DIR/search.db``).  Exit status 0
when the check passes (:func:`verdict`), 1 when it fails, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

# -- actsearch's internals: the only place the GPU check names them ------------------
from actsearch.optimizers.registry import get_optimizer
from actsearch.registry import REFERENCES, preset
from actsearch.registry import space as make_space
from actsearch.result import Result
from actsearch.search.config import SearchConfig
from actsearch.search.driver import Driver, TrialDefaults
from actsearch.search.events import as_events
from actsearch.search.trial.messages import TrialSpec
from actsearch.search.trial.evaluate import evaluate
from actsearch.tasks import get_task

NAME = "gpu-check"
SPACE, OPTIMIZER, TASK = "grammar", "random", "mnist1d-mlp"


class BadInput(Exception):
    """What the command line asked for cannot be done here: one line, exit status 2."""


def _imported(module: str) -> bool:
    return sys.modules.get(module) is not None


def _trial(config: dict) -> dict:
    """What one pool process runs per trial: the Ray trial's function, on plain data."""
    return evaluate(TrialSpec.from_config(config)).to_dict()


def store_kind(asked: str) -> tuple[str, str]:
    """(``sqlite`` or ``json``, why): ``auto`` is sqlite when Optuna and its store import."""
    if asked == "json":
        return "json", "asked for"
    try:
        import alembic  # noqa: F401
        import optuna
        import sqlalchemy  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - missing, or carried for another Python
        if asked == "sqlite":
            raise BadInput(f"--store sqlite needs Optuna: {type(exc).__name__}: {exc}") from None
        return "json", f"Optuna does not import ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    return "sqlite", f"Optuna {optuna.__version__}"


class JsonRecords:
    """The store's stand-in where Optuna is missing: what the driver asks of a stored
    search (``name``, ``results``, ``start``, ``record``), its records kept in memory
    and written by :func:`dump`."""

    def __init__(self, name: str):
        self.name = name
        self.trials: list[dict] = []

    def results(self) -> list[Result]:
        return [Result.from_dict(t["result"]) for t in self.trials if "result" in t]

    def start(self, candidate, fingerprint: str, protected: bool = False) -> int:
        self.trials.append({"text": candidate.text, "fingerprint": fingerprint, "protected": bool(protected)})
        return len(self.trials) - 1

    def record(self, result: Result, optimizer_state=None, *, trial: int | None = None, params=None) -> None:
        if trial is None:
            self.trials.append({"text": result.text})
            trial = len(self.trials) - 1
        self.trials[trial]["result"] = result.to_dict()


class Records:
    """Where the driver records: actsearch's SQLite store (under the search's lease) or
    :class:`JsonRecords`; :meth:`close` ends the search and copies the store to ``out``."""

    def __init__(self, kind: str, config: SearchConfig, task, epochs: int, out: Path):
        self.kind, self.out = kind, out
        self.folder = tempfile.mkdtemp(prefix="gpu-search-")
        self.lease = None
        if kind == "json":
            self.stored = JsonRecords(NAME)
            return
        from actsearch.store import Store

        self.path = os.path.join(self.folder, "search.db")
        store = Store("sqlite:///" + self.path)
        self.lease = store.lease(NAME, new=True)
        self.stored = store.open_search(NAME, config.stored(task_spec=task.spec, epochs=epochs, metric=task.metric),
                                        lease=self.lease)

    def close(self, finished: bool) -> None:
        if self.lease is None:
            return
        self.stored.set_state("finished" if finished else "interrupted")
        self.lease.release()
        self.stored.store.storage.engine.dispose()
        # one file, whatever the journal mode: the backup API copies a consistent database
        target = self.out / "search.db"
        target.unlink(missing_ok=True)
        src, dst = sqlite3.connect(self.path), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()


def dump(path: Path, meta: dict, results: list[Result]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"meta": meta, "results": [r.to_dict() for r in results]}, indent=1))
    os.replace(tmp, path)


def run(driver: Driver, workers: int, on_record=None, executor_factory=None) -> int:
    """Hand out trials to ``workers`` processes until the driver is done; returns how many
    pools were started (a pool whose process died is replaced; its trials are recorded
    as the driver records a dead worker's)."""
    executor_factory = executor_factory or (
        lambda: ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")))
    pools, number = 0, 0
    while not driver.finished:
        pools += 1
        pending: dict = {}
        with executor_factory() as pool:
            try:
                while True:
                    while len(pending) < workers:
                        number += 1
                        spec = driver.suggest(f"trial-{number}")
                        if spec is None:
                            break
                        pending[pool.submit(_trial, spec.to_config())] = f"trial-{number}"
                    if not pending:
                        break
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        driver.complete(pending.pop(future), Result.from_dict(future.result()))
                        if on_record:
                            on_record()
            except BrokenProcessPool:
                for trial in list(pending.values()):
                    driver.complete(trial, None)  # "the trial's worker failed"
                if on_record:
                    on_record()
        if driver.exhausted:
            break
    return pools


def verdict(results: list[Result], device: str, candidates: int) -> tuple[bool, list[str]]:
    """Whether the search passes, and why: every candidate recorded, none an error, the
    references trained to the end; on CUDA every trial on ``cuda``, and every one that
    trained (not screened out before training) with ``backend=triton`` and a ``kernel_ms``."""
    lines, ok = [], True
    if len(results) != candidates:
        ok = False
        lines.append(f"FAIL: {len(results)} of {candidates} candidates recorded")
    for r in results:
        if r.status == "error":
            ok = False
            lines.append(f"FAIL: {r.text}: error: {r.message[:200]}")
    refs = {preset(n).text for n in REFERENCES}
    for r in results:
        if r.text in refs and r.status != "ok":
            ok = False
            lines.append(f"FAIL: reference {r.text} is {r.status}: {r.message[:200]}")
    screened = [r for r in results if r.message.startswith("rejected before training")]
    trained = [r for r in results if r not in screened and r.status != "error"]
    if device.startswith("cuda"):
        for r in results:
            if not r.device.startswith("cuda"):
                ok = False
                lines.append(f"FAIL: {r.text} recorded device {r.device!r}")
        for r in trained:
            if r.backend != "triton" or not r.kernel_ms:
                ok = False
                lines.append(f"FAIL: {r.text}: backend {r.backend!r}, kernel_ms {r.kernel_ms!r}")
        if ok:
            ms = [r.kernel_ms for r in trained]
            lines.append(f"every trial on cuda; {len(trained)} trained with backend triton, kernel_ms "
                         f"(CUDA events) {min(ms):.3f}-{max(ms):.3f}" if ms else "no trial trained")
    else:
        lines.append("the device=cuda, backend=triton and kernel_ms checks are skipped: no CUDA "
                     f"(ran on {device}, backends {sorted({r.backend for r in trained})})")
    if screened:
        lines.append(f"{len(screened)} screened out before training (no kernel_ms by design)")
    return ok, lines


def search(out: Path, *, device: str = "cuda", candidates: int = 8, workers: int = 4, epochs: int | None = None,
           seed: int = 0, trial_timeout: float = 240.0, store: str = "auto",
           executor_factory=None) -> tuple[bool, dict, list[Result]]:
    """Run the search; returns (passed, the meta written to ``search.json``, the results)."""
    kind, why = store_kind(store)
    task = get_task(TASK)
    epochs = epochs or task.default_budget
    config = SearchConfig(task=TASK, space=SPACE, optimizer=OPTIMIZER, budget=candidates, epochs=epochs, seeds=1,
                          seed=seed, device=device, early_stop=False, backend="auto", workers=workers,
                          trial_timeout=trial_timeout)
    records = Records(kind, config, task, epochs, out)
    queue = [preset(n) for n in REFERENCES]
    defaults = TrialDefaults(task=TASK, task_options={}, task_spec=task.spec, metric=task.metric, epochs=epochs,
                             seeds=(seed,), backend="auto", device=device, precision="fp32", early_stop=False,
                             trial_timeout=trial_timeout, cpu_threads=1)
    optimizer = get_optimizer(OPTIMIZER, make_space(SPACE), seed=seed)
    driver = Driver(records.stored, optimizer, queue, defaults, candidates, {},
                    as_events(lambda line: print(line, flush=True)), protected={c.fingerprint() for c in queue})
    meta = {"name": NAME, "task": TASK, "space": SPACE, "optimizer": OPTIMIZER, "epochs": epochs,
            "candidates": candidates, "workers": workers, "device": device, "store": kind, "store_why": why,
            "evaluate": f"{evaluate.__module__}.evaluate", "ray_imported": _imported("ray")}
    print(f"search {NAME}: {candidates} candidates, {workers} processes on {device}, {epochs} epochs, "
          f"store {kind} ({why})", flush=True)
    t0 = time.perf_counter()

    def save() -> None:
        meta["wall_s"] = round(time.perf_counter() - t0, 1)
        dump(out / "search.json", meta, driver.stored.results())

    try:
        run(driver, workers, on_record=save, executor_factory=executor_factory)
    finally:
        wall = time.perf_counter() - t0
        results = driver.stored.results()
        records.close(driver.finished)
    ok, lines = verdict(results, device, candidates)
    meta.update(wall_s=round(wall, 1), candidates_per_min=round(len(results) / wall * 60.0, 2), ok=ok,
                verdict=lines, ray_imported=_imported("ray"), optuna_imported=_imported("optuna"))
    dump(out / "search.json", meta, results)
    return ok, meta, results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for search.json (and search.db)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--candidates", type=int, default=8, help="the search's budget (references included)")
    ap.add_argument("--workers", type=int, default=4, help="processes sharing the device")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per candidate (default: the task's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trial-timeout", type=float, default=240.0)
    ap.add_argument("--store", choices=["auto", "sqlite", "json"], default="auto")
    args = ap.parse_args(argv)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"gpu_search: cannot write to --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.candidates < len(REFERENCES) or args.workers < 1:
        print(f"gpu_search: --candidates must be at least {len(REFERENCES)} (the references) and --workers at "
              "least 1", file=sys.stderr)
        return 2
    try:
        ok, meta, results = search(out, device=args.device, candidates=args.candidates, workers=args.workers,
                                   epochs=args.epochs, seed=args.seed, trial_timeout=args.trial_timeout,
                                   store=args.store)
    except BadInput as exc:
        print(f"gpu_search: {exc}", file=sys.stderr)
        return 2
    print("\n| candidate | status | score | device | backend | kernel ms | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        score = "-" if r.score is None else f"{r.score:.4f}"
        kms = "-" if r.kernel_ms is None else f"{r.kernel_ms:.3f}"
        print(f"| {r.text[:50]} | {r.status} | {score} | {r.device} | {r.backend} | {kms} | {r.train_time:.1f} |")
    print(f"\n{len(results)} recorded in {meta['wall_s']} s ({meta['candidates_per_min']} candidates/min); "
          f"{'pass' if ok else 'FAIL'}")
    for line in meta["verdict"]:
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
