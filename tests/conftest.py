from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
REFERENCE = Path(__file__).resolve().parent / "reference"
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def manifest(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / f"{name}.json").read_text())  # type: ignore[no-any-return]


def assert_counts_equal(c: Any, m: dict[str, Any], fvcore_extra: int = 0) -> None:
    """A compiled network's counts against a reference manifest: parameters, buffers, dense MACs
    (torchvision's ``_ops``), fvcore's total (archc's MACs in norms and adaptive pooling are
    fvcore's others; ``fvcore_extra`` what fvcore misses where the reference calls a function
    for what the spec does with a layer), and the input and output shapes."""
    assert c.params == m["total_params"]
    assert c.totals.buffers == m["buffer_numel"]
    assert c.macs == m["macs_dense_ops"]
    assert c.macs + c.totals.macs_other == m["macs"] + fvcore_extra
    assert list(c.input_shape) == m["input_shape"][1:]
    assert list(c.output_shape) == m["output_shape"][1:]


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare ``actual`` with the golden file, or rewrite it under --update-golden."""
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        if not update:
            pytest.fail(f"golden file {path.name} was missing; written, review it and rerun")
        return
    expected = path.read_text()
    assert actual == expected, (
        f"{path.name} differs from its golden file (rerun with --update-golden to accept)"
    )
