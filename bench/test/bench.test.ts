import { initBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { median, profileStep, timeSteps, warmUp } from '../lib/measure.js';
import { historyLine, imagesPerCpuSecond, type RuntimeRow, ratio, renderLatest, speedTable } from '../lib/report.js';
import { energyWorkload } from '../lib/workloads.js';
import { testReport, timing } from './fixtures.js';

describe('report helpers', () => {
  it('takes the median of odd and even lists', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('writes tfjs / torch ratios and dashes when a side is missing', () => {
    expect(ratio(1.3, 13)).toBe('0.10×');
    expect(ratio(20, 10)).toBe('2.00×');
    expect(ratio(undefined, 10)).toBe('—');
    expect(ratio(1, 0)).toBe('—');
  });

  it('derives images per CPU-second from the CPU time', () => {
    expect(imagesPerCpuSecond({ batch: 64, steps: 2, medianMs: 1000, medianCpuMs: 4000, imagesPerSec: 64 })).toBe(16);
  });

  it('puts each tfjs row against the torch row of the same model', () => {
    const rows: RuntimeRow[] = [
      { model: 'unet-small', runtime: 'tfjs-wasm', train: timing(1.27), infer: timing(5.7, 64) },
      { model: 'unet-small', runtime: 'torch', train: timing(12.7), infer: timing(38, 64) },
      { model: 'unet-tiny', runtime: 'tfjs-cpu', skipped: 'too slow' },
    ];
    const table = speedTable(rows);
    const wasmLine = table.split('\n').find((l) => l.includes('tfjs-wasm'));
    expect(wasmLine).toContain('0.10×');
    expect(wasmLine).toContain('0.15×');
    expect(table).toContain('skipped: too slow');
    const report = testReport({ niceness: 5, rows });
    expect(historyLine(report)).toBe(
      '- 2026-11-28 20:00 UTC abc1234 load 1.0: unet-small tfjs-wasm: train 1.27 (0.10×), infer 5.70 (0.15×) (img/s (wall × torch 2 threads / per-CPU·s × torch 1 thread))',
    );
    expect(renderLatest(report)).toContain('shared with other');
    expect(renderLatest(report)).toContain('nice 5');
  });
});

describe('warm-up', () => {
  it('runs the asked steps, and more until the asked time has passed', async () => {
    let calls = 0;
    const step = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    };
    expect(await warmUp(step, { warmup: 3 })).toBe(3);
    expect(calls).toBe(3);
    const started = performance.now();
    const steps = await warmUp(step, { warmup: 1, warmupMs: 60 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(60);
    expect(steps).toBeGreaterThan(1);
    expect(calls).toBe(3 + steps);
  });

  it('goes on to the target step count, unless the time limit comes first', async () => {
    const instant = async () => {};
    expect(await warmUp(instant, { warmup: 1, warmupMs: 0, warmupTargetSteps: 40, warmupMaxMs: 10_000 })).toBe(40);
    const slow = () => new Promise((resolve) => setTimeout(resolve, 5));
    const started = performance.now();
    const steps = await warmUp(slow, { warmup: 2, warmupMs: 0, warmupTargetSteps: 1_000, warmupMaxMs: 50 });
    expect(steps).toBeGreaterThanOrEqual(2);
    expect(steps).toBeLessThan(1_000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    // The minimum steps hold even past the limit.
    expect(await warmUp(slow, { warmup: 3, warmupMs: 0, warmupTargetSteps: 1_000, warmupMaxMs: 1 })).toBe(3);
  });
});

describe('tfjs measurement', () => {
  beforeAll(async () => {
    await initBackend({ force: 'cpu' });
  });

  it('trains the energy workload for real and leaves no tensors behind', async () => {
    const workload = energyWorkload({ trainBatch: 4, inferBatch: 4 });
    const before = await workload.weightChecksum();
    const first = await workload.train();
    const tensors = tf.memory().numTensors;
    const { timing: timed, profile } = await timeSteps(
      () => workload.train(),
      4,
      { warmup: 0, minSteps: 3, maxSteps: 3, budgetMs: 0 },
      true,
    );
    expect(profile?.kernels.length).toBeGreaterThan(0);
    await workload.infer();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(timed.steps).toBe(3);
    expect(timed.imagesPerSec).toBeCloseTo((4 * 1000) / timed.medianMs, 6);
    expect(Number.isFinite(first)).toBe(true);
    expect(await workload.weightChecksum()).not.toBe(before);
    workload.dispose();
  });

  it('profiles kernels without counting custom-gradient scopes twice', async () => {
    const x = tf.randomNormal([2, 8, 8, 4]) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 4, 4]) as tf.Tensor4D;
    const profile = await profileStep(async () => {
      const y = tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', activation: 'relu' });
      await y.data();
      y.dispose();
    });
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain('FusedConv2D');
    expect(names.every((n) => tf.getKernel(n, tf.getBackend()) !== undefined)).toBe(true);
    expect(profile.kernels.reduce((s, k) => s + k.share, 0)).toBeCloseTo(1, 6);
    tf.dispose([x, filter]);
  });
});
