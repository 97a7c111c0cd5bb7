"""PyTorch's side of `npm run bench:warmup` (bench/warmup.ts): a model's train or infer step
(bench_torch.py's workloads, from the tfjs side's spec) run in chunks, each chunk's CPU time per
step divided by that of a fixed native convolution timed just before and after it, so that the
machine's drift cancels. Prints one JSON line: {"ratios": [...]} (step / reference, per chunk).

  OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch/warmup_trajectory.py --spec '<json>' --step train --chunks 12 --size 100
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import bench_torch  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--spec", required=True)
parser.add_argument("--step", choices=["train", "infer"], default="train")
parser.add_argument("--chunks", type=int, default=12)
parser.add_argument("--size", type=int, default=100)
parser.add_argument("--train-batch", type=int, default=32)
parser.add_argument("--infer-batch", type=int, default=64)
args = parser.parse_args()
torch.set_num_threads(1)
_, train, infer, _ = bench_torch.workloads_for(json.loads(args.spec), args.train_batch, args.infer_batch)
step = train if args.step == "train" else infer

# The reference of bench/warmup.ts: a 3x3 convolution, 32 -> 64 channels, of a 32 x 16 x 16
# channels-last batch, through aten::convolution as the addon calls it.
x = torch.randn(32, 16, 16, 32).permute(0, 3, 1, 2)
w = torch.randn(64, 32, 3, 3)


def reference_ms() -> float:
    start = time.process_time()
    for _ in range(40):
        torch.ops.aten.convolution(x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
    return (time.process_time() - start) / 40 * 1e3


ratios = []
for _ in range(args.chunks):
    before = reference_ms()
    start = time.process_time()
    for _ in range(args.size):
        step()
    step_ms = (time.process_time() - start) / args.size * 1e3
    ratios.append(step_ms / ((before + reference_ms()) / 2))
print(json.dumps({"ratios": ratios}))
