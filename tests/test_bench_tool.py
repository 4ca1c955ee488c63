"""The benchmark is a tool beside the package: `python -m bench` runs (its CPU smoke test here, in a subprocess, its
JSON checked), `pip install lorahub_nb` installs none of it, and the package's command line never imports it."""
import json, os, runpy, subprocess, sys
from pathlib import Path
import setuptools

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def bench(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "bench", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env=ENV, timeout=timeout)


def test_speed_cpu_smoke(tmp_path):
    out = tmp_path / "speed.json"
    p = bench("speed", "--shape", "tiny", "--n-modules", 3, "--budget", 4, "--repeats", 1, "--dtype", "fp32",
              "--no-official", "--time-limit", 0, "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert (r["shape"], r["n_modules"], r["budget"], r["repeats"], r["official"]) == ("tiny", 3, 4, 1, False)
    assert all(r["median"][k] > 0 for k in ("floor", "ours_load", "ours_adapt", "ours_gen", "ours_gen_stop"))
    assert "ours_adapt/floor" in r["ratios"] and "official_search" not in r["median"]
    assert p.stdout.startswith("shape=tiny N=3 K=4 dtype=fp32 repeats=1") and "ratios: " in p.stdout   # the table


def test_commands_and_errors(tmp_path):
    p = bench("--help")
    assert p.returncode == 0 and all(c in p.stdout for c in ("speed", "real-scale", "compile", "gpu-check"))
    p = bench("real-scale", "--bbh-dir", tmp_path, "--cache-dir", tmp_path / "cache")
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("python -m bench real-scale: error: no BBH task files")
    p = bench("speed", "--repeats", 0)
    assert p.returncode == 2 and "expected an integer >= 1, got '0'" in p.stderr


def test_package_leaves_the_benchmark_out(monkeypatch):
    setup = {}
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(setuptools, "setup", lambda **kw: setup.update(kw))
    runpy.run_path(str(ROOT / "setup.py"))
    assert setup["packages"] == ["lorahub_nb"], setup["packages"]
    assert not (ROOT / "lorahub_nb" / "bench.py").exists()
    requires = " ".join(setup["install_requires"])
    assert "sentencepiece" not in requires and "lorahub==" not in requires     # the benchmark's alone: the bench extra
    assert any(r.startswith("sentencepiece") for r in setup["extras_require"]["bench"])
    assert set(setup["extras_require"]["bench"]) <= set(setup["extras_require"]["dev"])   # the tests run 16_bench


def test_cli_imports_no_benchmark():
    probe = "import sys, lorahub_nb.cli; print([m for m in sys.modules if 'bench' in m])"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert p.returncode == 0 and p.stdout == "[]\n", (p.stdout, p.stderr[-2000:])
