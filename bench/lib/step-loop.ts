/**
 * A model's train or infer step in an endless loop, for a profiler to attach to: prints `warm`
 * once the warm-up steps are done (bench/perf-dso.ts).
 *
 *   node --conditions=@lab/source --import tsx bench/lib/step-loop.ts --backend torch --model energy-small --step train --warmup 1500
 *
 * `--capture`: the step as a `CapturedStep` (replayed without tfjs's engine after its recordings).
 */
import { parseArgs } from 'node:util';
import { type BackendName, initBackend } from '@lab/core';
import { createWorkload, modelAndStep } from './workloads.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'torch' },
    model: { type: 'string', default: 'energy-small' },
    step: { type: 'string', default: 'train' },
    warmup: { type: 'string', default: '1500' },
    capture: { type: 'boolean', default: false },
  },
});
await initBackend({ force: values.backend as BackendName });
const { model, step: kind } = modelAndStep(values);
const workload = createWorkload(model, { trainBatch: 32, inferBatch: 64, capture: values.capture });
const step = kind === 'infer' ? () => workload.infer() : () => workload.train();
for (let i = 0; i < Number(values.warmup); i++) await step();
console.log('warm');
for (;;) await step();
