"""The README's study sections quote the committed results, not a memory of them.

nbs/index.ipynb generates those sections from `nbs/results/` (the real study's summary.json, the embedded world's
study.json files) in cells whose source the README hides; README.md holds their output. This test runs those cells
afresh and fails when the README no longer contains what they produce (the results were rerun, the README was not).
"""
import contextlib, io, json, os, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ("real_md", "study_md")   # the names the index's generating cells assign


def _code_cells(nb_path: Path) -> list:
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    srcs = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]
    return [re.sub(r"^\s*#\|.*$", "", s, flags=re.M) for s in srcs]


def generated_sections() -> dict:
    "Run the index notebook's code cells (cwd nbs/, as its tests do) and return the sections they generate."
    ns, here = {}, Path.cwd()
    os.chdir(ROOT / "nbs")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for src in _code_cells(ROOT / "nbs" / "index.ipynb"): exec(src, ns)
    finally: os.chdir(here)
    return {k: ns[k] for k in GENERATED}


def test_readme_quotes_the_committed_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, text in generated_sections().items():
        assert text.strip() and text in readme, (
            f"README.md's {name} section does not match nbs/results/: run "
            "`python tools/docs.py execute nbs/index.ipynb && python tools/docs.py readme` and commit")
