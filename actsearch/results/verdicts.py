"""A confirmation's verdict: did each candidate hold up on fresh seeds?

:func:`verdicts` reads a confirmation's leaderboard (:func:`~actsearch.results.leaderboard.leaderboard`
of the search ``confirm`` made) and gives one :class:`Verdict` per re-trained
candidate: its score in the search it was picked from, its score on the fresh seeds,
how it did seed by seed against the best reference, and whether it is
**confirmed**: better than that reference on the fresh seeds, with its p-value
corrected for the candidates tested together (Holm) below :data:`ALPHA`, and
converged (:func:`actsearch.scoring.converged`).

Example:
    >>> import pandas as pd
    >>> row = dict(id="s-confirm:3", formula="x*tanh(x)", search_id="s:6", search_score=0.681, score=0.635,
    ...            spread=0.01, seeds=5, gain=-0.005, gain_vs="silu", wins="2/5", p=0.41, p_holm=0.82,
    ...            converged=True, status="ok", baseline=None)
    >>> print(verdicts(pd.DataFrame([row]))[0].line())
    x*tanh(x): s:6 0.6810 -> s-confirm:3 0.6350 ± 0.0100 on 5 fresh seeds; against silu -0.0050, won 2/5, p 0.410, Holm 0.820: not confirmed (below silu)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .statistics import format_p

__all__ = ["Verdict", "verdicts", "few_seeds_warning", "ALPHA", "ENOUGH_SEEDS"]

#: the level a Holm-corrected p must be under for a candidate to count as confirmed
ALPHA = 0.05
#: fewer fresh seeds than this get a warning: a paired test on them says little
ENOUGH_SEEDS = 5


@dataclass
class Verdict:
    """One confirmed (or not) candidate; :meth:`line` is how ``confirm`` prints it."""

    formula: str
    id: str
    search_id: str | None
    search_score: float
    score: float
    spread: float
    seeds: int
    reference: str | None
    gain: float
    wins: str | None
    p: float
    p_holm: float
    converged: bool | None
    confirmed: bool
    reason: str

    def line(self) -> str:
        before = f"{self.search_id} {self.search_score:.4f}" if self.search_id else "(not in the search)"
        spread = f" ± {self.spread:.4f}" if self.seeds >= 2 else ""
        now = f"{self.id} {self.score:.4f}{spread} on {self.seeds} fresh seed{'s' if self.seeds != 1 else ''}"
        if self.reference is None or math.isnan(self.gain):
            against = "no reference to compare with"
        else:
            against = f"against {self.reference} {self.gain:+.4f}"
            if self.wins:
                against += f", won {self.wins}"
            if not math.isnan(self.p):
                against += f", p {format_p(self.p)}, Holm {format_p(self.p_holm)}"
        outcome = "CONFIRMED" if self.confirmed else f"not confirmed ({self.reason})"
        return f"{self.formula}: {before} -> {now}; {against}: {outcome}"


def _reason(gain: float, p_holm: float, is_converged, reference) -> str:
    """Why a candidate is not confirmed ("" when it is)."""
    if reference is None or math.isnan(gain):
        return "no reference trained on the same seeds"
    if is_converged is False:
        return "did not converge: its final training loss stays far above the references'"
    if gain <= 0:
        return f"below {reference}"
    if math.isnan(p_holm):
        return "no paired test: fewer than 2 seeds"
    if p_holm >= ALPHA:
        return f"Holm-corrected p {format_p(p_holm)} is not below {ALPHA:g}: the gain could be chance"
    return ""


def verdicts(ranked) -> list[Verdict]:
    """A :class:`Verdict` for each searched (non-reference) row of a confirmation's
    leaderboard ``ranked``, in its rank order."""
    out = []
    for _, row in ranked.iterrows():
        if isinstance(row.get("baseline"), str) or row.get("status") != "ok":
            continue
        reference = row.get("gain_vs") if isinstance(row.get("gain_vs"), str) else None
        gain, p_holm = float(row["gain"]), float(row["p_holm"])
        conv = row.get("converged")
        conv = None if conv is None or (isinstance(conv, float) and math.isnan(conv)) else bool(conv)
        reason = _reason(gain, p_holm, conv, reference)
        out.append(Verdict(
            formula=str(row["formula"]), id=str(row["id"]),
            search_id=row["search_id"] if isinstance(row.get("search_id"), str) else None,
            search_score=float(row["search_score"]) if row.get("search_score") is not None else math.nan,
            score=float(row["score"]), spread=float(row["spread"]), seeds=int(row["seeds"]), reference=reference,
            gain=gain, wins=row["wins"] if isinstance(row.get("wins"), str) else None, p=float(row["p"]),
            p_holm=p_holm, converged=conv, confirmed=not reason, reason=reason,
        ))
    return out


def few_seeds_warning(seeds: int) -> str:
    """The warning for a confirmation on fewer than :data:`ENOUGH_SEEDS` seeds ("" from there on)."""
    if seeds >= ENOUGH_SEEDS:
        return ""
    return (f"{seeds} fresh seeds: a paired test on fewer than {ENOUGH_SEEDS} has little power, and a small p "
            f"from {seeds} seeds that all moved the same way is weak evidence; use --seeds {ENOUGH_SEEDS} or more")
