#!/usr/bin/env python
"""GPU check: generation-batched LoraHub search vs the sequential loop, at equal evaluations.

On a CUDA machine (the default):   python bench/gpu_check.py --json gpu_check.json
CPU smoke test (seconds):  python bench/gpu_check.py --device cpu --shape tiny --dtype fp32 --budget 12 --repeats 1

Builds a model of Flan-T5-large's shape with random weights on the device (no download), N random rank-16 q/v
modules in memory, 5 BBH-length examples (~150 tokens), then times `LoraHub.learn(..., batched=False)` and
`batched=True` with the same optimizer (CMA), seed and budget K, repeated and alternated; prints medians, the speed-up
(target: batched at least 3x faster on a GPU) and how closely the two searches agree (in bf16 the batched pass sums in a
different order, so losses may differ in the last bits and the searches can drift). Also times one generation of
lambda candidates (`hub.losses`) against lambda single forward passes, and batched generation of 20 answers.
Every stage is timed and, on a GPU, its peak CUDA memory recorded; everything goes to one JSON (--json).
It imports only `lorahub_nb`'s public API (`modules`, `bases`, `adapt`, `evaluate`) and the benchmark's `bench.workspace`;
the tests run it on a CPU (tests/test_gpu_check.py), so it cannot rot unnoticed. A run at Flan-T5-large's shape takes
about a minute. Also `python -m bench gpu-check ...` from the repository root.
"""
import argparse, json, statistics, sys, time
from pathlib import Path
import numpy as np
import torch

if __package__ in (None, ""):   # run as a script, `python bench/gpu_check.py`: the package `bench` is one folder up
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize(device)


def timed(fn, device):
    "(seconds, result) of fn(), synchronised on a GPU."
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


class Stages:
    "Seconds and peak CUDA memory (MiB) of each named stage."
    def __init__(self, device):
        self.device, self.calls, self.seconds, self.peak_mib = device, {}, {}, {}

    def run(self, name, fn):
        "fn(), timed (and its peak CUDA memory noted) under `name`; calls of the same name add up."
        cuda = self.device.type == "cuda"
        if cuda: torch.cuda.reset_peak_memory_stats(self.device)
        t, out = timed(fn, self.device)
        self.calls.setdefault(name, []).append(t)
        self.seconds[name] = sum(self.calls[name])
        if cuda:
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
            self.peak_mib[name] = max(self.peak_mib.get(name, 0.0), peak)
        return out

    def median(self, name) -> float: return statistics.median(self.calls[name])

    def table(self) -> str:
        rows = [f"{'stage (all calls)':36s} {'seconds':>9s} {'peak CUDA':>12s}"]
        for k, s in self.seconds.items():
            peak = f"{self.peak_mib[k]:,.0f} MiB" if k in self.peak_mib else ""
            rows.append(f"{k:36s} {s:9.3f} {peak:>12s}")
        return "\n".join(rows)


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python bench/gpu_check.py", description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--shape", default="large", choices=["tiny", "base", "large"])
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp32", "fp16"])
    p.add_argument("--n", type=int, default=20, help="N, modules")
    p.add_argument("--budget", type=int, default=40, help="K, evaluations per search")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None, help="also write the results here")
    return p.parse_args(argv)


def build_hub(a, device, stages):
    "The random base model on the device, and a LoraHub of N random modules held in memory."
    from transformers import ByT5Tokenizer
    from bench.workspace import random_t5, adapter_shapes, t5_config, paper_like_state, LORA
    from lorahub_nb.modules import LoraModule
    from lorahub_nb.bases import pick_dtype
    from lorahub_nb.adapt import LoraHub
    dtype = pick_dtype(a.dtype, device)
    model = stages.run("build the model", lambda: random_t5(a.shape, device=device).to(dtype))
    shapes, cfg = adapter_shapes(t5_config(a.shape)), dict(LORA, base_model_name_or_path=a.shape)
    mods = [LoraModule(f"mod{i:03d}", "", cfg, paper_like_state(shapes, seed=i)) for i in range(a.n)]
    return stages.run("attach N modules", lambda: LoraHub(mods, model=model, tokenizer=ByT5Tokenizer(), progress=False))


def compare_searches(hub, ex, a, device, stages) -> dict:
    "Sequential and batched searches, alternated over repeats: their times, and how closely they agree."
    learn = lambda batched, seed: hub.learn(ex, budget=a.budget, seed=seed, batched=batched, progress=False)
    stages.run("warm-up (one search each)", lambda: (learn(False, 99), learn(True, 99)))
    name, agree = {m: f"search K={a.budget}, {m}" for m in ("sequential", "batched")}, []
    for r in range(a.repeats):
        res = {}
        for mode in ("sequential", "batched") if r % 2 == 0 else ("batched", "sequential"):   # alternate the order
            res[mode] = stages.run(name[mode], lambda: learn(mode == "batched", r))
        vs, vb = (np.array([h["value"] for h in res[m].history]) for m in ("sequential", "batched"))
        agree.append(float(np.abs(vs[:6] - vb[:6]).max()))
        print(f"[{r}] sequential {stages.calls[name['sequential']][-1]:.3f}s  batched "
              f"{stages.calls[name['batched']][-1]:.3f}s  best: seq {res['sequential'].value:.5f} batched "
              f"{res['batched'].value:.5f}  max |Δ first-generation loss| {agree[-1]:.2e}")
    med = {m: stages.median(k) for m, k in name.items()}
    raw = {m: stages.calls[k] for m, k in name.items()}
    return dict(median_s=med, speedup=med["sequential"] / med["batched"], raw=raw, first_generation_max_abs_diff=agree)


def one_generation(hub, ex, a, device, stages) -> dict:
    "λ single forward passes against one batched pass over λ candidates (`hub.losses`)."
    batch = hub.batch(ex)
    W = np.random.default_rng(0).uniform(-1.5, 1.5, (4 + int(3 * np.log(a.n)), a.n))   # CMA-ES's λ for N weights
    ks, kg = f"one generation, {len(W)} forwards", f"one generation, {len(W)} in one pass"
    seq = [stages.run(ks, lambda: [hub.loss(ex, w=w) for w in W]) for _ in range(a.repeats)][-1]
    gen = [stages.run(kg, lambda: hub.losses(batch, W)) for _ in range(a.repeats)][-1]
    t_seq, t_gen = stages.median(ks), stages.median(kg)
    diff = float(np.abs(np.array(seq) - np.asarray(gen)).max())
    return dict(lam=len(W), one_generation_s=dict(sequential=t_seq, batched=t_gen),
                one_generation_speedup=t_seq / t_gen, max_abs_loss_diff=diff)


def answers(hub, a, device, stages) -> dict:
    "Batched generation of 20 answers of at most 8 tokens (a random model never stops early)."
    from bench.workspace import bbh_like
    from lorahub_nb.evaluate import generate
    test = [e["input"] for e in bbh_like(20, (100, 250), seed=1)]
    name = f"generate {len(test)} answers (8 tokens)"
    stages.run(name, lambda: generate(hub.model, hub.tokenizer, test, max_new_tokens=8))
    return dict(generate_s_per_example=stages.seconds[name] / len(test))


def main(argv=None):
    a = parse(argv)
    from bench.workspace import bbh_like
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here; use --device cpu for the smoke test")
    t_start, stages = time.perf_counter(), Stages(device)
    hub = build_hub(a, device, stages)
    info = dict(device=str(device), name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                shape=a.shape, dtype=str(next(hub.model.parameters()).dtype), n=a.n, budget=a.budget,
                repeats=a.repeats, torch=torch.__version__)
    print(json.dumps(info))
    ex = bbh_like(5)
    out = dict(info, **compare_searches(hub, ex, a, device, stages), **one_generation(hub, ex, a, device, stages),
               **answers(hub, a, device, stages))
    out.update(stages_s=stages.seconds, stages_peak_cuda_mib=stages.peak_mib or None, target_speedup=3.0,
               target_met=out["speedup"] >= 3.0, wall_s=time.perf_counter() - t_start,
               peak_cuda_mib=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None)
    print(stages.table())
    med = out["median_s"]
    print(f"search K={a.budget}, N={a.n}, {a.shape}, {info['dtype']}, {info['name']}: sequential "
          f"{med['sequential']:.3f}s, batched {med['batched']:.3f}s -> {out['speedup']:.2f}x (target >= 3x on a GPU: "
          f"{'met' if out['target_met'] else 'not met'})")
    og = out["one_generation_s"]
    print(f"one generation (λ={out['lam']}): {out['lam']} forwards {og['sequential']:.3f}s, one batched "
          f"{og['batched']:.3f}s -> {out['one_generation_speedup']:.2f}x; max |Δloss| "
          f"{out['max_abs_loss_diff']:.2e}")
    if a.json:
        with open(a.json, "w") as f: f.write(json.dumps(out, indent=1))
    return out


if __name__ == "__main__": main()
