/**
 * Where a tfjs-torch step spends its CPU time (issue 16): every call into the LibTorch addon
 * is timed by the process's CPU clock (getrusage, so time lost to other processes on a busy
 * machine does not count), per ATen operator, next to the step's total CPU time. What is left
 * after the addon's share is tfjs's engine, the gradient tape and the kernels' TypeScript.
 *
 *   npm run bench:profile-torch -- --model energy-small --step train --steps 100
 *   npm run bench:profile-torch -- --model unet-tiny --step infer --write   # → docs/bench/torch-profile-<model>-<step>.md
 *
 * Threads: GENLAB_TORCH_THREADS (default here 1, to compare with 1-thread PyTorch).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { createWorkload, modelAndStep } from './lib/workloads.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'energy-small' },
    step: { type: 'string', default: 'train' },
    steps: { type: 'string', default: '50' },
    batch: { type: 'string' },
    write: { type: 'boolean', default: false },
  },
});
const { model, step } = modelAndStep(values);
const steps = Number(values.steps);
if (!Number.isInteger(steps) || steps < 1) throw new RangeError('--steps must be a positive integer');

process.env.GENLAB_TORCH_THREADS ??= '1';
await initBackend({ force: 'torch' });

interface Tally {
  calls: number;
  cpuMs: number;
}
type Native = Record<string, (...args: unknown[]) => unknown>;
const native = (tf.backend() as unknown as { native: Native }).native;
const operatorNames: string[] = [];
const byOperator = new Map<string, Tally>();
let counting = false;

/** Wraps an addon function so that each call adds its CPU time to `byOperator` under `key(args)`. */
function instrument(name: string, key: (args: unknown[]) => string): void {
  const original = (native[name] as (...args: unknown[]) => unknown).bind(native);
  native[name] = (...args: unknown[]) => {
    if (!counting) return original(...args);
    const start = process.cpuUsage();
    const result = original(...args);
    const used = process.cpuUsage(start);
    const tally = byOperator.get(key(args)) ?? { calls: 0, cpuMs: 0 };
    tally.calls += 1;
    tally.cpuMs += (used.user + used.system) / 1000;
    byOperator.set(key(args), tally);
    return result;
  };
}
const lookUp = (native.op as (name: string, overload: string) => number).bind(native);
native.op = (name: unknown, overload: unknown) => {
  const index = lookUp(name as string, overload as string);
  operatorNames[index] = overload ? `${name}.${overload}` : (name as string);
  return index;
};
const trainBatch = Number(values.batch ?? 32);
const workload = createWorkload(model, { trainBatch, inferBatch: Number(values.batch ?? 64) });
// Enough untimed steps for V8 to optimise the step's JavaScript (after 3, the plain pass below
// still ran ~10 % slower than the instrumented one after it).
for (let i = 0; i < 50; i++) await workload[step]();
// A pass without instrumentation gives the step's own CPU time (the timing wrappers are installed
// after it); the instrumented pass adds two getrusage calls per addon call, which the
// per-operator figures include. This machine's speed drifts by ±20 % over minutes: compare runs
// made back to back, or use bench:torch-step-ab's alternating rounds.
const plainStart = process.cpuUsage();
for (let i = 0; i < steps; i++) await workload[step]();
const plain = process.cpuUsage(plainStart);
instrument('call', (args) => operatorNames[args[0] as number] ?? `operator #${args[0]}`);
for (const name of ['dispose', 'meta', 'fromArray', 'toArray', 'adamUpdate', 'aleaNormal', 'groupNormNhwc', 'padNhwc'])
  instrument(name, () => `(addon ${name})`);
counting = true;
const start = process.cpuUsage();
for (let i = 0; i < steps; i++) await workload[step]();
const used = process.cpuUsage(start);
counting = false;
const kernels = (await tf.profile(() => workload[step]())).kernels.length;
workload.dispose();

const perStep = (ms: number) => ms / steps;
const stepCpuMs = perStep((plain.user + plain.system) / 1000);
const instrumentedMs = perStep((used.user + used.system) / 1000);
const rows = [...byOperator].sort((a, b) => b[1].cpuMs - a[1].cpuMs);
const addonMs = perStep(rows.reduce((sum, [, t]) => sum + t.cpuMs, 0));
const addonCalls = perStep(rows.reduce((sum, [, t]) => sum + t.calls, 0));
const lines = [
  `# tfjs-torch profile: ${model}, ${step}`,
  '',
  `Written by \`npm run bench:profile-torch -- --model ${model} --step ${step} --steps ${steps}${values.batch ? ` --batch ${values.batch}` : ''} --write\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, GENLAB_TORCH_THREADS=${process.env.GENLAB_TORCH_THREADS}.`,
  '',
  `- One ${step} step: **${stepCpuMs.toFixed(2)} ms of CPU** (${steps} steps; ${instrumentedMs.toFixed(2)} ms with the timers on), ${kernels} tfjs kernels, ${addonCalls.toFixed(0)} addon calls.`,
  `- Inside the addon (ATen and the bridge): ${addonMs.toFixed(2)} ms; the rest, ${(instrumentedMs - addonMs).toFixed(2)} ms, is tfjs's engine, the tape and the kernels' TypeScript (and the timers).`,
  '',
  '| operator | calls / step | CPU ms / step | µs / call |',
  '| --- | ---: | ---: | ---: |',
  ...rows.map(
    ([name, t]) =>
      `| ${name} | ${perStep(t.calls).toFixed(1)} | ${perStep(t.cpuMs).toFixed(3)} | ${((t.cpuMs / t.calls) * 1000).toFixed(1)} |`,
  ),
  '',
];
const text = lines.join('\n');
process.stdout.write(text);
if (values.write) {
  const path = new URL(`../docs/bench/torch-profile-${model}-${step}.md`, import.meta.url);
  writeFileSync(path, text);
  process.stdout.write(`\nwrote ${path.pathname}\n`);
}
