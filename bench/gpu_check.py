#!/usr/bin/env python
"""GPU check: generation-batched LoraHub search vs the sequential loop, at equal evaluations.

On a CUDA machine (the default):   python bench/gpu_check.py
CPU smoke test (seconds):          python bench/gpu_check.py --device cpu --shape tiny --dtype fp32 --budget 12 --repeats 1

Builds a model of Flan-T5-large's shape with random weights (no download), N random rank-16 q/v modules in memory,
5 BBH-length examples (~150 tokens), then times `LoraHub.learn(..., batched=False)` and `batched=True` with the same
optimizer (CMA), seed and budget K, repeated; prints medians, the speed-up, and how closely the two searches agree
(in bf16 the batched pass sums in a different order, so losses may differ in the last bits and the searches can drift).
Also times `hub.losses` for one generation of λ candidates against λ single forward passes.
"""
import argparse, json, statistics, sys, time
import numpy as np
import torch


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize()


def timed(fn, device):
    sync(device); t0 = time.perf_counter(); out = fn(); sync(device)
    return time.perf_counter() - t0, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--shape", default="large", choices=["tiny", "base", "large"])
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp32", "fp16"])
    p.add_argument("--n", type=int, default=20, help="N, modules")
    p.add_argument("--budget", type=int, default=40, help="K, evaluations per search")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None, help="also write the results here")
    a = p.parse_args(argv)
    from transformers import ByT5Tokenizer
    from lorahub_nb.bench import random_t5, lora_shapes, t5_config, bbh_like, LORA
    from lorahub_nb.modules import LoraModule, pick_dtype
    from lorahub_nb.adapt import LoraHub
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available(): sys.exit("no CUDA device here; use --device cpu for the smoke test")
    dtype = pick_dtype(a.dtype, device)
    model = random_t5(a.shape).to(device, dtype)
    shapes, cfg = lora_shapes(t5_config(a.shape)), dict(LORA, base_model_name_or_path=a.shape)
    g = torch.Generator().manual_seed(0)
    mods = [LoraModule(f"mod{i:03d}", "", cfg, {k: torch.randn(s, generator=g) / (s[1] ** 0.5 if "lora_A" in k else 10 * s[1] ** 0.5)
                                                for k, s in shapes.items()}) for i in range(a.n)]
    hub = LoraHub(mods, model=model, tokenizer=ByT5Tokenizer(), progress=False)
    ex = bbh_like(5)
    batch = hub.batch(ex)
    info = dict(device=str(device), name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                shape=a.shape, dtype=str(dtype), n=a.n, budget=a.budget, repeats=a.repeats, torch=torch.__version__)
    print(json.dumps(info))
    learn = lambda batched, seed: hub.learn(ex, budget=a.budget, seed=seed, batched=batched, progress=False)
    learn(False, 99); learn(True, 99)                                   # warm-up (kernels, allocator)
    T = {"sequential": [], "batched": []}
    for r in range(a.repeats):
        res = {}
        for mode in ("sequential", "batched") if r % 2 == 0 else ("batched", "sequential"):  # alternate the order
            t, res[mode] = timed(lambda: learn(mode == "batched", r), device)
            T[mode].append(t)
        rs, rb = res["sequential"], res["batched"]
        vs, vb = np.array([h["value"] for h in rs.history]), np.array([h["value"] for h in rb.history])
        print(f"[{r}] sequential {T['sequential'][-1]:.3f}s  batched {T['batched'][-1]:.3f}s  "
              f"best: seq {rs.value:.5f} batched {rb.value:.5f}  max |Δ first-generation loss| "
              f"{np.abs(vs[:6] - vb[:6]).max():.2e}")
    W = np.random.default_rng(0).uniform(-1.5, 1.5, (4 + int(np.log(a.n)), a.n))
    t_seq = [timed(lambda: [hub.loss(ex, w=w) for w in W], device)[0] for _ in range(a.repeats)]
    t_gen = [timed(lambda: hub.losses(batch, W), device)[0] for _ in range(a.repeats)]
    seq_l = np.array([hub.loss(ex, w=w) for w in W]); gen_l = hub.losses(batch, W)
    med = {k: statistics.median(v) for k, v in T.items()}
    out = dict(info, median_s=med, speedup=med["sequential"] / med["batched"], lam=len(W),
               one_generation_s=dict(sequential=statistics.median(t_seq), batched=statistics.median(t_gen)),
               one_generation_speedup=statistics.median(t_seq) / statistics.median(t_gen),
               max_abs_loss_diff=float(np.abs(seq_l - gen_l).max()), raw=T)
    print(f"search K={a.budget}, N={a.n}, {a.shape}, {dtype}, {info['name']}: sequential {med['sequential']:.3f}s, "
          f"batched {med['batched']:.3f}s -> {out['speedup']:.2f}x")
    print(f"one generation (λ={len(W)}): {len(W)} forwards {out['one_generation_s']['sequential']:.3f}s, one batched "
          f"{out['one_generation_s']['batched']:.3f}s -> {out['one_generation_speedup']:.2f}x; max |Δloss| {out['max_abs_loss_diff']:.2e}")
    if a.json: open(a.json, "w").write(json.dumps(out, indent=1))
    return out


if __name__ == "__main__": main()
