#!/usr/bin/env bash
# Tile side and batch on the GPU (docs/performance.md): denoising frames/s of the shipped default model
# (small preset, trained weights, so output differences between settings mean something) and of the
# paper preset (fresh weights: speed only), written to $OUT.
#   OUT=/tmp/gpu bash bench/gpu_tiles.sh
set -u
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
OUT=${OUT:-/tmp/gpu}
mkdir -p "$OUT"
{ date -u; nvidia-smi -L; } > "$OUT/log.txt" 2>&1
timeout 200 python3 bench/bench_speed.py --device cuda --presets small --model default \
  --sizes 128,512,1024,2048 --tiles preset,256,512 --batches preset,32 --repeats 3 --seconds 1 \
  --train-steps 0 --json "$OUT/tiles-small.json" >> "$OUT/log.txt" 2>&1
echo "small rc $?" >> "$OUT/log.txt"
timeout 120 python3 bench/bench_speed.py --device cuda --presets paper --sizes 512,1024,2048 \
  --tiles preset,512 --batches preset,16 --repeats 3 --seconds 1 --train-steps 0 \
  --json "$OUT/tiles-paper.json" >> "$OUT/log.txt" 2>&1
echo "paper rc $?" >> "$OUT/log.txt"
date -u >> "$OUT/log.txt"
