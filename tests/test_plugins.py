"""Plugins: ops from other packages through the ``archc.ops`` entry points.

Nothing is installed: each test writes a package's ``.dist-info`` (its metadata and
``entry_points.txt``) into a temporary directory on ``sys.path``, which is how an installed
package looks to ``importlib.metadata`` - so the real entry-point machinery runs, from the
declaration to the import.  The worked example under ``examples/plugin_op`` is exercised the
same way, with its entry points read from its own ``pyproject.toml``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import ROOT

import archc
from archc.codegen.emit import emit, instantiate
from archc.codegen.helpers import HELPERS
from archc.dsl.diagnostics import ArchcError
from archc.dsl.ops import ALIASES, REGISTRY, listing, lookup, plugins

EXAMPLE = ROOT / "examples" / "plugin_op"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for fake installed packages; the registry, the helpers and the
    plugin scan are restored afterwards."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))  # importable; declared only by install_example
    registry, aliases, helpers = dict(REGISTRY), dict(ALIASES), dict(HELPERS)
    modules = set(sys.modules)
    plugins.reset()
    yield path
    plugins.reset()
    for table, saved in ((REGISTRY, registry), (ALIASES, aliases), (HELPERS, helpers)):
        table.clear()
        table.update(saved)  # type: ignore[attr-defined]
    for name in set(sys.modules) - modules:
        if name.startswith(("archc_plugin", "fake_")):
            del sys.modules[name]


def install(site: Path, package: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write ``package``'s dist-info declaring ``entry_points`` and its ``modules`` into ``site``."""
    info = site / f"{package.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    lines = ["[archc.ops]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))


def install_example(site: Path) -> None:
    """The example package as `pip install -e examples/plugin_op` makes it visible: its source
    on the path, its entry points (from its pyproject.toml) in a dist-info."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    install(site, project["name"], project["entry-points"]["archc.ops"], {})


def spec(tmp: Path, body: str, name: str = "net") -> Path:
    path = tmp / f"{name}.arch"
    path.write_text(f"network {name}():\n    input 8x6x6\n    x -> {body}\n")
    return path


MISH = """
from typing import Any
from archc.dsl.ops import Emission, Op, Shape, register

@register()
class Mish(Op):
    name = "mish"
    summary = "x * tanh(softplus(x))"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission("nn.Mish()")
"""


# ------------------------------------------------------------------ the worked example


def test_example_package_through_its_entry_points(site: Path, tmp_path: Path) -> None:
    install_example(site)
    c = archc.compile_spec(EXAMPLE / "se_mish.arch")
    assert "archc_plugin_example.ops" in sys.modules
    assert plugins.provider_of("squeeze_excite") == plugins.provider_of("mish") == "archc-plugin-example 1.0"
    node = c.graph.nodes["layers.0.se"]
    assert node["op"] == "squeeze_excite"
    assert [(k, s) for k, s, _ in node["tensors"]] == [
        ("layers.0.se.fc1.weight", (8, 32, 1, 1)),
        ("layers.0.se.fc1.bias", (8,)),
        ("layers.0.se.fc2.weight", (32, 8, 1, 1)),
        ("layers.0.se.fc2.bias", (32,)),
    ]
    # fvcore's rules: two 1x1 convs on a 1x1 map (dense), the average pool reads 32x32x32 (other)
    assert (node["macs"], node["macs_other"]) == (2 * 32 * 8, 32 * 32 * 32)
    source = emit(c)
    assert "class SqueezeExcitation(nn.Module):" in source and "nn.Mish()" in source
    torch.manual_seed(0)
    model = instantiate(c).eval()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == c.state_dict_shapes()
    x = torch.randn(2, 3, 32, 32)
    assert tuple(model(x).shape) == (2, 10)
    # the helper computes torchvision's SqueezeExcitation: sigmoid(fc2(relu(fc1(mean)))) * x
    se = model.get_submodule("layers.0.se")
    h = torch.randn(2, 32, 5, 5)
    gate = torch.sigmoid(se.fc2(torch.relu(se.fc1(h.mean((2, 3), keepdim=True)))))
    assert torch.allclose(se(h), gate * h)
    # `se` is an alias the package declares too
    assert lookup("se") is REGISTRY["squeeze_excite"]


def test_example_readme_shows_the_install_and_the_spec() -> None:
    readme = (EXAMPLE / "README.md").read_text()
    assert "pip install -e examples/plugin_op" in readme
    assert "archc check examples/plugin_op/se_mish.arch" in readme


# ------------------------------------------------------------------ lazy, and never from a spec


def test_plugins_load_only_when_a_spec_needs_them(site: Path, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    install(
        site,
        "fake-mish",
        {"mish": "fake_mish"},
        {"fake_mish": f"open({str(marker)!r}, 'w').close()\n" + MISH},
    )
    # built-in ops only, and a block called inside a sequence (the elaborator asks the registry
    # about that name too): the plugin is not imported
    path = tmp_path / "builtin.arch"
    path.write_text(
        "block unit(c):\n    return x -> conv(c, k=1) -> relu\n\n"
        "network n():\n    input 8x6x6\n    x -> layers: [unit(8), unit(8)] -> gap\n"
    )
    archc.compile_spec(path)
    assert not marker.exists() and "fake_mish" not in sys.modules
    c = archc.compile_spec(spec(tmp_path, "conv(8, k=1) -> mish"))
    assert marker.exists() and c.graph.nodes["mish"]["op"] == "mish"
    assert plugins.provider_of("mish") == "fake-mish 1.0"


def test_a_spec_never_imports_python(site: Path, tmp_path: Path) -> None:
    """An op name that happens to be an importable module is just an unknown op."""
    assert "this" not in sys.modules
    with pytest.raises(ArchcError, match="unknown op or block 'this'"):
        archc.compile_spec(spec(tmp_path, "this"))
    assert "this" not in sys.modules


# ------------------------------------------------------------------ one clear error, registry untouched


def _error(tmp_path: Path, op: str) -> str:
    with pytest.raises(ArchcError) as info:
        archc.compile_spec(spec(tmp_path, op))
    assert len(info.value.diagnostics) == 1
    return info.value.render()


def test_a_plugin_that_fails_to_import(site: Path, tmp_path: Path) -> None:
    install(
        site, "fake-broken", {"broken": "fake_broken"}, {"fake_broken": "import fake_missing_dependency\n"}
    )
    before = dict(REGISTRY)
    text = _error(tmp_path, "broken")
    assert text.startswith("plugin 'broken' (fake-broken 1.0): error: importing 'fake_broken' failed:")
    assert "ModuleNotFoundError: No module named 'fake_missing_dependency'" in text
    assert "hint: fix or uninstall the package (fake-broken 1.0)" in text
    assert before == REGISTRY


def test_a_plugin_that_takes_a_built_in_name(site: Path, tmp_path: Path) -> None:
    clash = MISH.replace('name = "mish"', 'name = "mish2"').replace("@register()", '@register("relu")')
    install(site, "fake-clash", {"mish2": "fake_clash", "relu": "fake_clash"}, {"fake_clash": clash})
    before, aliases = dict(REGISTRY), dict(ALIASES)
    text = _error(tmp_path, "mish2")
    assert "op name 'relu' is already taken (by op 'relu'); 'relu' is built into archc" in text
    assert before == REGISTRY  # mish2 was rolled back with it
    assert aliases == ALIASES


def test_two_plugins_with_one_name(site: Path, tmp_path: Path) -> None:
    install(site, "fake-one", {"mish": "fake_one"}, {"fake_one": MISH})
    install(site, "fake-two", {"mish": "fake_two"}, {"fake_two": MISH})
    text = _error(tmp_path, "mish")
    assert "op 'mish' is declared by 2 packages: fake-one 1.0, fake-two 1.0" in text


def test_a_plugin_that_registers_what_it_does_not_declare(site: Path, tmp_path: Path) -> None:
    install(
        site, "fake-sly", {"mish": "fake_sly"}, {"fake_sly": MISH.replace("@register()", '@register("m")')}
    )
    text = _error(tmp_path, "mish")
    assert "registers op 'm', which its package does not declare" in text
    assert "mish" not in REGISTRY


def test_a_plugin_that_does_not_register_its_name(site: Path, tmp_path: Path) -> None:
    install(site, "fake-empty", {"mish": "fake_empty"}, {"fake_empty": "x = 1\n"})
    assert "registered no op of that name" in _error(tmp_path, "mish")


def test_a_plugin_with_a_broken_declaration(site: Path, tmp_path: Path) -> None:
    bad = (
        MISH + '\n\n@register()\nclass Bad(Op):\n    name = "bad"\n    args = (ArgSpec("mode", "string"),)\n'
    )
    bad = bad.replace("import Emission,", "import ArgSpec, Emission,")
    install(site, "fake-bad", {"mish": "fake_bad", "bad": "fake_bad"}, {"fake_bad": bad})
    text = _error(tmp_path, "bad")
    assert "argument 'mode' has unknown kind 'string'" in text
    assert "mish" not in REGISTRY  # the whole module is rolled back


def test_an_entry_point_may_name_the_op_class(site: Path, tmp_path: Path) -> None:
    source = MISH.replace("@register()\n", "")
    install(site, "fake-class", {"mish": "fake_class:Mish"}, {"fake_class": source})
    c = archc.compile_spec(spec(tmp_path, "mish"))
    assert c.graph.nodes["mish"]["op"] == "mish"


# ------------------------------------------------------------------ archc ops


def test_ops_lists_families_plugins_and_aliases(site: Path) -> None:
    install_example(site)
    plugins.load_all()
    text = listing()
    families = [line[:-1] for line in text.splitlines() if line and not line.startswith(" ")]
    assert families[:9] == [
        "conv",
        "norm",
        "activation",
        "pool",
        "resample",
        "reshape",
        "dense",
        "swin",
        "merge",
    ]
    assert families[9].startswith("plugin archc-plugin-example")
    assert "  silu()  (also: swish)" in text
    assert (
        "  conv_transpose(out, k, s=1, p=0, op=0, d=1, groups=1, bias=false)"
        "  (also: conv_transpose2d, deconv)" in text
    )
    assert "argument aliases: k = kernel, kernel_size; s = stride; p = padding; op = output_padding" in text
    assert "  squeeze_excite(squeeze)  (also: se)" in text.split("plugin archc-plugin-example", 1)[1]


def _cli(args: list[str], site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLE / "src")])}
    return subprocess.run(
        [sys.executable, "-m", "archc", *args], capture_output=True, text=True, env=env, cwd=ROOT
    )


def test_cli_with_installed_plugins(site: Path, tmp_path: Path) -> None:
    install_example(site)
    install(site, "fake-broken", {"broken": "fake_broken"}, {"fake_broken": "raise RuntimeError('boom')\n"})
    ok = _cli(["check", str(EXAMPLE / "se_mish.arch")], site)
    assert ok.returncode == 0, ok.stderr
    assert "se_mish: ok: 3x32x32 -> 10" in ok.stdout
    assert ok.stdout.strip() in (EXAMPLE / "README.md").read_text()  # the README shows the real line
    listed = _cli(["ops"], site)
    assert listed.returncode == 1
    assert "squeeze_excite(squeeze)" in listed.stdout  # the healthy plugin is listed
    assert "plugin 'broken' (fake-broken 1.0): error: importing 'fake_broken' failed: RuntimeError: boom" in (
        listed.stderr
    )
    broken = _cli(["check", str(spec(tmp_path, "broken"))], site)
    assert broken.returncode == 1 and "RuntimeError: boom" in broken.stderr
    assert "Traceback" not in broken.stderr + listed.stderr
