#!/usr/bin/env bash
# Packs what scripts/device/run-cuda.sh needs on a GPU machine without Node or a registry, into
# .device/ (git-ignored; each folder is one `carry` of the device tool, ≤ 64 MiB with the repo):
#   .device/kit     this machine's Node (xz), the N-API headers, esbuild bundles of scripts/device
#   .device/data1…3 the five CIFAR-10 training batches, xz-compressed (1, 2+3, 4+5)
# Usage: scripts/device/make-kit.sh [cifar-10-batches-bin folder]
set -euo pipefail
cd "$(dirname "$0")/../.."
cifar=${1:-../shared/data/cifar-10-batches-bin}
kit=.device/kit
mkdir -p "$kit/dist" "$kit/include" .device/data1 .device/data2 .device/data3
node_bin=$(readlink -f "$(command -v node)")
[ -f "$kit/node.xz" ] || xz -T0 -9 -c "$node_bin" >"$kit/node.xz"
headers=$(dirname "$(node -p 'require.resolve("node-addon-api/package.json")')")
cp /usr/include/node/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} "$kit/include/"
cp "$headers"/napi.h "$headers"/napi-inl.h "$headers"/napi-inl.deprecated.h "$kit/include/"
for entry in cli:genlab cuda-step:cuda-step; do
  npx esbuild "scripts/device/${entry%%:*}.ts" --bundle --platform=node --format=esm --target=node20 \
    --conditions=@lab/source --ignore-annotations --minify --keep-names --outfile="$kit/dist/${entry##*:}.mjs" --log-level=warning \
    --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" \
    --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --external:webgpu \
    --external:@tensorflow/tfjs-backend-webgpu --external:@tensorflow/tfjs-backend-wasm
done
pack() { [ -f "$2/$1.xz" ] || xz -T0 -9 -c "$cifar/$1" >"$2/$1.xz"; }
pack data_batch_1.bin .device/data1
pack data_batch_2.bin .device/data2
pack data_batch_3.bin .device/data2
pack data_batch_4.bin .device/data3
pack data_batch_5.bin .device/data3
du -sh .device/* >&2
