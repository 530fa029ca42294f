"""Triton kernel generation time against the nesting depth of a formula (issue 21, item 3).

Two families of short formulas that nest one function inside the next ``n`` times:

- ``cube``: ``tanh(a0*x**3 + tanh(a1*x**3 + ... + x)**3 ...)**3``, the formula of the issue
  (n=8 is 201 characters);
- ``linear``: ``tanh(a0*x + b0*tanh(a1*x + b1*... x))``, deep (the issue's forty levels).

For each depth, one fresh process generates a one-level formula (first-use costs), then
parses the formula and generates the Triton module source
(:func:`actsearch.compile._codegen.generate_source`, forward, d/dx and d/dparam);
the process is killed at ``--timeout`` seconds, so a depth that explodes costs that
long and no more.  Printed per depth: parse seconds, generation seconds, source
characters, or why it stopped.

    python benchmarks/kernel_generation.py --family cube --depths 1,2,3,4,5,6,8 --timeout 300
    python benchmarks/kernel_generation.py --family linear --depths 10,20,40,60 --timeout 300
    python benchmarks/kernel_generation.py --presets relu,crrelu,polyrelu,polynorm,rational-gelu
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time


def formula(family: str, n: int) -> str:
    """The depth-``n`` formula of ``family``, with its parameters declared."""
    body = "x"
    names = []
    for i in reversed(range(n)):
        if family == "cube":
            body = f"tanh(a{i}*x**3 + {body})**3"
            names.append(f"a{i}={0.1 + 0.01 * i:g}")
        else:
            body = f"tanh(a{i}*x + b{i}*{body})"
            names += [f"a{i}={0.5 + 0.01 * i:g}", f"b{i}={0.9 - 0.01 * i:g}"]
    return f"{body}; {', '.join(sorted(names))}"


def _measure(text: str, out) -> None:
    try:
        import actsearch
        from actsearch.compile._codegen import generate_source

        generate_source(actsearch.parse("tanh(a*x**3 + x)**3; a=0.5"))  # first-use costs out of the figure
        t0 = time.perf_counter()
        candidate = actsearch.preset(text[1:]) if text.startswith("@") else actsearch.parse(text)
        t1 = time.perf_counter()
        source = generate_source(candidate)
        t2 = time.perf_counter()
        out.send(("ok", t1 - t0, t2 - t1, len(source), ""))
    except BaseException as exc:  # noqa: BLE001 - reported as the depth's outcome
        out.send(("failed", 0.0, 0.0, 0, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"))


def run_depth(text: str, timeout: float) -> tuple:
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_measure, args=(text, there), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    if here.poll(timeout):
        row = here.recv()
        proc.join()
        return row
    proc.kill()
    proc.join()
    return ("timeout", 0.0, time.perf_counter() - t0, 0, f"still generating after {timeout:g} s (killed)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=("cube", "linear"), default="cube")
    parser.add_argument("--depths", default="1,2,3,4,5,6,8")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per depth before it is killed")
    parser.add_argument("--presets", default="", help="comma-separated presets to time instead of a family")
    args = parser.parse_args(argv)
    if args.presets:
        print(f"presets; one fresh process each, killed after {args.timeout:g} s")
        print(f"{'preset':<16} {'parse s':>8} {'generate ms':>12} {'source chars':>13}")
        for name in args.presets.split(","):
            status, parse_s, gen_s, size, note = run_depth(f"@{name}", args.timeout)
            print(f"{name:<16} {parse_s:>8.2f} {gen_s * 1e3:>12.1f} {size or '-':>13}  {status} {note}".rstrip())
        return
    print(f"family {args.family}; one fresh process per depth, killed after {args.timeout:g} s")
    print(f"{'depth':>5} {'chars':>6} {'parse s':>8} {'generate s':>11} {'source chars':>13}  note")
    for n in (int(d) for d in args.depths.split(",")):
        text = formula(args.family, n)
        status, parse_s, gen_s, size, note = run_depth(text, args.timeout)
        gen = f"{gen_s:.2f}" if status != "failed" else "-"
        print(f"{n:>5} {len(text):>6} {parse_s:>8.2f} {gen:>11} {size or '-':>13}  {status} {note}".rstrip(),
              flush=True)


if __name__ == "__main__":
    main()
