import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { getStockKernel } from '../../src/backend/kernels/register.js';
import { copyBlock } from '../../src/backend/kernels/wasm-views.js';
import { onBackend, seededValues, setUpCpuAndWasm } from '../helpers/backends.js';

beforeAll(setUpCpuAndWasm);

/** Exact values and shapes of `op` on wasm (genlab's kernels) and on cpu (tfjs's own). */
async function bothBackends(op: () => tf.Tensor | tf.Tensor[]): Promise<{ wasm: [number[], number[]][]; cpu: [number[], number[]][] }> {
  const run = (backend: string) =>
    onBackend(backend, async () => {
      const result = tf.tidy(op);
      const outs = Array.isArray(result) ? result : [result];
      const values = await Promise.all(outs.map(async (t) => [t.shape, Array.from(await t.data())] as [number[], number[]]));
      tf.dispose(outs);
      return values;
    });
  return { wasm: await run('wasm'), cpu: await run('cpu') };
}

const shape = [3, 4, 5, 6];
const x = () => tf.tensor(seededValues(3 * 4 * 5 * 6, 7), shape);

describe('copyBlock', () => {
  it('copies a strided block as merged contiguous runs (checked element by element)', () => {
    const s = [2, 3, 4];
    const src = Float32Array.from({ length: 24 }, (_, i) => i);
    const out = new Float32Array(2 * 2 * 4);
    copyBlock(src, s, [0, 1, 0], [2, 2, 4], out);
    const expected: number[] = [];
    for (let a = 0; a < 2; a++) for (let b = 1; b < 3; b++) for (let c = 0; c < 4; c++) expected.push(a * 12 + b * 4 + c);
    expect(Array.from(out)).toEqual(expected);
  });
});

describe('wasm Slice/Unpack/SplitV/Identity/Cast through heap views', () => {
  it('are registered over the stock wasm kernels', () => {
    for (const name of ['Slice', 'Unpack', 'SplitV', 'Identity', 'Cast', 'Reverse']) expect(getStockKernel(name, 'wasm')).toBeDefined();
  });

  const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
    ['slice on every axis', () => tf.slice(x(), [1, 1, 2, 3], [2, 2, 3, 2])],
    ['slice of leading rows (one run)', () => tf.slice(x(), [1, 0, 0, 0], [2, -1, -1, -1])],
    ['slice with a full inner block', () => tf.slice(x(), [0, 1, 0, 0], [3, 2, 5, 6])],
    ['empty slice', () => tf.slice(x(), [0, 0, 0, 0], [3, 0, 5, 6])],
    ['slice of int32', () => tf.slice(tf.reshape(tf.range(0, 60, 1, 'int32'), [6, 10]), [2, 3], [3, 4])],
    ['slice of a scalar-like 1-D tensor', () => tf.slice(tf.tensor1d([1, 2, 3, 4, 5]), [2], [2])],
    ['unstack axis 0', () => tf.unstack(x(), 0)],
    ['unstack axis 2', () => tf.unstack(x(), 2)],
    ['unstack last axis', () => tf.unstack(x(), -1)],
    ['split into equal parts', () => tf.split(x(), 2, 3)],
    ['split with sizes and -1', () => tf.split(x(), [1, -1, 2], 2)],
    ['identity', () => tf.clone(x())],
    ['cast float32 to float32', () => tf.cast(x(), 'float32')],
    ['cast float32 to int32', () => tf.cast(tf.mul(x(), 10), 'int32')],
    ['reverse a filter spatially (block copies)', () => tf.reverse(tf.tensor(seededValues(3 * 3 * 8 * 8, 3), [3, 3, 8, 8]), [0, 1])],
    ['reverse axes 0 and 2 (block copies)', () => tf.reverse(tf.tensor(seededValues(2 * 3 * 4 * 64, 4), [2, 3, 4, 64]), [0, 2])],
    ['reverse axis 1 only (block copies)', () => tf.reverse(tf.tensor(seededValues(3 * 5 * 64, 5), [3, 5, 64]), 1)],
    ['reverse the last axis (stock kernel)', () => tf.reverse(x(), [3])],
    ['reverse int32', () => tf.reverse(tf.reshape(tf.range(0, 4 * 64, 1, 'int32'), [4, 64]), 0)],
  ];
  for (const [name, op] of cases) {
    it(`${name}: equals cpu exactly`, async () => {
      const { wasm, cpu } = await bothBackends(op);
      expect(wasm).toEqual(cpu);
    });
  }

  it('shared outputs survive disposing the input, and nothing leaks', async () => {
    await onBackend('wasm', async () => {
      const before = tf.memory().numTensors;
      const source = x();
      const copy = tf.clone(source);
      const same = tf.cast(source, 'float32');
      const parts = tf.unstack(source);
      const expected = Array.from(await source.data());
      source.dispose();
      expect(Array.from(await copy.data())).toEqual(expected);
      expect(Array.from(await same.data())).toEqual(expected);
      expect(Array.from(await parts[2]!.data())).toEqual(expected.slice(2 * 120, 3 * 120));
      tf.dispose([copy, same, ...parts]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  it('unstack and slice have correct gradients (sum of weighted parts)', async () => {
    const grads = await bothBackends(() => {
      const w = tf.tensor(seededValues(3 * 4 * 5 * 6, 9), shape);
      return tf.grad((t: tf.Tensor) => {
        const parts = tf.unstack(tf.mul(t, w), 1);
        return tf.add(tf.sum(tf.mul(parts[1]!, parts[3]!)), tf.sum(tf.slice(t, [0, 1, 1, 1], [2, 2, 2, 2])));
      })(x());
    });
    expect(grads.wasm[0]![0]).toEqual(shape);
    const [a, b] = [grads.wasm[0]![1], grads.cpu[0]![1]];
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i] as number, 5);
  });
});
