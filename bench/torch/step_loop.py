"""PyTorch's side of bench/lib/step-loop.ts: bench_torch.py's workload for a tfjs-side spec, its
train or infer step in an endless loop; prints `warm` after the warm-up steps (bench/perf-dso.ts)."""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import bench_torch  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--spec", required=True)
parser.add_argument("--step", choices=["train", "infer"], default="train")
parser.add_argument("--warmup", type=int, default=300)
args = parser.parse_args()
torch.set_num_threads(1)
_, train, infer, _ = bench_torch.workloads_for(json.loads(args.spec), 32, 64)
step = train if args.step == "train" else infer
for _ in range(args.warmup):
    step()
print("warm", flush=True)
while True:
    step()
