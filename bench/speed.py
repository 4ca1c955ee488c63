"""`run_bench`: load, search and inference, ours against a floor of bare forward passes and the official code."""
from __future__ import annotations
import contextlib, functools, gc, shutil, tempfile, time, warnings
from pathlib import Path
import numpy as np
import torch
from lorahub_nb.adapt import LoraHub
from lorahub_nb.evaluate import count_tokens, generate
from lorahub_nb.modules import load_modules
from lorahub_nb.bases import load_base
from lorahub_nb.utils import quiet_loading
from lorahub_nb.objective import decoder_inputs, l1_penalty, make_batch
from lorahub_nb.utils import write_json
from .official import official_available, official_generate, official_learn, quiet
from .timing import median, ratio, tensor_bytes, timed
from .workspace import bench_dtype, decoding_tokenizer, make_workspace


class _StopAfter:
    "Logits processor: force EOS once `n` tokens have been generated (decoder start excluded)."
    def __init__(self, n:int, eos:int): self.n, self.eos = n, eos
    def __call__(self, input_ids, scores):
        if input_ids.shape[1] - 1 >= self.n:
            scores = torch.full_like(scores, -float("inf"))
            scores[:, self.eos] = 0
        return scores


@contextlib.contextmanager
def _stopping(model, n:int, eos:int):
    "Make `model.generate` stop every answer after `n` tokens (instance attribute; removed afterwards)."
    from transformers import LogitsProcessorList
    orig = model.generate
    model.generate = functools.partial(orig, logits_processor=LogitsProcessorList([_StopAfter(n, eos)]))
    try: yield model
    finally: del model.generate


def our_generate(model, tokenizer, test:list, margin:int=2) -> list:
    "`evaluate.generate` with `max_new_tokens` = longest target + `margin` (as `bbh.answer_length` counts it for the harness)."
    max_new = max(count_tokens(tokenizer, [e["output"] for e in test])) + margin
    return generate(model, tokenizer, [e["input"] for e in test], max_new_tokens=max_new)


def hub_memory(hub:LoraHub) -> dict:
    "Bytes held by a hub's module bank, by part (each storage counted once, in the order listed)."
    parts = dict(bank=[hub.bank.flat], modules=hub.modules, composer_copy=[hub.composer.flat],
                 composed=[hub.composer.buffer])
    out, seen = {}, []
    for k, v in parts.items():
        out[k] = tensor_bytes(*seen, v) - tensor_bytes(*seen)
        seen.append(v)
    out["total"] = sum(out.values())
    return out


def _floor(model, batch:dict, budget:int) -> float:
    "Seconds for `budget` bare forward passes."
    dec = decoder_inputs(model, batch)
    def run():
        with torch.inference_mode():
            for _ in range(budget):
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=dec)
    return timed(run)[0]


def _ours(ws, dtype, budget, seed, optimizer="CMA", between=None):
    "Load base (untimed), then time module loading + attach and the search (`between(hub)` runs between the two)."
    base, tok = load_base(ws["base"], "cpu", dtype)
    attach = lambda: LoraHub(load_modules(ws["modules"], progress=False), model=base, tokenizer=tok, progress=False)
    t_load, hub = timed(attach)
    if between: between(hub)
    t_adapt, res = timed(hub.learn, ws["examples"], optimizer=optimizer, budget=budget, seed=seed, progress=False)
    return dict(load=t_load, adapt=t_adapt, e2e=t_load + t_adapt, value=res.value, w=res.w), hub


def _repeat(ws:dict, R:dict, rep:int, dt, dtype:str, budget:int, official:bool, ngopt:bool, ahead:int, say):
    "Repeat `rep`: the floor, our search in fp32 (and in `dt`), the official search; times appended to `R`."
    add = lambda k, v: R.setdefault(k, []).append(v)
    floor = lambda hub: add("floor", _floor(hub.model, hub.batch(ws["examples"]), budget))
    o32, hub = _ours(ws, torch.float32, budget, rep, between=floor if rep % 2 else None)   # alternate which runs first
    if rep % 2 == 0: floor(hub)
    for k in ("load", "adapt"): add(f"ours_{k}", o32[k])
    add("value_fp32", o32["value"])
    say(f"[{rep}] floor {R['floor'][-1]:.2f}s | ours fp32: load {o32['load']:.2f}s adapt {o32['adapt']:.2f}s")
    hubs = {"fp32": (hub, o32)}
    if dt != torch.float32:
        ox, hubx = _ours(ws, dt, budget, rep)
        hubs["x"] = (hubx, ox)
        for k in ("load", "adapt", "e2e"): add(f"ours_x_{k}", ox[k])
        add("value_x_under_fp32", hub.loss(ws["examples"], w=ox["w"]) + l1_penalty(ox["w"]))
        say(f"[{rep}] ours {dtype}: load {ox['load']:.2f}s adapt {ox['adapt']:.2f}s")
    learn = lambda **kw: timed(hub.learn, ws["examples"], budget=budget, progress=False, **kw)[0]
    if ngopt: add("ours_ngopt_adapt", learn(optimizer="NGOpt"))
    if ahead > 1:
        add("ours_ahead_adapt", learn(seed=rep, ahead=ahead))
        say(f"[{rep}] ours fp32, composing {ahead} ahead: adapt {R['ours_ahead_adapt'][-1]:.2f}s")
    if not official: return hubs, None
    off = official_learn(ws, budget, seed=42 + rep)
    for k in ("load", "data", "search", "total", "base"): add(f"official_{k}", off[k])
    add("official_e2e", off["total"] - off["base"])
    add("official_value_fp32", hub.loss(ws["examples"], w=off["w"]) + l1_penalty(off["w"]))
    say(f"[{rep}] official: load {off['load']:.2f}s search {off['search']:.2f}s")
    return hubs, off


def _inference(ws:dict, R:dict, rep:int, hubs:dict, off, n_as_is:int, say):
    "Generation with each search's weights, as is and stopping at the answer's length; times appended to `R`."
    add = lambda k, v: R.setdefault(k, []).append(v)
    test, dtok = ws["test"], decoding_tokenizer()   # random weights emit ids past ByT5's bytes: decode them (same cost)
    as_is, eos = test[:n_as_is], hubs["fp32"][0].tokenizer.eos_token_id
    stop = max(count_tokens(dtok, [e["output"] for e in test])) - 1   # answer tokens, EOS excluded
    for key, prefix in (("fp32", "ours"), ("x", "ours_x")):
        if key not in hubs: continue
        hub, o = hubs[key]
        hub.set_weights(o["w"])
        add(f"{prefix}_gen", timed(our_generate, hub.model, dtok, as_is)[0])
        with _stopping(hub.model, stop, eos): add(f"{prefix}_gen_stop", timed(our_generate, hub.model, dtok, test)[0])
    line = f"[{rep}] inference: ours {R['ours_gen'][-1]:.2f}s (stopping {R['ours_gen_stop'][-1]:.2f}s)"
    if off:
        if rep == 0: add("official_gen", timed(official_generate, off["model"], dtok, as_is)[0])
        with _stopping(off["model"], stop, eos):
            add("official_gen_stop", timed(official_generate, off["model"], dtok, test)[0])
        line += f" | official {R['official_gen'][0]:.2f}s (stopping {R['official_gen_stop'][-1]:.2f}s)"
    say(line)


def _repeats(R:dict, repeats:int, time_limit, t_start:float, one, say) -> tuple:
    "Run `one(rep) -> (hubs, official)` up to `repeats` times, none ending past `time_limit`: the last one's memory."
    last = None   # seconds the previous repeat took, less what only the first repeat does
    for rep in range(repeats):
        t_rep = time.perf_counter()
        if rep and time_limit and t_rep - t_start + last > time_limit:
            say(f"stopping after {rep} repeat(s): another would end past time_limit={time_limit:.0f}s")
            break
        hubs, off = one(rep)
        last = time.perf_counter() - t_rep - (R["official_gen"][0] if rep == 0 and "official_gen" in R else 0)
        mems = {k: hub_memory(h) for k, (h, _) in hubs.items()}
        off_mem = off["memory"] if off else None
        del hubs, off
        gc.collect()
    return mems, off_mem


def run_bench(shape:str="base", # "tiny", "base" (Flan-T5-base) or "large" (Flan-T5-large), random weights
              n_modules:int=20, # N
              budget:int=40, # K, search steps
              repeats:int=3, # each measurement repeated; medians reported
              dtype:str="auto", # our second run's dtype, compared end to end with the official fp32 run (`bench_dtype`)
              official:bool=True, # also run the official `lorahub` package, when installed
              out=None, # write the result as JSON here
              inference:bool=True, # also time generation on the test set
              n_test:int=20, # test inputs for inference, stopping regime (100-250 tokens each)
              n_as_is:int=10, # the first this many of them for the "as is" regime (one official batch)
              progress:bool=True, # print each measurement as it finishes
              ngopt:bool=False, # also time our loop with the official's optimizer (NGOpt), like for like
              ahead:int=1, # > 1: also time our loop composing this many candidates per read of the bank
              time_limit:float=540, # seconds: start no repeat after the first that would end past this (None: no limit)
              workdir=None) -> dict: # where to write the model and modules (default: a temporary folder, removed)
    "Time load, adapt and inference of ours vs a floor of bare forward passes and the official code; print a table."
    from lorahub_nb.bases import pick_dtype
    dtype = bench_dtype(dtype)
    dt, official = pick_dtype(dtype, torch.device("cpu")), official and official_available()
    if progress and not official_available():
        print("official `lorahub` not installed: skipping it (pip install --no-deps lorahub==0.1.0)")
    tmp = Path(workdir or tempfile.mkdtemp(prefix="lorahub-bench-"))
    say = (lambda *a: print(*a, flush=True)) if progress else (lambda *a: None)
    t_start, R = time.perf_counter(), {}
    def one(rep):
        hubs, off = _repeat(ws, R, rep, dt, dtype, budget, official, ngopt, ahead, say)
        if inference: _inference(ws, R, rep, hubs, off, n_as_is, say)
        return hubs, off
    try:
        with warnings.catch_warnings(), quiet_loading():
            warnings.simplefilter("ignore")
            ws = timed(make_workspace, tmp, shape, n_modules, 0, n_test)[1]
            t_base, (m0, tok0) = timed(load_base, ws["base"], "cpu", torch.float32)
            R["base_load"] = [t_base]
            _floor(m0, make_batch(tok0, ws["examples"]), 2)  # warm-up
            del m0
            mems, off_mem = _repeats(R, repeats, time_limit, t_start, one, say)
        res = dict(shape=shape, n_modules=n_modules, budget=budget, repeats=len(R["floor"]), dtype=dtype,
                   official=official, ahead=ahead, torch_threads=torch.get_num_threads(), n_examples=5, n_test=n_test,
                   n_as_is=min(n_as_is, n_test), median={k: median(v) for k, v in R.items()}, raw=R,
                   memory=mems["fp32"],
                   memory_x=mems.get("x"), memory_official=off_mem, wall_s=time.perf_counter() - t_start)
        res["ratios"] = bench_ratios(res)
    finally:
        if workdir is None: shutil.rmtree(tmp, ignore_errors=True)
    if out: write_json(out, res)
    if progress: print(bench_table(res))
    return res


def paired(raw:dict, a, b) -> float:
    "Median over repeats of a/b, a and b from the same repeat (tuples are summed); a ratio of medians where not paired."
    keys = lambda k: k if isinstance(k, tuple) else (k,)
    if not all(x in raw for x in keys(a) + keys(b)): return float("nan")
    A, B = (np.sum([raw[x] for x in keys(k)], axis=0) for k in (a, b))
    if len(A) == len(B): return float(np.median(A / B))
    return ratio(float(np.median(A)), float(np.median(B)))


def bench_ratios(res:dict) -> dict:
    "The headline ratios of a `run_bench` result: medians of per-repeat ratios (NaN where a part was not run)."
    R, x = res["raw"], res["dtype"]
    out = {"ours_adapt/floor": paired(R, "ours_adapt", "floor"),
           "ours_ngopt_adapt/floor": paired(R, "ours_ngopt_adapt", "floor"),
           "ours_ahead_adapt/floor": paired(R, "ours_ahead_adapt", "floor"),
           "official_search/floor": paired(R, "official_search", "floor"),
           "load speedup (official/ours)": paired(R, "official_load", "ours_load"),
           "learn e2e speedup fp32 (official/ours)": paired(R, "official_e2e", ("ours_load", "ours_adapt")),
           f"learn e2e speedup {x} (official/ours)": paired(R, "official_e2e", "ours_x_e2e"),
           "inference speedup as is (official/ours)": paired(R, "official_gen", "ours_gen"),
           "inference speedup stopping (official/ours)": paired(R, "official_gen_stop", "ours_gen_stop"),
           f"inference speedup stopping {x} (official/ours)": paired(R, "official_gen_stop", "ours_x_gen_stop")}
    vx, v32 = res["raw"].get("value_x_under_fp32"), res["raw"].get("value_fp32")
    if vx:
        out[f"objective {x} vs fp32 search (max rel. diff)"] = max(abs(a - b) / abs(b) for a, b in zip(vx, v32))
    return {k: v for k, v in out.items() if v == v}


def bench_table(res:dict) -> str:
    "A text table of a `run_bench` result (medians) and a last line of ratios."
    m, K, x = res["median"], res["budget"], res["dtype"]
    g = lambda k: m.get(k, float("nan"))
    rows = [("base model from disk (both)", g("base_load"), None, None),
            ("load N modules + attach", g("ours_load"), g("official_load"), None),
            (f"adapt, K={K} (ours CMA / official NGOpt)", g("ours_adapt"), g("official_search"), g("floor")),
            (f"adapt, K={K}, ours with NGOpt", g("ours_ngopt_adapt"), None, g("floor")),
            (f"adapt, K={K}, ours composing {res.get('ahead', 1)} ahead", g("ours_ahead_adapt"), None, g("floor")),
            ("official: tokenise into a Dataset", None, g("official_data"), None),
            ("learn end to end (load + adapt), fp32", g("ours_load") + g("ours_adapt"), g("official_e2e"), None)]
    if "ours_x_e2e" in m: rows.append((f"learn end to end, ours {x}", g("ours_x_e2e"), g("official_e2e"), None))
    if "ours_gen" in m:
        n_as_is = res.get("n_as_is", res["n_test"])
        rows += [(f"inference, {n_as_is} inputs, as is", g("ours_gen"), g("official_gen"), None),
                 (f"inference, {res['n_test']} inputs, stopping", g("ours_gen_stop"), g("official_gen_stop"), None)]
    if "ours_x_gen" in m:
        rows += [(f"inference, as is, ours {x}", g("ours_x_gen"), g("official_gen"), None),
                 (f"inference, stopping, ours {x}", g("ours_x_gen_stop"), g("official_gen_stop"), None)]
    f = lambda v: "" if v is None or v != v else f"{v:8.2f}"
    rows = [r for r in rows if any(v is not None and v == v for v in r[1:3])]   # parts not run: no row
    lines = [f"shape={res['shape']} N={res['n_modules']} K={K} dtype={x} repeats={res['repeats']} "
             f"threads={res['torch_threads']} (medians, seconds)",
             f"{'phase':46s} {'ours':>8s} {'official':>8s} {'floor':>8s}"]
    lines += [f"{n:46s} {f(a):>8s} {f(b):>8s} {f(c):>8s}" for n, a, b, c in rows]
    return "\n".join(lines + _memory_lines(res) + _ratio_lines(res))


def _memory_lines(res:dict) -> list:
    "The table's lines on the module bank's memory and on the objective under fp32."
    m, x, mem, mib = res["median"], res["dtype"], res["memory"], lambda b: f"{b / 2**20:.1f} MiB"
    parts = ", ".join(f"{k} {v / 2**20:.1f}" for k, v in mem.items() if k != "total")
    lines = [f"module bank memory, ours fp32: {mib(mem['total'])} ({parts})"]
    if "ours_ahead_adapt" in m:
        ahead = res["ahead"]
        lines.append(f"  + {ahead} composed modules ({mib(ahead * mem['composed'])}) while composing ahead")
    if res.get("memory_x"): lines.append(f"module bank memory, ours {x}: {mib(res['memory_x']['total'])}")
    if res.get("memory_official"): lines.append(f"module bank memory, official: {mib(res['memory_official']['total'])}")
    if "value_x_under_fp32" in m:
        official = f", official {m['official_value_fp32']:.4f}" if "official_value_fp32" in m else ""
        lines.append(f"objective under fp32: fp32 search {m['value_fp32']:.4f}, {x} search "
                     f"{m['value_x_under_fp32']:.4f}{official}")
    return lines


def _ratio_lines(res:dict) -> list:
    "The table's last lines: each repeat's overhead over the floor, and the ratios."
    raw = res["raw"]
    per = {f"{a}/floor": [x / f for x, f in zip(raw[a], raw["floor"])]
           for a in ("ours_adapt", "ours_ahead_adapt", "official_search") if a in raw and "floor" in raw}
    fmt = lambda k, v: f"{k} {v:.2%}" if "objective" in k else f"{k} {v:.2f}"
    each = "; ".join(f"{k} " + ", ".join(f"{v:.3f}" for v in vs) for k, vs in per.items())
    lines = [f"per repeat: {each}"] if per else []
    return lines + ["ratios: " + "; ".join(fmt(k, v) for k, v in res["ratios"].items())]


def step_times(shape:str="tiny", ns=(1, 5, 10, 20, 50, 100), steps:int=10, official:bool=True, workdir=None) -> dict:
    "Median seconds per search step for each N: ours, official (when installed) and the floor."
    from lorahub_nb.objective import few_shot_loss
    official = official and official_available()
    tmp = Path(workdir or tempfile.mkdtemp(prefix="lorahub-steps-"))
    out = dict(shape=shape, n=list(ns), ours=[], official=[], floor=[])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ws = make_workspace(tmp, shape, max(ns))
            base, tok = load_base(ws["base"], "cpu", torch.float32)
            mods = load_modules(ws["modules"], progress=False)
            hub = LoraHub(mods[:ns[0]], model=base, tokenizer=tok, progress=False)
            batch = hub.batch(ws["examples"])
            dec = decoder_inputs(hub.model, batch)
            rng = np.random.default_rng(0)
            if official:
                import lorahub.algorithm as A
                with quiet(), quiet_loading():
                    omodel, otok, cache = A.load_base_model_and_lora_modules([str(m) for m in ws["modules"]],
                                                                             str(ws["base"]))
                    data = A.load_dataset([e["input"] for e in ws["examples"]], [e["output"] for e in ws["examples"]],
                                          otok)
            for n in ns:
                hub.use(mods[:n])
                W = rng.uniform(-1.5, 1.5, (steps + 1, n))
                def ours(w):
                    hub.composer.set(w)
                    with torch.inference_mode(): float(few_shot_loss(hub.model, batch))
                def floor(w):
                    with torch.inference_mode():
                        hub.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  decoder_input_ids=dec)
                fns = dict(ours=ours, floor=floor)
                if official:
                    sub = {str(m): cache[str(m)] for m in ws["modules"][:n]}
                    fns["official"] = lambda w: A.get_score(w, omodel, sub, data, None, A.default_get_loss,
                                                            A.default_l1_regularization)
                for k, fn in fns.items():
                    fn(W[0])  # warm-up
                    out[k].append(median([timed(fn, w)[0] for w in W[1:]]))
    finally:
        if workdir is None: shutil.rmtree(tmp, ignore_errors=True)
    return out


def plot_step_times(st:dict, ax=None):
    "Milliseconds per step vs N: ours, official, floor."
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    for k, style in (("official", "s-"), ("ours", "o-"), ("floor", "k--")):
        if st[k]: ax.plot(st["n"], 1e3 * np.array(st[k]), style, label=k)
    ax.set(xlabel="N (modules)", ylabel="ms per step", title=f"one search step, {st['shape']} shape", xscale="log")
    ax.legend()
    return ax


def plot_phases(res:dict, ax=None):
    "Seconds per phase (medians), ours vs official, as stacked bars."
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    g = lambda k: res["median"].get(k, 0.0)
    phases = dict(ours=[g("ours_load"), g("ours_adapt"), g("ours_gen_stop")],
                  official=[g("official_load") + g("official_data"), g("official_search"), g("official_gen_stop")],
                  floor=[0, g("floor"), 0])
    if "ours_x_e2e" in res["median"]:
        phases = {**{f"ours {res['dtype']}": [g("ours_x_load"), g("ours_x_adapt"), g("ours_x_gen_stop")]}, **phases}
    bottom = np.zeros(len(phases))
    for i, name in enumerate(["load modules", f"adapt (K={res['budget']})", f"inference ({res['n_test']}, stopping)"]):
        v = np.array([p[i] for p in phases.values()])
        ax.barh(list(phases), v, left=bottom, label=name)
        bottom += v
    ax.set(xlabel="seconds (median)", title=f"{res['shape']} shape, N={res['n_modules']}")
    ax.legend(fontsize=7)
    return ax
