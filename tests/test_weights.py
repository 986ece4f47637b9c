"""Weights in (``--weights``) and between variants (``archc weights map``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import SPECS, manifest
from test_train import FAST, TINY, cli, tiny_spec
from typer.testing import CliRunner

from archc.api import compile_spec
from archc.cli import app
from archc.train import checkpoint
from archc.train.weightmap import map_tensors

runner = CliRunner()


def shapes(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """A reference network's state_dict keys and shapes, from its manifest (made by torchvision/timm)."""
    return [(k, tuple(s)) for k, s in manifest(name)["state_dict"]]


def spec_shapes(path: Path, **sets: str) -> list[tuple[str, tuple[int, ...]]]:
    from archc.api import parse_sets

    c = compile_spec(path, sets=parse_sets([f"{k}={v}" for k, v in sets.items()]))
    return list(c.state_dict_shapes().items())


def test_references_resnet50_to_seresnet50_keeps_all_and_the_se_tensors_are_new() -> None:
    """On the references themselves (torchvision's resnet50, timm's seresnet50): no archc spec."""
    a, b = shapes("torchvision_resnet50"), shapes("timm_seresnet50")
    m = map_tensors(a, b)
    assert {e.target for e in m.of("kept")} == {k for k, _ in a}
    assert {e.target for e in m.of("new")} == {k for k, _ in b if ".se." in k}
    assert not m.of("moved") and not m.of("skipped") and not m.of("unused") and not m.of("reshaped")


def test_weights_map_resnet50_to_se_resnet50_reports_exactly_the_se_tensors_as_new() -> None:
    result = runner.invoke(
        app, ["weights", "map", str(SPECS / "resnet50.arch"), str(SPECS / "se_resnet50.arch"), "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    new = {e["target"] for e in doc["entries"] if e["kind"] == "new"}
    kept = {e["target"] for e in doc["entries"] if e["kind"] == "kept"}
    assert new == {k for k, _ in shapes("timm_seresnet50") if ".se." in k}
    assert kept == {k for k, _ in shapes("torchvision_resnet50")}
    assert {e["kind"] for e in doc["entries"]} == {"kept", "new"}
    table = runner.invoke(
        app, ["weights", "map", str(SPECS / "resnet50.arch"), str(SPECS / "se_resnet50.arch")]
    )
    assert "resnet50 → se_resnet50: 320 of 384 tensors kept" in table.stdout
    assert "new (64 tensors, 2,530,992 values)" in table.stdout  # SE-ResNet-50 has 2,530,992 more parameters
    assert (
        manifest("timm_seresnet50")["total_params"] - manifest("torchvision_resnet50")["total_params"]
        == 2_530_992
    )


def test_a_gelu_variant_keeps_every_tensor(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    text = (SPECS / "resnet.arch").read_text().replace("relu", "gelu")
    (tmp_path / "specs" / "resnet_gelu.arch").write_text(
        text + "\nnetwork resnet50_gelu = resnet(bottleneck, [3, 4, 6, 3])\n"
    )
    m = map_tensors(
        spec_shapes(SPECS / "resnet50.arch"), spec_shapes(tmp_path / "specs" / "resnet_gelu.arch")
    )
    assert m.exact and len(m.entries) == 320


def test_depth_changes_make_the_extra_blocks_new_or_unused() -> None:
    r50, r101 = spec_shapes(SPECS / "resnet50.arch"), spec_shapes(SPECS / "resnet101.arch")
    deeper = map_tensors(r50, r101)
    extra = {k for k, _ in r101 if k.startswith("layer3.") and int(k.split(".")[1]) >= 6}
    assert {e.target for e in deeper.of("new")} == extra and len(extra) == 17 * 18  # 3 convs, 3 bns
    assert len(deeper.of("kept")) == 320 and not deeper.of("moved")
    shallower = map_tensors(r101, r50)
    assert (
        {e.source for e in shallower.of("unused")} == extra
        and shallower.of("kept")
        and not shallower.of("new")
    )


def test_a_layer_inserted_in_a_sequence_moves_the_ones_after_it() -> None:
    """vgg16 → vgg16_bn: a batch norm after every convolution renumbers ``features``."""
    m = map_tensors(shapes("torchvision_vgg16"), shapes("torchvision_vgg16_bn"))
    moved = {(e.source, e.target) for e in m.of("moved")}
    assert ("features.2.weight", "features.3.weight") in moved
    assert ("features.28.bias", "features.40.bias") in moved
    assert {e.target for e in m.of("kept")} == {"features.0.weight", "features.0.bias", *(
        k for k, _ in shapes("torchvision_vgg16") if k.startswith("classifier"))}  # fmt: skip
    new = {e.target for e in m.of("new")}
    assert new == {k for k, _ in shapes("torchvision_vgg16_bn")} - {e.target for e in m.of("kept")} - {
        t for _, t in moved}  # fmt: skip
    norms = {k.rpartition(".")[0] for k, _ in shapes("torchvision_vgg16_bn") if k.endswith("running_mean")}
    assert {k.rpartition(".")[0] for k in new} == norms  # the new tensors are exactly the batch norms'
    assert not m.of("unused") and len(moved) == 24


def test_weights_map_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from archc.cli import app\n"
        "try:\n"
        f"    app(['weights', 'map', {str(SPECS / 'resnet50.arch')!r}, {str(SPECS / 'resnet101.arch')!r}])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "new (306 tensors" in result.stdout


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A torchvision-layout resnet50 state_dict: archc's emitted resnet50 with random values in
    every tensor (the keys already are torchvision's; nothing is renamed or downloaded)."""
    torch.manual_seed(1)
    model = compile_spec(SPECS / "resnet50.arch").module()
    state = {k: torch.randn(v.shape) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    assert [(k, tuple(v.shape)) for k, v in state.items()] == shapes("torchvision_resnet50")
    path = tmp_path_factory.mktemp("weights") / "resnet50-random.pth"
    torch.save(state, path)
    return path, state


def test_build_with_torchvision_resnet50_weights(
    resnet50_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    path, source = resnet50_file
    code, output = cli(
        "build", str(SPECS / "resnet50.arch"), "-o", str(tmp_path / "out"), "--weights", str(path), "--strict"
    )
    assert code == 0, output
    assert "resnet50-random.pth → resnet50: 320 of 320 tensors kept" in output
    written = torch.load(tmp_path / "out" / "resnet50.pt", weights_only=True)
    assert written.keys() == source.keys() and all(torch.equal(written[k], source[k]) for k in source)
    assert (tmp_path / "out" / "resnet50.py").exists()


def test_weights_into_a_network_with_another_classifier(
    resnet50_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    from archc.train.errors import CheckpointError
    from archc.train.weights import load_into

    path, source = resnet50_file
    lines: list[str] = []
    model = compile_spec(SPECS / "se_resnet50.arch", sets={"num_classes": _num(10)}).module()
    m = load_into(model, str(path), False, lines.append, "se_resnet50")
    output = "\n".join(lines)
    assert (
        "skipped (2 tensors" in output
        and "fc.weight: 1000x2048 → 10x2048 (keeps its initial values)" in output
    )
    assert "new (64 tensors" in output and len(m.of("kept")) == 318
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in source.items() if not k.startswith("fc."))
    with pytest.raises(CheckpointError, match=r"--strict: .* layer1.0.se.fc1.weight \(new\)"):
        load_into(compile_spec(SPECS / "se_resnet50.arch").module(), str(path), True, lines.append)


def _num(n: int) -> object:
    from archc.dsl import ast
    from archc.dsl.diagnostics import NOWHERE

    return ast.Num(n, NOWHERE)


def test_a_grayscale_stem_is_adapted_from_rgb(resnet50_file: tuple[Path, dict[str, torch.Tensor]]) -> None:
    from archc.train.weights import load_into

    path, source = resnet50_file
    lines: list[str] = []
    model = compile_spec(SPECS / "resnet50.arch", input_shape=(1, 64, 64)).module()
    load_into(model, str(path), False, lines.append)
    assert "  conv1.weight: 64x3x7x7 → 64x1x7x7 (input channels adapted)" in lines
    assert torch.equal(model.state_dict()["conv1.weight"], source["conv1.weight"].sum(dim=1, keepdim=True))


def test_safetensors_and_nested_checkpoints(
    resnet50_file: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    from archc.train.weights import read_file

    _, source = resnet50_file
    save_file(source, str(tmp_path / "w.safetensors"))
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in source.items()}}, tmp_path / "ddp.pt")
    for name in ("w.safetensors", "ddp.pt"):
        got = read_file(tmp_path / name)
        assert got.keys() == source.keys() and all(torch.equal(got[k], v) for k, v in source.items()), name
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    code, output = cli("build", str(tiny_spec(tmp_path)), "-o", str(tmp_path / "x"), "--weights",
                       str(tmp_path / "bad.safetensors"))  # fmt: skip
    assert code == 1 and "not a readable safetensors file" in output and "Traceback" not in output


def test_train_starts_from_another_variants_checkpoint(tmp_path: Path) -> None:
    """A run of ``tiny`` into a variant with an SE gate: every tiny tensor kept, the gate new.
    With --lr 0 the parameters stay what was loaded."""
    code, output = cli(
        "train", str(tiny_spec(tmp_path)), *FAST, "--epochs", "1", "--out", str(tmp_path / "a")
    )
    assert code == 0, output
    variant = tmp_path / "gated.arch"
    variant.write_text(
        TINY.replace("network tiny", "network gated").replace(
            "bn2: bn -> relu", "bn2: bn -> relu -> se: gate"
        )
        + "\nblock gate():\n"
        "    w = x -> gap -> fc1: conv(4, k=1, bias=true) -> relu\n"
        "          -> fc2: conv(in.c, k=1, bias=true) -> sigmoid\n"
        "    return x * w\n"
    )
    weights = ["--weights", str(tmp_path / "a" / "checkpoint.pt")]
    code, output = cli(
        "train", str(variant), *FAST, "--epochs", "1", "--out", str(tmp_path / "b"), "--lr", "0", *weights
    )
    assert code == 0, output
    assert "checkpoint.pt → gated: 14 of 18 tensors kept" in output
    assert "new (4 tensors, 148 values):" in output and "se.fc1.weight (4x16x1x1)" in output, output
    source = checkpoint.load(tmp_path / "a" / "checkpoint.pt")["model"]
    trained = checkpoint.load(tmp_path / "b" / "checkpoint.pt")["model"]
    params = [k for k in source if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert all(torch.equal(trained[k], source[k]) for k in params)  # type: ignore[index]


def test_weight_sources_that_are_not_there(tmp_path: Path) -> None:
    spec = str(tiny_spec(tmp_path))
    for source, expected in (
        ("torchvision:resnet50", "torchvision:resnet50 needs torchvision"),
        ("timm:seresnet50", "timm:seresnet50 needs timm"),
        (str(tmp_path / "missing.pt"), "no such file"),
    ):
        code, output = cli("build", spec, "-o", str(tmp_path / "o"), "--weights", source)
        assert code == 1 and expected in output and "Traceback" not in output, (source, output)
    torch.save({"epoch": 1, "note": "no tensors"}, tmp_path / "empty.pt")
    code, output = cli("build", spec, "-o", str(tmp_path / "o"), "--weights", str(tmp_path / "empty.pt"))
    assert code == 1 and "holds no state_dict" in output
    torch.save({"x.weight": torch.zeros(3)}, tmp_path / "other.pt")
    code, output = cli("build", spec, "-o", str(tmp_path / "o"), "--weights", str(tmp_path / "other.pt"))
    assert code == 1 and "none of its 1 tensors fits tiny" in output


def test_torchvision_and_timm_names_read_their_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``torchvision:NAME`` and ``timm:NAME`` resolve the cached file through those libraries' own
    calls (``get_model_weights``, ``get_pretrained_cfg``, ``try_to_load_from_cache``); neither is
    installed here, so small stand-ins answer those calls."""
    import types
    from enum import Enum

    from archc.train.errors import CheckpointError
    from archc.train.weights import read_source

    state = {"conv1.weight": torch.ones(8, 1, 3, 3)}

    class Weights(Enum):
        IMAGENET1K_V1 = "https://download.example/models/tiny-0123abcd.pth"

        @property
        def url(self) -> str:
            return str(self.value)

    Weights.DEFAULT = Weights.IMAGENET1K_V1  # type: ignore[attr-defined]
    models = types.ModuleType("torchvision.models")
    models.get_model_weights = lambda name: Weights  # type: ignore[attr-defined]
    torchvision = types.ModuleType("torchvision")
    torchvision.models = models  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "tiny-0123abcd.pth"
    with pytest.raises(CheckpointError, match="not in torchvision's cache; expected " + str(expected)):
        read_source("torchvision:tiny")
    expected.parent.mkdir(parents=True)
    torch.save(state, expected)
    got, where = read_source("torchvision:tiny")
    assert where == str(expected) and torch.equal(got["conv1.weight"], state["conv1.weight"])

    snapshot = tmp_path / "hf" / "models--timm--tiny.a1_in1k" / "snapshots" / "abc"
    timm = types.ModuleType("timm")
    timm.models = types.SimpleNamespace(  # type: ignore[attr-defined]
        get_pretrained_cfg=lambda name: (
            types.SimpleNamespace(hf_hub_id="timm/tiny.a1_in1k") if name == "tiny" else None
        )
    )
    hub = types.ModuleType("huggingface_hub")
    hub.constants = types.SimpleNamespace(HF_HUB_CACHE=str(tmp_path / "hf"))  # type: ignore[attr-defined]
    hub.try_to_load_from_cache = lambda repo, name: (  # type: ignore[attr-defined]
        str(snapshot / name) if (snapshot / name).exists() else None
    )
    monkeypatch.setitem(sys.modules, "timm", timm)
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    with pytest.raises(CheckpointError, match="timm has no pretrained weights"):
        read_source("timm:other")
    with pytest.raises(
        CheckpointError, match="expected them under " + str(tmp_path / "hf" / "models--timm--tiny.a1_in1k")
    ):
        read_source("timm:tiny")
    from safetensors.torch import save_file

    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "model.safetensors"))
    got, where = read_source("timm:tiny")
    assert where.endswith("model.safetensors") and torch.equal(got["conv1.weight"], state["conv1.weight"])
