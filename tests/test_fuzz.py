"""A seeded slice of the fuzzing campaign (issue 14; the long run is ``make fuzz``).

Each case of the slice is made from its id by ``tests/fuzz/mutate.py`` and run in this process as
``archc check`` runs it, under the campaign's 5 s CPU budget: it must compile or end in archc's
own located error, never a traceback or a hang; what compiles must build on the meta device into
exactly the analysed network; and no emitted module may run the canary that hostile file names
and strings carry.  Cases known to fail today are ``xfail(strict=True)`` with their reproduction,
so the test turns red (XPASS) once archc is fixed and the mark can go.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz.corpus import corpus
from fuzz.mutate import COSTS, KINDS, canary_name, make_case, payloads
from fuzz.runner import Workspace, import_canaries, run_case

SEED = 2026
# The first 32 cases of the seed whose source builds in under 0.3 s (the slice stays a few seconds).
SLICE = [c for c in (f"{SEED}-{i}" for i in range(200)) if COSTS.get(make_case(c).source, 0.0) < 0.3][:32]
# Failures found by ``make fuzz`` (seed 1), kept as cases of the slice until archc is fixed:
# id -> the reproduction (``python benchmarks/fuzz_campaign.py --case ID`` shows the whole case).
KNOWN: dict[str, str] = {
    "1-1894": (
        "two flow statements from the input: the analysis reads both from x (edges input->conv, "
        "input->conv_1), the emitted forward chains them (x = self.conv(x); return self.conv_1(x)); "
        "network n(): / input 8x6x7 / x -> conv(12, k=1) / x -> conv(12, k=1) fails at forward, "
        "and with conv(8, k=1) twice it silently computes conv_1(conv(x))"
    ),
    "1-132": (
        "a spec file name that is not UTF-8 (specs/bad\\xff.arch): archc build exits 0, and the "
        "module does not import: the docstrings hold the escape \\udcff, a lone surrogate once "
        "Python reads the docstring (UnicodeEncodeError at class creation)"
    ),
    "1-3056": (
        "a layer named with 64 characters whose forward line carries a shape comment: the comment "
        "'# (B, 8, 8, 8)' is wrapped over five lines (IndentationError on import); "
        "x -> aaaa...(64 a): [u(8), u(8) x r[0] - 1]"
    ),
}
FOUND = sorted(KNOWN)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Workspace]:
    ws = Workspace()
    cwd = os.getcwd()
    os.chdir(ws.root)
    try:
        yield ws
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def canary_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("canary")


def _marks(cid: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.xfail(strict=True, reason=KNOWN[cid])] if cid in KNOWN else []


@pytest.mark.parametrize("cid", [pytest.param(c, marks=_marks(c)) for c in SLICE + FOUND])
def test_case_ends_in_a_located_error_or_the_analysed_module(
    cid: str, workspace: Workspace, canary_dir: Path
) -> None:
    r = run_case(make_case(cid), workspace, canary_dir=canary_dir, sample=True)
    assert r.cls in ("ok", "error"), f"{cid} ({r.kind}): {r.cls} {r.signature} {r.message}"
    assert r.cpu_s < 5.0
    if r.cls == "ok":
        assert r.build == "same", f"{cid} ({r.kind}): build {r.build}: {r.differences or r.message}"


def test_no_emitted_module_runs_a_canary(canary_dir: Path) -> None:
    """The modules the slice saved (every compiled case, those with hostile names included) are
    imported in a fresh process; a planted module with a payload written raw shows that a
    canary that runs is seen."""
    saved = sorted(p.name for p in canary_dir.glob("case_*.py"))
    carrying = [c for c in SLICE if make_case(c).canary and f"case_{c.replace('-', '_')}.py" in saved]
    planted = canary_name("0-0")
    (canary_dir / "case_planted.py").write_text(f"# Generated from {payloads(planted)[0]}\n")
    found = import_canaries(canary_dir)
    assert found["executions"] == [planted]
    known = {f"case_{c.replace('-', '_')}.py" for c in KNOWN}  # failures reported above
    assert set(found["failed"]) <= known, found["failed"]
    assert found["imported"] == len(saved) + 1 - len(found["failed"])
    assert carrying, "the slice holds no compiled case with a hostile file name or string"


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
