/**
 * Where a warmed-up step's CPU time goes by library, tfjs-torch next to PyTorch (issue 16), with
 * Linux `perf`: each side runs the step in a loop (bench/lib/step-loop.ts, bench/torch/step_loop.py),
 * and once warm, `perf record` samples it for `--seconds`. Samples are grouped by shared object;
 * V8's JIT-compiled JavaScript is told apart from oneDNN's JIT-compiled kernels through node's
 * --perf-basic-prof map. The two runs sample at different times on a machine whose speed drifts,
 * and their libraries do different work per step (NHWC against NCHW convolutions, a fused Adam
 * against PyTorch's), so the table compares each library's share of its own side's samples, not
 * absolute counts: what the JavaScript engine takes of a tfjs-torch step, against what Python's
 * interpreter takes of PyTorch's.
 *
 *   npm run bench:perf-dso -- --model energy-small --step train [--seconds 8] [--write]   # → docs/bench/perf-dso-<model>-<step>.md
 *   npm run bench:perf-dso -- --model energy-small --step train --capture --write         # → …-<step>-captured.md (a CapturedStep)
 *
 * One thread on both sides. Needs `perf` (Debian: linux-perf), the LibTorch addon and
 * /usr/bin/python3 with torch.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '@lab/core';
import { SYSTEM_PYTHON, tfjsTorchEnv, torchEnv } from './lib/torch.js';
import { createWorkload, modelAndStep } from './lib/workloads.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'energy-small' },
    step: { type: 'string', default: 'train' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1500' },
    write: { type: 'boolean', default: false },
    capture: { type: 'boolean', default: false },
  },
});
const { model, step } = modelAndStep(values);
if (spawnSync('perf', ['--version']).status !== 0) throw new Error('needs Linux perf (Debian: apt-get install linux-perf)');

await initBackend({ force: 'cpu' });
const workload = createWorkload(model, { trainBatch: 32, inferBatch: 64 });
const spec = workload.spec;
workload.dispose();
const dir = mkdtempSync(join(tmpdir(), 'genlab-perf-'));

/** Starts `command`, waits for its `warm` line, samples it with perf, stops it. */
async function sample(command: string, args: string[], env: NodeJS.ProcessEnv, out: string): Promise<number> {
  const child: ChildProcess = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before warming up`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('warm')) resolve();
    });
  });
  const pid = child.pid as number;
  child.removeAllListeners('exit');
  try {
    execFileSync('perf', ['record', '-F', '2000', '-p', String(pid), '-o', out, '--', 'sleep', String(values.seconds)], {
      stdio: 'ignore',
    });
  } finally {
    child.kill('SIGKILL');
  }
  return pid;
}

/** Samples per shared object, from `perf report --sort dso`. */
function samplesByObject(file: string, extra: string[] = []): Map<string, number> {
  const text = execFileSync('perf', ['report', '-i', file, '--no-children', '--stdio', '--show-nr-samples', '-g', 'none', ...extra], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^\s+[\d.]+%\s+(\d+)\s+(.+?)\s*$/.exec(line);
    if (match) counts.set(match[2] as string, (counts.get(match[2] as string) ?? 0) + Number(match[1]));
  }
  return counts;
}

/** Library groups, in table order; the first whose pattern matches a shared object takes it. */
const GROUPS: Array<[string, RegExp]> = [
  ['oneDNN JIT kernels (convolutions)', /^oneDNN JIT$/],
  ['libdnnl (oneDNN, compiled)', /libdnnl/],
  ['libtorch_cpu (ATen, autograd)', /libtorch_cpu/],
  ['libsleef (exp) + OpenBLAS (gemm)', /libsleef|libopenblas/],
  ['libc (memcpy, malloc)', /^libc\.so/],
  ['genlab addon (Adam, pad, N-API glue)', /genlab_torch/],
  ['V8 JIT (JavaScript)', /^V8 JIT$/],
  ['node (V8 runtime, GC, N-API)', /^node$/],
  ['python (interpreter, libtorch_python)', /python/],
  ['other (c10, libstdc++, kernel, ...)', /./],
];

function grouped(counts: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>(GROUPS.map(([name]) => [name, 0]));
  for (const [object, n] of counts) {
    const group = GROUPS.find(([, pattern]) => pattern.test(object));
    if (group) out.set(group[0], (out.get(group[0]) ?? 0) + n);
  }
  return out;
}

const oursFile = join(dir, 'ours.data');
const pid = await sample(
  process.execPath,
  [
    '--perf-basic-prof',
    // --perf-basic-prof also writes V8's log: into the scratch folder, not the working directory.
    `--logfile=${join(dir, 'v8.log')}`,
    '--no-logfile-per-isolate',
    '--conditions=@lab/source',
    '--import',
    'tsx',
    join(import.meta.dirname, 'lib/step-loop.ts'),
    '--model',
    model,
    '--step',
    step,
    '--warmup',
    String(values.warmup),
    ...(values.capture ? ['--capture'] : []),
  ],
  tfjsTorchEnv(1),
  oursFile,
);
const torchFile = join(dir, 'torch.data');
await sample(
  SYSTEM_PYTHON,
  [join(import.meta.dirname, 'torch/step_loop.py'), '--spec', JSON.stringify(spec), '--step', step],
  torchEnv(1),
  torchFile,
);

// Split the JIT samples of node: V8's functions are named by its perf map, oneDNN's kernels are not.
const ours = samplesByObject(oursFile, ['--sort', 'dso']);
for (const [object, n] of [...ours]) {
  if (!object.startsWith('[JIT]')) continue;
  ours.delete(object);
  const symbols = samplesByObject(oursFile, ['--sort', 'sym', '--dsos', object]);
  let unnamed = 0;
  for (const [symbol, count] of symbols) if (/^\[\.\] 0x[0-9a-f]+$/.test(symbol)) unnamed += count;
  ours.set('oneDNN JIT', (ours.get('oneDNN JIT') ?? 0) + unnamed);
  ours.set('V8 JIT', (ours.get('V8 JIT') ?? 0) + n - unnamed);
}
const torch = samplesByObject(torchFile, ['--sort', 'dso']);
for (const [object, n] of [...torch]) {
  if (!object.startsWith('[JIT]')) continue;
  torch.delete(object);
  torch.set('oneDNN JIT', (torch.get('oneDNN JIT') ?? 0) + n);
}
const mapFile = `/tmp/perf-${pid}.map`;
if (existsSync(mapFile)) rmSync(mapFile);
rmSync(dir, { recursive: true, force: true });

const oursGroups = grouped(ours);
const torchGroups = grouped(torch);
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const oursTotal = total(oursGroups);
const torchTotal = total(torchGroups);
const share = (n: number, of: number) => `${((100 * n) / of).toFixed(1)} %`;

const command = `npm run bench:perf-dso -- --model ${model} --step ${step} --seconds ${values.seconds}${values.capture ? ' --capture' : ''}`;
const lines = [
  `# Where the CPU time goes, by library: ${model}, ${step}${values.capture ? ' (tfjs-torch: a CapturedStep, replayed)' : ''}`,
  '',
  `Written by \`${command} --write\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; one thread each, ${values.seconds} s of perf samples (2 kHz) after ${values.warmup} warm-up steps (PyTorch: 300).`,
  '',
  "Samples and their share of each side's total (the two runs cover different numbers of steps: compare shares).",
  '',
  '| library | tfjs-torch | share | PyTorch | share |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...GROUPS.map(([name]) => {
    const a = oursGroups.get(name) ?? 0;
    const b = torchGroups.get(name) ?? 0;
    return `| ${name} | ${a} | ${share(a, oursTotal)} | ${b} | ${share(b, torchTotal)} |`;
  }),
  `| **total** | **${oursTotal}** | | **${torchTotal}** | |`,
  '',
  `The language runtime (V8's JIT code and node; Python's interpreter) takes ${share(
    (oursGroups.get('V8 JIT (JavaScript)') ?? 0) + (oursGroups.get('node (V8 runtime, GC, N-API)') ?? 0),
    oursTotal,
  )} of tfjs-torch's samples and ${share(torchGroups.get('python (interpreter, libtorch_python)') ?? 0, torchTotal)} of PyTorch's.`,
  '',
];
const report = lines.join('\n');
console.log(report);
if (values.write) {
  const file = join(import.meta.dirname, `../docs/bench/perf-dso-${model}-${step}${values.capture ? '-captured' : ''}.md`);
  writeFileSync(file, report);
  console.log(`wrote ${file}`);
}
