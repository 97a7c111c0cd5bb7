#!/usr/bin/env bash
# Runs genlab on a lent GPU machine (the `device` tool; docs/gpu.md): builds @lab/backend-torch
# against that machine's PyTorch (CUDA), times a training step against PyTorch, and trains the
# bundled models. The machine has CUDA and PyTorch but no Node and no registry, so
# scripts/device/make-kit.sh packs a kit here first (.device/, git-ignored): this machine's Node
# (xz), the N-API headers, esbuild bundles of scripts/device/*.ts, and CIFAR-10 batches (xz).
# A call carries at most 64 MiB, so the data travels in several calls to one warm machine:
#
#   run-cuda.sh stash DIR              unpack DIR/*.xz (CIFAR batches) into $WORK/data
#   run-cuda.sh setup                  Node from .device/kit/node.xz, the addon built against torch
#   run-cuda.sh bench                  unet-small step at batch 128: genlab on torch-CUDA vs PyTorch
#   run-cuda.sh smoke                  a few steps, a resume and an export of each training
#   run-cuda.sh train SECONDS          the three trainings at once, SECONDS in all, exports into $OUT
#
# A dry run on any machine: GENLAB_TORCH_DEVICE=cpu BENCH_DEVICE=cpu TRAIN_ARGS='--batch 4' PROBE=20
# (and MODELS='classifier' to train one).
#
# $OUT (set by the device tool) receives what comes back: bench JSON, logs, exported models.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${GENLAB_DEVICE_WORK:-/tmp/genlab}
KIT=.device/kit
OUT=${OUT:-$WORK/out}
PYTHON=${PYTHON:-python3}
mkdir -p "$WORK/data" "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

stash() {
  local dir=$1
  for f in "$dir"/*.xz; do
    [ -e "$f" ] || continue
    xz -dc -T0 "$f" >"$WORK/data/$(basename "$f" .xz)"
  done
  log "data: $(cd "$WORK/data" && ls | tr '\n' ' ')"
}

setup() {
  if [ ! -x "$WORK/bin/node" ]; then
    [ -f "$KIT/node.xz" ] || { log "no Node here: this machine is not the one the kit was carried to (run setup with .device/kit)"; exit 1; }
    mkdir -p "$WORK/bin"
    xz -dc -T0 "$KIT/node.xz" >"$WORK/bin/node"
    chmod +x "$WORK/bin/node"
  fi
  export PATH="$WORK/bin:$PATH"
  log "node $(node --version), $(nproc) cores, $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
  mkdir -p "$WORK/kit/dist" "$WORK/kit/build/Release"
  # A later call on the same warm machine may carry data instead of the kit: reuse what is there.
  if [ -d "$KIT/dist" ]; then cp "$KIT"/dist/*.mjs "$WORK/kit/dist/"; fi
  local addon="$WORK/kit/build/Release/genlab_torch.node"
  if [ ! -f "$addon" ]; then
    # The LibTorch inside the machine's PyTorch (a pip wheel: CUDA, its own C++ ABI).
    if [ -z "${LIBTORCH:-}" ]; then
      LIBTORCH=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null || true)
      [ -f "$LIBTORCH/include/ATen/ATen.h" ] || LIBTORCH=''
    fi
    export LIBTORCH
    local config=packages/backend-torch/scripts/gyp-config.mjs
    local includes libraries defines
    includes=$(node "$config" include_dirs)
    libraries=$(node "$config" libraries)
    defines=$(node "$config" defines)
    log "building the addon against ${LIBTORCH:-the system LibTorch}"
    local started=$SECONDS
    # binding.gyp's flags; --allow-shlib-undefined: libtorch_cuda's CUDA libraries resolve at
    # load time through the wheel's own rpaths.
    # shellcheck disable=SC2046,SC2086
    g++ -shared -fPIC -O2 -std=c++17 -fexceptions -Wno-unused-parameter -Wno-deprecated-declarations -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS \
      ${defines:+-D$defines} -I"$KIT/include" $(printf -- '-I%s ' $includes) \
      packages/backend-torch/native/addon.cc -o "$addon" $libraries -Wl,--allow-shlib-undefined
    log "addon built in $((SECONDS - started)) s"
  fi
}

bench() {
  setup
  local batch=${BENCH_BATCH:-128}
  node "$WORK/kit/dist/cuda-step.mjs" unet-small "$batch" "$OUT/bench-genlab-unet-small.json"
  local spec
  spec=$(node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).spec))' "$OUT/bench-genlab-unet-small.json")
  "$PYTHON" bench/torch/bench_torch.py --spec "$spec" --train-batch "$batch" --infer-batch "$batch" --iters 10 --budget-s 15 \
    --device "${BENCH_DEVICE:-cuda}" >"$OUT/bench-pytorch-unet-small.json"
  node -e '
    const [g, p] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
    for (const step of ["train", "infer"])
      console.error(`${step}: genlab ${g[step].medianMs.toFixed(1)} ms, PyTorch ${p[step].medianMs.toFixed(1)} ms, ratio ${(p[step].medianMs / g[step].medianMs).toFixed(2)}x`);
  ' "$OUT/bench-genlab-unet-small.json" "$OUT/bench-pytorch-unet-small.json"
}

# The CIFAR folder the trainer expects. Batches that did not arrive are stood in for by ones that
# did (the run sees fewer distinct images; the log says which); the test batch is never read here.
data_dir() {
  local dir=$WORK/cifar-10-batches-bin present=()
  mkdir -p "$dir"
  for i in 1 2 3 4 5; do [ -f "$WORK/data/data_batch_$i.bin" ] && present+=("$i"); done
  [ ${#present[@]} -gt 0 ] || { log "no CIFAR batch arrived"; exit 1; }
  for i in 1 2 3 4 5; do
    local source=$WORK/data/data_batch_$i.bin
    [ -f "$source" ] || source=$WORK/data/data_batch_${present[$(((i - 1) % ${#present[@]}))]}.bin
    ln -sf "$source" "$dir/data_batch_$i.bin"
  done
  ln -sf "$dir/data_batch_1.bin" "$dir/test_batch.bin"
  log "training batches present: ${present[*]} of 1-5"
  echo "$dir"
}

# Steps that fit before `deadline` (epoch seconds) at the pace of the run's last 50 steps.
steps_until() {
  local run=$1 deadline=$2 cap=$3
  node -e '
    const [file, deadline, cap] = process.argv.slice(1);
    const lines = require("fs").readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const last = lines.at(-1), first = lines.at(-Math.min(lines.length, 51));
    const perStep = (Date.parse(last.time) - Date.parse(first.time)) / 1000 / Math.max(1, last.step - first.step);
    const left = Number(deadline) - Date.now() / 1000 - 20; // the resumed process starts again
    // At least one step: a resume must end after the step it starts at.
    console.log(Math.min(Number(cap), last.step + Math.max(1, Math.floor((0.95 * left) / perStep))));
  ' "$run/metrics.jsonl" "$deadline" "$cap"
}

# One training: at a constant learning rate for PROBE seconds, then resumed with a cosine decay
# over as many steps as fit before the deadline, then exported.
train_one() {
  local name=$1 id=$2 cap=$3 deadline=$4 data=$5
  shift 5
  local run=$WORK/runs/$name cli=(node "$WORK/kit/dist/genlab.mjs")
  rm -rf "$run"
  mkdir -p "$WORK/runs"
  log "$name: probe"
  timeout -s INT -k 30 "${PROBE:-60}" "${cli[@]}" train --out "$run" --data-dir "$data" --backend torch --lr-decay none \
    --steps "$cap" --sample-every 0 --checkpoint-every 500 --keep 2 "$@" ${TRAIN_ARGS:-} >"$WORK/$name.log" 2>&1 || true
  local steps
  steps=$(steps_until "$run" "$deadline" "$cap")
  log "$name: resumed to step $steps"
  timeout -s INT -k 30 $((deadline - $(date +%s))) "${cli[@]}" train --out "$run" --resume --steps "$steps" --lr-decay cosine \
    --data-dir "$data" --backend torch >>"$WORK/$name.log" 2>&1 || true
  "${cli[@]}" export --run "$run" --to "$WORK/models/$id" --force --data-dir "$data" --backend torch >>"$WORK/$name.log" 2>&1 ||
    log "$name: export failed (see its log)"
  log "$name: done"
}

# The trainings (docs/gpu.md): MODELS picks which, and CLASSIFIER_ARGS, DIFFUSION_ARGS and
# ENERGY_ARGS replace a training's flags (word-split), e.g. DIFFUSION_ARGS='--model diffusion … --batch 512'.
MODELS=${MODELS:-classifier diffusion energy}
read -r -a CLASSIFIER <<<"${CLASSIFIER_ARGS:---model classifier --preset medium --batch 128 --lr 1e-3 --warmup 300 --ema 0.999 --seed 1}"
read -r -a DIFFUSION <<<"${DIFFUSION_ARGS:---model diffusion --preset small --conditional --label-dropout 0.1 --batch 128 --lr 3e-4 --warmup 300 --ema 0.999 --seed 1}"
read -r -a ENERGY <<<"${ENERGY_ARGS:---model energy --objective dsm --preset resnet-medium --batch 128 --lr 5e-4 --warmup 200 --ema 0.999 --seed 3}"
declare -A EXPORT_ID=([classifier]=classifier-cifar10 [diffusion]=ddpm-cifar10 [energy]=ebm-cifar10)
declare -A STEP_CAP=([classifier]=19550 [diffusion]=200000 [energy]=200000)

# A few steps of each training, a resume and an export, all at once: device-only failures show
# up in a minute instead of at the end of a long call.
smoke() {
  setup
  local data
  data=$(data_dir)
  export GENLAB_TORCH_THREADS=${GENLAB_TORCH_THREADS:-4}
  rm -rf "$WORK/smoke"
  local name
  for name in $MODELS; do
    local -n args=${name^^}
    (
      cli=(node "$WORK/kit/dist/genlab.mjs")
      run=$WORK/smoke/$name
      "${cli[@]}" train --out "$run" --data-dir "$data" --backend torch --steps 8 --sample-every 0 --checkpoint-every 4 "${args[@]}" &&
        "${cli[@]}" train --out "$run" --resume --steps 12 --lr-decay cosine --data-dir "$data" --backend torch &&
        "${cli[@]}" export --run "$run" --to "$WORK/smoke/models/$name" --force --data-dir "$data" --backend torch &&
        tail -n 1 "$run/metrics.jsonl" && log "$name: smoke passed" || log "$name: SMOKE FAILED"
    ) >"$OUT/smoke-$name.log" 2>&1 &
  done
  wait
  grep -h "smoke passed\|SMOKE FAILED" "$OUT"/smoke-*.log >&2
}

train() {
  local seconds=$1
  setup
  # The GPU does the arithmetic: a few CPU threads per process leave cores for the other two.
  export GENLAB_TORCH_THREADS=${GENLAB_TORCH_THREADS:-4}
  local data deadline
  data=$(data_dir)
  deadline=$(($(date +%s) + seconds - 45))
  rm -rf "$WORK/models"
  local name
  for name in $MODELS; do
    local -n args=${name^^}
    train_one "$name" "${EXPORT_ID[$name]}" "${STEP_CAP[$name]}" "$deadline" "$data" "${args[@]}" &
  done
  wait
  # What comes back: logs and metrics, and the exported models in parts of at most 15 MiB.
  tar -czf "$OUT/logs.tar.gz" -C "$WORK" $(cd "$WORK" && ls ./*.log) $(cd "$WORK" && ls -d runs/*/run.json runs/*/metrics.jsonl 2>/dev/null)
  [ -d "$WORK/models" ] && tar -cf - -C "$WORK" models | split -b 15M - "$OUT/models.tar.part-"
  ls -la "$OUT" >&2
}

case "${1:-}" in
  stash) stash "$2" ;;
  setup) setup ;;
  bench) bench ;;
  smoke) smoke ;;
  train) train "$2" ;;
  *)
    echo "usage: run-cuda.sh stash DIR | setup | bench | smoke | train SECONDS" >&2
    exit 2
    ;;
esac
