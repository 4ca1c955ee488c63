"""`run_real_scale`: the user's `lorahub-nb bbh` on the planted cache, every stage in a fresh Python, timed and
metered, then carried over to the paper's grid."""
from __future__ import annotations
import contextlib, functools, importlib, json, os, random, shutil, subprocess, sys, time, warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
import torch
from lorahub_nb.adapt import LoraHub
from lorahub_nb.evaluate import count_tokens
from lorahub_nb.objective import decoder_inputs
from lorahub_nb.utils import write_json
from .estimate import estimate_lines, grid_estimate, padded_batches, task_tokens
from .plant import BASE_ID, REVISION, bbh_inputs, offline_cache, plant_real_scale, real_scale_dir, repo_folder
from .timing import cuda_peak_mib, median, peak_rss_mib, run_child, sync, timed
from .workspace import bbh_folder

TOOL_ROOT = Path(__file__).resolve().parents[1]   # the folder holding `bench/`: a child process imports it from there


def _clock(fn, marks:dict, name:str):
    "`fn`, adding its seconds, calls and the peak RSS after it to `marks[name]`."
    @functools.wraps(fn)
    def timed(*args, **kw):
        t0 = time.perf_counter()
        try: return fn(*args, **kw)
        finally:
            sync()
            m = marks.setdefault(name, dict(s=0.0, calls=0))
            m["s"] += time.perf_counter() - t0
            m["calls"] += 1
            m["peak_rss_mib"] = peak_rss_mib()
    return timed


@contextlib.contextmanager
def clocked(marks:dict, *names): # 'lorahub_nb.bases.load_base', ...
    "Time every call of these functions into `marks`, wherever lorahub_nb's modules imported them."
    saved = []
    for name in names:
        mod, fn = name.rsplit(".", 1)
        orig = getattr(importlib.import_module(mod), fn)
        timed = _clock(orig, marks, fn)
        for m in list(sys.modules.values()):
            if getattr(m, "__name__", "").startswith("lorahub_nb") and getattr(m, fn, None) is orig:
                saved.append((m, fn, orig))
                setattr(m, fn, timed)
    try: yield marks
    finally:
        for m, fn, orig in saved: setattr(m, fn, orig)


@contextlib.contextmanager
def watching_search(marks:dict):
    "Time each `LoraHub.learn` (seconds, evaluations) into `marks['search']`; keep the last hub and examples."
    orig = LoraHub.learn
    def learn(self, examples, *args, **kw):
        t0 = time.perf_counter()
        res = orig(self, examples, *args, **kw)
        sync()
        marks.setdefault("search", []).append(dict(s=time.perf_counter() - t0, evals=len(res.history)))
        marks["last_search"] = (self, examples)
        return res
    LoraHub.learn = learn
    try: yield marks
    finally: LoraHub.learn = orig


@dataclass(frozen=True)
class RealScale:
    "What the real-scale run measures: a slice of the user's BBH run, then screening and retrieval over the pool."
    tasks: tuple = ("disambiguation_qa",)  # the slice's tasks (this one's few-shot batch is BBH's median, 555 tokens)
    seeds: tuple = (1,)
    methods: tuple = ("zero_shot", "lorahub_ngopt")
    limit: int = 20  # test examples per task and seed
    n_modules: int = 20  # N drawn per seed
    budget: int = 40  # K, search evaluations
    shape: str = "large"  # `SHAPES`: the base model's configuration
    pool: int = None  # modules planted, screened and retrieved from (None: all of the catalogue)
    chunk: int = 20  # loss screening: modules in memory at once
    samples: int = 3  # embedding retrieval: sample inputs per module
    help_repeats: int = 3  # `lorahub-nb --help` timed this many times (median; 0: not timed)


def decode_step_s(model, tokenizer, prompts:list, steps:int=8) -> float:
    "Seconds per greedy decoding step for one batch of `prompts`: (1 + `steps` new tokens − 1 new token) / `steps`."
    from lorahub_nb.objective import pad_batch, pad_id
    device = next(model.parameters()).device
    ids, mask = pad_batch(tokenizer(list(prompts))["input_ids"], pad_id(tokenizer))
    def run(k):
        sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=k,
                           min_new_tokens=k, do_sample=False, num_beams=1)
        sync()
        return time.perf_counter() - t0
    run(1)
    return max(0.0, (run(1 + steps) - run(1)) / steps)


def seconds_per_pass(model, batch:dict, n:int=3) -> float:
    "Median seconds of one bare forward pass of `model` on `batch` (after a warm-up), over `n` passes."
    dec = decoder_inputs(model, batch)
    def one():
        sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=dec)
        sync()
        return time.perf_counter() - t0
    one()
    return median([one() for _ in range(n)])


def bbh_argv(spec:dict) -> list:
    "The `lorahub-nb bbh` command line of the slice: the user's, on fewer tasks, seeds and test examples."
    from lorahub_nb.modules import catalogue
    s, pool = spec["settings"], spec["pool"]
    mods = [f"random:{len(pool)}"] if sorted(pool) == sorted(catalogue()) else pool
    return ["bbh", "--bbh-dir", spec["bbh_dir"], "--modules", *mods, "--n-modules", str(s["n_modules"]),
            "--seeds", *map(str, s["seeds"]), "--tasks", *s["tasks"], "--methods", *s["methods"],
            "--budget", str(s["budget"]), "--limit", str(s["limit"]), "--device", spec["device"], "--out", spec["rows"]]


def _run_slice(spec:dict) -> str:
    "Run the slice through `lorahub-nb bbh`'s entry point, `cli.main`; the command line it ran."
    from lorahub_nb.cli import main
    argv = bbh_argv(spec)
    rc = main(argv)
    if rc: raise RuntimeError(f"lorahub-nb bbh exited with {rc}")
    return "lorahub-nb " + " ".join(a if a != spec["bbh_dir"] else "BBH" for a in argv[:argv.index("--out")])


def first_cell(spec:dict, tokenizer):
    "The slice's first (task, seed), prepared as the harness prepares it."
    from lorahub_nb.bbh import load_bbh
    from lorahub_nb.harness import prepare_cell
    from lorahub_nb.protocol import Protocol
    s = spec["settings"]
    data = load_bbh(spec["bbh_dir"], s["tasks"][:1])
    return prepare_cell(data, s["tasks"][0], s["seeds"][0], Protocol(limit=s["limit"]), tokenizer)


def _generation_costs(hub, spec:dict, rows:list) -> dict:
    "α (seconds per padded input token) and β (seconds per decoding step of a batch) of the slice's generation."
    from lorahub_nb.evaluate import default_max_tokens
    cell = first_cell(spec, hub.tokenizer)
    prompts = [e["input"] for e in cell.test]
    max_tokens = default_max_tokens(hub.model, hub.device)
    lengths = count_tokens(hub.tokenizer, prompts)
    batches = padded_batches(lengths, max_tokens)
    longest = sorted(range(len(prompts)), key=lambda i: -lengths[i])[:batches[0][0]]
    beta = decode_step_s(hub.model, hub.tokenizer, [prompts[i] for i in longest])
    mine = [r for r in rows if r["task"] == cell.task and r["seed"] == cell.seed]
    steps = len(batches) * beta * cell.max_new_tokens
    alpha = median([max(0.0, r["answer_s"] - steps) / sum(t for _, t in batches) for r in mine])
    return dict(alpha=alpha, beta=beta, max_tokens=max_tokens, max_new=cell.max_new_tokens,
                answer_s_per_example={r["method"]: r["answer_s"] / r["n_test"] for r in mine})


def slice_stage(spec:dict) -> dict:
    "The slice, timed by stage: base load, module reads, each search, generation and scoring."
    from lorahub_nb.results import read_results
    marks = {}
    with clocked(marks, "lorahub_nb.bases.load_base", "lorahub_nb.modules.load_modules"), watching_search(marks):
        via = _run_slice(spec)
    rss_run, rows = peak_rss_mib(), read_results(spec["rows"])[1]
    hub, shots = marks.pop("last_search")
    batch = hub.batch(shots)
    floor, search = seconds_per_pass(hub.model, batch), marks.pop("search")
    per_pass = median([s["s"] / s["evals"] for s in search])
    return dict(via=via, rows=len(rows), base_load=marks["load_base"], modules_read=marks["load_modules"],
                search_s=median([s["s"] for s in search]), search_evals=search[0]["evals"], search_s_per_pass=per_pass,
                floor_s_per_pass=floor, search_over_floor=per_pass / floor, pass_tokens=int(batch["input_ids"].numel()),
                select_s=median([r["select_s"] for r in rows]), score_s=sum(r["score_s"] for r in rows),
                generation=_generation_costs(hub, spec, rows), peak_rss_mib_run=rss_run)


def screening_stage(spec:dict) -> dict:
    "Loss screening of the whole pool (`baselines.module_losses`, streamed in chunks), timed."
    from lorahub_nb.baselines import module_losses
    marks = {}
    with clocked(marks, "lorahub_nb.bases.load_base"):
        hub = LoraHub(spec["pool"][:1], device=spec["device"], progress=False)
    rss_base, shots = peak_rss_mib(), first_cell(spec, hub.tokenizer).shots
    t0 = time.perf_counter()
    losses = module_losses(hub, spec["pool"], shots, chunk=spec["settings"]["chunk"], progress=True)
    sync()
    s = time.perf_counter() - t0
    return dict(base_load=marks["load_base"], peak_rss_mib_after_base=rss_base, modules=len(losses), screening_s=s,
                s_per_module=s / len(losses))


def retrieval_stage(spec:dict) -> dict:
    "Embedding retrieval over the whole pool with the base model's encoder, timed."
    import lorahub_nb.bases as B
    from lorahub_nb.baselines import get_embedder, select_modules
    marks = {}
    with clocked(marks, "lorahub_nb.bases.load_base"):
        model, tok = B.load_base(BASE_ID, spec["device"])
    rss_base, shots = peak_rss_mib(), first_cell(spec, tok).shots
    emb = get_embedder("base", (model, tok))
    t0 = time.perf_counter()
    chosen = select_modules(spec["pool"], shots, "embedding", spec["settings"]["n_modules"], embedder=emb,
                            samples=spec["samples"])
    sync()
    s = time.perf_counter() - t0
    return dict(base_load=marks["load_base"], peak_rss_mib_after_base=rss_base, modules=len(spec["pool"]),
                chosen=len(chosen), retrieval_s=s, s_per_module=s / len(spec["pool"]), embedder=emb.name)


def module_samples_for(pool:list, texts:list, k:int=3, seed:int=0) -> dict:
    "Module id -> `k` sample inputs drawn from `texts` (stand-ins for each module's training inputs)."
    texts = random.Random(seed).sample(list(texts), len(texts))
    return {m: [texts[(i * k + j) % len(texts)] for j in range(k)] for i, m in enumerate(pool)}


STAGES = dict(slice=slice_stage, screening=screening_stage, retrieval=retrieval_stage)


def measure_stage(spec:dict, import_s:float=0.0) -> dict:
    "Run the stage `spec` names; what it measured, with the process's peak memory so far."
    res = STAGES[spec["kind"]](spec)
    return dict(res, import_s=import_s, peak_rss_mib=peak_rss_mib(), cuda_peak_mib=cuda_peak_mib())


def stage_main(spec_file, import_s:float):
    "A child process's entry: run the stage its spec file names; write what it measured where the spec says."
    spec = json.loads(Path(spec_file).read_text())
    warnings.simplefilter("ignore")
    write_json(spec["result"], measure_stage(spec, import_s))


_CHILD = ("import sys, time\nt0 = time.perf_counter()\nimport lorahub_nb.cli, lorahub_nb.harness\n"
          "t = time.perf_counter() - t0\nfrom bench.real_scale import stage_main\nstage_main(sys.argv[1], t)\n")


def _child_env(hub:Path) -> dict:
    "A stage child's environment: offline, the planted cache `hub`, and `bench` importable from anywhere."
    path = os.pathsep.join(filter(None, [str(TOOL_ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub), PYTHONPATH=path)


def _write_spec(kind:str, work:Path, spec:dict) -> Path:
    "Write a stage's spec file into `work`; its path."
    path = work / f"{kind}.spec.json"
    path.write_text(json.dumps(dict(spec, kind=kind, result=str(work / f"{kind}.json")), indent=1))
    return path


def run_stage(kind:str, work:Path, hub:Path, spec:dict, isolate:bool=True) -> dict:
    "Run one stage against the planted cache `hub`, in a fresh Python (`isolate`) or in this one; its measurements."
    path, log = _write_spec(kind, work, spec), work / f"{kind}.log"
    if isolate:
        proc = run_child([sys.executable, "-c", _CHILD, str(path)], _child_env(hub), log)
        if proc["rc"]: raise RuntimeError(f"the {kind} stage failed (exit {proc['rc']}); see its log, {log}")
        return dict(json.loads((work / f"{kind}.json").read_text()), process=proc)
    t0 = time.perf_counter()
    with offline_cache(hub), open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        res = measure_stage(json.loads(path.read_text()))
    return dict(res, process=dict(rc=0, wall_s=time.perf_counter() - t0))


def help_seconds(repeats:int=3) -> dict:
    "Median wall time of `lorahub-nb --help` (the console script next to this Python), and its exit code."
    script = Path(sys.executable).parent / "lorahub-nb"
    if not repeats or not script.exists(): return dict(s=None, rc=None)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = subprocess.run([str(script), "--help"], capture_output=True, text=True)
        runs.append(time.perf_counter() - t0)
    return dict(s=median(runs), rc=p.returncode)


def _measured(sl:dict, n_modules:int) -> dict:
    "What `grid_estimate` needs, from the slice's measurements (`n_modules` read per draw)."
    g = sl["generation"]
    return dict(pass_s_per_token=sl["floor_s_per_pass"] / sl["pass_tokens"], search_over_floor=sl["search_over_floor"],
                alpha=g["alpha"], beta=g["beta"], max_tokens=g["max_tokens"],
                load_s=sl["import_s"] + sl["base_load"]["s"],
                modules_read_s=sl["modules_read"]["s"] / n_modules)


def _planted_tokenizer(hub:Path):
    "The planted base model's tokenizer."
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(repo_folder(hub, BASE_ID) / "snapshots" / REVISION)


def run_real_scale(cache_dir=None, # the project's cache (default: `utils.cache_root()`), planted under `real-scale/`
                   settings:RealScale=None, # what to measure (default: `RealScale()`)
                   device:str="cpu", out=None, # write the result as JSON here (default: next to the planted cache)
                   bbh_dir=None, # BBH task files (default: $LORAHUB_NB_BBH_DIR)
                   isolate:bool=True, # each stage in a fresh Python (clean peak memory); False: in this one
                   progress:bool=True, **changes) -> dict: # settings to change, e.g. limit=5
    "Plant Flan-T5-large and the published modules in a HF cache, run a slice of `lorahub-nb bbh` on it, measure all."
    from lorahub_nb.bbh import load_bbh
    from lorahub_nb.modules import catalogue
    st, bbh_dir, t_start = replace(settings or RealScale(), **changes), bbh_folder(bbh_dir), time.perf_counter()
    say = (lambda *a: print(*a, flush=True)) if progress else (lambda *a: None)
    root, pool, texts = real_scale_dir(cache_dir, st.shape), catalogue()[:st.pool], bbh_inputs(bbh_dir)
    build_s, hub = timed(plant_real_scale, root, texts, st.shape, pool, progress)
    res = dict(settings=asdict(st), device=device, threads=torch.get_num_threads(), cpus=os.cpu_count(),
               load_average=[os.getloadavg()[0]], build_s=build_s)
    work = root / "last-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    write_json(work / "samples.json", module_samples_for(pool, texts, st.samples))
    spec = dict(settings=asdict(st), bbh_dir=str(bbh_dir), pool=pool, device=device, rows=str(work / "rows.jsonl"),
                samples=str(work / "samples.json"))
    for kind in STAGES:
        res[kind] = run_stage(kind, work, hub, spec, isolate)
        say(f"{kind}: {res[kind]['process']['wall_s']:.0f} s, peak RSS {res[kind]['peak_rss_mib']:,.0f} MiB")
    res["help"] = help_seconds(st.help_repeats)
    tasks = task_tokens(load_bbh(bbh_dir), _planted_tokenizer(hub), st.seeds[0])
    measured = _measured(res["slice"], st.n_modules)
    res["estimate"] = grid_estimate(tasks, measured, n_modules=st.n_modules, budget=st.budget)
    res["wall_s"], res["load_average"] = time.perf_counter() - t_start, res["load_average"] + [os.getloadavg()[0]]
    write_json(out or root / "real-scale.json", res)
    if progress: print(real_scale_table(res))
    return res


def _mib(x) -> str:
    "MiB as the table prints them; empty for None (no GPU)."
    return "" if x is None else f"{x:,.0f} MiB"


def _stage_rows(res:dict) -> list:
    "(what, time, memory) rows of a `run_real_scale` result."
    st, sl, sc, rt = res["settings"], res["slice"], res["screening"], res["retrieval"]
    help_s = "not run" if res["help"]["s"] is None else "failed" if res["help"]["rc"] else f"{res['help']['s']:.2f} s"
    per_example = sl["generation"]["answer_s_per_example"]
    return [("build the planted cache (once)", f"{res['build_s']:.1f} s", ""),
            ("lorahub-nb --help", help_s, ""),
            ("slice: import", f"{sl['import_s']:.1f} s", ""),
            ("  load the base model", f"{sl['base_load']['s']:.1f} s", _mib(sl["base_load"]["peak_rss_mib"])),
            (f"  read the {st['n_modules']} drawn modules (.bin)", f"{sl['modules_read']['s']:.2f} s", ""),
            (f"  search, K = {sl['search_evals']}", f"{sl['search_s']:.1f} s", ""),
            ("    per pass: search / floor (ratio)", f"{sl['search_s_per_pass']:.2f} / {sl['floor_s_per_pass']:.2f} s",
             f"{sl['search_over_floor']:.2f}"),
            *[(f"  generation, {m}", f"{s:.2f} s/example", "") for m, s in per_example.items()],
            ("  scoring, all rows", f"{sl['score_s'] * 1e3:.1f} ms", ""),
            ("  the whole process", f"{sl['process']['wall_s']:.1f} s", _mib(sl["peak_rss_mib"])),
            (f"loss screening, {sc['modules']} modules ({st['chunk']} at a time)", f"{sc['screening_s']:.1f} s",
             _mib(sc["peak_rss_mib"])),
            ("  per module; the base model alone", f"{sc['s_per_module']:.2f} s", _mib(sc["peak_rss_mib_after_base"])),
            (f"embedding retrieval, {rt['modules']} modules ({st['samples']} inputs each)",
             f"{rt['retrieval_s']:.1f} s", _mib(rt["peak_rss_mib"]))]


def real_scale_table(res:dict) -> str:
    "The real-scale run as a text table: seconds and peak memory per stage, then the paper-grid estimate."
    st, rows = res["settings"], _stage_rows(res)
    cuda = [res[k].get("cuda_peak_mib") for k in STAGES]
    if cuda[0] is not None:
        rows.append(("peak CUDA memory: slice, screening, retrieval", "", " / ".join(map(_mib, cuda))))
    w = max(len(r[0]) for r in rows)
    lines = [f"real scale: {st['shape']} shape, random weights, {res['screening']['modules']} modules planted in a "
             f"Hugging Face cache; {res['device']}, {res['threads']} threads; slice: {', '.join(st['tasks'])}, seed "
             f"{st['seeds'][0]}, {st['limit']} test examples, N = {st['n_modules']}",
             f"{'stage':{w}s}  {'time':>18s}  {'peak RSS':>10s}"]
    lines += [f"{a:{w}s}  {b:>18s}  {c:>10s}" for a, b, c in rows]
    start, end = res["load_average"]
    last = (f"whole run: {res['wall_s'] / 60:.1f} min; load average {start:.1f} at the start, {end:.1f} at the end "
            f"({res['cpus']} CPUs; the run itself adds about {res['threads']})")
    return "\n".join(lines + estimate_lines(res["estimate"]) + [last])
