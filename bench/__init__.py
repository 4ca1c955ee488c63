"""The speed benchmark of lorahub_nb: a tool beside the package, not in it (`pip install lorahub_nb` leaves it out).

It plants fake Hugging Face caches, drives the official `lorahub` package, runs stages in child processes and wraps
library functions to time them; `nbs/16_bench.ipynb` is its page, with the measurements. It depends only on the
installed `lorahub_nb` (and, for some parts, on the `bench` extra: `pip install -e ".[bench]"`). From a clone:

    python -m bench speed --shape base          # ours vs the official code and the floor, Flan-T5-base's shape
    python -m bench real-scale                  # the user's `lorahub-nb bbh` at the paper's scale, offline (~20 min)
    python -m bench compile --shape base        # does torch.compile pay? (~10 min)
    python -m bench gpu-check --json out.json   # batched vs sequential search on a GPU (bench/gpu_check.py)

Modules, in the order the page uses them:

    workspace    random models of Flan-T5's shape, random modules like the paper's, BBH-like examples
    timing       clocks and meters: wall time, medians, ratios, peak memory, child processes
    official     the official `lorahub` 0.1.0 driven on a workspace, its phases timed
    speed        `run_bench`: load, search, inference, against the floor and the official code
    plant        a Hugging Face cache planted offline with Flan-T5-large's shape and the published modules' ids
    estimate     from a measured slice to the paper's whole grid
    real_scale   `run_real_scale`: the user's command on the planted cache, stage by stage
    compiled     `compile_bench` and `compile_e2e`: eager against `torch.compile`
    gpu_check    a script of its own: `python bench/gpu_check.py` (or `python -m bench gpu-check`)
"""
