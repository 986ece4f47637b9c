"""``archc diff`` and the alignment under it: golden reports (table and JSON) for the variants a
reader asks about, the alignment API, every option the README promises, and the diff picture."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT, SPECS, check_golden
from typer.testing import CliRunner

import archc
from archc.cli import app
from archc.dsl.align import align

runner = CliRunner()
DIFF = GOLDEN / "diff"

CASES = {
    "resnet50_se": ["specs/resnet50.arch", "specs/se_resnet50.arch"],
    "resnet50_gelu": ["specs/resnet50.arch", "examples/variants/resnet50_gelu.arch"],
    "vit_b_16_patch32": ["specs/vit_b_16.arch", "--set", "patch=32"],
    "resnet50_layer5": ["specs/resnet50.arch", "tests/golden/diff/resnet50_layer5.arch"],
    "se_reduction8": ["specs/se_resnet50.arch", "--set", "reduction=8"],
    "resnet50_gelu_depth1": ["specs/resnet50.arch", "examples/variants/resnet50_gelu.arch", "--depth", "1"],
}


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("name", CASES)
def test_golden_table(name: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    check_golden(DIFF / f"{name}.txt", cli("diff", *CASES[name]), update_golden)


@pytest.mark.parametrize("name", ["resnet50_se", "resnet50_gelu", "vit_b_16_patch32", "resnet50_layer5"])
def test_golden_json(name: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    check_golden(DIFF / f"{name}.json", cli("diff", *CASES[name], "--format", "json"), update_golden)


def data(*args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(cli("diff", *args, "--format", "json"))  # type: ignore[no-any-return]


# ------------------------------------------------------------------ what each case must show


def test_se_blocks_are_added_not_shifted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    d = data("specs/resnet50.arch", "specs/se_resnet50.arch")
    assert d["total"]["params"] == [25_557_032, 28_088_024]  # torchvision resnet50, timm seresnet50
    assert d["total"]["macs"] == [4_089_184_256, 4_091_699_200]
    assert [(e["change"], e["b"]) for e in d["changes"]] == [
        ("added", f"layer{s}.{i}.se") for s, n in [(1, 3), (2, 4), (3, 6), (4, 3)] for i in range(n)
    ]
    assert d["layers"] == {"added": 16 * 6, "removed": 0, "changed": 0, "reshaped": 0}
    # the SE paper's count per block: 2C²/r weights plus C/r + C biases, C = 256 in layer1
    assert d["changes"][0]["params"] == [0, 2 * 256 * 256 // 16 + 256 // 16 + 256]


def test_every_relu_that_became_a_gelu_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    a = archc.compile_spec("specs/resnet50.arch")
    relus = [n for n, d in a.graph.nodes(data=True) if d.get("op") == "relu"]
    d = data("specs/resnet50.arch", "examples/variants/resnet50_gelu.arch")
    assert sorted(e["a"] for e in d["changes"]) == sorted(relus)
    assert {e["what"] for e in d["changes"]} == {"relu → gelu"}
    assert d["layers"]["changed"] == len(relus) == 1 + 3 * 16


def test_vit_patch_32_shows_the_token_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    d = data("specs/vit_b_16.arch", "--set", "patch=32")
    by = {e["b"]: e for e in d["changes"]}
    assert by["conv_proj"]["what"] == "conv 16x16, 768, /16 → conv 32x32, 768, /32"
    assert by["class_token"]["output_shape"] == [[197, 768], [50, 768]]  # (224/16)² + 1 → (224/32)² + 1
    assert by["encoder"]["output_shape"] == [[197, 768], [50, 768]]
    pos = 768 * (197 - 50)  # the position embedding shrinks with the token count
    assert by["encoder"]["params"][0] - by["encoder"]["params"][1] == pos


def test_a_new_stage_is_where_it_is_in_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    d = data("specs/resnet50.arch", "tests/golden/diff/resnet50_layer5.arch")
    stages = [s["stage"] for s in d["stages"]]
    assert stages.index("layer4") < stages.index("layer5") < stages.index("avgpool") < stages.index("fc")
    assert [(e["change"], e["b"]) for e in d["changes"]] == [
        ("added", "layer5"), ("reshaped", "avgpool"), ("reshaped", "flatten"), ("reshaped", "fc")
    ]  # fmt: skip
    assert d["changes"][-1]["params"] == [2048 * 1000 + 1000, 4096 * 1000 + 1000]


def test_depth_folds_changes_into_their_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    d = data("specs/resnet50.arch", "examples/variants/resnet50_gelu.arch", "--depth", "1")
    assert [(e["b"], e["what"]) for e in d["changes"]] == [
        ("gelu", "relu → gelu"),
        ("layer1", "9 changed: relu → gelu"),
        ("layer2", "12 changed: relu → gelu"),
        ("layer3", "18 changed: relu → gelu"),
        ("layer4", "9 changed: relu → gelu"),
    ]


# ------------------------------------------------------------------ the alignment API


def _compile(tmp_path: Path, name: str, body: str) -> archc.Compiled:
    spec = tmp_path / f"{name}.arch"
    spec.write_text(f"network {name}():\n    input 3x8x8\n    {body}\n")
    return archc.compile_spec(spec)


def test_alignment_api() -> None:
    a, b = archc.compile_spec(SPECS / "resnet50.arch"), archc.compile_spec(SPECS / "se_resnet50.arch")
    al = align(a.graph, b.graph)
    se = al.of_b("layer1.0.se")
    assert se is not None and se.status == "added" and se.a is None and se.kind == "module"
    conv = al.of_a("layer1.0.conv1")
    assert conv is not None and conv.b == "layer1.0.conv1" and conv.status == "same"
    assert [p.b for p in al.layers()] == [p.b for p in al.layers() if p.b]  # nothing removed
    assert len([p for p in al.layers() if p.status == "added"]) == 96
    order = [p.b for p in al.walk() if p.b and p.b.count(".") == 0]
    assert order == list(b.graph.graph["scopes"][""].children)


def test_an_inserted_unnamed_layer_is_added_and_the_others_renamed(tmp_path: Path) -> None:
    a = _compile(tmp_path, "a", "x -> c1: conv(4, k=1) -> relu -> c2: conv(4, k=1) -> relu")
    b = _compile(tmp_path, "b", "x -> c1: conv(4, k=1) -> relu -> relu -> c2: conv(4, k=1) -> relu")
    al = align(a.graph, b.graph)
    pairs = [(p.a, p.b, p.status, p.changes) for p in al.layers()]
    assert pairs == [
        ("c1", "c1", "same", ()),
        ("relu", "relu", "same", ()),
        (None, "relu_1", "added", ()),
        ("c2", "c2", "same", ()),
        ("relu_1", "relu_2", "changed", ("name",)),
    ]


def test_a_removed_layer_and_a_changed_argument(tmp_path: Path) -> None:
    a = _compile(tmp_path, "a", "x -> c1: conv(4, k=3, p=1) -> drop: dropout(0.1) -> c2: conv(8, k=1)")
    b = _compile(tmp_path, "b", "x -> c1: conv(4, k=1) -> c2: conv(8, k=1)")
    al = align(a.graph, b.graph)
    assert [(p.a, p.b, p.status, p.changes) for p in al.layers()] == [
        ("c1", "c1", "changed", ("args",)),
        ("drop", None, "removed", ()),
        ("c2", "c2", "same", ()),
    ]
    assert al.of_a("c1").params == (4 * 3 * 9, 4 * 3 * 1)  # type: ignore[union-attr]


# ------------------------------------------------------------------ options and formats


def test_csv_is_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = cli("diff", "specs/resnet50.arch", "specs/se_resnet50.arch", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.startswith("change,a,b,kind,what,output_a,output_b,params_a,params_b,params_delta")
    assert len(rows) == 17 and rows[0]["b"] == "layer1.0.se" and rows[0]["params_delta"] == "8464"
    assert rows[-1]["change"] == "total" and rows[-1]["params_b"] == "28088024"


def test_networks_of_one_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    two_files = data("specs/resnet50.arch", "specs/se_resnet50.arch")
    one_file = data("specs/se_resnet50.arch", "--network", "resnet50", "--network-b", "se_resnet50")
    assert one_file["changes"] == two_files["changes"]
    same = data("specs/se_resnet50.arch", "--network", "resnet50")  # B: the same network again
    assert same["changes"] == [] and same["b"]["network"].startswith("resnet50 ")


def test_input_and_overrides_on_each_side(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    both = data("specs/resnet18.arch", "specs/resnet34.arch", "--input", "3x32x32")
    assert both["a"]["input_shape"] == both["b"]["input_shape"] == [3, 32, 32]
    only_b = data("specs/resnet18.arch", "--input-b", "3x112x112")
    assert only_b["a"]["input_shape"] == [3, 224, 224] and only_b["b"]["input_shape"] == [3, 112, 112]
    assert only_b["stages"][0]["output_shape"] == [[64, 112, 112], [64, 56, 56]]
    sets = data("specs/resnet18.arch", "--set-a", "num_classes=10", "--set", "num_classes=100")
    assert sets["a"]["output_shape"] == [10] and sets["b"]["output_shape"] == [100]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--set", "oops"], 2, "is not name=value"),
        (["--network", "nope"], 2, "no network named 'nope'"),
        (["--render", "x.gif"], 2, "unknown format 'gif'"),
        (["--format", "xml"], 2, "xml"),
    ],
)
def test_usage_errors(args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, ["diff", str(SPECS / "resnet18.arch"), *args])
    assert result.exit_code == code and message in result.output
    assert "Traceback" not in result.output


def test_diff_and_render_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from archc.cli import app\n"
        "for args in (['diff', {a!r}, {b!r}], ['render', {a!r}, '-o', {out!r}]):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    ).format(a=str(SPECS / "resnet50.arch"), b=str(SPECS / "se_resnet50.arch"), out=str(tmp_path / "r.dot"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ the picture


def test_golden_diff_picture(tmp_path: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "diff.dot"
    cli("diff", "specs/resnet50.arch", "specs/se_resnet50.arch", "--render", str(out))
    source = out.read_text()
    check_golden(DIFF / "resnet50_se.gv", source, update_golden)
    assert source.count('fillcolor="#d4f5dd"') == 1  # the added SE block (green), drawn once...
    assert "bottleneck × 2, each: se added" in source  # ...layer1.1 and layer1.2 folded
    # ...layer2.0, a block like it
    assert "bottleneck(width=128, stride=2, groups=1, base_width=64): se added" in source


def test_render_keeps_the_report_on_stdout_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "d.dot"
    args = ["diff", "specs/resnet50.arch", "specs/se_resnet50.arch", "--format", "json", "--render", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and json.loads(result.stdout)["total"]["params"][1] == 28_088_024
    assert f"wrote {out}" in result.stderr and out.exists()


def test_diff_picture_marks_removed_and_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "d.dot"
    cli("diff", "specs/se_resnet50.arch", "specs/resnet50.arch", "--render", str(out))
    source = out.read_text()
    assert source.count('color="#c0392b" fillcolor="#fadbd8"') == 1  # the removed SE block, red
    assert "bottleneck(width=512, stride=2, groups=1, base_width=64): se removed" in source
    cli("diff", "specs/resnet50.arch", "examples/variants/resnet50_gelu.arch", "--render", str(out))
    assert "relu → gelu" in out.read_text() and 'fillcolor="#fdebd0"' in out.read_text()  # orange


def test_diff_picture_without_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    args = [
        "diff",
        str(SPECS / "resnet50.arch"),
        str(SPECS / "se_resnet50.arch"),
        "--render",
        str(tmp_path / "d.png"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "apt-get install graphviz" in result.stderr
    assert (tmp_path / "d.dot").read_text().startswith("digraph")
