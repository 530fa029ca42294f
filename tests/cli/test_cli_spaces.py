"""``actsearch spaces`` and ``actsearch sample`` through the CLI entry point."""

from __future__ import annotations

import json

import pytest

import actsearch
from actsearch import parse
from actsearch.cli import main
from actsearch.commands.spaces import parse_option
from actsearch.registry import PRESETS


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_spaces_lists_every_space_option_and_preset(capsys):
    rc, out, err = _run(capsys, "spaces")
    assert rc == 0 and err == ""
    for name in actsearch.spaces():
        assert f"  {name} " in out
    for option in ("version", "degrees", "target", "kind", "order", "base", "unary", "binary", "shapes"):
        assert f"      {option} " in out
    for name in PRESETS:
        assert f"  {name} " in out
        assert actsearch.preset(name).text in out


def test_spaces_json(capsys):
    rc, out, _ = _run(capsys, "spaces", "--format", "json")
    data = json.loads(out)
    assert rc == 0
    assert [s["name"] for s in data["spaces"]] == actsearch.spaces()
    by_name = {p["name"]: p for p in data["presets"]}
    assert set(by_name) == set(PRESETS)
    assert parse(by_name["crrelu"]["text"]) == actsearch.preset("crrelu")
    rational = next(s for s in data["spaces"] if s["name"] == "rational")
    assert set(rational["options"]) == {"version", "degrees", "target", "jitter"}


@pytest.mark.parametrize("space", ["rational", "polynomial", "entropy", "grammar"])
def test_sample_prints_n_parseable_candidates_reproducibly(capsys, space):
    rc, out, err = _run(capsys, "sample", "--space", space, "-n", "3", "--seed", "1")
    assert rc == 0 and err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert parse(line).text == line
    assert _run(capsys, "sample", "--space", space, "-n", "3", "--seed", "1")[1] == out
    assert _run(capsys, "sample", "--space", space, "-n", "3", "--seed", "2")[1] != out


def test_sample_json_and_options(capsys):
    rc, out, _ = _run(
        capsys, "sample", "--space", "rational", "-n", "2", "--seed", "0", "--format", "json",
        "--option", "version=B", "--option", "degrees=4,3", "--option", "target=tanh", "--option", "jitter=0.1",
    )
    assert rc == 0
    rows = json.loads(out)
    assert len(rows) == 2
    space = actsearch.space("rational", version="B", degrees=(4, 3))
    for row in rows:
        c = parse(row["text"], family=row["family"])
        assert row["family"] == "rational" and row["key"] == c.key and row["elementwise"] is True
        assert row["params"] == dict(c.params)
        assert space.structure(c) == ("B", 4, 3)


@pytest.mark.parametrize("space, structure", [
    ("rational", lambda sp, c: (sp.structure(c), sp.target_of(c))),
    ("polynomial", lambda sp, c: sp.structure(c)),
    ("grammar", lambda sp, c: c.text),
])
def test_sample_shows_structurally_different_candidates(capsys, space, structure):
    rc, out, err = _run(capsys, "sample", "--space", space, "-n", "20", "--seed", "1", "--format", "json")
    assert rc == 0 and err == ""
    sp = actsearch.space(space)
    found = {structure(sp, parse(r["text"], family=r["family"])) for r in json.loads(out)}
    assert len(found) == 20


def test_sample_says_when_a_space_holds_fewer(capsys):
    rc, out, err = _run(capsys, "sample", "--space", "entropy", "-n", "20", "--seed", "1")
    assert rc == 0 and len(out.splitlines()) == 10  # 6 bases at order 1, 4 smooth ones at order 2
    assert "gave 10 distinct functions" in err


def test_sample_polynorm_is_marked_rowwise(capsys):
    rc, out, _ = _run(capsys, "sample", "--space", "polynomial", "-n", "1", "--format", "json",
                      "--option", "kind=polynorm")
    assert rc == 0 and json.loads(out)[0]["elementwise"] is False


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["sample", "--space", "nope"], "unknown search space 'nope'"),
        (["sample", "--space", "rational", "--option", "version"], "KEY=VALUE"),
        (["sample", "--space", "rational", "--option", "colour=red"], "no option 'colour'"),
        (["sample", "--space", "rational", "--option", "version=Q"], "version='Q'"),
        (["sample", "--space", "entropy", "--option", "base=relu", "--option", "order=2"], "smooth base"),
        (["sample", "--space", "grammar", "--option", "unary=relu,nope"], "unary='nope'"),
        (["sample", "--space", "grammar", "-n", "-1"], "-n must be"),
    ],
)
def test_bad_requests_give_one_line_and_exit_2(capsys, argv, needle):
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("actsearch: error:") and needle in err
    assert len(err.strip().splitlines()) == 1


def test_parse_option_values():
    assert parse_option("degrees=5,4") == ("degrees", (5, 4))
    assert parse_option("jitter=0.5") == ("jitter", 0.5)
    assert parse_option("order=any") == ("order", "any")
    assert parse_option("shapes=1") == ("shapes", 1)
