import * as tf from '@tensorflow/tfjs-core';

/** Timing of one kind of step. */
export interface StepTiming {
  batch: number;
  /** Timed steps (after the untimed warm-up). */
  steps: number;
  /** Median wall-clock time of one step. */
  medianMs: number;
  /** Median CPU time (user + system, all threads) of one step: less sensitive to other load. */
  medianCpuMs: number;
  /** batch / median wall time. */
  imagesPerSec: number;
}

export interface TimingOptions {
  /** Untimed steps first (kernel set-up, XNNPACK operator caches, optimizer slots)... */
  warmup: number;
  /**
   * ...and more untimed steps until this much time has passed: a model whose step takes a few
   * milliseconds runs its JavaScript unoptimised for the first hundred steps or so (V8's JIT).
   */
  warmupMs?: number;
  /**
   * ...and then more, until this many steps in all or `warmupMaxMs` since the first: V8 keeps
   * optimising a fast step's JavaScript for hundreds of calls (energy-small on tfjs-torch ran
   * ~20 % slower per step over its first 500 steps than after 1,000, against a native convolution
   * timed in the same process), and a training run or a server lives in the later regime.
   */
  warmupTargetSteps?: number;
  warmupMaxMs?: number;
  /** At most this many timed steps... */
  maxSteps: number;
  /** ...and no more once this much time has passed, but never fewer than `minSteps`. */
  budgetMs: number;
  minSteps: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs `step` `warmup` times untimed, then times it within the budget. With `profile`, the first
 * timed step runs under `tf.profile` (its overhead, one promise per kernel, is small next to
 * the kernels) and still counts in the timing: slow cases need no extra step for the profile.
 */
export async function timeSteps(
  step: () => Promise<unknown>,
  batch: number,
  options: TimingOptions,
  profile = false,
): Promise<{ timing: StepTiming; profile?: StepProfile }> {
  await warmUp(step, options);
  const wall: number[] = [];
  const cpu: number[] = [];
  let stepProfile: StepProfile | undefined;
  const start = performance.now();
  while (wall.length < options.maxSteps && (wall.length < options.minSteps || performance.now() - start < options.budgetMs)) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (profile && stepProfile === undefined) stepProfile = await profileStep(step);
    else await step();
    wall.push(performance.now() - t0);
    const used = process.cpuUsage(cpu0);
    cpu.push((used.user + used.system) / 1000);
  }
  const medianMs = median(wall);
  const timing = { batch, steps: wall.length, medianMs, medianCpuMs: median(cpu), imagesPerSec: (batch * 1000) / medianMs };
  return stepProfile ? { timing, profile: stepProfile } : { timing };
}

/**
 * Runs `step` untimed `options.warmup` times and until `options.warmupMs` have passed since the
 * first, then on until `options.warmupTargetSteps` steps in all unless `options.warmupMaxMs` have
 * passed.
 */
export async function warmUp(
  step: () => Promise<unknown>,
  options: Pick<TimingOptions, 'warmup' | 'warmupMs' | 'warmupTargetSteps' | 'warmupMaxMs'>,
): Promise<number> {
  const start = performance.now();
  let steps = 0;
  const more = () => {
    const elapsed = performance.now() - start;
    if (steps < options.warmup || elapsed < (options.warmupMs ?? 0)) return true;
    return steps < (options.warmupTargetSteps ?? 0) && elapsed < (options.warmupMaxMs ?? 0);
  };
  while (more()) {
    await step();
    steps++;
  }
  return steps;
}

/** Time and memory of one kernel name summed over a profiled step. */
export interface KernelTime {
  name: string;
  calls: number;
  ms: number;
  /** Share of the step's summed kernel time. */
  share: number;
}

export interface StepProfile {
  /** Sum of all kernel times (below the step's wall time: JS overhead is not in it). */
  kernelMs: number;
  /** Time inside custom-gradient scopes (e.g. `fusedConv2d__op`), not added to `kernelMs`: their kernels are counted on their own. */
  scopeMs: number;
  /** Wall time of the profiled step. */
  wallMs: number;
  /** Highest tensor bytes held during the step. */
  peakBytes: number;
  /** Kernels by total time, largest first. */
  kernels: KernelTime[];
  /** The slowest single (kernel, input shapes) entries, largest first. */
  slowestCalls: Array<{ name: string; shapes: string; ms: number; calls: number }>;
  /** Tensor bytes added by each kernel (net of what it freed), summed over the step: where memory goes (largest first). */
  largestAllocations: Array<{ name: string; calls: number; bytes: number }>;
}

/**
 * Profiles one call of `step` with `tf.profile` (per-kernel wall time on wasm/cpu, where
 * kernels run synchronously; backward kernels included, since gradients run as kernels).
 * Only registered kernels are summed; custom-gradient scopes are reported apart in `scopeMs`.
 */
export async function profileStep(step: () => Promise<unknown>, top = 12): Promise<StepProfile> {
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    await step();
    return [];
  });
  const wallMs = performance.now() - t0;
  const byName = new Map<string, { calls: number; ms: number }>();
  const byCall = new Map<string, { name: string; shapes: string; ms: number; calls: number }>();
  const allocations = new Map<string, { name: string; calls: number; bytes: number }>();
  let kernelMs = 0;
  let scopeMs = 0;
  const backend = tf.getBackend();
  for (const kernel of info.kernels) {
    const ms = Number(kernel.kernelTimeMs) || 0;
    // tf.profile also records custom-gradient scopes, whose kernels are recorded again inside them.
    if (tf.getKernel(kernel.name, backend) === undefined) {
      scopeMs += ms;
      continue;
    }
    kernelMs += ms;
    const entry = byName.get(kernel.name) ?? { calls: 0, ms: 0 };
    entry.calls += 1;
    entry.ms += ms;
    byName.set(kernel.name, entry);
    const shapes = kernel.inputShapes.map((s) => `[${(s ?? []).join(',')}]`).join(' ');
    const key = `${kernel.name} ${shapes}`;
    const call = byCall.get(key) ?? { name: kernel.name, shapes, ms: 0, calls: 0 };
    call.ms += ms;
    call.calls += 1;
    byCall.set(key, call);
    const allocation = allocations.get(kernel.name) ?? { name: kernel.name, calls: 0, bytes: 0 };
    allocation.calls += 1;
    allocation.bytes += Math.max(0, kernel.bytesAdded);
    allocations.set(kernel.name, allocation);
  }
  const kernels = [...byName.entries()]
    .map(([name, { calls, ms }]) => ({ name, calls, ms, share: kernelMs > 0 ? ms / kernelMs : 0 }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top);
  const slowestCalls = [...byCall.values()].sort((a, b) => b.ms - a.ms).slice(0, top);
  const largestAllocations = [...allocations.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top);
  return { kernelMs, scopeMs, wallMs, peakBytes: info.peakBytes, kernels, slowestCalls, largestAllocations };
}
