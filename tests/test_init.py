"""Initialisation as the spec states it: a fresh emitted model's tensors are distributed as a
fresh reference model's (statistics in tests/reference/init/, made with torchvision by
tests/reference/make_init_stats.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import ROOT, SPECS

import archc
from archc.dsl.diagnostics import ArchcError

INIT = ROOT / "tests" / "reference" / "init"


def _stats(name: str) -> dict[str, dict[str, object]]:
    return json.loads((INIT / f"{name}.json").read_text())["tensors"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["resnet50", "vit_b_16"])
def test_fresh_model_matches_the_reference_distribution(name: str) -> None:
    """Per tensor: exact where the reference is exact (zeros, ones, a seed-independent value);
    otherwise mean and std within sampling error: the tolerance is 6 standard errors of a mean
    (std/sqrt(n)) and of a standard deviation (std/sqrt(2n)), plus the spread across the
    reference's five seeds."""
    torch.manual_seed(1)
    model = archc.load(SPECS / f"{name}.arch").module()
    ours = model.state_dict()
    reference = _stats(name)
    assert list(ours) == list(reference)
    for key, ref in reference.items():
        t = ours[key].double()
        if ref["all_zeros"]:
            assert torch.count_nonzero(t) == 0, key
            continue
        if ref["all_ones"]:
            assert torch.all(t == 1), key
            continue
        if ref["same_for_every_seed"]:
            assert t.mean().item() == pytest.approx(ref["mean"], abs=1e-6), key
            assert t.std().item() == pytest.approx(ref["std"], abs=1e-6), key
            continue
        n = t.numel()
        std = float(ref["std"])  # type: ignore[arg-type]
        mean_tol = 6 * std / math.sqrt(n) + 2 * float(ref["mean_spread"])  # type: ignore[arg-type]
        std_tol = 6 * std / math.sqrt(2 * n) + 2 * float(ref["std_spread"])  # type: ignore[arg-type]
        assert abs(t.mean().item() - float(ref["mean"])) <= mean_tol, key  # type: ignore[arg-type]
        assert abs(t.std().item() - std) <= std_tol, key


def test_zero_init_residual_zeros_the_last_norm_of_each_block() -> None:
    model = archc.load(SPECS / "resnet50.arch", zero_init_residual=True).module()
    state = model.state_dict()
    bn3 = [k for k in state if k.endswith(".bn3.weight")]
    assert len(bn3) == 16 and all(torch.count_nonzero(state[k]) == 0 for k in bn3)
    assert torch.all(state["layer1.0.bn2.weight"] == 1)


def test_init_rules_are_checked(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    cases = {
        "init kaiming_normal for bn": "fewer than 2 dimensions",
        "init kaiming_normal(mode=fan_sideways) for conv": "mode must be one of fan_in, fan_out",
        "init glorot for conv": "unknown initializer or preset 'glorot'",
        "init normal for conv": "missing argument 'std'",
        "init zeros for nothing_here": "nothing is named 'nothing_here'",
        "init zeros for relu": "match no layer with tensors",
    }
    for line, message in cases.items():
        spec = folder / "n.arch"
        spec.write_text(f"network n():\n    input 3x8x8\n    {line}\n    x -> conv(4, k=1) -> bn -> relu\n")
        with pytest.raises(ArchcError) as info:
            archc.load(spec)
        assert message in str(info.value), (line, str(info.value))
        assert info.value.diagnostics[0].span.line == 3
