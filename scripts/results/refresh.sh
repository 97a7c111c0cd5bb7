#!/usr/bin/env bash
# Exports three training runs as the API's bundled models and measures them for docs/results.md:
# classifier test accuracy, FD-cls / KID-cls / IS-cls of each generator beside the real-data floor
# and the noise ceiling, how much the diffusion model uses its label (label-sensitivity.ts), how
# often its class-conditional samples show the requested class at guidance 1, 2 and 4
# (guided-accuracy.ts), and the sample grids (scripts/results/grids.ts).
#
#   scripts/results/refresh.sh <runs dir with diffusion/ energy/ classifier/> <cifar-10-batches-bin> [n]
#
# Replaces apps/api/models/{ddpm,ebm,classifier}-cifar10 (export --force) and docs/images/results-*.png;
# writes each evaluation's table to <runs dir>/eval-<kind>.txt.
set -euo pipefail
runs=$(realpath "$1")
data=$(realpath "$2")
n=${3:-500}
cd "$(dirname "$0")/../.."
cli() { node --conditions=@lab/source --import tsx apps/trainer/src/cli.ts "$@"; }
models=apps/api/models

cli export --run "$runs/classifier" --to "$models/classifier-cifar10" --force
cli export --run "$runs/diffusion" --to "$models/ddpm-cifar10" --force
cli export --run "$runs/energy" --to "$models/ebm-cifar10" --force --data-dir "$data"

# Two single-threaded jobs at a time: the diffusion evaluation (the longest) beside the rest.
cli evaluate --run "$runs/diffusion" --n "$n" --classifier "$models/classifier-cifar10" --real-n 1000 \
  --sample-steps 50 --data-dir "$data" > "$runs/eval-diffusion.txt" &
diffusion=$!
cli evaluate --classifier "$models/classifier-cifar10" --data-dir "$data" | tee "$runs/eval-classifier.txt"
# The energy model at the chain length the API uses by default for it (its manifest's sampleSteps).
ebm_steps=$(node -p "require('./$models/ebm-cifar10/genlab.json').config.sampleSteps ?? 256")
cli evaluate --run "$runs/energy" --n "$n" --classifier "$models/classifier-cifar10" --real-n 1000 \
  --sample-steps "$ebm_steps" --data-dir "$data" | tee "$runs/eval-energy.txt"
node --conditions=@lab/source --import tsx scripts/results/label-sensitivity.ts "$models/ddpm-cifar10" "$data" 200 \
  | tee "$runs/label-sensitivity.txt"
node --conditions=@lab/source --import tsx scripts/results/guided-accuracy.ts "$models" 10 1,2,4 \
  | tee "$runs/guided-accuracy.txt"
node --conditions=@lab/source --import tsx scripts/results/grids.ts "$models" docs/images
wait "$diffusion"
cat "$runs/eval-diffusion.txt"
