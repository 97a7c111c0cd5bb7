import type { StepProfile, StepTiming } from './measure.js';
import type { InferencePool, ParallelReport, TrainerComparison, TrainerRunResult } from './parallel.js';
import type { TorchConfig } from './torch.js';

/** One measured (or skipped) runtime for one model: a tfjs backend or PyTorch. */
export interface RuntimeRow {
  model: string;
  /** `tfjs-wasm`, `tfjs-cpu`, `tfjs-torch`, `tfjs-torch 1 thread`, `torch`, `torch 1 thread`, `torch (train b32)`, … */
  runtime: string;
  params?: number;
  train?: StepTiming;
  infer?: StepTiming;
  peakRssMiB?: number;
  weightBytes?: number;
  steadyBytes?: number;
  peakStepBytes?: number;
  /** Tensors after the first and the last timed training step. */
  tensors?: [number, number];
  /** tfjs-torch: the addon's live LibTorch tensors after the first and the last timed training step. */
  liveTensors?: [number, number];
  loadAverage?: number;
  skipped?: string;
}

export interface MemoryCheckResult {
  backend: string;
  model: string;
  batch: number;
  steps: number;
  seconds: number;
  /** After step 1, then after the last step. */
  tensors: [number, number];
  bytes: [number, number];
  /** RSS after step 1, after step 10 (allocators settled) and after the last step. */
  rssMiB: [number, number, number];
  peakRssMiB: number;
  /** Steps after which the tensor count or bytes (or, on torch, the live LibTorch tensors) differed from step 1's. */
  growthSteps: number[];
  /** On the torch backend: the addon's live LibTorch tensors (`loadNative().liveTensors()`). */
  liveTensors?: {
    /** After the backend started, before the model was built. */
    beforeModel: number;
    afterFirst: number;
    afterLast: number;
    /** After the model, optimizer and inputs were disposed. */
    afterDispose: number;
  };
}

/** How the tfjs-torch rows ran (the Configuration section). */
export interface TfjsTorchConfig {
  /** `torchStatus().detail` as each tfjs-torch row's process reported it, e.g. "LibTorch 1.13.0, cpu, 2 threads, oneDNN, BLAS libblas.so.3, …". */
  details: Array<{ runtime: string; detail: string }>;
  /** The environment the cases ran with (the PyTorch rows' own, plus GENLAB_TORCH_THREADS / GENLAB_TORCH_DEVICE). */
  ldLibraryPath: string;
  device: string;
  mallocMmapThreshold: string;
  mallocTrimThreshold: string;
}

export interface KernelComparisonRow {
  /** e.g. `x [32,32,32,64] dy [32,32,32,64] 3×3 s1`. */
  shape: string;
  kernel: string;
  backend: string;
  batch: number;
  /** Median wall-clock and CPU time of one call. */
  ms: number;
  cpuMs: number;
  /** GFLOP per CPU-second (single-threaded kernels: GFLOP/s on an idle core). */
  gflops: number;
  /** max |Δ| against the stock cpu kernel on the same (small) input, when checked. */
  maxAbsDiff?: number;
}

export interface BenchReport {
  date: string;
  commit: string;
  node: string;
  tfjs: string;
  cpuModel: string;
  cores: number;
  loadAverage: [number, number];
  /** The bench's nice value (`nice -n 5 npm run bench` → 5). */
  niceness?: number;
  seconds: number;
  command: string;
  torch?: TorchConfig;
  torchNote?: string;
  /** The tfjs-torch backend (LibTorch through @lab/backend-torch), or why it was not measured. */
  tfjsTorch?: TfjsTorchConfig | { skipped: string };
  rows: RuntimeRow[];
  profiles: Array<{ title: string; profile: StepProfile }>;
  memoryCheck?: MemoryCheckResult | { skipped: string };
  /** The same training-loop memory check on the torch backend. */
  torchMemoryCheck?: MemoryCheckResult | { skipped: string };
  kernelComparison?: KernelComparisonRow[] | { skipped: string };
  /** The "both cores" section: the trainer with data-parallel workers and a pool of inference processes. */
  parallel?: ParallelReport | { skipped: string };
  notes: string[];
}

const MiB = 1024 * 1024;

export function fmt(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(Math.min(digits, 1));
  return value.toPrecision(Math.max(2, digits + 1));
}

/** tfjs / torch as `0.15×`, or `—` when either side is missing. */
export function ratio(tfjs: number | undefined, torch: number | undefined): string {
  if (tfjs === undefined || torch === undefined || !(torch > 0) || !Number.isFinite(tfjs)) return '—';
  const r = tfjs / torch;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toPrecision(2)}×`;
}

/** Images per CPU-second (all threads): the work a step costs, less sensitive to other load than wall time. */
export function imagesPerCpuSecond(t: StepTiming | undefined): number | undefined {
  return t && t.medianCpuMs > 0 ? (t.batch * 1000) / t.medianCpuMs : undefined;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The runtime name of the single-threaded PyTorch rows. */
export const TORCH_ONE_THREAD = 'torch 1 thread';
/** The runtime names of the tfjs torch backend's rows (GENLAB_TORCH_THREADS=2 and =1). */
export const TFJS_TORCH = 'tfjs-torch';
export const TFJS_TORCH_ONE_THREAD = 'tfjs-torch 1 thread';
/** The same on captured steps (`CapturedStep`, @lab/core: replayed without tfjs's engine). */
export const TFJS_TORCH_CAPTURED = 'tfjs-torch captured';
export const TFJS_TORCH_CAPTURED_ONE_THREAD = 'tfjs-torch captured 1 thread';

/** A tfjs-torch row on one LibTorch thread (plain or captured): compared with 1-thread PyTorch. */
function tfjsTorchOneThread(runtime: string): boolean {
  return runtime === TFJS_TORCH_ONE_THREAD || runtime === TFJS_TORCH_CAPTURED_ONE_THREAD;
}

/** A PyTorch reference row (`torch`, `torch 1 thread`, `torch (train b32)`, `torch 1 thread (train b32)`), not a tfjs one. */
export function isPyTorchRow(r: RuntimeRow): boolean {
  return r.runtime === 'torch' || r.runtime.startsWith('torch ');
}

/** A single-threaded row: `torch 1 thread…` or `tfjs-torch 1 thread`. */
function oneThread(runtime: string): boolean {
  return runtime.startsWith(TORCH_ONE_THREAD) || tfjsTorchOneThread(runtime);
}

function torchRow(rows: RuntimeRow[], model: string, runtime = 'torch'): RuntimeRow | undefined {
  return rows.find((r) => r.model === model && r.runtime === runtime && !r.skipped);
}

/**
 * The PyTorch row to compare a tfjs row's training with: of the model's 2-thread (or, with
 * `single`, 1-thread) PyTorch rows, the one trained at the same batch, else the main one
 * (`torch` / `torch 1 thread`: tfjs-cpu's small batches compare against torch at 32).
 */
function torchRefAt(rows: RuntimeRow[], model: string, single: boolean, trainBatch: number | undefined): RuntimeRow | undefined {
  const candidates = rows.filter((r) => r.model === model && isPyTorchRow(r) && !r.skipped && oneThread(r.runtime) === single);
  const main = candidates.find((r) => r.runtime === (single ? TORCH_ONE_THREAD : 'torch'));
  return (trainBatch === undefined ? undefined : candidates.find((r) => r.train?.batch === trainBatch)) ?? main ?? candidates[0];
}

/** The references of one tfjs row: wall-clock and per-CPU-second, for training and inference. */
interface References {
  /** 2-thread PyTorch; for a `tfjs-torch 1 thread` row, 1-thread PyTorch (`wallOneThread`). */
  wallTrain?: StepTiming;
  wallInfer?: StepTiming;
  wallOneThread: boolean;
  /** 1-thread PyTorch where measured, else (unless `oneThreadOnly`) 2-thread. */
  cpuTrain?: StepTiming;
  cpuInfer?: StepTiming;
}

export function references(rows: RuntimeRow[], r: RuntimeRow, oneThreadOnly = false): References {
  // A single-threaded tfjs-torch row is LibTorch on one thread: like with like is PyTorch on one thread.
  // tfjs-wasm and tfjs-cpu (single-threaded too) keep 2-thread torch as their wall-clock reference, as before.
  const wallOneThread = tfjsTorchOneThread(r.runtime);
  const wallTrainRow = torchRefAt(rows, r.model, wallOneThread, r.train?.batch);
  const wallInferRow = torchRefAt(rows, r.model, wallOneThread, undefined);
  // Per CPU-second, against single-threaded torch where measured: both then do one core's work and
  // neither stalls at thread barriers when other processes hold the cores.
  // The history line has always used 1-thread torch alone; the Speed table falls back to 2-thread torch.
  const cpuTrainRow =
    torchRefAt(rows, r.model, true, r.train?.batch) ?? (oneThreadOnly ? undefined : torchRefAt(rows, r.model, false, r.train?.batch));
  const cpuInferRow =
    torchRefAt(rows, r.model, true, undefined) ?? (oneThreadOnly ? undefined : torchRefAt(rows, r.model, false, undefined));
  return {
    ...(wallTrainRow?.train ? { wallTrain: wallTrainRow.train } : {}),
    ...(wallInferRow?.infer ? { wallInfer: wallInferRow.infer } : {}),
    wallOneThread,
    ...(cpuTrainRow?.train ? { cpuTrain: cpuTrainRow.train } : {}),
    ...(cpuInferRow?.infer ? { cpuInfer: cpuInferRow.infer } : {}),
  };
}

export function speedTable(rows: RuntimeRow[]): string {
  const body = rows.map((r) => {
    if (r.skipped) return [r.model, r.runtime, '—', '—', '—', '—', '—', '—', '—', '—', `skipped: ${r.skipped}`];
    if (isPyTorchRow(r)) {
      return [
        r.model,
        r.runtime,
        r.train ? `${fmt(r.train.imagesPerSec, 2)} (b${r.train.batch}, ${r.train.steps} steps)` : '—',
        '',
        r.infer ? `${fmt(r.infer.imagesPerSec, 2)} (b${r.infer.batch}, ${r.infer.steps} steps)` : '—',
        '',
        fmt(imagesPerCpuSecond(r.train), 2),
        '',
        fmt(imagesPerCpuSecond(r.infer), 2),
        '',
        r.loadAverage === undefined ? '' : `load ${r.loadAverage.toFixed(1)}`,
      ];
    }
    const ref = references(rows, r);
    // A wall-clock ratio against 1-thread torch (the tfjs-torch 1 thread row) says so.
    const wall = (value: number | undefined, against: StepTiming | undefined) =>
      against ? `${ratio(value, against.imagesPerSec)}${ref.wallOneThread ? ' (vs 1 thread)' : ''}` : '';
    const trainCpu = imagesPerCpuSecond(r.train);
    const inferCpu = imagesPerCpuSecond(r.infer);
    return [
      r.model,
      r.runtime,
      r.train ? `${fmt(r.train.imagesPerSec, 2)} (b${r.train.batch}, ${r.train.steps} steps)` : '—',
      wall(r.train?.imagesPerSec, ref.wallTrain),
      r.infer ? `${fmt(r.infer.imagesPerSec, 2)} (b${r.infer.batch}, ${r.infer.steps} steps)` : '—',
      wall(r.infer?.imagesPerSec, ref.wallInfer),
      fmt(trainCpu, 2),
      ref.cpuTrain ? ratio(trainCpu, imagesPerCpuSecond(ref.cpuTrain)) : '',
      fmt(inferCpu, 2),
      ref.cpuInfer ? ratio(inferCpu, imagesPerCpuSecond(ref.cpuInfer)) : '',
      r.loadAverage === undefined ? '' : `load ${r.loadAverage.toFixed(1)}`,
    ];
  });
  return table(
    [
      'model',
      'runtime',
      'train img/s',
      '× torch',
      'infer img/s',
      '× torch',
      'train img/CPU·s',
      '× torch 1 thread',
      'infer img/CPU·s',
      '× torch 1 thread',
      'note',
    ],
    body,
  );
}

/** "yes (505)", or "NO: 505 → 507"; on tfjs-torch the addon's live LibTorch tensors too. */
function flatCell(tensors: [number, number] | undefined, live: [number, number] | undefined): string {
  if (!tensors) return '—';
  const tfjs = tensors[0] === tensors[1] ? `yes (${tensors[0]})` : `NO: ${tensors[0]} → ${tensors[1]}`;
  if (!live) return tfjs;
  return `${tfjs}; LibTorch ${live[0] === live[1] ? `yes (${live[0]})` : `NO: ${live[0]} → ${live[1]}`}`;
}

export function memoryTable(rows: RuntimeRow[]): string {
  const mib = (b: number | undefined) => (b === undefined || b === 0 ? '—' : fmt(b / MiB, 1));
  const body = rows
    .filter((r) => !r.skipped)
    .map((r) => [
      r.model,
      r.runtime,
      r.params === undefined ? '—' : r.params.toLocaleString('en-US'),
      fmt(r.peakRssMiB, 0),
      mib(r.weightBytes),
      mib(r.steadyBytes),
      mib(r.peakStepBytes),
      flatCell(r.tensors, r.liveTensors),
    ]);
  return table(
    [
      'model',
      'runtime',
      'params',
      'peak RSS MiB',
      'weights MiB',
      'tensors held between steps MiB',
      'peak tensors in a step MiB',
      'tensor count flat over timed steps',
    ],
    body,
  );
}

export function profileTable(profile: StepProfile, top = 12): string {
  const kernels = table(
    ['kernel', 'calls', 'ms', 'share of kernel time'],
    profile.kernels.slice(0, top).map((k) => [k.name, String(k.calls), fmt(k.ms, 0), `${(k.share * 100).toFixed(1)}%`]),
  );
  const calls = table(
    ['kernel', 'input shapes', 'calls', 'ms'],
    profile.slowestCalls.slice(0, 8).map((c) => [c.name, `\`${c.shapes}\``, String(c.calls), fmt(c.ms, 0)]),
  );
  const allocations = table(
    ['kernel', 'calls', 'MiB added'],
    (profile.largestAllocations ?? []).slice(0, 6).map((a) => [a.name, String(a.calls), fmt(a.bytes / MiB, 0)]),
  );
  const head = `Step wall time ${fmt(profile.wallMs / 1000, 2)} s; kernels ${fmt(profile.kernelMs / 1000, 2)} s; peak tensor memory ${fmt(profile.peakBytes / MiB, 0)} MiB.`;
  return `${head}\n\n${kernels}\n\nSlowest (kernel, input shapes) pairs:\n\n${calls}\n\nTensor memory added per kernel over the step:\n\n${allocations}`;
}

export function memoryCheckSection(check: BenchReport['memoryCheck'], backend?: string): string {
  if (!check) return 'Not run.';
  if ('skipped' in check) return `${backend ? `tfjs-${backend}: skipped` : 'Skipped'}: ${check.skipped}.`;
  const flat = check.growthSteps.length === 0;
  const live = check.liveTensors;
  return [
    `${check.model} on tfjs-${check.backend}, batch ${check.batch}, ${check.steps} training steps (forward + backward + Adam) in ${fmt(check.seconds, 0)} s:`,
    `tensors ${check.tensors[0]} → ${check.tensors[1]}, tensor bytes ${check.bytes[0]} → ${check.bytes[1]}` +
      (live ? `, live LibTorch tensors ${live.afterFirst} → ${live.afterLast}` : '') +
      ` (${flat ? 'no growth at any step' : `changed after steps ${check.growthSteps.slice(0, 10).join(', ')}`});`,
    ...(live
      ? [
          `LibTorch tensors ${live.beforeModel} before the model was built and ${live.afterDispose} after it, its optimizer and inputs were disposed` +
            `${live.afterDispose === live.beforeModel ? '' : ` (**${live.afterDispose - live.beforeModel} not freed**)`};`,
        ]
      : []),
    `RSS ${fmt(check.rssMiB[0], 0)} MiB after step 1, ${fmt(check.rssMiB[1], 0)} MiB after step ${Math.min(10, check.steps)}, ` +
      `${fmt(check.rssMiB[2], 0)} MiB after step ${check.steps}; peak RSS ${fmt(check.peakRssMiB, 0)} MiB.`,
  ].join(' ');
}

function kernelSection(rows: BenchReport['kernelComparison']): string {
  if (!rows) return 'Not run.';
  if ('skipped' in rows) return `Skipped: ${rows.skipped}.`;
  return table(
    [
      'filter-gradient shape (unet-small)',
      'kernel',
      'backend',
      'batch',
      'wall ms',
      'CPU ms',
      'GFLOP/CPU·s',
      'max abs diff vs stock (batch 1)',
    ],
    rows.map((r) => [
      r.shape,
      r.kernel,
      r.backend,
      String(r.batch),
      fmt(r.ms, 1),
      fmt(r.cpuMs, 1),
      fmt(r.gflops, 2),
      r.maxAbsDiff === undefined ? '' : r.maxAbsDiff.toExponential(1),
    ]),
  );
}

/** The 2-thread torch training at `batch` for `model` (the `torch` row, or `torch (train bN)`). */
function torchTrainAt(rows: RuntimeRow[], model: string, batch: number): StepTiming | undefined {
  return rows.find((r) => r.model === model && isPyTorchRow(r) && !oneThread(r.runtime) && !r.skipped && r.train?.batch === batch)?.train;
}

function trainerCell(run: TrainerRunResult): string {
  if (!run.timing) return `skipped: ${run.skipped ?? 'no timing'}`;
  return `${fmt(run.timing.imagesPerSec, 2)} (${run.timing.steps} steps${run.stoppedEarly ? ', time budget' : ''})`;
}

/** Training through the trainer CLI, `--workers 0` against `--workers N`. */
export function trainerTable(training: TrainerComparison[], rows: RuntimeRow[], workers: number): string {
  const w = `\`--workers ${workers}\``;
  return table(
    ['model', 'batch', '`--workers 0` img/s', `${w} img/s`, `${w} × \`--workers 0\``, `${w} × torch (2 threads, same batch)`, 'note'],
    training.map((t) => {
      const base = t.noWorkers.timing?.imagesPerSec;
      const par = t.withWorkers.timing?.imagesPerSec;
      const torch = torchTrainAt(rows, t.model, t.batch);
      const loads = [t.noWorkers.loadAverage, t.withWorkers.loadAverage].map((l) => (l === undefined ? '?' : l.toFixed(1)));
      return [
        t.model,
        `${t.batch}${t.microBatch ? ` (micro-batch ${t.microBatch})` : ''}`,
        trainerCell(t.noWorkers),
        trainerCell(t.withWorkers),
        ratio(par, base),
        ratio(par, torch?.imagesPerSec),
        `load ${loads.join(' / ')}`,
      ];
    }),
  );
}

/** A pool of inference processes against one process (the tfjs-wasm row) and 2-thread torch. */
export function inferencePoolTable(pools: InferencePool[], rows: RuntimeRow[]): string {
  return table(
    [
      'model',
      'processes × batch',
      'img/s per process',
      'sum img/s',
      '× one process (tfjs-wasm row)',
      '× torch (2 threads)',
      'start-to-finish img/s',
      'note',
    ],
    pools.map((p) => {
      const head = [p.model, `${p.processes} × ${p.batchPerProcess}`];
      if (p.skipped || !p.perProcess) return [...head, '—', '—', '—', '—', '—', `skipped: ${p.skipped ?? 'no timing'}`];
      const one = rows.find((r) => r.model === p.model && r.runtime === 'tfjs-wasm' && !r.skipped)?.infer;
      const torch = torchRow(rows, p.model)?.infer;
      return [
        ...head,
        p.perProcess.map((t) => `${fmt(t.imagesPerSec, 2)} (${t.steps} steps)`).join(' + '),
        fmt(p.sumImagesPerSec, 2),
        one ? `${ratio(p.sumImagesPerSec, one.imagesPerSec)} (b${one.batch})` : '—',
        torch ? `${ratio(p.sumImagesPerSec, torch.imagesPerSec)} (b${torch.batch})` : '—',
        fmt(p.pooledImagesPerSec, 2),
        `load ${p.loadAverage?.toFixed(1) ?? '?'}; together ${p.overlap === undefined ? '?' : `${(p.overlap * 100).toFixed(0)}%`} of the time`,
      ];
    }),
  );
}

/** The "Both cores" section of latest.md. */
export function bothCoresSection(parallel: BenchReport['parallel'], rows: RuntimeRow[]): string {
  if (!parallel) return 'Not run.';
  if ('skipped' in parallel) return `Skipped: ${parallel.skipped}.`;
  const w = parallel.workers;
  const intro = [
    `tfjs-wasm is single-threaded, so each row of the Speed table uses one of the ${parallel.cores} cores, while 2-thread torch may use two. ` +
      'Here genlab uses every core, as its trainer and its API can:',
    '',
    `- **Training**: the real trainer CLI (\`apps/trainer/src/cli.ts train --model diffusion --preset P\`, wasm backend, the full step with EMA and ` +
      `gradient clipping) on a synthetic CIFAR-10 folder (${parallel.syntheticRecordsPerFile} random records per file), once with \`--workers 0\` and once with ` +
      `\`--workers ${w}\` (${w} gradient worker thread${w === 1 ? '' : 's'} plus the main thread, each on a shard of the batch). img/s is the median, over ` +
      "the steps after the first (which includes start-up), of the run's metrics.jsonl. Its torch ratio is against the 2-thread torch row trained at the same batch.",
    `- **Inference**: ${parallel.inference[0]?.processes ?? parallel.cores} tfjs-wasm processes (bench/lib/tfjs-case.ts \`--skip-train\`), each at half the ` +
      'inference batch, warmed up apart and then timed from a common start; "sum" adds their median img/s: the throughput of the API with a pool of ' +
      `${parallel.inference[0]?.processes ?? parallel.cores} workers (\`GENLAB_POOL_SIZE=${parallel.inference[0]?.processes ?? parallel.cores}\`; threads there, processes here, each with its own wasm module either way) ` +
      'serving that many requests at once. "start-to-finish" divides all their images by the time from the first start to the last end.',
    "- These numbers mean something only when the cores are otherwise idle: with other processes running, the kernel's autogroup scheduling gives " +
      "the bench's session one share of the machine whatever its thread count, and a second thread then gains little or nothing (see the load averages).",
  ].join('\n');
  return [
    intro,
    `### Training, trainer CLI \`--workers 0\` against \`--workers ${w}\``,
    parallel.training.length > 0 ? trainerTable(parallel.training, rows, w) : 'No UNet model selected.',
    '### Inference, a pool of processes',
    parallel.inference.length > 0 ? inferencePoolTable(parallel.inference, rows) : 'No UNet model selected.',
  ].join('\n\n');
}

/**
 * Flags models where 2-thread torch ran slower per image than 1-thread torch: its threads
 * waited for cores held by other processes, so wall-clock ratios against it overstate tfjs.
 */
export function starvedTorchNotes(rows: RuntimeRow[]): string[] {
  const notes: string[] = [];
  for (const two of rows.filter((r) => r.runtime === 'torch' && !r.skipped)) {
    const one = torchRow(rows, two.model, TORCH_ONE_THREAD);
    if (!one?.train || !two.train || !one.infer || !two.infer) continue;
    if (one.train.imagesPerSec > two.train.imagesPerSec || one.infer.imagesPerSec > two.infer.imagesPerSec) {
      notes.push(
        `${two.model}: torch with 2 threads was slower than with 1 (train ${fmt(two.train.imagesPerSec, 2)} vs ${fmt(one.train.imagesPerSec, 2)} img/s, ` +
          `infer ${fmt(two.infer.imagesPerSec, 2)} vs ${fmt(one.infer.imagesPerSec, 2)}): on the busy machine its OpenMP and OpenBLAS threads starved, ` +
          'so the wall-clock "× torch" columns overstate tfjs here. Trust the per-CPU-second ratios against torch 1 thread.',
      );
    }
  }
  return notes;
}

/** The Configuration lines of the tfjs torch backend: which LibTorch, BLAS and threads ran (from `torchStatus().detail`). */
export function tfjsTorchConfigLines(config: BenchReport['tfjsTorch']): string[] {
  if (!config) return [];
  if ('skipped' in config) return [`- tfjs-torch (@lab/backend-torch): not measured: ${config.skipped}.`];
  const ran = config.details.map((d) => `\`${d.detail}\` in the "${d.runtime}" rows`).join('; ');
  return [
    `- tfjs-torch (@lab/backend-torch: tfjs kernels on LibTorch through an N-API addon): ${ran || 'no case ran'} ` +
      `(GENLAB_TORCH_THREADS=2 / 1, GENLAB_TORCH_DEVICE=${config.device}; the PyTorch rows' environment: LD_LIBRARY_PATH=${config.ldLibraryPath || '(unset)'}, ` +
      `MALLOC_MMAP_THRESHOLD_=${config.mallocMmapThreshold}, MALLOC_TRIM_THRESHOLD_=${config.mallocTrimThreshold}). ` +
      'Its wall-clock ratios are against 2-thread torch ("tfjs-torch 1 thread": against 1-thread torch, marked "vs 1 thread"), its per-CPU-second ratios against 1-thread torch; ' +
      'unet-small trains at batch 32 there (no wasm heap), against the torch rows at 32.',
  ];
}

/** Flags models where tfjs-torch with 2 threads ran slower per image than with 1 (as starvedTorchNotes does for PyTorch). */
export function starvedTfjsTorchNotes(rows: RuntimeRow[]): string[] {
  const notes: string[] = [];
  const pairs = [
    [TFJS_TORCH, TFJS_TORCH_ONE_THREAD],
    [TFJS_TORCH_CAPTURED, TFJS_TORCH_CAPTURED_ONE_THREAD],
  ] as const;
  for (const [two, one] of pairs.flatMap(([a, b]) =>
    rows.filter((r) => r.runtime === a && !r.skipped).map((r) => [r, torchRow(rows, r.model, b)] as const),
  )) {
    const slower = (['train', 'infer'] as const).filter((k) => {
      const a = two[k];
      const b = one?.[k];
      return a && b && a.batch === b.batch && b.imagesPerSec > a.imagesPerSec;
    });
    if (slower.length === 0) continue;
    notes.push(
      `${two.model}: ${two.runtime} with 2 threads was slower than with 1 (${slower.map((k) => `${k} ${fmt(two[k]?.imagesPerSec, 2)} vs ${fmt(one?.[k]?.imagesPerSec, 2)} img/s`).join(', ')}): ` +
        "LibTorch's OpenMP threads waited for a core; compare its per-CPU-second ratios.",
    );
  }
  return notes;
}

/** The whole of docs/bench/latest.md. */
export function renderLatest(report: BenchReport): string {
  const torch = report.torch;
  const config = [
    `- Date: ${report.date}; commit ${report.commit}; \`${report.command}\` took ${fmt(report.seconds, 0)} s.`,
    `- Machine: ${report.cpuModel}, ${report.cores} cores, **shared with other engineers' builds and tests while measuring** ` +
      `(load average ${report.loadAverage[0].toFixed(1)} at the start, ${report.loadAverage[1].toFixed(1)} at the end; ` +
      `the bench ran at nice ${report.niceness ?? 0}). ` +
      'Absolute numbers are therefore low and noisy; compare runtimes through the ratios and the CPU-time columns of this one run.',
    `- tfjs ${report.tfjs} on Node ${report.node}; wasm: SIMD, 1 thread; cpu: pure JS. genlab's training kernels (\`registerTrainingKernels\`) active.`,
    torch
      ? `- PyTorch ${torch.torch} (Debian python3-torch), ${torch.threads} threads (1 in the "${TORCH_ONE_THREAD}" rows), BLAS ${torch.blas} (1024² sgemm ${fmt(torch.matmulGflops, 1)} GFLOP/s), ` +
        `LD_LIBRARY_PATH=${torch.ldLibraryPath || '(unset)'}, MALLOC_MMAP_THRESHOLD_=${torch.mallocMmapThreshold}, MALLOC_TRIM_THRESHOLD_=${torch.mallocTrimThreshold}.`
      : `- PyTorch: ${report.torchNote ?? 'not measured'}.`,
    ...tfjsTorchConfigLines(report.tfjsTorch),
    '- Each case runs in its own process (peak RSS = that case alone): 3 untimed warm-up steps and more until 1 s has passed (1 step and 0.5 s under --quick; V8 optimises the JavaScript of a fast step only after many calls, and the first steps of a large model grow the allocator), then up to 50 timed steps within 10 s (10 within 5 s), at least 2; the median is reported. PyTorch rows are timed the same way.',
    '- train = forward + backward + Adam update (UNet: DDPM ε-loss at random t; energy: contrastive-divergence loss, half data, half negatives). ' +
      'infer = one sampling step (UNet: one denoiser call; energy: one Langevin step, ∂E/∂x).',
    '- img/CPU·s = images per CPU-second of the process (all its threads). Its ratios are against single-threaded torch (`torch 1 thread` rows, ' +
      'same env): tfjs is single-threaded too, and a 2-thread OpenMP process on a busy machine loses much of its time at barriers, ' +
      'so the wall-clock ratios against 2-thread torch swing from run to run there.',
  ];
  const sections = [
    '# Benchmark: genlab (tfjs) against PyTorch',
    'Written by `npm run bench` (bench/run.ts). Do not edit by hand; see bench/README.md.',
    '## Configuration',
    config.join('\n'),
    '## Speed',
    speedTable(report.rows),
    `## Both cores\n\n${bothCoresSection(report.parallel, report.rows)}`,
    '## Memory',
    memoryTable(report.rows),
    `### Training-loop memory check\n\n${memoryCheckSection(report.memoryCheck)}` +
      (report.torchMemoryCheck ? `\n\n${memoryCheckSection(report.torchMemoryCheck, 'torch')}` : ''),
    ...report.profiles.map(({ title, profile }) => `## Profile: ${title}\n\n${profileTable(profile)}`),
    `## Conv2DBackpropFilter: genlab's kernel against stock tfjs\n\n${kernelSection(report.kernelComparison)}`,
  ];
  const notes = [...starvedTorchNotes(report.rows), ...starvedTfjsTorchNotes(report.rows), ...report.notes];
  if (notes.length > 0) sections.push(`## Notes\n\n${notes.map((n) => `- ${n}`).join('\n')}`);
  return `${sections.join('\n\n')}\n`;
}

/** One dated line per run for docs/bench/history.md. */
export function historyLine(report: BenchReport): string {
  const tfjsRows = report.rows.filter((r) => !isPyTorchRow(r) && !r.skipped);
  const parts = tfjsRows.map((r) => {
    const ref = references(report.rows, r, true);
    const kind = (t: StepTiming | undefined, refWall: StepTiming | undefined, refCpu: StepTiming | undefined, name: string) => {
      if (!t) return '';
      const ratios = [
        refWall ? ratio(t.imagesPerSec, refWall.imagesPerSec) : '',
        refCpu ? ratio(imagesPerCpuSecond(t), imagesPerCpuSecond(refCpu)) : '',
      ]
        .filter(Boolean)
        .join(' / ');
      return `${name} ${fmt(t.imagesPerSec, 2)}${ratios ? ` (${ratios})` : ''}`;
    };
    const parts = [kind(r.train, ref.wallTrain, ref.cpuTrain, 'train'), kind(r.infer, ref.wallInfer, ref.cpuInfer, 'infer')];
    return `${r.model} ${r.runtime}: ${parts.filter(Boolean).join(', ')}`;
  });
  const legend = tfjsRows.some((r) => tfjsTorchOneThread(r.runtime))
    ? 'img/s (wall × torch 2 threads / per-CPU·s × torch 1 thread; tfjs-torch 1 thread: wall × torch 1 thread)'
    : 'img/s (wall × torch 2 threads / per-CPU·s × torch 1 thread)';
  const both = bothCoresHistory(report);
  return `- ${report.date} ${report.commit} load ${report.loadAverage[0].toFixed(1)}: ${parts.join('; ')} (${legend})${both ? `; ${both}` : ''}`;
}

/** The "both cores" part of a history line, or '' when it was not run. */
export function bothCoresHistory(report: BenchReport): string {
  const parallel = report.parallel;
  if (!parallel || 'skipped' in parallel) return '';
  const parts: string[] = [];
  for (const t of parallel.training) {
    const base = t.noWorkers.timing?.imagesPerSec;
    const par = t.withWorkers.timing?.imagesPerSec;
    if (par === undefined) continue;
    const torch = torchTrainAt(report.rows, t.model, t.batch);
    const ratios = [
      base !== undefined ? `${ratio(par, base)} workers 0` : '',
      torch ? `${ratio(par, torch.imagesPerSec)} torch` : '',
    ].filter(Boolean);
    parts.push(
      `${t.model} trainer b${t.batch} --workers ${parallel.workers} ${fmt(par, 2)}${ratios.length ? ` (${ratios.join(', ')})` : ''}`,
    );
  }
  for (const p of parallel.inference) {
    if (p.sumImagesPerSec === undefined) continue;
    const torch = torchRow(report.rows, p.model)?.infer;
    parts.push(
      `${p.model} infer ${p.processes}×b${p.batchPerProcess} ${fmt(p.sumImagesPerSec, 2)}${torch ? ` (${ratio(p.sumImagesPerSec, torch.imagesPerSec)} torch)` : ''}`,
    );
  }
  return parts.length > 0 ? `both cores (img/s): ${parts.join('; ')}` : '';
}
