/**
 * How a tfjs-torch step's cost settles as V8 optimises its JavaScript, next to PyTorch's: the
 * step runs in chunks of `--size`, and each chunk's CPU time per step is divided by that of a
 * fixed native convolution timed just before and after it in the same process, so that this
 * machine's drift (±30 % over minutes) cancels. PyTorch's side (bench/torch/warmup_trajectory.py)
 * runs the same step and the same reference. Why `npm run bench` warms up for 1,000 steps.
 * `--capture` adds a column for the same step as a `CapturedStep` (replayed without tfjs's engine),
 * its chunks alternating with the plain step's in the same process.
 *
 *   npm run bench:warmup -- --model energy-small --step train
 *   npm run bench:warmup -- --model energy-small --step infer --chunks 12 --size 100 --write   # → docs/bench/warmup-<model>-<step>.md
 *   npm run bench:warmup -- --model energy-small --step train --capture --write                # → docs/bench/warmup-<model>-<step>-captured.md
 *
 * One thread on both sides (GENLAB_TORCH_THREADS=1, OMP_NUM_THREADS=1). Needs the LibTorch addon
 * and /usr/bin/python3 with torch.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { SYSTEM_PYTHON, torchEnv } from './lib/torch.js';
import { createWorkload, modelAndStep } from './lib/workloads.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'energy-small' },
    step: { type: 'string', default: 'train' },
    chunks: { type: 'string', default: '12' },
    size: { type: 'string', default: '100' },
    write: { type: 'boolean', default: false },
    capture: { type: 'boolean', default: false },
  },
});
const { model, step } = modelAndStep(values);
const chunks = Number(values.chunks);
const size = Number(values.size);
if (![chunks, size].every((n) => Number.isInteger(n) && n >= 1)) throw new RangeError('--chunks and --size must be positive integers');

process.env.GENLAB_TORCH_THREADS = '1';
const info = await initBackend({ force: 'torch' });
const workload = createWorkload(model, { trainBatch: 32, inferBatch: 64 });
const run = step === 'train' ? () => workload.train() : () => workload.infer();
const captured = values.capture ? createWorkload(model, { trainBatch: 32, inferBatch: 64, capture: true }) : undefined;
const runCaptured = captured && (step === 'train' ? () => captured.train() : () => captured.infer());

type Native = { op(name: string, overload: string): number; call(op: number, args: unknown[]): unknown; dispose(...ids: number[]): void };
const backend = tf.backend() as unknown as { native: Native; id(t: tf.Tensor): number };
const native = backend.native;
// The reference (as in warmup_trajectory.py): a 3×3 convolution, 32 → 64 channels, of a
// 32 × 16 × 16 channels-last batch, straight through the addon.
const x = tf.randomNormal([32, 16, 16, 32]);
const w = tf.randomNormal([64, 32, 3, 3]);
const xView = native.call(native.op('aten::permute', ''), [backend.id(x), [0, 3, 1, 2]]) as number;
const convolution = native.op('aten::convolution', '');
function referenceMs(): number {
  const start = process.cpuUsage();
  for (let i = 0; i < 40; i++)
    native.dispose(native.call(convolution, [xView, backend.id(w), null, [1, 1], [1, 1], [1, 1], false, [0, 0], 1]) as number);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / 40;
}

/** One chunk of `size` steps: CPU time per step ÷ the reference's, timed before and after it. */
async function chunk(step: () => Promise<unknown>): Promise<number> {
  const before = referenceMs();
  const start = process.cpuUsage();
  for (let i = 0; i < size; i++) await step();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / size / ((before + referenceMs()) / 2);
}

const ours: number[] = [];
const oursCaptured: number[] = [];
for (let c = 0; c < chunks; c++) {
  ours.push(await chunk(run));
  if (runCaptured) oursCaptured.push(await chunk(runCaptured));
}
native.dispose(xView);
tf.dispose([x, w]);
workload.dispose();
captured?.dispose();

const python = spawnSync(
  SYSTEM_PYTHON,
  [
    join(import.meta.dirname, 'torch/warmup_trajectory.py'),
    '--spec',
    JSON.stringify(workload.spec),
    '--step',
    step,
    '--chunks',
    String(chunks),
    '--size',
    String(size),
  ],
  { env: torchEnv(1), encoding: 'utf8', maxBuffer: 1 << 20 },
);
if (python.status !== 0) throw new Error(`warmup_trajectory.py failed: ${python.stderr.trim().split('\n').slice(-3).join(' ')}`);
const theirs = (JSON.parse(python.stdout.trim().split('\n').pop() ?? '{}') as { ratios: number[] }).ratios;

const command = `npm run bench:warmup -- --model ${model} --step ${step} --chunks ${chunks} --size ${size}${captured ? ' --capture' : ''}`;
const ratio = (theirs: number | undefined, mine: number | undefined) =>
  theirs === undefined || mine === undefined ? '—' : (theirs / mine).toFixed(2);
const lines = [
  `# Warm-up: ${model}, ${step}`,
  '',
  `Written by \`${command} --write\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, one thread each (${info.detail}).`,
  '',
  'CPU time per step divided by a fixed native convolution timed around each chunk in the same process',
  "(lower is faster; the two columns compare too, as both divide by the same operator's time).",
  '',
  ...(captured
    ? [
        'tfjs-torch captured: the same step as a `CapturedStep` (@lab/core), its chunks alternating with the plain ones;',
        'its first three steps run as they are and are recorded, the rest replay.',
        '',
        '| steps | tfjs-torch | tfjs-torch captured | PyTorch | PyTorch ÷ tfjs-torch | PyTorch ÷ captured |',
        '| ---: | ---: | ---: | ---: | ---: | ---: |',
        ...ours.map(
          (r, i) =>
            `| ${(i + 1) * size} | ${r.toFixed(2)} | ${oursCaptured[i]?.toFixed(2) ?? '—'} | ${theirs[i]?.toFixed(2) ?? '—'} | ${ratio(theirs[i], r)} | ${ratio(theirs[i], oursCaptured[i])} |`,
        ),
      ]
    : [
        '| steps | tfjs-torch | PyTorch | PyTorch ÷ tfjs-torch |',
        '| ---: | ---: | ---: | ---: |',
        ...ours.map((r, i) => `| ${(i + 1) * size} | ${r.toFixed(2)} | ${theirs[i]?.toFixed(2) ?? '—'} | ${ratio(theirs[i], r)} |`),
      ]),
  '',
];
const report = lines.join('\n');
console.log(report);
if (values.write) {
  const file = join(import.meta.dirname, `../docs/bench/warmup-${model}-${step}${captured ? '-captured' : ''}.md`);
  writeFileSync(file, report);
  console.log(`wrote ${file}`);
}
