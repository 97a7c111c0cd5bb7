/**
 * Conv2DBackpropFilter before/after, in its own process: genlab's kernel (one forward conv,
 * packages/core/src/backend/kernels) on wasm and cpu against the stock tfjs-backend-cpu kernel
 * (tfjs 4.22's wasm backend has none), on the filter-gradient shapes of unet-small's training
 * step. The stock kernel runs at batch 1 (it is a scalar loop), genlab's at `--cpu-batch` on cpu
 * (its forward conv is plain JS) and `--batch` on wasm. Each
 * genlab result is checked against the stock kernel on the same batch-1 input.
 * Writes `KernelComparisonRow[]` to `--out`.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { getStockKernel, initBackend, registerTrainingKernels } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { median } from './measure.js';
import type { KernelComparisonRow } from './report.js';

const { values } = parseArgs({
  options: { batch: { type: 'string', default: '32' }, 'cpu-batch': { type: 'string', default: '8' }, out: { type: 'string' } },
});

interface FilterGradShape {
  /** Input x: [H, W, Cin]. */
  x: [number, number, number];
  outChannels: number;
  kernel: number;
  stride: number;
  where: string;
}

/** The filter gradients of unet-small that take most of its time (ResBlock convs, Downsample, 1×1 skips). */
const SHAPES: FilterGradShape[] = [
  { x: [32, 32, 64], outChannels: 64, kernel: 3, stride: 1, where: 'ResBlock conv at 32×32' },
  { x: [16, 16, 128], outChannels: 128, kernel: 3, stride: 1, where: 'ResBlock conv at 16×16' },
  { x: [32, 32, 64], outChannels: 64, kernel: 3, stride: 2, where: 'Downsample 32→16' },
  { x: [32, 32, 128], outChannels: 64, kernel: 1, stride: 1, where: '1×1 skip after concat' },
];

function attrsOf(s: FilterGradShape) {
  return {
    strides: [s.stride, s.stride] as [number, number],
    pad: 'same' as const,
    dataFormat: 'NHWC' as const,
    filterShape: [s.kernel, s.kernel, s.x[2], s.outChannels] as [number, number, number, number],
  };
}

function inputs(s: FilterGradShape, batch: number, seed: number): { x: tf.Tensor4D; dy: tf.Tensor4D } {
  const [h, w, c] = s.x;
  const ho = Math.ceil(h / s.stride);
  const wo = Math.ceil(w / s.stride);
  return {
    x: tf.randomNormal([batch, h, w, c], 0, 1, 'float32', seed) as tf.Tensor4D,
    dy: tf.randomNormal([batch, ho, wo, s.outChannels], 0, 1, 'float32', seed + 1) as tf.Tensor4D,
  };
}

function flops(s: FilterGradShape, batch: number): number {
  const ho = Math.ceil(s.x[0] / s.stride);
  const wo = Math.ceil(s.x[1] / s.stride);
  return 2 * batch * ho * wo * s.kernel * s.kernel * s.x[2] * s.outChannels;
}

/** The registered (genlab) kernel through the engine. */
function genlabKernel(s: FilterGradShape, x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrsOf(s) as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** The stock tfjs-backend-cpu kernel, called directly. */
function stockCpuKernel(s: FilterGradShape, x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor {
  const stock = getStockKernel('Conv2DBackpropFilter', 'cpu');
  if (!stock) throw new Error('no stock Conv2DBackpropFilter on cpu');
  const info = stock({ inputs: { x, dy }, backend: tf.backend(), attrs: attrsOf(s) as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Median wall and CPU milliseconds of `repeats` calls. */
async function timeKernel(run: () => tf.Tensor, repeats: number): Promise<{ ms: number; cpuMs: number }> {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const out = run();
    await out.data();
    wall.push(performance.now() - t0);
    const used = process.cpuUsage(cpu0);
    cpu.push((used.user + used.system) / 1000);
    out.dispose();
  }
  return { ms: median(wall), cpuMs: median(cpu) };
}

async function maxAbsDiff(a: tf.Tensor, b: Float32Array): Promise<number> {
  const values = await a.data();
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs((values[i] ?? 0) - (b[i] ?? 0)));
  return max;
}

async function main(): Promise<void> {
  if (!values.out) throw new Error('--out is required');
  const batches = { wasm: Number(values.batch), cpu: Number(values['cpu-batch']) };
  await initBackend({ force: 'wasm' });
  registerTrainingKernels('cpu');
  const rows: KernelComparisonRow[] = [];
  const describe = (s: FilterGradShape) => `${s.where}: x [B,${s.x.join(',')}] → ${s.outChannels}, ${s.kernel}×${s.kernel} s${s.stride}`;

  for (const [index, s] of SHAPES.entries()) {
    const seed = 100 + 10 * index;
    // Reference: the stock cpu kernel on batch 1.
    await tf.setBackend('cpu');
    const small = inputs(s, 1, seed);
    const stockOut = stockCpuKernel(s, small.x, small.dy);
    const reference = (await stockOut.data()) as Float32Array;
    stockOut.dispose();
    const stock = await timeKernel(() => stockCpuKernel(s, small.x, small.dy), 1);
    rows.push({ shape: describe(s), kernel: 'stock tfjs', backend: 'cpu', batch: 1, ...stock, gflops: flops(s, 1) / stock.cpuMs / 1e6 });

    for (const backend of ['cpu', 'wasm'] as const) {
      await tf.setBackend(backend);
      const check = inputs(s, 1, seed);
      const checkOut = genlabKernel(s, check.x, check.dy);
      const diff = await maxAbsDiff(checkOut, reference);
      tf.dispose([checkOut, check.x, check.dy]);
      const batch = batches[backend];
      const big = inputs(s, batch, seed);
      await timeKernel(() => genlabKernel(s, big.x, big.dy), 1);
      const time = await timeKernel(() => genlabKernel(s, big.x, big.dy), 3);
      tf.dispose([big.x, big.dy]);
      rows.push({
        shape: describe(s),
        kernel: 'genlab',
        backend,
        batch,
        ...time,
        gflops: flops(s, batch) / time.cpuMs / 1e6,
        maxAbsDiff: diff,
      });
    }
    await tf.setBackend('cpu');
    tf.dispose([small.x, small.dy]);
  }
  writeFileSync(values.out, JSON.stringify(rows, null, 2));
}

await main();
