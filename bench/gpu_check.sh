#!/usr/bin/env bash
# One device session's measurements (docs/performance.md, docs/benchmarks.md), written to $OUT:
#   speed-cuda.json  bench/bench_speed.py on the GPU: small and paper presets, 128²..2048², fp32 and bf16
#   log.txt  also bench/bench_train_step.py: the paper preset's pair step in fp32 and bf16 (train.precision),
#            with the pair batches drawn in the training process and by 4 worker processes (train.pair_workers),
#            and drawn with torch on the GPU (train.pair_sampler torch)
#   arena-paper-<dose>.json  the arena's noise2atom rows with the paper preset trained on the GPU
# Usage (repository root, a CUDA machine with torch, scipy, scikit-image, tifffile, typer, rich):
#   OUT=/tmp/gpu bash bench/gpu_check.sh [arena minutes per movie, default 1.0]
set -u
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
OUT=${OUT:-/tmp/gpu}; MIN=${1:-1.0}
mkdir -p "$OUT"
{ date -u; nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__)"; } > "$OUT/log.txt" 2>&1
timeout 170 python3 bench/bench_speed.py --device cuda --presets small,paper --sizes 128,512,1024,2048 \
  --precisions fp32,bf16 --repeats 3 --seconds 1 --train-steps 10 --json "$OUT/speed-cuda.json" >> "$OUT/log.txt" 2>&1
echo "speed rc $?" >> "$OUT/log.txt"
# training steps in float32 and under bfloat16 autocast (train.precision), each with the pair batches
# drawn in the training process, by 4 workers (train.pair_workers) or on the GPU (train.pair_sampler torch);
# taking turns in blocks of 10 steps
timeout 120 python3 bench/bench_train_step.py --preset paper --precisions fp32,bf16 --pair-workers 0,4 \
  --pair-samplers numpy,torch --steps 10 \
  >> "$OUT/log.txt" 2>&1
echo "train-step rc $?" >> "$OUT/log.txt"
for d in 0.5 1 2 5; do
  timeout 110 python3 -m noise2atom.cli benchmark --out "/tmp/arena-paper-$d" --methods noise2atom,noise2atom-support \
    --preset paper --doses "$d" --size 128 --frames 20 --minutes "$MIN" --fig4 none >> "$OUT/log.txt" 2>&1
  echo "arena $d rc $?" >> "$OUT/log.txt"
  cp "/tmp/arena-paper-$d/results.json" "$OUT/arena-paper-$d.json" 2>/dev/null
done
date -u >> "$OUT/log.txt"
