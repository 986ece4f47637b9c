"""Counting conventions: each reproduces, to the unit, what its tool prints for the same network.

The expected numbers come from the tools themselves (``tests/reference/make_counting.py``, run in a
separate environment with torchvision, fvcore, ptflops and torchinfo) and are read from
``tests/reference/counting/*.json``; nothing here imports those tools.
"""

from __future__ import annotations

import json
from functools import cache
from math import prod
from pathlib import Path
from typing import Any

import pytest
from conftest import REFERENCE, ROOT
from typer.testing import CliRunner

import archc
from archc.cli import app
from archc.dsl.counting import CONVENTIONS, NO_RULE, Convention, ledger
from archc.dsl.ops import REGISTRY, Op

COUNTING = REFERENCE / "counting"
FILES = sorted(p for p in COUNTING.glob("*.json") if p.stem != "torchvision_min_sizes")
# archc convention name -> key in the reference files
TOOLS = {"fvcore": "fvcore", "ptflops": "ptflops", "ptflops-aten": "ptflops_aten", "torchinfo": "torchinfo"}


@cache
def record(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@cache
def compiled(spec: str) -> archc.Compiled:
    return archc.compile_spec(ROOT / spec)


def test_the_reference_networks_are_all_there() -> None:
    names = {p.stem for p in FILES}
    assert {"resnet18", "resnet50", "resnet152", "vgg16", "alexnet", "googlenet", "vit_b_16"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize("convention", list(TOOLS))
def test_convention_equals_the_tool(path: Path, convention: str) -> None:
    """The tool run on archc's emitted module (generated/<spec>.py) prints exactly this."""
    r = record(path)
    c = compiled(r["spec"])
    assert list(c.input_shape) == r["input_shape"][1:]
    count = ledger(c.graph, convention)
    assert count.complete
    assert count.total == r["emitted"][TOOLS[convention]]["total"]


@pytest.mark.parametrize("path", [p for p in FILES if "reference" in record(p)], ids=lambda p: p.stem)
def test_emitted_module_and_torchvision_model_count_alike(path: Path) -> None:
    """On torchvision's own model every tool prints the same as on the emitted module, except
    ptflops on GoogLeNet: torchvision's BasicConv2d calls F.relu where the emitted module has an
    nn.ReLU, and ptflops counts a ReLU module twice (its hook, and the patched F.relu it calls)."""
    r = record(path)
    for key in TOOLS.values():
        emitted, reference = r["emitted"][key]["total"], r["reference"][key]["total"]
        if path.stem == "googlenet" and key == "ptflops":
            g = compiled(r["spec"]).graph
            relu = sum(prod(d["shape"]) for _, d in g.nodes(data=True) if d["op"] == "relu")
            assert emitted - reference == relu
        else:
            assert emitted == reference, key


@pytest.mark.parametrize(
    "path", [p for p in FILES if "torchvision_weights_meta" in record(p)], ids=lambda p: p.stem
)
def test_torchvision_convention_is_the_published_figure(path: Path) -> None:
    """torchvision publishes `_ops` (labelled GFLOPS, in fact MACs) to three decimals."""
    r = record(path)
    published = {w["_ops"] for name, w in r["torchvision_weights_meta"].items() if "SWAG_E2E" not in name}
    total = ledger(compiled(r["spec"]).graph, "torchvision").total
    assert published == {round(total / 1e9, 3)}
    assert total == compiled(r["spec"]).macs


def test_fvcore_skips_attention_products_and_says_so() -> None:
    """fvcore has no handle for scaled_dot_product_attention: ViT-B/16's total lacks 2·N²·D per
    block, the difference between fvcore's printed total and archc's default (timm's published)."""
    c = compiled("specs/vit_b_16.arch")
    fv = ledger(c.graph, "fvcore")
    n, d = 197, 768
    assert c.macs + c.totals.macs_other - fv.total == 12 * 2 * n * n * d
    assert "scaled_dot_product_attention" in fv.ops["attention"].says
    assert fv.ops["relu" if "relu" in fv.ops else "gelu"].count == 0


def test_every_table_names_registered_ops() -> None:
    for conv in CONVENTIONS.values():
        assert set(conv.rules) <= set(REGISTRY), conv.name


def test_an_op_without_a_rule_is_reported_never_zero() -> None:
    c = compiled("specs/resnet18.arch")
    full = CONVENTIONS["ptflops"]
    rules = {k: v for k, v in full.rules.items() if k != "relu"}
    partial = Convention(full.name, full.tool, full.unit, rules)
    count = ledger(c.graph, partial)
    assert not count.complete and count.no_rule == ["relu"]
    assert count.ops["relu"].count is None and count.ops["relu"].says == NO_RULE
    assert all(count.per_layer[n] is None for n, d in c.graph.nodes(data=True) if d["op"] == "relu")
    relu = sum(2 * prod(d["shape"]) for _, d in c.graph.nodes(data=True) if d["op"] == "relu")
    assert count.total == ledger(c.graph, "ptflops").total - relu


runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_summary_count_json_has_the_ledger_and_per_layer_counts() -> None:
    spec = str(ROOT / "specs/resnet18.arch")
    data = json.loads(cli("summary", spec, "--count", "ptflops", "--format", "json"))
    want = record(COUNTING / "resnet18.json")["emitted"]["ptflops"]["total"]
    ledger_ = data["counting"]["ptflops"]
    assert ledger_["total"] == want and ledger_["complete"] and "GMac" in ledger_["unit"]
    assert ledger_["ops"]["relu"]["count"] > 0 and "twice" not in ledger_["ops"]["add"]["rule"]
    assert ledger_["ops"]["add"]["count"] == 0
    assert sum(layer["count"] for layer in data["layers"]) == want


def test_summary_count_table_states_the_unit() -> None:
    out = cli("summary", str(ROOT / "specs/vit_b_16.arch"), "--count", "torchinfo", "--depth", "1")
    header = out.splitlines()[0]
    assert header.split()[-2:] == ["MACs", "(torchinfo)"]
    want = record(COUNTING / "vit_b_16.json")["emitted"]["torchinfo"]["total"]
    assert f"torchinfo: {want:,}" in out and "unit: mult-adds" in out and "2 FLOPs" in out


def test_summary_count_all_lists_every_convention() -> None:
    out = cli("summary", str(ROOT / "specs/alexnet.arch"), "--count", "all")
    r = record(COUNTING / "alexnet.json")["emitted"]
    for name, key in TOOLS.items():
        line = next(x for x in out.splitlines() if x.startswith(name + " "))
        assert f"{r[key]['total']:,}" in line


def test_ops_lists_the_rules_an_op_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    at = cli("ops").splitlines().index("  relu()")
    assert "no rule yet" not in cli("ops").splitlines()[at + 2]  # relu has every rule today
    monkeypatch.delitem(CONVENTIONS["fvcore"].rules, "relu")  # type: ignore[attr-defined]
    monkeypatch.setattr(type(REGISTRY["relu"]), "window", Op.window)
    lines = cli("ops").splitlines()
    assert lines[at + 2].strip() == "[no rule yet for: fvcore, receptive field]"


def test_every_built_in_op_has_every_rule() -> None:
    """Each op has a rule in every analysis: each counting convention, memory, receptive field."""
    from archc.dsl.ops import missing_rules
    from archc.dsl.ops.plugins import provider_of

    missing = {name: missing_rules(name) for name in REGISTRY if not provider_of(name)}
    assert {name: m for name, m in missing.items() if m} == {}
    assert "no rule yet" not in cli("ops")
