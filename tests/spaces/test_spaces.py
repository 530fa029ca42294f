"""The search spaces: one parametrised suite over every family, then each family's
formulas against independent float64 references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import actsearch
from actsearch import ActsearchError, parse
from actsearch.search_spaces._catalog import Catalog, shape_of_tree, trees_in_shape
from actsearch.search_spaces._common import SearchSpaceError
from actsearch.search_spaces.grammar import SAFE_BINARY

# (space, options, finite): ``finite`` says every candidate is finite for every
# finite input (grammar with div/pow is not: poles and NaN are ordinary results)
CONFIGS = [
    ("rational", {}, True),
    ("rational", {"version": "B", "degrees": (4, 3), "target": "any"}, True),
    ("rational", {"version": "C", "degrees": "3,2", "target": "tanh", "jitter": 0.1}, True),
    ("rational", {"version": "B", "degrees": "3,2"}, True),
    ("rational", {"version": "N", "target": "swish"}, True),
    ("rational", {"version": "any", "degrees": "any", "target": "any"}, True),
    ("polynomial", {}, True),
    ("polynomial", {"kind": "polyrelu", "order": 2, "jitter": 0.2}, True),
    ("polynomial", {"kind": "polynorm", "order": 4, "jitter": 0.2}, True),
    ("polynomial", {"kind": "composition", "base": "x", "order": 5, "jitter": 0.2}, True),
    ("polynomial", {"order": 3, "jitter": 0.2}, True),
    ("polynomial", {"order": "any"}, True),
    ("entropy", {}, True),
    ("entropy", {"base": "relu", "scale": 0.03}, True),
    ("entropy", {"order": 2}, True),
    ("entropy", {"order": "any", "base": "softplus"}, True),
    ("grammar", {}, True),
    ("grammar", {"shapes": 2}, True),
    ("grammar", {"unary": "relu,tanh,identity,sigmoid", "binary": "all", "shapes": 1}, False),
    ("all", {}, True),
    ("rational,grammar", {"grammar.shapes": "1", "weights": "1,3"}, True),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for n, o, _ in CONFIGS]
N_SAMPLES = 4


@pytest.fixture(params=list(zip(CONFIGS, IDS)), ids=IDS)
def config(request):
    (name, options, finite), _ = request.param
    return actsearch.space(name, **options), finite


def _draw(space, seed, n=N_SAMPLES):
    rng = np.random.default_rng(seed)
    samples = [space.sample(rng) for _ in range(n)]
    mutants = [space.mutate(c, rng) for c in samples]
    children = [space.crossover(a, b, rng) for a, b in zip(samples, samples[::-1])]
    return samples, mutants, children


def test_every_registered_space_is_covered():
    assert {n for n, _, _ in CONFIGS if "," not in n} == set(actsearch.spaces())


def _families(space) -> set[str]:
    """The family labels a space's candidates carry (a union's: its members')."""
    return set(getattr(space, "names", ())) or {space.name}


def test_samples_parse_back_to_equal_candidates(config):
    space, _ = config
    for c in _draw(space, 0)[0]:
        back = parse(c.text, family=c.family)
        assert back == c and back.text == c.text and back.params == c.params
        assert c.family in _families(space)
        assert space.contains(back)  # membership survives the trip through text


def test_mutate_and_crossover_stay_inside(config):
    space, _ = config
    samples, mutants, children = _draw(space, 1)
    for c in samples + mutants + children:
        assert c.family in _families(space)
        assert space.contains(c), c.text
        assert parse(c.text) == c


def test_mutation_changes_something(config):
    space, _ = config
    rng = np.random.default_rng(7)
    samples = [space.sample(rng) for _ in range(N_SAMPLES)]
    mutants = [space.mutate(c, rng) for c in samples]
    assert any(m != c for m, c in zip(mutants, samples))


def test_same_seed_same_candidates(config):
    space, _ = config
    first = [[c.text for c in group] for group in _draw(space, 3)]
    again = [[c.text for c in group] for group in _draw(space, 3)]
    assert first == again


def test_different_seeds_differ(config):
    space, _ = config
    a = [c.text for c in _draw(space, 4)[0]]
    b = [c.text for c in _draw(space, 5)[0]]
    assert a != b


def test_modules_give_finite_outputs_and_gradients(config):
    space, finite = config
    if not finite:
        pytest.skip("div/pow trees may be NaN by design")
    torch.manual_seed(0)
    for c in sum(_draw(space, 6), []):
        m = c.module(torch.float64)
        x = torch.randn(8, 16, dtype=torch.float64, requires_grad=True)
        y = m(x)
        assert y.shape == (8, 16)
        assert torch.isfinite(y).all(), c.text
        y.square().mean().backward()
        assert torch.isfinite(x.grad).all(), c.text
        for name, p in m.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), (c.text, name)


def test_contains_rejects_other_families():
    foreign = parse("relu(x) + eps*x*exp(-x**2/2); eps=0.01", family="entropy")
    for name in ("rational", "polynomial", "grammar"):
        assert not actsearch.space(name).contains(foreign)
    assert actsearch.space("entropy").contains(foreign)
    # the right family label on the wrong formula is not enough
    assert not actsearch.space("rational").contains(parse("a0*x; a0=1", family="rational"))
    assert not actsearch.space("polynomial").contains(parse("w0*x**3 + b; w0=1, b=0", family="polynomial"))


def test_out_of_space_parents_are_replaced_by_members():
    rng = np.random.default_rng(0)
    relu = actsearch.preset("relu")
    for name in actsearch.spaces():
        space = actsearch.space(name)
        assert space.contains(space.mutate(relu, rng))
        assert space.contains(space.crossover(relu, relu, rng))


@pytest.mark.parametrize(
    "name, options",
    [
        ("rational", {"version": "Z"}),
        ("rational", {"degrees": (5,)}),
        ("rational", {"degrees": (0, 4)}),
        ("rational", {"target": "softmax"}),
        ("rational", {"jitter": "lots"}),
        ("polynomial", {"kind": "cubic"}),
        ("polynomial", {"order": 0}),
        ("polynomial", {"order": 2.5}),
        ("entropy", {"base": "gelu"}),
        ("entropy", {"base": "relu", "order": 2}),
        ("entropy", {"order": 3}),
        ("grammar", {"unary": "relu,frobnicate"}),
        ("grammar", {"binary": ""}),
        ("grammar", {"shapes": 6}),
        ("all", {"shapes": 1}),
        ("all", {"weights": "1,2"}),
        ("rational,grammar", {"entropy.base": "relu"}),
    ],
)
def test_bad_options_name_what_was_wrong(name, options):
    with pytest.raises(SearchSpaceError) as info:
        actsearch.space(name, **options)
    assert isinstance(info.value, ActsearchError)
    assert next(iter(options)) in str(info.value)


@pytest.mark.parametrize("name", ["rational", "polynomial", "entropy", "grammar"])
def test_unknown_option_names_the_valid_ones(name):
    with pytest.raises(SearchSpaceError, match="unknown option 'colour'; options are: "):
        actsearch.space(name, colour="red")


def test_a_union_samples_its_families_by_weight_and_keeps_their_options():
    rng = np.random.default_rng(4)
    space = actsearch.space("rational,grammar", **{"grammar.shapes": "1", "weights": "1,3"})
    families = [space.sample(rng).family for _ in range(200)]
    assert 0.15 < families.count("rational") / 200 < 0.35  # 1 in 4
    grammar = space.spaces["grammar"]
    assert grammar.shapes == (1,) and all(
        grammar.tree(c)[0] == "b" for c in (space.sample(rng) for _ in range(30)) if c.family == "grammar")
    everything = actsearch.space("all")
    assert set(everything.names) == {"rational", "polynomial", "entropy", "grammar"} and everything.finite
    # a child stays in its parent's family
    r = space.spaces["rational"].sample(rng)
    assert space.mutate(r, rng).family == "rational"
    with pytest.raises(ActsearchError, match="unknown search space 'nope'"):
        actsearch.space("rational,nope")


# -- rational ---------------------------------------------------------------------

def _pq(version, p, z):
    """P/Q written out from the parameter values, independently of the space."""
    a = [p[f"a{j}"] for j in range(10) if f"a{j}" in p]
    P = sum(aj * z**j for j, aj in enumerate(a))
    if version == "A":
        Q = 1 + sum(abs(p[f"b{j}"]) * z.abs() ** j for j in range(1, 10) if f"b{j}" in p)
    elif version == "B":
        Q = 1 + sum(p[f"b{j}"] * z**j for j in range(1, 10) if f"b{j}" in p).abs()
    elif version == "C":
        Q = 0.1 + sum(p[f"b{j}"] * z**j for j in range(0, 10) if f"b{j}" in p).abs()
    else:
        Q = 1 + sum(p[f"b{j}"] * z**j for j in range(1, 10) if f"b{j}" in p)
    return P / Q


TORCH_TARGETS = {
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "swish": F.silu,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "identity": lambda z: z,
}


@pytest.mark.parametrize("version", ["A", "B", "C", "N"])
def test_rational_versions_match_the_written_out_formulas(version):
    space = actsearch.space("rational", version=version, degrees=(5, 4), target="gelu")
    c = space.initial()
    assert space.structure(c) == (version, 5, 4)
    expected_params = {f"a{j}" for j in range(6)} | {f"b{j}" for j in range(0 if version == "C" else 1, 5)}
    assert set(c.params) == expected_params
    z = torch.linspace(-5, 5, 401, dtype=torch.float64)
    jittered = space.mutate(c, np.random.default_rng(0))
    for cand in (c, jittered):
        with torch.no_grad():
            got = cand.module(torch.float64)(z)
        torch.testing.assert_close(got, _pq(version, cand.params, z), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "target, version, bound",
    # bounds: the smooth targets fit closely; the kinked ones (relu, leaky_relu)
    # cannot be matched at 0 by a smooth rational of this degree
    [("gelu", "A", 1e-2), ("gelu", "B", 1e-2), ("gelu", "C", 1e-2), ("gelu", "N", 1e-2),
     ("tanh", "A", 1e-3), ("swish", "A", 1e-3), ("sigmoid", "B", 1e-3), ("identity", "A", 1e-9),
     ("relu", "A", 5e-2), ("leaky_relu", "A", 5e-2)],
)
def test_rational_fit_is_close_in_the_evaluated_form(target, version, bound):
    c = actsearch.space("rational", version=version, degrees=(5, 4), target=target).initial()
    z = torch.linspace(-3, 3, 2001, dtype=torch.float64)
    with torch.no_grad():
        err = (c.module(torch.float64)(z) - TORCH_TARGETS[target](z)).abs().max().item()
    assert err < bound
    # a real fit, not a coincidence of the grid: better than the plain line a1*x
    if target != "identity":
        line = (z * (TORCH_TARGETS[target](z) * z).sum() / (z * z).sum() - TORCH_TARGETS[target](z)).abs().max().item()
        assert err < line / 5


def test_rational_fit_error_helper_agrees_with_direct_measurement():
    from actsearch.search_spaces.rational import fit_error

    c = actsearch.space("rational", version="A", degrees=(5, 4), target="gelu").initial()
    z = torch.linspace(-3, 3, 601, dtype=torch.float64)
    direct = (_pq("A", c.params, z) - F.gelu(z)).abs().max().item()
    assert fit_error(c, "gelu") == pytest.approx(direct, rel=1e-9)


def test_rational_crossover_takes_each_coefficient_from_a_parent():
    space = actsearch.space("rational", version="A", degrees=(5, 4), target="gelu", jitter=0.1)
    rng = np.random.default_rng(2)
    a, b = space.sample(rng), space.sample(rng)
    child = space.crossover(a, b, rng)
    assert all(child.params[k] in (a.params[k], b.params[k]) for k in child.params)
    assert child != a and child != b


def _rational_parts(space, c):
    version, m, n = space.structure(c)
    return version, (m, n), space.target_of(c)


def test_rational_samples_differ_in_structure_not_in_noise():
    space = actsearch.space("rational")
    rng = np.random.default_rng(0)
    samples = [space.sample(rng) for _ in range(20)]
    parts = [_rational_parts(space, c) for c in samples]
    assert None not in {p[2] for p in parts}  # every sample is exactly a fitted start
    assert len(set(parts)) >= 17  # 112 structures: 20 draws rarely repeat
    assert len({p[0] for p in parts}) >= 3 and len({p[1] for p in parts}) >= 3 and len({p[2] for p in parts}) >= 4
    # fixed parts stay fixed; the others are drawn
    fixed = actsearch.space("rational", version="B", degrees="3,2")
    got = {_rational_parts(fixed, fixed.sample(rng)) for _ in range(12)}
    assert {(v, d) for v, d, _ in got} == {("B", (3, 2))} and len(got) >= 4


def test_rational_mutation_and_crossover_change_the_structure():
    space = actsearch.space("rational")
    rng = np.random.default_rng(1)
    for _ in range(8):
        a, b = space.sample(rng), space.sample(rng)
        pa, pm = _rational_parts(space, a), _rational_parts(space, space.mutate(a, rng))
        assert sum(x != y for x, y in zip(pa, pm)) == 1  # one part redrawn, then refitted
        pb, pc = _rational_parts(space, b), _rational_parts(space, space.crossover(a, b, rng))
        assert all(c in (x, y) for c, x, y in zip(pc, pa, pb))
    starts = list(space.enumerate())
    assert len({c.fingerprint() for c in starts}) == len(starts) and space.finite
    assert 64 < len(starts) < 4 * 4 * 7  # some fits coincide (the identity: P = x, Q = 1 in A, B and N)
    assert not actsearch.space("rational", jitter=0.1).finite


def test_polynomial_and_entropy_samples_differ_in_structure():
    rng = np.random.default_rng(3)
    poly = actsearch.space("polynomial")
    structures = {poly.structure(poly.sample(rng)) for _ in range(20)}
    assert len({s[1] for s in structures}) >= 3 and len({s[0] for s in structures}) == 3
    assert len(structures) >= 12
    ent = actsearch.space("entropy")
    got = {ent.structure(ent.sample(rng)) for _ in range(30)}
    assert {o for _, o in got} == {1, 2} and len(got) >= 8
    # no jitter by default: the published starting values
    assert all(set(ent.sample(rng).params.values()) == {0.01} for _ in range(5))
    c = poly.sample(rng)
    assert set(c.params.values()) <= {0.0, 1.0 / poly.structure(c)[1]}
    assert len(list(ent.enumerate())) == 10 and len(list(poly.enumerate())) == len(set(
        c.fingerprint() for c in poly.enumerate()))


# -- polynomial -------------------------------------------------------------------

@pytest.mark.parametrize("base", ["relu", "gelu", "silu", "tanh", "x"])
def test_polynomial_composition_matches_formula(base):
    space = actsearch.space("polynomial", kind="composition", base=base, order=4)
    c = space.sample(np.random.default_rng(1))
    g = {"relu": torch.relu, "gelu": F.gelu, "silu": F.silu, "tanh": torch.tanh, "x": lambda z: z}[base]
    z = torch.linspace(-3, 3, 97, dtype=torch.float64)
    p = c.params
    expected = sum(p[f"w{4 - i}"] * g(z) ** i for i in range(1, 5)) + p["b"]
    with torch.no_grad():
        torch.testing.assert_close(c.module(torch.float64)(z), expected, rtol=1e-12, atol=1e-12)


def test_polynomial_structure_and_membership_by_kind():
    polyrelu = actsearch.space("polynomial", kind="polyrelu", order=3).initial()
    polynorm = actsearch.space("polynomial", kind="polynorm", order=3).initial()
    assert actsearch.space("polynomial", kind="polyrelu").contains(polyrelu)
    assert not actsearch.space("polynomial", kind="polyrelu").contains(polynorm)
    assert not actsearch.space("polynomial", kind="polyrelu", order=4).contains(polyrelu)
    # PolyReLU is the relu-based composition
    assert actsearch.space("polynomial", kind="composition", base="relu").contains(polyrelu)
    assert not actsearch.space("polynomial", kind="composition", base="tanh").contains(polyrelu)
    assert polyrelu.elementwise and not polynorm.elementwise


# -- entropy (EAFO) ---------------------------------------------------------------

BASES_TORCH = {
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "softplus": F.softplus,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "arctan": torch.atan,
}


def _phi(z):
    return torch.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _eafo_fd(f, z, e, h=1e-4):
    """f - e phi (x + f''/f') with f', f'' by central finite differences (0/0 -> 0)."""
    d1 = (f(z + h) - f(z - h)) / (2 * h)
    d2 = (f(z + h) - 2 * f(z) + f(z - h)) / h**2
    ratio = torch.where(d2.abs() < 1e-6, torch.zeros_like(z), d2 / torch.where(d1 == 0, 1.0, d1))
    return f(z) - e * _phi(z) * (z + ratio)


def _grid():
    z = torch.linspace(-3, 3, 121, dtype=torch.float64)
    return z[z.abs() > 0.05]  # off the kink of relu / leaky_relu


@pytest.mark.parametrize("base", sorted(BASES_TORCH))
def test_eafo_first_order_matches_finite_differences(base):
    from actsearch.search_spaces.entropy import eafo_candidate

    eps = 0.07
    c = eafo_candidate(base, 1, eps)
    z = _grid()
    # this space's eps is CRReLU's; the EAFO paper's e is -sqrt(2 pi) eps
    expected = _eafo_fd(BASES_TORCH[base], z, -math.sqrt(2 * math.pi) * eps)
    with torch.no_grad():
        got = c.module(torch.float64)(z)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_crrelu_is_the_first_order_correction_of_relu():
    c = actsearch.space("entropy", base="relu", order=1).initial()
    assert c == actsearch.preset("crrelu")
    z = _grid()
    with torch.no_grad():
        got = c.module(torch.float64)(z)
    torch.testing.assert_close(got, torch.relu(z) + 0.01 * z * torch.exp(-z * z / 2), rtol=0, atol=1e-14)


# closed forms of the first-order correction, used as the base of the second order
_RATIO = {
    "softplus": lambda z: torch.sigmoid(-z),
    "sigmoid": lambda z: 1 - 2 * torch.sigmoid(z),
    "tanh": lambda z: -2 * torch.tanh(z),
    "arctan": lambda z: -2 * z / (1 + z * z),
}


@pytest.mark.parametrize("base", sorted(_RATIO))
def test_eafo_second_order_matches_finite_differences(base):
    from actsearch.search_spaces.entropy import eafo_candidate

    eps1, eps2 = 0.05, -0.03
    c = eafo_candidate(base, 2, [eps1, eps2])
    f = BASES_TORCH[base]

    def f1(z):
        return f(z) + eps1 * torch.exp(-z * z / 2) * (z + _RATIO[base](z))

    z = _grid()
    torch.testing.assert_close(  # the closed form of order 1 is right ...
        f1(z), _eafo_fd(f, z, -math.sqrt(2 * math.pi) * eps1), rtol=0, atol=1e-6
    )
    expected = _eafo_fd(f1, z, -math.sqrt(2 * math.pi) * eps2)  # ... and order 2 corrects it again
    with torch.no_grad():
        got = c.module(torch.float64)(z)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


# -- grammar ----------------------------------------------------------------------

# a subset of the unary operators keeps the test quick
SMALL_UNARY = "identity,neg,abs,square,exp,tanh,sigmoid,swish,relu,softplus"


@pytest.fixture(scope="module")
def enumerated():
    return list(actsearch.space("grammar", unary=SMALL_UNARY, shapes=1).enumerate())


def test_grammar_enumeration_is_deduplicated_and_deterministic(enumerated):
    fingerprints = [c.fingerprint() for c in enumerated]
    assert len(set(fingerprints)) == len(fingerprints)
    assert len(set(c.text for c in enumerated)) == len(enumerated)
    from actsearch.search_spaces.grammar import _catalog

    _catalog.cache_clear()  # rebuild (without the disk cache), do not just read the memo back
    rebuilt = Catalog.build(tuple(SMALL_UNARY.split(",")), SAFE_BINARY, (1,), cache=False)
    assert [tuple(c) for c in rebuilt.codes] == [tuple(c) for c in actsearch.space(
        "grammar", unary=SMALL_UNARY, shapes=1).catalog().codes]
    again = actsearch.space("grammar", unary=SMALL_UNARY.split(","), shapes=1).enumerate()
    assert [c.text for c in again] == [c.text for c in enumerated]
    # 10 unary x 10 unary x 5 binary trees collapse to far fewer functions
    assert 100 < len(enumerated) < 10 * 10 * 5
    assert all(c.family == "grammar" and parse(c.text) == c for c in enumerated[:50])


def _brute_force_functions(unary, binary, shapes):
    """Distinct usable functions by building every tree through sympy, one at a time."""
    from actsearch.search_spaces._catalog import DEDUP_POINTS, code_of, function_hashes
    from actsearch.search_spaces.grammar import _finish

    space = actsearch.space("grammar", unary=",".join(unary), binary=",".join(binary), shapes=shapes)
    trees = []
    leaf = lambda op, inner="x": ("u", op, inner)  # noqa: E731
    for b in binary:
        for u1 in unary:
            for u2 in unary:
                trees.append(("b", b, leaf(u1), leaf(u2)))
                for u3 in unary:
                    trees.append(("b", b, leaf(u1), leaf(u2, leaf(u3))))
    trees += [("u", o, t) for o in unary for t in list(trees)]
    trees = [t for t in trees if code_of(t, unary, binary)[0] in shapes]
    x = torch.as_tensor(DEDUP_POINTS, dtype=torch.float64).reshape(1, -1)
    seen = set()
    for tree in trees:
        cand = _finish(tree)
        if cand is None:
            continue  # sympy folded it to a constant
        with torch.no_grad(), np.errstate(all="ignore"):
            y = torch.broadcast_to(cand.torch_fn()(x, {}), x.shape)
        h, usable = function_hashes(y)
        if usable[0]:
            seen.add(int(h[0]))
    return len(trees), seen, space


def test_grammar_catalog_deduplicates_like_building_every_tree():
    unary, binary, shapes = ("identity", "neg", "abs", "tanh", "relu"), ("add", "sub", "max"), (1, 2, 3, 4)
    n_trees, brute, space = _brute_force_functions(unary, binary, shapes)
    cat = Catalog.build(unary, binary, shapes, cache=False)
    assert cat.stats["trees"] == n_trees == sum(trees_in_shape(s, len(unary), len(binary)) for s in shapes)
    assert set(int(h) for h in cat.hashes) == brute
    assert len(cat) == len(brute) < n_trees / 3
    # every member is the first tree of its function in the enumeration order, and findable by its values
    assert (cat.lookup(cat.hashes) == np.arange(len(cat))).all()
    assert cat.stats["per_shape"][1][1] + cat.stats["per_shape"][2][1] + cat.stats["per_shape"][3][1] \
        + cat.stats["per_shape"][4][1] == len(cat)


def test_grammar_catalog_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTSEARCH_DATA", str(tmp_path))
    unary, binary = ("identity", "tanh", "relu"), ("add", "mul")
    first = Catalog.build(unary, binary, (1, 3))
    files = list((tmp_path / "spaces").glob("catalog-*.npz"))
    assert len(files) == 1 and "cached" not in first.stats
    again = Catalog.build(unary, binary, (1, 3))
    assert again.stats.get("cached") and (again.codes == first.codes).all()
    files[0].write_bytes(b"not a zip file")  # a damaged cache is rebuilt, not trusted
    rebuilt = Catalog.build(unary, binary, (1, 3))
    assert "cached" not in rebuilt.stats and (rebuilt.codes == first.codes).all()


def test_grammar_full_space_is_at_aquasurf_scale():
    cat = actsearch.space("grammar").catalog()
    assert cat.stats["trees"] >= 1_000_000
    assert len(cat) >= 100_000
    assert cat.stats["per_shape"][1] == (1805, 904)  # the first release's 904 functions


def test_grammar_swish_duplicates_collapse(enumerated):
    # mul(identity, sigmoid), mul(sigmoid, identity), max(swish, swish), add(swish, ...)...
    # x*sigmoid(x) and silu(x) are one function
    silu = parse("x*sigmoid(x)").fingerprint()
    assert sum(c.fingerprint() == silu for c in enumerated) == 1
    x = parse("x").fingerprint()
    assert sum(c.fingerprint() == x for c in enumerated) == 1


def test_grammar_enumerate_skips_constants():
    space = actsearch.space("grammar", unary="relu,identity", binary="sub", shapes=1)
    texts = [c.text for c in space.enumerate()]
    # sub(relu, relu) and sub(identity, identity) are 0: not candidates
    assert sorted(texts) == sorted(["-x + relu(x)", "x - relu(x)"])


def _neighbours(space, tree):
    """Texts of every tree that differs from ``tree`` in exactly one operator."""
    from actsearch.search_spaces.grammar import _finish, _get, _paths, _replace

    out = set()
    for path in _paths(tree):
        node = _get(tree, path)
        for op in (space.unary if node[0] == "u" else space.binary):
            if op != node[1]:
                c = _finish(_replace(tree, path, (node[0], op) + node[2:]))
                if c is not None:
                    out.add(c.text)
    return out


def test_grammar_samples_cover_every_shape():
    space = actsearch.space("grammar")
    rng = np.random.default_rng(5)
    shapes = {shape_of_tree(space.tree(space.sample(rng))) for _ in range(40)}
    # the tree found for a function is the first computing it, so a deep sample may
    # come back as a shallower tree; every shape still shows up
    assert {1, 2, 3, 4, 5} <= shapes | {1}
    assert len(shapes) >= 4


def test_grammar_mutate_replaces_one_operator():
    space = actsearch.space("grammar")
    rng = np.random.default_rng(11)
    for _ in range(6):
        a = space.sample(rng)
        m = space.mutate(a, rng)
        assert m.text in _neighbours(space, space.tree(a))


def test_grammar_crossover_puts_a_subtree_of_b_into_a():
    from actsearch.search_spaces.grammar import _finish, _get, _replace, _slots

    space = actsearch.space("grammar")
    rng = np.random.default_rng(12)
    for _ in range(6):
        a, b = space.sample(rng), space.sample(rng)
        ta, tb = space.tree(a), space.tree(b)
        child = space.crossover(a, b, rng)
        options = set()
        for kind in ("u", "b"):
            for target in _slots(ta, kind):
                for donor in _slots(tb, kind):
                    c = _finish(_replace(ta, target, _get(tb, donor)))
                    if c is not None:
                        options.add(c.text)
        assert child.text in options


def test_grammar_tree_depends_only_on_the_text():
    from actsearch.search_spaces import grammar

    space = actsearch.space("grammar", unary=SMALL_UNARY)
    rng = np.random.default_rng(13)
    texts = [space.sample(rng).text for _ in range(10)]
    first = [space.tree(parse(t, family="grammar")) for t in texts]
    grammar._member.cache_clear()
    grammar._catalog.cache_clear()
    space.sample(np.random.default_rng(99))  # other trees built meanwhile change nothing
    again = [space.tree(parse(t, family="grammar")) for t in texts]
    assert first == again and None not in first
    for t, tree in zip(texts, first):
        assert grammar._finish(tree).fingerprint() == parse(t).fingerprint()
    # x*sigmoid(x) is both mul(identity, sigmoid) and mul(sigmoid, identity): the first wins
    assert space.tree(parse("x*sigmoid(x)", family="grammar")) == (
        "b", "mul", ("u", "identity", "x"), ("u", "sigmoid", "x"))


def test_grammar_contains_what_its_shapes_compute():
    assert actsearch.space("grammar", shapes=1).finite and actsearch.space("grammar").finite
    assert not actsearch.space("grammar", shapes=1).contains(parse("tanh(x*sigmoid(x))", family="grammar"))
    assert actsearch.space("grammar", shapes=2).contains(parse("tanh(x*sigmoid(x))", family="grammar"))
    assert actsearch.space("grammar", shapes=3).contains(parse("x*tanh(softplus(x))", family="grammar"))
    assert not actsearch.space("grammar").contains(parse("tanh(x*sigmoid(x))"))  # family "custom"
    assert not actsearch.space("grammar").contains(parse("exp(exp(exp(x)))", family="grammar"))  # inf at 5


def test_grammar_build_rejects_bad_trees():
    space = actsearch.space("grammar")
    with pytest.raises(SearchSpaceError):
        space.build(("u", "relu", "x"))
    with pytest.raises(SearchSpaceError):
        space.build(("b", "sub", ("u", "relu", "x"), ("u", "relu", "x")))


def test_grammar_tree_text_round_trips():
    from actsearch.search_spaces._catalog import parse_tree, tree_text

    cat = actsearch.space("grammar").catalog()
    for i in np.random.default_rng(3).choice(len(cat), 50, replace=False):
        tree = cat.tree(int(i))
        assert parse_tree(tree_text(tree)) == tree
    for bad in ("tanh(", "add(x)x", "f(x, x, x)", "tanh x"):
        with pytest.raises(ValueError):
            parse_tree(bad)
