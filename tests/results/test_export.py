"""Exported modules: standalone (torch only), same numbers as the reference, trainable;
``load``; the swap helper; the ``export`` command."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import actsearch
from actsearch import cli
from actsearch.results.export import ExportError, Provenance, export, export_source, load
from actsearch.swap import swap_activations

# every whitelisted function, every Pow form the printer special-cases, keyword and
# clashing parameter names, row-wise rmsnorm and folded constants
FORMULAS = [
    "relu(x) + gelu(x) - silu(x) + swish(x)",
    "sigmoid(a*x)*x + softplus(x) - softsign(x); a=1.7",
    "elu(x) + selu(x) - leaky_relu(x)",
    "tanh(x)*exp(-x**2/2) + erf(x)",
    "log(1 + x**2) + sqrt(1 + x**2) + 1/sqrt(2 + x**2)",
    "abs(x) + sin(x) + cos(2*x) + atan(x) + arctan(3*x)",
    "sinh(x/2) + cosh(x/3) + asinh(x)",
    "max(x, 0.5*x, sin(x)) - min(x, 0) + max(x, b); b=-0.3",
    "(a0 + a1*x + a2*x**2 + a3*x**3)/(1 + abs(b1)*abs(x) + abs(b2)*x**2); a0=0.02, a1=0.5, a2=0.3, a3=0.01, b1=0.2, b2=0.05",
    "w0*rmsnorm(x**3) + w1*rmsnorm(x**2) + w2*rmsnorm(x) + b; w0=0.3333, w1=0.3333, w2=0.3334, b=0",
    "relu(x) + eps*x*exp(-x**2/2); eps=0.01",
    "2**x - abs(x)**1.5*relu(x) + x*(1 + x**2)**(-3) - 3*x/(x**2 + 1)**2 + (1 + x**2)**a; a=0.75",
    "lambda*x + F*tanh(x) + torch*relu(x) + self*x**2; lambda=0.5, F=0.25, torch=1.5, self=0.1",
    "pi*x - exp(1)*x + relu(pi)*x/7",
    "w*x*sigmoid(beta*x); w=1.2, beta=-0.75",
]

# standalone check run in a fresh interpreter that cannot import actsearch
_CHILD = textwrap.dedent(
    """
    import doctest, importlib.util, json, sys
    sys.modules["actsearch"] = None  # ``import actsearch`` now raises ImportError
    import torch
    try:
        import actsearch
    except ImportError:
        pass
    else:
        raise SystemExit("actsearch was importable")
    cases = torch.load(sys.argv[1])
    out = {}
    for name, case in cases.items():
        spec = importlib.util.spec_from_file_location(name, case["path"])
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        cls = getattr(mod, mod.__all__[0])
        act = cls(dtype=torch.float64)
        x = case["x"].clone().requires_grad_(True)
        y = act(x)
        names = list(act.params)
        grads = torch.autograd.grad((y * case["w"]).sum(), [x] + [act.params[n] for n in names])
        # a few SGD steps of a small regression net using the activation
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), cls(), torch.nn.Linear(16, 1))
        inputs, target = torch.randn(64, 8), torch.randn(64, 1)
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        losses = []
        for _ in range(8):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(inputs), target)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        doc = doctest.testmod(mod)  # the example in the file's docstring runs as written
        out[name] = {"y": y.detach(), "dx": grads[0], "dp": dict(zip(names, grads[1:])), "losses": losses,
                     "doctest": (doc.attempted, doc.failed)}
    torch.save(out, sys.argv[2])
    print("imported without actsearch:", sorted(k for k, m in sys.modules.items() if k.startswith("actsearch") and m is not None))
    """
)


def _preset_names():
    try:
        from actsearch.registry import presets

        return sorted(presets())
    except ImportError:
        return []


def _run_standalone(tmp_path: Path, candidates: dict[str, actsearch.Candidate]):
    """Export each candidate, evaluate the files in a fresh interpreter, return (refs, results)."""
    gen = torch.Generator().manual_seed(7)
    cases, refs = {}, {}
    for i, (label, cand) in enumerate(candidates.items()):
        name = f"act_{i}"
        path = tmp_path / f"{name}.py"
        export(cand, path)
        x = torch.randn(4, 16, generator=gen, dtype=torch.float64) * 1.5
        w = torch.randn(4, 16, generator=gen, dtype=torch.float64)  # a non-trivial upstream gradient
        cases[name] = {"path": str(path), "x": x, "w": w}
        ref = cand.module(dtype=torch.float64)
        xr = x.clone().requires_grad_(True)
        yr = ref(xr)
        names = list(ref.params)
        grads = torch.autograd.grad((yr * w).sum(), [xr] + [ref.params[n] for n in names], allow_unused=True)
        refs[name] = (label, yr.detach(), grads[0], dict(zip(names, grads[1:])))
    torch.save(cases, tmp_path / "cases.pt")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(
        [sys.executable, "-I", "-c", _CHILD, str(tmp_path / "cases.pt"), str(tmp_path / "out.pt")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "imported without actsearch: []" in proc.stdout
    return refs, torch.load(tmp_path / "out.pt")


def _check_same(refs, results):
    for name, (label, y, dx, dp) in refs.items():
        got = results[name]
        torch.testing.assert_close(got["y"], y, rtol=1e-6, atol=1e-6, msg=lambda m: f"{label}: output {m}")
        torch.testing.assert_close(got["dx"], dx, rtol=1e-6, atol=1e-6, msg=lambda m: f"{label}: d/dx {m}")
        assert set(got["dp"]) == set(dp), label
        for k, g in dp.items():
            g = torch.zeros((), dtype=torch.float64) if g is None else g
            torch.testing.assert_close(got["dp"][k], g, rtol=1e-6, atol=1e-6, msg=lambda m: f"{label}: d/d{k} {m}")
        assert got["doctest"][0] > 0 and got["doctest"][1] == 0, (label, got["doctest"])
        losses = got["losses"]
        assert all(math.isfinite(v) for v in losses), (label, losses)
        assert losses[-1] < losses[0], (label, losses)


@pytest.mark.slow
def test_formulas_standalone_match_reference_and_train(tmp_path):
    candidates = {t: actsearch.parse(t) for t in FORMULAS}
    refs, results = _run_standalone(tmp_path, candidates)
    _check_same(refs, results)


@pytest.mark.slow
def test_presets_standalone_match_reference_and_train(tmp_path):
    names = _preset_names()
    if not names:
        pytest.skip("actsearch.presets not available in this checkout")
    refs, results = _run_standalone(tmp_path, {n: actsearch.preset(n) for n in names})
    _check_same(refs, results)


def test_exported_crrelu_matches_formula_written_out(tmp_path):
    # independent of the reference module: CRReLU written out with math
    path = export("relu(x) + eps*x*exp(-x**2/2); eps=0.01", tmp_path / "cr.py")
    act = load(path, dtype=torch.float64)
    xs = [-3.0, -1.0, -0.2, 0.3, 1.0, 2.5]
    y = act(torch.tensor(xs, dtype=torch.float64))
    expected = [max(v, 0.0) + 0.01 * v * math.exp(-v * v / 2) for v in xs]
    assert y.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # parameter gradient d/deps = sum x exp(-x^2/2), by hand
    y.sum().backward()
    assert act.params["eps"].grad.item() == pytest.approx(sum(v * math.exp(-v * v / 2) for v in xs), rel=1e-12)


def test_rmsnorm_export_is_row_wise(tmp_path):
    act = load(export("rmsnorm(x)", tmp_path / "n.py"), dtype=torch.float64)
    x = torch.tensor([[1.0, 2.0, 3.0], [10.0, 0.0, -10.0]], dtype=torch.float64)
    for row, out in zip(x.tolist(), act(x).tolist()):
        rms = math.sqrt(sum(v * v for v in row) / len(row) + 1e-6)
        assert out == pytest.approx([v / rms for v in row], rel=1e-12)


def test_learned_values_per_layer(tmp_path):
    cand = actsearch.parse("a*x + relu(x); a=0.1")
    prov = Provenance(search="s", trial=4, score=0.9, spread=0.01, seeds=3, learned=[{"a": 0.25}, {"a": -0.5}])
    path = tmp_path / "learned.py"
    path.write_text(export_source(cand, provenance=prov, learned=True))
    text = path.read_text()
    assert "search 's', trial 4" in text and "0.9000 +/- 0.0100 over 3 seeds" in text
    x = torch.tensor([-2.0, 3.0])
    assert load(path)(x).tolist() == pytest.approx([-0.2, 3.3])  # default: initial values
    assert load(path, layer=1)(x).tolist() == pytest.approx([1.0, 1.5])
    with pytest.raises(ValueError, match="layer"):
        load(path, layer=2)
    # all layers agree: the learned values become the defaults
    same = Provenance(search="s", learned=[{"a": 0.25}, {"a": 0.25}])
    path.write_text(export_source(cand, provenance=same, learned=True))
    assert load(path)(x).tolist() == pytest.approx([-0.5, 3.75])


def test_names_near_module_attributes_export_and_load(tmp_path):
    # names of nn.Module attributes are refused by the parser; these are not, and the
    # exported module holds them (self, torch, F shadow the file's own names)
    text = "forwards*x + params*relu(x) + self*x**2 + F*tanh(x) + Keys; forwards=0.5, params=2, self=0.1, F=0.3, Keys=-1"
    cand = actsearch.parse(text)
    act = load(export(cand, tmp_path / "near.py"), dtype=torch.float64)
    assert sorted(act.state_dict()) == sorted(f"params.{n}" for n in cand.params)
    xs = [-2.0, -0.5, 0.0, 1.5]
    y = act(torch.tensor(xs, dtype=torch.float64))
    want = [0.5 * v + 2 * max(v, 0.0) + 0.1 * v * v + 0.3 * math.tanh(v) - 1 for v in xs]
    assert y.tolist() == pytest.approx(want, rel=1e-12)
    act.to(torch.float32).train().eval()
    assert act(torch.tensor(xs)).tolist() == pytest.approx(want, rel=1e-6)
    with pytest.raises(actsearch.ExpressionError, match="clashes with the torch nn.Module attribute 'forward'"):
        export("forward*x; forward=1", tmp_path / "bad.py")


def test_export_errors_are_clear(tmp_path):
    cand = actsearch.parse("a*x; a=1")
    with pytest.raises(ExportError, match="no learned parameter values"):
        export_source(cand, learned=True)
    with pytest.raises(ExportError, match="nan"):
        export_source(cand, provenance=Provenance(search="s", learned=[{"a": float("nan")}]), learned=True)
    with pytest.raises(ExportError, match="identifier"):
        export_source(cand, class_name="not valid")
    with pytest.raises(ExportError, match="must end in .py"):
        export(cand, tmp_path / "a.txt")
    with pytest.raises(ExportError, match="no such file"):
        load(tmp_path / "missing.py")
    (tmp_path / "foreign.py").write_text("x = 1\n")
    with pytest.raises(ExportError, match="does not look like"):
        load(tmp_path / "foreign.py")
    with pytest.raises(actsearch.ExpressionError):
        load("x +* 2")


def test_load_formula_and_preset_give_reference_modules():
    m = load("x*sigmoid(x)")
    x = torch.linspace(-3, 3, 9)
    torch.testing.assert_close(m(x), x * torch.sigmoid(x))
    names = _preset_names()
    if names:
        ref = actsearch.preset(names[0])
        assert load(names[0]).candidate == ref


def test_export_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["export"])  # runs without the other commands' modules
    main = cli.main
    out = tmp_path / "my_act.py"
    assert main(["export", "relu(x) + eps*x*exp(-x**2/2); eps=0.01", "--out", str(out), "--class-name", "CR"]) == 0
    assert "class CR(nn.Module)" in out.read_text()
    assert "CR" in capsys.readouterr().out
    assert main(["export", "a*x; a=1", "--out", str(out), "--learned"]) == 2
    assert "no learned parameter values" in capsys.readouterr().err
    assert main(["export", "x +* 1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("actsearch: error:") and len(err.strip().splitlines()) == 1


def test_swap_replaces_relu_and_model_runs():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Tanh()), nn.Linear(8, 2)
    )
    shared = nn.ReLU()
    model.add_module("extra", nn.Sequential(shared, shared))  # one instance used twice
    cand = actsearch.parse("relu(x) + eps*x*exp(-x**2/2); eps=0.01")
    assert len(swap_activations(model, nn.ReLU, cand.module)) == 4
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    assert isinstance(model[2][2], nn.Tanh)
    acts = [m for m in model.modules() if isinstance(m, actsearch.CandidateModule)]
    assert len({id(m) for m in acts}) == 4  # a fresh module per place
    y = model[:4](torch.randn(5, 6))
    assert y.shape == (5, 2) and torch.isfinite(y).all()
    y.sum().backward()
    assert acts[0].params["eps"].grad is not None


def test_swap_passes_layer_index_and_matches_dtype(tmp_path):
    path = export_source(
        actsearch.parse("a*x + relu(x); a=0.1"),
        provenance=Provenance(search="s", learned=[{"a": 0.2}, {"a": 0.3}]),
        learned=True,
    )
    (tmp_path / "act.py").write_text(path)
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.ReLU()).double()
    assert len(swap_activations(model, nn.ReLU, lambda i: load(tmp_path / "act.py", layer=i))) == 2
    assert [model[1].params["a"].item(), model[3].params["a"].item()] == pytest.approx([0.2, 0.3])
    assert model[1].params["a"].dtype == torch.float64
    assert model(torch.randn(3, 2, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(actsearch.ActsearchError, match="not an nn.Module class"):
        swap_activations(model, "relu", nn.GELU)


@pytest.mark.slow
def test_search_space_samples_standalone(tmp_path):
    import numpy as np

    rng = np.random.default_rng(11)
    candidates = {}
    for name in actsearch.spaces():
        try:
            space = actsearch.space(name)
        except ImportError:  # a family not in this checkout yet
            continue
        for _ in range(3):
            cand = space.sample(rng)
            candidates[f"{name}: {cand.text}"] = cand
    if not candidates:
        pytest.skip("no search space available in this checkout")
    refs, results = _run_standalone(tmp_path, candidates)
    for name, (label, y, dx, dp) in refs.items():
        got = results[name]
        # sampled candidates may be NaN somewhere (e.g. poles): NaN must then match NaN
        torch.testing.assert_close(got["y"], y, rtol=1e-6, atol=1e-6, equal_nan=True, msg=lambda m: f"{label}: {m}")
        torch.testing.assert_close(got["dx"], dx, rtol=1e-6, atol=1e-6, equal_nan=True, msg=lambda m: f"{label}: {m}")


def test_export_out_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["export"])
    formula = "relu(x) + eps*x*exp(-x**2/2); eps=0.01"

    def refused(out):
        assert cli.main(["export", formula, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("actsearch: error:") and len(err.strip().splitlines()) == 1, err
        return err

    # onto a folder named like the file
    (tmp_path / "my_act.py").mkdir()
    assert "is a folder" in refused(tmp_path / "my_act.py")
    assert (tmp_path / "my_act.py").is_dir() and not any((tmp_path / "my_act.py").iterdir())
    # into a read-only folder (root ignores modes: /proc refuses new files to everyone)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):
        if not os.path.isdir("/proc"):
            pytest.skip("no read-only folder available to this user")
        locked = Path("/proc")
    before = sorted(p.name for p in locked.iterdir()) if locked != Path("/proc") else None
    assert str(locked / "my_act.py") in refused(locked / "my_act.py")
    if before is not None:
        assert sorted(p.name for p in locked.iterdir()) == before
    # a good path: the file alone, no temporary left beside it
    good = tmp_path / "good"
    good.mkdir()
    assert cli.main(["export", formula, "--out", str(good / "my_act.py")]) == 0
    assert [p.name for p in good.iterdir()] == ["my_act.py"]
    assert oct((good / "my_act.py").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert "class SearchedActivation" in (good / "my_act.py").read_text()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
