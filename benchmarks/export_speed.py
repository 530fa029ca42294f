"""Exported module vs the eager reference: forward+backward time on the same inputs.

The exported file is plain torch source printed from the expression; the eager
reference (``candidate.module()``) walks closures built from the sympy tree.  Both
run the same ops, so the ratio should sit near 1; this checks that exporting costs
nothing at run time.

Usage::

    .venv/bin/python benchmarks/export_speed.py [--rows 128] [--features 1024] [--repeats 60] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import actsearch
from actsearch.results.export import export, load

FORMULAS = {
    "crrelu": "relu(x) + eps*x*exp(-x**2/2); eps=0.01",
    "rational(3,2)": "(a0 + a1*x + a2*x**2 + a3*x**3)/(1 + abs(b1)*abs(x) + abs(b2)*x**2); "
    "a0=0.02, a1=0.5, a2=0.3, a3=0.01, b1=0.2, b2=0.05",
    "polynorm": "w0*rmsnorm(x**3) + w1*rmsnorm(x**2) + w2*rmsnorm(x) + b; w0=0.33, w1=0.33, w2=0.34, b=0",
    "swish-like": "x*sigmoid(a*x); a=1.5",
}


def _once(module, x) -> float:
    xi = x.detach().requires_grad_(True)
    t = time.perf_counter()
    module(xi).sum().backward()
    return time.perf_counter() - t


def _paired(eager, exported, x, repeats: int) -> tuple[float, float, float]:
    """Median ms of each and the median of per-pair ratios.

    The two run alternately, so load from other processes hits both alike; the
    per-pair ratio is what the conclusion rests on.
    """
    for _ in range(3):  # warm-up
        _once(eager, x), _once(exported, x)
    te, tx = [], []
    for i in range(repeats):
        if i % 2:
            tx.append(_once(exported, x)), te.append(_once(eager, x))
        else:
            te.append(_once(eager, x)), tx.append(_once(exported, x))
    ratios = [b / a for a, b in zip(te, tx)]
    return statistics.median(te) * 1e3, statistics.median(tx) * 1e3, statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.rows, args.features)
    folder = Path(tempfile.mkdtemp())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, input {tuple(x.shape)} float32, "
          f"{args.repeats} paired fwd+bwd runs")
    print("| candidate | eager reference (ms) | exported file (ms) | exported / eager (median of paired ratios) |")
    print("| --- | --- | --- | --- |")
    for label, text in FORMULAS.items():
        cand = actsearch.parse(text)
        exported = load(export(cand, folder / f"act_{abs(hash(label))}.py"))
        eager = cand.module()
        e, xm, ratio = _paired(eager, exported, x, args.repeats)
        print(f"| {label} | {e:.3f} | {xm:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
