/**
 * conv2d throughput per available tfjs backend, for UNet-like shapes: forward, backward
 * w.r.t. the input (Conv2DBackpropInput) and w.r.t. the filter (Conv2DBackpropFilter, the
 * kernel genlab registers). Prints a table and writes docs/bench/core-conv2d.md.
 *
 *   npx nx run core:bench            (or: cd packages/core && npm run bench)
 *   GENLAB_BENCH_BACKENDS=cpu,wasm   restricts the backends
 *   GENLAB_BENCH_OUT=path.md         writes elsewhere
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { getStockKernel, type ModuleLoader, registerTrainingKernels, selectBackend } from '../src/index.js';

interface Shape {
  name: string;
  batch: number;
  size: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
}

const SHAPES: Shape[] = [
  { name: '32×32, 64→64, 3×3', batch: 4, size: 32, inChannels: 64, outChannels: 64, kernel: 3, stride: 1 },
  { name: '32×32→16×16, 64→64, 3×3 s2', batch: 4, size: 32, inChannels: 64, outChannels: 64, kernel: 3, stride: 2 },
  { name: '16×16, 128→128, 3×3', batch: 4, size: 16, inChannels: 128, outChannels: 128, kernel: 3, stride: 1 },
  { name: '8×8, 256→256, 3×3', batch: 4, size: 8, inChannels: 256, outChannels: 256, kernel: 3, stride: 1 },
  { name: '16×16, 128→256, 1×1', batch: 4, size: 16, inChannels: 128, outChannels: 256, kernel: 1, stride: 1 },
];
/** The stock cpu filter gradient is ~0.01 GFLOP/s: time it on one small shape only. */
const STOCK_SHAPE: Shape = { name: '16×16, 32→32, 3×3', batch: 1, size: 16, inChannels: 32, outChannels: 32, kernel: 3, stride: 1 };

type Op = 'forward' | 'backprop input' | 'backprop filter' | 'stock cpu backprop filter';

function flops(s: Shape): number {
  const out = Math.ceil(s.size / s.stride);
  return 2 * s.batch * out * out * s.kernel * s.kernel * s.inChannels * s.outChannels;
}

/** Median seconds of `run` (each run ends by reading the result, which syncs GPU backends). */
async function time(run: () => tf.Tensor): Promise<number> {
  const once = async () => {
    const start = performance.now();
    const out = run();
    await out.data();
    out.dispose();
    return (performance.now() - start) / 1000;
  };
  await once(); // warm-up: kernel compilation, XNNPACK operator creation
  const samples: number[] = [];
  const budget = performance.now() + 1500;
  while (samples.length < 3 || (performance.now() < budget && samples.length < 20)) samples.push(await once());
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

function runOp(op: Op, s: Shape, x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor {
  const strides: [number, number] = [s.stride, s.stride];
  switch (op) {
    case 'forward':
      return tf.conv2d(x, w, strides, 'same');
    case 'backprop input':
      return tf
        .engine()
        .runKernel(
          'Conv2DBackpropInput',
          { dy, filter: w },
          { strides, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape },
        ) as tf.Tensor;
    case 'backprop filter':
      return tf
        .engine()
        .runKernel('Conv2DBackpropFilter', { x, dy }, { strides, pad: 'same', dataFormat: 'NHWC', filterShape: w.shape }) as tf.Tensor;
    case 'stock cpu backprop filter': {
      const stock = getStockKernel('Conv2DBackpropFilter', 'cpu');
      if (!stock) throw new Error('no stock cpu kernel');
      const info = stock({
        inputs: { x, dy },
        backend: tf.backend(),
        attrs: { strides, pad: 'same', dataFormat: 'NHWC', filterShape: w.shape } as never,
      });
      return tf.engine().makeTensorFromTensorInfo(info as tf.TensorInfo);
    }
  }
}

async function measure(op: Op, s: Shape): Promise<number> {
  const out = Math.ceil(s.size / s.stride);
  const x = tf.randomNormal([s.batch, s.size, s.size, s.inChannels], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([s.kernel, s.kernel, s.inChannels, s.outChannels], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const dy = tf.randomNormal([s.batch, out, out, s.outChannels], 0, 1, 'float32', 3) as tf.Tensor4D;
  try {
    return flops(s) / (await time(() => runOp(op, s, x, w, dy))) / 1e9;
  } finally {
    tf.dispose([x, w, dy]);
  }
}

/** Benchmarks each of `backends` that starts (through `loader` when given) and writes the table to `target`. */
export async function runConvBench(options: { backends?: string[]; loader?: ModuleLoader; target: string }): Promise<void> {
  const requested = options.backends;
  const candidates = (['tensorflow', 'webgpu', 'wasm', 'cpu'] as const).filter((b) => !requested || requested.includes(b));
  const rows: string[] = [];
  const available: string[] = [];
  for (const backend of candidates) {
    let detail: string;
    try {
      detail = (await selectBackend({ force: backend, env: {}, ...(options.loader ? { loader: options.loader } : {}) })).detail;
    } catch (error) {
      console.log(`${backend}: unavailable (${(error as Error).message})`);
      continue;
    }
    registerTrainingKernels(tf.getBackend());
    available.push(`${backend} (${detail})`);
    const jobs: [Op, Shape][] = SHAPES.flatMap((s) =>
      (['forward', 'backprop input', 'backprop filter'] as Op[]).map((op): [Op, Shape] => [op, s]),
    );
    if (backend === 'cpu') jobs.push(['backprop filter', STOCK_SHAPE], ['stock cpu backprop filter', STOCK_SHAPE]);
    for (const [op, s] of jobs) {
      const gflops = await measure(op, s);
      const row = `| ${backend} | ${s.name}, batch ${s.batch} | ${op} | ${(flops(s) / 1e6).toFixed(0)} | ${gflops.toFixed(gflops < 0.1 ? 4 : 2)} |`;
      console.log(row);
      rows.push(row);
    }
  }
  const cpus = os.cpus();
  const report = [
    '# conv2d throughput per tfjs backend (@lab/core)',
    '',
    `Measured ${new Date().toISOString()} with \`npx tsx bench/conv2d.ts\` in packages/core (what \`npx nx run core:bench\` runs):`,
    `${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length} logical cores (shared with other work while measured), Node ${process.version}, tfjs ${tf.version_core}.`,
    `Backends measured: ${available.join('; ')}. Padding 'same'. Median of ≥3 runs after one warm-up; each run includes reading the result back.`,
    'GFLOP/s counts 2·B·Ho·Wo·kh·kw·Ci·Co for all three ops. "backprop filter" is the kernel genlab registers',
    '(one forward Conv2D on transposed operands); "stock cpu backprop filter" is the tfjs 4.22 kernel it replaces on cpu.',
    '',
    '| backend | shape | op | MFLOP | GFLOP/s |',
    '| --- | --- | --- | ---: | ---: |',
    ...rows,
    '',
  ].join('\n');
  await writeFile(options.target, report);
  console.log(`wrote ${options.target}`);
}
