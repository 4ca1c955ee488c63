"""The pages keep their figures: a notebook that draws for its reader commits the drawing.

A figure is only in a committed notebook if the run that wrote its outputs captured it, and a runner that does not
(a figure closed in its cell, or a headless backend) silently drops every plot of a page. These checks fail when that
happens again.
"""
import json, re
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parents[1] / "nbs"
DRAWS = re.compile(r"\bplt\.subplots\(|\bplot_\w+\(|\.plot\(|\bimshow\(|\bplt\.figure\(")
MIN_FIGURES = 15


def _source(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def draws_for_reader(cell) -> bool:
    """A code cell that draws for the page: not exported, hidden or skipped by the tests (`#| slow`, `gpu`, `hub`:
    their outputs are wiped whenever the page is executed without them), and not closing or saving what it drew."""
    s = _source(cell)
    skip = r"^#\|\s*(export|exporti|hide|slow|gpu|hub|eval:\s*false)\b"
    if cell["cell_type"] != "code" or re.search(skip, s, re.M): return False
    return bool(DRAWS.search(s)) and not re.search(r"plt\.close\(|savefig\(|figure_png\(", s)


def figures(cell) -> int:
    return sum(1 for o in cell.get("outputs", []) if {"image/png", "image/svg+xml"} & set(o.get("data", {})))


def notebooks():
    return sorted(p for p in NBS.rglob("*.ipynb") if not any(q.startswith((".", "_")) for q in p.relative_to(NBS).parts))


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: str(p.relative_to(NBS)))
def test_a_drawing_notebook_commits_its_figures(nb):
    "Every cell that draws for the reader has its figure in the committed notebook."
    cells = json.loads(nb.read_text())["cells"]
    drawing = [c for c in cells if draws_for_reader(c)]
    missing = [_source(c).splitlines()[0][:60] for c in drawing if not figures(c)]
    assert not missing, (f"{nb.name}: {len(missing)} cell(s) draw but the committed notebook holds no figure for them "
                         f"(first lines: {missing}); execute it with `python tools/docs.py execute` and commit")


def test_the_pages_hold_enough_figures():
    "At least 15 figures in all, and the study pages and the tutorial among them."
    per = {p.relative_to(NBS).as_posix(): sum(figures(c) for c in json.loads(p.read_text())["cells"]) for p in notebooks()}
    assert sum(per.values()) >= MIN_FIGURES, per
    for page in ("14_study.ipynb", "tutorials/lorahub_tutorial.ipynb", "19_real_study.ipynb"):
        assert per.get(page, 0) >= 1, f"{page} holds no figure"


def test_draws_for_reader():
    code = lambda s: {"cell_type": "code", "source": s}
    assert draws_for_reader(code("fig, ax = plt.subplots()\nax.plot([1, 2])"))
    assert draws_for_reader(code("plot_tasks(rows);"))
    assert not draws_for_reader(code("#| export\ndef plot_x(ax):\n    ax.plot([1])"))
    assert not draws_for_reader(code("fig, ax = plt.subplots()\nplot_x(ax)\nplt.close(fig)"))
    assert not draws_for_reader(code("#| eval: false\nplot_tasks(rows)"))
    assert not draws_for_reader(code("#| slow\nplot_tasks(rows)"))
    assert not draws_for_reader(code("png = figure_png(plot_state(s))"))
    assert not draws_for_reader({"cell_type": "markdown", "source": "plt.subplots("})
