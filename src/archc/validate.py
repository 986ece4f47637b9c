"""Translation validation: the emitted module is exactly the analysed network.

For a compiled spec, :func:`validate` builds the module from the emitted source (on PyTorch's
``meta`` device: no memory, no arithmetic, so it is fast even for ResNet-152) and compares it
with the analysis: the ``state_dict`` keys, shapes and order, the parameter count, and the
output shape of a forward pass.  Then it constructs the emitted network class with *other*
values of every constructor argument the class exposes, and compares each with the analysis
of the spec compiled with those values (``--set``): a class that takes an argument must build
exactly what the spec says for it.

Used by the test suite (a seeded slice) and by ``benchmarks/translation_validation.py`` (long
runs over mutated specs).  Imports torch.
"""

from __future__ import annotations

import inspect
import linecache
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from archc.codegen.emit import _render
from archc.dsl.analysis import state_dict
from archc.dsl.compiler import Compiled, compile_program
from archc.dsl.diagnostics import NOWHERE, ArchcError, UsageError
from archc.dsl.values import literal


@dataclass
class Report:
    """What one validation found; ``differences`` is empty when the module is the network."""

    network: str
    checked: list[str] = field(default_factory=list)  # the parameter settings compared
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def load_module(source: str, name: str) -> types.ModuleType:
    """Execute emitted source as a fresh module (it is archc's own output)."""
    filename = f"<archc {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"archc_validate_{name}")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def compare(c: Compiled, model: torch.nn.Module, where: str) -> list[str]:
    """Differences between a built module and the analysis of ``c``."""
    out: list[str] = []
    expected = [(k, tuple(s)) for k, s, _ in state_dict(c.graph)]
    actual = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    if expected != actual:
        missing = [k for k, _ in expected if k not in dict(actual)]
        extra = [k for k, _ in actual if k not in dict(expected)]
        shapes = [
            f"{k}: {s} vs {dict(actual)[k]}"
            for k, s in expected
            if k in dict(actual) and dict(actual)[k] != s
        ]
        order = not missing and not extra and not shapes
        out.append(
            f"{where}: state_dict differs"
            + (f"; missing {missing[:4]}" if missing else "")
            + (f"; extra {extra[:4]}" if extra else "")
            + (f"; shapes {shapes[:4]}" if shapes else "")
            + ("; order" if order else "")
        )
    params = sum(p.numel() for p in model.parameters())
    if params != c.params:
        out.append(f"{where}: {params:,} parameters, the analysis says {c.params:,}")
    x = torch.empty((2, *c.input_shape), device="meta")
    try:
        with torch.no_grad():
            y = model.eval()(x)
    except Exception as e:  # a module that does not run is a finding, whatever it raises
        out.append(f"{where}: forward failed: {type(e).__name__}: {str(e)[:200]}")
        return out
    if not isinstance(y, torch.Tensor):
        out.append(f"{where}: forward returned {type(y).__name__}, not a tensor")
    elif tuple(y.shape) != (2, *c.output_shape):
        out.append(f"{where}: output {tuple(y.shape)[1:]}, the analysis says {c.output_shape}")
    return out


def validate(c: Compiled, *, variants: int = 3) -> Report:
    """Build the emitted module of ``c`` and compare it with the analysis, at the spec's values
    and at up to ``variants`` other values of each exposed constructor argument."""
    report = Report(c.name)
    source, class_name = _render(c)
    try:
        module = load_module(source, c.name)
    except Exception as e:
        report.differences.append(f"the emitted module does not import: {type(e).__name__}: {e}")
        return report
    cls = module.__dict__[class_name]
    report.checked.append("defaults")
    try:
        with torch.device("meta"):
            model = cls()
    except Exception as e:
        report.differences.append(f"defaults: construction failed: {type(e).__name__}: {str(e)[:200]}")
        return report
    report.differences += compare(c, model, "defaults")
    exposed = [p for p in inspect.signature(cls).parameters if p != "self"]
    # the values this network was compiled with (its --set overrides included), one varied at a time
    current = {}
    for k, v in c.network.params.items():
        try:
            current[k] = literal(v, NOWHERE)
        except ArchcError:
            continue  # a value no expression writes (it stays the spec's)
    for name in exposed:
        for value in list(_alternatives(c.network.params.get(name)))[:variants]:
            try:
                other = compile_program(
                    c.program,
                    network=c.network.name,
                    sets={**current, name: literal(value, NOWHERE)},
                    input_shape=c.input_shape,
                )
            except (ArchcError, UsageError):
                continue  # not a valid network with that value: nothing to compare
            where = f"{name}={value!r}"
            report.checked.append(where)
            try:
                with torch.device("meta"):
                    built = cls(**{name: _as_argument(value)})
            except Exception as e:
                report.differences.append(f"{where}: construction failed: {type(e).__name__}: {str(e)[:200]}")
                continue
            report.differences += compare(other, built, where)
    return report


def _as_argument(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _alternatives(v: Any) -> Iterator[Any]:
    """Other values of a parameter to try: nearby numbers, the other flag, lists varied."""
    if isinstance(v, bool):
        yield not v
    elif isinstance(v, int):
        for w in (v + 1, max(1, v // 2), v * 2, v - 1):
            if w != v and w > 0:
                yield w
    elif isinstance(v, float):
        for f in (v / 2, min(v * 2, 0.9) if v < 1 else v * 2):
            if f != v:
                yield f
    elif isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        yield [max(1, x - 1) for x in v]
        yield [x + 1 for x in v]
        yield [*v[:-1], v[-1] + 1]
