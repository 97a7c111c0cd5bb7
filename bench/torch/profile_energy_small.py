"""Where PyTorch's energy-small step spends its CPU time: the model, data and step of
bench_torch.py's energy workload (the one `npm run bench` times), one thread, CPU time per step
and torch.profiler's operator table. The counterpart of `npm run bench:profile-torch -- --model
energy-small --step train|infer` for tfjs-torch.

  OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch/profile_energy_small.py [train|infer]
"""
import json
import os
import subprocess
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(__file__))
import bench_torch  # noqa: E402

step_name = sys.argv[1] if len(sys.argv) > 1 else "train"
if step_name not in ("train", "infer"):
    sys.exit("usage: profile_energy_small.py [train|infer]")
torch.set_num_threads(1)
# The energy net's config, as @lab/energy resolves 'small' (so both sides build the same net).
config = json.loads(
    subprocess.run(
        ["node", "--conditions=@lab/source", "--import", "tsx", "-e",
         "import('@lab/energy').then((m) => console.log(JSON.stringify(m.resolveEnergyNetConfig('small'))))"],
        check=True, capture_output=True, text=True,
    ).stdout
)
train, infer, _ = bench_torch.energy_workloads(bench_torch.SmallEnergyNet(config), config, 32, 64)
step = train if step_name == "train" else infer
for _ in range(30):
    step()
steps = 300
start = time.process_time()
for _ in range(steps):
    step()
print(f"energy-small {step_name}: {(time.process_time() - start) / steps * 1e3:.2f} ms of CPU a step ({steps} steps, 1 thread)")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(100):
        step()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
