"""The GPU path proven in one command: correctness on CUDA, a real search, the figures.

On a CUDA machine (torch and triton installed, nothing fetched), within about 8 minutes:

1. correctness: ``tests/compile/test_gpu.py`` (the ``gpu`` marker) in a pytest process with
   ``ACTSEARCH_GPU_TESTS=1`` and ``TRITON_INTERPRET`` unset: every preset and
   samples of every space, compiled for the GPU, against the float64 eager
   reference with the pre-use check's tolerances (rows of 1 to 4096, odd shapes,
   fp32 and bf16, non-contiguous inputs, outputs and every gradient);
2. a real search through the trial function without Ray
   (``benchmarks/gpu_search.py``): 8 candidates, 4 trials at a time in separate
   processes on the one GPU, recorded in actsearch's SQLite store when Optuna
   imports (carried as wheels), else in a JSON file; every trial must record
   ``device=cuda``, ``backend=triton`` and a ``kernel_ms`` timed with CUDA events;
3. ``benchmarks/gpu.py`` parts a, b and c (kernels, training steps, search
   throughput), each in its own process and time limit;
4. a one-screen summary (``summary.md``, also printed; ``summary.json``): pass or
   fail per part, the GPU, torch and triton versions, the issue's targets as
   measured, and where everything was written.

Every file goes to ``--out`` (default ``$OUT`` when set, else ``gpu-check-out/``),
eight at most (what the device tool brings back): summary.md, summary.json,
correctness.log, search.json, search.db, search.log, gpu_tables.md, gpu_tables.log.

What must travel is prepared here, where the registry is (one folder, git-ignored)::

    .venv/bin/python benchmarks/gpu_check.py --prepare .gpubundle

It holds the MNIST-1D data (the GPU machine lacks the ``mnist1d`` package) and the
wheels of Optuna and the store's packages the GPU machine lacks (pure Python but
SQLAlchemy, downloaded for ``--python-version``, 3.12 there).  On the GPU machine,
from the repository root::

    python3 benchmarks/gpu_check.py --bundle .gpubundle --out $OUT

imports actsearch from this tree (as installed, or through a folder of links on
``PYTHONPATH`` when it is not: nothing is installed), unpacks the wheels into a
temporary folder on ``PYTHONPATH`` and points ``ACTSEARCH_DATA`` at the carried data.

``--smoke`` runs every part at tiny sizes on whatever is there (CI runs it on a CPU:
the parts that need CUDA say "skipped: no CUDA").  Exit status: 0 when no part
failed, 1 when one did, 2 for bad input.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
#: what the device tool brings back: at most 8 files
OUT_FILES = ("summary.md", "summary.json", "correctness.log", "search.json", "search.db", "search.log",
             "gpu_tables.md", "gpu_tables.log")
#: the packages Optuna's store needs that the GPU machines lack (the rest are there:
#: numpy, packaging, tqdm, PyYAML, typing_extensions, MarkupSafe)
WHEELS = ("optuna", "alembic", "SQLAlchemy", "Mako", "colorlog")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
BUNDLE_LIMIT = 64 * 2**20
#: seconds: the whole check, and each part's most (a part also leaves RESERVE per later part)
TOTAL_S = 470.0
CAPS = {"1": 150.0, "2": 120.0, "3a": 200.0, "3b": 75.0, "3c": 90.0}
RESERVE = 25.0


class CheckError(Exception):
    """Bad input or an unusable machine: one line, exit status 2."""


@dataclass
class Part:
    key: str
    title: str
    status: str = "not run"  # pass, fail, skipped: ..., not run
    detail: str = ""
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)


# -- the bundle (prepared here) -------------------------------------------------------
def prepare(folder: Path, python_version: str) -> int:
    """Fill ``folder`` with what the GPU machine needs and lacks; print its size."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckError(f"cannot write to --prepare {folder}: {exc.strerror or exc}") from None
    data = folder / "data"
    print(f"MNIST-1D data -> {data}", flush=True)
    proc = subprocess.run([sys.executable, str(BENCH / "gpu.py"), "--prepare", str(data)], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise CheckError(f"could not make the MNIST-1D data: {_last_line(proc.stderr or proc.stdout)}")
    wheels = folder / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir()
    pins = [f"{name}=={_version(name)}" if _version(name) else name for name in WHEELS]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp", "-d", str(wheels)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    print(f"wheels for Python {python_version} -> {wheels}: {' '.join(pins)}", flush=True)
    proc = subprocess.run(cmd + pins, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(wheels, ignore_errors=True)
        print(f"warning: no wheels ({_last_line(proc.stderr)}); the search part will record to JSON",
              file=sys.stderr)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "MANIFEST.json")
    sizes = {str(p.relative_to(folder)): p.stat().st_size for p in files}
    total = sum(sizes.values())
    manifest = {"created": _now(), "python_version": python_version, "wheels": pins, "files": sizes,
                "bytes": total}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{folder}: {len(files)} files, {total / 2**20:.1f} MiB (limit {BUNDLE_LIMIT // 2**20} MiB)")
    for name, size in sizes.items():
        print(f"  {name}  {size / 2**20:.2f} MiB")
    if total > BUNDLE_LIMIT:
        raise CheckError(f"{folder} holds {total / 2**20:.1f} MiB, over the {BUNDLE_LIMIT // 2**20} MiB "
                         "the device tool carries")
    rel = os.path.relpath(folder.resolve(), ROOT)
    if rel.startswith(".."):
        print(f"warning: {folder} is outside the repository: the device tool carries only paths inside it")
        return 0
    ignored = subprocess.run(["git", "check-ignore", "-q", rel], cwd=ROOT).returncode == 0
    print(f"carry: [\"{rel}\"]" + ("" if ignored else f"  (warning: {rel} is not git-ignored, so it travels anyway)"))
    return 0


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def unpack_wheels(wheels: Path, site: Path) -> list[str]:
    """Unpack every wheel in ``wheels`` into ``site`` (pure-Python wheels need nothing
    more; a compiled extension built for another Python is skipped by its package's
    own fallback); returns the wheels' file names."""
    names = []
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
        names.append(wheel.name)
    return names


# -- running the parts ----------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


def run_logged(cmd: list[str], env: dict, log: Path, limit: float) -> tuple[int | None, float]:
    """Run ``cmd`` in its own process group with stdout and stderr appended to ``log``;
    kill the group at ``limit`` seconds.  Returns (exit status or ``None`` when killed, seconds)."""
    t0 = time.perf_counter()
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout=max(1.0, limit))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
            fh.write(f"\n[gpu_check: killed at the time limit of {limit:.0f} s]\n")
    return rc, time.perf_counter() - t0


def probe(env: dict) -> dict:
    """What this machine has, from a fresh interpreter outside the repository (so
    ``import actsearch`` means the installed one)."""
    code = r"""
import json, sys
out = {"python": sys.version.split()[0]}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = torch.cuda.is_available()
    if out["cuda"]:
        p = torch.cuda.get_device_properties(0)
        out["gpu"] = p.name
        out["capability"] = "sm_%d%d" % (p.major, p.minor)
        out["gpu_memory_gib"] = round(p.total_memory / 2**30, 1)
        out["cuda_version"] = torch.version.cuda
except Exception as exc:
    out["torch_error"] = "%s: %s" % (type(exc).__name__, exc)
for mod in ("triton", "optuna", "actsearch"):
    try:
        m = __import__(mod)
        out[mod] = getattr(m, "__version__", "?")
        if mod == "actsearch":
            out["actsearch_file"] = m.__file__
    except Exception as exc:
        out[mod + "_error"] = ("%s: %s" % (type(exc).__name__, exc)).splitlines()[0][:200]
for mod in ("xdist", "mnist1d"):
    try:
        __import__(mod)
        out[mod] = True
    except Exception:
        out[mod] = False
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=tempfile.gettempdir(), env=env, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        raise CheckError(f"cannot start python: {_last_line(proc.stderr)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _installed_here(info: dict) -> bool:
    path = info.get("actsearch_file")
    return bool(path) and Path(path).resolve().is_relative_to(ROOT / "actsearch")


def importable_tree(site: Path) -> Path:
    """This tree as the installed package looks (``search_spaces/`` and ``surrogates/``
    inside ``actsearch/``, as ``pyproject.toml``'s ``package-dir`` maps them), made of
    symbolic links under ``site``: no pip, no setuptools, nothing written outside."""
    pkg = site / "actsearch"
    pkg.mkdir(parents=True)
    for entry in (ROOT / "actsearch").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for sub in ("search_spaces", "surrogates"):
        (pkg / sub).symlink_to(ROOT / sub)
    return site


def ensure_importable(env: dict, info: dict, notes: list[str]) -> tuple[dict, dict]:
    """actsearch importable from this tree in every part's process: as installed here
    (``pip install -e .``), else through :func:`importable_tree` on ``PYTHONPATH``."""
    if _installed_here(info):
        return env, info
    site = importable_tree(Path(tempfile.mkdtemp(prefix="gpu-check-tree-")))
    env = dict(env, PYTHONPATH=os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p))
    info = probe(env)
    if not _installed_here(info):
        where = info.get("actsearch_file") or info.get("actsearch_error", "not importable")
        raise CheckError(f"actsearch does not import from {ROOT} ({where})")
    notes.append(f"actsearch is not installed here: imported from this tree through {site}")
    return env, info


class Clock:
    """Time left for the parts still to run: each gets its cap at most, and leaves
    :data:`RESERVE` seconds to every later one."""

    def __init__(self, total: float):
        self.end = time.monotonic() + total

    def limit(self, key: str, later: int) -> float:
        return min(CAPS[key], self.end - time.monotonic() - RESERVE * later)


def part_correctness(part: Part, args, env: dict, info: dict, out: Path, limit: float) -> None:
    log = out / "correctness.log"
    part.files = [log.name]
    junit = Path(tempfile.mkdtemp(prefix="gpu-check-")) / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "tests/compile/test_gpu.py",
           f"--junitxml={junit}"]
    if info.get("cuda") and info.get("xdist"):
        cmd += ["-n", str(max(1, min(8, (os.cpu_count() or 2) // 2)))]
    # PYTHONSAFEPATH: `python -m` would put the repository first on sys.path, and with it
    # actsearch/ as it lies (without search_spaces/) over the package as installed
    genv = dict(env, ACTSEARCH_GPU_TESTS="1", PYTHONSAFEPATH="1")
    rc, part.seconds = run_logged(cmd, genv, log, limit)
    counts = _junit_counts(junit)
    total = counts.get("tests", 0)
    failed = counts.get("failures", 0) + counts.get("errors", 0)
    skipped = counts.get("skipped", 0)
    if rc is None:
        part.status, part.detail = "fail", f"killed at its time limit of {limit:.0f} s (see {log.name})"
    elif not info.get("cuda"):
        text = log.read_text(encoding="utf-8", errors="replace")
        ok = rc == 0 and failed == 0 and skipped > 0 and "no CUDA" in text
        part.status = "skipped: no CUDA" if ok else "fail"
        part.detail = (f"{skipped} gpu tests collected and skipped, {total - skipped} passed" if ok
                       else f"pytest exit {rc}, {failed} failed (see {log.name})")
    elif rc == 0 and failed == 0 and skipped == 0 and total:
        part.status, part.detail = "pass", f"{total} tests passed (compiled kernels, {info.get('gpu')})"
    else:
        part.status = "fail"
        part.detail = f"pytest exit {rc}: {failed} failed, {skipped} skipped of {total} (see {log.name})"


def _junit_counts(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    m = re.search(r"<testsuite\b[^>]*>", text)
    if not m:
        return {}
    return {k: int(v) for k, v in re.findall(r'\b(tests|failures|errors|skipped)="(\d+)"', m.group(0))}


def part_search(part: Part, args, env: dict, info: dict, out: Path, limit: float) -> None:
    log = out / "search.log"
    (out / "search.db").unlink(missing_ok=True)
    device = "cuda" if info.get("cuda") else "cpu"
    cmd = [sys.executable, str(BENCH / "gpu_search.py"), "--out", str(out), "--device", device]
    cmd += ["--candidates", "4", "--workers", "2", "--epochs", "1"] if args.smoke else []
    rc, part.seconds = run_logged(cmd, env, log, limit)
    part.files = [f for f in ("search.json", "search.db", "search.log") if (out / f).exists()]
    try:
        meta = json.loads((out / "search.json").read_text())["meta"]
    except (OSError, ValueError, KeyError):
        meta = {}
    store = meta.get("store", "?")
    where = f"store {store}" + (f" ({meta.get('store_why')})" if store == "json" else "")
    if rc is None:
        part.status, part.detail = "fail", f"killed at its time limit of {limit:.0f} s (see {log.name})"
        return
    if rc != 0 or not meta.get("ok"):
        reasons = [v for v in meta.get("verdict", []) if v.startswith("FAIL")]
        part.status = "fail"
        part.detail = f"exit {rc}: {reasons[0] if reasons else _last_line(log.read_text())} (see {log.name})"
        return
    rate = f"{meta.get('candidates', '?')} candidates in {meta.get('wall_s', '?')} s, {meta.get('workers')} processes"
    if device == "cuda":
        part.status = "pass"
        part.detail = f"{rate}; {meta['verdict'][0]}; {where}"
    else:
        part.status = "skipped: no CUDA"
        part.detail = f"ran on cpu (eager): {rate}, {where}; the cuda/triton/kernel_ms checks not run"


def part_tables(part: Part, sub: str, args, env: dict, info: dict, out: Path, limit: float) -> None:
    log, tables = out / "gpu_tables.log", out / "gpu_tables.md"
    part.files = [tables.name, log.name]
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-")) / f"gpu_{sub}.md"
    cmd = [sys.executable, str(BENCH / "gpu.py"), "--parts", sub, "--device", "cuda" if info.get("cuda") else "cpu",
           "--out", str(tmp)] + (["--smoke"] if args.smoke else [])
    rc, part.seconds = run_logged(cmd, env, log, limit)
    if rc is None:
        part.status, part.detail = "fail", f"killed at its time limit of {limit:.0f} s (partial rows in {log.name})"
        return
    if rc != 0 or not tmp.exists():
        part.status, part.detail = "fail", f"exit {rc}: {_last_line(log.read_text())} (see {log.name})"
        return
    text = tmp.read_text(encoding="utf-8")
    with open(tables, "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    failed = [ln for ln in text.splitlines() if "failed:" in ln]
    if failed:
        part.status, part.detail = "fail", f"{len(failed)} rows failed, e.g. {failed[0][:160]}"
    elif info.get("cuda"):
        part.status, part.detail = "pass", f"tables in {tables.name}"
    else:
        part.status = "skipped: no CUDA"
        part.detail = f"ran on cpu at --smoke sizes (eager only; no GPU figure); tables in {tables.name}"


# -- the targets, read from gpu.py's tables ---------------------------------------
def _rows(text: str, section: str) -> list[list[str]]:
    """The table rows (cells) under the heading that contains ``section``."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = section in line
        elif inside and line.startswith("| ") and not line.startswith("| ---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _num(cell: str) -> float | None:
    m = re.match(r"-?[\d.]+", cell.strip())
    return float(m.group(0)) if m else None


def targets(text: str) -> list[str]:
    """The issue's GPU targets as this run measured them (from ``gpu_tables.md``):
    triton rational 5/4 forward+backward at least 70% of copy bandwidth and faster than
    torch.compile and eager; a training step with a candidate within 1.2x of ReLU's; 4
    trials on one GPU at least 10x the candidates per minute of 2 CPU workers."""
    out = []
    kernels = _rows(text, "(a) Kernels")
    for dtype in ("fp32", "bf16"):
        got = {r[2]: r for r in kernels if len(r) >= 9 and r[0] == "rational 5/4" and r[1] == dtype}
        tri = got.get("triton")
        if not tri:
            out.append(f"rational 5/4 {dtype}: no triton row")
            continue
        share, fb = _num(tri[7]), _num(tri[4])
        others = {b: _num(got[b][4]) for b in ("inductor", "eager") if b in got}
        faster = all(v is not None and fb is not None and fb < v for v in others.values()) and len(others) == 2
        met = share is not None and share >= 70 and faster
        vs = ", ".join(f"{b} {v:.3f} ms" for b, v in others.items() if v is not None)
        out.append(f"rational 5/4 {dtype} fwd+bwd: triton {tri[4]} ms, {tri[7]} of copy bandwidth; {vs}: "
                   f"{'met' if met else 'NOT met'} (>= 70% and faster than inductor and eager)")
    steps = [r for r in _rows(text, "(b) Training steps") if len(r) >= 5 and r[1] != "ReLU (torch)"]
    ratios = [(r[0], r[1], _num(r[4])) for r in steps if _num(r[4]) is not None]
    if ratios:
        worst = max(ratios, key=lambda t: t[2])
        best = min(ratios, key=lambda t: t[2])
        within = sum(1 for _, _, v in ratios if v <= 1.2)
        out.append(f"training step vs ReLU: {within} of {len(ratios)} candidate steps within 1.2x; best "
                   f"{best[1]} {best[2]:.2f}x ({best[0]}), worst {worst[1]} {worst[2]:.2f}x ({worst[0]})")
    else:
        out.append("training step vs ReLU: no rows")
    rates = {r[0]: _num(r[3]) for r in _rows(text, "(c) Search throughput") if len(r) >= 4}
    gpu = next((v for k, v in rates.items() if "GPU" in k), None)
    cpu = next((v for k, v in rates.items() if "CPU" in k), None)
    if gpu and cpu:
        out.append(f"candidates/min: GPU {gpu:.1f}, 2 CPU workers {cpu:.1f}: {gpu / cpu:.1f}x "
                   f"({'met' if gpu >= 10 * cpu else 'NOT met'}: >= 10x)")
    else:
        out.append("candidates/min: no GPU row" if cpu else "candidates/min: no rows")
    return out


# -- the summary ----------------------------------------------------------------------------
def write_summary(out: Path, parts: list[Part], info: dict, notes: list[str], started: float, argv: list[str],
                  final: bool) -> str:
    gpu = (f"{info['gpu']} ({info.get('capability')}, {info.get('gpu_memory_gib')} GiB, CUDA "
           f"{info.get('cuda_version')})" if info.get("gpu") else "none (no CUDA)")
    tables = out / "gpu_tables.md"
    goals = targets(tables.read_text(encoding="utf-8")) if tables.exists() and info.get("cuda") else []
    lines = [f"# actsearch GPU check, {_now()}", "",
             f"GPU: {gpu}",
             f"torch {info.get('torch', info.get('torch_error', '?'))}, triton "
             f"{info.get('triton', info.get('triton_error', '?'))}, Python {info.get('python')}",
             f"command: {' '.join(['benchmarks/gpu_check.py'] + argv)}; "
             f"{time.perf_counter() - started:.0f} s{'' if final else ' so far (still running)'}",
             "", "| part | result | s | detail |", "| --- | --- | --- | --- |"]
    for p in parts:
        lines.append(f"| {p.key} {p.title} | {p.status} | {p.seconds:.0f} | {p.detail} |")
    if goals:
        lines += ["", "Targets (issue 18), as measured in this run:"] + [f"- {g}" for g in goals]
    lines += [""] + [f"- {n}" for n in notes]
    written = sorted(f for f in OUT_FILES if (out / f).exists())
    lines += [f"- written to {out.resolve()}: {', '.join(written)}"]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text, encoding="utf-8")
    summary = {"date": _now(), "argv": argv, "final": final, "info": info, "notes": notes, "targets": goals,
               "parts": [asdict(p) for p in parts], "out": str(out.resolve()),
               "failed": [p.key for p in parts if p.status == "fail"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return text


def _out_folder(given: str | None) -> Path:
    out = Path(given or os.environ.get("OUT") or "gpu-check-out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_file = out / ".gpu-check-write-test"
        probe_file.write_text("")
        probe_file.unlink()
    except OSError as exc:
        raise CheckError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
    for name in OUT_FILES:  # this run's files only
        (out / name).unlink(missing_ok=True)
    return out


def base_env(bundle: Path | None, notes: list[str]) -> dict:
    """The parts' environment: compiled Triton (never the interpreter), a fresh kernel
    cache, and the bundle's data and wheels."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(PYTHONUNBUFFERED="1", ACTSEARCH_CACHE=tempfile.mkdtemp(prefix="gpu-check-kernels-"))
    if bundle is None:
        notes.append("no bundle: MNIST-1D from this machine's cache or mnist1d package; Optuna only if installed")
        return env
    if not bundle.is_dir():
        raise CheckError(f"--bundle {bundle}: no such folder (make it with --prepare {bundle} where pip works)")
    data = bundle / "data"
    if (data / "mnist1d.npz").exists() and "ACTSEARCH_DATA" not in os.environ:
        env["ACTSEARCH_DATA"] = str(data.resolve())
        notes.append(f"MNIST-1D data from {data}")
    wheels = bundle / "wheels"
    if wheels.is_dir() and any(wheels.glob("*.whl")):
        env["_GPU_CHECK_WHEELS"] = str(wheels)
    return env


def add_wheels(env: dict, info: dict, notes: list[str]) -> dict:
    """Unpack the bundle's wheels onto PYTHONPATH where Optuna does not import already."""
    wheels = env.pop("_GPU_CHECK_WHEELS", None)
    if wheels is None or info.get("optuna"):
        if info.get("optuna"):
            notes.append(f"Optuna {info['optuna']} installed here")
        return env
    site = Path(tempfile.mkdtemp(prefix="gpu-check-site-"))
    names = unpack_wheels(Path(wheels), site)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    notes.append(f"wheels unpacked onto PYTHONPATH: {', '.join(names)}")
    return env


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="output folder (default $OUT, else gpu-check-out/)")
    ap.add_argument("--bundle", default=None, help="the folder --prepare made (default .gpubundle when present)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes; the CUDA parts skip without CUDA (CI)")
    ap.add_argument("--parts", nargs="+", default=["1", "2", "3"], choices=["1", "2", "3"])
    ap.add_argument("--total-s", type=float, default=TOTAL_S, help="the whole check's time limit in seconds")
    ap.add_argument("--prepare", metavar="FOLDER", default=None,
                    help="only fill FOLDER with what must travel (data, wheels), where pip works")
    ap.add_argument("--python-version", default="3.12", help="the GPU machine's Python, for --prepare's wheels")
    args = ap.parse_args(argv)
    try:
        if args.prepare:
            return prepare(Path(args.prepare), args.python_version)
        return check(args, argv)
    except CheckError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2


def check(args, argv: list[str]) -> int:
    started = time.perf_counter()
    clock = Clock(args.total_s)
    out = _out_folder(args.out)
    bundle = Path(args.bundle) if args.bundle else (ROOT / ".gpubundle" if (ROOT / ".gpubundle").is_dir() else None)
    notes: list[str] = []
    env = base_env(bundle, notes)
    info = probe(env)
    if "torch" not in info:
        raise CheckError(f"torch does not import: {info.get('torch_error')}")
    if not info.get("cuda") and not args.smoke:
        raise CheckError("no CUDA device: this check is for a GPU machine (--smoke runs it here at tiny sizes)")
    env, info = ensure_importable(env, info, notes)
    env = add_wheels(env, info, notes)
    if not (info.get("mnist1d") or "ACTSEARCH_DATA" in env):
        notes.append("warning: no MNIST-1D data (no bundle, no mnist1d package): part 2 and 3c need it")
    parts = [Part("1", "correctness on CUDA, compiled"), Part("2", "search through evaluate(), no Ray"),
             Part("3a", "gpu.py (a) kernels"), Part("3b", "gpu.py (b) training steps"),
             Part("3c", "gpu.py (c) search throughput")]
    chosen = [p for p in parts if p.key[0] in args.parts]
    for i, p in enumerate(chosen):
        limit = clock.limit(p.key, len(chosen) - i - 1)
        if limit < 10:
            p.status, p.detail = "fail", "not run: the check's time was up"
        elif p.key == "1":
            part_correctness(p, args, env, info, out, limit)
        elif p.key == "2":
            part_search(p, args, env, info, out, limit)
        else:
            part_tables(p, p.key[1], args, env, info, out, limit)
        print(f"[{p.key}] {p.status}: {p.detail} ({p.seconds:.0f} s)", flush=True)
        write_summary(out, chosen, info, notes, started, argv, final=False)
    print("\n" + write_summary(out, chosen, info, notes, started, argv, final=True))
    return 1 if any(p.status == "fail" for p in chosen) else 0


if __name__ == "__main__":
    sys.exit(main())
