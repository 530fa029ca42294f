"""Every benchmark script runs (tiny sizes, on the CPU): a broken import or a renamed
API shows here, not on the day someone needs the figures."""

from __future__ import annotations

import os
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


def test_gpu_benchmark_smoke_on_cpu(tmp_path):
    out = tmp_path / "gpu.md"
    text = _run(["benchmarks/gpu.py", "--smoke", "--device", "cpu", "--out", str(out)])
    written = out.read_text()
    for part in ("(a) Kernels", "(b) Training steps", "(c) Search throughput"):
        assert part in text and part in written
    # every candidate's kernel timed, every candidate's training step compared with ReLU
    for label in ("rational 5/4", "PolyReLU", "PolyNorm", "CRReLU", "grammar"):
        assert f"| {label} | fp32 | eager |" in text and f"| {label} | bf16 | eager |" in text
        assert text.count(f"| {label} | eager |") == 2  # charlm and mnist1d-mlp
    assert "| PolyNorm rows 2048 | fp32 | eager |" in text  # the longest one-block row, beside looped 4096
    assert "failed" not in text
    assert "{'ok': 4}" in text


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
    (["benchmarks/cpu_backend.py", "--backends", "eager", "--repeats", "1", "--budget", "4", "--epochs", "1"],
     ["| 1 | eager |", "fastest: eager"]),
])
def test_benchmark_script_smoke(args, expected):
    out = _run(args)
    for needle in expected:
        assert needle in out, (needle, out[-2000:])
