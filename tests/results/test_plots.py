"""Pictures: real PNG files with content; the plotted derivative is the derivative."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib import image as mpimg

import actsearch
from actsearch import cli
from actsearch.results.plots import evaluate, png_bytes, progress_figure, save_png, shape_figure, show_figure

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
    capsys.readouterr()
    assert cli.main(["show", "x*erf(x)"]) == 0
    out = capsys.readouterr().out.splitlines()
    written = out[0].removeprefix("wrote ").removesuffix(":")
    _assert_real_png(tmp_path / written)
    assert out[1] == "  f(x) and f'(x) on [-5, 5] beside relu and gelu"  # what it drew
    assert cli.main(["show", "x*erf(x)", "--out", str(tmp_path / "f.jpg")]) == 2
    assert cli.main(["show", "x*", "--out", str(out)]) == 2


def test_stored_learning_curves_are_labelled_with_their_training_seeds(tmp_path):
    from actsearch.results.plots import figure_for
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


# -- instability made visible; --out that cannot be written -------------------------
def _read_only_folder(tmp_path):
    """A folder this process cannot write: a chmod'ed one, or /proc where root ignores modes."""
    import os

    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):
        return folder
    if os.path.isdir("/proc"):
        return __import__("pathlib").Path("/proc")
    pytest.skip("no read-only folder available to this user")


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("actsearch: error:") and len(err.strip().splitlines()) == 1, err
    return err


def test_stored_unstable_run_shows_its_swings(tmp_path):
    from actsearch.results.plots import figure_for
    from actsearch.result import Result
    from actsearch.store import Store

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = Store(url).open_search("swings", {"task": "digits", "epochs": 8, "seeds": 2, "seed": 0})
    runs = {"relu(x)": [[0.5, 0.6, 0.7, 0.8, 0.81, 0.8, 0.81, 0.8]] * 2,
            "x**2*softsign(x)": [[0.5, 0.6, 0.7, 0.9, 0.6, 0.9, 0.6, 0.9], [0.5, 0.6, 0.7, 0.8, 0.7, 0.8, 0.7, 0.8]]}
    for text, curves in runs.items():
        c = actsearch.parse(text)
        s.record(Result(key=c.key, text=c.text, score=0.85, seed_scores=[c_[-1] for c_ in curves], curves=curves,
                        task="digits", fingerprint=c.fingerprint(), epochs=8, first_seed=0))
    fig = figure_for("swings:1", storage=url)
    ax = next(a for a in fig.axes if a.get_title().startswith("learning curves"))
    assert ax.get_title() == "learning curves: unstable"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    # the standard deviation of each seed's last five epochs, written out
    for seed, tail in enumerate(([0.7, 0.9, 0.6, 0.9, 0.6, 0.9][1:], [0.7, 0.8, 0.7, 0.8, 0.7, 0.8][1:])):
        mean = sum(tail) / 5
        std = math.sqrt(sum((v - mean) ** 2 for v in tail) / 5)
        assert f"seed {seed} (last 5: ±{std:.3f})" in legend
    (shade,) = ax.patches  # the last five epochs, 4 to 8
    # a Rectangle in newer matplotlib, a Polygon in older ones
    xs = [shade.get_x(), shade.get_x() + shade.get_width()] if hasattr(shade, "get_width") else [
        x for x, _ in shade.get_xy()]
    assert (min(xs), max(xs)) == pytest.approx((3.5, 8.5))
    calm = next(a for a in figure_for("swings:0", storage=url).axes if a.get_title().startswith("learning curves"))
    assert calm.get_title() == "learning curves"


def test_progress_figure_keeps_runs_stopped_early_out_of_the_best():
    fig = progress_figure([0, 1, 3], [0.5, 0.7, 0.6], failed=[4], pruned=[(2, 0.95)])
    (ax,) = fig.axes
    (best,) = ax.lines
    assert max(best.get_ydata()) == pytest.approx(0.7)  # the pruned 0.95 is not "best so far"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "stopped early" in labels


def test_report_out_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from actsearch.result import Result
    from actsearch.store import Store

    monkeypatch.setattr(cli, "COMMAND_MODULES", ["report", "show"])
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    c = actsearch.parse("x*erf(x)")
    Store(url).open_search("s", {"task": "digits", "epochs": 2, "seeds": 1}).record(
        Result(key=c.key, text=c.text, score=0.6, seed_scores=[0.6], curves=[[0.5, 0.6]], task="digits"))
    # the CSV's place is taken by a folder: the page must not be written alone
    half = tmp_path / "half"
    (half / "leaderboard.csv").mkdir(parents=True)
    assert cli.main(["report", "--storage", url, "--out", str(half)]) == 2
    assert "leaderboard.csv" in _one_line_error(capsys)
    assert sorted(p.name for p in half.iterdir()) == ["leaderboard.csv"]
    # a read-only folder, and a folder to create inside one
    locked = _read_only_folder(tmp_path)
    for out in (locked, locked / "new"):
        before = sorted(p.name for p in locked.iterdir()) if locked.name == "locked" else None
        assert cli.main(["report", "--storage", url, "--out", str(out)]) == 2
        _one_line_error(capsys)
        if before is not None:
            assert sorted(p.name for p in locked.iterdir()) == before
    # onto a file, and a search that does not exist: no folder left behind
    (tmp_path / "file").write_text("keep")
    assert cli.main(["report", "--storage", url, "--out", str(tmp_path / "file")]) == 2
    _one_line_error(capsys)
    assert (tmp_path / "file").read_text() == "keep"
    assert cli.main(["report", "--storage", url, "--name", "zzz", "--out", str(tmp_path / "new" / "rep")]) == 2
    _one_line_error(capsys)
    assert not (tmp_path / "new").exists()
    # show onto a folder named like a picture
    (tmp_path / "pic.png").mkdir()
    assert cli.main(["show", "x*erf(x)", "--out", str(tmp_path / "pic.png")]) == 2
    assert "is a folder" in _one_line_error(capsys)
    assert cli.main(["report", "--storage", url, "--out", str(tmp_path / "ok")]) == 0
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["index.html", "leaderboard.csv"]


# -- pictures where people look: the best reference beside, divergence marked, overlays ----
def _stored_demo(tmp_path):
    from actsearch.result import Result
    from actsearch.store import Store

    url = f"sqlite:///{tmp_path / 'pics.sqlite'}"
    s = Store(url).open_search("pics", {"task": "digits", "epochs": 6, "seeds": 2, "seed": 0})

    def rec(text, curves, losses, status="ok", message=""):
        c = actsearch.parse(text)
        finals = [cv[-1] for cv in curves]
        s.record(Result(key=c.key, text=c.text, status=status, score=float(np.mean(finals)) if status == "ok" else None,
                        seed_scores=finals if status == "ok" else [], curves=curves, loss_curves=losses,
                        task="digits", fingerprint=c.fingerprint(), epochs=6, seeds=2, first_seed=0,
                        metric="val_accuracy", message=message))

    steady = [0.3, 0.5, 0.6, 0.65, 0.66, 0.67]
    rec("relu(x)", [steady, [v - 0.02 for v in steady]], [[1.0, 0.5, 0.3, 0.2, 0.1, 0.05]] * 2)
    rec("gelu(x)", [[v - 0.05 for v in steady]] * 2, [[1.0, 0.5, 0.3, 0.2, 0.1, 0.05]] * 2)
    rec("x*erf(x)", [[v + 0.02 for v in steady]] * 2, [[1.0, 0.4, 0.2, 0.1, 0.05, 0.03]] * 2)
    # the PolyReLU of the issue: ahead of every reference, then its loss blew up in epoch 5
    rec("x**3 + relu(x)", [[0.4, 0.6, 0.73, 0.7]], [[0.9, 0.4, 0.2, 9.0]], status="diverged",
        message="training loss exploded to 3.1e+06 at epoch 5")
    return url, steady


def test_a_stored_run_is_drawn_beside_the_best_reference_and_where_it_diverged(tmp_path):
    from actsearch.results.plots import picture_for

    url, steady = _stored_demo(tmp_path)
    picture = picture_for("pics:3", storage=url)
    curves_ax, loss_ax = picture.figure.axes[2], picture.figure.axes[3]
    reference = next(line for line in curves_ax.lines if line.get_label().startswith("relu (best reference"))
    expected = np.mean([steady, [v - 0.02 for v in steady]], axis=0)  # relu's two seeds, averaged by hand
    assert np.allclose(reference.get_ydata(), expected)
    assert curves_ax.get_title() == "learning curves: diverged"
    marker = next(line for line in loss_ax.lines if line.get_label() == "diverged at epoch 5")
    assert list(marker.get_xdata()) == [5] and list(marker.get_ydata()) == [9.0]
    star = next(line for line in curves_ax.lines if line.get_label().startswith("best before: 0.7300"))
    assert list(star.get_xdata()) == [3]
    assert loss_ax.get_title() == "training loss" and loss_ax.get_yscale() == "log"
    assert any("diverged at epoch 5" in line for line in picture.drawn)
    _assert_real_png(save_png(picture.figure, tmp_path / "diverged.png"), min_width=1600)
    # a reference is not drawn beside itself
    assert not any("best reference" in line.get_label() for line in picture_for("pics:0", storage=url)
                   .figure.axes[2].lines)


def test_compare_colours_each_candidate_by_its_score(tmp_path, monkeypatch, capsys):
    from actsearch.results.plots import compare_picture

    url, _ = _stored_demo(tmp_path)
    picture = compare_picture(["pics:0", "pics:1", "pics:2", "pics:3", "crrelu"], storage=url)
    ax = picture.figure.axes[0]
    drawn = {line.get_label(): line for line in ax.lines}
    scores = {"pics:0 relu(x)": 0.66, "pics:1 gelu(x)": 0.62, "pics:2 x*erf(x)": 0.69}
    greens = {label: drawn[f"{label} ({score:.4f})"].get_color() for label, score in scores.items()}
    # viridis runs from purple (low) to yellow (high): the green channel rises with the score
    ordered = sorted(scores, key=scores.get)
    assert [greens[k][1] for k in ordered] == sorted(greens[k][1] for k in ordered)
    assert drawn["pics:3 x**3 + relu(x)"].get_color() == "0.75"  # failed: no score, grey
    assert picture.figure.axes[-1].get_ylabel() == "val_accuracy"  # the colour bar
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["show"])
    out = tmp_path / "cmp.png"
    assert cli.main(["show", "--compare", "pics:0", "pics:2", "x*tanh(x)", "--storage", url, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}:") and "of 3 candidates" in printed and "2 scored" in printed
    _assert_real_png(out)
    assert cli.main(["show", "pics:0", "--compare", "pics:2", "--storage", url]) == 2


def test_search_against_confirmation_puts_each_point_where_its_scores_are():
    from actsearch.results.plots import confirmation_figure

    fig = confirmation_figure([("x*tanh(x)", 0.68, 0.63, False), ("relu(x)", 0.64, 0.645, None),
                               ("x*erf(x)", 0.66, 0.67, True)])
    points = {line.get_label(): (line.get_xdata()[0], line.get_ydata()[0]) for line in fig.axes[0].lines
              if line.get_marker() in ("o", "s")}
    assert points["not confirmed"] == (0.68, 0.63) and points["confirmed"] == (0.66, 0.67)
    assert points["reference"] == (0.64, 0.645)
