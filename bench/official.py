"""The official `lorahub` package (0.1.0, `lorahub/algorithm.py`), driven on a workspace with its phases timed.

Install it with `pip install --no-deps lorahub==0.1.0` (its metadata pulls `dataset`); without it the benchmark
times our side only.
"""
from __future__ import annotations
import contextlib, functools, io, time
import numpy as np
from .timing import tensor_bytes


def official_available() -> bool:
    "Is the official `lorahub` package (and its `datasets` dependency) importable?"
    try: import lorahub.algorithm  # noqa: F401
    except Exception: return False
    return True


@contextlib.contextmanager
def quiet():
    "Silence stdout, stderr and `datasets`' progress bars."
    import datasets
    was = datasets.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()): yield
    finally:
        if was: datasets.enable_progress_bars()


@contextlib.contextmanager
def _official_clock(marks:dict):
    "Wrap `lorahub.algorithm`'s module-level helpers to record phase boundaries in `marks`."
    import lorahub.algorithm as A
    saved = {k: getattr(A, k) for k in ("AutoModelForSeq2SeqLM", "AutoTokenizer", "load_dataset", "get_final_weights",
                                        "load_base_model_and_lora_modules")}
    def span(name, fn):
        @functools.wraps(fn)
        def inner(*a, **kw):
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            marks[name] = marks.get(name, 0.0) + time.perf_counter() - t0
            marks[name + "_end"] = time.perf_counter()
            return out
        return inner
    class _Auto:  # the same class, with a timed from_pretrained
        def __init__(self, cls, name): self.cls, self.name = cls, name
        def from_pretrained(self, *a, **kw): return span(self.name, self.cls.from_pretrained)(*a, **kw)
    A.AutoModelForSeq2SeqLM = _Auto(saved["AutoModelForSeq2SeqLM"], "base")
    A.AutoTokenizer = _Auto(saved["AutoTokenizer"], "tok")
    A.load_dataset = span("data", saved["load_dataset"])
    def final(*a, **kw):
        marks["search_end"] = time.perf_counter()
        return saved["get_final_weights"](*a, **kw)
    A.get_final_weights = final
    def loader(*a, **kw):
        out = saved["load_base_model_and_lora_modules"](*a, **kw)
        marks["cache"] = out[2]
        return out
    A.load_base_model_and_lora_modules = loader
    try: yield marks
    finally:
        for k, v in saved.items(): setattr(A, k, v)


def official_learn(ws:dict, budget:int=40, seed:int=42) -> dict:
    "Run the official `lorahub_learning` on a workspace; its phase times and result."
    import lorahub.algorithm as A
    ex, marks = ws["examples"], {}
    with quiet(), _official_clock(marks):
        t0 = time.perf_counter()
        w, model, tok = A.lorahub_learning([str(m) for m in ws["modules"]], [e["input"] for e in ex],
                                           [e["output"] for e in ex], budget, model_name_or_path=str(ws["base"]),
                                           seed=seed)
        total = time.perf_counter() - t0
    load = marks["data_end"] - marks["data"] - t0 - marks["base"] - marks["tok"]
    cache = marks.pop("cache")
    bank = tensor_bytes(cache)
    memory = dict(cache=bank, composed=bank // len(cache), total=bank + bank // len(cache))  # + one composed a step
    return dict(memory=memory, total=total, base=marks["base"] + marks["tok"], load=load, data=marks["data"],
                search=marks["search_end"] - marks["data_end"], w=np.asarray(w, dtype=np.float64), model=model,
                tokenizer=tok)


def official_generate(model, tokenizer, test:list) -> list:
    "The official `lorahub_inference` (batches of 10, 256 new tokens) on `test`; its predictions."
    import lorahub.algorithm as A
    with quiet():
        preds, _ = A.lorahub_inference([e["input"] for e in test], model, tokenizer, 10, [e["output"] for e in test])
    return preds
