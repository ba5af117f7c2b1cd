"""benchmarks/bench_gpu.py at tiny size on the CPU: it runs end to end and writes its JSON; without CUDA
the full-size run stops at once with a message."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "bench_gpu.py"


def test_bench_gpu_tiny_on_cpu_writes_results(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--device", "cpu", "--tiny",
                           "--preset", "fast", "--modes", "fp32", "amp"], capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "joint epoch over 64 ECGs" in proc.stdout and "results written to" in proc.stdout
    res = json.loads(out.read_text())
    assert res["sizes"] == {"train": 64, "val": 48, "test": 48} and res["environment"]["device"] == "cpu"
    runs = {(r["branch"], r["mode"]) for r in res["epochs"]}
    assert runs == {(b, m) for b in ("rhythm", "morphology", "global") for m in ("fp32", "amp")}
    for r in res["epochs"]:
        assert r["train_ecgs"] == 64 and r["train_ecgs_per_s"] > 0 and 0.0 <= r["val_macro_auroc"] <= 1.0
        assert r["peak_gpu_mb"] is None
    # autocast is a no-op on the CPU, so the two "precisions" train identically there
    for name in ("rhythm", "morphology", "global"):
        assert res["auroc_difference_vs_fp32"][name]["amp"] == pytest.approx(0.0, abs=1e-9)
    pipe = res["pipeline"]
    assert pipe["status"] == "ok", pipe
    assert set(pipe["test_macro_auroc"]) == {"rhythm", "morphology", "global", "fusion", "baseline"}
    assert pipe["timings_s"]["morphology/joint"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_bench_gpu_without_cuda_stops_with_a_message(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr and "--tiny" in proc.stderr
    assert not (tmp_path / "x.json").exists()
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json"), "--device", "cpu"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "add --tiny" in proc.stderr
