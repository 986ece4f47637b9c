"""How elaboration grows with a spec's size: 1k, 10k and 100k layers as a repeat, a chain written
out line by line, and repeated blocks; the growth factor per decade (issue 14's target: at most
11x), and the time to reach the layer limit (50,000) and the token limit (100,000) with the limits
as they are.  The growth is measured with the limits lifted (past 50,000 layers a spec is refused),
so that it shows how the passes grow, not where they stop.

Times are CPU seconds of this process (``time.process_time``), the best of ``--rounds`` rounds,
the sizes interleaved within a round: on a shared machine wall-clock time measures the other
processes more than archc.  Parsing is timed apart from elaboration (resolve is negligible).
By default the process runs as ``archc check`` does: Python's cyclic garbage collector frozen and
off (a command that compiles one spec and exits).  ``--library`` leaves it on, as a long-lived
process using ``archc`` as a library has it: parsing and elaboration pause it, and the collection
it then runs over the new objects is counted.  ``--gc`` keeps it running throughout, as archc ran
before it paused it, to show what pausing buys.

    python benchmarks/elaboration.py [--rounds 3] [--sizes 1000 10000 100000] [--library | --gc]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable

from archc.dsl import elaborate as elaboration
from archc.dsl import parser
from archc.dsl.loader import load_text
from archc.dsl.resolve import resolve


def repeat(n: int) -> str:
    return f"network n():\n    input 8\n    x -> relu x {n}\n"


def chain(n: int) -> str:
    return "network n():\n    input 8\n    x\n" + "      -> relu\n" * n


def blocks(n: int) -> str:
    """``n`` instances of a block of one layer, in sequences of at most 100,000."""
    reps = f"[b x 100000] x {n // 100_000}" if n > 100_000 else f"b x {n}"
    return f"block b():\n    return x -> relu\n\nnetwork n():\n    input 8\n    x -> {reps}\n"


SHAPES: dict[str, Callable[[int], str]] = {"repeat": repeat, "chain": chain, "blocks": blocks}


def measure(text: str, with_gc: bool) -> tuple[float, float, int]:
    """(parse, elaborate) CPU seconds and the layers made."""
    t0 = time.process_time()
    program = load_text(text, "bench.arch")
    t1 = time.process_time()
    net = resolve(program, None, None, None)
    t2 = time.process_time()
    if with_gc:  # the elaborator as it ran before the collector was paused
        graph = elaboration.Elaborator(net, program.sources).run()
    else:
        graph = elaboration.elaborate(net, program.sources)
    t3 = time.process_time()
    return t1 - t0, t3 - t2, graph.number_of_nodes() - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--gc", action="store_true", help="leave the cyclic garbage collector running")
    ap.add_argument("--library", action="store_true", help="the collector on, paused as archc pauses it")
    ap.add_argument("--no-limit", action="store_true", help="skip the runs to the limits")
    args = ap.parse_args()
    if args.gc or args.library:
        gc.enable()
    else:  # as `archc check` runs (archc.cli.check._short_lived)
        gc.freeze()
        gc.disable()
    best: dict[tuple[str, int], tuple[float, float]] = {}
    limits = (parser.MAX_TOKENS, elaboration.MAX_LAYERS, elaboration.MAX_REPEAT, elaboration.MAX_WORK)
    parser.MAX_TOKENS = elaboration.MAX_LAYERS = elaboration.MAX_REPEAT = elaboration.MAX_WORK = 10**7
    for _ in range(args.rounds):
        for shape, make in SHAPES.items():
            for n in args.sizes:
                text = make(n)
                parse, elab, made = measure(text, args.gc)
                assert made == n, (shape, n, made)
                old = best.get((shape, n), (float("inf"), float("inf")))
                best[shape, n] = (min(old[0], parse), min(old[1], elab))
                gc.collect()
    mode = "as archc check: collector off"
    if args.gc or args.library:
        mode = "collector running" if args.gc else "as a library: collector paused"
    print(f"CPU seconds, best of {args.rounds} ({mode})")
    print(f"{'shape':8} {'layers':>8} {'parse':>8} {'growth':>7} {'elaborate':>10} {'growth':>7}")
    worst = 0.0
    for shape in SHAPES:
        for i, n in enumerate(args.sizes):
            parse, elab = best[shape, n]
            growth = ["", ""]
            if i:
                prev, decades = (
                    best[shape, args.sizes[i - 1]],
                    max(len(str(n)) - len(str(args.sizes[i - 1])), 1),
                )
                for j in (0, 1):
                    per_decade = (best[shape, n][j] / max(prev[j], 1e-6)) ** (1 / decades)
                    growth[j] = f"{per_decade:.1f}x" if prev[j] > 0.005 else "-"
                    if args.sizes[i - 1] >= 10_000 and prev[j] > 0.005:
                        worst = max(worst, per_decade)
            print(f"{shape:8} {n:>8,} {parse:>8.3f} {growth[0]:>7} {elab:>10.3f} {growth[1]:>7}")
    print(f"largest growth per decade from 10,000 layers on: {worst:.1f}x (target: at most 11x)")
    parser.MAX_TOKENS, elaboration.MAX_LAYERS, elaboration.MAX_REPEAT, elaboration.MAX_WORK = limits
    if not args.no_limit:
        for shape in ("repeat", "blocks"):
            parse, elab, made = measure(SHAPES[shape](elaboration.MAX_LAYERS), args.gc)
            print(f"to the {made:,}-layer limit ({shape}): parse {parse:.2f} s, elaborate {elab:.2f} s")
        lines = parser.MAX_TOKENS // 2 - 10  # two tokens a line: `-> relu` and its end
        parse, elab, made = measure(chain(lines), args.gc)
        near = f"near the {parser.MAX_TOKENS:,}-token limit"
        print(f"a chain of {made:,} lines, {near}: parse {parse:.2f} s, elaborate {elab:.2f} s")
        seconds, outcome = attempt(chain(lines + 20))
        print(f"a chain of {lines + 20:,} lines, past the token limit: {outcome} after {seconds:.2f} s")
        empty = "block e():\n    return x\n\nnetwork n():\n    input 8\n    x -> [e x 10] x {}\n"
        for n in (elaboration.MAX_WORK // 15, elaboration.MAX_WORK // 10):
            seconds, outcome = attempt(empty.format(n))
            print(f"{n * 10:,} empty block instances: {outcome} after {seconds:.2f} s")
    sys.stdout.flush()


def attempt(text: str) -> tuple[float, str]:
    """CPU seconds to compile ``text`` or to refuse it, and which it was."""
    t0 = time.process_time()
    try:
        measure(text, False)
    except elaboration.ArchcError:
        return time.process_time() - t0, "refused"
    return time.process_time() - t0, "compiled"


if __name__ == "__main__":
    main()
