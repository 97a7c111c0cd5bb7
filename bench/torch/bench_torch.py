#!/usr/bin/env python3
"""PyTorch reference for `npm run bench`: the same architectures as genlab's tfjs models.

Mirrors, layer for layer, `createUNet(preset)` from packages/unet/src (Ho et al.'s DDPM UNet:
GroupNorm, SiLU, 3x3 convs, time-embedding MLP, single-head self-attention, stride-2 conv
downsampling, nearest x2 + conv upsampling) and `createEnergyNet('small')` from
packages/energy/src (four stride-2 convs with SiLU, dense 64, dense 1), and
`createClassifier('medium')` from packages/classifier/src (conv, batch norm, ReLU, max-pool,
dropout: the layers the other two lack). The tfjs model's
architecture config and parameter count come in as JSON (--spec) so the two cannot drift
apart silently: this script builds from the same numbers and asserts its parameter count
is within 1% of tfjs's.

It is a benchmark tool only, never a run-time dependency. Run by bench/run.ts, one model per
process (so ru_maxrss is that model's peak), and prints one JSON object on the last line.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- UNet (packages/unet/src/unet.ts, layers/*.ts) -------------------------------------------


def sinusoid(t: torch.Tensor, dim: int, max_period: float, convention: str, order: str) -> torch.Tensor:
    """packages/embeddings/src/sinusoidal.ts: ddpm spacing exp(-ln(P) i/(half-1)), sin-cos."""
    half = dim // 2
    denominator = half - 1 if convention == "ddpm" else half
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / denominator)
    args = t.float()[:, None] * freqs[None, :]
    parts = [torch.sin(args), torch.cos(args)] if order == "sin-cos" else [torch.cos(args), torch.sin(args)]
    if dim % 2 == 1:
        parts.append(torch.zeros_like(args[:, :1]))
    return torch.cat(parts, dim=1)


class TimeEmbedding(nn.Module):
    """Dense(units) . SiLU . Dense(units) . sinusoid(sinusoidDim)."""

    def __init__(self, sinusoid_dim: int, units: int, settings: dict):
        super().__init__()
        self.sinusoid_dim = sinusoid_dim
        self.settings = settings
        self.dense1 = nn.Linear(sinusoid_dim, units)
        self.dense2 = nn.Linear(units, units)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        s = self.settings
        emb = sinusoid(t, self.sinusoid_dim, s["maxPeriod"], s["convention"], s["order"])
        return self.dense2(F.silu(self.dense1(emb)))


class ResBlock(nn.Module):
    """h = conv(SiLU(GN(x))) + Dense(SiLU(emb)); h = conv(dropout(SiLU(GN(h)))); skip(x) + h."""

    def __init__(self, cin: int, channels: int, emb_dim: int, groups: int, eps: float, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps)
        self.conv1 = nn.Conv2d(cin, channels, 3, padding=1)
        self.emb = nn.Linear(emb_dim, channels)
        self.norm2 = nn.GroupNorm(groups, channels, eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.skip = nn.Conv2d(cin, channels, 1) if cin != channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention2D(nn.Module):
    """x + W_o . softmax(q k^T / sqrt(d)) v, with q, k, v = split(GN(x) W_qkv) per position."""

    def __init__(self, channels: int, heads: int, groups: int, eps: float):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels, eps)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        length, d = h * w, c // self.heads
        tokens = self.norm(x).reshape(b, c, length).transpose(1, 2)  # [B, L, C]
        q, k, v = self.qkv(tokens).split(c, dim=2)
        per_head = lambda part: part.reshape(b, length, self.heads, d).transpose(1, 2)  # noqa: E731
        q, k, v = per_head(q), per_head(k), per_head(v)
        weights = torch.softmax(q @ k.transpose(-1, -2) * (1 / math.sqrt(d)), dim=-1)
        merged = (weights @ v).transpose(1, 2).reshape(b, length, c)
        return x + self.out(merged).transpose(1, 2).reshape(b, c, h, w)


class Downsample(nn.Module):
    """3x3 stride-2 conv. (tfjs 'same' pads (0, 1); padding=1 gives the same size and cost.)"""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """createUNet(config): conv_in, down levels, mid (res, attn, res), up levels, GN+SiLU, conv_out."""

    def __init__(self, cfg: dict):
        super().__init__()
        ch, groups, eps = cfg["baseChannels"], cfg["groups"], cfg["normEpsilon"]
        dropout, heads = cfg["dropout"], cfg["numHeads"]
        emb_dim = 4 * ch
        mults, blocks, attn_res = cfg["channelMults"], cfg["numResBlocks"], cfg["attentionResolutions"]
        self.time_embedding = TimeEmbedding(ch, emb_dim, cfg["timeEmbedding"])
        self.conv_in = nn.Conv2d(cfg["inChannels"], ch, 3, padding=1)
        res_block = lambda cin, c: ResBlock(cin, c, emb_dim, groups, eps, dropout)  # noqa: E731
        attention = lambda c: SelfAttention2D(c, heads, groups, eps)  # noqa: E731

        # The down path as a flat list of ("res"|"attn"|"down", module); skips after each res(+attn) and each down.
        self.down = nn.ModuleList()
        self.down_plan: list[str] = []
        skip_channels = [ch]
        channels, resolution = ch, cfg["imageSize"]
        for level, mult in enumerate(mults):
            for _ in range(blocks):
                self.down.append(res_block(channels, mult * ch))
                self.down_plan.append("res")
                channels = mult * ch
                if resolution in attn_res:
                    self.down.append(attention(channels))
                    self.down_plan.append("attn")
                self.down_plan.append("skip")
                skip_channels.append(channels)
            if level < len(mults) - 1:
                self.down.append(Downsample(channels))
                self.down_plan.append("down")
                resolution //= 2
                self.down_plan.append("skip")
                skip_channels.append(channels)

        self.mid1 = res_block(channels, channels)
        self.mid_attn = attention(channels) if cfg["midAttention"] else nn.Identity()
        self.mid2 = res_block(channels, channels)

        self.up = nn.ModuleList()
        self.up_plan: list[str] = []
        for level in reversed(range(len(mults))):
            out_channels = mults[level] * ch
            for _ in range(blocks + 1):
                self.up_plan.append("concat")
                self.up.append(res_block(channels + skip_channels.pop(), out_channels))
                self.up_plan.append("res")
                channels = out_channels
                if resolution in attn_res:
                    self.up.append(attention(channels))
                    self.up_plan.append("attn")
            if level > 0:
                self.up.append(Upsample(channels))
                self.up_plan.append("up")
                resolution *= 2

        self.norm_out = nn.GroupNorm(groups, channels, eps)
        self.conv_out = nn.Conv2d(channels, cfg["outChannels"], 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_embedding(t)
        h = self.conv_in(x)
        skips = [h]
        modules = iter(self.down)
        for op in self.down_plan:
            if op == "skip":
                skips.append(h)
            elif op == "res":
                h = next(modules)(h, emb)
            else:
                h = next(modules)(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        modules = iter(self.up)
        for op in self.up_plan:
            if op == "concat":
                h = torch.cat([h, skips.pop()], dim=1)
            elif op == "res":
                h = next(modules)(h, emb)
            else:
                h = next(modules)(h)
        return self.conv_out(F.silu(self.norm_out(h)))


# --- Energy net (packages/energy/src/energy-net/create.ts, architecture 'small') ---------------


class SmallEnergyNet(nn.Module):
    """Stride-2 convs (5x5 first, then 3x3) with SiLU, flatten, dense+SiLU per hidden layer, dense 1."""

    def __init__(self, cfg: dict):
        super().__init__()
        height, width, cin = cfg["inputShape"]
        layers: list[nn.Module] = []
        for i, c in enumerate(cfg["channels"]):
            k = 5 if i == 0 else 3
            layers += [nn.Conv2d(cin, c, k, stride=2, padding=k // 2), nn.SiLU()]
            cin = c
            height, width = (height + 1) // 2, (width + 1) // 2
        layers.append(nn.Flatten())
        features = cin * height * width
        for units in cfg["hiddenUnits"]:
            layers += [nn.Linear(features, units), nn.SiLU()]
            features = units
        layers.append(nn.Linear(features, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).reshape(-1)


# --- Classifier (packages/classifier/src/classifier.ts) -------------------------------------


class Classifier(nn.Module):
    """Per stage two (3x3 conv without bias, batch norm, ReLU), 2x2 max-pool, dropout; then global
    average pooling, dense+ReLU `features`, dropout, dense to the classes (logits)."""

    def __init__(self, cfg: dict):
        super().__init__()
        cin = cfg["inputShape"][2]
        layers: list[nn.Module] = []
        for filters in cfg["channels"]:
            for _ in range(2):
                # tfjs-layers' BatchNormalization: epsilon 1e-3, moving averages at momentum 0.99.
                layers += [nn.Conv2d(cin, filters, 3, padding=1, bias=False), nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01), nn.ReLU()]
                cin = filters
            layers += [nn.MaxPool2d(2), nn.Dropout(cfg["dropout"])]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, cfg["featureUnits"]), nn.ReLU()]
        layers += [nn.Dropout(cfg["dropout"]), nn.Linear(cfg["featureUnits"], cfg["numClasses"])]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


# --- Workloads ------------------------------------------------------------------------------


# Where the models and their inputs live (--device): 'cpu', or 'cuda' on a GPU machine.
DEVICE = torch.device("cpu")


def sync() -> None:
    """Waits for the GPU's queued kernels, so that a step's wall time includes them."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def time_steps(step, warmup: int, warmup_s: float, iters: int, budget_s: float, target_steps: int = 0, warmup_max_s: float = 0.0) -> tuple[list[float], list[float]]:
    """Runs `warmup` untimed steps and more until `warmup_s` has passed, and on until
    `target_steps` steps unless `warmup_max_s` has passed (as bench/lib/measure.ts does), then up
    to `iters` timed ones (at least 2) within `budget_s`.
    Returns wall times and CPU times (process_time: all threads) per step, in seconds."""
    warm_start = time.perf_counter()
    done = 0

    def more() -> bool:
        elapsed = time.perf_counter() - warm_start
        if done < warmup or elapsed < warmup_s:
            return True
        return done < target_steps and elapsed < warmup_max_s

    while more():
        step()
        done += 1
    sync()
    wall: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(wall) < iters and (len(wall) < 2 or time.perf_counter() - start < budget_s):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        sync()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def summary(times: tuple[list[float], list[float]], batch: int) -> dict:
    """The same fields as bench/lib/measure.ts's StepTiming."""
    wall, cpu = times
    median = statistics.median(wall)
    return {
        "batch": batch,
        "steps": len(wall),
        "medianMs": median * 1e3,
        "medianCpuMs": statistics.median(cpu) * 1e3,
        "imagesPerSec": batch / median,
    }


def unet_workloads(model: UNet, cfg: dict, train_batch: int, infer_batch: int):
    size, cin = cfg["imageSize"], cfg["inChannels"]
    gen = torch.Generator().manual_seed(0)
    x_train = torch.randn(train_batch, cin, size, size, generator=gen)
    noise = torch.randn(train_batch, cin, size, size, generator=gen)
    t_train = torch.randint(0, 1000, (train_batch,), generator=gen).float()
    x_infer = torch.randn(infer_batch, cin, size, size, generator=gen)
    t_infer = torch.full((infer_batch,), 500.0)
    x_train, noise, t_train, x_infer, t_infer = (v.to(DEVICE) for v in (x_train, noise, t_train, x_infer, t_infer))
    model.to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses: list[float] = []

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x_train, t_train), noise)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    def infer():
        model.eval()
        with torch.inference_mode():
            model(x_infer, t_infer)

    return train, infer, losses


def energy_workloads(model: SmallEnergyNet, cfg: dict, train_batch: int, infer_batch: int):
    height, width, cin = cfg["inputShape"]
    gen = torch.Generator().manual_seed(0)
    x_train = torch.rand(train_batch, cin, height, width, generator=gen) * 2 - 1
    x_infer = torch.rand(infer_batch, cin, height, width, generator=gen) * 2 - 1
    x_train, x_infer = x_train.to(DEVICE), x_infer.to(DEVICE)
    model.to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    half = train_batch // 2
    losses: list[float] = []

    def train():
        # contrastiveDivergenceLoss(E(x+), E(x-), alpha 0.1) on one batch: half data, half negatives.
        optimizer.zero_grad(set_to_none=True)
        energies = model(x_train)
        e_pos, e_neg = energies[:half], energies[half:]
        loss = e_pos.mean() - e_neg.mean() + 0.1 * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    def infer():
        # One Langevin step: x <- clamp(x - 10 * clip(dE/dx, 0.03) + 0.005 * noise, -1, 1).
        x = x_infer.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x).sum(), x)
        with torch.no_grad():
            (x - 10 * grad.clamp(-0.03, 0.03) + 0.005 * torch.randn_like(x)).clamp_(-1, 1)

    return train, infer, losses


def classifier_workloads(model: Classifier, cfg: dict, train_batch: int, infer_batch: int):
    height, width, cin = cfg["inputShape"]
    model = model.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)
    x_train = (torch.rand(train_batch, cin, height, width, generator=gen) * 2 - 1).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, cfg["numClasses"], (train_batch,), generator=gen)
    x_infer = (torch.rand(infer_batch, cin, height, width, generator=gen) * 2 - 1).contiguous(memory_format=torch.channels_last)
    x_train, labels, x_infer = x_train.to(DEVICE), labels.to(DEVICE), x_infer.to(DEVICE)
    model.to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses: list[float] = []

    def train():
        # Cross-entropy in training mode (batch statistics, dropout), one Adam update.
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x_train), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    def infer():
        model.eval()
        with torch.no_grad():
            model(x_infer)

    return train, infer, losses


# --- Configuration report -------------------------------------------------------------------


def loaded_blas() -> str:
    """The BLAS shared object this process actually mapped (reference BLAS vs OpenBLAS)."""
    try:
        with open("/proc/self/maps") as maps:
            libs = {line.split()[-1] for line in maps if "blas" in line.lower() and ".so" in line}
        return ", ".join(sorted(os.path.basename(lib) for lib in libs)) or "none mapped"
    except OSError:
        return "unknown"


def matmul_gflops() -> float:
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    a @ b
    start = time.perf_counter()
    reps = 5
    for _ in range(reps):
        a @ b
    return 2 * 1024**3 * reps / (time.perf_counter() - start) / 1e9


def workloads_for(spec: dict, train_batch: int, infer_batch: int):
    """The model of a tfjs-side spec ({kind, config, params}) and its train and infer steps."""
    cfg = spec["config"]
    if spec["kind"] == "unet":
        model = UNet(cfg)
        return (model, *unet_workloads(model, cfg, train_batch, infer_batch))
    if spec["kind"] == "energy":
        model = SmallEnergyNet(cfg)
        return (model, *energy_workloads(model, cfg, train_batch, infer_batch))
    if spec["kind"] == "classifier":
        model = Classifier(cfg)
        return (model, *classifier_workloads(model, cfg, train_batch, infer_batch))
    raise SystemExit(f"unknown kind {spec['kind']!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", required=True, help="JSON {kind: 'unet'|'energy'|'classifier', config, params} from the tfjs side")
    parser.add_argument("--train-batch", type=int, required=True)
    parser.add_argument("--infer-batch", type=int, required=True)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup-steps", type=int, default=1, help="untimed steps first (at least 1)")
    parser.add_argument("--warmup-s", type=float, default=0.0, help="untimed steps for at least this long (after the first)")
    parser.add_argument("--warmup-target-steps", type=int, default=0, help="then untimed steps up to this many in all...")
    parser.add_argument("--warmup-max-s", type=float, default=0.0, help="...unless this long has passed")
    parser.add_argument("--budget-s", type=float, default=20.0, help="stop timing after this long (at least 2 steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:N] (a GPU machine; timings synchronise the device)")
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    spec = json.loads(args.spec)
    model, train, infer, losses = workloads_for(spec, args.train_batch, args.infer_batch)

    # tfjs counts batch norm's moving mean and variance among a model's weights.
    params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for name, b in model.named_buffers() if "running_" in name)
    expected = spec["params"]
    mismatch = abs(params - expected) / expected
    if mismatch > 0.01:
        raise SystemExit(f"parameter count {params} differs from tfjs's {expected} by {mismatch:.2%} (> 1%)")

    warmup = max(1, args.warmup_steps)
    infer_times = time_steps(infer, warmup, args.warmup_s, args.iters, args.budget_s, args.warmup_target_steps, args.warmup_max_s)
    train_times = time_steps(train, warmup, args.warmup_s, args.iters, args.budget_s, args.warmup_target_steps, args.warmup_max_s)
    if not all(math.isfinite(v) for v in losses):
        raise SystemExit(f"non-finite training loss: {losses}")

    result = {
        "framework": "torch",
        "params": params,
        "tfjsParams": expected,
        "train": summary(train_times, args.train_batch),
        "infer": summary(infer_times, args.infer_batch),
        "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "config": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else "cpu",
            "blas": loaded_blas(),
            "matmulGflops": round(matmul_gflops(), 1),
            "ldLibraryPath": os.environ.get("LD_LIBRARY_PATH", ""),
            "mallocMmapThreshold": os.environ.get("MALLOC_MMAP_THRESHOLD_", ""),
            "mallocTrimThreshold": os.environ.get("MALLOC_TRIM_THRESHOLD_", ""),
        },
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
