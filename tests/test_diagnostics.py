"""Every class of user error: its exact message and location, as golden files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GOLDEN, check_golden

import archc
from archc.api import parse_sets
from archc.dsl.diagnostics import ArchcError

CASES = sorted(p.name for p in (GOLDEN / "diagnostics").glob("*.arch") if p.name != "circular_b.arch")
SETS = {"unknown_set.arch": ["widht=3"]}


@pytest.mark.parametrize("case", CASES)
def test_diagnostic(case: str, monkeypatch: pytest.MonkeyPatch, update_golden: bool) -> None:
    monkeypatch.chdir(GOLDEN / "diagnostics")
    with pytest.raises(ArchcError) as info:
        archc.compile_spec(Path(case), sets=parse_sets(SETS.get(case, [])))
    check_golden(
        GOLDEN / "diagnostics" / case.replace(".arch", ".err"), info.value.render() + "\n", update_golden
    )


def test_all_errors_are_reported_not_only_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN / "diagnostics")
    with pytest.raises(ArchcError) as info:
        archc.compile_spec("wrong_type.arch")
    assert len(info.value.diagnostics) == 3


def test_too_big_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.chdir(GOLDEN / "diagnostics")
    start = time.perf_counter()
    with pytest.raises(ArchcError, match="spec too big"):
        archc.compile_spec("too_big.arch")
    # generous bound: the point is "not a hang", the benchmark measures speed
    assert time.perf_counter() - start < 5


def test_an_error_caused_by_set_names_the_override() -> None:
    """Issue 9: `--set depths=3` fails inside resnet.arch; the message says the value came from
    the command line, not from the spec."""
    spec = Path(__file__).resolve().parent.parent / "specs" / "resnet50.arch"
    with pytest.raises(ArchcError) as info:
        archc.compile_spec(spec, sets=parse_sets(["depths=3"]))
    first = info.value.diagnostics[0]
    assert first.message == "cannot index an integer"
    assert first.span.file.endswith("resnet.arch")
    assert first.hint == "this reads a value set on the command line (--set depths=3)"
    with pytest.raises(ArchcError) as plain:  # the same spec without --set: no such note
        archc.compile_spec(spec, sets=parse_sets(["num_classes=10", "depths=[3, 4, 6]"]))
    assert "--set depths=[3, 4, 6]" in (plain.value.diagnostics[0].hint or "")
    assert "num_classes" not in (plain.value.diagnostics[0].hint or "")


def test_a_parameter_given_twice_is_a_located_error(tmp_path: Path) -> None:
    """Found by `make fuzz` (seed 3, case 3-9562): `block b(out, out=1)` was accepted by check and
    emitted a constructor Python refuses (duplicate argument)."""
    spec = tmp_path / "dup.arch"
    spec.write_text(
        "block b(out, out=1):\n    return x -> conv(out, k=1)\nnetwork n():\n    input 3x4x4\n    x -> b(4)\n"
    )
    with pytest.raises(ArchcError) as info:
        archc.compile_spec(spec)
    d = info.value.diagnostics[0]
    assert (d.span.line, d.span.col, d.message) == (1, 14, "parameter 'out' is given twice")
