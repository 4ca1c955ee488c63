"""Clocks and meters: wall time of a call, medians and ratios, peak memory, a child process's run."""
from __future__ import annotations
import gc, resource, statistics, subprocess, time
from pathlib import Path
import numpy as np
import torch


def timed(fn, *args, **kw):
    "(seconds, result) of `fn(*args, **kw)`, after a garbage collection."
    gc.collect()
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def median(xs) -> float:
    "The median of `xs`; NaN for none."
    return float(statistics.median(xs)) if xs else float("nan")


def ratio(a, b) -> float:
    "a / b; NaN where either is NaN or b is 0 (a part that did not run)."
    return a / b if a == a and b == b and b else float("nan")


def rel_diff(a, b) -> float:
    "Largest relative difference between two lists of losses."
    return float(np.max(np.abs(np.subtract(a, b)) / np.maximum(np.abs(b), 1e-12)))


def sync():
    "Wait for the GPU's queued work (when CUDA is in use), so that a clock read next counts it."
    if torch.cuda.is_available() and torch.cuda.is_initialized(): torch.cuda.synchronize()


def tensor_bytes(*objs) -> int:
    "Bytes of the distinct storages of the tensors found in `objs` (tensors, dicts, lists, LoraModules)."
    seen, total = set(), 0
    def walk(o):
        nonlocal total
        if torch.is_tensor(o):
            s = o.untyped_storage()
            if s.data_ptr() not in seen:
                seen.add(s.data_ptr())
                total += s.nbytes()
        elif isinstance(o, dict): [walk(v) for v in o.values()]
        elif isinstance(o, (list, tuple)): [walk(v) for v in o]
        elif hasattr(o, "state_dict") and isinstance(getattr(o, "state_dict"), dict): walk(o.state_dict)
    for o in objs: walk(o)
    return total


def peak_rss_mib() -> float:
    "This process's peak resident memory since it started its program, in MiB (`VmHWM`; else `getrusage`'s)."
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cuda_peak_mib():
    "Peak CUDA memory allocated by this process, in MiB (None without a GPU)."
    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def run_child(args:list, env:dict, log) -> dict:
    "Run a command with its output into `log`: exit code and wall seconds."
    t0 = time.perf_counter()
    with open(log, "w") as f: rc = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    return dict(rc=rc, wall_s=time.perf_counter() - t0)
