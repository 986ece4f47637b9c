"""archc train: a short real run, exact resume, Ctrl-C, NaN, image folders, two processes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import SPECS
from typer.testing import CliRunner

from archc import train as train_module
from archc.cli import app

runner = CliRunner()
FAST = ["--input", "3x16x16", "--batch-size", "32", "--limit", "256", "--lr", "0.05"]


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["train", str(SPECS / "resnet20.arch"), *FAST, *args])
    return result.exit_code, result.stdout + result.stderr


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoint.pt", weights_only=False)["model"]  # type: ignore[no-any-return]


def test_short_run_writes_everything(tmp_path: Path) -> None:
    code, output = run("--epochs", "2", "--out", str(tmp_path / "r"))
    assert code == 0, output
    r = tmp_path / "r"
    rows = list(csv.DictReader((r / "metrics.csv").open()))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert float(rows[-1]["train_acc"]) > 0.3  # far above chance (0.1) after two short epochs
    for name in (
        "metrics.png",
        "model.py",
        "summary.json",
        "run.json",
        "checkpoint.pt",
        "spec/resnet20.arch",
    ):
        assert (r / name).exists(), name
    assert (r / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert "class Resnet20(nn.Module)" in (r / "model.py").read_text()


def test_resume_is_exact(tmp_path: Path) -> None:
    assert run("--epochs", "2", "--out", str(tmp_path / "straight"))[0] == 0
    assert run("--epochs", "1", "--out", str(tmp_path / "split"))[0] == 0
    code, output = run("--epochs", "2", "--out", str(tmp_path / "split"), "--resume")
    assert code == 0, output
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_saves_and_resume_continues_mid_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("--epochs", "2", "--out", str(tmp_path / "straight"))[0] == 0
    calls = {"n": 0}
    original = train_module._Progress.update

    def interrupt(self: train_module._Progress, *args: float) -> None:
        calls["n"] += 1
        if calls["n"] == 11:  # the third step of the second epoch (8 steps an epoch)
            raise KeyboardInterrupt
        original(self, *args)

    monkeypatch.setattr(train_module._Progress, "update", interrupt)
    code, output = run("--epochs", "2", "--out", str(tmp_path / "split"))
    assert code == 130 and "interrupted: saved" in output
    state = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert (state["epoch"], state["step"]) == (1, 3)  # three steps of epoch 2 were done
    monkeypatch.setattr(train_module._Progress, "update", original)
    code, output = run("--epochs", "2", "--out", str(tmp_path / "split"), "--resume")
    assert code == 0, output
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("--epochs", "1", "--out", str(tmp_path / "r"))[0] == 0
    good = weights(tmp_path / "r")
    monkeypatch.setattr(train_module.torch, "isfinite", lambda t: torch.tensor(False))
    code, output = run("--epochs", "2", "--out", str(tmp_path / "r"), "--resume")
    assert code == 1
    assert "the loss became" in output and "last good checkpoint" in output
    assert "Traceback" not in output
    after = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)
    assert after["epoch"] == 1 and all(torch.equal(good[k], after["model"][k]) for k in good)


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    for colour in ["red", "blue"]:
        (tmp_path / "data" / colour).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (20 + i, 24), colour).save(tmp_path / "data" / colour / f"{i}.png")
    result = runner.invoke(
        app,
        ["train", str(SPECS / "resnet20.arch"), "--data", str(tmp_path / "data"), "--input", "3x16x16",
         "--epochs", "1", "--batch-size", "8", "--augment", "--out", str(tmp_path / "r")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 classes, 18 train, 2 val images" in result.stderr


def test_usage_errors(tmp_path: Path) -> None:
    code, output = run("--data", str(tmp_path / "missing"))
    assert code == 2 and "no such folder" in output
    code, output = run("--resume", "--out", str(tmp_path / "none"))
    assert code == 2 and "no checkpoint" in output


def test_two_processes_end_with_identical_weights(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
        "-m", "archc", "train", str(SPECS / "resnet20.arch"), *FAST, "--epochs", "1", "--device", "cpu",
        "--out", str(tmp_path / "ddp"), "--rank-digests",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    digests = [(tmp_path / "ddp" / f"rank{r}.sha256").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    assert "2 processes" in result.stderr
    rows = list(csv.DictReader((tmp_path / "ddp" / "metrics.csv").open()))
    assert len(rows) == 1  # written once, by rank 0
