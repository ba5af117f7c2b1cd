#!/usr/bin/env bash
# One short GPU session (a CUDA machine that has torch, numpy, pandas, scipy, scikit-learn, matplotlib):
#   bash benchmarks/gpu_session.sh OUT_DIR [PTBXL_ROOT] [WHEEL_DIR]
# 1. benchmarks/bench_gpu.py: one paper-preset joint epoch at PTB-XL size per branch and precision;
# 2. the fast pipeline on PTBXL_ROOT on CUDA; 3. the paper preset on PTBXL_ROOT on CUDA.
# Each step has its own time limit; the summaries and logs land in OUT_DIR. WHEEL_DIR: wheels of the
# project's pure-Python dependencies (wfdb, soundfile, neurokit2, PyWavelets) for a machine offline.
set -u
OUT=${1:?OUT_DIR}; ROOT=${2:-${PROTOECG_DATA:-}}; WHL=${3:-}
mkdir -p "$OUT"
if [ -n "$WHL" ]; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site "$WHL"/*.whl && export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PROTOECG_CACHE=/tmp/protoecg-cache
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python3 -c "import sys, torch, numpy, pandas, scipy, sklearn, wfdb, neurokit2; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
t=$(date +%s)
timeout 260 python3 benchmarks/bench_gpu.py --out "$OUT/bench_gpu.json" --budget-s 200 --skip-pipeline \
  --branches morphology rhythm global 2>&1 | tee "$OUT/bench_gpu.log"
echo "bench_gpu: $(( $(date +%s) - t )) s"
[ -n "$ROOT" ] || exit 0
for preset in fast paper; do
  t=$(date +%s)
  limit=$([ $preset = fast ] && echo 90 || echo 170)
  timeout $limit python3 -m protoecg_lib pipeline --root "$ROOT" --preset $preset --device cuda --out /tmp/run-$preset \
    2>&1 | tee "$OUT/pipeline_$preset.log" | tail -25
  echo "pipeline $preset: rc ${PIPESTATUS[0]}, $(( $(date +%s) - t )) s" | tee -a "$OUT/pipeline_$preset.log"
  for f in summary.json manifest.json metrics.jsonl; do
    [ -f /tmp/run-$preset/$f ] && cp /tmp/run-$preset/$f "$OUT/${preset}_$f"
  done
done
exit 0
