"""Reading order is import order: a notebook imports only the package modules of notebooks before it.

Every `import lorahub_nb.X`, `from lorahub_nb.X import ...` and `from .X import ...` in the code cells of
nbs/NN_*.ipynb is found with `ast` (strings that merely name a module, such as `"lorahub_nb.modules.load_base"`, are
not imports), and X's notebook (the one whose `#| default_exp` is X) must come earlier: a lower number, or the same
number and a name sorted before (13_realworld, then 13_taskpool, which builds on it). `utils` (00) and
`testing` (01) come first, so they are fine everywhere.
"""
import ast
import json
import re
from pathlib import Path

NBS = Path(__file__).resolve().parents[1] / "nbs"
EVERYWHERE = {"utils", "testing"}
KNOWN = set()   # (notebook, module) pairs allowed to break the order: none


def _cells(nb_path: Path) -> list:
    """The sources of a notebook's code cells, cell directives (`#| ...`) blanked so that they parse."""
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    srcs = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]
    return [re.sub(r"^\s*[!%].*$", "", s, flags=re.M) for s in srcs]   # shell and magic lines are not Python


def numbered() -> dict:
    """Module name -> (notebook number, notebook stem) for every nbs/NN_*.ipynb that exports one."""
    out = {}
    for p in sorted(NBS.glob("[0-9][0-9]_*.ipynb")):
        for s in _cells(p):
            if m := re.search(r"^#\|\s*default_exp\s+(\S+)", s, re.M): out[m.group(1)] = (int(p.name[:2]), p.stem)
    return out


def imported(src: str) -> set:
    """Package modules X that a cell imports: `lorahub_nb.X` (absolute) or `.X` (relative, in exported cells)."""
    try: tree = ast.parse(src)
    except SyntaxError: return set()
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import): names |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            if n.level == 1 and n.module: names.add("lorahub_nb." + n.module)
            elif n.module == "lorahub_nb": names |= {"lorahub_nb." + a.name for a in n.names}
            elif n.module: names.add(n.module)
    return {x.split(".")[1] for x in names if x.startswith("lorahub_nb.") and len(x.split(".")) > 1}


def backward_imports() -> set:
    """(notebook, module) pairs where a notebook imports a module of its own number or later."""
    mods, found = numbered(), set()
    for p in sorted(NBS.glob("[0-9][0-9]_*.ipynb")):
        own = {m for m, (_, stem) in mods.items() if stem == p.stem}
        for s in _cells(p):
            for x in imported(s) - EVERYWHERE - own:
                if x in mods and mods[x] >= (int(p.name[:2]), p.stem): found.add((p.stem, x))
    return found


def test_imported():
    assert imported("from lorahub_nb.modules import load_base\nimport lorahub_nb.cli, os") == {"modules", "cli"}
    assert imported("from .adapt import LoraHub\nfrom lorahub_nb import harness") == {"adapt", "harness"}
    assert imported('clocked(marks, "lorahub_nb.modules.load_base")') == set()


def test_numbered():
    mods = numbered()
    assert mods["utils"][0] == 0 and mods["testing"][0] == 1 and mods["cli"][0] > mods["harness"][0]
    assert mods["realworld"] < mods["taskpool"], "same number: the notebook sorted first comes first"
    assert "bench" not in mods, "the benchmark is not a package module: it lives in bench/ (see 16_bench)"


def test_notebooks_import_only_earlier_notebooks():
    found = backward_imports()
    assert found - KNOWN == set(), f"notebooks importing a module of a later notebook: {sorted(found - KNOWN)}"
    assert KNOWN <= found, f"fixed, so take them out of KNOWN: {sorted(KNOWN - found)}"
