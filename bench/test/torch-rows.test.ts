import { describe, expect, it } from 'vitest';
import {
  bothCoresSection,
  historyLine,
  type MemoryCheckResult,
  memoryCheckSection,
  memoryTable,
  type RuntimeRow,
  references,
  renderLatest,
  speedTable,
  starvedTfjsTorchNotes,
  TFJS_TORCH,
  TFJS_TORCH_CAPTURED,
  TFJS_TORCH_CAPTURED_ONE_THREAD,
  TFJS_TORCH_ONE_THREAD,
  tfjsTorchConfigLines,
} from '../lib/report.js';
import { tfjsTorchEnv } from '../lib/torch.js';
import { timing as stepTiming, testReport } from './fixtures.js';

/** A timing whose CPU time is `cpuFactor` × its wall time (2 threads busy: 2). */
function timing(imagesPerSec: number, batch: number, cpuFactor = 1) {
  const t = stepTiming(imagesPerSec, batch);
  return { ...t, medianCpuMs: t.medianMs * cpuFactor };
}

/** unet-small as a run with wasm at b8 and tfjs-torch at b32 measures it. */
const rows: RuntimeRow[] = [
  { model: 'unet-small', runtime: 'tfjs-wasm', train: timing(2, 8), infer: timing(8, 64) },
  {
    model: 'unet-small',
    runtime: TFJS_TORCH,
    train: timing(6, 32, 2),
    infer: timing(40, 64, 2),
    tensors: [700, 700],
    liveTensors: [720, 720],
  },
  {
    model: 'unet-small',
    runtime: TFJS_TORCH_ONE_THREAD,
    train: timing(4, 32),
    infer: timing(30, 64),
    tensors: [700, 700],
    liveTensors: [720, 722],
  },
  { model: 'unet-small', runtime: 'torch', train: timing(10, 8, 2), infer: timing(50, 64, 2) },
  { model: 'unet-small', runtime: 'torch 1 thread', train: timing(8, 8), infer: timing(40, 64) },
  { model: 'unet-small', runtime: 'torch (train b32)', train: timing(12, 32, 2), infer: timing(50, 64, 2) },
  { model: 'unet-small', runtime: 'torch 1 thread (train b32)', train: timing(10, 32), infer: timing(40, 64) },
];
const line = (table: string, runtime: string) => table.split('\n').find((l) => l.startsWith(`| unet-small | ${runtime} |`));

describe('tfjs-torch rows', () => {
  it('compares the 2-thread tfjs-torch row with 2-thread torch (wall) and 1-thread torch (per CPU-second) at its own batch', () => {
    const table = speedTable(rows);
    // train: 6 / 12 (torch at b32, not the b8 row's 10) = 0.50×; per CPU-s 3 / 10 = 0.30×.
    // infer: 40 / 50 = 0.80×; per CPU-s 20 / 40 = 0.50×.
    expect(line(table, TFJS_TORCH)).toBe(
      '| unet-small | tfjs-torch | 6.00 (b32, 3 steps) | 0.50× | 40.0 (b64, 3 steps) | 0.80× | 3.00 | 0.30× | 20.0 | 0.50× |  |',
    );
  });

  it('compares the 1-thread tfjs-torch row with 1-thread torch, wall-clock too, and says so', () => {
    // train 4 / 10 = 0.40× both ways (one thread: CPU time = wall time); infer 30 / 40 = 0.75×.
    expect(line(speedTable(rows), TFJS_TORCH_ONE_THREAD)).toBe(
      '| unet-small | tfjs-torch 1 thread | 4.00 (b32, 3 steps) | 0.40× (vs 1 thread) | 30.0 (b64, 3 steps) | 0.75× (vs 1 thread) | 4.00 | 0.40× | 30.0 | 0.75× |  |',
    );
  });

  it('compares the captured rows as the plain ones: 2 threads with 2-thread torch, 1 thread with 1-thread torch', () => {
    const captured: RuntimeRow[] = [
      ...rows,
      { model: 'unet-small', runtime: TFJS_TORCH_CAPTURED, train: timing(6, 32, 2), infer: timing(40, 64, 2) },
      { model: 'unet-small', runtime: TFJS_TORCH_CAPTURED_ONE_THREAD, train: timing(4, 32), infer: timing(30, 64) },
    ];
    const table = speedTable(captured);
    // The same figures as the plain rows above give the same ratios against the same references.
    expect(line(table, TFJS_TORCH_CAPTURED)).toBe(
      '| unet-small | tfjs-torch captured | 6.00 (b32, 3 steps) | 0.50× | 40.0 (b64, 3 steps) | 0.80× | 3.00 | 0.30× | 20.0 | 0.50× |  |',
    );
    expect(line(table, TFJS_TORCH_CAPTURED_ONE_THREAD)).toBe(
      '| unet-small | tfjs-torch captured 1 thread | 4.00 (b32, 3 steps) | 0.40× (vs 1 thread) | 30.0 (b64, 3 steps) | 0.75× (vs 1 thread) | 4.00 | 0.40× | 30.0 | 0.75× |  |',
    );
    // A captured row slower with 2 threads than with 1 is flagged under its own name.
    const starved = starvedTfjsTorchNotes([
      ...captured.slice(0, -2),
      { model: 'unet-small', runtime: TFJS_TORCH_CAPTURED, train: timing(3, 32, 2), infer: timing(40, 64, 2) },
      captured.at(-1) as RuntimeRow,
    ]);
    expect(starved).toHaveLength(1);
    expect(starved[0]).toContain('unet-small: tfjs-torch captured with 2 threads was slower than with 1 (train 3.00 vs 4.00 img/s)');
  });

  it('leaves the tfjs-wasm row against the torch rows at its own batch (8), as before', () => {
    // 2 / 10 = 0.20×, 8 / 50 = 0.16×; per CPU-s 2 / 8 = 0.25×, 8 / 40 = 0.20×.
    expect(line(speedTable(rows), 'tfjs-wasm')).toBe(
      '| unet-small | tfjs-wasm | 2.00 (b8, 3 steps) | 0.20× | 8.00 (b64, 3 steps) | 0.16× | 2.00 | 0.25× | 8.00 | 0.20× |  |',
    );
    // Without the b32 rows and with nothing at the tfjs row's batch, the main torch rows are the reference.
    const cpuTiny: RuntimeRow = { model: 'unet-small', runtime: 'tfjs-cpu', train: timing(0.5, 4) };
    const ref = references([cpuTiny, ...rows.slice(3, 5)], cpuTiny);
    expect(ref.wallTrain?.batch).toBe(8);
    expect(ref.cpuTrain?.imagesPerSec).toBe(8);
  });

  it('puts the torch ratios into the history line', () => {
    const history = historyLine(testReport({ rows }));
    expect(history).toContain('unet-small tfjs-torch: train 6.00 (0.50× / 0.30×), infer 40.0 (0.80× / 0.50×)');
    expect(history).toContain('unet-small tfjs-torch 1 thread: train 4.00 (0.40× / 0.40×), infer 30.0 (0.75× / 0.75×)');
    expect(history).toContain('tfjs-torch 1 thread: wall × torch 1 thread');
    // The PyTorch rows themselves are references, not entries.
    expect(history).not.toContain('torch (train b32):');
    expect(historyLine(testReport({ rows: rows.filter((r) => r.runtime !== TFJS_TORCH_ONE_THREAD) }))).not.toContain('tfjs-torch 1 thread');
  });

  it('never takes a 1-thread torch row as the 2-thread reference of "Both cores"', () => {
    const trainerRun = (imagesPerSec: number) => ({
      workers: 1,
      loadAverage: 1,
      timing: { batch: 32, steps: 5, firstStepSeconds: 10, medianSeconds: 32 / imagesPerSec, imagesPerSec },
    });
    const section = bothCoresSection(
      {
        cores: 2,
        workers: 1,
        syntheticRecordsPerFile: 64,
        training: [{ model: 'unet-small', preset: 'small', batch: 32, noWorkers: trainerRun(3), withWorkers: trainerRun(6) }],
        inference: [],
      },
      // The 1-thread b32 row first.
      [rows[6]!, ...rows.slice(0, 6)],
    );
    // 6 / 12 (torch (train b32), 2 threads) = 0.50×, not 6 / 10.
    expect(section).toContain('| 2.00× | 0.50× |');
  });

  it('prints which LibTorch, BLAS and threads ran in the Configuration section', () => {
    const tfjsTorch = {
      details: [
        { runtime: TFJS_TORCH, detail: 'LibTorch 1.13.0, cpu, 2 threads, oneDNN, BLAS libblas.so.3, libopenblasp-r0.3.21.so' },
        { runtime: TFJS_TORCH_ONE_THREAD, detail: 'LibTorch 1.13.0, cpu, 1 thread, oneDNN, BLAS libblas.so.3, libopenblasp-r0.3.21.so' },
      ],
      ldLibraryPath: '/usr/lib/x86_64-linux-gnu/openblas-pthread',
      device: 'cpu',
      mallocMmapThreshold: '4294967296',
      mallocTrimThreshold: '68719476736',
    };
    const markdown = renderLatest(testReport({ rows, tfjsTorch }));
    const config = markdown.slice(markdown.indexOf('## Configuration'), markdown.indexOf('## Speed'));
    expect(config).toContain(
      '`LibTorch 1.13.0, cpu, 2 threads, oneDNN, BLAS libblas.so.3, libopenblasp-r0.3.21.so` in the "tfjs-torch" rows; ' +
        '`LibTorch 1.13.0, cpu, 1 thread, oneDNN, BLAS libblas.so.3, libopenblasp-r0.3.21.so` in the "tfjs-torch 1 thread" rows',
    );
    expect(config).toContain('LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread');
    expect(tfjsTorchConfigLines({ skipped: 'torchStatus(): the LibTorch addon is not built' })).toEqual([
      '- tfjs-torch (@lab/backend-torch): not measured: torchStatus(): the LibTorch addon is not built.',
    ]);
    // Reports from before the torch backend render as they did.
    expect(tfjsTorchConfigLines(undefined)).toEqual([]);
    expect(renderLatest(testReport({ rows: [] }))).not.toContain('tfjs-torch');
  });

  it('shows skipped torch rows with their reason', () => {
    const skipped: RuntimeRow = { model: 'unet-tiny', runtime: TFJS_TORCH, skipped: 'torchStatus(): the LibTorch addon does not load' };
    expect(speedTable([skipped])).toContain(
      '| unet-tiny | tfjs-torch | — | — | — | — | — | — | — | — | skipped: torchStatus(): the LibTorch addon does not load |',
    );
  });

  it('adds the live LibTorch tensor count to the memory table', () => {
    const table = memoryTable(rows);
    expect(line(table, TFJS_TORCH)).toContain('| yes (700); LibTorch yes (720) |');
    expect(line(table, TFJS_TORCH_ONE_THREAD)).toContain('| yes (700); LibTorch NO: 720 → 722 |');
    expect(line(table, 'tfjs-wasm')).toMatch(/\| — \|$/);
  });

  it('renders the torch memory check with the live LibTorch tensors, and flags growth and leftovers', () => {
    const check: MemoryCheckResult = {
      backend: 'torch',
      model: 'unet-tiny',
      batch: 2,
      steps: 300,
      seconds: 90,
      tensors: [505, 505],
      bytes: [7613340, 7613340],
      rssMiB: [390, 385, 386],
      peakRssMiB: 430,
      growthSteps: [],
      liveTensors: { beforeModel: 0, afterFirst: 505, afterLast: 505, afterDispose: 0 },
    };
    const text = memoryCheckSection(check, 'torch');
    expect(text).toContain('unet-tiny on tfjs-torch, batch 2, 300 training steps');
    expect(text).toContain('live LibTorch tensors 505 → 505 (no growth at any step)');
    expect(text).toContain('LibTorch tensors 0 before the model was built and 0 after it');
    const leaky = memoryCheckSection(
      { ...check, growthSteps: [2, 3], liveTensors: { beforeModel: 0, afterFirst: 505, afterLast: 507, afterDispose: 2 } },
      'torch',
    );
    expect(leaky).toContain('live LibTorch tensors 505 → 507 (changed after steps 2, 3)');
    expect(leaky).toContain('(**2 not freed**)');
    expect(memoryCheckSection({ skipped: '--no-memory' }, 'torch')).toBe('tfjs-torch: skipped: --no-memory.');
    const markdown = renderLatest(testReport({ rows, memoryCheck: { ...check, backend: 'wasm' }, torchMemoryCheck: check }));
    const section = markdown.slice(markdown.indexOf('### Training-loop memory check'));
    expect(section.indexOf('on tfjs-wasm')).toBeGreaterThan(0);
    expect(section.indexOf('on tfjs-torch')).toBeGreaterThan(section.indexOf('on tfjs-wasm'));
  });

  it('notes a 2-thread tfjs-torch row slower than its 1-thread row', () => {
    const slow = rows.map((r) => (r.runtime === TFJS_TORCH ? { ...r, train: timing(3, 32, 2) } : r));
    expect(starvedTfjsTorchNotes(rows)).toEqual([]);
    const notes = starvedTfjsTorchNotes(slow);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('unet-small: tfjs-torch with 2 threads was slower than with 1 (train 3.00 vs 4.00 img/s)');
  });

  it("runs tfjs-torch cases in the PyTorch rows' environment with GENLAB_TORCH_THREADS", () => {
    const env = tfjsTorchEnv(1);
    expect(env.GENLAB_TORCH_THREADS).toBe('1');
    expect(env.OMP_NUM_THREADS).toBe('1');
    expect(env.MALLOC_MMAP_THRESHOLD_).toBe('4294967296');
    expect(env.GENLAB_TORCH_DEVICE).toBe(process.env.GENLAB_TORCH_DEVICE || 'cpu');
  });
});
