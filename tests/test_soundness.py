"""The emitted module is exactly the checked network, for every spec the project ships.

For each spec under ``specs/`` and ``examples/`` (and the test suite's golden network),
:func:`archc.validate.validate` builds the module from the emitted source on PyTorch's meta
device and compares it with the analysis: ``state_dict`` keys, shapes and order, parameter
count and output shape; then it constructs the network class with other values of the
arguments it takes and compares each with the spec compiled with those values.  Networks that
are thin derivations of a family (``resnet101`` of ``resnet``) are covered at their defaults;
one representative per family also gets other argument values (the zoo tests add more).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT

import archc
from archc.dsl.diagnostics import ArchcError
from archc.validate import validate

CORPUS = sorted(
    [
        *(ROOT / "specs").glob("*.arch"),
        *(ROOT / "examples").rglob("*.arch"),
        GOLDEN / "codegen" / "tiny.arch",
    ]
)
# One spec per family is also constructed with other argument values (the slowest, the largest
# networks of a family, are covered at their defaults).
VARIED = {
    "resnet50",
    "se_resnet50",
    "vgg16",
    "vit_b_16",
    "inception_v3",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "shufflenet_v2_x1_0",
    "mnasnet0_5",
    "squeezenet1_1",
    "densenet121",
    "convnext_tiny",
    "resnet20",
    "rcan_x2",
    "tiny",
}


def _compiled(path: Path) -> archc.Compiled | None:
    try:
        return archc.compile_spec(path)
    except ArchcError as e:
        if "this file defines no network" in str(e) or "unknown op" in str(e):
            return None  # a family file (its networks are other specs), or a plugin's op
        raise


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_emitted_module_is_the_analysed_network(path: Path) -> None:
    c = _compiled(path)
    if c is None:
        pytest.skip("defines no network of its own, or needs a plugin")
    report = validate(c, variants=2 if path.stem in VARIED else 0)
    assert report.ok, "\n".join(report.differences)
    assert report.checked[0] == "defaults"
