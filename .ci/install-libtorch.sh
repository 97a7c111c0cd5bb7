#!/usr/bin/env bash
# Installs Debian's LibTorch (CPU, oneDNN) with OpenBLAS, which then serves libblas.so.3 (the
# reference BLAS is ~50× slower), and python3-torch, the same LibTorch from Python: the
# reference for docs/theory.md's snippets and the bench. Run before `npm ci`, whose install
# script for @lab/backend-torch then builds the addon against it.
set -euo pipefail
packages=(libtorch-dev libopenblas0-pthread python3-torch)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "LibTorch present: $(dpkg-query -W -f='${Version}' libtorch-dev)"
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
echo "installed ${missing[*]}; libblas.so.3 → $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '?')"
