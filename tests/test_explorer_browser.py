"""The explorer at real scale, in a real browser: a 27-module stand-in of the SmolLM2 world (the 27 BIG-Bench Hard
names, two families, a tiny random model), "run" pressed, the page measured in headless Chromium.

The page is ipywidgets' static export (`explorer.save_page`) drawn by @jupyter-widgets/html-manager's embed.js from
the npm registry, cached by `tools/docs.py widgets-js` (CI runs it while it installs), so the test itself loads
nothing from the network. A static page has no kernel: "run" is pressed in Python (`run_button.click()`, the handler a
click calls), then the page shows the state it left (nbs/15_explorer.ipynb says why not Voilà). About 20-30 s.
"""
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.docs import find_chromium, overlaps, page_ink, probe_page, screenshot, widgets_js  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TASK = "logical_deduction_five_objects"
MIN_TRACK = 120   # px: a slider a person can drag


# Real BBH prompts are long (the task's instruction, the question, the options): the answers table is wide, and a
# layout that lets it squeeze the rows cuts the names. The stand-in's prompts are as long.
QUESTION = ("The following paragraphs each describe a set of five objects arranged in a fixed order. The statements "
            "are logically consistent within each paragraph. Options: (A) The raven is the rightmost (B) The falcon "
            "is the rightmost (C) The robin is the rightmost (D) The owl is the rightmost (E) The crow is the rightmost ")


def _long_prompts(world_class):
    class LongPrompts(world_class):
        "The stand-in with prompts as long as the real world's."
        def task_examples(self, task, n, seed=0, split="test"):
            return [{**e, "input": QUESTION + e["input"]} for e in super().task_examples(task, n, seed, split)]
    return LongPrompts


def _needs(what, why):
    if IN_CI: pytest.fail(f"CI=true but {what}: {why}")
    pytest.skip(f"{what}: {why}")


def _page(tmp):
    """The explorer on the stand-in after "run" (leave-one-out), saved as a page beside a local embed.js."""
    if find_chromium() is None: _needs("no Chromium", ".ci/run installs it: apt-get install chromium")
    js = widgets_js()
    if js is None: _needs("no html-manager embed.js", "run `python tools/docs.py widgets-js` (npm pack, cached)")
    from lorahub_nb.bbh import BBH_TASKS
    from lorahub_nb.realworld import FAMILIES
    from lorahub_nb.testing import KinMiniWorld
    from lorahub_nb.explorer import explorer, save_page
    from lorahub_nb.explorer_state import top_k
    families = [f for t, f in FAMILIES.items() if t == f[0]]
    world = _long_prompts(KinMiniWorld)(tmp / "world", list(BBH_TASKS), families=families)
    ui = explorer(world, task=TASK, setting="loo", max_new_tokens=2)
    ui.budget.value = 10
    ui.run_button.click()
    shutil.copy(js, tmp / "embed.js")
    html = save_page(ui, tmp / "explorer.html", embed_url="embed.js")
    order = [ui.state.names[i] for i in top_k(ui.state.w, 0)]
    return dict(html=html, ui=ui, order=order, probe=probe_page(html, width=1200, height=1400))


def _one_row_per_module_in_order_of_weight(page):
    names = [r["name"] for r in page["probe"]["rows"]]
    assert len(names) == 27, names
    assert names == page["order"], "rows are not in order of |w| after the run"
    assert page["ui"].state.weights[TASK] == 0.0   # leave-one-out: the own module (and its kin) stay at 0


def _every_slider_has_a_track(page):
    narrow = {r["name"]: round(r["track"]) for r in page["probe"]["rows"] if r["track"] < MIN_TRACK}
    assert not narrow, f"slider tracks narrower than {MIN_TRACK} px: {narrow}"


def _every_name_is_readable(page):
    rows = page["probe"]["rows"]
    for r in rows:
        assert r["text"].startswith(r["name"]), f"the row shows {r['text']!r}, not the name {r['name']!r}"
        assert not r["clipped"], f"{r['name']}: the name is cut"
        assert 0 <= r["box"][0] and r["box"][2] <= page["probe"]["width"], f"{r['name']}: off screen {r['box']}"
        assert r["box"][0] >= r["track_box"][2], f"{r['name']}: the name overlaps its slider"
    assert not overlaps([r["box"] for r in rows]), "names overlap"
    marks = {r["name"]: r["text"][len(r["name"]):].strip() for r in rows}
    assert marks[TASK] == "own" and marks["logical_deduction_seven_objects"] == "kin", marks


def _chart_labels_do_not_overlap(page):
    bars = page["probe"]["bars"]
    assert len(bars) == 16 and bars[-1]["text"].startswith("rest: 12 modules"), [b["text"] for b in bars]
    assert [b["text"].split(" ")[0] for b in bars[:15]] == page["order"][:15]
    assert not [b["text"] for b in bars if b["clipped"]], "chart labels cut"
    assert not overlaps([b["box"] for b in bars]), "chart labels overlap"


def _screenshot(page, tmp):
    ink = page_ink(screenshot(page["html"], tmp / "explorer.png", width=1200, height=1400, wait_ms=10_000))
    assert ink["colours"] > 50 and 0.03 < ink["ink"] < 0.9, f"the page looks blank or broken: {ink}"


def test_explorer_in_a_browser(tmp_path):
    """One test (so pytest-xdist builds the page once): rows, tracks, names, chart, and a screenshot that is a page."""
    page = _page(tmp_path)
    _one_row_per_module_in_order_of_weight(page)
    _every_slider_has_a_track(page)
    _every_name_is_readable(page)
    _chart_labels_do_not_overlap(page)
    _screenshot(page, tmp_path)
