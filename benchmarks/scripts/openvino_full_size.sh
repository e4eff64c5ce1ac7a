#!/bin/sh
# The OpenVINO backend against sdkit on torch and plain diffusers, per image, on an SD 1.5-shaped model
# with random weights (docs/performance.md, "The OpenVINO backend"). Slow: the conversion ~3.5-7 min,
# then ~15 min for 512² and ~5 min for 256² on 2 quiet cores (2 steps; a warm-up round, in which
# OpenVINO compiles for the size, then 2 interleaved rounds of the three sides).
# Usage: benchmarks/scripts/openvino_full_size.sh [WORK_FOLDER]   (needs ~8 GB of disk there)
set -eu
WORK=${1:-/tmp/sdkit-openvino-bench}
SDKIT=${SDKIT:-.venv/bin/python -m sdkit}
PYTHON=${PYTHON:-.venv/bin/python}
export SDKIT_HOME="$WORK/home"   # the IR cache lands in $WORK/home/cache/openvino
mkdir -p "$WORK"
if [ ! -d "$WORK/sd15-random" ]; then
  $PYTHON -c "from pathlib import Path; from sdkit.bench.random_model import write_random_model; write_random_model('sd1', Path('$WORK/sd15-random'))"
fi
for SIZE in 512 256; do
  echo "== $SIZE: $(date -u +%H:%M:%S) $(uptime)"
  /usr/bin/time -v $SDKIT benchmark --model "$WORK/sd15-random" --backend openvino --samplers euler_a --steps 2 \
    --sizes "$SIZE" --batch-sizes 1 --repeats 2 --warmup 1 --json "$WORK/openvino-$SIZE.json" 2> "$WORK/openvino-$SIZE.err"
  echo "== done $SIZE: $(date -u +%H:%M:%S) $(uptime)"
done
du -sh "$WORK/home/cache/openvino"/*
cat "$WORK/home/cache/openvino"/*/meta.json
