"""Running the prompts' shared prefix once (`evaluate.shared_prefix`): rank scoring and generation with and without it,
timed side by side on the prompts a harness cell reads, with how far the scores and the answers agree."""
from __future__ import annotations
import platform, time
import numpy as np
import torch
from lorahub_nb.evaluate import generate, option_logprobs, shared_prefix
from lorahub_nb.objective import encode_prompt, input_limit
from lorahub_nb.utils import cpu_name, write_json


def harness_prompts(world, tok, task:str, methods=("zero_shot", "icl"), seed:int=0, n_test:int=40) -> dict:
    "Method -> (prompts, options, max_new_tokens) of one harness cell of `world`, as `run_one` would build them."
    from lorahub_nb.harness import prepare_cell
    from lorahub_nb.methods import get_method
    from lorahub_nb.protocol import Protocol
    from lorahub_nb.world import world_data
    protocol = Protocol(limit=n_test)
    cell = prepare_cell(world_data(world, n_test + protocol.shots), task, seed, protocol, tok)
    plans = {m: get_method(m)(None, cell.shots, protocol.search) for m in methods}
    return {m: (cell.prompts(p), cell.options, cell.max_new_tokens) for m, p in plans.items()}


def _timed(fn):
    "(result, seconds) of `fn()`."
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def prefix_case(model, tok, prompts:list, options:list, max_new_tokens:int) -> dict:
    "One set of prompts: shared and total tokens, seconds of each path, and how far the two paths agree."
    enc = encode_prompt(tok, prompts, True, input_limit(model))
    res = dict(n=len(prompts), shared_tokens=shared_prefix(enc), mean_tokens=float(np.mean([len(e) for e in enc])))
    for kind, on in (("plain", False), ("cached", True)):   # plain first: a cold cache would favour the second
        res[f"rank_{kind}"], res[f"rank_{kind}_s"] = _timed(lambda: option_logprobs(model, tok, prompts, options,
                                                                                    prefix_cache=on))
        res[f"gen_{kind}"], res[f"gen_{kind}_s"] = _timed(lambda: generate(model, tok, prompts, max_new_tokens,
                                                                           prefix_cache=on))
    a, b = res.pop("rank_plain"), res.pop("rank_cached")
    res["max_abs_logprob_diff"] = float(max(np.abs(x - y).max() for x, y in zip(a, b)))
    res["same_rank_choice"] = sum(int(np.argmax(x) == np.argmax(y)) for x, y in zip(a, b))
    ga, gb = res.pop("gen_plain"), res.pop("gen_cached")
    res["same_answer"] = sum(x == y for x, y in zip(ga, gb))
    return res


def prefix_bench(model, tok, cases:dict, out=None) -> dict:
    "`prefix_case` on each named set of prompts (name -> (prompts, options, max_new_tokens)); optionally saved."
    with torch.inference_mode():
        res = {name: prefix_case(model, tok, *case) for name, case in cases.items()}
    res = dict(cases=res, cpu=cpu_name(), threads=torch.get_num_threads(), torch=torch.__version__,
               python=platform.python_version())
    if out: write_json(out, res)
    return res


def prefix_table(res:dict) -> str:
    "Markdown: per case, tokens shared, seconds of each path and the ratio, and the agreement."
    lines = ["| prompts | rows | tokens (shared / mean) | rank: plain / cached | × | generate: plain / cached | × "
             "| same choice | same answer | max \\|Δ log p\\| |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in res["cases"].items():
        lines.append(f"| {name} | {c['n']} | {c['shared_tokens']} / {c['mean_tokens']:.0f} | "
                     f"{c['rank_plain_s']:.1f} s / {c['rank_cached_s']:.1f} s | {c['rank_plain_s'] / c['rank_cached_s']:.1f} | "
                     f"{c['gen_plain_s']:.1f} s / {c['gen_cached_s']:.1f} s | {c['gen_plain_s'] / c['gen_cached_s']:.1f} | "
                     f"{c['same_rank_choice']} of {c['n']} | {c['same_answer']} of {c['n']} | {c['max_abs_logprob_diff']:.1e} |")
    return "\n".join(lines)
