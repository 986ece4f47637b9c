"""The answers the report asks for: golden summaries, the SE accounting (memory: test_memory.py; diff:
test_diff.py)."""

from __future__ import annotations

import json

import pytest
from conftest import GOLDEN, ROOT, check_golden
from typer.testing import CliRunner

from archc.cli import app

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("vgg16_summary", ["summary", "specs/vgg16.arch", "--depth", "2"]),
        ("se_resnet50_gates", ["summary", "specs/se_resnet50.arch", "--se", "--depth", "1"]),
        ("se_googlenet_gates", ["summary", "specs/se_googlenet.arch", "--se", "--depth", "1"]),
    ],
)
def test_golden_reports(
    name: str, args: list[str], update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    check_golden(GOLDEN / "reports" / f"{name}.txt", cli(*args), update_golden)


def test_vgg16_first_fc_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    data = json.loads(cli("summary", "specs/vgg16.arch", "--format", "json"))
    fc = next(layer for layer in data["layers"] if layer["name"] == "classifier.0")
    assert (fc["params"], data["totals"]["params"]) == (102_764_544, 138_357_544)
    assert round(100 * fc["params_share"], 1) == 74.3


def test_se_gates_match_the_paper_plus_biases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    gates = json.loads(cli("summary", "specs/se_resnet50.arch", "--se", "--format", "json"))["gates"]
    stages = {g["stage"]: g for g in gates}
    for stage, (n, c) in {
        "layer1": (3, 256),
        "layer2": (4, 512),
        "layer3": (6, 1024),
        "layer4": (3, 2048),
    }.items():
        g = stages[stage]
        assert g["blocks"] == n and set(g["channels"]) == {c}
        assert g["estimate"] == 2 * n * c * c / 16
        assert g["params"] == g["estimate"] + n * (c // 16 + c)
