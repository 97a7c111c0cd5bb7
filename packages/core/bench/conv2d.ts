/**
 * conv2d throughput per available tfjs backend, for UNet-like shapes: forward, backward
 * w.r.t. the input (Conv2DBackpropInput) and w.r.t. the filter (Conv2DBackpropFilter, the
 * kernel genlab registers). Prints a table and writes docs/bench/core-conv2d.md.
 *
 *   npx nx run core:bench            (or: cd packages/core && npm run bench)
 *   GENLAB_BENCH_BACKENDS=cpu,wasm   restricts the backends
 *   GENLAB_BENCH_OUT=path.md         writes elsewhere
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runConvBench } from './conv2d-bench.js';

await runConvBench({
  ...(process.env.GENLAB_BENCH_BACKENDS ? { backends: process.env.GENLAB_BENCH_BACKENDS.split(',').map((b) => b.trim()) } : {}),
  target: process.env.GENLAB_BENCH_OUT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/bench/core-conv2d.md'),
});
