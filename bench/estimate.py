"""Carrying a measured slice over to the paper's grid: what each task costs, and the hours the grid would take."""
from __future__ import annotations
from lorahub_nb.evaluate import count_tokens, icl_prompt, token_batches
from lorahub_nb.methods import PAPER_METHODS, get_method


def padded_batches(lengths:list, max_tokens:int) -> list:
    "(inputs, padded tokens) of each batch `evaluate.generate` forms from inputs of these token lengths."
    order = sorted(lengths, reverse=True)
    return [(len(b), len(b) * order[b[0]]) for b in token_batches(order, max_tokens, 64)]


def generation_seconds(lengths:list, max_new:int, alpha:float, # seconds per padded input token
                       beta:float, # seconds per decoding step of one batch
                       max_tokens:int) -> float:
    "Estimated seconds to answer inputs of these token lengths with `max_new` decoding steps per batch."
    return sum(alpha * tokens + beta * max_new for _, tokens in padded_batches(lengths, max_tokens))


def task_tokens(data, tokenizer, seed:int=1, shots:int=5, margin:int=2, max_input:int=2048) -> dict:
    "Per task, what its cost depends on: test prompts' tokens (zero-shot and ICL), few-shot batch tokens, answer steps."
    from lorahub_nb.bbh import split_task
    from lorahub_nb.bbh import answer_length
    out = {}
    for t in data:
        adapt, test = split_task(data[t], shots, seed, t)
        few = [{"input": data.prompt(t, e["input"]), "output": e["target"]} for e in adapt]
        queries = [data.prompt(t, e["input"]) for e in test]
        icl = count_tokens(tokenizer, [icl_prompt(few, q) for q in queries])
        out[t] = dict(n_test=len(test), zero_shot=count_tokens(tokenizer, queries),
                      icl=[min(n, max_input) for n in icl],
                      shot_tokens=len(few) * max(count_tokens(tokenizer, [e["input"] for e in few])),
                      max_new=answer_length(data, t, tokenizer, margin))
    return out


def _passes(method:str, search_over_floor:float, n_modules:int, budget:int) -> float:
    "Few-shot forward passes a method makes (`Method.passes`); a search's counted in floor passes."
    m = get_method(method)
    return m.passes(n_modules, budget) * (search_over_floor if m.cost == "budget" else 1)


def grid_estimate(tasks:dict, # `task_tokens`
                  m:dict, # measured: pass_s_per_token, search_over_floor, alpha, beta, max_tokens, load_s, ...
                  seeds:int=5, methods=PAPER_METHODS, n_modules:int=20, budget:int=40) -> dict:
    "Seconds the paper's grid would take on this machine: by method, and by stage (adapt, generation, loading)."
    by_method, stage = dict.fromkeys(methods, 0.0), dict(adapt=0.0, generation=0.0)
    for s in tasks.values():
        pass_s = m["pass_s_per_token"] * s["shot_tokens"]
        for name in methods:
            adapt = _passes(name, m["search_over_floor"], n_modules, budget) * pass_s
            prompts = s["icl" if get_method(name).shots_in_prompt else "zero_shot"]
            gen = generation_seconds(prompts, s["max_new"], m["alpha"], m["beta"], m["max_tokens"])
            by_method[name] += seeds * (adapt + gen)
            stage["adapt"] += seeds * adapt
            stage["generation"] += seeds * gen
    stage["loading"] = m["load_s"] + seeds * n_modules * m["modules_read_s"]
    return dict(by_method=by_method, by_stage=stage, total_s=sum(stage.values()), tasks=len(tasks), seeds=seeds)


def estimate_lines(e:dict) -> list:
    "The paper grid's estimated hours, by stage and by method."
    h = lambda s: f"{s / 3600:.1f} h"
    by_method = sorted(e["by_method"].items(), key=lambda kv: -kv[1])
    return [f"paper grid, {e['tasks']} tasks × {e['seeds']} seeds × {len(by_method)} methods, estimated here: "
            f"{h(e['total_s'])}",
            "  by stage: " + ", ".join(f"{k} {h(v)}" for k, v in e["by_stage"].items()),
            "  by method: " + ", ".join(f"{k} {h(v)}" for k, v in by_method)]
