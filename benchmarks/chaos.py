"""Chaos run: a search that loses nothing while its processes are killed and its store fails.

    .venv/bin/python benchmarks/chaos.py --budget 200 --out chaos.json

Runs ``actsearch search`` (the command, in processes of its own) on a tiny user task
(:func:`tiny`: a fixed score from the candidate's outputs after a short sleep, each
training call written to a side-channel file) while, at random moments (random
numbers of recorded candidates between 5% and 85% of the budget, then a random delay
so the fault lands mid-trial):

* a trial process (the supervisor's child that trains) is SIGKILLed: a result of that
  candidate, recorded once as an error;
* a Ray worker running a trial is SIGKILLed: Tune retries the trial;
* the driver is SIGKILLed; the search is resumed with ``--resume`` at once (its lease
  is taken over: the holder's pid is gone);
* another process holds the store's SQLite write lock for a few seconds;
* once, the disk holding the store fills up (a tmpfs of its own, as root): the search
  stops in one line; the space is freed and the search resumed.

At the end it checks that the search is finished with nothing in flight, that the
budget is met (as many records as the budget: a fresh store, nothing copied), that
every candidate is recorded exactly once (distinct fingerprints), that every record
seen during the run is still there, unchanged, and that no driver printed a
traceback; and reports the faults survived and the seconds lost against the same
search without faults (``--baseline``, run first, same seed).

The chaos needs the processes of one machine (``/proc``); the disk quota needs root
(``mount -t tmpfs``) and is skipped, and said so, elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "chaos"
#: what a driver's stderr must never hold
NEVER = ("Traceback", "Exception ignored", "PC: @", "*** SIG")


# -- the user task: runs in the trial processes, imported as `chaos` -------------------------
def tiny(act_factory, budget, seed, report):
    """A fixed score from the candidate's outputs, after ``CHAOS_TRIAL_SECONDS`` (0.3 s)."""
    import torch

    act = act_factory()
    with torch.no_grad():
        y = act(torch.linspace(-3, 3, 13))
    key = ",".join(f"{float(v):.4g}" for v in y)
    log = os.environ.get("CHAOS_CALLS")
    if log:
        with open(log, "a") as fh:
            fh.write(key + "\n")
    time.sleep(float(os.environ.get("CHAOS_TRIAL_SECONDS", "0.3")))
    score = 1.0 / (1.0 + float(y.abs().mean()))
    for epoch in range(1, budget + 1):
        report(epoch, {"score": score})
    return {"score": score, "curve": [score] * budget}


# -- processes -------------------------------------------------------------------------------
def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can see."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):
            continue
        out[int(entry)] = (ppid, cmd)
    return out


def descendants(pid: int) -> dict[int, str]:
    """The processes started by ``pid``, directly or not: pid -> command line."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for p, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(p)
    found, todo = {}, list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if p in procs and p not in found:
            found[p] = procs[p][1]
            todo += children.get(p, [])
    return found


def trial_processes(driver: int) -> list[int]:
    return [p for p, cmd in descendants(driver).items() if "actsearch.search.trial.supervisor" in cmd]


def busy_ray_workers(driver: int) -> list[int]:
    # Ray names its worker processes by what they run: Tune's function trainable is
    # ray::ImplicitFunc (an idle worker is ray::IDLE; ray::*Agent are the node's own,
    # and killing those ends the node, not a worker)
    return [p for p, cmd in descendants(driver).items() if cmd.startswith("ray::ImplicitFunc")]


def _kind(cmd: str) -> str:
    """A short name for a process of a search: what its command line runs."""
    if "trial.supervisor" in cmd:
        return "trial process"
    if cmd.startswith("ray::"):
        return cmd.split()[0]
    for part in cmd.split():
        if part.endswith(".py") or "/ray/" in part:
            return os.path.basename(part)
    return os.path.basename(cmd.split()[0]) if cmd else "?"


def _kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


# -- the store --------------------------------------------------------------------------------
def recorded(url: str) -> list:
    """The search's records, read-only ([] before it exists)."""
    from actsearch.errors import StoreError
    from actsearch.store import Store

    try:
        return Store(url, readonly=True).search(NAME).results()
    except StoreError:
        return []


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    """A process that holds the SQLite write lock of ``path`` for ``seconds``."""
    code = ("import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(path)!r}, isolation_level=None, timeout=60)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
            f"time.sleep({seconds}); c.execute('ROLLBACK')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    return proc


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A tmpfs of ``size`` at ``path`` (root only); yields whether it was mounted."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    try:
        yield done.returncode == 0
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)


# -- one run ------------------------------------------------------------------------------------
@dataclass
class Fault:
    kind: str      # trial | worker | driver | lock | disk
    at: int        # fires once this many candidates are recorded ...
    delay: float   # ... and this many seconds more
    done: bool = False


@dataclass
class Run:
    wall: float = 0.0
    drivers: int = 0
    exit_codes: list = field(default_factory=list)
    faults: dict = field(default_factory=dict)
    locked_seconds: float = 0.0
    orphans: int = 0
    orphan_kinds: dict = field(default_factory=dict)
    family: dict = field(default_factory=dict)  # the processes of the driver killed last
    bad_output: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def plan(args, rng: random.Random, disk: bool) -> list[Fault]:
    kinds = (["trial"] * args.trial_kills + ["worker"] * args.worker_kills + ["driver"] * args.driver_kills
             + ["lock"] * args.locks + (["disk"] if disk else []))
    lo, hi = max(1, int(0.05 * args.budget)), max(2, int(0.85 * args.budget))
    return sorted((Fault(k, rng.randint(lo, hi), rng.uniform(0.0, 2.0)) for k in kinds), key=lambda f: f.at)


def search_args(args, url: str, resume: bool) -> list[str]:
    return [sys.executable, "-m", "actsearch.cli", "search", "--task", "chaos:tiny", "--space", "grammar",
            "--optimizer", "random", "--budget", str(args.budget), "--epochs", "1", "--workers",
            str(args.workers), "--backend", "eager", "--no-early-stop", "--seed", str(args.seed), "--storage", url,
            "--name", NAME, "--max-failures", "3", *(["--resume"] if resume else [])]


def run(args, folder: Path, faults: list[Fault] | None, db_dir: Path) -> tuple[Run, list]:
    """One search to the end, through ``faults`` (None: none); returns what happened and the records."""
    db = db_dir / "s.db"
    url = f"sqlite:///{db}"
    # Tune's files beside the store go elsewhere: only the database sits on the small disk
    (folder / "ray").mkdir(exist_ok=True)
    if not (db_dir / "ray").exists():
        os.symlink(folder / "ray", db_dir / "ray")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
               CHAOS_CALLS=str(folder / "calls.log"), CHAOS_TRIAL_SECONDS=str(args.trial_seconds),
               PYTHONUNBUFFERED="1")
    out = Run()
    seen: dict[int, tuple] = {}
    filler = db_dir / "filler"
    started = time.monotonic()
    resume = False
    while True:
        log = open(folder / f"driver-{out.drivers}.err", "w")
        driver = subprocess.Popen(search_args(args, url, resume), cwd=str(folder), env=env, stdout=subprocess.DEVNULL,
                                  stderr=log, start_new_session=True)
        out.drivers += 1
        resume = True
        killed = False
        while driver.poll() is None:
            records = recorded(url)
            for r in records:
                seen.setdefault(r.trial, (r.text, r.status, r.score))
            due = next((f for f in (faults or []) if not f.done and len(records) >= f.at), None)
            if due is not None:
                time.sleep(due.delay)
                killed = _fire(due, driver, db, filler, out) or killed
                if killed:
                    break
            time.sleep(0.3)
        code = driver.wait()
        log.close()
        if killed:  # fate-sharing should take its Ray processes with it; what is left is counted
            time.sleep(5)
            procs = _processes()
            left = [p for p in out.family if p in procs]
            out.orphans += len(left)
            for p in left:
                out.orphan_kinds[_kind(procs[p][1])] = out.orphan_kinds.get(_kind(procs[p][1]), 0) + 1
                _kill(p)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        out.exit_codes.append(code)
        err = (folder / f"driver-{out.drivers - 1}.err").read_text()
        out.bad_output += [f"driver {out.drivers - 1}: {n}" for n in NEVER if n in err]
        if filler.exists():
            if "disk holding the store is full" not in err:
                out.notes.append(f"driver {out.drivers - 1} ended (exit {code}) without meeting the full disk")
            filler.unlink()
        if code == 0:
            break
        if not killed and code != 2:
            raise SystemExit(f"driver {out.drivers - 1} ended with exit code {code}:\n{err[-3000:]}")
        if out.drivers > 40:
            raise SystemExit("more than 40 drivers: the search does not converge")
    out.wall = time.monotonic() - started
    return out, [(trial, *v) for trial, v in sorted(seen.items())]


def _fire(fault: Fault, driver: subprocess.Popen, db: Path, filler: Path, out: Run) -> bool:
    """Apply ``fault``; True when it killed the driver.  A kill with no target yet waits."""
    pid = driver.pid
    if fault.kind == "driver":
        out.family = descendants(pid)
        fault.done = _kill(pid)
    elif fault.kind in ("trial", "worker"):
        targets = trial_processes(pid) if fault.kind == "trial" else busy_ray_workers(pid)
        fault.done = bool(targets) and _kill(random.choice(targets))
    elif fault.kind == "lock":
        seconds = random.uniform(2.0, 6.0)
        locker = hold_lock(db, seconds)
        locker.wait()
        out.locked_seconds += seconds
        fault.done = True
    elif fault.kind == "disk":
        fill(filler)
        fault.done = True
        deadline = time.monotonic() + 120
        while driver.poll() is None and time.monotonic() < deadline:  # it stops at its next write
            time.sleep(0.3)
    if fault.done:
        out.faults[fault.kind] = out.faults.get(fault.kind, 0) + 1
    return fault.kind == "driver" and fault.done


# -- the checks -----------------------------------------------------------------------------------
def check(args, url: str, seen: list, calls: Path) -> dict:
    from collections import Counter

    from actsearch.store import Store

    search = Store(url, readonly=True).search(NAME)
    results = search.results()
    final = {r.trial: (r.text, r.status, r.score) for r in results}
    lost = [s for s in seen if final.get(s[0]) != tuple(s[1:])]
    fps = [r.fingerprint for r in results]
    trained = Counter(calls.read_text().split()) if calls.exists() else Counter()
    statuses = Counter(r.status for r in results)
    problems = []
    if search.state != "finished" or search.inflight:
        problems.append(f"state {search.state!r}, {len(search.inflight)} in flight")
    if len(results) != args.budget:
        problems.append(f"{len(results)} records for a budget of {args.budget}")
    if len(set(fps)) != len(fps):
        problems.append(f"{len(fps) - len(set(fps))} candidates recorded twice")
    if lost:
        problems.append(f"{len(lost)} records seen during the run are gone or changed: {lost[:3]}")
    return {"records": len(results), "distinct": len(set(fps)), "statuses": dict(statuses),
            "records_seen_during_run": len(seen), "lost": len(lost),
            "trainings": sum(trained.values()), "trained_more_than_once": sum(1 for n in trained.values() if n > 1),
            "problems": problems}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trial-seconds", type=float, default=0.3, help="how long the tiny task sleeps per run")
    ap.add_argument("--trial-kills", type=int, default=6)
    ap.add_argument("--worker-kills", type=int, default=4)
    ap.add_argument("--driver-kills", type=int, default=4)
    ap.add_argument("--locks", type=int, default=4, help="episodes of 2-6 s with the store's write lock held")
    ap.add_argument("--no-disk-full", action="store_true")
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                    help="first run the same search without faults, for the slowdown")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--keep", default=None, help="keep the runs' folders here (default: removed)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    random.seed(args.seed)
    top = Path(args.keep or tempfile.mkdtemp(prefix="actsearch-chaos-"))
    top.mkdir(parents=True, exist_ok=True)
    report: dict = {"budget": args.budget, "workers": args.workers, "seed": args.seed,
                    "trial_seconds": args.trial_seconds, "load": round(os.getloadavg()[0], 1)}
    try:
        if args.baseline:
            folder = top / "baseline"
            folder.mkdir()
            base, _ = run(args, folder, None, folder)
            report["baseline_wall"] = round(base.wall, 1)
            print(f"baseline: {args.budget} candidates in {base.wall:.0f} s", flush=True)
        folder = top / "chaos"
        folder.mkdir()
        with tmpfs(folder / "disk", "24m") as mounted:
            disk = mounted and not args.no_disk_full
            if not mounted and not args.no_disk_full:
                print("disk quota: not tried (mounting a tmpfs needs root)", flush=True)
            db_dir = folder / "disk" if mounted else folder
            faults = plan(args, rng, disk)
            chaos, seen = run(args, folder, faults, db_dir)
            url = f"sqlite:///{db_dir / 's.db'}"
            checked = check(args, url, seen, folder / "calls.log")
        report.update({
            "chaos_wall": round(chaos.wall, 1), "drivers": chaos.drivers, "exit_codes": chaos.exit_codes,
            "faults_survived": chaos.faults, "faults_planned": {f.kind: sum(g.kind == f.kind for g in faults)
                                                                for f in faults},
            "locked_seconds": round(chaos.locked_seconds, 1), "left_5s_after_driver_kills": chaos.orphans,
            "left_kinds": chaos.orphan_kinds,
            "bad_output": chaos.bad_output, "notes": chaos.notes, **checked})
        if args.baseline:
            report["slowdown_seconds"] = round(chaos.wall - report["baseline_wall"], 1)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    failed = report["problems"] + report["bad_output"]
    print("PASS" if not failed else "FAIL: " + "; ".join(failed))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
