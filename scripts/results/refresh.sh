#!/usr/bin/env bash
# Measures three training runs and exports them as the API's bundled models, for docs/results.md:
# classifier test accuracy; FD-cls / KID-cls / IS-cls of each generator beside the real-data floor
# and the noise ceiling, each at the settings its bundle serves (the diffusion model with its run's
# sampler and steps, unguided and at the default guidance; the energy model at ENERGY_STEPS of its
# run's sampler); how much the diffusion model uses its label (label-sensitivity.ts); how often
# its class-conditional samples show the requested class at that guidance (guided-accuracy.ts,
# 100 a class); and the sample grids (grids.ts).
#
#   scripts/results/refresh.sh <runs dir with diffusion/ energy/ classifier/> <cifar-10-batches-bin> [n = 1000]
#   GUIDANCE=10 RESCALE=0.7 ENERGY_STEPS=49 (the bundles' defaults of 2026-12-05) choose those settings;
#   the diffusion export serves GUIDANCE and RESCALE (guidance rescale) as its defaults.
#
# Each run's latest checkpoint is evaluated before it is exported, so the manifest carries that
# step's figures. Replaces apps/api/models/{ddpm,ebm,classifier}-cifar10 (export --force) and
# docs/images/results-*.png; writes each evaluation's table to <runs dir>/eval-<name>.txt.
set -euo pipefail
runs=$(realpath "$1")
data=$(realpath "$2")
n=${3:-1000}
guidance=${GUIDANCE:-10}
rescale=${RESCALE:-0.7}
energy_steps=${ENERGY_STEPS:-49}
cd "$(dirname "$0")/../.."
cli() { node --conditions=@lab/source --import tsx apps/trainer/src/cli.ts "$@"; }
script() { node --conditions=@lab/source --import tsx "scripts/results/$1" "${@:2}"; }
models=apps/api/models
classifier="$models/classifier-cifar10"
generative=(--n "$n" --classifier "$classifier" --real-n 1000 --kid-subset 500 --data-dir "$data")

# The classifier first: the generators are measured on its features.
cli evaluate --run "$runs/classifier" --data-dir "$data" | tee "$runs/eval-classifier.txt"
cli export --run "$runs/classifier" --to "$classifier" --force

# Then two jobs at a time: the diffusion evaluations beside the energy's (the longest).
(
  cli evaluate --run "$runs/diffusion" "${generative[@]}" > "$runs/eval-diffusion.txt"
  cli evaluate --run "$runs/diffusion" "${generative[@]}" --guidance "$guidance" --guidance-rescale "$rescale" \
    > "$runs/eval-diffusion-guided.txt"
) &
diffusion=$!
cli evaluate --run "$runs/energy" "${generative[@]}" --sample-steps "$energy_steps" | tee "$runs/eval-energy.txt"
cli export --run "$runs/energy" --to "$models/ebm-cifar10" --force --sample-steps "$energy_steps" --data-dir "$data"
wait "$diffusion"
cat "$runs/eval-diffusion.txt" "$runs/eval-diffusion-guided.txt"
cli export --run "$runs/diffusion" --to "$models/ddpm-cifar10" --force --guidance "$guidance" --guidance-rescale "$rescale"

sampler=$(node -p "const c = require('./$models/ddpm-cifar10/genlab.json').config; c.sampler + ':' + c.sampleSteps")
script label-sensitivity.ts "$models/ddpm-cifar10" "$data" 200 | tee "$runs/label-sensitivity.txt" &
sensitivity=$!
script guided-accuracy.ts "$models" 100 "$guidance" "$sampler" "$rescale" | tee "$runs/guided-accuracy.txt"
wait "$sensitivity"
script grids.ts "$models" docs/images
