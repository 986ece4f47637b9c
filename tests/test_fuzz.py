"""A seeded slice of the fuzzing campaign (issue 14; the long run is ``make fuzz``).

Each case of the slice is made from its id by ``tests/fuzz/mutate.py`` and run in this process as
``archc check`` runs it, under the campaign's 5 s CPU budget: it must compile or end in archc's
own located error, never a traceback or a hang; what compiles must build on the meta device into
exactly the analysed network; and no emitted module may run the canary that hostile file names
and strings carry.  Cases known to fail today are ``xfail(strict=True)`` with their reproduction,
so the test turns red (XPASS) once archc is fixed and the mark can go.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz.corpus import corpus
from fuzz.mutate import COSTS, KINDS, Case, canary_name, make_case, payloads
from fuzz.runner import Workspace, entered_workspace, import_canaries, run_case

from archc.dsl.compiler import compile_program
from archc.dsl.loader import load_text

SEED = 2026
# The first 32 cases of the seed whose source builds in under 0.3 s (the slice stays a few seconds).
SLICE = [c for c in (f"{SEED}-{i}" for i in range(200)) if COSTS.get(make_case(c).source, 0.0) < 0.3][:32]
# Failures found by ``make fuzz`` (seed 1, corpus 18791a3f4fcd), reduced by hand to specs that do
# not depend on the corpus; all fixed since, each stays as a regression test (the text says what
# happened before the fix).
_UNIT = b"block u(c):\n    return x -> conv(c, k=1)\n"
FOUND: dict[str, tuple[str, bytes, str]] = {  # name -> (file name, spec, what happens)
    "two_flows_from_the_input": (
        "two_flows.arch",
        b"network n():\n    input 8x6x7\n    x -> conv(12, k=1)\n    x -> conv(12, k=1)\n",
        "fuzz case 1-1894 (and 1-5197, 1-5964, 1-6422, 1-7483, 1-8145, 1-9401, ...): the analysis reads "
        "both flows from the input (edges input->conv, input->conv_1); the emitted forward chains them "
        "(x = self.conv(x); return self.conv_1(x)): forward fails; with conv(8, k=1) twice it silently "
        "computes conv_1(conv(x))",
    ),
    "file_name_not_utf8": (
        "bad\udcff\udcfe.arch",
        b"network n(width=4):\n    input 3x8x8\n    x -> conv(width, k=1)\n",
        "fuzz case 1-132 (86 cases): archc build exits 0 and the module does not import: its docstrings "
        "hold the escape \\udcff, which Python reads as a lone surrogate (UnicodeEncodeError at class "
        "creation)",
    ),
    "layer_name_of_64_characters": (
        "long_name.arch",
        _UNIT + b"network n(r=[2]):\n    input 3x8x8\n    x -> " + b"a" * 64 + b": [u(8), u(8) x r[0] - 1]\n",
        "fuzz case 1-3056: the shape comment of the forward line is wrapped over five lines "
        "(IndentationError on import); 40 characters are fine",
    ),
    "layer_named__modules": (
        "modules.arch",
        b"network n():\n    input 8x4x4\n    x -> _modules: conv(8, k=1)\n",
        "fuzz case 1-13619: check and build accept a layer named _modules; constructing the module "
        "fails (AttributeError: cannot assign module before Module.__init__() call)",
    ),
    "undefined_block_under_a_false_condition": (
        "gate.arch",
        b"network n(use_gate=false):\n    input 8x4x4\n    x -> conv(8, k=1) -> g: gate if use_gate\n",
        "fuzz case 1-5626: check says ok (gate is never defined), archc build ends in KeyError: 'g' "
        "(codegen/emit.py:757)",
    ),
    "reserved_layer_name_under_a_false_condition": (
        "reserved.arch",
        b"block gate():\n    return x -> relu\nnetwork n(use_gate=false):\n    input 8x4x4\n"
        b"    x -> conv(8, k=1) -> state_dict: gate if use_gate\n",
        "fuzz case 1-5822 (and 1-7799, a layer name used twice): check says ok, build refuses "
        "('state_dict' cannot be a layer name): names under a false condition are not checked",
    ),
}


def _found(name: str) -> Case:
    file_name, data, _ = FOUND[name]
    return Case(f"found-{name}", "found", "", "specs", file_name, data)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Workspace]:
    with entered_workspace() as ws:
        yield ws


@pytest.fixture(scope="module")
def canary_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("canary")


def _check(case: Case, workspace: Workspace, canary_dir: Path) -> None:
    r = run_case(case, workspace, canary_dir=canary_dir, sample=True)
    assert r.cls in ("ok", "error"), f"{case.id} ({r.kind}): {r.cls} {r.signature} {r.message}"
    assert r.cpu_s < 5.0
    if r.cls == "ok":
        assert r.build == "same", f"{case.id} ({r.kind}): build {r.build}: {r.differences or r.message}"


@pytest.mark.parametrize("cid", SLICE)
def test_case_ends_in_a_located_error_or_the_analysed_module(
    cid: str, workspace: Workspace, canary_dir: Path
) -> None:
    _check(make_case(cid), workspace, canary_dir)


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_case(name: str, workspace: Workspace, canary_dir: Path) -> None:
    _check(_found(name), workspace, canary_dir)


def test_no_emitted_module_runs_a_canary(workspace: Workspace, canary_dir: Path) -> None:
    """The modules the slice saved (every compiled case; the slice's cases with hostile file names
    and strings are run here when the slice did not run before) are imported in a fresh process;
    a planted module with a payload written raw shows that a canary that runs is seen."""
    carrying = [c for c in SLICE if make_case(c).canary]
    for c in carrying:
        if not (canary_dir / f"case_{c.replace('-', '_')}.py").exists():
            run_case(make_case(c), workspace, canary_dir=canary_dir, sample=True)
    saved = sorted(p.name for p in canary_dir.glob("case_*.py"))
    assert any(f"case_{c.replace('-', '_')}.py" in saved for c in carrying), "no hostile case compiled"
    planted = canary_name("0-0")
    (canary_dir / "case_planted.py").write_text(f"# Generated from {payloads(planted)[0]}\n")
    found = import_canaries(canary_dir)
    assert found["executions"] == [planted]
    assert not found["failed"], found["failed"]
    assert found["imported"] == len(saved) + 1 - len(found["failed"])


def test_a_case_id_reproduces_its_case() -> None:
    a, b = make_case(f"{SEED}-7"), make_case(f"{SEED}-7")
    assert a == b
    assert make_case(f"{SEED}-8") != a
    assert make_case(f"{SEED + 1}-7") != a


def test_every_kind_is_generated_and_the_corpus_holds_every_shipped_spec() -> None:
    kinds = {make_case(f"{SEED}-{i}").kind for i in range(400)}
    assert kinds == set(KINDS)
    paths = {s.path for s in corpus()}
    root = Path(__file__).resolve().parent.parent
    for spec in (root / "specs").glob("*.arch"):
        assert f"specs/{spec.name}" in paths
    assert any(p.startswith("examples/") for p in paths)
    assert any(p.startswith("tests/inline/") for p in paths)


def test_a_case_past_its_budget_is_a_hang(workspace: Workspace) -> None:
    case = next(
        c
        for c in map(make_case, (f"{SEED}-{i}" for i in range(400)))
        if c.kind == "nesting" and "20000" in c.notes[0]
    )
    r = run_case(case, workspace, build=False, check_budget=0.01)
    assert r.cls == "hang"
    assert r.signature.startswith("hang:nesting")


def test_names_in_a_block_used_only_under_a_false_condition_are_checked(tmp_path: Path) -> None:
    """Found by `make fuzz` (seed 3, cases 3-26887 and 3-3047's kind): a block that no instance
    elaborates still has its names checked, so `check` and `build` agree."""
    import archc
    from archc.dsl.diagnostics import ArchcError

    spec = tmp_path / "kw.arch"
    spec.write_text(
        "block gate():\n    except = x -> gap -> sigmoid\n    return x * except\n"
        "block b(use_gate=false):\n    return x -> conv1: conv(8, k=1) -> g: gate if use_gate\n"
        "network n(use_gate=false):\n    input 8x4x4\n    x -> l1: b(use_gate) -> l2: b(use_gate)\n"
    )
    with pytest.raises(ArchcError, match="'except' cannot be a tensor name: a Python keyword"):
        archc.compile_spec(spec)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x -> a: relu -> a: gap", "layer name 'a' is already used in this block"),
        (
            "x -> a: relu -> s: [b: relu, *[b: gap]]",
            "'b' cannot be a layer name: already used in this sequence",
        ),
    ],
)
def test_a_layer_name_used_twice_in_a_block_no_instance_elaborates_is_refused_by_check(
    tmp_path: Path, body: str, message: str
) -> None:
    """Found by `make fuzz` (seed 3, case 3-3047): the duplicate was refused by `build` only."""
    import archc
    from archc.dsl.diagnostics import ArchcError

    spec = tmp_path / "dup.arch"
    spec.write_text(
        f"block gate():\n    return {body}\n"
        "block b(use_gate=false):\n    return x -> conv1: conv(8, k=1) -> g: gate if use_gate\n"
        "network n(use_gate=false):\n    input 8x4x4\n    x -> l1: b(use_gate) -> l2: b(use_gate)\n"
    )
    with pytest.raises(ArchcError, match=message) as info:
        archc.compile_spec(spec)
    assert info.value.diagnostics[0].span.line == 2


# ------------------------------------------------------------------ found by make fuzz, seed 4


def _check_refuses(text: str, message: str, line: int, tmp_path: Path) -> None:
    import archc
    from archc.dsl.diagnostics import ArchcError

    spec = tmp_path / "f.arch"
    spec.write_text(text)
    with pytest.raises(ArchcError, match=message) as info:
        archc.compile_spec(spec)
    assert info.value.diagnostics[0].span.line == line


def _builds_as_analysed(text: str, tmp_path: Path, name: str = "f.arch") -> Any:
    import archc
    from archc.validate import validate

    spec = tmp_path / name
    spec.write_text(text)
    c = archc.compile_spec(spec)
    report = validate(c, variants=2)
    assert report.ok, report.differences
    return c


def test_an_undefined_tensor_in_a_block_no_instance_elaborates_is_refused_by_check(tmp_path: Path) -> None:
    """Case 4-15982: `return x * except` in a block used only under a false condition."""
    _check_refuses(
        "block gate():\n    return x * except\n"
        "block b(use_gate=false):\n    return x -> conv1: conv(8, k=1) -> g: gate if use_gate\n"
        "network n(use_gate=false):\n    input 8x4x4\n    x -> l1: b(use_gate) -> l2: b(use_gate)\n",
        "undefined name 'except'",
        2,
        tmp_path,
    )


def test_an_assignment_after_the_output_keeps_the_output(tmp_path: Path) -> None:
    """Case 4-10028: `b = x -> ...` after the network's last chain; the emitted forward
    returned nothing (the analysis' output is the last chain)."""
    from archc.codegen.emit import emit

    c = _builds_as_analysed(
        "block unit(c):\n    return x -> conv(c, k=1) -> relu\n\n"
        "network n():\n    input 8x6x6\n    x -> layers: [unit(8), unit(8)] -> gap\n"
        "    b = x -> s2: [slice(4, 8)]\n",
        tmp_path,
    )
    assert c.output_shape == (8, 1, 1)
    forward = emit(c).split("def forward(self, x: torch.Tensor) -> torch.Tensor:")[-1].split("\n\n")[0]
    assert forward.splitlines()[-2:] == ["        self.s2(x)  # (B, 4, 6, 6)", "        return out"]


def test_a_module_that_returns_no_tensor_is_a_difference() -> None:
    import torch

    from archc.validate import compare

    class Nothing(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> None:
            return None

    c = compile_program(load_text("network n():\n    input 8\n    x -> relu\n"))
    assert compare(c, Nothing(), "nothing") == ["nothing: forward returned NoneType, not a tensor"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "block b(t):\n    return x -> body: [[conv(8, k=1), bn] if t != 1, conv(8, k=1)]\n"
            "network n():\n    input 8x4x4\n    x -> l1: b(1) -> l2: b(conv)\n",
            5,
        ),
        ("network n(t=conv):\n    input 8x4x4\n    x -> conv(8, k=1) -> relu if t != 1\n", 1),
    ],
)
def test_an_op_with_no_factory_is_no_value(tmp_path: Path, text: str, line: int) -> None:
    """Case 4-17291: `b(conv)` passed check; build could not write `conv` as a value."""
    _check_refuses(text, "the op 'conv' cannot be passed as a value", line, tmp_path)


def test_a_block_kept_under_a_false_condition_need_not_make_sense_there(tmp_path: Path) -> None:
    """Case 4-25927: RegNet's SE width written `max(1e-320, ...)`: at se_ratio=0 the SE is absent
    and its width is no integer; build refused what check accepted. The class is now built for
    se_ratio=0 (the condition decided), equal to the analysis."""
    from archc.codegen.emit import emit

    c = _builds_as_analysed(
        "block s(w):\n    return x -> conv(w, k=1)\n"
        "block b(r=0):\n    return x -> f: [conv(8, k=1), s(max(1e-320, r * 8)) if r > 0, relu]\n"
        "network n(r=0):\n    input 8x4x4\n    x -> l1: b(r)\n",
        tmp_path,
    )
    assert "Built for r=0." in emit(c)


def test_a_layer_name_under_a_false_condition_is_taken(tmp_path: Path) -> None:
    """Case 4-27525: the same name under a condition in two chains; the class holds both."""
    body = "    x -> conv(8, k=1) -> g: gate if use_gate\n"
    _check_refuses(
        "block gate():\n    return x -> relu\nnetwork n(use_gate=false):\n    input 8x4x4\n" + body * 2,
        "layer name 'g' is already used in this block",
        6,
        tmp_path,
    )
    _check_refuses(
        "network n(c=false):\n    input 8x4x4\n    x -> s: [a: relu if c, a: gap if c]\n",
        "'a' cannot be a layer name: already used in this sequence",
        3,
        tmp_path,
    )


def test_a_reserved_name_under_a_false_condition_in_a_sequence_is_refused(tmp_path: Path) -> None:
    """Case 4-31353: RegNet's SE item named `x`, absent at se_ratio=0."""
    _check_refuses(
        "network n(c=false):\n    input 8x4x4\n    x -> s: [relu, x: gap if c]\n",
        "'x' cannot be a layer name: reserved by the emitted code",
        3,
        tmp_path,
    )


def test_an_unread_tensor_named_like_a_layer_is_computed_without_a_name(tmp_path: Path) -> None:
    """`s2 = x -> b: relu` that nothing reads, beside a layer named `s2`: the emitted forward
    computes `self.b(x)` without keeping it (an unused variable otherwise: `self.s2` is not it)."""
    from archc.codegen.emit import emit

    c = _builds_as_analysed(
        "network n():\n    input 8x6x6\n    s2 = x -> b: relu\n    x -> layers: conv(8, k=1) -> s2: gap\n",
        tmp_path,
    )
    forward = emit(c).split("def forward(self, x: torch.Tensor) -> torch.Tensor:")[-1].split("\n\n")[0]
    lines = [line.strip() for line in forward.splitlines()[1:]]
    assert lines == ["self.b(x)", "x = self.layers(x)", "return self.s2(x)"]
