"""``archc serve`` in a real headless browser: Debian's chromium driven by Playwright.

The tests start the server (uvicorn on a loopback port) and the browser themselves, and do what
a person does: type a spec, see the totals and the diagram, make a shape error and see it
marked at its line with the hint, fix it, expand and collapse blocks, change a parameter,
compare with another spec, download and save.  Every expected number comes from archc's own
front end.  Screenshots of each state go to ``build/screenshots/serve/`` (gitignored).

Without chromium or Playwright the tests skip and say why (``make test`` installs both).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install 'archc[serve]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the dev extra)")

from archc.dsl.compiler import compile_program, parse_sets  # noqa: E402
from archc.dsl.diagnostics import ArchcError  # noqa: E402
from archc.dsl.loader import load_text  # noqa: E402
from archc.serve.app import create_app, running  # noqa: E402

expect = sync_api.expect
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots" / "serve"
CHROMIUM = os.environ.get("ARCHC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

NET = """\
# a small network for the playground's browser tests
block unit(width, stride=1):
    y = x -> conv1: conv(width, k=3, s=stride, p=1) -> bn1: bn -> relu
    z = y -> conv2: conv(width, k=3, p=1) -> bn2: bn
    return z

network small(width=16, depths=[1, 2], num_classes=10):
    input 3x32x32
    x -> stem: conv(width, k=3, p=1) -> relu
      -> stage1: unit(width) x depths[0]
      -> stage2: unit(width * 2, stride=2 if i == 0 else 1) x depths[1]
      -> pool: gap -> flatten -> fc: linear(num_classes)
"""
OTHER = NET.replace("network small(width=16", "network wider(width=24").replace(
    "-> flatten -> fc", "-> flatten -> drop: dropout(0.2) -> fc"
)
TYPED = NET.replace("width=16", "width=8")


def totals(text: str, name: str, folder: Path, sets: list[str] | None = None) -> int:
    c = compile_program(load_text(text, name, folder=folder), sets=parse_sets(sets))
    return c.params


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "specs"
    root.mkdir()
    (root / "net.arch").write_text(NET)
    (root / "other.arch").write_text(OTHER)
    return root


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[str]:
    with running(create_app(folder, "net.arch", workers=2, timeout=10)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `make test` installs Debian's (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        except Exception as e:  # a browser that cannot start here is a skip, not a failure
            pytest.skip(f"chromium at {CHROMIUM} does not start: {str(e).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: str, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    pg.goto(server + "/")
    expect(pg.locator("#diagram svg")).to_be_visible(timeout=15000)
    yield pg
    context.close()
    assert errors == []


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def editor_select_all(page: Any) -> None:
    page.locator(".cm-content").click()
    page.keyboard.press("Control+a")


def line_of(page: Any, selector: str) -> int:
    """The editor line number shown beside the first element matching ``selector`` (what a
    person reads off the gutter)."""
    n: int = page.evaluate(
        """(sel) => {
            const top = document.querySelector(sel).getBoundingClientRect().top;
            let best = 0;
            for (const e of document.querySelectorAll('.cm-lineNumbers .cm-gutterElement')) {
                const r = e.getBoundingClientRect();
                if (r.height && r.top <= top + 1 && /^[0-9]+$/.test(e.textContent)) best = +e.textContent;
            }
            return best;
        }""",
        selector,
    )
    return n


def editor_text(page: Any) -> str:
    text: str = page.evaluate(
        "[...document.querySelectorAll('.cm-content .cm-line')].map((l) => l.textContent).join('\\n')"
    )
    return text


def test_the_playground(page: Any, folder: Path) -> None:
    # it opens with the folder's spec, its totals and diagram
    expect(page.locator("#totals")).to_contain_text(f"{totals(NET, 'net.arch', folder):,} parameters")
    expect(page.locator("#file-list li")).to_have_text(["net.arch", "other.arch"])
    shot(page, "01-opened")

    # type a spec: the totals and the diagram follow
    editor_select_all(page)
    page.keyboard.press("Delete")
    body, last = TYPED.rstrip("\n").rsplit("\n", 1)
    page.keyboard.insert_text(body + "\n")
    page.keyboard.type(last, delay=5)
    typed = totals(TYPED, "net.arch", folder)
    expect(page.locator("#totals")).to_contain_text(f"small: 3x32x32 → 10 · {typed:,} parameters")
    expect(page.locator("#diagram svg g[id='n:stem']")).to_be_visible()
    expect(page.locator("#filename")).to_have_class(re.compile(r"\bdirty\b"))
    shot(page, "02-typed")

    # a shape error: marked at its line, with the hint; the last diagram stays, dimmed
    broken = TYPED.replace("    return z\n", "    return z + x\n")
    with pytest.raises(ArchcError) as err:
        compile_program(load_text(broken, "net.arch", folder=folder))
    want = err.value.diagnostics[0]
    assert want.hint
    page.locator(".cm-content .cm-line").nth(4).click()  # line 5: `    return z`
    page.keyboard.press("End")
    page.keyboard.type(" + x", delay=5)
    mark = page.locator(".cm-lintRange-error").first
    expect(mark).to_be_visible()
    assert line_of(page, ".cm-lintRange-error") == want.span.line
    assert line_of(page, ".cm-lint-marker-error") == want.span.line
    expect(page.locator(".cm-lint-marker-error")).to_have_count(1)
    expect(page.locator("#diagram")).to_have_class(re.compile(r"\bstale\b"))
    expect(page.locator("#status")).to_contain_text("1 error")
    mark.hover()
    tooltip = page.locator(".cm-tooltip-lint")
    expect(tooltip).to_contain_text(want.message)
    expect(tooltip).to_contain_text("hint: " + want.hint)
    shot(page, "03-error")

    # fix it
    for _ in range(4):
        page.keyboard.press("Backspace")
    expect(page.locator(".cm-lintRange-error")).to_have_count(0)
    expect(page.locator("#diagram")).not_to_have_class(re.compile(r"\bstale\b"))
    expect(page.locator("#totals")).to_contain_text(f"{typed:,} parameters")
    shot(page, "04-fixed")

    # click a block to expand it; hover shows a layer's shape, parameters and MACs (with the
    # norm and activation drawn in its node)
    page.locator("#diagram g[id='m:stage2.0']").click()
    cluster = page.locator("#diagram g[id='c:stage2.0']")
    expect(cluster).to_be_visible()
    c = compile_program(load_text(TYPED, "net.arch", folder=folder))
    chain = [c.graph.nodes[f"stage2.0.{n}"] for n in ("conv1", "bn1", "relu")]
    page.locator("#diagram g[id='n:stage2.0.conv1']").hover()
    hover = page.locator("#hover")
    expect(hover).to_be_visible()
    expect(hover).to_contain_text("stage2.0.conv1")
    expect(hover).to_contain_text(f"→ {'x'.join(map(str, chain[-1]['shape']))}")
    params, macs = sum(d["params"] for d in chain), sum(d["macs"] for d in chain)
    expect(hover).to_contain_text(f"{params:,} parameters · {macs:,} MACs")
    expect(hover).to_contain_text("3 layers")
    shot(page, "05-expanded")
    # the cluster's title names it, and outlines it when hovered
    title = page.locator("#diagram g[id='t:stage2.0']")
    title.hover()
    expect(hover).to_contain_text("click to collapse")
    expect(cluster).to_have_class(re.compile(r"\bhot\b"))

    # the fold state survives edits; clicking the frame's title collapses it again
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type("# an edit", delay=5)
    expect(page.locator("#status")).to_contain_text("ok")
    expect(cluster).to_be_visible()
    page.locator("#diagram g[id='t:stage2.0']").click()
    expect(page.locator("#diagram g[id='m:stage2.0']")).to_be_visible()
    expect(cluster).to_have_count(0)

    # change a parameter: applied as --set
    page.locator("#param-num_classes").fill("7")
    seven = totals(TYPED, "net.arch", folder, ["num_classes=7"])
    expect(page.locator("#totals")).to_contain_text(f"→ 7 · {seven:,} parameters")
    expect(page.locator(".param[data-name='num_classes']")).to_have_class(re.compile(r"\bchanged\b"))
    page.locator("#param-depths").fill("[1, 3]")
    deeper = totals(TYPED, "net.arch", folder, ["num_classes=7", "depths=[1, 3]"])
    expect(page.locator("#totals")).to_contain_text(f"{deeper:,} parameters")
    # two identical blocks are one node marked × 2; a click opens both
    run = page.locator("#diagram g[id='m:stage2.1..2']")
    expect(run).to_contain_text("× 2")
    run.hover()
    expect(hover).to_contain_text("click to expand")
    run.click()
    expect(page.locator("#diagram g[id='c:stage2.1']")).to_be_visible()
    expect(page.locator("#diagram g[id='c:stage2.2']")).to_be_visible()
    expect(run).to_have_count(0)
    shot(page, "06-run-expanded")
    page.locator("#param-depths").fill("[1")
    expect(page.locator(".param[data-name='depths']")).to_have_class(re.compile(r"\binvalid\b"))
    page.locator("#param-depths").fill("[1, 2]")
    expect(page.locator(".param[data-name='depths']")).to_have_class("param")  # the default again
    shot(page, "07-parameter")

    # compare with another spec: the table, and the changed layers marked in the diagram
    page.locator("#compare").select_option("file:other.arch")
    summary = page.locator("#compare-summary")
    expect(summary).to_contain_text("A: wider")
    expect(summary).to_contain_text("removed")
    expect(page.locator("#diagram g.diff-changed").first).to_be_visible()
    shot(page, "08-compare")
    page.locator("#compare").select_option("")

    # download the emitted module
    with page.expect_download() as info:
        page.locator("#dl-py").click()
    download = info.value
    assert download.suggested_filename == "small.py"
    source = Path(download.path()).read_text()
    assert source.startswith("# Generated by archc") and "class Small(nn.Module)" in source

    # save: the file on disk becomes the editor's text
    page.locator("#save").click()
    expect(page.locator("#notice")).to_contain_text("saved net.arch")
    expect(page.locator("#filename")).not_to_have_class(re.compile(r"\bdirty\b"))
    saved = editor_text(page)
    assert "# an edit" in saved and (folder / "net.arch").read_text() == saved

    # changed on disk meanwhile: saving is refused, nothing is lost
    (folder / "net.arch").write_text(NET)
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" # mine", delay=5)
    page.keyboard.press("Control+s")
    expect(page.locator("#notice")).to_contain_text("changed on disk")
    assert (folder / "net.arch").read_text() == NET
    shot(page, "09-conflict")
    page.locator("#notice button", has_text="Overwrite").click()
    expect(page.locator("#notice")).to_contain_text("saved net.arch")
    assert (folder / "net.arch").read_text() == saved + " # mine"


def test_spec_text_never_runs_as_markup(page: Any) -> None:
    hostile = (
        "# <script>window.__xss = 1</script><img src=x onerror='window.__xss = 2'>\n"
        + NET.replace("fc: linear", "fc: linear")
        + "network <img src=x onerror='window.__xss = 3'>(a=1):\n"
    )
    editor_select_all(page)
    page.keyboard.press("Delete")
    page.keyboard.insert_text(hostile)
    expect(page.locator("#status")).to_contain_text("error")
    expect(page.locator(".cm-lintRange-error").first).to_be_visible()
    page.locator(".cm-lintRange-error").first.hover()
    expect(page.locator(".cm-tooltip-lint")).to_be_visible()
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('img, script:not([src])').length") == 0
    shot(page, "10-hostile")
