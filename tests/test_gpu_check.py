"""bench/gpu_check.py cannot rot: its CPU smoke test runs here, in a subprocess, and its JSON is checked."""
import json, math, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_cpu_smoke(tmp_path):
    out = tmp_path / "gpu_check.json"
    cmd = [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--shape", "tiny",
           "--dtype", "fp32", "--budget", "12", "--repeats", "1", "--json", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert (r["device"], r["shape"], r["budget"], r["repeats"], r["n"]) == ("cpu", "tiny", 12, 1, 20)
    assert r["dtype"] == "torch.float32" and r["peak_cuda_mib"] is None and r["stages_peak_cuda_mib"] is None
    assert set(r["median_s"]) == {"sequential", "batched"} and all(v > 0 for v in r["median_s"].values())
    assert abs(r["speedup"] - r["median_s"]["sequential"] / r["median_s"]["batched"]) < 1e-9
    assert r["target_met"] == (r["speedup"] >= r["target_speedup"] == 3.0)
    stages = r["stages_s"]
    for k in ("build the model", "attach N modules", "search K=12, sequential", "search K=12, batched",
              "generate 20 answers (8 tokens)"):
        assert stages[k] > 0, k
    assert r["lam"] == 4 + int(3 * math.log(20)) and r["one_generation_speedup"] > 0
    assert r["max_abs_loss_diff"] < 1e-3          # fp32: the batched pass gives the same losses
    assert "search K=12, N=20, tiny" in p.stdout and "stage (all calls)" in p.stdout
