"""`python -m bench`: the benchmark's command line (the package's `lorahub-nb` does not import the benchmark)."""
from __future__ import annotations
import argparse, json, sys
from lorahub_nb.cli_args import OneLineParser, ranged

EXAMPLES = {
    "speed": "python -m bench speed --shape tiny --repeats 1 --no-official   # seconds\n"
             "  python -m bench speed --shape base                            # minutes: Flan-T5-base's shape",
    "real-scale": "python -m bench real-scale             # ~20 min on 2 cores; needs $LORAHUB_NB_BBH_DIR or --bbh-dir",
    "compile": "python -m bench compile --shape base   # ~10 min on 2 cores; needs $LORAHUB_NB_BBH_DIR or --bbh-dir",
    "prefix": "python -m bench prefix --task sst2 --rows 40   # minutes; needs $LORAHUB_NB_REALPOOL_DIR and the SmolLM2 wheel",
    "gpu-check": "python -m bench gpu-check --json gpu_check.json   # on a CUDA machine; --help: its own flags",
}


def _print_json(obj):
    "Print a result as JSON (numpy values as numbers, anything else as text)."
    print(json.dumps(obj, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _output_flags(p, what="the measurements"):
    "--out, --json and --quiet, on every command."
    p.add_argument("--out", default=None, help=f"write {what} as JSON here")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    p.add_argument("--quiet", action="store_true", help="print only the result table")


def _speed_parser(add):
    "The `speed` command's flags."
    c = add("speed", "time LoraHub against the forward-pass floor and the official code (bench.speed.run_bench)")
    c.add_argument("--shape", default="base", choices=["tiny", "base", "large"], help="model shape (Flan-T5's)")
    c.add_argument("--n-modules", type=ranged(int, 1), default=20, help="N (default 20)")
    c.add_argument("--budget", type=ranged(int, 1), default=40, help="K (default 40)")
    c.add_argument("--repeats", type=ranged(int, 1), default=3, help="repeats of each measurement (default 3)")
    c.add_argument("--dtype", default="auto", help="our second run's dtype: bf16 where the CPU has it (auto), fp32")
    c.add_argument("--no-official", action="store_true", help="skip the official lorahub package")
    c.add_argument("--time-limit", type=ranged(float, 0), default=540,
                   help="seconds: start no repeat that would end past this (0: no limit)")
    c.add_argument("--ahead", type=ranged(int, 1), default=1,
                   help="> 1: also time composing this many candidates ahead")
    _output_flags(c)


def _real_scale_parser(add):
    "The `real-scale` command's flags."
    c = add("real-scale", "the user's bbh command on planted Flan-T5-large and the 196 published modules, offline")
    c.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    c.add_argument("--bbh-dir", default=None, help="the BBH task files (default $LORAHUB_NB_BBH_DIR)")
    c.add_argument("--cache-dir", default=None, help="where to plant the cache (default: lorahub_nb's cache)")
    _output_flags(c)


def _compile_parser(add):
    "The `compile` command's flags."
    c = add("compile", "the search's loss and a BBH slice, eager against torch.compile (bench.compiled)")
    c.add_argument("--shape", default="base", choices=["tiny", "base", "large"], help="model shape (Flan-T5's)")
    c.add_argument("--dtype", default="auto", help="bf16 where the CPU has it (auto), fp32")
    c.add_argument("--bbh-dir", default=None, help="the BBH task files (default $LORAHUB_NB_BBH_DIR)")
    _output_flags(c)


def _prefix_parser(add):
    "The `prefix` command's flags."
    c = add("prefix", "rank scoring and generation with and without the shared-prefix cache (bench.prefix)")
    c.add_argument("--task", default="sst2", help="a task of the task-pool world (default sst2)")
    c.add_argument("--rows", type=ranged(int, 2), default=40, help="test rows (default 40)")
    _output_flags(c)


def build_parser() -> argparse.ArgumentParser:
    "The `python -m bench` argument parser."
    P = OneLineParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = P.add_subparsers(dest="command", required=True)
    def add(name, help):
        return sub.add_parser(name, help=help, description=help, epilog="example:\n  " + EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    for make in (_speed_parser, _real_scale_parser, _compile_parser, _prefix_parser): make(add)
    add("gpu-check", "batched vs sequential search on a GPU: the flags of bench/gpu_check.py follow")
    return P


def cmd_speed(a):
    "`run_bench` with the command line's settings; its table."
    from .speed import bench_table, run_bench
    res = run_bench(a.shape, a.n_modules, a.budget, a.repeats, a.dtype, official=not a.no_official, out=a.out,
                    progress=not (a.json or a.quiet), time_limit=a.time_limit or None, ahead=a.ahead)
    if a.quiet: print(bench_table(res))
    return res


def cmd_real_scale(a):
    "`run_real_scale` on the device asked for; its table."
    from lorahub_nb.bases import pick_device
    from .real_scale import real_scale_table, run_real_scale
    res = run_real_scale(a.cache_dir, device=str(pick_device(a.device)), out=a.out, bbh_dir=a.bbh_dir,
                         progress=not (a.json or a.quiet))
    if a.quiet: print(real_scale_table(res))
    return res


def cmd_compile(a):
    "`compile_bench` and `compile_e2e`; their table."
    from lorahub_nb.utils import write_json
    from .compiled import compile_bench, compile_e2e, compile_table
    res = dict(loss=compile_bench(a.shape, a.dtype), e2e=compile_e2e(a.bbh_dir, a.shape, a.dtype))
    if a.out: write_json(a.out, res)
    if not a.json: print(compile_table(res["loss"], res["e2e"]))
    return res


def cmd_prefix(a):
    "`prefix_bench` on one task-pool cell's zero-shot and ICL prompts; its table."
    from lorahub_nb.taskpool_world import open_taskpool_world, taskpool_world_dir
    from .prefix import harness_prompts, prefix_bench, prefix_table
    world = open_taskpool_world(taskpool_world_dir())
    model, tok = world.load_base()
    cases = harness_prompts(world, tok, a.task, n_test=a.rows)
    res = prefix_bench(model, tok, {f"{a.task} {k}": v for k, v in cases.items()}, out=a.out)
    if not a.json: print(prefix_table(res))
    return res


COMMANDS = {"speed": cmd_speed, "real-scale": cmd_real_scale, "compile": cmd_compile, "prefix": cmd_prefix}


def main(argv:list=None) -> int:
    "Entry point of `python -m bench`."
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["gpu-check"]:                       # its own flags, parsed by its own parser
        from .gpu_check import main as gpu_main
        gpu_main(argv[1:])
        return 0
    a = build_parser().parse_args(argv)
    try: res = COMMANDS[a.command](a)
    except (ValueError, FileNotFoundError) as e:        # a missing BBH folder, a planted cache of other settings
        print(f"python -m bench {a.command}: error: {e}", file=sys.stderr)
        return 2
    if a.json: _print_json(res)
    return 0


if __name__ == "__main__": sys.exit(main())
