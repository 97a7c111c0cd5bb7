#!/usr/bin/env bash
# Measures three training runs and exports them as the API's bundled models, for docs/results.md:
# classifier test accuracy; FD-cls / KID-cls / IS-cls of each generator beside the real-data floor
# and the noise ceiling, for the diffusion model also with guidance 4; how much the diffusion model
# uses its label (label-sensitivity.ts); how often its class-conditional samples show the requested
# class at guidance 1, 2 and 4 (guided-accuracy.ts); and the sample grids (grids.ts).
#
#   scripts/results/refresh.sh <runs dir with diffusion/ energy/ classifier/> <cifar-10-batches-bin> [n]
#
# Each run's latest checkpoint is evaluated before it is exported, so the manifest carries that
# step's figures. Replaces apps/api/models/{ddpm,ebm,classifier}-cifar10 (export --force) and
# docs/images/results-*.png; writes each evaluation's table to <runs dir>/eval-<name>.txt.
set -euo pipefail
runs=$(realpath "$1")
data=$(realpath "$2")
n=${3:-500}
cd "$(dirname "$0")/../.."
cli() { node --conditions=@lab/source --import tsx apps/trainer/src/cli.ts "$@"; }
script() { node --conditions=@lab/source --import tsx "scripts/results/$1" "${@:2}"; }
models=apps/api/models
classifier="$models/classifier-cifar10"
generative=(--n "$n" --classifier "$classifier" --real-n 1000 --data-dir "$data")

# The classifier first: the generators are measured on its features.
cli evaluate --run "$runs/classifier" --n "$n" --real-n 1000 --data-dir "$data" | tee "$runs/eval-classifier.txt"
cli export --run "$runs/classifier" --to "$classifier" --force

# Then two single-threaded jobs at a time: the diffusion evaluations (the longest) beside the rest.
(
  cli evaluate --run "$runs/diffusion" "${generative[@]}" --sample-steps 50 > "$runs/eval-diffusion.txt"
  cli evaluate --run "$runs/diffusion" "${generative[@]}" --sample-steps 50 --guidance 4 > "$runs/eval-diffusion-guided.txt"
) &
diffusion=$!
# The energy model at its run's own chain length (sampleSteps, which its export gives the API as the default).
cli evaluate --run "$runs/energy" "${generative[@]}" | tee "$runs/eval-energy.txt"
cli export --run "$runs/energy" --to "$models/ebm-cifar10" --force --data-dir "$data"
wait "$diffusion"
cat "$runs/eval-diffusion.txt" "$runs/eval-diffusion-guided.txt"
cli export --run "$runs/diffusion" --to "$models/ddpm-cifar10" --force

script label-sensitivity.ts "$models/ddpm-cifar10" "$data" 200 | tee "$runs/label-sensitivity.txt" &
sensitivity=$!
script guided-accuracy.ts "$models" 10 1,2,4 | tee "$runs/guided-accuracy.txt"
wait "$sensitivity"
script grids.ts "$models" docs/images
