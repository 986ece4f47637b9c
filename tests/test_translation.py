"""Translation validation (issue 15): the module built from the emitted code is exactly the
network ``archc check`` analysed, at the spec's values and at other constructor arguments.

A seeded slice of ``make validate-long`` (``benchmarks/translation_validation.py``): mutated
corpus specs (``tests/fuzz/translation.py``) built on the meta device and compared with the
analysis, with two constructor arguments varied; the reproductions of issue 15 as fixed specs;
and a check that the comparison does see a module that is not the network.  Cases known to fail
today are ``xfail(strict=True)`` with their reproduction.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz.mutate import COSTS
from fuzz.runner import Workspace, entered_workspace
from fuzz.translation import TvMutator, make_tv_case, run_tv, validate_sampled

from archc.dsl.compiler import compile_program
from archc.dsl.loader import load_text

SEED = 2026
_BASE = len(TvMutator(SEED, 0).compiling())
# The first 12 edits of the seed whose source builds in under 0.3 s.
SLICE = [
    c for c in (f"{SEED}-{i}" for i in range(_BASE, _BASE + 100)) if COSTS[make_tv_case(c).source] < 0.3
][:12]
# The specs of issue 15 (each passed `check` and built something else, or failed to build).
ISSUE_15 = {
    "splice_if": """block b(extra=false):
    return x -> body: [conv(8, k=1), *[relu, conv(8, k=1)] if extra]
network n():
    input 8x8x8
    x -> l1: b(false) -> l2: b(true)
""",
    "max_arg": """block b(w):
    return x -> conv1: conv(max(8, w), k=1)
network n(w=12):
    input 8x4x4
    x -> l1: b(w)
""",
    "branches": """block b(w):
    return x -> conv1: conv(max(8, w), k=1)
network n():
    input 8x4x4
    x -> l1: b(4) -> l2: b(16)
""",
    "grow": """block b(out, grow):
    return x -> conv1: conv(out if grow else in.c, k=1)
network n():
    input 8x4x4
    x -> l1: b(16, true) -> l2: b(4, false)
""",
    "gate_false": """block gate():
    return x -> relu
network n(use_gate=false):
    input 8x4x4
    x -> conv(8, k=1) -> g: gate if use_gate
""",
    "k_list": """block b(k):
    return x -> conv(8, k=k, p=0)
network n():
    input 8x16x16
    x -> l1: b(3) -> l2: b([1, 7])
""",
    "splice_reps": """block b(reps):
    return x -> body: [*[conv(8, k=1), bn] x reps]
network n():
    input 8x4x4
    x -> l1: b(1) -> l2: b(3)
""",
    "cond_sublist": """block b(t):
    return x -> body: [[conv(8, k=1), bn] if t != 1, conv(8, k=1)]
network n():
    input 8x4x4
    x -> l1: b(1) -> l2: b(2)
""",
    "vector_input": """network n():
    input 8
    x -> linear(4)
""",
}


@pytest.fixture(scope="module")
def workspace() -> Iterator[Workspace]:
    with entered_workspace() as ws:
        yield ws


@pytest.mark.parametrize("cid", SLICE)
def test_mutated_spec_builds_into_the_analysed_network(cid: str, workspace: Workspace) -> None:
    r = run_tv(make_tv_case(cid), workspace)
    assert r.cls in ("ok", "error"), f"{cid}: {r.cls} {r.message}"
    if r.cls == "ok":
        assert r.build == "same", f"{cid}: {r.build}: {r.differences or r.message}"
        assert r.notes[0] == "defaults"


@pytest.mark.parametrize("name", sorted(ISSUE_15))
def test_issue_15_spec_builds_into_the_analysed_network(name: str) -> None:
    c = compile_program(load_text(ISSUE_15[name], f"{name}.arch"))
    checked, differences = validate_sampled(c, random.Random(name), 4)
    assert differences == []
    assert checked[0] == "defaults"


def test_a_module_of_another_network_is_a_difference() -> None:
    """The oracle sees what a miscompile would change: a width, an extra layer, the order."""
    import torch

    from archc.validate import compare

    c = compile_program(load_text(ISSUE_15["max_arg"], "a.arch"))  # conv1: 8 -> 12 channels, 1x1, no bias
    with torch.device("meta"):
        wider = torch.nn.Sequential(torch.nn.Conv2d(8, 13, 1, bias=False))
        same_shapes = torch.nn.Sequential(torch.nn.Conv2d(8, 12, 1, bias=False))
    diffs = compare(c, wider, "wider")
    assert any("state_dict differs" in d for d in diffs)
    assert f"wider: {8 * 13:,} parameters, the analysis says {c.params:,}" in diffs
    assert "wider: output (13, 4, 4), the analysis says (12, 4, 4)" in diffs
    names = compare(c, same_shapes, "renamed")  # same shapes under other keys
    assert names and "missing ['l1.conv1.weight'" in names[0]


def test_a_class_built_for_one_block_a_stage_takes_no_other_depth() -> None:
    """A stage of one block shows nothing of the blocks another depth adds (the first changes
    the width and strides), so the class is built for that depth: ``depths`` is no constructor
    argument, and the module is the analysed network (found by ``make validate-long``, case
    1-905, where ``.module(depths=(2, 2))`` used to build the second block like the first)."""
    import inspect

    import archc
    from archc.validate import validate

    spec = Path(__file__).resolve().parent / "golden" / "codegen" / "tiny.arch"
    one = archc.load(spec, depths=[1, 1])
    report = validate(one, variants=2)
    assert report.ok, report.differences
    assert "depths" not in inspect.signature(type(one.module())).parameters
    assert "depths" in inspect.signature(type(archc.load(spec, depths=[2, 2]).module())).parameters
