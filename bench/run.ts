/**
 * `npm run bench`: tfjs (every available backend) against PyTorch, one run, one report.
 *
 * Runs each case in its own child process (node + tsx on the TypeScript sources, `@lab/*`
 * resolved through the `@lab/source` export condition): tfjs-wasm, tfjs-cpu and tfjs-torch
 * (@lab/backend-torch, LibTorch; with GENLAB_TORCH_THREADS=2 and =1, when its addon loads), then the PyTorch mirror
 * (bench/torch/bench_torch.py) when Debian's python3-torch is installed, a training-loop
 * memory check, the Conv2DBackpropFilter before/after comparison, and "both cores" (bench/lib/parallel.ts:
 * the trainer CLI with and without data-parallel workers, and a pool of two inference processes). Writes
 * docs/bench/latest.md (and the raw numbers to latest.json) and appends a line to docs/bench/history.md.
 *
 *   npm run bench                      # everything (11 min on the shared 2-core machine at load 6–8, + ~3.5 min for "both cores")
 *   npm run bench -- --quick           # tiny + energy only, fewer steps (5–6 min there)
 *   npm run bench -- --no-write        # print the report, leave docs/ alone
 *
 * Options: --quick, --no-torch (no PyTorch reference), --no-write, --no-memory, --no-kernels, --no-parallel (skip "both cores"),
 * --parallel (run "both cores" under --quick too), --backends wasm,cpu,torch (the default), --models unet-tiny,…
 * (default unet-tiny,energy-small,unet-small; classifier-medium, the batch-norm/max-pool/dropout model, on request),
 * --memory-steps N (default 1000), --memory-budget-s S (default 90), --case-timeout-s S (default 300).
 */
import { execSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type ChildOutcome, runJsonChild, tsxArgs } from './lib/child.js';
import { type ParallelReport, runInferencePool, runTrainer, type TrainerComparison, type TrainerRunResult } from './lib/parallel.js';
import {
  type BenchReport,
  historyLine,
  type KernelComparisonRow,
  type MemoryCheckResult,
  type RuntimeRow,
  renderLatest,
  TFJS_TORCH,
  TFJS_TORCH_CAPTURED,
  TFJS_TORCH_CAPTURED_ONE_THREAD,
  TFJS_TORCH_ONE_THREAD,
  type TfjsTorchConfig,
  TORCH_ONE_THREAD,
} from './lib/report.js';
import { writeSyntheticCifarDir } from './lib/synthetic-cifar.js';
import type { CaseResult } from './lib/tfjs-case.js';
import { SYSTEM_PYTHON, type TfjsTorchStatus, type TorchResult, tfjsTorchEnv, torchArgs, torchAvailable, torchEnv } from './lib/torch.js';
import type { BenchModelName } from './lib/workloads.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    'no-memory': { type: 'boolean', default: false },
    'no-kernels': { type: 'boolean', default: false },
    'no-parallel': { type: 'boolean', default: false },
    parallel: { type: 'boolean', default: false },
    backends: { type: 'string', default: 'wasm,cpu,torch' },
    models: { type: 'string', default: 'unet-tiny,energy-small,unet-small' },
    'memory-steps': { type: 'string', default: '1000' },
    'memory-budget-s': { type: 'string', default: '90' },
    'case-timeout-s': { type: 'string', default: '300' },
  },
});

/** The tfjs backends the bench knows (`--backends`). */
const BACKENDS = ['wasm', 'cpu', 'torch'] as const;
type Backend = (typeof BACKENDS)[number];

/** One tfjs measurement to make. */
interface Case {
  backend: Backend;
  /** The row's name: `tfjs-wasm`, `tfjs-cpu`, `tfjs-torch` (2 threads), `tfjs-torch 1 thread`. */
  runtime: string;
  /** torch only: LibTorch's intra-op threads (GENLAB_TORCH_THREADS), and the PyTorch rows' environment. */
  threads?: number;
  /** torch only: both steps as `CapturedStep`s (replayed without tfjs's engine). */
  capture?: boolean;
  model: BenchModelName;
  trainBatch: number;
  inferBatch: number;
  profile: boolean;
  budgetMs: number;
  maxSteps: number;
  warmupMs: number;
  warmupSteps: number;
  warmupTargetSteps: number;
  warmupMaxMs: number;
}

/**
 * How each case (tfjs and PyTorch alike) times its steps: `warmupSteps` untimed steps and more
 * until `warmupMs` have passed, and on until `warmupTargetSteps` steps unless `warmupMaxMs` have
 * passed; then up to `maxSteps` timed steps within `budgetMs` (at least 2), median reported.
 * Fast models need the long warm-up: V8 optimises the JavaScript of a step called once per
 * iteration only after hundreds of calls (energy-small on tfjs-torch ran ~20 % slower per step
 * over its first 500 steps than after 1,000, against a native convolution timed in the same
 * process), while a 1 s warm-up is ~200 of its steps. Slow ones need a few steps: unet-small's
 * first steps on tfjs-torch ran ~15 % slower than later ones (the allocator growing to a 4 GB peak).
 */
function stepTiming(
  quick: boolean,
): Pick<Case, 'warmupSteps' | 'warmupMs' | 'warmupTargetSteps' | 'warmupMaxMs' | 'maxSteps' | 'budgetMs'> {
  return quick
    ? { warmupSteps: 1, warmupMs: 500, warmupTargetSteps: 0, warmupMaxMs: 0, maxSteps: 10, budgetMs: 5_000 }
    : { warmupSteps: 3, warmupMs: 1_000, warmupTargetSteps: 1_000, warmupMaxMs: 8_000, maxSteps: 50, budgetMs: 10_000 };
}

/** Batches as in issue 8: 32 to train, 64 to infer. */
const TRAIN_BATCH = 32;
const INFER_BATCH = 64;
/**
 * unet-small's training step holds ~250 MiB of tensors per sample on tfjs (see the profile's
 * peak), so batch 32 does not fit the wasm heap (4 GiB): on this machine it aborted inside
 * XNNPACK's Conv2D (2026-11-28). Batch 8 fits; torch then runs at 8 too.
 */
const WASM_SMALL_TRAIN_BATCH = 8;

/**
 * The tfjs-torch rows: LibTorch with 2 intra-op threads (against 2-thread PyTorch) and with 1 (like
 * with like per CPU-second), each with its steps as they are and as captured steps (@lab/core's
 * `CapturedStep`: recorded twice, then replayed by the addon without tfjs's engine).
 */
const TFJS_TORCH_RUNS = [
  { runtime: TFJS_TORCH, threads: 2, capture: false },
  { runtime: TFJS_TORCH_ONE_THREAD, threads: 1, capture: false },
  { runtime: TFJS_TORCH_CAPTURED, threads: 2, capture: true },
  { runtime: TFJS_TORCH_CAPTURED_ONE_THREAD, threads: 1, capture: true },
] as const;

/**
 * What to measure. The cpu backend (pure JS) is ~10× slower than wasm: it runs only the
 * tiny UNet (at batch 4 / 8, or one step would take minutes) and the energy net. torch runs
 * every model at 32 / 64 (no wasm heap limit), twice: 2 threads, then 1; when its addon does
 * not load (`torchSkip`), its rows say why.
 */
function plan(
  backends: Backend[],
  models: BenchModelName[],
  quick: boolean,
  torchSkip: string | undefined,
): { cases: Case[]; skipped: RuntimeRow[] } {
  const cases: Case[] = [];
  const skipped: RuntimeRow[] = [];
  const timing = stepTiming(quick);
  for (const backend of backends) {
    for (const model of models) {
      if (quick && model === 'unet-small') continue;
      if (backend === 'torch') {
        if (torchSkip !== undefined) {
          skipped.push({ model, runtime: TFJS_TORCH, skipped: torchSkip });
          continue;
        }
        for (const { runtime, threads, capture } of TFJS_TORCH_RUNS) {
          // Profiles (not under --quick) of the 2-thread plain row only: per-kernel times are the same work
          // either way, and a replayed step runs no tfjs kernels to profile.
          cases.push({
            backend,
            runtime,
            threads,
            capture,
            model,
            trainBatch: TRAIN_BATCH,
            inferBatch: INFER_BATCH,
            profile: !quick && threads === 2 && !capture,
            ...timing,
          });
        }
        continue;
      }
      if (backend === 'cpu' && (model === 'unet-small' || model === 'classifier-medium')) {
        skipped.push({ model, runtime: 'tfjs-cpu', skipped: 'one batch-32 training step takes several minutes on the pure-JS backend' });
        continue;
      }
      const small = backend === 'cpu' && model === 'unet-tiny';
      cases.push({
        backend,
        runtime: `tfjs-${backend}`,
        model,
        trainBatch: small ? 4 : backend === 'wasm' && model === 'unet-small' ? WASM_SMALL_TRAIN_BATCH : TRAIN_BATCH,
        inferBatch: small ? 8 : INFER_BATCH,
        profile: !quick,
        ...timing,
      });
    }
  }
  return { cases, skipped };
}

/**
 * "Both cores": the models trained through the trainer CLI with and without data-parallel workers
 * (unet-small at the batch the wasm rows use, as one micro-batch), and the inference pool.
 */
const PARALLEL_MODELS = [
  { model: 'unet-tiny', preset: 'tiny', batch: TRAIN_BATCH, microBatch: undefined },
  { model: 'unet-small', preset: 'small', batch: WASM_SMALL_TRAIN_BATCH, microBatch: WASM_SMALL_TRAIN_BATCH },
] as const;
/** Inference processes run together: one per core of the 2-core machine, each at half the batch. */
const POOL_PROCESSES = 2;
/** Records per file of the synthetic CIFAR-10 folder (6 files; the trainer samples its batches from the 5 training ones). */
const SYNTHETIC_RECORDS_PER_FILE = 64;

/** How an exhausted wasm heap shows up in a child's stderr. */
const OUT_OF_MEMORY = /out of memory|Cannot enlarge memory|Aborted\(|OOM|allocation failed|RangeError: (Array buffer|WebAssembly)/i;

const log = (message: string) => process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

function quiet(line: string): void {
  // tfjs's "install tfjs-node" banner is noise here.
  if (/tfjs-node|={10,}|Hi, looks like/.test(line)) return;
  // An aborted wasm module prints its whole minified source: keep the start of such lines.
  process.stderr.write(`    ${line.length > 300 ? `${line.slice(0, 300)}…` : line}\n`);
}

function shell(command: string): string {
  try {
    return execSync(command, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function tfjsVersion(): string {
  try {
    return (
      (
        JSON.parse(execSync('npm ls @tensorflow/tfjs-core --json --depth=0', { cwd: ROOT, encoding: 'utf8' })) as {
          dependencies?: Record<string, { version?: string }>;
        }
      ).dependencies?.['@tensorflow/tfjs-core']?.version ?? '4.22.0'
    );
  } catch {
    return '4.22.0';
  }
}

function caseRow(c: Case, outcome: ChildOutcome<CaseResult>): RuntimeRow {
  const runtime = c.runtime;
  if (!outcome.ok) return { model: c.model, runtime, skipped: outcome.reason };
  const r = outcome.value;
  return {
    model: c.model,
    runtime,
    params: r.spec.params,
    ...(r.train ? { train: r.train } : {}),
    ...(r.infer ? { infer: r.infer } : {}),
    peakRssMiB: r.peakRssMiB,
    weightBytes: r.weightBytes,
    steadyBytes: r.steadyBytes,
    peakStepBytes: r.peakStepBytes,
    ...(r.tensorsAfterFirstTrain !== undefined && r.tensorsAfterLastTrain !== undefined
      ? { tensors: [r.tensorsAfterFirstTrain, r.tensorsAfterLastTrain] as [number, number] }
      : {}),
    ...(r.liveTensorsAfterFirstTrain !== undefined && r.liveTensorsAfterLastTrain !== undefined
      ? { liveTensors: [r.liveTensorsAfterFirstTrain, r.liveTensorsAfterLastTrain] as [number, number] }
      : {}),
    loadAverage: r.loadAverage,
  };
}

/** The trainer's stderr without its periodic progress line and backend banner. */
function trainerStderr(line: string): void {
  if (/img\/s \| ETA|^backend: |^stopping after this step/.test(line.trim())) return;
  quiet(line);
}

async function bothCores(
  models: BenchModelName[],
  backends: string[],
  quick: boolean,
  timeoutMs: number,
): Promise<ParallelReport | { skipped: string }> {
  if (opts['no-parallel']) return { skipped: '--no-parallel' };
  if (quick && !opts.parallel) return { skipped: '--quick (add --parallel to run it)' };
  if (!backends.includes('wasm')) return { skipped: 'wasm is not in --backends' };
  // As in plan(): --quick leaves unet-small out.
  const selected = PARALLEL_MODELS.filter((m) => models.includes(m.model) && !(quick && m.model === 'unet-small'));
  if (selected.length === 0) return { skipped: 'no UNet model in --models' };
  const cores = cpus().length;
  const workers = Math.max(1, cores - 1);
  const dataParent = mkdtempSync(join(tmpdir(), 'genlab-bench-cifar-'));
  try {
    const dataDir = writeSyntheticCifarDir(dataParent, SYNTHETIC_RECORDS_PER_FILE);
    const training: TrainerComparison[] = [];
    for (const m of selected) {
      const runs: TrainerRunResult[] = [];
      for (const w of [0, workers]) {
        log(
          `trainer ${m.model} (diffusion --preset ${m.preset}), batch ${m.batch}${m.microBatch ? `, micro-batch ${m.microBatch}` : ''}, --workers ${w}`,
        );
        const run = await runTrainer({
          root: ROOT,
          preset: m.preset,
          batch: m.batch,
          ...(m.microBatch ? { microBatch: m.microBatch } : {}),
          workers: w,
          dataDir,
          maxSteps: quick ? 3 : 5,
          minSteps: 2,
          budgetMs: quick ? 20_000 : 60_000,
          timeoutMs,
          onStderr: trainerStderr,
        });
        log(
          run.timing
            ? `  ${run.timing.imagesPerSec.toFixed(2)} img/s (median of ${run.timing.steps} steps after the first; first ${run.timing.firstStepSeconds.toFixed(1)} s; ${run.wallSeconds?.toFixed(0)} s in all)`
            : `  skipped: ${run.skipped}`,
        );
        runs.push(run);
      }
      training.push({
        model: m.model,
        preset: m.preset,
        batch: m.batch,
        ...(m.microBatch ? { microBatch: m.microBatch } : {}),
        noWorkers: runs[0]!,
        withWorkers: runs[1]!,
      });
    }
    const inference: ParallelReport['inference'] = [];
    const batchPerProcess = INFER_BATCH / POOL_PROCESSES;
    for (const m of selected) {
      log(`inference pool ${m.model}: ${POOL_PROCESSES} tfjs-wasm processes at once, batch ${batchPerProcess} each`);
      const pool = await runInferencePool({
        root: ROOT,
        benchDir: BENCH_DIR,
        model: m.model,
        processes: POOL_PROCESSES,
        batchPerProcess,
        steps: quick ? 3 : 5,
        timeoutMs,
        onStderr: quiet,
      });
      log(
        pool.sumImagesPerSec !== undefined
          ? `  ${pool.perProcess?.map((t) => t.imagesPerSec.toFixed(2)).join(' + ')} = ${pool.sumImagesPerSec.toFixed(2)} img/s (start to finish ${pool.pooledImagesPerSec?.toFixed(2)})`
          : `  skipped: ${pool.skipped}`,
      );
      inference.push(pool);
    }
    return { cores, workers, syntheticRecordsPerFile: SYNTHETIC_RECORDS_PER_FILE, training, inference };
  } finally {
    rmSync(dataParent, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const load0 = loadavg()[0] ?? 0;
  const timeoutMs = Number(opts['case-timeout-s']) * 1000;
  const backends = (opts.backends ?? '').split(',').filter(Boolean) as Backend[];
  const unknown = backends.filter((b) => !BACKENDS.includes(b));
  if (unknown.length > 0) throw new Error(`--backends: unknown ${unknown.join(', ')} (known: ${BACKENDS.join(', ')})`);
  const models = (opts.models ?? '').split(',').filter(Boolean) as BenchModelName[];
  const node = process.execPath;

  // The tfjs torch backend: in a child process (the parent never loads LibTorch), with the
  // 2-thread rows' environment. Unavailable → its rows are skipped, with the reason.
  let tfjsTorch: TfjsTorchConfig | { skipped: string } | undefined;
  if (backends.includes('torch')) {
    const outcome = await runJsonChild<TfjsTorchStatus>(node, tsxArgs(join(BENCH_DIR, 'lib/torch-status.ts'), []), {
      cwd: ROOT,
      env: tfjsTorchEnv(2),
      timeoutMs: 120_000,
      onStderr: quiet,
    });
    if (!outcome.ok) tfjsTorch = { skipped: `torchStatus() failed: ${outcome.reason}` };
    else if (!outcome.value.available) tfjsTorch = { skipped: `torchStatus(): ${outcome.value.reason}` };
    else {
      const env = tfjsTorchEnv(2);
      tfjsTorch = {
        details: [],
        ldLibraryPath: env.LD_LIBRARY_PATH ?? '',
        device: outcome.value.settings.device,
        mallocMmapThreshold: env.MALLOC_MMAP_THRESHOLD_ ?? '',
        mallocTrimThreshold: env.MALLOC_TRIM_THRESHOLD_ ?? '',
      };
      log(`tfjs-torch: ${outcome.value.detail}`);
    }
    if (tfjsTorch && 'skipped' in tfjsTorch) log(`tfjs-torch skipped: ${tfjsTorch.skipped}`);
  }
  const torchSkip = tfjsTorch && 'skipped' in tfjsTorch ? tfjsTorch.skipped : undefined;
  const { cases, skipped } = plan(backends, models, opts.quick === true, torchSkip);
  const rows: RuntimeRow[] = [];
  const profiles: BenchReport['profiles'] = [];
  const allProfiles: BenchReport['profiles'] = [];
  const notes: string[] = [];
  const specs = new Map<BenchModelName, CaseResult['spec']>();

  for (const c of cases) {
    log(`${c.runtime} ${c.model}: train b${c.trainBatch}, infer b${c.inferBatch}${c.profile ? ', profiled' : ''}`);
    const env = c.threads === undefined ? undefined : tfjsTorchEnv(c.threads);
    const args = [
      '--backend',
      c.backend,
      '--model',
      c.model,
      '--train-batch',
      String(c.trainBatch),
      '--infer-batch',
      String(c.inferBatch),
      '--budget-ms',
      String(c.budgetMs),
      '--max-steps',
      String(c.maxSteps),
      '--warmup-ms',
      String(c.warmupMs),
      '--warmup-steps',
      String(c.warmupSteps),
      '--warmup-target-steps',
      String(c.warmupTargetSteps),
      '--warmup-max-ms',
      String(c.warmupMaxMs),
      '--out',
      '{out}',
      ...(c.profile ? ['--profile'] : []),
      ...(c.capture ? ['--capture'] : []),
    ];
    let outcome = await runJsonChild<CaseResult>(node, tsxArgs(join(BENCH_DIR, 'lib/tfjs-case.ts'), args), {
      cwd: ROOT,
      ...(env ? { env } : {}),
      timeoutMs,
      onStderr: quiet,
    });
    // The wasm heap is at most 4 GiB: halve the training batch until it fits (down to 8), and say so.
    while (!outcome.ok && c.backend === 'wasm' && c.trainBatch > 8 && OUT_OF_MEMORY.test(outcome.stderrTail)) {
      const reason = outcome.reason;
      c.trainBatch /= 2;
      notes.push(
        `tfjs-wasm ${c.model}: training at batch ${c.trainBatch * 2} failed (${reason.slice(0, 160)}); measured at batch ${c.trainBatch}.`,
      );
      log(`  out of memory; retrying with train batch ${c.trainBatch}`);
      args[args.indexOf('--train-batch') + 1] = String(c.trainBatch);
      outcome = await runJsonChild<CaseResult>(node, tsxArgs(join(BENCH_DIR, 'lib/tfjs-case.ts'), args), {
        cwd: ROOT,
        timeoutMs,
        onStderr: quiet,
      });
    }
    const row = caseRow(c, outcome);
    rows.push(row);
    if (outcome.ok) {
      specs.set(c.model, outcome.value.spec);
      if (c.backend === 'torch' && tfjsTorch && !('skipped' in tfjsTorch) && !tfjsTorch.details.some((d) => d.runtime === c.runtime))
        tfjsTorch.details.push({ runtime: c.runtime, detail: outcome.value.backendDetail });
      const { trainProfile, inferProfile } = outcome.value;
      if (trainProfile) allProfiles.push({ title: `${c.runtime} ${c.model} train b${c.trainBatch}`, profile: trainProfile });
      if (inferProfile) allProfiles.push({ title: `${c.runtime} ${c.model} infer b${c.inferBatch}`, profile: inferProfile });
      if (c.model === 'unet-small' && trainProfile)
        profiles.push({ title: `${c.runtime} ${c.model} training step (batch ${c.trainBatch})`, profile: trainProfile });
      if (c.model === 'unet-small' && inferProfile)
        profiles.push({ title: `${c.runtime} ${c.model} inference step (batch ${c.inferBatch})`, profile: inferProfile });
      log(
        `  done in ${outcome.seconds.toFixed(0)} s: train ${row.train?.imagesPerSec.toFixed(2)} img/s, infer ${row.infer?.imagesPerSec.toFixed(2)} img/s`,
      );
    } else {
      log(`  skipped: ${outcome.reason}`);
    }
    if (c.backend === 'wasm' && c.trainBatch < TRAIN_BATCH && outcome.ok) {
      const perSample = (outcome.value.trainProfile?.peakBytes ?? 0) / c.trainBatch / 2 ** 20;
      notes.push(
        `tfjs-wasm ${c.model} trained at batch ${c.trainBatch}, not ${TRAIN_BATCH}: its training step peaks at ${perSample.toFixed(0)} MiB of tensors per sample, ` +
          `so batch ${TRAIN_BATCH} would need ≈ ${((perSample * TRAIN_BATCH) / 1024).toFixed(1)} GiB, over the wasm heap's 4 GiB (batch 32 aborted in XNNPACK Conv2D when tried). The ratios use torch at batch ${c.trainBatch} too; torch at 32 has its own row.`,
      );
    }
    if (c.backend === 'torch' && c.threads === 2 && outcome.ok) {
      const wasmBatch = cases.find((o) => o.model === c.model && o.backend === 'wasm')?.trainBatch;
      if (wasmBatch !== undefined && wasmBatch !== c.trainBatch)
        notes.push(
          `tfjs-torch ${c.model} trained at batch ${c.trainBatch} (LibTorch has no wasm heap limit), tfjs-wasm at ${wasmBatch}: each row's training ratios are against the torch rows at its own batch (\`torch (train b${c.trainBatch})\`, \`${TORCH_ONE_THREAD} (train b${c.trainBatch})\` for tfjs-torch).`,
        );
    }
    if (c.backend === 'cpu' && c.model === 'unet-tiny' && outcome.ok) {
      notes.push(
        `tfjs-cpu unet-tiny ran at batch ${c.trainBatch} (train) / ${c.inferBatch} (infer) instead of 32 / 64 to fit the time; its ratios compare against torch at 32 / 64.`,
      );
    }
  }
  rows.push(...skipped);

  let torchConfig: BenchReport['torch'];
  let torchNote: string | undefined;
  if (opts['no-torch']) torchNote = 'skipped (--no-torch)';
  else if (!torchAvailable())
    torchNote = `not installed (${SYSTEM_PYTHON} cannot import torch; apt-get install python3-torch libopenblas0-pthread)`;
  else {
    // Same train batch as tfjs-wasm (smaller than 32 only where the wasm heap refuses 32); then,
    // for such a model, torch at 32 too (issue 8's reference), in a row of its own, and, when
    // tfjs-torch trained at 32 beside it, 1-thread torch at 32 as well (its per-CPU-second reference).
    const torchRuns = models.flatMap((model) => {
      const wasmBatch = cases.find((c) => c.model === model && c.backend === 'wasm')?.trainBatch ?? TRAIN_BATCH;
      const runs = [
        { model, trainBatch: wasmBatch, runtime: 'torch', threads: 2 },
        { model, trainBatch: wasmBatch, runtime: TORCH_ONE_THREAD, threads: 1 },
      ];
      if (wasmBatch !== TRAIN_BATCH) {
        runs.push({ model, trainBatch: TRAIN_BATCH, runtime: `torch (train b${TRAIN_BATCH})`, threads: 2 });
        if (cases.some((c) => c.model === model && c.backend === 'torch' && c.trainBatch === TRAIN_BATCH))
          runs.push({ model, trainBatch: TRAIN_BATCH, runtime: `${TORCH_ONE_THREAD} (train b${TRAIN_BATCH})`, threads: 1 });
      }
      return runs;
    });
    const timing = stepTiming(opts.quick === true);
    for (const { model, trainBatch, runtime, threads } of torchRuns) {
      const spec = specs.get(model);
      if (!spec) continue;
      log(`torch ${model}: train b${trainBatch}, infer b${INFER_BATCH}, ${threads} threads`);
      const script = join(BENCH_DIR, 'torch/bench_torch.py');
      const outcome = await runJsonChild<TorchResult>(
        SYSTEM_PYTHON,
        torchArgs(script, spec, {
          trainBatch,
          inferBatch: INFER_BATCH,
          threads,
          warmupSteps: timing.warmupSteps,
          warmupS: timing.warmupMs / 1000,
          warmupTargetSteps: timing.warmupTargetSteps,
          warmupMaxS: timing.warmupMaxMs / 1000,
          budgetS: timing.budgetMs / 1000,
          maxSteps: timing.maxSteps,
        }),
        { cwd: ROOT, env: torchEnv(threads), timeoutMs, onStderr: quiet },
      );
      if (!outcome.ok) {
        rows.push({ model, runtime, skipped: outcome.reason });
        log(`  failed: ${outcome.reason}`);
        continue;
      }
      const t = outcome.value;
      if (threads === 2) torchConfig = t.config;
      log(
        `  done in ${outcome.seconds.toFixed(0)} s: ${t.params} params (tfjs ${t.tfjsParams}); train ${t.train.imagesPerSec.toFixed(2)} img/s, infer ${t.infer.imagesPerSec.toFixed(2)} img/s`,
      );
      rows.push({
        model,
        runtime,
        params: t.params,
        train: t.train,
        infer: t.infer,
        peakRssMiB: t.peakRssMiB,
        loadAverage: loadavg()[0] ?? 0,
      });
    }
  }
  rows.sort((a, b) => models.indexOf(a.model as BenchModelName) - models.indexOf(b.model as BenchModelName));

  const parallel = await bothCores(models, backends, opts.quick === true, timeoutMs);

  let memoryCheck: BenchReport['memoryCheck'];
  let torchMemoryCheck: BenchReport['torchMemoryCheck'];
  const memoryBudgetS = Number(opts['memory-budget-s']) * (opts.quick ? 0.25 : 1);
  /** One training-loop memory check (bench/lib/memory-check.ts): unet-tiny at batch 2 on `backend`. */
  const runMemoryCheck = async (backend: 'wasm' | 'torch', env?: NodeJS.ProcessEnv): Promise<MemoryCheckResult | { skipped: string }> => {
    log(`memory check: tfjs-${backend} unet-tiny, batch 2, up to ${opts['memory-steps']} steps or ${memoryBudgetS} s`);
    const outcome = await runJsonChild<MemoryCheckResult>(
      node,
      tsxArgs(join(BENCH_DIR, 'lib/memory-check.ts'), [
        '--backend',
        backend,
        '--model',
        'unet-tiny',
        '--batch',
        '2',
        '--steps',
        String(opts['memory-steps']),
        '--budget-ms',
        String(memoryBudgetS * 1000),
        '--out',
        '{out}',
      ]),
      { cwd: ROOT, ...(env ? { env } : {}), timeoutMs: memoryBudgetS * 1000 + 120_000, onStderr: quiet },
    );
    if (!outcome.ok) {
      log(`  skipped: ${outcome.reason}`);
      return { skipped: outcome.reason };
    }
    const live = outcome.value.liveTensors;
    log(
      `  ${outcome.value.steps} steps, tensors ${outcome.value.tensors.join(' → ')}${live ? `, LibTorch tensors ${live.afterFirst} → ${live.afterLast} (${live.beforeModel} before the model, ${live.afterDispose} after dispose)` : ''}, growth at ${outcome.value.growthSteps.length} steps`,
    );
    return outcome.value;
  };
  if (opts['no-memory']) memoryCheck = { skipped: '--no-memory' };
  else memoryCheck = await runMemoryCheck('wasm');
  // The torch backend's check, when torch is in --backends.
  if (backends.includes('torch')) {
    if (opts['no-memory']) torchMemoryCheck = { skipped: '--no-memory' };
    else if (torchSkip !== undefined) torchMemoryCheck = { skipped: torchSkip };
    else torchMemoryCheck = await runMemoryCheck('torch', tfjsTorchEnv(2));
  }

  let kernelComparison: BenchReport['kernelComparison'];
  if (opts['no-kernels'] || opts.quick) kernelComparison = { skipped: opts.quick ? '--quick' : '--no-kernels' };
  else {
    log('Conv2DBackpropFilter: genlab (wasm, cpu) against stock tfjs-cpu');
    const outcome = await runJsonChild<KernelComparisonRow[]>(
      node,
      tsxArgs(join(BENCH_DIR, 'lib/kernel-compare.ts'), ['--batch', '32', '--out', '{out}']),
      { cwd: ROOT, timeoutMs, onStderr: quiet },
    );
    kernelComparison = outcome.ok ? outcome.value : { skipped: outcome.reason };
  }

  const report: BenchReport = {
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    commit: shell('git rev-parse --short HEAD'),
    node: process.version,
    tfjs: tfjsVersion(),
    cpuModel: cpus()[0]?.model ?? 'unknown CPU',
    cores: cpus().length,
    loadAverage: [load0, loadavg()[0] ?? 0],
    niceness: getPriority(),
    seconds: (performance.now() - started) / 1000,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    ...(torchConfig ? { torch: torchConfig } : {}),
    ...(torchNote ? { torchNote } : {}),
    ...(tfjsTorch ? { tfjsTorch } : {}),
    rows,
    profiles,
    ...(memoryCheck ? { memoryCheck } : {}),
    ...(torchMemoryCheck ? { torchMemoryCheck } : {}),
    ...(kernelComparison ? { kernelComparison } : {}),
    parallel,
    notes,
  };
  const markdown = renderLatest(report);
  if (opts['no-write']) {
    process.stdout.write(markdown);
    // What would have gone into docs/bench/history.md.
    process.stdout.write(`\nHistory line (not written under --no-write):\n\n${historyLine(report)}\n`);
  } else {
    const docs = join(ROOT, 'docs/bench');
    mkdirSync(docs, { recursive: true });
    writeFileSync(join(docs, 'latest.md'), markdown);
    // Every number behind the tables (all profiles, all steps), for scripts and later comparisons.
    writeFileSync(join(docs, 'latest.json'), `${JSON.stringify({ ...report, allProfiles }, null, 1)}\n`);
    const history = join(docs, 'history.md');
    if (!existsSync(history))
      writeFileSync(
        history,
        '# Benchmark history\n\nOne line per `npm run bench` run (bench/run.ts): images/s and the ratio to PyTorch.\n\n',
      );
    appendFileSync(history, `${historyLine(report)}\n`);
    log(`wrote ${relative(ROOT, join(docs, 'latest.md'))} and appended to ${relative(ROOT, history)} (${report.seconds.toFixed(0)} s)`);
  }
}

await main();
