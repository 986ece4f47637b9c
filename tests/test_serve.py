"""``archc serve`` without a browser: the API through Starlette's TestClient, and the pieces alone.

The numbers a compile answers are checked against archc's own front end run on the same file;
the safety properties each with the requests that would break them (paths that escape the
folder, bodies over the cap, specs over the size limit, other origins, stale saves)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install 'archc[serve]'")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx (the dev extra)")

with warnings.catch_warnings():  # Starlette 1.x suggests httpx2; httpx still drives TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from archc.dsl.compiler import compile_file, parse_sets
from archc.dsl.parser import MAX_SOURCE_BYTES
from archc.serve.app import MAX_BODY, create_app
from archc.serve.workspace import Conflict, PathRefused, Workspace

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")

REPO = Path(__file__).resolve().parent.parent
SECRET = "SECRET_OUTSIDE_THE_FOLDER"

SMALL = """\
# a small network for the playground's tests
block unit(width, stride=1):
    y = x -> conv1: conv(width, k=3, s=stride, p=1) -> bn1: bn -> relu
    return y -> conv2: conv(width, k=3, p=1) -> bn2: bn

network small(width=16, depths=[1, 2], num_classes=10):
    input 3x32x32
    x -> stem: conv(width, k=3, p=1) -> relu
      -> stage1: unit(width) x depths[0]
      -> stage2: unit(width * 2, stride=2 if i == 0 else 1) x depths[1]
      -> pool: gap -> flatten -> fc: linear(num_classes)
"""

USES = """\
use "lib/blocks.arch"

network wide(width=32):
    input 3x16x16
    x -> body: pair(width) -> pool: gap -> flatten -> fc: linear(5)
"""

BLOCKS = """\
block pair(width):
    return x -> a: conv(width, k=3, p=1) -> relu -> b: conv(width, k=3, p=1) -> relu
"""


def make_folder(base: Path) -> Path:
    """A served folder beside an outside one holding a secret, with links that point out."""
    root = base / "served"
    (root / "lib").mkdir(parents=True)
    (root / "small.arch").write_text(SMALL)
    (root / "uses.arch").write_text(USES)
    (root / "lib" / "blocks.arch").write_text(BLOCKS)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.arch").write_text(f"# {SECRET}\nblock secret():\n    return x -> relu\n")
    (root / "link.arch").symlink_to(outside / "secret.arch")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def client(folder: Path) -> Iterator[TestClient]:
    app = create_app(folder, "small.arch", workers=2, timeout=1.0)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


def compile_(client: TestClient, text: str, path: str = "small.arch", **extra: Any) -> dict[str, Any]:
    r = client.post("/api/compile", json={"path": path, "text": text, **extra})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


# ------------------------------------------------------------------ what a compile answers


def test_compile_matches_the_front_end(client: TestClient, folder: Path) -> None:
    ref = compile_file(folder / "small.arch")
    data = compile_(client, SMALL)
    assert data["ok"] and data["diagnostics"] == []
    t = data["totals"]
    assert (t["params"], t["macs"], t["layers"]) == (ref.params, ref.macs, ref.totals.layers)
    assert (t["input"], t["output"]) == ("3x32x32", "10")
    assert [s["stage"] for s in data["stages"]] == [
        "stem",
        "relu",
        "stage1",
        "stage2",
        "pool",
        "flatten",
        "fc",
    ]
    assert sum(s["params"] for s in data["stages"]) == ref.params
    svg = data["svg"]
    assert svg.lstrip().startswith("<?xml") and '<g id="c:stage2"' in svg and '<g id="t:stage2"' in svg
    assert set(data["info"]) == set(re.findall(r'<g id="([nmct]:[^"]+)"', svg))  # every node can be hovered
    assert [(p["name"], p["kind"], p["default"]) for p in data["params"]] == [
        ("width", "int", "16"),
        ("depths", "list", "[1, 2]"),
        ("num_classes", "int", "10"),
    ]
    assert data["networks"] == ["small"]


def test_sets_are_applied_as_overrides(client: TestClient, folder: Path) -> None:
    ref = compile_file(folder / "small.arch", sets=parse_sets(["width=8", "depths=[2, 1]"]))
    data = compile_(client, SMALL, sets={"width": "8", "depths": "[2, 1]", "renamed_away": "3"})
    assert data["ok"], data["diagnostics"]
    assert data["totals"]["params"] == ref.params  # the unknown parameter is dropped, not an error
    bad = compile_(client, SMALL, sets={"width": "[1"})
    assert not bad["ok"] and bad["diagnostics"][0]["file"] == "--set width"
    assert [p["name"] for p in bad["params"]] == ["width", "depths", "num_classes"]  # controls stay


def test_hover_info_and_folds(client: TestClient, folder: Path) -> None:
    ref = compile_file(folder / "small.arch", sets=parse_sets(["depths=[1, 3]"]))
    data = compile_(client, SMALL, sets={"depths": "[1, 3]"})
    info = data["info"]
    # at the default depth stage2's last two blocks (same arguments, same shapes) are one node
    assert "m:stage2.0" in info
    run = info["m:stage2.1..2"]
    assert run["members"] == ["stage2.1", "stage2.2"] and run["what"] == "unit(width=32, stride=1) × 2"
    g = ref.graph
    blocks = [d for n, d in g.nodes(data=True) if n.startswith(("stage2.1.", "stage2.2."))]
    assert run["params"] == sum(d["params"] for d in blocks) and run["layers"] == len(blocks) == 10
    assert run["macs"] == sum(d["macs"] for d in blocks)
    assert (run["in"], run["out"]) == ("32x16x16", "32x16x16")
    assert info["m:stage2.0"]["in"] == "16x32x32"
    # the stem's conv and its relu are one node
    stem = info["n:stem"]
    assert stem["members"] == ["stem", "relu"] and stem["what"] == "conv 3x3, 16 → relu"
    assert stem["params"] == g.nodes["stem"]["params"]
    assert (stem["in"], stem["out"]) == ("3x32x32", "16x32x32")
    # expanding stage2.2 splits the run; collapsing stage2 makes it one node
    data = compile_(client, SMALL, sets={"depths": "[1, 3]"}, folds={"stage2.2": True})
    assert {"m:stage2.1", "c:stage2.2", "t:stage2.2", "n:stage2.2.conv1"} <= set(data["info"])
    assert "m:stage2.1..2" not in data["info"]
    conv1 = data["info"]["n:stage2.2.conv1"]
    chain = ["stage2.2.conv1", "stage2.2.bn1", "stage2.2.relu"]
    assert conv1["members"] == chain and conv1["layers"] == 3
    assert conv1["params"] == sum(g.nodes[n]["params"] for n in chain)
    assert conv1["macs"] == sum(g.nodes[n]["macs"] for n in chain)
    data = compile_(client, SMALL, folds={"stage2": False})
    assert "m:stage2" in data["info"] and "c:stage2" not in data["info"]
    # a block that is one conv, its norm and activation: opened, it is one node named by it
    single = SMALL.replace("return y -> conv2: conv(width, k=3, p=1) -> bn2: bn", "return y")
    data = compile_(client, single, sets={"depths": "[1, 3]"}, folds={"stage2.2": True})
    node = data["info"]["n:stage2.2"]
    assert node["members"] == ["stage2.2"] and node["layers"] == 3
    assert node["what"] == "unit(width=32, stride=1)"


def test_node_cap(client: TestClient, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A diagram with too many nodes is not drawn: a warning says so, the totals still come."""
    from archc.serve import jobs

    job = jobs.Job(str(folder), jobs.Source("small.arch", SMALL), sets=(("depths", "[1, 3]"),))
    nodes = len(jobs.run(job).data["info"]) - 1  # the info has the cluster stage2, which is no node
    monkeypatch.setattr(jobs, "MAX_DIAGRAM_NODES", nodes - 1)
    data = jobs.run(job).data
    assert data["ok"] and data["svg"] is None and data["info"] == {}
    assert data["warnings"] == [
        f"the diagram would have {nodes} nodes (more than {nodes - 1}): "
        "collapse some modules, or put long runs of layers in a block"
    ]
    monkeypatch.setattr(jobs, "MAX_DIAGRAM_NODES", nodes)
    assert jobs.run(job).data["svg"]


def test_errors_are_located_with_hints(client: TestClient) -> None:
    broken = SMALL.replace("-> pool: gap", "-> pool: gap -> bad: conv(8, k=3)")
    data = compile_(client, broken)
    assert not data["ok"]
    d = data["diagnostics"][0]
    line = broken.splitlines().index(
        "      -> pool: gap -> bad: conv(8, k=3) -> flatten -> fc: linear(num_classes)"
    )
    assert (d["file"], d["line"]) == ("small.arch", line + 1)
    assert d["hint"]
    assert "svg" not in data and data["params"]  # no diagram, but the controls stay


def test_errors_in_used_files_name_the_file(client: TestClient, folder: Path) -> None:
    data = compile_(client, USES, path="uses.arch")
    assert data["ok"] and data["totals"]["params"] == compile_file(folder / "uses.arch").params
    (folder / "lib" / "broken.arch").write_text("block broken(:\n")
    try:
        data = compile_(client, 'use "lib/broken.arch"\n' + USES, path="uses.arch")
    finally:
        (folder / "lib" / "broken.arch").unlink()
    assert not data["ok"]
    assert [(d["file"], d["line"]) for d in data["diagnostics"]] == [("lib/broken.arch", 1)]


def test_compare(client: TestClient, folder: Path) -> None:
    edited = SMALL.replace("fc: linear(num_classes)", "drop: dropout(0.1) -> fc: linear(num_classes)")
    data = compile_(client, edited, compare={"kind": "saved"}, sets={"num_classes": "7"})
    cmp = data["compare"]
    assert cmp["changed"] == {"drop": "added"} and cmp["removed"] == []  # same --set on both sides
    data = compile_(client, SMALL, compare={"kind": "defaults"}, sets={"num_classes": "7"})
    a, b = (
        compile_file(folder / "small.arch"),
        compile_file(folder / "small.arch", sets=parse_sets(["num_classes=7"])),
    )
    assert data["compare"]["changed"] == {"fc": "changed"}
    # a wider network: the convs changed in themselves, what follows them only in shape
    changed = compile_(client, SMALL, compare={"kind": "defaults"}, sets={"width": "8"})["compare"]["changed"]
    assert changed["stem"] == changed["stage2.1.conv2"] == "changed"
    assert changed["stage1.0.bn1"] == changed["relu"] == changed["fc"] == "reshaped"
    assert data["compare"]["total"] == {"params": [a.params, b.params], "macs": [a.macs, b.macs]}
    data = compile_(client, SMALL, compare={"kind": "file", "path": "uses.arch"})
    assert "stem" in data["compare"]["changed"] and "body.a" in data["compare"]["removed"]


def test_downloads(client: TestClient, folder: Path) -> None:
    from archc.codegen.emit import emit
    from archc.dsl.compiler import compile_program
    from archc.dsl.loader import load_text

    r = client.post("/api/export", json={"path": "small.arch", "text": SMALL, "format": "py"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="small.py"'
    assert r.text == emit(compile_program(load_text(SMALL, "small.arch", folder=folder)))
    r = client.post("/api/export", json={"path": "small.arch", "text": SMALL, "format": "svg"})
    assert r.headers["content-type"] == "image/svg+xml" and r.content.lstrip().startswith(b"<?xml")
    r = client.post("/api/export", json={"path": "small.arch", "text": SMALL, "format": "png"})
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n")
    r = client.post("/api/export", json={"path": "small.arch", "text": "network", "format": "py"})
    assert r.status_code == 422 and r.json()["diagnostics"]


# ------------------------------------------------------------------ paths stay inside the folder

ESCAPES = [
    "../outside/secret.arch",
    "/etc/passwd",
    "lib/../../outside/secret.arch",
    "lib/../small.arch",
    "./small.arch",
    "..",
    "link.arch",
    "linkdir/secret.arch",
    "lib\\blocks.arch",
    ".hidden.arch",
    "small.txt",
    "small.arch\x00.txt",
    "C:/small.arch",
    "",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_paths_outside_the_folder_are_refused(client: TestClient, folder: Path, path: str) -> None:
    secret = folder.parent / "outside" / "secret.arch"
    before = secret.read_bytes()
    answers = [
        client.get("/api/file", params={"path": path}),
        client.post("/api/compile", json={"path": path, "text": SMALL}),
        client.post(
            "/api/compile",
            json={"path": "small.arch", "text": SMALL, "compare": {"kind": "file", "path": path}},
        ),
        client.post("/api/save", json={"path": path, "text": "# overwritten\n", "base": None}),
        client.post("/api/export", json={"path": path, "text": SMALL, "format": "py"}),
    ]
    for r in answers:
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert SECRET not in r.text
    assert secret.read_bytes() == before
    assert not (folder.parent / "small.txt").exists()


def test_file_list_skips_links_and_hidden(client: TestClient) -> None:
    data = client.get("/api/files").json()
    assert data["files"] == ["lib/blocks.arch", "small.arch", "uses.arch"]
    assert data["open"] == "small.arch"
    assert "conv" in data["ops"]


@pytest.mark.parametrize(
    "use",
    [
        '"../outside/secret.arch"',
        '"../../../../../../etc/passwd"',
        '"link.arch"',
        '"linkdir/secret.arch"',
        "ABS",
    ],
)
def test_use_stays_inside_the_folder(client: TestClient, folder: Path, use: str) -> None:
    if use == "ABS":
        use = f'"{folder.parent / "outside" / "secret.arch"}"'
    text = f"use {use}\n" + SMALL
    data = compile_(client, text)
    assert not data["ok"]
    d = data["diagnostics"][0]
    assert (d["file"], d["line"]) == ("small.arch", 1)
    assert "outside the project" in d["message"]
    assert SECRET not in str(data)


# ------------------------------------------------------------------ sizes, types, origins


def test_oversized_body_is_refused_before_it_is_read(client: TestClient) -> None:
    big = "#" * (MAX_BODY + 10)
    r = client.post("/api/compile", json={"path": "small.arch", "text": big})
    assert r.status_code == 413
    # without a Content-Length (chunked), the cap holds while reading

    def chunks() -> Iterator[bytes]:
        yield b'{"path": "small.arch", "text": "'
        for _ in range(MAX_BODY // (1 << 20) + 2):
            yield b"#" * (1 << 20)
        yield b'"}'

    r = client.post("/api/compile", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_spec_over_the_size_limit_is_a_located_error(client: TestClient, folder: Path) -> None:
    text = SMALL + "#" * (MAX_SOURCE_BYTES - len(SMALL.encode()) + 1) + "\n"
    assert len(text.encode()) > MAX_SOURCE_BYTES and len(text) < MAX_BODY
    data = compile_(client, text)
    assert not data["ok"] and "spec too big" in data["diagnostics"][0]["message"]
    r = client.post("/api/save", json={"path": "big.arch", "text": text, "base": None})
    assert r.status_code == 413 and not (folder / "big.arch").exists()
    (folder / "huge.arch").write_bytes(b"#" * (MAX_SOURCE_BYTES + 1))
    try:
        r = client.get("/api/file", params={"path": "huge.arch"})
        assert r.status_code == 422 and "too big" in r.json()["error"]
    finally:
        (folder / "huge.arch").unlink()


def test_spec_over_the_layer_limit_is_a_located_error(client: TestClient) -> None:
    text = (REPO / "tests/golden/diagnostics/too_big_repeat.arch").read_text()
    data = compile_(client, text)
    assert not data["ok"] and data["diagnostics"][0]["line"] > 0


def test_requests_from_elsewhere_are_refused(client: TestClient) -> None:
    body = {"path": "small.arch", "text": SMALL}
    assert (
        client.post("/api/compile", json=body, headers={"origin": "http://evil.example"}).status_code == 403
    )
    assert client.post("/api/compile", json=body, headers={"sec-fetch-site": "cross-site"}).status_code == 403
    form = client.post("/api/save", content=b"path=small.arch", headers={"content-type": "text/plain"})
    assert form.status_code == 415
    assert client.get("/api/files", headers={"host": "evil.example:8000"}).status_code == 400  # DNS rebinding
    ok = client.post("/api/compile", json=body, headers={"origin": "http://127.0.0.1:8000"})
    assert ok.status_code == 200


def test_bad_request_fields(client: TestClient) -> None:
    for body in [
        [],
        {"path": "small.arch"},
        {"path": "small.arch", "text": SMALL, "sets": {"1x": "2"}},
        {"path": "small.arch", "text": SMALL, "sets": {"w": 2}},
        {"path": "small.arch", "text": SMALL, "folds": {"a": "yes"}},
        {"path": "small.arch", "text": SMALL, "network": "a b"},
        {"path": "small.arch", "text": SMALL, "compare": {"kind": "nope"}},
    ]:
        r = client.post("/api/compile", json=body)
        assert r.status_code == 400, body
    r = client.post("/api/compile", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_page_and_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-content-type-options"] == "nosniff"
    for asset in ("app.js", "app.css", "THIRD_PARTY_LICENSES.txt"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert "MIT" in client.get("/static/THIRD_PARTY_LICENSES.txt").text


def test_spec_text_is_never_markup(client: TestClient) -> None:
    """Spec text reaches the page as JSON only; the diagram never carries it as markup."""
    hostile = SMALL.replace("# a small", "# <script>alert(1)</script><img src=x onerror=alert(2)> a small")
    data = compile_(client, hostile)
    assert data["ok"] and "<script" not in data["svg"] and "onerror" not in data["svg"]
    bad = compile_(client, hostile + "\nnetwork <script>alert(3)</script>:\n")
    assert not bad["ok"]
    r = client.get("/")
    assert "alert(" not in r.text and "<script>" not in r.text  # the page is static: no spec in it


# ------------------------------------------------------------------ saving


def test_save_refuses_a_file_changed_on_disk(client: TestClient, folder: Path) -> None:
    opened = client.get("/api/file", params={"path": "uses.arch"}).json()
    assert opened["text"] == USES
    (folder / "uses.arch").write_text(USES + "# edited elsewhere\n")
    r = client.post(
        "/api/save", json={"path": "uses.arch", "text": USES + "# mine\n", "base": opened["version"]}
    )
    assert r.status_code == 409
    assert (folder / "uses.arch").read_text() == USES + "# edited elsewhere\n"
    current = r.json()["current"]
    r = client.post("/api/save", json={"path": "uses.arch", "text": USES, "base": current})
    assert r.status_code == 200 and (folder / "uses.arch").read_text() == USES
    assert r.json()["version"] == client.get("/api/file", params={"path": "uses.arch"}).json()["version"]


def test_save_creates_new_files_only_when_asked(client: TestClient, folder: Path) -> None:
    r = client.post("/api/save", json={"path": "lib/new.arch", "text": BLOCKS, "base": None})
    assert r.status_code == 200 and (folder / "lib" / "new.arch").read_text() == BLOCKS
    r = client.post("/api/save", json={"path": "lib/new.arch", "text": "# again\n", "base": None})
    assert r.status_code == 409 and (folder / "lib" / "new.arch").read_text() == BLOCKS
    (folder / "lib" / "new.arch").unlink()


def test_concurrent_saves_never_corrupt(tmp_path: Path) -> None:
    """Many writers with the same base: exactly one wins, the file is exactly its text."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.arch").write_text(SMALL)
    ws = Workspace(root)
    _, base = ws.read("a.arch")
    texts = [SMALL + f"# writer {i}\n" + "#" * (20000 * (i + 1)) + "\n" for i in range(16)]
    outcome: list[str | None] = [None] * len(texts)
    start = threading.Barrier(len(texts))

    def write(i: int) -> None:
        start.wait()
        try:
            ws.save("a.arch", texts[i], base)
            outcome[i] = "saved"
        except Conflict:
            outcome[i] = "conflict"

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome.count("saved") == 1 and outcome.count("conflict") == len(texts) - 1
    assert (root / "a.arch").read_text() == texts[outcome.index("saved")]
    assert [p.name for p in root.iterdir()] == ["a.arch"]  # no temporary files left


def test_workspace_refuses_a_link_swapped_in(tmp_path: Path) -> None:
    base = tmp_path
    root = make_folder(base)
    ws = Workspace(root)
    (root / "lib").rename(root / "lib_real")
    (root / "lib").symlink_to(base / "outside", target_is_directory=True)
    with pytest.raises(PathRefused):
        ws.path("lib/secret.arch")


# ------------------------------------------------------------------ the worker pool and the cache


def test_a_slow_compile_is_stopped_and_the_server_stays_responsive(client: TestClient) -> None:
    slow = "network slow(n=20000):\n    input 16x8\n    x -> body: [linear(8), relu] x n -> head: linear(2)\n"
    api = client.app.app.state.api  # type: ignore[attr-defined]
    before = set(api.compiler.pool.pids())
    result: dict[str, Any] = {}

    def go() -> None:
        started = time.perf_counter()
        result["data"] = compile_(client, slow, path="slow.arch")
        result["seconds"] = time.perf_counter() - started

    t = threading.Thread(target=go)
    t.start()
    time.sleep(0.2)
    started = time.perf_counter()
    quick = compile_(client, SMALL.replace("num_classes=10", "num_classes=11"))  # the other worker answers
    quick_seconds = time.perf_counter() - started
    t.join(30)
    assert quick["ok"] and quick_seconds < 1.0
    data = result["data"]
    assert not data["ok"] and "longer than 1 s" in data["diagnostics"][0]["message"]
    assert result["seconds"] < 5
    after = set(api.compiler.pool.pids())
    assert len(after) == 2 and len(before - after) == 1  # the stuck worker was replaced
    gone = (before - after).pop()
    with pytest.raises(ProcessLookupError):
        os.kill(gone, 0)
    assert compile_(client, SMALL)["ok"]


def test_identical_compiles_share_one_worker_run(client: TestClient, folder: Path) -> None:
    api = client.app.app.state.api  # type: ignore[attr-defined]
    text = USES.replace("linear(5)", "linear(6)")
    first = api.compiler.compiles
    results = [compile_(client, text, path="uses.arch") for _ in range(3)]
    assert api.compiler.compiles == first + 1 and all(r["ok"] for r in results)
    # a file the spec uses changed: the cached answer is stale
    blocks = folder / "lib" / "blocks.arch"
    blocks.write_text(BLOCKS.replace("-> relu\n", "-> relu -> c: conv(width, k=1)\n"))
    try:
        again = compile_(client, text, path="uses.arch")
        assert api.compiler.compiles == first + 2
        assert again["totals"]["params"] > results[0]["totals"]["params"]
    finally:
        blocks.write_text(BLOCKS)


# ------------------------------------------------------------------ the command and the core


def test_core_does_not_import_the_web_stack() -> None:
    code = (
        "import sys, archc, archc.cli; "
        "web = ('starlette', 'uvicorn', 'anyio', 'archc.serve'); "
        "print(sorted(m for m in sys.modules if m.startswith(web)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_binds_loopback_and_warns_otherwise(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from archc.cli import app

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: calls.append(kw))
    runner = CliRunner()
    r = runner.invoke(app, ["serve", str(folder / "small.arch"), "--port", "8123"])
    assert r.exit_code == 0, r.output
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["port"] == 8123
    assert "warning" not in r.output
    r = runner.invoke(app, ["serve", str(folder), "--host", "0.0.0.0"])
    assert r.exit_code == 0 and calls[-1]["host"] == "0.0.0.0"
    assert "warning: listening on 0.0.0.0" in r.output
    r = runner.invoke(app, ["serve", str(folder / "missing.arch")])
    assert r.exit_code == 2
