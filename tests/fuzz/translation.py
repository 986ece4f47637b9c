"""Translation validation over mutated specs (issue 15): the emitted module is the analysed
network, at the spec's values and at other values of its constructor arguments.

A *validation case* is made from an id (``"<seed>-<index>"``) like a fuzz case, but by edits
that usually leave a spec valid: ``--set`` variants of a network's header parameters, a number
of a layer argument moved to a nearby value, a ``true``/``false`` flipped, one small token or
line edit, or (indices below the corpus size) the corpus entry itself.  What compiles is
validated: the module executed from the emitted source and constructed on the meta device must
have the analysis' ``state_dict`` keys, shapes and order, parameter count and output shape
(:func:`archc.validate.compare`); then up to ``ARGS`` of the class's constructor arguments
(chosen by the case's random generator) are each given another value, and the class built with
it must equal the analysis of the spec compiled with that ``--set``.
"""

from __future__ import annotations

import inspect
import random
import re
import signal
import time
from typing import Any

from fuzz.corpus import corpus
from fuzz.mutate import Case, Mutator, param_variant, parse_id, tokens
from fuzz.runner import CHECK_BUDGET_S, Budget, Result, Workspace, _on_prof, fold, signature

ARGS = 2  # constructor arguments varied per case
VALIDATE_BUDGET_S = 60.0  # CPU seconds for building and comparing one case
TV_KINDS = {"corpus": 0, "sets": 40, "number": 30, "flip": 10, "token": 10, "line": 10}


class TvMutator(Mutator):
    """Edits that keep most specs valid."""

    def make(self) -> Case:
        kinds = [k for k in TV_KINDS if TV_KINDS[k]]
        kind = self.rng.choices(kinds, weights=[TV_KINDS[k] for k in kinds])[0]
        return getattr(self, f"t_{kind}")()  # type: ignore[no-any-return]

    def compiling(self) -> list[Any]:
        from fuzz.mutate import COSTS

        return [s for s in corpus() if s.path in COSTS]

    def t_sets(self) -> Case:
        with_params = [s for s in self.compiling() if re.search(r"network\s+\w+\s*\(\s*\w", s.text)]
        spec = self.pick_spec(with_params)
        sets, network, _ = param_variant(self.rng, spec, self.marker, hostile=False)
        return self.case("sets", spec, spec.text, sets=tuple(sets), network=network)

    def t_number(self) -> Case:
        spec = self.pick_spec(self.compiling())
        toks = tokens(spec.text)
        # numbers of layer arguments and expressions, not of the input shape
        line_start = [0]
        for t in toks:
            line_start.append(line_start[-1] + len(t))
        nums = [i for i, t in enumerate(toks) if re.fullmatch(r"\d+", t)]
        if not nums:
            return self.t_sets()
        for _ in range(self.rng.choice([1, 1, 2])):
            i = self.rng.choice(nums)
            v = int(toks[i])
            toks[i] = str(self.rng.choice([v + 1, max(1, v - 1), v * 2, max(1, v // 2), 1, 2, 3]))
        return self.case("number", spec, "".join(toks))

    def t_flip(self) -> Case:
        spec = self.pick_spec(self.compiling())
        toks = tokens(spec.text)
        flips = [
            i
            for i, t in enumerate(toks)
            if t in ("true", "false", "==", "!=", "<", ">", "<=", ">=", "and", "or")
        ]
        if not flips:
            return self.t_number()
        other = {
            "true": "false",
            "false": "true",
            "==": "!=",
            "!=": "==",
            "<": ">=",
            ">": "<=",
            "<=": ">",
            ">=": "<",
        }
        other |= {"and": "or", "or": "and"}
        i = self.rng.choice(flips)
        toks[i] = other[toks[i]]
        return self.case("flip", spec, "".join(toks))

    def t_token(self) -> Case:
        spec = self.pick_spec(self.compiling())
        toks = tokens(spec.text)
        solid = [i for i, t in enumerate(toks) if t.strip() and not t.startswith("#")]
        i = self.rng.choice(solid)
        op = self.rng.choice(["delete", "duplicate", "replace"])
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i] + " ")
        else:
            toks[i] = self.rng.choice([t for t in toks if t.strip() and not t.startswith("#")])
        return self.case("token", spec, "".join(toks))

    def t_line(self) -> Case:
        spec = self.pick_spec(self.compiling())
        lines = spec.text.split("\n")
        i = self.rng.randrange(len(lines))
        if self.rng.random() < 0.6:
            del lines[i]
        else:
            lines.insert(i, lines[i])
        return self.case("line", spec, "\n".join(lines))


def make_tv_case(cid: str) -> Case:
    """The validation case named ``cid``: indices below the number of compiling corpus entries
    are those entries themselves (unchanged); the rest are edits."""
    seed, index = parse_id(cid)
    m = TvMutator(seed, index)
    base = m.compiling()
    if index < len(base):
        spec = base[index]
        return m.case("corpus", spec, spec.text)
    return m.make()


def run_tv(case: Case, ws: Workspace, *, args: int = ARGS) -> Result:
    """Compile ``case`` as ``archc check`` does, and validate what compiles (in this process,
    whose working folder must be ``ws.root``)."""
    from archc.cli.common import compile_from_cli
    from archc.dsl.diagnostics import ArchcError

    res = Result(case.id, case.kind, "ok", notes=list(case.sets))
    spec, made = ws.write(case)
    old = signal.signal(signal.SIGPROF, _on_prof)
    t0 = time.process_time()
    try:
        signal.setitimer(signal.ITIMER_PROF, CHECK_BUDGET_S)
        c = compile_from_cli(spec, case.network, list(case.sets), case.input)
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.cpu_s = time.process_time() - t0
        t1 = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, VALIDATE_BUDGET_S)
        checked, diffs = validate_sampled(c, random.Random(f"archc-tv:{case.id}"), args, list(case.sets))
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.build_s = time.process_time() - t1
        res.build = "same" if not diffs else "differs"
        res.differences = diffs[:6]
        res.notes = checked
        if diffs:
            res.signature = "differs:" + fold(diffs[0])
    except Budget:
        res.cls = "hang" if not res.cpu_s else "ok"
        res.build = "hang" if res.cpu_s else ""
        res.signature = "hang"
    except ArchcError as e:
        signal.setitimer(signal.ITIMER_PROF, 0)
        if res.cpu_s:  # raised by the build: refused
            res.build, res.signature = "refused", "refused:" + fold(e.diagnostics[0].message)
            res.message = e.render()[:400]
        else:
            res.cls = "error"
    except Exception as e:
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.message = f"{type(e).__name__}: {e}"[:400]
        if res.cpu_s:
            res.build, res.signature = "traceback", "build:" + signature(e)
        else:
            res.cls, res.signature = "traceback", signature(e)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)
        ws.clean(made)
    return res


def validate_sampled(
    c: Any, rng: random.Random, args: int, sets: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """:func:`archc.validate.validate`, with ``args`` of the class's constructor arguments
    varied (one other value each, chosen by ``rng``) instead of all of them: the settings
    compared and the differences found.  ``sets``: the ``--set`` items ``c`` was compiled with,
    kept when another argument is varied (``validate`` drops them, so it compares the class,
    whose defaults are the set values, with the spec's own defaults)."""
    import torch

    from archc.codegen.emit import _render
    from archc.dsl.compiler import compile_program, parse_sets
    from archc.dsl.diagnostics import NOWHERE, ArchcError, UsageError
    from archc.dsl.values import literal
    from archc.validate import _alternatives, _as_argument, compare, load_module

    source, class_name = _render(c)
    try:
        module = load_module(source, c.name)
    except Exception as e:
        return ["defaults"], [f"the emitted module does not import: {type(e).__name__}: {e}"]
    cls = module.__dict__[class_name]
    try:
        with torch.device("meta"):
            model = cls()
    except Exception as e:
        return ["defaults"], [f"defaults: construction failed: {type(e).__name__}: {str(e)[:200]}"]
    checked, diffs = ["defaults"], compare(c, model, "defaults")
    exposed = [p for p in inspect.signature(cls).parameters if p != "self"]
    for name in rng.sample(exposed, k=min(args, len(exposed))):
        values = list(_alternatives(c.network.params.get(name)))
        if not values:
            continue
        value = rng.choice(values)
        try:
            other = compile_program(
                c.program,
                network=c.network.name,
                sets={**parse_sets(sets), name: literal(value, NOWHERE)},
                input_shape=c.input_shape,
            )
        except (ArchcError, UsageError):
            continue
        where = f"{name}={value!r}"
        checked.append(where)
        try:
            with torch.device("meta"):
                built = cls(**{name: _as_argument(value)})
        except Exception as e:
            diffs.append(f"{where}: construction failed: {type(e).__name__}: {str(e)[:200]}")
            continue
        diffs += compare(other, built, where)
    return checked, diffs
