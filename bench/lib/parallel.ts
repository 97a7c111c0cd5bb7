/**
 * The "both cores" measurements: tfjs-wasm is single-threaded, so the Speed table's tfjs rows use
 * one core. Here the same work uses every core:
 *
 * - training through the real trainer CLI (apps/trainer/src/cli.ts train --model diffusion) with
 *   `--workers 0` and with `--workers <cores − 1>` (data-parallel gradient threads), on a
 *   synthetic CIFAR-10 folder; images/s from the run's metrics.jsonl;
 * - inference as a pool of processes (one tfjs-case child per core, each at a share of the batch)
 *   whose timed steps start together, their images/s summed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { releaseWhenReady } from './barrier.js';
import { type ChildOutcome, collectStderr, runJsonChild, tsxArgs } from './child.js';
import { median, type StepTiming } from './measure.js';
import type { CaseResult } from './tfjs-case.js';

/** One line of the trainer's metrics.jsonl, as far as the bench reads it. */
export interface TrainerMetricLine {
  step: number;
  /** Images of the step / its wall time (the trainer's own measurement). */
  imagesPerSecond: number;
  seconds: number;
}

/** The trainer's speed from its metrics: the first step (start-up, kernel set-up) apart, then the median of the rest. */
export interface TrainerTiming {
  batch: number;
  /** Steps after the first (the ones in the median). */
  steps: number;
  firstStepSeconds: number;
  medianSeconds: number;
  /** Median of the per-step images/s of the steps after the first. */
  imagesPerSec: number;
}

/** Parses metrics.jsonl text; lines without a numeric `step`, `imagesPerSecond` and `seconds` are ignored. Sorted by step. */
export function parseTrainerMetrics(text: string): TrainerMetricLine[] {
  const lines: TrainerMetricLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      continue; // a line cut short by a killed process
    }
    const { step, imagesPerSecond, seconds } = record;
    if (typeof step === 'number' && typeof imagesPerSecond === 'number' && typeof seconds === 'number')
      lines.push({ step, imagesPerSecond, seconds });
  }
  return lines.sort((a, b) => a.step - b.step);
}

/** The timing of a run's steps after the first; undefined when there are none. */
export function trainerTiming(lines: readonly TrainerMetricLine[], batch: number): TrainerTiming | undefined {
  const [first, ...rest] = lines;
  if (!first || rest.length === 0) return undefined;
  return {
    batch,
    steps: rest.length,
    firstStepSeconds: first.seconds,
    medianSeconds: median(rest.map((l) => l.seconds)),
    imagesPerSec: median(rest.map((l) => l.imagesPerSecond)),
  };
}

/** One trainer run (one `--workers` value). */
export interface TrainerRunResult {
  workers: number;
  timing?: TrainerTiming;
  /** The time budget ran out before `maxSteps` (the bench sent SIGINT: finish the step, checkpoint, exit). */
  stoppedEarly?: boolean;
  wallSeconds?: number;
  loadAverage?: number;
  skipped?: string;
}

/** `--workers 0` against `--workers N` for one model. */
export interface TrainerComparison {
  model: string;
  preset: 'tiny' | 'small';
  batch: number;
  microBatch?: number;
  noWorkers: TrainerRunResult;
  withWorkers: TrainerRunResult;
}

/** Several tfjs-wasm inference processes at once, each at `batchPerProcess`. */
export interface InferencePool {
  model: string;
  processes: number;
  batchPerProcess: number;
  perProcess?: StepTiming[];
  /** Sum of the processes' median images/s. */
  sumImagesPerSec?: number;
  /** All images of all timed steps / (last end − first start): the pool's throughput, start to finish. */
  pooledImagesPerSec?: number;
  /** Share of the pooled window in which all processes were stepping (1 = perfectly together). */
  overlap?: number;
  loadAverage?: number;
  skipped?: string;
}

export interface ParallelReport {
  cores: number;
  /** The `--workers` value of the parallel trainer runs (cores − 1, at least 1). */
  workers: number;
  /** Records per file of the synthetic CIFAR-10 folder. */
  syntheticRecordsPerFile: number;
  training: TrainerComparison[];
  inference: InferencePool[];
}

/** Sums a pool's results; windows are `[start, end]` in ms. */
export function summarizePool(results: ReadonlyArray<{ timing: StepTiming; window: [number, number] }>): {
  sumImagesPerSec: number;
  pooledImagesPerSec: number;
  overlap: number;
} {
  const sumImagesPerSec = results.reduce((s, r) => s + r.timing.imagesPerSec, 0);
  const start = Math.min(...results.map((r) => r.window[0]));
  const end = Math.max(...results.map((r) => r.window[1]));
  const images = results.reduce((s, r) => s + r.timing.batch * r.timing.steps, 0);
  const together = Math.min(...results.map((r) => r.window[1])) - Math.max(...results.map((r) => r.window[0]));
  const span = end - start;
  return {
    sumImagesPerSec,
    pooledImagesPerSec: span > 0 ? (images * 1000) / span : Number.NaN,
    overlap: span > 0 ? Math.max(0, together) / span : Number.NaN,
  };
}

export interface TrainerRunOptions {
  /** Repository root (the trainer's paths are relative to it). */
  root: string;
  preset: 'tiny' | 'small';
  batch: number;
  microBatch?: number;
  workers: number;
  dataDir: string;
  /** Timed steps (after the first) to run at most... */
  maxSteps: number;
  /** ...and, once `minSteps` are done, none started after this many ms past the first step. */
  budgetMs: number;
  minSteps: number;
  timeoutMs: number;
  onStderr?: (line: string) => void;
}

/**
 * Runs `train --model diffusion` in a child process (node + tsx on the sources, wasm backend) in a
 * fresh temporary run folder and reads its metrics.jsonl. The run is given 1 + `maxSteps` steps;
 * when the budget runs out earlier, it gets SIGINT, which the CLI answers by finishing the
 * current step, writing a checkpoint and exiting with 130.
 */
export function runTrainer(options: TrainerRunOptions): Promise<TrainerRunResult> {
  const tmp = mkdtempSync(join(tmpdir(), 'genlab-bench-train-'));
  const out = join(tmp, 'run');
  const metricsFile = join(out, 'metrics.jsonl');
  const args = [
    'train',
    '--model',
    'diffusion',
    '--preset',
    options.preset,
    '--batch',
    String(options.batch),
    ...(options.microBatch ? ['--micro-batch', String(options.microBatch)] : []),
    '--steps',
    String(1 + options.maxSteps),
    '--workers',
    String(options.workers),
    '--sample-every',
    '0',
    '--checkpoint-every',
    '100000',
    '--out',
    out,
    '--data-dir',
    options.dataDir,
  ];
  const started = performance.now();
  const readLines = () => (existsSync(metricsFile) ? parseTrainerMetrics(readFileSync(metricsFile, 'utf8')) : []);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, tsxArgs(join(options.root, 'apps/trainer/src/cli.ts'), args), {
      cwd: options.root,
      env: { ...process.env, GENLAB_BACKEND: 'wasm', GENLAB_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let interrupted = false;
    let timedOut = false;
    let firstStepAt: number | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    const poll = setInterval(() => {
      if (interrupted) return;
      const lines = readLines();
      if (lines.length === 0) return;
      firstStepAt ??= performance.now();
      if (lines.length - 1 >= options.minSteps && performance.now() - firstStepAt > options.budgetMs) {
        interrupted = true;
        child.kill('SIGINT');
      }
    }, 250);
    const readStderr = collectStderr(child, options.onStderr);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      const base = { workers: options.workers, wallSeconds: (performance.now() - started) / 1000, loadAverage: loadavg()[0] ?? 0 };
      const timing = trainerTiming(readLines(), options.batch);
      rmSync(tmp, { recursive: true, force: true });
      const why = readStderr()
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('at ') && l.length < 400)
        .slice(-2)
        .join(' | ');
      if (timedOut) resolve({ ...base, skipped: `stopped after ${Math.round(options.timeoutMs / 1000)} s (time limit)` });
      else if (!(code === 0 || (code === 130 && interrupted))) resolve({ ...base, skipped: `exit ${code ?? signal}: ${why}` });
      else if (!timing) resolve({ ...base, skipped: 'metrics.jsonl has no step after the first' });
      else resolve({ ...base, timing, ...(interrupted && timing.steps < options.maxSteps ? { stoppedEarly: true } : {}) });
    });
  });
}

export interface InferencePoolOptions {
  root: string;
  benchDir: string;
  model: string;
  processes: number;
  batchPerProcess: number;
  steps: number;
  timeoutMs: number;
  onStderr?: (line: string) => void;
}

/**
 * Starts `processes` tfjs-case children (wasm, inference only, no profile) at once; each warms
 * up, waits at a common barrier, then times `steps` inference steps at `batchPerProcess`.
 */
export async function runInferencePool(options: InferencePoolOptions): Promise<InferencePool> {
  const barrier = mkdtempSync(join(tmpdir(), 'genlab-bench-barrier-'));
  const head = { model: options.model, processes: options.processes, batchPerProcess: options.batchPerProcess };
  let finished = 0;
  try {
    const children = Array.from({ length: options.processes }, () =>
      runJsonChild<CaseResult>(
        process.execPath,
        tsxArgs(join(options.benchDir, 'lib/tfjs-case.ts'), [
          '--backend',
          'wasm',
          '--model',
          options.model,
          '--skip-train',
          // The workload allocates its (unused) training inputs too: keep them small.
          '--train-batch',
          '2',
          '--infer-batch',
          String(options.batchPerProcess),
          '--max-steps',
          String(options.steps),
          // A fixed number of steps for every process, so they also end together.
          '--budget-ms',
          String(options.timeoutMs),
          '--barrier',
          barrier,
          '--out',
          '{out}',
        ]),
        { cwd: options.root, timeoutMs: options.timeoutMs, ...(options.onStderr ? { onStderr: options.onStderr } : {}) },
      ).then((outcome) => {
        finished += 1;
        return outcome;
      }),
    );
    await releaseWhenReady(barrier, options.processes, () => finished > 0);
    const outcomes: ChildOutcome<CaseResult>[] = await Promise.all(children);
    const loadAverage = loadavg()[0] ?? 0;
    const failed = outcomes.find((o) => !o.ok);
    if (failed && !failed.ok) return { ...head, loadAverage, skipped: failed.reason };
    const results = outcomes.map((o) => (o as Extract<typeof o, { ok: true }>).value);
    const missing = results.find((r) => !r.infer || !r.inferWindow || r.barrierReleased === false);
    if (missing) return { ...head, loadAverage, skipped: 'a process timed no inference steps or did not start with the others' };
    const timed = results.map((r) => ({ timing: r.infer as StepTiming, window: r.inferWindow as [number, number] }));
    return { ...head, perProcess: timed.map((t) => t.timing), ...summarizePool(timed), loadAverage };
  } finally {
    rmSync(barrier, { recursive: true, force: true });
  }
}
