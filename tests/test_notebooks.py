"""Every notebook in nbs/ is a test: its cells run top to bottom in a fresh shell (nbdev's `test_nb`).

Cells flagged `#| slow`, `#| gpu` or `#| hub` are skipped unless named in LORAHUB_NB_TEST_FLAGS
(e.g. LORAHUB_NB_TEST_FLAGS="slow"); `#| eval: false` cells never run.
"""
import os
from pathlib import Path
import pytest
from nbdev import test as nbdev_test

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
FLAGS = ["slow", "gpu", "hub"]


def notebooks():
    return sorted(p for p in NBS.rglob("*.ipynb")
                  if not any(part.startswith((".", "_")) for part in p.relative_to(NBS).parts))


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: str(p.relative_to(NBS)))
def test_notebook(nb):
    force = os.environ.get("LORAHUB_NB_TEST_FLAGS", "").split()
    ok, secs = nbdev_test.test_nb(nb, skip_flags=[f for f in FLAGS if f not in force], force_flags=force)
    assert ok, f"{nb.name} failed (see the traceback above)"
