"""Pictures: real PNG files with content; the plotted derivative is the derivative."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib import image as mpimg

import actsearch
from actsearch import cli
from actsearch.plots import evaluate, png_bytes, progress_figure, save_png, shape_figure, show_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_real_png(path, min_width=400):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000
    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= 200
    rgb = pixels[..., :3]
    assert float(rgb.var()) > 1e-3  # not a blank page
    # some pixels are clearly coloured (the curves), not only greys
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    assert float((spread > 0.2).mean()) > 1e-3
    return width, height


@pytest.mark.parametrize(
    "text",
    ["x*tanh(softplus(x))", "relu(x) + eps*x*exp(-x**2/2); eps=0.01", "abs(x)**0.5*sin(3*x)", "x*(1 + x)**(-1)"],
)
def test_derivative_matches_finite_differences(text):
    cand = actsearch.parse(text)
    x, y, dy = evaluate(cand)
    # central differences on the function values; skip points near kinks/poles
    h = x[1] - x[0]
    fd = (y[2:] - y[:-2]) / (2 * h)
    inner = dy[1:-1]
    ok = np.isfinite(fd) & np.isfinite(inner) & (np.abs(x[1:-1]) > 0.1) & (np.abs(x[1:-1] + 1) > 0.5)
    assert ok.sum() > 300
    assert np.allclose(inner[ok], fd[ok], rtol=2e-2, atol=2e-2)


def test_rowwise_candidate_curve_is_the_row_function():
    cand = actsearch.parse("rmsnorm(x)")
    x, y, dy = evaluate(cand)
    rms = math.sqrt(float(np.mean(x**2)) + 1e-6)
    assert np.allclose(y, x / rms)
    # diagonal of the Jacobian of z / rms(z): 1/rms - z_i^2 / (n rms^3)
    assert np.allclose(dy, 1 / rms - x**2 / (len(x) * rms**3))


def test_shape_figure_png(tmp_path):
    path = save_png(shape_figure(actsearch.parse("x*sigmoid(1.702*x)")), tmp_path / "shape.png")
    width, _ = _assert_real_png(path)
    assert width > 800  # two panels


def test_show_figure_with_curves_and_layers(tmp_path):
    cand = actsearch.parse("(a0 + a1*x + a2*x**2)/(1 + abs(b1)*abs(x)); a0=0.02, a1=0.5, a2=0.3, b1=0.2")
    fig = show_figure(
        cand,
        curves=[[0.2, 0.5, 0.7], [0.25, 0.45, 0.72]],
        metric="val_accuracy",
        learned=[{"a0": 0.0, "a1": 0.7, "a2": 0.1, "b1": 0.6}, {"a0": 0.1, "a1": 0.4, "a2": 0.5, "b1": 0.1}],
    )
    assert len(fig.axes) == 4
    assert fig.axes[2].get_title() == "learning curves" and len(fig.axes[2].lines) == 2
    assert fig.axes[3].get_title() == "learned shape per layer" and len(fig.axes[3].lines) == 3
    _assert_real_png(save_png(fig, tmp_path / "show.png"), min_width=1600)
    # no parameters: no learned panel even when given
    assert len(show_figure(actsearch.parse("relu(x)"), learned=[{"a": 1.0}]).axes) == 2


def test_small_learned_changes_drawn_as_differences():
    cand = actsearch.parse("relu(x) + eps*x*exp(-x**2/2); eps=0.01")
    fig = show_figure(cand, learned=[{"eps": 0.02}, {"eps": 0.03}])
    ax = fig.axes[2]
    assert ax.get_title() == "learned minus initial, per layer"
    x, y0, _ = evaluate(cand)
    _, y1, _ = evaluate(cand, {"eps": 0.03})
    assert np.allclose(ax.lines[1].get_ydata(), y1 - y0)


def test_non_finite_candidate_still_draws():
    fig = show_figure(actsearch.parse("log(x)"))  # nan below 0: gaps, no crash
    assert png_bytes(fig)[:8] == PNG_SIGNATURE


def test_progress_figure():
    data = png_bytes(progress_figure([0, 1, 2, 4], [0.5, 0.7, 0.6, 0.8], failed=[3], metric="acc"))
    assert data[:8] == PNG_SIGNATURE


def test_show_command_writes_png(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["show"])
    out = tmp_path / "f.png"
    assert cli.main(["show", "x*erf(x)", "--out", str(out)]) == 0
    _assert_real_png(out)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["show", "x*erf(x)"]) == 0
    written = capsys.readouterr().out.split()[-1]
    _assert_real_png(tmp_path / written)
    assert cli.main(["show", "x*erf(x)", "--out", str(tmp_path / "f.jpg")]) == 2
    assert cli.main(["show", "x*", "--out", str(out)]) == 2


def test_stored_learning_curves_are_labelled_with_their_training_seeds(tmp_path):
    from actsearch.plots import figure_for
    from actsearch.result import Result
    from actsearch.store import Store

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = Store(url).open_search("fresh", {"task": "digits", "epochs": 3, "seeds": 2, "seed": 5})
    c = actsearch.parse("x*erf(x)")
    s.record(Result(key=c.key, text=c.text, score=0.6, seed_scores=[0.5, 0.7], curves=[[0.1, 0.5], [0.2, 0.7]],
                    task="digits", fingerprint=c.fingerprint(), first_seed=5))
    fig = figure_for("fresh:0", storage=url)
    legends = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "seed 5" in legends and "seed 6" in legends and "seed 0" not in legends
