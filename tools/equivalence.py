"""Regenerate every committed result that code derives from committed rows, in place, and show that nothing changed.

From the project root, with the package of this checkout importable:

    python tools/equivalence.py            # rewrite, then `git diff --exit-code` on the results and the README

What it regenerates:
- `nbs/results/smollm2_bbh/rows.jsonl` and `summary.json`, from `runs/` and `references.json` (`write_real_results`);
- `nbs/results/smollm2_bbh/references.json`, from the committed world's splits and the BBH files, when
  $LORAHUB_NB_BBH_DIR names them (`real_references`; skipped, and said, otherwise);
- each embedded study's headline numbers (`summary`, `leave_one_out`, `spread` of `nbs/results/study/*/study.json`),
  recomputed from the rows the file holds (`settings_record`), and the file written back;
- `nbs/index.ipynb` executed (its tables come from the files above) and `README.md` written from it
  (`tools/docs.py execute`, `tools/docs.py readme`).
Exit status 0 when `git diff` finds nothing: the committed results and the README's tables are byte-identical.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "nbs" / "results"
WATCHED = ["nbs/results", "README.md"]


def real_study():
    """rows.jsonl and summary.json of the real study, from its runs."""
    from lorahub_nb.real_study import write_real_results
    write_real_results(RESULTS / "smollm2_bbh")
    print("real study: rows.jsonl, summary.json rewritten")


def real_references():
    """references.json of the real study, from the committed world's splits and the BBH files."""
    from lorahub_nb.real_study import real_references
    from lorahub_nb.realworld import RealWorld, bbh_source, read_world_record
    from lorahub_nb.utils import write_json
    if not os.environ.get("LORAHUB_NB_BBH_DIR"):
        print("real study: references.json not checked ($LORAHUB_NB_BBH_DIR is not set)")
        return
    root = RESULTS / "smollm2_bbh" / "world"
    record = read_world_record(root)
    world = RealWorld(root, "", bbh_source(), record["splits"], record["settings"])
    write_json(RESULTS / "smollm2_bbh" / "references.json", real_references(world))
    print("real study: references.json rewritten")


def embedded_studies():
    """Each study.json's headline numbers, recomputed from its rows."""
    from lorahub_nb.study import settings_record
    from lorahub_nb.utils import write_json
    for path in sorted(RESULTS.glob("study/*/study.json")):
        study = json.loads(path.read_text())
        study.update(settings_record(study["rows"]))
        write_json(path, study)
        print(f"embedded study: {path.relative_to(ROOT)} rewritten")


def readme():
    """index.ipynb executed, README.md written from it."""
    for args in (["execute", "nbs/index.ipynb"], ["readme"]):
        subprocess.run([sys.executable, "tools/docs.py", *args], cwd=ROOT, check=True)
    print("README.md rewritten from nbs/index.ipynb")


def main() -> int:
    real_study(); real_references(); embedded_studies(); readme()
    diff = subprocess.run(["git", "diff", "--stat", "--exit-code", "--", *WATCHED], cwd=ROOT)
    print("equivalent: no committed result changed" if diff.returncode == 0 else "CHANGED: see the diff above")
    return diff.returncode


if __name__ == "__main__":
    sys.exit(main())
