import type { KernelConfig } from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../backend.js';
import { input, toNchw, toNhwc, torchKernel } from './kernel.js';

/** `@lab/core`'s GROUP_NORM_KERNEL and GROUP_NORM_GRAD_KERNEL (this package does not depend on core). */
export const GROUP_NORM_KERNEL = 'GenlabGroupNorm';
export const GROUP_NORM_GRAD_KERNEL = 'GenlabGroupNormGrad';

interface GroupNormAttrs {
  groups: number;
  epsilon: number;
}

/** An NHWC tensor as a contiguous NCHW copy. */
function contiguousNchw(b: TorchBackend, id: number): number {
  const view = toNchw(b, id);
  const copy = b.callTensor('aten::contiguous', [view, 'contiguous']);
  b.free(view);
  return copy;
}

/** Ids to free once a kernel is done, with `keep` for the ones it returns. */
class Scratch {
  private readonly ids: number[] = [];
  constructor(private readonly b: TorchBackend) {}
  /** Calls an operator that returns one tensor, keeping its id for `free`. */
  op(operator: string, args: readonly unknown[]): number {
    const id = this.b.callTensor(operator, args);
    this.ids.push(id);
    return id;
  }
  /** Frees everything made here except `keep`. */
  free(...keep: number[]): void {
    this.b.free(...this.ids.filter((id) => !keep.includes(id)));
  }
}

/**
 * Per-(sample, group) statistics broadcast back to channels: `[B, G]` → `[B, 1, C]` (or `[B, C]`
 * with `flat`), each group's value repeated over its C/G channels.
 */
function perChannel(s: Scratch, perGroup: number, [batch, groups, perGroupChannels]: [number, number, number], flat = false): number {
  const column = s.op('aten::reshape', [perGroup, [batch, groups, 1]]);
  const repeated = s.op('aten::expand', [column, [batch, groups, perGroupChannels], false]);
  return s.op('aten::reshape', [repeated, flat ? [batch, groups * perGroupChannels] : [batch, 1, groups * perGroupChannels]]);
}

/**
 * Group norm of an NHWC tensor on the CPU: the addon's `groupNormNhwc`, two passes over the memory
 * per sample (per-channel Σx and Σx² over H·W in double, then y = x·scale + shift with scale = γ/σ
 * and shift = β − mean·scale per channel). Written as ATen ops (a square, two sums, a multiply-add)
 * it made five passes and took ~3× as long (1.8 against 0.6 ms at 64×32×32×24, one thread,
 * scratch timing); LibTorch 1.13's own kernel on a channels-last view took 6–14 ms for 128
 * channels at 16×16 (bench/torch/group_norm_cpu.py). Returns `[y, mean, rstd]`, the statistics
 * `[B, G]`.
 */
function groupNormCpu(b: TorchBackend, x: number, gamma: number, beta: number, groups: number, epsilon: number): [number, number, number] {
  return b.native.groupNormNhwc(x, gamma, beta, groups, epsilon);
}

/**
 * The gradient of `groupNormCpu`, from per-channel sums over H·W of dy and dy·x. With x̂ = (x −
 * μ)·r and N = H·W·C/G, per (sample, group): A = Σ γ·dy, B = Σ γ·dy·x, k = r³(B − μA)/N; then
 * dx = dy·(r·γ) − x·k + (μk − rA/N), two fused multiply-adds; dγ = Σ_b r(Σdy·x − μΣdy) and
 * dβ = Σ_b Σdy per channel. 0.3–2 ms where LibTorch 1.13 needed 0.5–5.3 ms with its copies.
 */
function groupNormGradCpu(
  b: TorchBackend,
  [dy, x, mean, rstd, gamma]: [number, number, number, number, number],
  shape: number[],
  groups: number,
): [number, number, number] {
  const [batch, height, width, channels] = shape as [number, number, number, number];
  const perGroupChannels = channels / groups;
  const count = height * width * perGroupChannels;
  const dims: [number, number, number] = [batch, groups, perGroupChannels];
  const s = new Scratch(b);
  const rows = s.op('aten::reshape', [x, [batch, height * width, channels]]);
  const dyRows = s.op('aten::reshape', [dy, [batch, height * width, channels]]);
  const dySum = s.op('aten::sum.dim_IntList', [dyRows, [1], false, null]); // [B, C]
  const dyxSum = s.op('aten::sum.dim_IntList', [s.op('aten::mul.Tensor', [dyRows, rows]), [1], false, null]);
  const gammaGroups = s.op('aten::reshape', [gamma, [1, groups, perGroupChannels]]);
  const weightedGroupSum = (perChannelSums: number) =>
    s.op('aten::sum.dim_IntList', [
      s.op('aten::mul.Tensor', [s.op('aten::reshape', [perChannelSums, dims]), gammaGroups]),
      [2],
      false,
      null,
    ]);
  const a = weightedGroupSum(dySum); // [B, G]
  const bSum = weightedGroupSum(dyxSum);
  const cubed = s.op('aten::pow.Tensor_Scalar', [rstd, 3]);
  const k = s.op('aten::div.Scalar', [
    s.op('aten::mul.Tensor', [cubed, s.op('aten::sub.Tensor', [bSum, s.op('aten::mul.Tensor', [mean, a]), 1])]),
    count,
  ]);
  const offset = s.op('aten::sub.Tensor', [
    s.op('aten::mul.Tensor', [mean, k]),
    s.op('aten::div.Scalar', [s.op('aten::mul.Tensor', [rstd, a]), count]),
    1,
  ]);
  const dyScale = s.op('aten::mul.Tensor', [perChannel(s, rstd, dims), s.op('aten::reshape', [gamma, [1, 1, channels]])]);
  const xScale = s.op('aten::neg', [perChannel(s, k, dims)]);
  const partial = s.op('aten::addcmul', [perChannel(s, offset, dims), rows, xScale, 1]);
  const dx = s.op('aten::reshape', [s.op('aten::addcmul', [partial, dyRows, dyScale, 1]), [batch, height, width, channels]]);
  const centred = s.op('aten::sub.Tensor', [dyxSum, s.op('aten::mul.Tensor', [perChannel(s, mean, dims, true), dySum]), 1]);
  const dGamma = s.op('aten::sum.dim_IntList', [s.op('aten::mul.Tensor', [perChannel(s, rstd, dims, true), centred]), [0], false, null]);
  const dBeta = s.op('aten::sum.dim_IntList', [dySum, [0], false, null]);
  s.free(dx, dGamma, dBeta);
  return [dx, dGamma, dBeta];
}

/**
 * Group norm of NHWC tensors. On the CPU: the addon's two-pass kernel (`groupNormCpu`), and a
 * gradient of ATen reductions and multiply-adds on the NHWC memory (`groupNormGradCpu`). Elsewhere (CUDA): LibTorch's native_group_norm, whose kernel takes only
 * contiguous NCHW ("Expected X.is_contiguous(memory_format)"), so it gets a copy.
 */
export const normalizationKernels: KernelConfig[] = [
  torchKernel(GROUP_NORM_KERNEL, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { groups, epsilon } = attrs as unknown as GroupNormAttrs;
    if (b.device === 'cpu') {
      const [batch] = x.shape as [number];
      const [y, mean, rstd] = groupNormCpu(b, b.id(x), b.id(input(inputs, 'gamma')), b.id(input(inputs, 'beta')), groups, epsilon);
      return [
        b.outputOfKnownShape(y, x.shape, 'float32'),
        ...[mean, rstd].map((id) => b.outputOfKnownShape(id, [batch, groups], 'float32')),
      ];
    }
    const [batch, height, width, channels] = x.shape as [number, number, number, number];
    const view = contiguousNchw(b, b.id(x));
    const [y, mean, rstd] = b.call('aten::native_group_norm', [
      view,
      b.id(input(inputs, 'gamma')),
      b.id(input(inputs, 'beta')),
      batch,
      channels,
      height * width,
      groups,
      epsilon,
    ]) as [number, number, number];
    const out = toNhwc(b, y);
    b.free(view, y);
    return [b.output(out, 'float32'), b.output(mean, 'float32'), b.output(rstd, 'float32')];
  }),
  torchKernel(GROUP_NORM_GRAD_KERNEL, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { groups } = attrs as unknown as GroupNormAttrs;
    const ids = ['dy', 'x', 'mean', 'rstd', 'gamma'].map((name) => b.id(input(inputs, name))) as [number, number, number, number, number];
    if (b.device === 'cpu') return groupNormGradCpu(b, ids, x.shape, groups).map((id) => b.output(id, 'float32'));
    const [batch, height, width, channels] = x.shape as [number, number, number, number];
    // LibTorch 1.13's native_group_norm_backward reads channels-last tensors as if they were
    // contiguous NCHW (wrong gradients, checked against PyTorch's contiguous result), so the
    // backward pass gets contiguous copies.
    const view = contiguousNchw(b, ids[1]);
    const grad = contiguousNchw(b, ids[0]);
    const [dx, dGamma, dBeta] = b.call('aten::native_group_norm_backward', [
      grad,
      view,
      ids[2],
      ids[3],
      ids[4],
      batch,
      channels,
      height * width,
      groups,
      [true, true, true],
    ]) as [number, number, number];
    const out = toNhwc(b, dx);
    b.free(view, grad, dx);
    return [b.output(out, 'float32'), b.output(dGamma, 'float32'), b.output(dBeta, 'float32')];
  }),
];
