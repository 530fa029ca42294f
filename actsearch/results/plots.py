"""Pictures of candidates: shape and derivative, learning curves beside the best
reference's, training loss with where it diverged, learned shapes per layer; several
candidates overlaid coloured by score (:func:`compare_figure`); a search's scores
against its confirmation's (:func:`confirmation_figure`); score against cost with the
Pareto front (:func:`front_figure`).

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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from ..symbolic.expr import Candidate, parse
from .files import write_files
from .leaderboard import leaderboard
from .names import is_stored_id, resolve
from .statistics import TAIL_EPOCHS, tail_stats

__all__ = [
    "evaluate", "shape_figure", "show_figure", "progress_figure", "compare_figure", "confirmation_figure",
    "front_figure",
    "Picture", "picture_for", "compare_picture", "figure_for", "save_png", "png_bytes", "default_png_name", "X_RANGE",
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
    """A figure of ``panels`` axes: one row up to four, else rows of three."""
    rows, cols = (1, panels) if panels <= 4 else (math.ceil(panels / 3), 3)
    fig = Figure(figsize=(5 * cols, 4 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax in axes[panels:]:
        fig.delaxes(ax)
    return fig, axes[:panels]


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
    losses: Sequence[Sequence[float]] = (),
    reference: tuple[str, Sequence[Sequence[float]]] | None = None,
    failed: str | None = None,
    failed_at: int | None = None,
) -> Figure:
    """Shape and derivative, plus learning curves, training loss and per-layer learned
    shapes when given.

    Args:
        candidate: what to draw.
        curves: one metric curve per run (e.g. per seed), in reporting order.
        curve_labels: legend entries for ``curves`` (default ``seed 0, seed 1, ...``).
        metric: the curves' metric name (y label).
        learned: learned parameter values, one mapping per activation layer; drawn
            against the initial shape when the candidate has parameters.
        stability: the leaderboard's flag (``unstable``, ``not converged``), named in
            the learning curves' title when it is not ``stable``.
        losses: the training loss per epoch, one list per run: a log-scale panel.
        reference: ``(name, curves)`` of the best reference trained on the same
            task: its mean curve is drawn on the learning curves.
        failed: how the last run ended when it did not finish (``diverged``,
            ``nan``, ...): marked where its curves stop.
        failed_at: the epoch it failed in (default: the one after its curves end).

    The learning curves shade the last epochs that the leaderboard's ``tail std``
    reads and give each seed's standard deviation over them in the legend.
    """
    curves = [list(c) for c in curves if len(c)]
    losses = [list(c) for c in losses if len(c)]
    layers = [dict(v) for v in learned] if candidate.params else []
    panels = 2 + bool(curves) + bool(losses) + bool(layers)
    fig, axes = _figure(panels)
    _shape_axes(axes[0], axes[1], candidate, candidate.name or "candidate")
    i = 2
    if curves:
        _curves_axes(axes[i], curves, curve_labels, metric, stability, reference, failed, failed_at)
        i += 1
    if losses:
        _loss_axes(axes[i], losses, curve_labels, failed, failed_at)
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


def _mean_curve(curves) -> np.ndarray:
    """The mean over runs at each epoch that every run reached."""
    n = min(len(c) for c in curves)
    return np.mean([np.asarray(c[:n], dtype=float) for c in curves], axis=0)


def _curves_axes(ax, curves, labels, metric: str, stability: str | None, reference=None,
                 failed: str | None = None, failed_at: int | None = None) -> None:
    labels = list(labels) if labels else [f"seed {k}" for k in range(len(curves))]
    if reference is not None and any(len(c) for c in reference[1]):
        name, ref_curves = reference[0], [c for c in reference[1] if len(c)]
        mean = _mean_curve(ref_curves)
        ax.plot(range(1, len(mean) + 1), mean, color="k", ls="--", lw=1.3, zorder=3,
                label=f"{name} (best reference, mean of {len(ref_curves)})")
    longest = max(len(c) for c in curves)
    tail = min(TAIL_EPOCHS, longest)
    if longest >= 3:  # the window the leaderboard's tail std reads
        ax.axvspan(longest - tail + 0.5, longest + 0.5, color="0.92", zorder=0, lw=0)
    for k, c in enumerate(curves):
        std = tail_stats([c]).std
        label = labels[k] if math.isnan(std) else f"{labels[k]} (last {min(tail, len(c))}: ±{std:.3f})"
        ax.plot(range(1, len(c) + 1), c, marker="o" if len(c) < 20 else None, ms=3, lw=1.5, label=label)
    if failed:  # the last run stopped here: where its curve ends, with its best value before
        last = curves[-1]
        best = int(np.nanargmax(last))
        at = failed_at or len(last) + 1
        ax.axvline(at, color="C3", ls=":", lw=1.5, label=f"{failed} at epoch {at}")
        ax.plot([best + 1], [last[best]], marker="*", ms=11, color="C3", ls="none",
                label=f"best before: {last[best]:.4f} (epoch {best + 1})")
    flagged = isinstance(stability, str) and stability != "stable"
    if failed:
        ax.set_title(f"learning curves: {failed}", color="C3")
    elif flagged:
        ax.set_title(f"learning curves: {stability}", color="C3")
    else:
        ax.set_title("learning curves")
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)


def _loss_axes(ax, losses, labels, failed: str | None, failed_at: int | None = None) -> None:
    """Training loss per epoch (log scale); a run that did not finish gets a cross
    where it stopped."""
    labels = list(labels) if labels else [f"seed {k}" for k in range(len(losses))]
    positive = True
    for k, c in enumerate(losses):
        values = np.asarray(c, dtype=float)
        positive &= bool((values[np.isfinite(values)] > 0).all())
        ax.plot(range(1, len(c) + 1), values, marker="o" if len(c) < 20 else None, ms=3, lw=1.5,
                label=labels[k] if k < len(labels) else f"run {k}")
    if failed:
        last = np.asarray(losses[-1], dtype=float)
        finite = np.flatnonzero(np.isfinite(last))
        y = last[finite[-1]] if len(finite) else 1.0
        at = failed_at or len(last) + 1
        ax.plot([at], [y], marker="X", ms=12, color="C3", ls="none", label=f"{failed} at epoch {at}")
        ax.annotate(failed, (at, y), textcoords="offset points", xytext=(-8, 10), color="C3", fontsize=9, ha="right")
    if positive:
        ax.set_yscale("log")
    ax.set_title("training loss", color="C3" if failed else "black")
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
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
#: statuses of a run that stopped on its own before the end (its curves end where it failed)
_FAILED = ("diverged", "nan", "error", "timeout")


@dataclass
class Picture:
    """A figure and what it shows, one line per panel (what ``show`` prints)."""

    figure: Figure
    drawn: list[str] = field(default_factory=list)


def figure_for(ref, *, storage: str | None = None, search: str | None = None,
               stability: str | None = _LOOK_UP) -> Figure:
    """The ``show`` figure of a stored run (``SEARCH:NUMBER`` or key), preset, formula or
    candidate (:func:`picture_for`)."""
    return picture_for(ref, storage=storage, search=search, stability=stability).figure


def picture_for(ref, *, storage: str | None = None, search: str | None = None,
                stability: str | None = _LOOK_UP) -> Picture:
    """The ``show`` picture of ``ref`` and what it draws.

    Stored candidates add the learning curves of their runs (one per seed) beside the
    mean curve of the best reference of their search, their training loss (a run that
    diverged is marked where it stopped) and, for candidates with parameters, the
    shape each layer learned against the initial one.  Their leaderboard stability
    flag is looked up unless ``stability`` gives it.
    """
    resolved = resolve(ref, storage=storage, search=search)
    cand = resolved.candidate
    drawn = ["f(x) and f'(x) on [-5, 5] beside relu and gelu"]
    if resolved.record is None:
        return Picture(show_figure(cand), drawn)
    entry = resolved.record
    r = entry.result
    score = f"{r.metric or 'score'} {r.score:.4f} ± {r.spread:.4f}" if r.ok else r.status
    if r.status == "pruned":
        score += f", stopped early after {max(map(len, r.curves), default=0)} epoch(s)"
    title = f"{entry.id}: {_short(cand.text, 90)}  ({score})"
    first = (entry.config.get("seed", 0) if r.first_seed is None else r.first_seed) or 0
    labels = [f"seed {first + k}" for k in range(max(len(r.curves), len(r.loss_curves)))]
    looked_up, reference = _context(entry, storage)
    if stability == _LOOK_UP:
        stability = looked_up
    failed = r.status if r.status in _FAILED and (r.curves or r.loss_curves) else None
    found = re.search(r"at epoch (\d+)", r.message or "")
    curves = [c for c in r.curves if len(c)]
    failed_at = int(found.group(1)) if failed and found else (len(curves[-1]) + 1 if failed and curves else None)
    if curves:
        line = f"learning curves ({r.metric or 'score'}) of {len(curves)} run(s), the last {TAIL_EPOCHS} epochs shaded"
        if reference is not None:
            line += f", beside {reference[0]} (the best reference of {entry.search}, mean of its runs)"
        if failed:
            line += f"; {failed} at epoch {failed_at}, its best value before starred"
        drawn.append(line)
    if any(len(c) for c in r.loss_curves):
        drawn.append("training loss per epoch" + (f", {failed} marked where the run stopped" if failed else ""))
    if cand.params and r.learned_params:
        drawn.append(f"learned shape per layer ({len(r.learned_params)} layer(s)) against the initial one")
    fig = show_figure(cand, curves=r.curves, curve_labels=labels, metric=r.metric or "score",
                      learned=r.learned_params, title=title, stability=stability, losses=r.loss_curves,
                      reference=reference, failed=failed, failed_at=failed_at)
    return Picture(fig, drawn)


def _context(entry, storage: str | None):
    """The leaderboard's stability flag of a stored run and ``(name, curves)`` of the
    best reference of its search on its task (None where there is none)."""
    ranked = leaderboard(storage, entry.search)
    row = ranked[ranked["id"] == entry.id]
    flag = row.iloc[0]["stability"] if len(row) else None
    refs = ranked[ranked["baseline"].notna() & (ranked["status"] == "ok") & (ranked["task"] == entry.task)]
    if len(row) and isinstance(row.iloc[0]["gain_vs"], str):
        refs = refs[refs["baseline"] == row.iloc[0]["gain_vs"]]
    if not len(refs) or refs.iloc[0]["id"] == entry.id:
        return flag, None
    best = resolve(refs.iloc[0]["id"], storage=storage).record
    return flag, (refs.iloc[0]["baseline"], best.result.curves)


def compare_figure(items: Sequence[tuple[str, Candidate, float | None]], metric: str = "score",
                   title: str = "") -> Figure:
    """f(x) and f'(x) of several candidates, overlaid and coloured by score (a colour
    bar; unscored ones grey), relu and gelu dashed; ``items``: ``(label, candidate, score)``."""
    fig, (ax_f, ax_d) = _figure(2)
    fig.set_size_inches(12, 4.8)
    scores = [s for _, _, s in items if s is not None and math.isfinite(s)]
    lo, hi = (min(scores), max(scores)) if scores else (0.0, 1.0)
    norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
    cmap = matplotlib.colormaps["viridis"]
    ys, ds = [], []
    for name, style in (("relu", dict(color="0.55", ls="--")), ("gelu", dict(color="0.35", ls=":"))):
        x, y, d = evaluate(_reference(name))
        ax_f.plot(x, y, lw=1.2, label=name, **style)
        ax_d.plot(x, d, lw=1.2, **style)
        ys.append(y)
        ds.append(d)
    # the best on top: drawn last
    order = sorted(items, key=lambda it: -math.inf if it[2] is None or not math.isfinite(it[2]) else it[2])
    for label, cand, score in order:
        x, y, d = evaluate(cand)
        color = "0.75" if score is None or not math.isfinite(score) else cmap(norm(score))
        shown = f"{label} ({score:.4f})" if score is not None and math.isfinite(score) else label
        ax_f.plot(x, y, color=color, lw=1.6, label=shown if len(items) <= 8 else None)
        ax_d.plot(x, d, color=color, lw=1.6)
        ys.append(y)
        ds.append(d)
    _clip_limits(ax_f, ys)
    _clip_limits(ax_d, ds)
    for ax, name in ((ax_f, "f(x)"), (ax_d, "f'(x)")):
        ax.axhline(0, color="0.85", lw=0.8, zorder=0)
        ax.axvline(0, color="0.85", lw=0.8, zorder=0)
        ax.set_xlim(*X_RANGE)
        ax.set_xlabel("x")
        ax.set_title(name)
    ax_f.legend(fontsize=7, loc="upper left")
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=[ax_f, ax_d], shrink=0.9)
    bar.set_label(metric)
    fig.suptitle(title or f"{len(items)} candidates coloured by {metric}", fontsize=10)
    return fig


def compare_picture(refs: Sequence, *, storage: str | None = None, search: str | None = None) -> Picture:
    """:func:`compare_figure` of what ``refs`` name (stored runs coloured by their score)."""
    items, metric = [], "score"
    for ref in refs:
        found = resolve(ref, storage=storage, search=search)
        r = found.record.result if found.record is not None else None
        score = r.score if r is not None and r.ok else None
        metric = (r.metric if r is not None and r.metric else metric)
        label = found.record.id if found.record is not None else str(ref)
        if label != found.candidate.text:
            label += f" {_short(found.candidate.text, 30)}"
        items.append((label, found.candidate, score))
    scored = sum(s is not None for _, _, s in items)
    drawn = [f"f(x) and f'(x) of {len(items)} candidates on [-5, 5], coloured by {metric} "
             f"({scored} scored; unscored in grey), beside relu and gelu"]
    return Picture(compare_figure(items, metric), drawn)


def confirmation_figure(rows: Sequence[tuple[str, float, float, bool | None]], metric: str = "score",
                        title: str = "") -> Figure:
    """Each candidate's score in its search (x) against its score on fresh seeds (y),
    the diagonal y = x: points below it did worse on fresh seeds (the winner's
    curse).  ``rows``: ``(label, search score, confirmation score, confirmed)``;
    ``confirmed`` None for a reference (grey square)."""
    fig, (ax,) = _figure(1)
    fig.set_size_inches(6.5, 5.5)
    xs = [x for _, x, _, _ in rows] + [y for _, _, y, _ in rows]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    pad = 0.1 * max(hi - lo, 1e-3)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.7", ls="--", lw=1, label="same score")
    styles = {True: dict(color="C2", marker="o", label="confirmed"),
              False: dict(color="C3", marker="o", label="not confirmed"),
              None: dict(color="0.5", marker="s", label="reference")}
    shown = set()
    for label, x, y, confirmed in rows:
        style = dict(styles[confirmed])
        if confirmed in shown:
            style.pop("label")
        shown.add(confirmed)
        ax.plot([x], [y], ls="none", ms=8, **style)
        ax.annotate(_short(label, 28), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(f"{metric} in the search (its seeds)")
    ax.set_ylabel(f"{metric} on fresh seeds")
    ax.set_title(title or "search against confirmation", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return fig


def front_figure(points: Sequence[tuple[str, float, float, bool]], metric: str = "score",
                 mode: str | None = "max", title: str = "") -> Figure:
    """Score (y) against cost (x, the formula's weighted operation count) of every
    completed candidate, the Pareto front highlighted, joined as a staircase and
    labelled.  ``points``: ``(label, cost, score, on the front)``; ``mode`` "min" when
    lower scores are better (the staircase then steps down)."""
    fig, (ax,) = _figure(1)
    fig.set_size_inches(7.5, 5.5)
    off = [(c, y) for _, c, y, on in points if not on]
    on = sorted((c, y, label) for label, c, y, front in points if front)
    if off:
        ax.plot([c for c, _ in off], [y for _, y in off], ls="none", marker="o", ms=5, color="0.65",
                label="dominated (a cheaper candidate scores as well)")
    if on:
        # the front as a staircase: each step holds its score until the next, dearer point improves on it
        ax.step([c for c, _, _ in on], [y for _, y, _ in on], where="post", color="C3", lw=1.2, alpha=0.7)
        ax.plot([c for c, _, _ in on], [y for _, y, _ in on], ls="none", marker="o", ms=8, color="C3",
                label="Pareto front")
        labels: dict[tuple[float, float], list[str]] = {}
        for c, y, label in on:  # candidates at one point share one label
            labels.setdefault((c, y), []).append(_short(label, 28))
        right = max(c for _, c, _, _ in points)
        for k, ((c, y), names) in enumerate(labels.items()):
            far = c > 0.85 * right and k > 0  # near the right edge: written leftwards
            # neighbours on the staircase alternate above and below their point, so close ones do not overlap
            up = (k % 2 == 0) != (mode == "min")
            ax.annotate(" / ".join(names), (c, y), textcoords="offset points", fontsize=8,
                        xytext=(-6 if far else 6, 5 if up else -12), ha="right" if far else "left")
    ax.set_xlabel("cost (weighted operations per element)")
    ax.set_ylabel(f"{metric} ({'lower' if mode == 'min' else 'higher'} is better)")
    ax.set_title(title or "score against cost", fontsize=10)
    ax.legend(fontsize=8, loc="lower right" if mode != "min" else "upper right")
    return fig


def default_png_name(ref) -> str:
    """A file name for ``show``'s picture of ``ref``: ``crrelu.png``, ``SEARCH-12.png``, ..."""
    text = str(getattr(ref, "text", ref)).strip()
    if is_stored_id(text) or text.replace("-", "").replace("_", "").isalnum():
        stem = text
    else:
        stem = "candidate-" + parse(text).key
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in stem)
    return safe + ".png"
