"""The parser: constructs, positions, and properties that hold for any input."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc.codegen.emit import emit
from archc.dsl import ast
from archc.dsl.diagnostics import ArchcError
from archc.dsl.loader import load_text
from archc.dsl.parser import parse_expr, parse_text
from archc.dsl.resolve import resolve
from archc.dsl.values import Evaluator
from archc.render import dot_source


def chain_of(text: str) -> ast.Flow:
    module = parse_text(f"network n():\n    input 3x8x8\n    {text}\n")
    stmt = module.networks[0].body[1]
    assert isinstance(stmt, ast.FlowStmt | ast.Assign)
    return stmt.value


def test_chain_labels_args_and_positions() -> None:
    flow = chain_of("x -> conv1: conv(64, k=7, s=2, p=3) -> bn1: bn -> relu")
    assert [e.label for e in flow.chain] == ["conv1", "bn1", None]
    conv = flow.chain[0].layer
    assert isinstance(conv, ast.Call) and conv.name == "conv"
    assert [a.name for a in conv.args] == [None, "k", "s", "p"]
    assert (conv.span.line, conv.span.col) == (3, 17)


def test_continuation_lines_and_comments() -> None:
    text = "network n():\n    input 3x8x8\n    x -> a: relu   # first\n      # between\n      -> b: relu\n\n"
    flow = parse_text(text).networks[0].body[1].value  # type: ignore[union-attr]
    assert [e.label for e in flow.chain] == ["a", "b"]


def test_repeats_both_spellings_and_patterns() -> None:
    a = chain_of("x -> layers: relu x4").chain[0].repeat
    b = chain_of('x -> layers: relu x n - 1 named "layer_{i}"').chain[0].repeat
    assert a is not None and isinstance(a.count, ast.Num) and a.count.value == 4
    assert b is not None and isinstance(b.count, ast.BinOp) and b.pattern == "layer_{i}"


def test_x_is_still_a_name_where_a_value_is_expected() -> None:
    flow = chain_of("y = x -> relu")
    assert isinstance(flow.source, ast.Var) and flow.source.name == "x"


def test_merges_bind_tighter_than_arrows() -> None:
    flow = chain_of("a + b * c -> relu")
    merge = flow.source
    assert isinstance(merge, ast.Merge) and merge.op == "mul"
    assert isinstance(merge.operands[0], ast.Merge) and merge.operands[0].op == "add"
    assert len(flow.chain) == 1


def test_conditional_layer_and_sequence() -> None:
    el = chain_of("x -> downsample: [conv(8, k=1), bn] if in.c != 8").chain[0]
    assert isinstance(el.layer, ast.Seq) and len(el.layer.items) == 2
    assert isinstance(el.cond, ast.BinOp) and el.cond.op == "!="


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 // 2", 3),
        ("7 / 2", 3.5),
        ("-2 * 3", -6),
        ("2 if 1 == 1 else 3", 2),
        ("not 1 < 2 or 3 >= 3", True),
        ("[1, 2, 3][1]", 2),
        ("max(3, 4) + min([5, 6])", 9),
        ("1e-6", 1e-6),
        ("true and false", False),
    ],
)
def test_expressions(text: str, value: object) -> None:
    assert Evaluator({}).ev(parse_expr(text), {}) == value


def test_every_shipped_spec_parses() -> None:
    for path in sorted(SPECS.glob("*.arch")):
        parse_text(path.read_text(), str(path))


# ---------------------------------------------------------------- properties

SPEC_TEXTS = [p.read_text() for p in sorted(SPECS.glob("*.arch"))]
ALPHABET = string.ascii_letters + string.digits + " \t\n#:=()[]{},.+-*/%<>!\"'\\_→é\x00"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=200))
def test_arbitrary_text_raises_only_archc_errors(text: str) -> None:
    try:
        program = load_text(text, "fuzz.arch")
        if program.default_network() is not None:
            archc.api.elaborate(resolve(program), program.sources)
    except ArchcError as e:
        assert e.diagnostics and e.render()


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SPEC_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(len(text) - 1, 0)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(st.text(alphabet=ALPHABET, min_size=1, max_size=6))
        if kind == "delete":
            text = text[:i] + text[i + len(piece) :]
        elif kind == "insert":
            text = text[:i] + piece + text[i:]
        elif kind == "replace":
            text = text[:i] + piece + text[i + len(piece) :]
        else:
            j = draw(st.integers(i, min(len(text), i + 80)))
            text = text[:j] + text[i:j] + text[j:]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_mutated_specs_raise_only_archc_errors(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    folder = tmp_path_factory.mktemp("m")
    for p in SPECS.glob("*.arch"):  # so that `use` still finds the family files
        (folder / p.name).write_text(p.read_text())
    target = Path(folder / "mutant.arch")
    target.write_text(text)
    try:
        c = archc.compile_spec(target)
        assert c.params >= 0 and len(c.output_shape) >= 1
        # whatever compiles can also be emitted and drawn, or is refused with a located error
        compile(emit(c), "<emitted>", "exec")
        dot_source(c)
    except ArchcError as e:
        assert e.diagnostics and e.render()


def _lines(name: str) -> int:
    text = (SPECS / f"{name}.arch").read_text()
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def test_specs_stay_short() -> None:
    """Issue 2's limits: a spec reads like the paper's table, not like code."""
    assert _lines("resnet") + _lines("resnet50") < 30
    assert _lines("se_resnet50") <= 10
    assert _lines("vit") + _lines("vit_b_16") < 30
