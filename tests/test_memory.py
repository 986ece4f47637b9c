"""Activation memory: what autograd keeps for backward, against measurements of the real thing.

``tests/reference/memory/saved.json`` holds, for every spec in specs/ (and variants, and
``opsnet.arch`` and ``zoo_ops.arch``, which exercise every op's rule where it matters), the bytes of
the distinct storages that ``torch.autograd.graph.saved_tensors_hooks`` sees in one training
forward pass of ``archc.load(spec).module()`` on CPU, parameters and buffers excluded, and the most
activation bytes alive at once in an inference pass; it is remade by
``benchmarks/memory_truth.py --write``.  The predictions must be within 3% (they are equal).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import REFERENCE, ROOT
from typer.testing import CliRunner

import archc
from archc.api import parse_sets
from archc.cli import app
from archc.dsl.memory import memory

MEASURED: dict[str, Any] = json.loads((REFERENCE / "memory" / "saved.json").read_text())
CASES = MEASURED["measurements"]


@cache
def compiled(spec: str, sets: tuple[str, ...]) -> archc.Compiled:
    return archc.compile_spec(ROOT / spec, sets=parse_sets(list(sets)))


def test_every_spec_was_measured_in_both_dtypes() -> None:
    from archc.dsl.ops import missing_rules

    def modelled(path: Path) -> bool:  # every op of it has a memory rule
        c = archc.compile_spec(path)
        ops = {d["op"] for n, d in c.graph.nodes(data=True) if n != "input"}
        return all("memory" not in missing_rules(op) for op in ops)

    specs = {p.stem for p in sorted((ROOT / "specs").glob("*.arch")) if modelled(p)}
    for dtype in ("float32", "bfloat16"):
        assert specs <= {m["name"] for m in CASES if m["dtype"] == dtype}
    assert {"zoo_ops", "opsnet"} <= {m["name"] for m in CASES}
    assert {"resnet18", "resnet50", "resnet152", "vgg16", "alexnet", "googlenet", "vit_b_16"} <= specs


@pytest.mark.parametrize("m", CASES, ids=[f"{m['name']}-b{m['batch']}-{m['dtype']}" for m in CASES])
def test_saved_activations_within_3_percent(m: dict[str, Any]) -> None:
    c = compiled(m["spec"], tuple(m["sets"]))
    predicted = memory(c.graph, m["batch"], m["dtype"])
    assert predicted.saved == pytest.approx(m["saved_bytes"], rel=0.03)
    # and the most activation bytes alive at once in an inference pass
    assert predicted.inference == pytest.approx(m["inference_bytes"], rel=0.03)


def _tiny(tmp_path: Path) -> archc.Compiled:
    spec = tmp_path / "m.arch"
    spec.write_text(
        "network m():\n    input 3x8x8\n    x -> c: conv(4, k=3, p=1) -> relu -> flatten -> fc: linear(10)\n"
    )
    return archc.compile_spec(spec)


def test_views_and_in_place_results_share_one_storage(tmp_path: Path) -> None:
    """conv keeps its input (the image); the in-place ReLU keeps its output, which is the conv's
    output storage; flatten is a view of it, which fc keeps: that storage counts once."""
    m = memory(_tiny(tmp_path).graph, batch=2, dtype="bfloat16")
    image, feature = 3 * 64 * 2 * 2, 4 * 64 * 2 * 2
    assert m.per_layer == {"c": image, "relu": feature}
    assert m.saved == image + feature
    assert m.output == 10 * 2 * 2
    assert m.params == (4 * 27 + 256 * 10 + 10) * 2


def test_peaks_add_up(tmp_path: Path) -> None:
    m = memory(_tiny(tmp_path).graph, batch=2, dtype="float32", optimizer="adam")
    assert m.optimizer_state == 2 * m.params and m.gradients == m.params
    assert m.training_peak == 4 * m.params + m.buffers + m.saved + m.output
    # without autograd: the caller holds the image throughout; the conv output (the in-place ReLU
    # and the flatten view share it) lives until fc has read it, next to fc's output
    assert m.inference == (3 * 64 + 4 * 64 + 10) * 2 * 4
    assert m.inference_peak == m.params + m.buffers + m.inference


def test_an_op_without_a_rule_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archc.dsl.ops import REGISTRY

    c = _tiny(tmp_path)
    monkeypatch.setattr(type(REGISTRY["flatten"]), "saves", lambda self, a, ins, out: None)
    m = memory(c.graph, batch=1)
    assert m.no_rule == ["flatten"]
    # assumed to keep its input (which the ReLU keeps already: counted once) and to make a new
    # tensor, which fc keeps: one more feature map than with flatten's rule (a view)
    assert m.saved == (3 * 64 + 4 * 64 + 4 * 64) * 4


def test_summary_memory_json_and_text() -> None:
    runner = CliRunner()
    spec = str(ROOT / "specs" / "resnet50.arch")
    result = runner.invoke(app, ["summary", spec, "--memory", "-b", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["memory"]
    measured = next(m for m in CASES if (m["name"], m["batch"], m["dtype"]) == ("resnet50", 2, "float32"))
    assert data["saved_activations_bytes"] == pytest.approx(measured["saved_bytes"], rel=0.03)
    assert data["training_peak_bytes"] > data["saved_activations_bytes"] + 3 * data["params_bytes"]
    text = runner.invoke(app, ["summary", spec, "--memory", "-b", "2", "--depth", "1"]).stdout
    assert "activations autograd keeps for backward" in text and "inference peak" in text
