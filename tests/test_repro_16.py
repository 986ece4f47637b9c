"""Issue 16, what a red team found: its reproduction set (parts 1, 2 and 5), each a complete spec
run as a user would, ending either in a located error or in a module that imports, instantiates
and runs with exactly the analysis' parameters and ``state_dict``; the command-line misuses of
part 5; and the property test it asks for: names from the whole identifier space, case variants
included, give a module with one class per block definition that computes the same function as
an emission with the blocks renamed."""

from __future__ import annotations

import inspect
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from repro_helpers import (
    Builds,
    Located,
    assert_equals_analysis,
    assert_located,
    assert_no_traceback,
    assert_usage,
    run_archc,
    write,
)

import archc
from archc.codegen.helpers import HELPERS
from archc.dsl.diagnostics import ArchcError, UsageError
from archc.validate import load_module

# ---------------------------------------------------------------- the reproduction set


def _net(name: str) -> str:
    return f"network {name}():\n    input 3x4x4\n    x -> conv(4, k=1) -> relu\n"


def _helper_block(name: str) -> str:
    """A block named like one of the emitted helpers, in a network that needs that helper too."""
    emb = "[patch_embed(8, 4), layernorm]" if name == "tokens" else "[conv(8, k=4, s=4), tokens]"
    return (
        f"block {name}():\n    return x -> conv1: conv(3, k=1) -> relu\n"
        f"network n():\n    input 3x8x8\n"
        f"    x -> l1: {name} -> l2: {name} -> emb: {emb} -> head: [token(0), fc: linear(4)]\n"
    )


def _param(name: str) -> str:
    return (
        f"block b({name}=4):\n    return x -> conv1: conv({name}, k=1) -> relu\n"
        "network n():\n    input 3x4x4\n    x -> l1: b(4) -> l2: b(6)\n"
    )


HELPER_BLOCK_PARAMS = 2 * (3 * 3) + 8 * 3 * 4 * 4 + 8 * 4 + 4  # two 1x1 convs, the patches, fc
CASES = [
    # part 1: the emitted namespace
    pytest.param(
        "block a_b():\n    return x -> relu\nblock aB():\n    return x -> sigmoid\n"
        "network n():\n    input 4x2x2\n    x -> first: a_b -> second: aB\n",
        Builds(0),
        id="a_b-and-aB",
    ),
    pytest.param(_net("Net"), Builds(12), id="network-Net"),
    pytest.param(_net("Any"), Located(1, 1, "'Any' cannot be a network name: reserved"), id="network-Any"),
    pytest.param(
        _net("Sequence"),
        Located(1, 1, "'Sequence' cannot be a network name: reserved"),
        id="network-Sequence",
    ),
    pytest.param(
        _net("Tokens"), Located(1, 1, "'Tokens' cannot be a network name: reserved"), id="network-Tokens"
    ),
    pytest.param(_net("false"), Builds(12), id="network-false"),
    pytest.param(_net("true"), Builds(12), id="network-true"),
    pytest.param(_net("none"), Builds(12), id="network-none"),
    pytest.param(_helper_block("ordered_dict"), Builds(HELPER_BLOCK_PARAMS), id="block-ordered_dict"),
    pytest.param(_helper_block("select_token"), Builds(HELPER_BLOCK_PARAMS), id="block-select_token"),
    pytest.param(_helper_block("patch_embed"), Builds(HELPER_BLOCK_PARAMS), id="block-patch_embed"),
    pytest.param(
        _helper_block("tokens"),
        Builds(2 * (3 * 3) + 8 * 3 * 4 * 4 + 8 + 2 * 8 + 8 * 4 + 4),  # ... + patch bias, layernorm
        id="block-tokens",
    ),
    pytest.param(_param("Inner"), Builds(3 * 4 + 4 * 6), id="parameter-Inner"),
    pytest.param(
        _param("Tokens"),
        Located(1, 9, "'Tokens' cannot be a parameter name: reserved"),
        id="parameter-Tokens",
    ),
    pytest.param(
        "block b(a=1, c):\n    return x -> conv1: conv(c * a, k=1)\n"
        "network n():\n    input 3x4x4\n    x -> l1: b(c=4) -> l2: b(2, 4)\n",
        Builds(3 * 4 + 4 * 8),
        id="default-before-required",
    ),
    pytest.param(
        "block pick(k=0):\n    return x -> token(k)\n"
        "network n():\n    input 3x8x8\n"
        "    x -> conv(8, k=4, s=4) -> tokens -> l1: pick(1) -> fc: linear(4)\n",
        Builds(8 * 3 * 16 + 8 * 4 + 4),
        id="token-of-a-parameter",
    ),
    pytest.param(
        "network n():\n    input 3x8x8\n"
        "    x -> conv(8, k=4, s=4) -> tokens -> body: [attention(2), gelu] -> token(0) -> fc: linear(4)\n",
        Builds(8 * 3 * 16 + (3 * 8 * 8 + 3 * 8) + (8 * 8 + 8) + 8 * 4 + 4),
        id="attention-in-a-sequence",
    ),
    pytest.param(
        f"block {'b' * 400}():\n    return x -> conv1: conv(4, k=1)\n"
        f"network n():\n    input 3x4x4\n    x -> l1: {'b' * 400}\n",
        Located(1, 1, "cannot be a block name: longer than 64 characters"),
        id="400-character-block",
    ),
    pytest.param(
        _net("n" * 240), Located(1, 1, "cannot be a network name: longer than 64"), id="240-character-network"
    ),
    # part 2: check ok, build traceback
    pytest.param(
        "network n(use_relu=false):\n    input 3x4x4\n    x -> conv(4, k=1) -> relu if use_relu\n",
        Builds(12),
        id="network-parameter-condition",
    ),
    pytest.param(
        "block b(q=in):\n    return x -> conv1: conv(4, k=1)\n"
        "network n():\n    input 3x4x4\n    x -> l1: b\n",
        Located(1, 11, "'q' cannot be a shape"),
        id="parameter-default-in",
    ),
    pytest.param(
        "block unit(w):\n    return x -> conv1: conv(w, k=1) -> relu if i == 0\n"
        "network n():\n    input 3x4x4\n    x -> layers: unit(8) x 2\n",
        Located(2, 48, "undefined name 'i'"),
        id="i-in-a-block-condition",
    ),
    pytest.param(
        "block b(out, big=false):\n    return x -> conv1: conv(out, k=1) -> down: conv(out, k=5) if big\n"
        "network n():\n    input 3x8x8\n    x -> l1: b(4, big=true) -> l2: b(4)\n",
        Builds(3 * 4 + 4 * 4 * 25 + 4 * 4),  # l2's input (4x4) is too small for `down`, absent there
        id="branch-absent-from-the-representative",
    ),
    # part 5: the specs among the tracebacks and wrong messages
    pytest.param(
        "\ufeffnetwork n():\n    input 3x4x4\n    x -> conv(4, k=1) -> relu\n", Builds(12), id="utf8-bom"
    ),
    pytest.param(
        "network big():\n    input 8\n    x -> linear(2147483647) -> linear(2147483647)\n",
        Located(3, 0, "size limit"),  # the column is the fix's to choose
        id="weights-over-2^40",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_red_team_reproduction(tmp_path: Path, text: str, expected: Builds | Located) -> None:
    spec = write(tmp_path, text)
    result = run_archc("check", "spec.arch", cwd=tmp_path)
    if isinstance(expected, Located):
        assert_located(result, f"spec.arch:{expected.line}:{expected.col}", expected.message)
        return
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert f"{expected.params:,} parameters" in result.stdout
    assert_equals_analysis(spec, params=expected.params)


def test_a_b_and_aB_are_two_classes_computing_two_functions(tmp_path: Path) -> None:
    """Both became `class AB`; the second replaced the first, so the network computed sigmoid
    twice with the same parameter count."""
    spec = write(
        tmp_path,
        "block a_b():\n    return x -> relu\nblock aB():\n    return x -> sigmoid\n"
        "network n():\n    input 4x2x2\n    x -> first: a_b -> second: aB\n",
    )
    model = archc.load(spec).module()
    assert type(model.first) is not type(model.second)
    x = torch.randn(3, 4, 2, 2)
    assert torch.equal(model(x), torch.sigmoid(torch.relu(x)))


@pytest.mark.parametrize("name", ["Net", "false", "true", "none", "N", "build_Net"])
def test_the_factory_builds_the_network_class(name: str, tmp_path: Path) -> None:
    """`def Net` replaced `class Net` and recursed forever; `network false()` emitted `class False`."""
    c = archc.load(write(tmp_path, _net(name)))
    module = load_module(c.source(), f"factory_{name}")
    classes = [v for v in vars(module).values() if inspect.isclass(v) and v.__module__ == module.__name__]
    factories = [
        v for v in vars(module).values() if inspect.isfunction(v) and v.__module__ == module.__name__
    ]
    assert len(classes) == 1 and len(factories) == 1
    model = factories[0]()
    assert type(model) is classes[0]
    assert sum(p.numel() for p in model.parameters()) == 12


# ---------------------------------------------------------------- part 5 on the command line

GATE = """\
block gate():
    w = x -> gap -> sigmoid
    return x * w
network n():
    input 3x8x8
    x -> conv1: conv(8, k=3, p=1) -> g: gate -> fc: [gap, flatten, linear(4)]
"""


def test_summary_se_of_a_gate_without_parameters(tmp_path: Path) -> None:
    """`ZeroDivisionError`."""
    write(tmp_path, GATE)
    result = run_archc("summary", "--se", "spec.arch", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "the gates add 0 parameters (0.0% of 252)" in result.stdout


def _in_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``archc ARGS`` with stdout a pseudo-terminal (rich's table); (exit code, stdout, stderr)."""
    import pty  # noqa: F401  (POSIX only: the test is skipped elsewhere by the import below)

    main, sub = os.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"COLUMNS": "200", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "archc", *args], cwd=cwd, stdout=sub, stderr=subprocess.PIPE, env=env
    )
    os.close(sub)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("folder", ["[/b]", "[red]x", "[bold]"])
def test_rich_markup_in_paths_is_printed_as_written(tmp_path: Path, folder: str) -> None:
    """A path holding `[/b]` crashed `summary` in a terminal; `[red]` was rendered as colour."""
    (tmp_path / folder).mkdir(parents=True)  # `[/b]` is two folders, `[` and `b]`
    write(tmp_path / folder, GATE, name="[red]spec.arch")
    path = f"{folder}/[red]spec.arch"
    code, out, err = _in_a_terminal(["summary", "--se", path], tmp_path)
    assert code == 0 and "Traceback" not in err, err
    assert f"n  ({path})" in out
    assert "\x1b[31m" not in out  # no red
    assert "the gates add 0 parameters" in out


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels (the header is all Pillow reads first)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


TINY = (
    "network tiny(num_classes=2):\n    input 3x8x8\n"
    "    x -> conv1: conv(4, k=3, p=1) -> relu -> gap -> flatten -> fc: linear(num_classes)\n"
)


def _image_folder(
    root: Path, splits: tuple[str, ...] = ("train", "val"), classes: tuple[str, ...] = ("a", "b")
) -> Path:
    from PIL import Image

    for split in splits:
        for k, cls in enumerate(classes):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for j in range(4):
                Image.new("RGB", (10, 10), (60 * k, 40 * j, 90)).save(root / split / cls / f"{j}.png")
    return root


def _train(tmp_path: Path, data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    write(tmp_path, TINY)
    settings = ["-e", "1", "-b", "4", "--device", "cpu", "-o", "run"]
    return run_archc(
        "train", "spec.arch", "--data", data.relative_to(tmp_path), *settings, *extra, cwd=tmp_path
    )


@pytest.mark.parametrize(("width", "height"), [(20_000, 20_000), (10_000, 9_000)])
def test_a_decompression_bomb_is_one_clear_error(tmp_path: Path, width: int, height: int) -> None:
    """Over Pillow's own limit, and between archc's limit and Pillow's."""
    data = _image_folder(tmp_path / "data")
    bomb = data / "train" / "a" / "bomb.png"
    bomb.write_bytes(_png_header(width, height))
    result = _train(tmp_path, data)
    assert_no_traceback(result)
    assert result.returncode == 1, result.stderr
    assert f"cannot read {bomb.relative_to(tmp_path)}: " in result.stderr
    assert "pixels" in result.stderr and "hint: fix or remove that file" in result.stderr


def test_a_corrupt_image_stops_with_a_checkpoint(tmp_path: Path) -> None:
    """It aborted with exit 2, the hint "check the path and its permissions" and no checkpoint."""
    data = _image_folder(tmp_path / "data")
    (data / "train" / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    result = _train(tmp_path, data)
    assert_no_traceback(result)
    assert result.returncode == 1, result.stderr
    assert "bad.png" in result.stderr and "hint: fix or remove that file" in result.stderr
    assert "check the path and its permissions" not in result.stderr
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert "--resume" in result.stderr


@pytest.mark.parametrize("channels", [2, 4])
def test_an_input_channel_count_images_do_not_have(tmp_path: Path, channels: int) -> None:
    """A conv `RuntimeError`."""
    data = _image_folder(tmp_path / "data")
    result = _train(tmp_path, data, "--input", f"{channels}x8x8")
    assert_usage(
        result, f"images are read as grayscale (1 channel) or RGB (3), but the spec takes {channels} channels"
    )
    assert not (tmp_path / "run").exists()


def test_an_empty_class_folder_is_refused(tmp_path: Path) -> None:
    data = _image_folder(tmp_path / "data")
    (data / "train" / "c").mkdir()
    (data / "val" / "c").mkdir()
    assert_usage(_train(tmp_path, data), "class folder data/train/c has no images")


def test_train_without_val_is_refused(tmp_path: Path) -> None:
    data = _image_folder(tmp_path / "data", splits=("train",))
    assert_usage(_train(tmp_path, data), "has train/ but no val/")


def test_not_a_regular_file_as_the_spec(tmp_path: Path) -> None:
    """A directory, `/dev/null` or a FIFO was "no such spec file" (a FIFO could block)."""
    (tmp_path / "folder.arch").mkdir()
    assert_usage(run_archc("check", "folder.arch", cwd=tmp_path), "'folder.arch' is a directory")
    assert_usage(run_archc("check", "/dev/null", cwd=tmp_path), "'/dev/null' is not a regular file")
    os.mkfifo(tmp_path / "fifo.arch")
    result = run_archc("check", "fifo.arch", cwd=tmp_path, fresh=True, timeout=60)  # never blocks reading
    assert_usage(result, "'fifo.arch' is not a regular file")


@pytest.mark.parametrize("command", ["check", "summary", "build", "render", "train"])
def test_an_empty_input_is_a_usage_error(tmp_path: Path, command: str) -> None:
    """`--input ""` was ignored silently."""
    write(tmp_path, TINY)
    extra = {"build": ["-o", "out"], "render": ["-o", "out.dot"], "train": ["--data", "none", "-o", "run"]}
    result = run_archc(command, "spec.arch", "--input", "", *extra.get(command, []), cwd=tmp_path)
    assert_usage(result, "--input '' is not a shape")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.arch"]  # nothing written


def test_an_empty_input_through_the_api(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--input '' is not a shape"):
        archc.load(write(tmp_path, TINY), input="")


# ---------------------------------------------------------------- the property test

# Names a spec may try: the whole identifier space, and the names emitted code already uses.
_TRICKY = sorted(
    {"a_b", "aB", "AB", "AB2", "ab", "A_B", "N", "Net", "Inner", "Module", "nn", "torch", "F", "x", "i", "in"}
    | set(HELPERS)
    | {
        "relu",
        "conv",
        "tokens",
        "ordered_dict",
        "select_token",
        "patch_embed",
        "false",
        "none",
        "self",
        "super",
    }
)
_IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True) | st.sampled_from(_TRICKY)


@st.composite
def _variants(draw: st.DrawFn) -> str:
    """A name, or a case or underscore variant of one (the names that camel-case alike)."""
    base = draw(_IDENTIFIER)
    how = draw(st.sampled_from(["as is", "upper", "lower", "swapcase", "camel", "snake", "digit"]))
    if how == "upper":
        return base.upper()
    if how == "lower":
        return base.lower()
    if how == "swapcase":
        return base.swapcase()
    if how == "camel":
        return "".join(p[:1].upper() + p[1:] for p in base.split("_")) or base
    if how == "snake":
        return "".join(f"_{ch.lower()}" if ch.isupper() and k else ch for k, ch in enumerate(base))
    if how == "digit":
        return base + str(draw(st.integers(0, 3)))
    return base


ACTIVATIONS = ["relu", "sigmoid", "gelu", "silu", "hardswish", "hardsigmoid", "relu6"]


def _spec(blocks: list[str], params: list[str], net: str, width: str) -> str:
    lines = []
    for k, (b, p) in enumerate(zip(blocks, params, strict=True)):
        lines.append(f"block {b}({p}=4):\n    return x -> conv1: conv({p}, k=1) -> {ACTIVATIONS[k]}\n")
    chain = " -> ".join(f"l{k}: {b}({width})" for k, b in enumerate(blocks))
    lines.append(f"network {net}({width}=4):\n    input 3x4x4\n    x -> {chain}\n")
    return "".join(lines)


def _block_classes(module: object) -> set[type]:
    return {
        v
        for name, v in vars(module).items()
        if inspect.isclass(v)
        and issubclass(v, torch.nn.Module)
        and v.__module__ == getattr(module, "__name__", None)
        and name not in HELPERS
    }


def _same_function_as_renamed(
    tmp_path: Path, blocks: list[str], params: list[str], net: str, width: str
) -> bool:
    """False when the spec is refused with a located error; else assert the property.

    A block or parameter named like an op the spec uses (`relu`) is a valid name that changes
    what the bodies mean (a block named `relu` is what `-> relu` calls), so the renamed spec
    would be another network: such names are left to the tests of scoping."""
    assume(not {*blocks, *params, width} & {"conv", *ACTIVATIONS})
    path = write(tmp_path, _spec(blocks, params, net, width), name="named.arch")
    try:
        c = archc.load(path)
    except ArchcError as e:
        assert not isinstance(e, UsageError)
        assert all(d.span.line > 0 and d.span.file.endswith("named.arch") for d in e.diagnostics), e.render()
        return False
    module = load_module(c.source(), "named")
    network = module.__dict__[type(c.module()).__name__]
    assert len(_block_classes(module) - {network}) == len(blocks)
    canonical = write(
        tmp_path,
        _spec([f"blk{k}" for k in range(len(blocks))], [f"p{k}" for k in range(len(blocks))], "net", "width"),
        name="canonical.arch",
    )
    reference = archc.load(canonical).module()
    torch.manual_seed(0)
    model = network()
    assert model.state_dict().keys() == reference.state_dict().keys()
    reference.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
        wider = network(**{width: 6})
        reference_wider = archc.load(canonical, width=6).module()
        reference_wider.load_state_dict(wider.state_dict())
        assert torch.equal(wider(x), reference_wider(x))
    return True


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    names=st.lists(_variants(), min_size=2, max_size=5, unique=True),
    params=st.lists(_variants(), min_size=5, max_size=5),
    net=_variants(),
    width=_variants(),
)
def test_names_never_collide_in_emitted_code(
    tmp_path: Path, names: list[str], params: list[str], net: str, width: str
) -> None:
    _same_function_as_renamed(tmp_path, names, params[: len(names)], net, width)


@pytest.mark.parametrize(
    ("blocks", "params", "net", "width"),
    [
        (["a_b", "aB", "AB", "AB2", "ab"], ["Inner", "AB", "aB", "N", "AB3"], "N", "AB"),
        (
            ["select_token", "SelectToken_", "ordered_dict", "patch_embed"],
            ["Net", "n", "AB2", "q"],
            "Net",
            "SelectToken2",
        ),
        (["Conv", "conv_", "CONV", "co_nv"], ["Conv2", "w", "W", "conv__"], "ab", "Ab"),
    ],
)
def test_colliding_names_that_must_build(
    tmp_path: Path, blocks: list[str], params: list[str], net: str, width: str
) -> None:
    """Names that all camel-case alike, numbered names, and parameters named like classes: valid
    names, so the spec builds (the property test above may also meet names refused with an error)."""
    assert _same_function_as_renamed(tmp_path, blocks, params, net, width)
