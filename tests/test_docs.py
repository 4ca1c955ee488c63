"""The docs: README.md is the index notebook, every notebook renders to a page with its title, its figures and no
errors, and the pages look like pages in a real browser (headless Chromium).

Quarto is not needed: pages are rendered with nbdev's own processing and nbconvert (see tools/docs.py).
Notebooks are rendered with the outputs they were committed with (the tutorial is committed with its figures), so
this test executes nothing but nbdev's show_doc cells; it takes about a minute on 2 cores.
"""
import os
import sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.docs import (check_page, compile_warnings, dirty_outputs, find_chromium, mixed_import_cells,  # noqa: E402
                        page_ink, readme_from_index, render_notebooks, screenshot, sidebar_yml)

NBS = ROOT / "nbs"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SCREENSHOTS = ["index.ipynb", "*_adapt.ipynb"]   # the home page and one API page (patterns: notebooks get renumbered)


def test_readme_is_the_index_notebook():
    expected = readme_from_index(NBS / "index.ipynb")
    actual = (ROOT / "README.md").read_text(encoding="utf-8")
    assert actual == expected, "README.md is out of date: run `python tools/docs.py readme` and commit it"


def test_readme_has_two_setup_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = readme.split("```sh\n")[1:]
    assert len(blocks) == 2, f"README.md should have exactly two ```sh blocks, found {len(blocks)}"
    for b in blocks:
        cmd = b.split("```")[0].strip()
        assert cmd and "\n" not in cmd, f"each ```sh block is one command line, got {cmd!r}"


def test_sidebar_lists_every_notebook_in_reading_order():
    actual = (NBS / "sidebar.yml").read_text(encoding="utf-8")
    assert actual == sidebar_yml(NBS), "nbs/sidebar.yml is out of date: run `python tools/docs.py sidebar`"


def test_site(tmp_path):
    """Render every notebook, check every page, screenshot two of them (one test, so pytest-xdist renders once)."""
    chromium = find_chromium()
    if chromium is None and IN_CI:
        pytest.fail("CI=true but no Chromium: .ci/run must `apt-get install -y chromium`")
    pages = render_notebooks(tmp_path / "site", NBS, n_workers=2)
    failures = []
    for page in pages:
        try: print(page.src.relative_to(NBS), check_page(page))
        except AssertionError as e: failures.append(f"{page.src.relative_to(NBS)}: {e}")
    assert not failures, "pages that failed:\n" + "\n\n".join(failures)
    if chromium is None:
        pytest.skip("pages checked; no Chromium here (not CI), so no screenshots (apt-get install chromium)")
    for pattern in SCREENSHOTS:
        page, = [p for p in pages if p.src.parent == NBS and p.src.match(pattern)]
        name = page.src.name
        ink = page_ink(screenshot(page.html, tmp_path / f"{page.src.stem}.png", width=1200, height=900))
        print(name, ink)
        assert ink["size"] == (1200, 900), ink
        assert ink["colours"] > 50 and 0.01 < ink["ink"] < 0.9, f"{name}: screenshot looks blank or broken: {ink}"


def test_committed_outputs_are_clean():
    """No notebook is committed with a stderr output (warnings, progress bars) or a path of the machine it ran on."""
    found = [f"{nb.relative_to(NBS)} cell {i}: {reason}"
             for nb in sorted(NBS.rglob("*.ipynb")) if ".ipynb_checkpoints" not in nb.parts
             for i, reason in dirty_outputs(nb)]
    assert not found, ("committed outputs that should not be (clear them, or silence the warning and rerun):\n"
                       + "\n".join(found))


def test_cells_that_import_do_nothing_else():
    """nbdev's rendering runs cells with imports on their own; a test cell that also imports fails on the page."""
    found = [f"{nb.relative_to(NBS)} cell {i}" for nb in sorted(NBS.rglob("*.ipynb"))
             if ".ipynb_checkpoints" not in nb.parts for i in mixed_import_cells(nb)]
    assert not found, "move these imports to the notebook's import cell:\n" + "\n".join(found)


def test_cells_compile_without_warnings():
    """No code cell makes Python warn when compiled (an invalid escape in a string is an error in a later Python)."""
    found = [f"{nb.relative_to(NBS)} cell {i}: {msg}" for nb in sorted(NBS.rglob("*.ipynb"))
             if ".ipynb_checkpoints" not in nb.parts for i, msg in compile_warnings(nb)]
    assert not found, "\n".join(found)
