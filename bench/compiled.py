"""Does `LoraHub.compile` pay? The search's loss pass by pass, and a BBH slice end to end, eager against compiled."""
from __future__ import annotations
import contextlib, os, shutil, tempfile, warnings
from pathlib import Path
import numpy as np
import torch
from lorahub_nb.adapt import LoraHub
from lorahub_nb.modules import load_modules
from lorahub_nb.bases import load_base
from .timing import median, ratio, rel_diff, timed
from .workspace import bbh_folder, bench_dtype, decoding_tokenizer, make_workspace


LOSS_RTOL = {torch.float32: 1e-4}  # compiled vs eager loss, relative; other dtypes (bf16: ~3 digits) 2e-2


@contextlib.contextmanager
def cold_compile():
    "Inside the block `torch.compile` starts cold: dynamo's caches reset, inductor's disk cache an empty folder."
    tmp, was = tempfile.mkdtemp(prefix="lorahub-inductor-"), os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    torch._dynamo.reset()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tmp
    try: yield tmp
    finally:
        if was is None: os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else: os.environ["TORCHINDUCTOR_CACHE_DIR"] = was
        shutil.rmtree(tmp, ignore_errors=True)


def _bench_hub(root, shape:str, n_modules:int, seed:int, dt) -> tuple:
    "(hub, examples): a random model of `shape` in dtype `dt` with `n_modules` random modules, 5 BBH-like examples."
    ws = make_workspace(root, shape, n_modules, seed, n_test=0)
    base, tok = load_base(ws["base"], "cpu", dt)
    hub = LoraHub(load_modules(ws["modules"], progress=False), model=base, tokenizer=tok, progress=False)
    return hub, ws["examples"]


def _batch_tokens(hub:LoraHub, examples:list, padded:bool) -> list:
    "Shape of the few-shot batch's inputs, as the eager hub (or a compiled one, `padded`) forms it."
    was = hub.compiled
    hub.compiled = padded
    try: return list(hub.batch(examples)["input_ids"].shape)
    finally: hub.compiled = was


def _loss_passes(hub:LoraHub, examples:list, W, compiler) -> dict:
    "Compile (timed with its first call), then time the loss eager, eager on the padded batch and compiled, in turns."
    hub.loss(examples, W[0])                                                  # warm-up of the eager model
    def first_call():
        compiler(hub)
        return hub.loss(examples, W[0])
    compile_s = timed(first_call)[0]
    modes = dict(eager=(hub.model, False), eager_padded=(hub.model, True), compiled=(hub.forward, True))
    def run(mode, w):
        hub.forward, hub.compiled = modes[mode]
        return timed(hub.loss, examples, w)
    secs = {k: [] for k in modes}
    for w in W[2:]:
        for k in modes: secs[k].append(run(k, w)[0])
    losses = {k: [run(k, w)[1] for w in W[:2]] for k in modes}
    return dict(compile_s=compile_s, secs=secs, losses=losses)


def compile_bench(shape:str="base", # "tiny", "base" or "large" (random weights, `SHAPES`)
                  dtype:str="auto", # 'auto': bf16 where the CPU runs it natively (`bench_dtype`)
                  passes:int=20, # timed passes of each kind; medians reported
                  n_modules:int=20, seed:int=0,
                  compiler=LoraHub.compile, # hub -> None: how to compile (tests pass a stand-in)
                  workdir=None) -> dict: # where to write the model and modules (default: a temporary folder)
    "Per-pass seconds of the search's loss eager vs compiled, the compile time, and the two losses compared."
    from lorahub_nb.bases import pick_dtype
    dtype, load = bench_dtype(dtype), [os.getloadavg()[0]]
    dt, tmp = pick_dtype(dtype, torch.device("cpu")), Path(workdir or tempfile.mkdtemp(prefix="lorahub-compile-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hub, ex = _bench_hub(tmp, shape, n_modules, seed, dt)
            W = np.random.default_rng(seed).uniform(-1.5, 1.5, (passes + 2, hub.n))
            with cold_compile(): m = _loss_passes(hub, ex, W, compiler)
    finally:
        if workdir is None: shutil.rmtree(tmp, ignore_errors=True)
    med = {k: median(v) for k, v in m["secs"].items()}
    diff, rtol = rel_diff(m["losses"]["compiled"], m["losses"]["eager"]), LOSS_RTOL.get(dt, 2e-2)
    saved = med["eager"] - med["compiled"]
    return dict(shape=shape, dtype=dtype, passes=passes, n_modules=n_modules, threads=torch.get_num_threads(),
                batch=_batch_tokens(hub, ex, False), batch_padded=_batch_tokens(hub, ex, True), **med,
                compile_s=m["compile_s"], ratio=ratio(med["eager"], med["compiled"]),
                ratio_padded=ratio(med["eager_padded"], med["compiled"]),
                breakeven_passes=m["compile_s"] / saved if saved > 0 else float("inf"), losses=m["losses"],
                loss_rel_diff=diff, loss_rtol=rtol, same_loss=bool(diff <= rtol), raw=m["secs"],
                load_average=load + [os.getloadavg()[0]])


E2E_TASKS = ("boolean_expressions", "multistep_arithmetic_two", "sports_understanding")  # short inputs: 2 buckets


@contextlib.contextmanager
def batch_shapes(shapes:set):
    "Add the (inputs, labels) shape of every batch a compiled hub forms inside the block to `shapes`."
    orig = LoraHub.batch
    def batch(self, examples):
        b = orig(self, examples)
        if self.compiled: shapes.add((tuple(b["input_ids"].shape), tuple(b["labels"].shape)))
        return b
    LoraHub.batch = batch
    try: yield shapes
    finally: LoraHub.batch = orig


def _slice_once(bbh_dir, ws:dict, dt, compile:bool, settings:dict) -> dict:
    "One `run_tasks` over the slice with a fresh `Models`: seconds, rows and the batch shapes compiled."
    from lorahub_nb.harness import Models, run_tasks
    from lorahub_nb.protocol import Protocol
    model = load_base(ws["base"], "cpu", dt)[0]   # a fresh copy each run: the hub wraps the model it is given
    models = Models(model=model, tokenizer=decoding_tokenizer(), compile=compile)   # decodes a random model's ids
    with batch_shapes(set()) as shapes, cold_compile() if compile else contextlib.nullcontext():
        s, rows = timed(run_tasks, bbh_dir, Protocol().but(**settings["protocol"]), models, pool=ws["modules"],
                        progress=False, **settings["grid"])
    return dict(s=s, rows=rows, shapes=sorted(shapes), fit_s=sum(r["fit_s"] for r in rows))


def compare_rows(a:list, b:list) -> dict:
    "Do two runs' rows agree: the same (task, method, seed) keys and accuracies; the largest weight difference."
    from lorahub_nb.results import row_key
    A, B = ({row_key(r): r for r in rows} for rows in (a, b))
    same = A.keys() == B.keys()
    acc = same and all(A[k]["acc"] == B[k]["acc"] for k in A)
    def dw(k):
        wa, wb = A[k]["weights"] or {}, B[k]["weights"] or {}
        return max([abs(wa.get(m, 0.0) - wb.get(m, 0.0)) for m in {*wa, *wb}], default=0.0)
    common = A.keys() & B.keys()
    return dict(rows=len(A), same_keys=same, same_acc=acc, max_weight_diff=max(map(dw, common), default=0.0))


def compile_e2e(bbh_dir=None, # BBH task files (default: $LORAHUB_NB_BBH_DIR)
                shape:str="base", dtype:str="auto", tasks=E2E_TASKS, seeds=(1, 2),
                methods=("lorahub_ngopt", "best_single"), n_modules:int=20, budget:int=40,
                limit:int=10, # test examples per task
                workdir=None) -> dict: # where to write the model and modules (default: a temporary folder)
    "A BBH slice through `run_tasks`, eager then compiled (fresh `Models` each): wall times, shapes compiled, rows."
    from lorahub_nb.bases import pick_dtype
    dtype, load, bbh_dir = bench_dtype(dtype), [os.getloadavg()[0]], bbh_folder(bbh_dir)
    dt, tmp = pick_dtype(dtype, torch.device("cpu")), Path(workdir or tempfile.mkdtemp(prefix="lorahub-compile-"))
    settings = dict(grid=dict(tasks=list(tasks), seeds=list(seeds), methods=list(methods)),
                    protocol=dict(n_modules=n_modules, budget=budget, limit=limit))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ws = make_workspace(tmp, shape, n_modules, 0, n_test=0)
            runs = {k: _slice_once(bbh_dir, ws, dt, k == "compiled", settings) for k in ("eager", "compiled")}
    finally:
        if workdir is None: shutil.rmtree(tmp, ignore_errors=True)
    e, c = runs["eager"], runs["compiled"]
    return dict(**settings["grid"], **settings["protocol"], shape=shape, dtype=dtype, eager_s=e["s"], compiled_s=c["s"], ratio=ratio(e["s"], c["s"]),
                eager_fit_s=e["fit_s"], compiled_fit_s=c["fit_s"], fit_ratio=ratio(e["fit_s"], c["fit_s"]),
                compiles=len(c["shapes"]), shapes=c["shapes"], **compare_rows(e["rows"], c["rows"]),
                load_average=load + [os.getloadavg()[0]])


def compile_table(cb:dict, e2e:dict) -> str:
    "`compile_bench` and `compile_e2e` results as a text table."
    pct = lambda x: f"{100 * x:.2f}%"
    rows = [(f"per pass of the search's loss, batch {cb['batch']} (padded to {cb['batch_padded']}), median of "
             f"{cb['passes']}:", ""),
            ("  eager", f"{cb['eager']:.3f} s"),
            ("  eager on the padded batch", f"{cb['eager_padded']:.3f} s"),
            ("  compiled (padded batch)", f"{cb['compiled']:.3f} s"),
            ("  ratio eager / compiled (same batch: eager padded / compiled)",
             f"{cb['ratio']:.2f}× ({cb['ratio_padded']:.2f}×)"),
            ("  compile: the first compiled call", f"{cb['compile_s']:.1f} s"),
            ("  compilation paid back after", f"{cb['breakeven_passes']:.0f} passes"),
            ("  compiled vs eager loss at two w (tolerance)",
             f"{pct(cb['loss_rel_diff'])} ({pct(cb['loss_rtol'])}): {'same' if cb['same_loss'] else 'DIFFERENT'}"),
            ("  eager on the padded batch vs eager loss, the same two w",
             pct(rel_diff(cb["losses"]["eager_padded"], cb["losses"]["eager"]))),
            (f"end to end: {len(e2e['tasks'])} tasks × {len(e2e['seeds'])} seeds, {' + '.join(e2e['methods'])}, "
             f"N = {e2e['n_modules']}, K = {e2e['budget']}, {e2e['limit']} test examples:", ""),
            ("  eager: wall (in the methods)", f"{e2e['eager_s']:.1f} s ({e2e['eager_fit_s']:.1f} s)"),
            ("  compiled: wall (in the methods)", f"{e2e['compiled_s']:.1f} s ({e2e['compiled_fit_s']:.1f} s)"),
            ("  ratio eager / compiled: wall (in the methods)", f"{e2e['ratio']:.2f}× ({e2e['fit_ratio']:.2f}×)"),
            ("  batch shapes compiled", " ".join(f"{a[1]}→{b[1]}" for a, b in e2e["shapes"])),
            (f"  same accuracy, all {e2e['rows']} rows", "yes" if e2e["same_acc"] else "NO"),
            ("  largest difference of the weights found", f"{e2e['max_weight_diff']:.3g}")]
    w = max(len(a) for a, b in rows if b)
    head = (f"compiled forward: {cb['shape']} shape, random weights, {cb['dtype']}, {cb['threads']} threads; "
            f"load average {cb['load_average'][0]:.2f} at the start, {e2e['load_average'][1]:.2f} at the end")
    return "\n".join([head] + [f"{a:{w}s}  {b}" if b else a for a, b in rows])
