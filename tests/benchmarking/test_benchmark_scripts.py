"""Every benchmark script runs (tiny sizes, on the CPU): a broken import or a renamed
API shows here, not on the day someone needs the figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess  # each benchmark script runs in a process

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], timeout: float = 300) -> str:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


def _bench_module(name: str):
    """A script of benchmarks/ imported as a module (they are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


#: the GPU machines have neither Ray nor Optuna: the smoke runs with both unimportable,
#: and every attempt to import them is written down
BLOCKER = """
import os, sys

class _Blocked:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in ("ray", "optuna"):
            with open(os.environ["BLOCKED_LOG"], "a") as fh:
                fh.write(top + " " + os.path.basename(sys.argv[0] if sys.argv else "") + "\\n")
            raise ModuleNotFoundError("No module named %r (blocked)" % name, name=name)
        return None

sys.meta_path.insert(0, _Blocked())
"""


def test_gpu_check_smoke_on_cpu_without_ray_or_optuna(tmp_path):
    block, out, attempts = tmp_path / "block", tmp_path / "out", tmp_path / "attempts.txt"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(block), BLOCKED_LOG=str(attempts))
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--smoke", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # what comes back from the device tool: at most 8 files, plain names, no folders
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["summary.md", "summary.json", "correctness.log", "search.json", "search.log",
                            "gpu_tables.md", "gpu_tables.log"]), files
    summary = (out / "summary.md").read_text()
    assert summary in proc.stdout and "GPU: none (no CUDA)" in summary and "torch 2." in summary
    parts = {p["key"]: p for p in json.loads((out / "summary.json").read_text())["parts"]}
    assert sorted(parts) == ["1", "2", "3a", "3b", "3c"]
    for key, part in parts.items():  # honest: none of it ran on a GPU
        assert part["status"] == "skipped: no CUDA", (key, part)
        assert f"| {key} " in summary
    skipped = re.search(r"(\d+) gpu tests collected and skipped", parts["1"]["detail"])
    assert skipped and int(skipped.group(1)) > 0, parts["1"]["detail"]  # collected, not missing
    # the search: the trial function in separate processes, recorded without Optuna, never Ray
    search = json.loads((out / "search.json").read_text())
    meta, results = search["meta"], search["results"]
    assert meta["store"] == "json" and "Optuna does not import" in meta["store_why"]
    assert meta["evaluate"] == "actsearch.search.trial.evaluate.evaluate" and meta["workers"] == 2 and meta["ok"]
    assert not meta["ray_imported"] and not meta["optuna_imported"]
    assert len(results) == 4 and {r["device"] for r in results} == {"cpu fp32"}
    assert {r["text"] for r in results} >= {"relu(x)", "gelu(x)", "silu(x)"}
    assert all(r["status"] == "ok" and r["kernel_ms"] for r in results)
    tried = attempts.read_text().split() if attempts.exists() else []
    assert "ray" not in tried and set(tried) <= {"optuna", "-c", "gpu_search.py"}, tried  # only where it asks
    # gpu.py's parts a-c, each in its own process, tables in one file
    tables = (out / "gpu_tables.md").read_text()
    for part in ("(a) Kernels", "(b) Training steps", "(c) Search throughput"):
        assert part in tables
    for label in ("rational 5/4", "PolyReLU", "PolyNorm", "CRReLU", "grammar"):
        assert f"| {label} | fp32 | eager |" in tables and f"| {label} | bf16 | eager |" in tables
        assert tables.count(f"| {label} | eager |") == 2  # charlm and mnist1d-mlp
    assert "| PolyNorm rows 2048 | fp32 | eager |" in tables  # the longest one-block row, beside looped 4096
    assert "failed" not in tables
    assert "{'ok': 4}" in tables


def test_gpu_check_bad_out_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--smoke", "--out", str(blocker / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("gpu_check: cannot write to --out") and proc.stderr.count("\n") == 1


_REFERENCE_TEXTS = ("relu(x)", "gelu(x)", "silu(x)")


def _fake_trial(config: dict) -> dict:
    """A trial's result as the trial function returns it on a GPU, without training."""
    from actsearch import parse
    from actsearch.result import Result

    c = parse(config["text"])
    backend = "triton" if c.text in _REFERENCE_TEXTS else "eager"  # every proposal fell back
    return Result(key=c.key, text=c.text, status="ok", score=0.5, seed_scores=[0.5], device="cuda:0 (NVIDIA H200) "
                  "fp32", backend=backend, kernel_ms=0.25, fingerprint=c.fingerprint()).to_dict()


@pytest.mark.parametrize("store", ["sqlite", "json"])
def test_gpu_search_records_through_the_driver(store, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    gs = _bench_module("gpu_search")
    monkeypatch.setattr(gs, "_trial", _fake_trial)
    ok, meta, results = gs.search(tmp_path, device="cuda", candidates=5, workers=2, epochs=1, store=store,
                                  executor_factory=lambda: ThreadPoolExecutor(2))
    assert len(results) == 5 and [r.text for r in results[:3]] == list(_REFERENCE_TEXTS)
    # a trained trial whose activation fell back to eager on CUDA fails the check, by name
    proposals = [r.text for r in results[3:]]
    assert not ok and meta["verdict"] == [f"FAIL: {t}: backend 'eager', kernel_ms 0.25" for t in proposals]
    saved = json.loads((tmp_path / "search.json").read_text())
    assert [r["text"] for r in saved["results"]] == [r.text for r in results] and saved["meta"]["store"] == store
    if store == "json":
        assert not (tmp_path / "search.db").exists()
        return
    from actsearch.store import Store

    # one file (no -wal or -shm beside it), a finished search that actsearch's views read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search.db", "search.json"]
    db = Store(f"sqlite:///{tmp_path / 'search.db'}", readonly=True)
    stored = db.results("gpu-check")
    assert [(r.text, r.device, r.backend, r.kernel_ms) for r in stored] == [
        (r.text, r.device, r.backend, r.kernel_ms) for r in results]
    assert db.search("gpu-check").state == "finished" and db.search("gpu-check").config["budget"] == 5


def test_gpu_check_reads_the_targets_from_the_tables():
    gc = _bench_module("gpu_check")
    tables = """
## (a) Kernels

| candidate | dtype | backend | fwd ms | fwd+bwd ms | fwd GB/s | f+b GB/s | f+b % of copy | f+b vs eager |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
| rational 5/4 | fp32 | eager | 0.500 | 2.000 | 1 | 1 | 20% | 1.00x |
| rational 5/4 | fp32 | inductor | 0.100 | 0.300 | 1 | 1 | 60% | 6.67x |
| rational 5/4 | fp32 | triton | 0.090 | 0.250 | 1 | 1 | 75% | 8.00x |
| rational 5/4 | bf16 | eager | 0.500 | 2.000 | 1 | 1 | 20% | 1.00x |
| rational 5/4 | bf16 | inductor | 0.100 | 0.200 | 1 | 1 | 60% | 10.00x |
| rational 5/4 | bf16 | triton | 0.090 | 0.250 | 1 | 1 | 75% | 8.00x |

## (b) Training steps

| model | activation | backend | step ms | vs ReLU |
| --- | --- | --- | --- | --- |
| charlm d256 x4, bf16 | ReLU (torch) | - | 2.000 | 1.00x |
| charlm d256 x4, bf16 | rational 5/4 | triton | 2.200 | 1.10x |
| charlm d256 x4, bf16 | PolyNorm | triton | 3.000 | 1.50x |

## (c) Search throughput

| setting | candidates | epochs | candidates/min | statuses |
| --- | --- | --- | --- | --- |
| 4 trials sharing the GPU | 16 | 20 | 120.0 | {'ok': 16} |
| 2 CPU workers, 1 thread each | 16 | 20 | 15.0 | {'ok': 16} |
"""
    got = gc.targets(tables)
    assert got[0].startswith("rational 5/4 fp32 fwd+bwd: triton 0.250 ms, 75% of copy") and got[0].endswith(
        ": met (>= 70% and faster than inductor and eager)")
    assert "NOT met" in got[1]  # bf16: inductor's 0.200 ms beats triton's 0.250
    assert got[2] == ("training step vs ReLU: 1 of 2 candidate steps within 1.2x; best rational 5/4 1.10x "
                      "(charlm d256 x4, bf16), worst PolyNorm 1.50x (charlm d256 x4, bf16)")
    assert got[3] == "candidates/min: GPU 120.0, 2 CPU workers 15.0: 8.0x (NOT met: >= 10x)"
    assert gc.targets("") == ["rational 5/4 fp32: no triton row", "rational 5/4 bf16: no triton row",
                              "training step vs ReLU: no rows", "candidates/min: no rows"]


def test_gpu_check_unpacks_carried_wheels(tmp_path):
    import zipfile

    gc = _bench_module("gpu_check")
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "carried_demo-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("carried_demo/__init__.py", "VALUE = 42\n")
        zf.writestr("carried_demo-1.0.dist-info/METADATA", "Name: carried-demo\nVersion: 1.0\n")
    notes: list[str] = []
    env = gc.add_wheels({"_GPU_CHECK_WHEELS": str(wheels), "PYTHONPATH": "/elsewhere"}, {}, notes)
    site = env["PYTHONPATH"].split(os.pathsep)[0]
    assert env["PYTHONPATH"].endswith(os.pathsep + "/elsewhere") and "_GPU_CHECK_WHEELS" not in env
    proc = subprocess.run([sys.executable, "-c", "import carried_demo; print(carried_demo.VALUE)"],
                          env=dict(os.environ, PYTHONPATH=site), capture_output=True, text=True)
    assert proc.stdout.strip() == "42", proc.stderr
    assert notes == ["wheels unpacked onto PYTHONPATH: carried_demo-1.0-py3-none-any.whl"]
    # where Optuna imports already, nothing is unpacked
    env = gc.add_wheels({"_GPU_CHECK_WHEELS": str(wheels)}, {"optuna": "5.1.0"}, notes)
    assert "PYTHONPATH" not in env and notes[-1] == "Optuna 5.1.0 installed here"


@pytest.mark.parametrize("args, expected", [
    (["benchmarks/kernels.py", "--sizes", "4096", "--repeats", "1", "--backends", "eager,triton"],
     ["| rational 5/4 | 4096 | float32 | eager |", "| triton (first includes the interpreted check) |"]),
    (["benchmarks/export_speed.py", "--rows", "4", "--features", "16", "--repeats", "2"],
     ["crrelu", "rational(3,2)", "polynorm"]),
    (["benchmarks/task_accuracy.py", "--seeds", "1", "--tasks", "mnist1d-mlp", "--epochs", "1"],
     ["| mnist1d-mlp | 1 |", "(search default)"]),
    (["benchmarks/spaces_enumerate_fit.py", "--repeats", "1", "--targets", "gelu"],
     ["## grammar enumerate() of shape 1", "| gelu |"]),
    (["benchmarks/optimisers_synthetic.py", "--repeats", "3", "--bootstrap", "50", "--budget", "30"],
     ["| random |", "| surrogate-shuffled |"]),
    (["benchmarks/throughput.py", "--budget", "4", "--workers", "1", "--epochs", "1"],
     ["| no Ray, 1 process |", "| Ray Tune, 1 worker |"]),
    (["benchmarks/pareto_front.py", "--repeats", "2", "--budgets", "5,10", "--optimizers", "random,surrogate@pareto"],
     ["| random |", "| surrogate@pareto |", "hypervolume after 10"]),
    (["benchmarks/cpu_backend.py", "--backends", "eager", "--repeats", "1", "--budget", "4", "--epochs", "1"],
     ["| 1 | eager |", "fastest: eager"]),
])
def test_benchmark_script_smoke(args, expected):
    out = _run(args)
    for needle in expected:
        assert needle in out, (needle, out[-2000:])


def test_gpu_check_imports_the_tree_where_actsearch_is_not_installed(tmp_path):
    gc = _bench_module("gpu_check")
    site = gc.importable_tree(tmp_path / "site")
    code = ("import actsearch, actsearch.search_spaces.grammar as g, actsearch.surrogates as s; "
            "print(actsearch.__file__); print(g.__file__); print(s.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(site)))
    assert proc.returncode == 0, proc.stderr
    files = [Path(line) for line in proc.stdout.split()]
    assert all(str(f).startswith(str(site)) for f in files)  # the links, ahead of any installed copy
    assert [f.resolve() for f in files] == [ROOT / "actsearch" / "__init__.py", ROOT / "search_spaces" / "grammar.py",
                                            ROOT / "surrogates" / "__init__.py"]
