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
