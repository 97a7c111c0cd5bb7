/**
 * What each of the tfjs-torch step's optimisations (issue 16) buys, measured in one process: a bench model's
 * training and sampling steps (energy-small on tfjs-torch unless told) with each change switched
 * off (the earlier code path, restored by swapping functions) and on, rounds alternating, CPU time
 * per step (getrusage, so time lost to other processes does not count). Only `lean-saves` applies
 * to other backends (on wasm, tfjs's clone copies each saved tensor).
 *
 *   npm run bench:torch-step-ab                     # every change together
 *   npm run bench:torch-step-ab -- --changes adam   # one: lean-saves, adam, padding, shapes, fused-layers, pad-copy
 *   npm run bench:torch-step-ab -- --write          # → docs/bench/torch-step-ab.md (--out another file)
 *   npm run bench:torch-step-ab -- --backend wasm --model unet-tiny --changes lean-saves
 *
 * The changes: `lean-saves` (@lab/core saves tensors for a first-order gradient by reference, not
 * through tfjs's clone), `adam` (one addon call, not eight `_foreach_` list operations), `padding`
 * (a stride-2 'same' convolution pads once for its forward pass and filter gradient) and `shapes`
 * (a result's shape from the call that made it, not a `meta` call); and, from 2026-12-06,
 * `fused-layers` (@lab/core's fused convolution and dense kernels, which the energy net's plain
 * chain runs on; off, the backend lacks them and the layers run as tfjs-layers calls them) and
 * `pad-copy` (a convolution's asymmetric padding by the addon's row copy; off,
 * aten::constant_pad_nd). The faster seeded normal fill cannot be switched off here (it is
 * compiled in); `npm run bench:cd-step` times it against tf.randomNormal.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../packages/backend-torch/src/backend.js';
import { foreachAdam } from '../packages/backend-torch/src/kernels/optimizer.js';
import type { TorchNative } from '../packages/backend-torch/src/native.js';
import { useFusedLayerKernels } from './lib/torch-kernels.js';
import { BENCH_MODELS, type BenchModelName, createWorkload } from './lib/workloads.js';

const CHANGES = ['lean-saves', 'adam', 'padding', 'shapes', 'fused-layers', 'pad-copy'] as const;
type Change = (typeof CHANGES)[number];

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: CHANGES.join(',') },
    backend: { type: 'string', default: 'torch' },
    model: { type: 'string', default: 'energy-small' },
    rounds: { type: 'string', default: '8' },
    steps: { type: 'string', default: '300' },
    write: { type: 'boolean', default: false },
    out: { type: 'string', default: 'docs/bench/torch-step-ab.md' },
  },
});
const changes = (values.changes as string).split(',') as Change[];
for (const change of changes) if (!CHANGES.includes(change)) throw new RangeError(`--changes: one or more of ${CHANGES.join(', ')}`);
const backendName = values.backend as 'torch' | 'wasm' | 'cpu';
if (backendName !== 'torch' && changes.some((change) => change !== 'lean-saves'))
  throw new RangeError('--changes: only lean-saves applies to a backend other than torch');
const model = values.model as BenchModelName;
if (!BENCH_MODELS.includes(model)) throw new RangeError(`--model must be one of ${BENCH_MODELS.join(', ')}`);
const rounds = Number(values.rounds);
const steps = Number(values.steps);

process.env.GENLAB_TORCH_THREADS ??= '1';
const info = await initBackend({ force: backendName });

/** The internals each switch swaps (the engine's clone, the backend's helpers, the addon's Adam). */
interface Native {
  adamUpdate: TorchNative['adamUpdate'];
  toArray: (id: number) => Float32Array;
  meta: (id: number) => number[];
  padNhwc: (x: number, padding: readonly [number, number, number, number]) => number;
  dispose: (...ids: number[]) => void;
}
interface Backend {
  native: Native;
  takePadded: (...args: unknown[]) => number | undefined;
  callTensor: (operator: string, args: readonly unknown[]) => number;
  keepPadded: (x: unknown, key: string, id: number) => void;
  metaOf: (id: number) => number[];
}
const engine = tf.engine() as unknown as { clone?: unknown };
const backend = tf.backend() as unknown as Backend;
const native = backend.native ?? ({} as Native);

/** Adam as the backend ran it before: eight `_foreach_` list operations (its CUDA path). */
const foreachAdamCall: TorchNative['adamUpdate'] = (values, gradients, ms, vs, hyper, beta1Power, beta2Power) => {
  const [learningRate, beta1, beta2, epsilon] = hyper as [number, number, number, number];
  const biasCorrection = (power: number) => 1 - (native.toArray(power)[0] as number);
  const [biasCorrection1, biasCorrection2] = [biasCorrection(beta1Power), biasCorrection(beta2Power)];
  const attrs = { count: values.length, learningRate, beta1, beta2, epsilon, biasCorrection1, biasCorrection2 };
  return foreachAdam(tf.backend() as TorchBackend, [[...values], [...gradients], [...ms], [...vs]], attrs);
};

const leanClone = engine.clone;
// The torch switches' "on" functions (only --backend torch has them).
const torch = backendName === 'torch';
const fusedAdam = torch ? native.adamUpdate.bind(native) : native.adamUpdate;
const takePadded = torch ? backend.takePadded.bind(backend) : backend.takePadded;
const keepPadded = torch ? backend.keepPadded.bind(backend) : backend.keepPadded;
const metaOf = torch ? backend.metaOf.bind(backend) : backend.metaOf;
const padNhwc = torch ? native.padNhwc.bind(native) : native.padNhwc;
const switches: Record<Change, (on: boolean) => void> = {
  // Off: the engine's own clone (from its prototype) runs again.
  'lean-saves': (on) => {
    if (on) engine.clone = leanClone;
    else delete engine.clone;
  },
  adam: (on) => {
    native.adamUpdate = on ? fusedAdam : foreachAdamCall;
  },
  // Off: nothing is kept, so the filter gradient pads again.
  padding: (on) => {
    backend.takePadded = on ? takePadded : () => undefined;
    backend.keepPadded = on ? keepPadded : (_x, _key, id) => native.dispose(id);
  },
  shapes: (on) => {
    backend.metaOf = on ? metaOf : (id) => native.meta(id);
  },
  'pad-copy': (on) => {
    native.padNhwc = on
      ? padNhwc
      : (x, [top, bottom, left, right]) => backend.callTensor('aten::constant_pad_nd', [x, [0, 0, left, right, top, bottom], 0]);
  },
  // Off: the backend lacks the kernels, so the ops and the energy net take their tfjs-layers path.
  'fused-layers': useFusedLayerKernels,
};
const setAll = (on: boolean) => {
  for (const change of changes) switches[change](on);
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
const rows: string[] = [];
for (const step of ['train', 'infer'] as const) {
  const workload = createWorkload(model, { trainBatch: 32, inferBatch: 64 });
  for (let i = 0; i < 5; i++) await workload[step]();
  const cpuMs: Record<'off' | 'on', number[]> = { off: [], on: [] };
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      setAll(mode === 'on');
      for (let i = 0; i < 3; i++) await workload[step]();
      const start = process.cpuUsage();
      for (let i = 0; i < steps; i++) await workload[step]();
      const used = process.cpuUsage(start);
      cpuMs[mode].push((used.user + used.system) / 1000 / steps);
    }
  }
  setAll(true);
  workload.dispose();
  const [off, on] = [median(cpuMs.off), median(cpuMs.on)];
  const pairs = cpuMs.off.map((o, i) => (o / (cpuMs.on[i] as number)).toFixed(2));
  rows.push(`| ${step} | ${off.toFixed(2)} | ${on.toFixed(2)} | ${(off / on).toFixed(2)}× | ${pairs.join(' ')} |`);
  console.log(rows.at(-1));
}

const report = [
  `# ${model} on tfjs-${backendName}: ${changes.join(', ')}, off and on`,
  '',
  `Written by \`npm run bench:torch-step-ab -- --backend ${backendName} --model ${model} --changes ${changes.join(',')} --rounds ${rounds} --steps ${steps} --write${values.out === 'docs/bench/torch-step-ab.md' ? '' : ` --out ${values.out}`}\` (bench/torch-step-ab.ts) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
  `Backend: ${info.name}${info.detail ? ` (${info.detail})` : ''}. Training at batch 32, sampling at batch 64 (bench/lib/workloads.ts).`,
  `Median CPU time per step over ${rounds} rounds of ${steps} steps (after 3 untimed), off and on alternating; the last column is each round's ratio.`,
  '',
  '| step | CPU ms, off | CPU ms, on | speed-up | per round |',
  '| --- | ---: | ---: | ---: | --- |',
  ...rows,
  '',
];
if (values.write) writeFileSync(new URL(`../${values.out}`, import.meta.url), report.join('\n'));
else console.log(report.join('\n'));
