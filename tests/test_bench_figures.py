"""The README's "How fast" section quotes 16_bench's committed outputs, and nothing else.

The two slow cells of nbs/16_bench.ipynb are committed with their outputs: `run_bench("base")`'s table (seconds per
phase, then a line of ratios) and `run_real_scale()`'s table. This test reads both, formats every figure the README
quotes from them (rounding half up from the printed digits), checks that each formatted sentence is in the section,
and then that no number is left in the section that was not checked or is not on the short list of names and
settings below. Re-run the slow cells and the README must follow: `python tools/docs.py readme` after editing
nbs/index.ipynb.
"""
import json
import re
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "nbs" / "16_bench.ipynb"
# Numbers in the section that are names or settings, not measurements (each with where it is checked or why it may be).
NAMES = ["lorahub==0.1.0",      # the official package's version (bench/official.py drives that one)
         "Flan-T5-base", "Flan-T5-large", "16_bench", "test_bench_figures",
         "N = 100",             # a section of 16_bench, named
         "256 decoder steps",   # the official `lorahub_inference`'s max_new_tokens (bench/official.py)
         "5 examples of about 150 tokens",   # run_bench's few-shot set: bbh_like(5), 120-180 tokens
         "2026-11-30",          # the real-scale run's date, as 16_bench's prose gives it (checked below)
         "fp32", "bf16"]        # dtype names


def _out(marker: str) -> str:
    """The stdout of the committed code cell whose source contains `marker`."""
    cells = [c for c in json.loads(NB.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code" and marker in "".join(c["source"])]
    assert len(cells) == 1, (marker, len(cells))
    return "".join("".join(o["text"]) for o in cells[0]["outputs"] if o.get("name") == "stdout")


def rnd(x, places: int = 1) -> str:
    """`x` (a printed number) rounded half up to `places` decimals, as printed."""
    q = Decimal(1).scaleb(-places) if places else Decimal(1)
    return str(Decimal(str(x).replace(",", "")).quantize(q, rounding=ROUND_HALF_UP))


def bench_table(text: str) -> dict:
    """`bench_table`'s output: header settings, {phase: (ours, official, floor)} and {ratio name: value}."""
    lines = text.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("shape="))
    settings = dict(kv.split("=") for kv in lines[head].split(" (")[0].split())
    rows = {}
    for l in lines[head + 2:]:
        if not re.search(r"\s\d+\.\d\d(\s|$)", l[40:]): break
        rows[l[:46].strip()] = tuple(l[47 + 9 * i:55 + 9 * i].strip() or None for i in range(3))
    ratio_line = next(l for l in lines if l.startswith("ratios: "))[len("ratios: "):]
    ratios = dict(kv.rsplit(" ", 1) for kv in ratio_line.split("; "))
    return dict(settings=settings, rows=rows, ratios=ratios)


def real_scale_table(text: str) -> dict:
    """`real_scale_table`'s output, the figures the README quotes."""
    find = lambda pat: re.search(pat, text, re.M).groups()
    return dict(
        threads=find(r"cpu, (\d+) threads")[0], n=find(r"N = (\d+)$")[0],
        slice_rss=find(r"^  the whole process\s+[\d.]+ s\s+([\d,]+) MiB")[0],
        modules=find(r"^loss screening, (\d+) modules")[0], chunk=find(r"\((\d+) at a time\)")[0],
        screening=find(r"^loss screening.*?([\d.]+) s\s+([\d,]+) MiB"),
        retrieval_rss=find(r"^embedding retrieval.*?[\d.]+ s\s+([\d,]+) MiB")[0],
        search=find(r"^  search, K = (\d+)\s+([\d.]+) s")[0:2], ratio=find(r"\(ratio\)\s+.*?([\d.]+)$")[0],
        gen=find(r"^  generation, lorahub_ngopt\s+([\d.]+) s/example")[0],
        grid=find(r"^paper grid, (\d+) tasks × (\d+) seeds × (\d+) methods, estimated here: ([\d.]+) h"),
        gen_hours=find(r"by stage: .*generation ([\d.]+) h")[0], help=find(r"^lorahub-nb --help\s+([\d.]+) s")[0],
        minutes=find(r"^whole run: ([\d.]+) min")[0])


def how_fast() -> str:
    """The README's "How fast" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## How fast\n", 1)[1].split("\n## ", 1)[0]


def weights_gib() -> str:
    """GiB of fp32 weights of the planted Flan-T5-large (its configuration, built on the meta device)."""
    sys.path.insert(0, str(ROOT))
    from bench.workspace import random_t5
    model = random_t5("large", device="meta")
    return rnd(sum(p.numel() for p in model.parameters()) * 4 / 2**30)


def expected() -> list:
    """Every sentence of the section that carries a measurement, formatted from the committed outputs."""
    b, r = bench_table(_out('res_base = run_bench("base"')), real_scale_table(_out("res_real = run_real_scale("))
    s, rows, q = b["settings"], b["rows"], b["ratios"]
    x, n, k = s["dtype"], s["N"], s["K"]
    load, e2e = rows["load N modules + attach"], rows[f"learn end to end, ours {x}"]
    as_is_row = next(name for name in rows if name.endswith(" inputs, as is"))
    n_as_is, as_is = as_is_row.split()[1], rows[as_is_row]
    gib = lambda mib: rnd(int(mib.replace(",", "")) / 1024)
    repeats = "three" if s["repeats"] == "3" else s["repeats"]
    return [
        f"{n} modules", f"K = {k}", f"On {s['threads']} CPU cores (medians of {repeats} repeats",
        f"| load {n} modules and attach them | {load[0]} s | {load[1]} s "
        f"({rnd(q['load speedup (official/ours)'])}× ours) |",
        f"| search, divided by {k} bare forward passes | {q['ours_adapt/floor']} | {q['official_search/floor']} |",
        f"| learn end to end: ours in {x}, the official code in fp32 | {rnd(e2e[0])} s | {rnd(e2e[1])} s "
        f"({rnd(q[f'learn e2e speedup {x} (official/ours)'])}× ours) |",
        f"| inference on {n_as_is} BBH-length inputs, as is | {rnd(as_is[0])} s | {rnd(as_is[1])} s "
        f"({rnd(q['inference speedup as is (official/ours)'])}× ours) |",
        f"ours is {q['inference speedup stopping (official/ours)']}× faster in fp32 and "
        f"{rnd(q[f'inference speedup stopping {x} (official/ours)'])}× faster in {x}",
        f"the {r['modules']} published module ids", f"--modules random:{r['modules']} --n-modules {r['n']}",
        f"({rnd(r['minutes'], 0)} minutes on {r['threads']} CPU cores",
        f"the slice peaks at about **{gib(r['slice_rss'])} GiB** of RAM (the weights alone are {weights_gib()} GiB)",
        f"over all {r['modules']} modules holds {r['chunk']} at a time and peaks at the same "
        f"**{gib(r['screening'][1])} GiB** (about {rnd(float(r['screening'][0]) / 60, 0)} minutes per task and seed",
        f"embedding retrieval over the {r['modules']} peaks at **{gib(r['retrieval_rss'])} GiB**",
        f"A search of K = {r['search'][0]} passes took {rnd(r['search'][1], 0)} s, {r['ratio']}× the time of "
        f"{r['search'][0]} bare forward passes, and generation about {rnd(r['gen'])} s per test example",
        f"({r['grid'][0]} tasks × {r['grid'][1]} seeds × {r['grid'][2]} methods) would take about "
        f"{rnd(r['grid'][3], 0)} hours on this machine, {rnd(r['gen_hours'], 0)} of them generation",
        f"`lorahub-nb --help` answers in {r['help']} s"]


def test_rnd():
    assert (rnd("37.55"), rnd("2.84"), rnd("0.50"), rnd("91.5", 0), rnd("4,844"), rnd(4844 / 1024)) == \
           ("37.6", "2.8", "0.5", "92", "4844.0", "4.7")


def test_readme_quotes_the_committed_bench():
    section = how_fast()
    missing = [e for e in expected() if e not in section]
    assert not missing, "README's How fast section does not say (from 16_bench's outputs):\n" + "\n".join(missing)


def test_readme_quotes_nothing_else():
    section = how_fast()
    for e in sorted(expected() + NAMES, key=len, reverse=True): section = section.replace(e, " ")   # longest first
    left = re.findall(r"\S*\d\S*", section)
    assert not left, f"numbers in README's How fast section that no committed output backs: {left}"


def test_real_scale_date_is_the_notebooks():
    prose = "".join("".join(c["source"]) for c in json.loads(NB.read_text(encoding="utf-8"))["cells"]
                    if c["cell_type"] == "markdown" and "## At real scale" in "".join(c["source"]))
    assert "2026-11-30" in prose and "2026-11-30" in how_fast()
