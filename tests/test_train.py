"""archc train: a short real run and its records, resume checks, the schedule, NaN, image folders,
eval, TensorBoard and two processes.  Most tests train ``TINY`` (two convolutions on 8x8 digits,
4 steps an epoch) in-process, so each takes about a second."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import SPECS
from typer.testing import CliRunner

from archc.cli import app
from archc.train import checkpoint, data, records
from archc.train.config import TrainConfig
from archc.train.schedule import Schedule

runner = CliRunner()

TINY = """\
# Two convolutions on 8x8 digits: the training tests' network.
network tiny(width=8, num_classes=10):
    input 1x8x8
    x -> conv1: conv(width, k=3, p=1) -> bn1: bn -> relu
      -> conv2: conv(16, k=3, s=2, p=1) -> bn2: bn -> relu
      -> avgpool: gap -> flatten -> drop: dropout(0.2) -> fc: linear(num_classes)
"""
#: 256 images in batches of 64: four steps an epoch; one thread is much faster on a busy machine.
FAST = ["--limit", "256", "--batch-size", "64", "--threads", "1", "--lr", "0.1", "--warmup", "1"]
STEPS = 4


def tiny_spec(folder: Path) -> Path:
    spec = folder / "tiny.arch"
    spec.write_text(TINY)
    return spec


def tiny_config(folder: Path, out: Path, **changes: object) -> TrainConfig:
    base: dict[str, object] = dict(
        limit=256, batch_size=64, threads=1, lr=0.1, warmup="1", epochs=2, out=out
    )  # fmt: skip
    return TrainConfig(tiny_spec(folder), **{**base, **changes})  # type: ignore[arg-type]


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def train_tiny(folder: Path, out: Path, *args: str) -> tuple[int, str]:
    return cli("train", str(tiny_spec(folder)), *FAST, "--out", str(out), *args)


def state(run: Path, name: str = "checkpoint.pt") -> dict[str, object]:
    return checkpoint.load(run / name)


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_short_run_writes_everything(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    tiny_spec(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "tiny.arch"], check=True)
    subprocess.run([*git, "commit", "-qm", "spec"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    code, output = train_tiny(tmp_path, tmp_path / "r", "--epochs", "2")
    assert code == 0, output
    r = tmp_path / "r"
    metrics = rows(r / "metrics.csv")
    assert [row["epoch"] for row in metrics] == ["1", "2"]
    assert float(metrics[-1]["val_top5"]) >= float(metrics[-1]["val_acc"])
    assert [int(row["step"]) for row in rows(r / "steps.csv")] == list(range(1, 2 * STEPS + 1))
    for name in (
        "metrics.png",
        "model.py",
        "summary.json",
        "run.json",
        "checkpoint.pt",
        "best.pt",
        "spec/tiny.arch",
    ):
        assert (r / name).exists(), name
    assert "class Tiny(nn.Module)" in (r / "model.py").read_text()
    run = json.loads((r / "run.json").read_text())
    env = run["environment"]
    assert env["torch"] == torch.__version__ and env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert (env["device"], env["threads"], env["world_size"]) == ("cpu", 1, 1)
    assert run["spec"]["git"] == {"commit": commit, "modified": False}
    best = state(r, "best.pt")
    history = state(r)["history"]
    assert best["metrics"]["val_acc"] == max(h["val_acc"] for h in history)  # type: ignore[index,attr-defined]
    assert "run folder:" in output


def test_lr_is_logged_from_the_optimizer_and_run_json_is_rewritten_on_resume(tmp_path: Path) -> None:
    """The bug: epoch 2 of a resumed run logged lr=0 (the scheduler's stale value) and run.json
    kept ``"epochs": 1``."""
    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1")[0] == 0
    code, output = train_tiny(tmp_path, r, "--epochs", "2", "--resume")
    assert code == 0, output
    # epoch 1 ran under a one-epoch schedule, epoch 2 under a two-epoch one (closed form)
    first, second = Schedule(0.1, STEPS, STEPS), Schedule(0.1, 2 * STEPS, STEPS)
    steps = rows(r / "steps.csv")
    expected = [first.lr(s) for s in range(STEPS)] + [second.lr(s) for s in range(STEPS, 2 * STEPS)]
    assert [float(row["lr"]) for row in steps] == pytest.approx(expected, rel=1e-5)
    metrics = rows(r / "metrics.csv")
    assert float(metrics[1]["lr"]) == pytest.approx(second.lr(2 * STEPS - 1), rel=1e-5)
    assert float(metrics[1]["lr"]) > 0
    run = json.loads((r / "run.json").read_text())
    assert run["epochs"] == 2 and run["config"]["epochs"] == 2
    assert [(s["from_epoch"], s["from_step"]) for s in run["sessions"]] == [(0, 0), (1, 0)]


def test_schedule_warmup_then_cosine() -> None:
    s = Schedule(1.0, 100, 10)
    assert [s.lr(i) for i in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert s.lr(9) == 1.0 and s.lr(10) == 1.0
    assert s.lr(55) == pytest.approx(0.5)
    assert s.lr(99) == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    cfg = TrainConfig(Path("x"), epochs=3, warmup="25steps")
    assert Schedule.of(cfg, 10) == Schedule(0.1, 30, 25)
    assert Schedule.of(TrainConfig(Path("x"), epochs=3, warmup="0.5"), 10).warmup == 5


def test_resume_refuses_other_settings_and_names_them(tmp_path: Path) -> None:
    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1")[0] == 0
    before = (r / "checkpoint.pt").read_bytes()
    others = ["--set", "width=4", "--seed", "1", "--batch-size", "32", "--lr", "0.05"]
    code, output = train_tiny(tmp_path, r, "--epochs", "2", "--resume", *others)
    assert code == 2, output
    for part in (
        "--set none (now width=4)",
        "--seed 0 (now 1)",
        "--batch-size 64 (now 32)",
        "--lr 0.1 (now 0.05)",
    ):
        assert part in output
    assert "--force" in output and "Traceback" not in output
    assert (r / "checkpoint.pt").read_bytes() == before
    # --force with another network: one message naming the tensors, not a RuntimeError traceback
    code, output = train_tiny(tmp_path, r, "--epochs", "2", "--resume", "--set", "width=4", "--force")
    assert code == 1 and "does not fit this network" in output and "conv1.weight" in output, output
    assert "Traceback" not in output
    # the spec itself changed
    (tmp_path / "tiny.arch").write_text(TINY.replace("dropout(0.2)", "dropout(0.3)"))
    result = runner.invoke(
        app, ["train", str(tmp_path / "tiny.arch"), *FAST, "--out", str(r), "--epochs", "2", "--resume"]
    )
    assert result.exit_code == 2 and "the spec files changed" in result.stderr
    # --force with only another learning rate continues
    code, output = train_tiny(tmp_path, r, "--epochs", "2", "--resume", "--lr", "0.05", "--force")
    assert code == 0, output
    assert [float(row["lr"]) for row in rows(r / "steps.csv")][STEPS] == pytest.approx(
        0.05 * 0.5 * (1 + math.cos(0))
    )


def test_resume_without_a_checkpoint_says_so(tmp_path: Path) -> None:
    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1")[0] == 0
    (r / "checkpoint.pt").unlink()  # as after kill -9 before the first checkpoint
    code, output = train_tiny(tmp_path, r, "--resume")
    assert code == 2 and "nothing to resume: no checkpoint yet" in output, output
    code, output = train_tiny(tmp_path, tmp_path / "none", "--resume")
    assert code == 2 and "no run folder" in output


def test_a_finished_run_resumed_has_nothing_to_do(tmp_path: Path) -> None:
    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1")[0] == 0
    code, output = train_tiny(tmp_path, r, "--epochs", "1", "--resume")
    assert code == 0 and "nothing to do" in output


def test_images_per_second_counts_only_this_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug: a resumed epoch counted the images seen before the interruption."""
    import signal

    calls = {"n": 0}
    original = torch.optim.SGD.step

    def step(self: torch.optim.SGD, *args: object) -> object:
        calls["n"] += 1
        if calls["n"] == STEPS + 3:  # during the third step of epoch 2
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    code, output = train_tiny(tmp_path, tmp_path / "r", "--epochs", "2")
    assert code == 130 and "SIGINT: saved" in output and "epoch 2 with 3 of 4 steps done" in output, output
    monkeypatch.setattr(torch.optim.SGD, "step", original)
    code, output = train_tiny(tmp_path, tmp_path / "r", "--epochs", "2", "--resume")
    assert code == 0, output
    assert "epoch 2: " in output and "(64 images in" in output  # one step of 64, not 256


def test_label_smoothing_is_in_the_logged_loss(tmp_path: Path) -> None:
    """The first step's logged loss equals a hand computation from the first checkpoint."""
    from archc.train.loop import train

    run = train(
        tiny_config(tmp_path, tmp_path / "r", epochs=1, label_smoothing=0.2),
        log=lambda _: None,
        progress=False,
    )
    logged = float(rows(run / "steps.csv")[0]["loss"])
    # the same model, data, order and dropout mask: from scratch with the same seed
    from archc.api import compile_spec

    torch.manual_seed(0)
    model = compile_spec(tmp_path / "tiny.arch").module()
    d = data.load("digits", (1, 8, 8), False, 0, 256)
    order = data.order(256, 0, 0, __import__("archc.train.runtime", fromlist=["Dist"]).Dist(), d.train)
    x, y = next(data.batches(d.train, order, 64, 0))
    model.train()
    loss = F.cross_entropy(model(x), y, label_smoothing=0.2).item()
    assert logged == pytest.approx(loss, rel=1e-5)
    assert logged != pytest.approx(F.cross_entropy(model.eval()(x), y).item(), rel=1e-3)


def test_adamw_and_no_weight_decay_on_norms_and_biases(tmp_path: Path) -> None:
    from archc.api import compile_spec
    from archc.train.schedule import optimizer

    c = compile_spec(SPECS / "vit_b_16.arch", input_shape=(3, 32, 32), sets={})
    model = c.module()
    opt = optimizer(model, c, TrainConfig(Path("x"), optimizer="adamw"))
    assert isinstance(opt, torch.optim.AdamW)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in opt.param_groups[0]["params"]}
    plain = {names[id(p)] for p in opt.param_groups[1]["params"]}
    assert opt.param_groups[0]["weight_decay"] == 0.05 and opt.param_groups[1]["weight_decay"] == 0.0
    norms = {
        f"{m}.{p}" for m, mod in model.named_modules()
        if isinstance(mod, torch.nn.LayerNorm | torch.nn.BatchNorm2d) for p, _ in mod.named_parameters()
    }  # fmt: skip
    assert norms and norms <= plain
    assert {n for n in names.values() if n.endswith(".bias")} <= plain
    assert {"class_token", "encoder.pos_embedding"} <= plain
    assert all(model.get_parameter(n).ndim >= 2 for n in decayed)
    assert decayed | plain == set(names.values()) and not decayed & plain
    code, output = train_tiny(
        tmp_path, tmp_path / "r", "--epochs", "1", "--optimizer", "adamw", "--lr", "0.01"
    )
    assert code == 0, output
    assert "exp_avg" in str(state(tmp_path / "r")["optimizer"])


def test_nan_guard_keeps_finite_weights_on_disk(tmp_path: Path) -> None:
    for lr in ("1e6", "1e30"):
        r = tmp_path / f"r{lr}"
        code, output = train_tiny(tmp_path, r, "--epochs", "2", "--lr", lr, "--warmup", "0")
        assert code == 1, output
        assert ("the loss became" in output or "a parameter became non-finite" in output) and "--lr" in output
        assert "Traceback" not in output
        saved = state(r)
        assert all(torch.isfinite(t).all() for t in saved["model"].values() if t.is_floating_point())  # type: ignore[attr-defined]
    for lr in ("nan", "inf", "1e39", "-1"):
        code, output = train_tiny(tmp_path, tmp_path / "bad", "--lr", lr)
        assert code == 1 and "the learning rate must be a finite float32 number" in output, output


def test_nan_in_a_later_epoch_keeps_the_last_finite_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archc.train import loop

    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1")[0] == 0
    good = state(r)
    real = F.cross_entropy
    monkeypatch.setattr(loop.F, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    code, output = train_tiny(tmp_path, r, "--epochs", "2", "--resume")
    assert code == 1 and "the loss became nan at epoch 2, step 1" in output, output
    assert "keeps the last finite state (the end of epoch 1)" in output
    after = state(r)
    assert after["epoch"] == 1 and all(
        torch.equal(good["model"][k], after["model"][k]) for k in good["model"]
    )  # type: ignore[index,union-attr,attr-defined]


def test_metrics_png_is_readable_after_one_epoch(tmp_path: Path) -> None:
    """The bug: one epoch drew lines without markers, i.e. nothing.  The series colours (tab:blue,
    tab:orange) must be visible."""
    from PIL import Image

    png = records.render_plot(
        [{"epoch": 1, "train_loss": 2.1, "val_loss": 1.9, "train_acc": 0.3, "val_acc": 0.35}]
    )
    assert png is not None
    (tmp_path / "m.png").write_bytes(png)
    pixels = list(Image.open(tmp_path / "m.png").convert("RGB").tobytes())
    pixels = list(zip(pixels[0::3], pixels[1::3], pixels[2::3], strict=True))

    def near(c: tuple[int, int, int], ref: tuple[int, int, int]) -> bool:
        return sum(abs(a - b) for a, b in zip(c, ref, strict=True)) < 40

    # the legend shows each colour too (a short line, ~40 pixels): markers make many more
    assert sum(near(p, (31, 119, 180)) for p in pixels) > 200
    assert sum(near(p, (255, 127, 14)) for p in pixels) > 200


def test_tensorboard_gets_the_same_scalars(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1", "--tensorboard")[0] == 0
    events = EventAccumulator(str(r / "tensorboard"))
    events.Reload()
    steps = rows(r / "steps.csv")
    lrs = [e.value for e in events.Scalars("train/lr")]
    assert lrs == pytest.approx([float(s["lr"]) for s in steps], rel=1e-5)
    val = events.Scalars("val/acc")
    assert [e.value for e in val] == pytest.approx(
        [float(m["val_acc"]) for m in rows(r / "metrics.csv")], rel=1e-5
    )


def test_eval_reports_the_runs_accuracy(tmp_path: Path) -> None:
    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "2")[0] == 0
    history: list[dict[str, float]] = state(r)["history"]  # type: ignore[assignment]
    code, output = cli("eval", str(r), "--threads", "1")
    assert code == 0, output
    assert f"top-1 {100 * history[-1]['val_acc']:.2f}%" in output
    assert f"top-5 {100 * history[-1]['val_top5']:.2f}%" in output
    assert "on 360 images" in output
    code, output = cli("eval", str(r), "--best", "--threads", "1")
    assert code == 0 and f"top-1 {100 * max(h['val_acc'] for h in history):.2f}%" in output
    code, output = cli("eval", str(tmp_path / "r" / "model.py"))
    assert code == 1 and "not a readable PyTorch file" in output, output


def test_two_processes_end_with_identical_weights(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
        "-m", "archc", "train", str(tiny_spec(tmp_path)), *FAST, "--epochs", "1", "--device", "cpu",
        "--out", str(tmp_path / "ddp"), "--rank-digests",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    digests = [(tmp_path / "ddp" / f"rank{r}.sha256").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    assert "2 processes" in result.stderr
    assert result.stdout.count("run folder:") == 1  # printed by rank 0 only
    assert result.stderr.count("training tiny") == 1
    assert len(rows(tmp_path / "ddp" / "metrics.csv")) == 1  # written once, by rank 0


# ------------------------------------------------------------------ checkpoints are data


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    import io
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1")[0] == 0
    buf = io.BytesIO()
    torch.save({"model": Evil()}, buf)  # a torch zip file whose data.pkl calls os.system
    for name, raw in (("zip", buf.getvalue()), ("pickle", pickle.dumps({"model": Evil()}, protocol=4))):
        (r / "checkpoint.pt").write_bytes(raw)
        code, output = train_tiny(tmp_path, r, "--epochs", "2", "--resume")
        assert code == 1 and "refers to Python code (posix.system)" in output, (name, output)
        assert "Traceback" not in output and not marker.exists()
        code, output = cli("eval", str(r))
        assert code == 1 and "refers to Python code" in output and not marker.exists()


def test_unreadable_checkpoints_are_one_clear_error(tmp_path: Path) -> None:
    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1")[0] == 0
    good = (r / "checkpoint.pt").read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "random": bytes(range(256)) * 40,
        "text": b"network tiny:\n    input 1x8x8\n",
    }
    for name, raw in cases.items():
        (r / "checkpoint.pt").write_bytes(raw)
        code, output = train_tiny(tmp_path, r, "--epochs", "2", "--resume")
        assert code == 1, (name, output)
        assert str(r / "checkpoint.pt") in output and "Traceback" not in output
        assert output.count("error:") == 1, output


def test_a_flipped_byte_is_detected(tmp_path: Path) -> None:
    """The bug: 64 flipped bytes loaded silently (a weight off by 7,088).  A flip in a tensor's
    bytes must fail the hash check; a flip anywhere must give an error or the intact content."""
    import random

    r = tmp_path / "r"
    assert train_tiny(tmp_path, r, "--epochs", "1")[0] == 0
    path = r / "checkpoint.pt"
    good = path.read_bytes()
    original = checkpoint.load(path)
    weight = original["model"]["fc.weight"].numpy().tobytes()  # type: ignore[index]
    at = good.index(weight) + 17
    path.write_bytes(good[:at] + bytes([good[at] ^ 0x10]) + good[at + 1 :])
    code, output = train_tiny(tmp_path, r, "--epochs", "2", "--resume")
    assert code == 1 and "is damaged: its content does not match the hash" in output, output
    rng = random.Random(7)
    for _ in range(30):
        at = rng.randrange(len(good))
        path.write_bytes(good[:at] + bytes([good[at] ^ (1 << rng.randrange(8))]) + good[at + 1 :])
        try:
            loaded = checkpoint.load(path)
        except checkpoint.CheckpointError:
            continue
        assert checkpoint.content_hash(loaded) == checkpoint.content_hash(original)


# ------------------------------------------------------------------ image folders


def make_images(root: Path, classes: dict[str, int], size: tuple[int, int] = (20, 24)) -> None:
    from PIL import Image

    for colour, n in classes.items():
        (root / colour).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (size[0] + i, size[1]), colour).save(root / colour / f"{i}.png")


def train_folder(tmp_path: Path, folder: Path, *args: str) -> tuple[int, str]:
    return cli(
        "train", str(SPECS / "resnet20.arch"), "--data", str(folder), "--input", "3x16x16", "--epochs", "1",
        "--batch-size", "8", "--threads", "1", "--out", str(tmp_path / "r"), *args,
    )  # fmt: skip


def test_image_folder(tmp_path: Path) -> None:
    make_images(tmp_path / "data", {"red": 10, "blue": 10})
    code, output = train_folder(tmp_path, tmp_path / "data", "--augment", "--workers", "1")
    assert code == 0, output
    assert "2 classes, 18 train, 2 val images" in output


def test_augmentation_depends_on_seed_epoch_and_index_only(tmp_path: Path) -> None:
    from PIL import Image

    for k, name in enumerate(["a", "b"]):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            noise = torch.randint(0, 256, (24, 20, 3), generator=torch.Generator().manual_seed(10 * k + i))
            Image.fromarray(noise.to(torch.uint8).numpy()).save(tmp_path / "data" / name / f"{i}.png")
    d = data.image_folder(tmp_path / "data", (3, 8, 8), True, 0)
    assert isinstance(d.train, data.ImageFolder)
    first = d.train[2][0]
    d.train[0], d.train[1]  # other reads in between change nothing
    assert torch.equal(d.train[2][0], first)
    epoch0 = [d.train[i][0] for i in range(len(d.train))]
    d.train.epoch = 1
    epoch1 = [d.train[i][0] for i in range(len(d.train))]
    assert any(not torch.equal(a, b) for a, b in zip(epoch0, epoch1, strict=True))
    assert all(torch.equal(a, d.train[i][0]) for i, a in enumerate(epoch1))


def test_bad_image_folders_are_refused(tmp_path: Path) -> None:
    code, output = train_folder(tmp_path, tmp_path / "missing")
    assert code == 2 and "no such folder" in output
    code, output = train_tiny(tmp_path, tmp_path / "w", "--warmup", "two")
    assert code == 2 and "--warmup 'two': not a number of epochs or steps" in output, output
    make_images(tmp_path / "split" / "train", {"red": 4, "blue": 4})
    code, output = train_folder(tmp_path, tmp_path / "split")
    assert code == 2 and "has train/ but no val/" in output, output
    make_images(tmp_path / "empty", {"red": 4, "blue": 4})
    (tmp_path / "empty" / "green").mkdir()
    code, output = train_folder(tmp_path, tmp_path / "empty")
    assert code == 2 and "green has no images" in output, output
    make_images(tmp_path / "ok", {"red": 4, "blue": 4})
    for channels in ("2", "4"):
        code, output = cli(
            "train",
            str(SPECS / "resnet20.arch"),
            "--data",
            str(tmp_path / "ok"),
            "--input",
            f"{channels}x16x16",
        )
        assert code == 2 and f"the spec takes {channels} channels" in output, output
        assert "Traceback" not in output


def test_a_corrupt_image_stops_with_its_name_and_a_checkpoint(tmp_path: Path) -> None:
    """The bug: exit 2, the hint "check the path and its permissions", and no checkpoint."""
    make_images(tmp_path / "data", {"red": 10, "blue": 10})
    bad = tmp_path / "data" / "blue" / "3.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    code, output = train_folder(tmp_path, tmp_path / "data")
    assert code == 1, output
    assert f"cannot read {bad}" in output and "check the path" not in output and "Traceback" not in output
    saved = state(tmp_path / "r")
    done = saved["step"]
    assert (
        saved["epoch"] == 0
        and (f"epoch 1 with {done} of 3 steps done" if done else "the start of the run") in output
    )


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    import struct
    import zlib

    make_images(tmp_path / "data", {"red": 10, "blue": 10})

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    # a 100,000 x 100,000 greyscale PNG header: 10 gigapixels declared in a 60-byte file
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    for i in range(10):
        (tmp_path / "data" / "red" / f"{i}.png").write_bytes(bomb)
    code, output = train_folder(tmp_path, tmp_path / "data")
    assert code == 1, output
    assert "cannot read" in output and ("more than the 89,478,485" in output or "DecompressionBomb" in output)
    assert "Traceback" not in output


def test_resume_refuses_data_whose_files_changed(tmp_path: Path) -> None:
    make_images(tmp_path / "data", {"red": 6, "blue": 6})
    args = ["train", str(tiny_spec(tmp_path)), "--data", str(tmp_path / "data"), "--epochs", "2",
            "--batch-size", "4", "--threads", "1", "--out", str(tmp_path / "r")]  # fmt: skip
    code, output = cli(*args, "--epochs", "1")  # the last of a repeated option counts
    assert code == 0, output
    make_images(tmp_path / "data", {"red": 7})  # one more image
    code, output = cli(*args, "--resume")
    assert code == 2 and "the data's files changed" in output, output
