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
    zoo = {"mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "mnasnet1_0", "shufflenet_v2_x1_0"}
    zoo |= {"squeezenet1_0", "squeezenet1_1", "densenet121", "resnext50_32x4d", "wide_resnet50_2"}
    assert zoo | {"convnext_tiny", "swin_t"} <= names


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


def _elements(g: Any, op: str, where: str = "shape", last: bool = False) -> int:
    """Elements of the outputs (or the inputs, ``where="in"``) of every layer of ``op`` in ``g``
    (of the last one only, with ``last``)."""
    layers = [d for _, d in sorted(g.nodes(data=True), key=lambda nd: nd[1]["order"]) if d.get("op") == op]
    sizes = [prod(d["in_shapes"][0] if where == "in" else d["shape"]) for d in layers]
    return sizes[-1] if last else sum(sizes)


#: Where torchvision's model computes a layer with a function that the emitted module computes with
#: a module, the tools that hook modules or patch functions count it differently: what the emitted
#: module's count exceeds torchvision's by, per network and tool (nothing elsewhere).
KNOWN_DIFFERENCES: dict[str, dict[str, Any]] = {
    # BasicConv2d calls F.relu: ptflops counts the emitted nn.ReLU twice (its hook, the patched F.relu)
    "googlenet": {"ptflops": lambda g: _elements(g, "relu")},
    # F.adaptive_avg_pool2d: the patched function counts it once; the emitted nn.AdaptiveAvgPool2d
    # is counted by its hook as well
    "mobilenet_v2": {"ptflops": lambda g: _elements(g, "gap", "in")},
    # x.mean([2, 3]): aten::mean has no fvcore handle, and neither a hook nor a patch sees it
    "mnasnet1_0": {
        "fvcore": lambda g: _elements(g, "gap", "in"),
        "ptflops": lambda g: 2 * _elements(g, "gap", "in"),
    },
    "shufflenet_v2_x1_0": {
        "fvcore": lambda g: _elements(g, "gap", "in"),
        "ptflops": lambda g: 2 * _elements(g, "gap", "in"),
    },
    # F.relu and F.adaptive_avg_pool2d after the features: the patched functions count them once
    "densenet121": {"ptflops": lambda g: _elements(g, "relu", last=True) + _elements(g, "gap", "in")},
}


@pytest.mark.parametrize("path", [p for p in FILES if "reference" in record(p)], ids=lambda p: p.stem)
def test_emitted_module_and_torchvision_model_count_alike(path: Path) -> None:
    """On torchvision's own model every tool prints the same as on the emitted module, except
    where torchvision calls a function for what the emitted module does with a module
    (KNOWN_DIFFERENCES, each computed from the network)."""
    r = record(path)
    g = compiled(r["spec"]).graph
    known = KNOWN_DIFFERENCES.get(path.stem, {})
    for key in TOOLS.values():
        emitted, reference = r["emitted"][key]["total"], r["reference"][key]["total"]
        expected = known[key](g) if key in known else 0
        assert emitted - reference == expected, key


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
