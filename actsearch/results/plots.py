"""Pictures of candidates: shape and derivative, learning curves, learned shapes per layer.

Figures are ``matplotlib.figure.Figure`` objects drawn on the Agg canvas, without
pyplot: no display is needed and a user's interactive backend is left alone.
:func:`save_png` writes one, :func:`png_bytes` gives the bytes for embedding in HTML.

Row-wise candidates (``rmsnorm``, e.g. PolyNorm) are drawn as the function applied
to the whole grid as one row; their "derivative" is the Jacobian's diagonal.

Example:
    >>> import actsearch
    >>> from actsearch.results.plots import show_figure, png_bytes
    >>> fig = show_figure(actsearch.parse("relu(x) + eps*x*exp(-x**2/2); eps=0.01"))
    >>> png_bytes(fig)[:4] == b"\\x89PNG"
    True
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..symbolic.expr import Candidate, parse
from .files import write_files
from .leaderboard import leaderboard
from .names import is_stored_id, resolve
from .statistics import TAIL_EPOCHS, tail_stats

__all__ = [
    "evaluate", "shape_figure", "show_figure", "progress_figure", "figure_for", "save_png", "png_bytes",
    "default_png_name", "X_RANGE",
]

X_RANGE = (-5.0, 5.0)
_POINTS = 401


def _grid() -> torch.Tensor:
    return torch.linspace(X_RANGE[0], X_RANGE[1], _POINTS, dtype=torch.float64)


def evaluate(candidate: Candidate, params: Mapping[str, float] | None = None):
    """``(x, f(x), f'(x))`` on the plotting grid, float64, as numpy arrays.

    ``params`` overrides the initial values (e.g. values learned by one layer).
    Non-finite values stay NaN/Inf; matplotlib leaves gaps there.
    """
    x = _grid()
    values = dict(candidate.params)
    if params:
        values.update({k: float(v) for k, v in params.items() if k in values})
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}
    fn = candidate.torch_fn()
    with torch.enable_grad():
        if candidate.elementwise:
            xg = x.clone().requires_grad_(True)
            y = torch.broadcast_to(fn(xg, p), xg.shape)
            (dy,) = torch.autograd.grad(y.sum(), xg, allow_unused=True)
            dy = torch.zeros_like(x) if dy is None else dy
        else:
            jac = torch.autograd.functional.jacobian(lambda t: torch.broadcast_to(fn(t, p), t.shape), x)
            y = torch.broadcast_to(fn(x, p), x.shape)
            dy = torch.diagonal(jac)
    return x.numpy(), y.detach().numpy(), dy.detach().numpy()


def _reference(name: str):
    return parse(f"{name}(x)")


def _clip_limits(ax, ys) -> None:
    # a candidate with a pole would squash the reference curves: clip to a robust range
    finite = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.array([])
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    plo, phi = np.percentile(finite, [2, 98])
    if hi - lo > 5 * max(phi - plo, 1e-3):  # a spike (pole): show the bulk of the curves
        lo, hi = plo, phi
    pad = 0.1 * max(hi - lo, 1e-3)
    ax.set_ylim(lo - pad, hi + pad)


def _figure(panels: int):
    fig = Figure(figsize=(5 * panels, 4), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, panels, squeeze=False)[0])


def _shape_axes(ax_f, ax_d, candidate: Candidate, label: str) -> None:
    ys, ds = [], []
    for name, style in (("relu", dict(color="0.6", ls="--")), ("gelu", dict(color="0.35", ls=":"))):
        x, y, d = evaluate(_reference(name))
        ax_f.plot(x, y, lw=1.2, label=name, **style)
        ax_d.plot(x, d, lw=1.2, label=name, **style)
        ys.append(y)
        ds.append(d)
    x, y, d = evaluate(candidate)
    ax_f.plot(x, y, color="C0", lw=2.0, label=label)
    ax_d.plot(x, d, color="C0", lw=2.0, label=label)
    _clip_limits(ax_f, ys + [y])
    _clip_limits(ax_d, ds + [d])
    ax_f.set_title("f(x)")
    ax_d.set_title("f'(x)")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="0.85", lw=0.8, zorder=0)
        ax.axvline(0, color="0.85", lw=0.8, zorder=0)
        ax.set_xlabel("x")
        ax.set_xlim(*X_RANGE)
        ax.legend(fontsize=8, loc="upper left")


def _short(text: str, limit: int = 70) -> str:
    formula = text.split(";")[0]
    return formula if len(formula) <= limit else formula[: limit - 3] + "..."


def shape_figure(candidate: Candidate, label: str | None = None) -> Figure:
    """The function and its derivative over [-5, 5] beside ReLU and GELU."""
    fig, (ax_f, ax_d) = _figure(2)
    _shape_axes(ax_f, ax_d, candidate, label or candidate.name or "candidate")
    fig.suptitle(_short(candidate.text, 100), fontsize=10)
    return fig


def show_figure(
    candidate: Candidate,
    *,
    curves: Sequence[Sequence[float]] = (),
    curve_labels: Sequence[str] | None = None,
    metric: str = "score",
    learned: Sequence[Mapping[str, float]] = (),
    title: str | None = None,
    stability: str | None = None,
) -> Figure:
    """Shape and derivative, plus learning curves and per-layer learned shapes when given.

    Args:
        candidate: what to draw.
        curves: one metric curve per run (e.g. per seed), in reporting order.
        curve_labels: legend entries for ``curves`` (default ``seed 0, seed 1, ...``).
        metric: the curves' metric name (y label).
        learned: learned parameter values, one mapping per activation layer; drawn
            against the initial shape when the candidate has parameters.
        stability: the leaderboard's flag (``unstable``, ``not converged``), named in
            the learning curves' title when it is not ``stable``.

    The learning curves shade the last epochs that the leaderboard's ``tail std``
    reads and give each seed's standard deviation over them in the legend.
    """
    curves = [list(c) for c in curves if len(c)]
    layers = [dict(v) for v in learned] if candidate.params else []
    panels = 2 + bool(curves) + bool(layers)
    fig, axes = _figure(panels)
    _shape_axes(axes[0], axes[1], candidate, candidate.name or "candidate")
    i = 2
    if curves:
        _curves_axes(axes[i], curves, curve_labels, metric, stability)
        i += 1
    if layers:
        ax = axes[i]
        x, y0, _ = evaluate(candidate)
        learned_ys = [evaluate(candidate, values)[1] for values in layers]
        span = np.nanmax(np.abs(y0[np.isfinite(y0)])) if np.isfinite(y0).any() else 1.0
        deviation = max((np.nanmax(np.abs(y - y0)) for y in learned_ys), default=0.0)
        # small learned changes vanish against the curve: draw them as differences instead
        as_difference = bool(np.isfinite(deviation) and deviation < 0.05 * max(span, 1e-12))
        cmap = matplotlib.colormaps["viridis"]
        ys = [np.zeros_like(y0)] if as_difference else [y0]
        for k, y in enumerate(learned_ys):
            y = y - y0 if as_difference else y
            ys.append(y)
            ax.plot(x, y, color=cmap(k / max(len(layers) - 1, 1)), lw=1.5, label=f"layer {k}")
        ax.plot(x, ys[0], color="k", ls="--", lw=1.2, label="initial")
        _clip_limits(ax, ys)
        ax.set_xlim(*X_RANGE)
        ax.set_title("learned minus initial, per layer" if as_difference else "learned shape per layer")
        ax.set_xlabel("x")
        ax.legend(fontsize=8)
    fig.suptitle(title or _short(candidate.text, 120), fontsize=10)
    return fig


def _curves_axes(ax, curves, labels, metric: str, stability: str | None) -> None:
    labels = list(labels) if labels else [f"seed {k}" for k in range(len(curves))]
    longest = max(len(c) for c in curves)
    tail = min(TAIL_EPOCHS, longest)
    if longest >= 3:  # the window the leaderboard's tail std reads
        ax.axvspan(longest - tail + 0.5, longest + 0.5, color="0.92", zorder=0, lw=0)
    for k, c in enumerate(curves):
        std = tail_stats([c]).std
        label = labels[k] if math.isnan(std) else f"{labels[k]} (last {min(tail, len(c))}: ±{std:.3f})"
        ax.plot(range(1, len(c) + 1), c, marker="o" if len(c) < 20 else None, ms=3, lw=1.5, label=label)
    flagged = isinstance(stability, str) and stability != "stable"
    if flagged:
        ax.set_title(f"learning curves: {stability}", color="C3")
    else:
        ax.set_title("learning curves")
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)


def progress_figure(trials: Sequence[int], scores: Sequence[float], failed: Sequence[int] = (),
                    metric: str = "score", pruned: Sequence[tuple[int, float]] = ()) -> Figure:
    """Score per trial with the best so far; failed trials marked at the bottom.

    ``pruned`` holds ``(trial, score)`` of candidates stopped early: drawn hollow and
    left out of the best so far, as their scores are from a lower budget.
    """
    fig, (ax,) = _figure(1)
    fig.set_size_inches(8, 3.5)
    if trials:
        best = np.maximum.accumulate(np.asarray(scores, dtype=float))
        ax.scatter(trials, scores, s=14, color="C0", label="candidate")
        ax.step(trials, best, where="post", color="C1", label="best so far")
    if pruned:
        ax.scatter(*zip(*pruned), s=14, facecolors="none", edgecolors="C0", label="stopped early")
    if failed:
        low = min(list(scores) + [s for _, s in pruned], default=0.0)
        ax.scatter(failed, [low] * len(failed), marker="x", color="C3", s=18, label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("search progress")
    if trials or failed or pruned:
        ax.legend(fontsize=8)
    return fig


def save_png(fig: Figure, path: "str | Path", dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path``, whole or not at all (:func:`actsearch.results.files.write_files`)."""
    path = Path(path)
    write_files({path: png_bytes(fig, dpi)})
    return path


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """``fig`` as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


_LOOK_UP = "look up"


def figure_for(ref, *, storage: str | None = None, search: str | None = None,
               stability: str | None = _LOOK_UP) -> Figure:
    """The ``show`` figure of a stored run (``SEARCH:NUMBER`` or key), preset, formula or candidate.

    Stored candidates add the learning curves of their runs (one per seed) and, for
    candidates with parameters, the shape each layer learned against the initial one.
    Their leaderboard stability flag is looked up unless ``stability`` gives it.
    """
    resolved = resolve(ref, storage=storage, search=search)
    cand = resolved.candidate
    if resolved.record is None:
        return show_figure(cand)
    entry = resolved.record
    r = entry.result
    score = f"{r.metric or 'score'} {r.score:.4f} ± {r.spread:.4f}" if r.ok else r.status
    if r.status == "pruned":
        score += f", stopped early after {max(map(len, r.curves), default=0)} epoch(s)"
    title = f"{entry.id}: {_short(cand.text, 90)}  ({score})"
    first = (entry.config.get("seed", 0) if r.first_seed is None else r.first_seed) or 0
    labels = [f"seed {first + k}" for k in range(len(r.curves))]
    if stability == _LOOK_UP:
        stability = _stability_of(entry, storage)
    return show_figure(cand, curves=r.curves, curve_labels=labels, metric=r.metric or "score",
                       learned=r.learned_params, title=title, stability=stability)


def _stability_of(entry, storage: str | None) -> str | None:
    """The leaderboard's stability flag of a stored run (relative to its search's references)."""
    ranked = leaderboard(storage, entry.search)
    row = ranked[ranked["id"] == entry.id]
    return row.iloc[0]["stability"] if len(row) else None


def default_png_name(ref) -> str:
    """A file name for ``show``'s picture of ``ref``: ``crrelu.png``, ``SEARCH-12.png``, ..."""
    text = str(getattr(ref, "text", ref)).strip()
    if is_stored_id(text) or text.replace("-", "").replace("_", "").isalnum():
        stem = text
    else:
        stem = "candidate-" + parse(text).key
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in stem)
    return safe + ".png"
