import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCifarBatch } from '../../apps/trainer/src/data/cifar10-format.js';
import { loadCifarSplit, resolveCifarDir } from '../../apps/trainer/src/data/cifar10-source.js';
import { arriveAndWait, readyCount, releaseWhenReady } from '../lib/barrier.js';
import { type ParallelReport, parseTrainerMetrics, summarizePool, trainerTiming } from '../lib/parallel.js';
import { bothCoresHistory, bothCoresSection, historyLine, type RuntimeRow, renderLatest } from '../lib/report.js';
import {
  SYNTHETIC_CIFAR_FILES,
  SYNTHETIC_CIFAR_RECORD_BYTES,
  syntheticCifarBytes,
  writeSyntheticCifarDir,
} from '../lib/synthetic-cifar.js';
import { timing as stepTiming, testReport } from './fixtures.js';

/** Five timed steps, as the parallel runs take. */
const timing = (imagesPerSec: number, batch: number, steps = 5) => stepTiming(imagesPerSec, batch, steps);

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'genlab-bench-test-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('trainer metrics', () => {
  const line = (step: number, seconds: number, batch = 32) =>
    JSON.stringify({ step, loss: 0.5, gradNorm: 1, lr: 1e-4, imagesPerSecond: batch / seconds, seconds, time: '2026-11-28T22:00:00Z' });

  it('parses metrics.jsonl, skipping blank, cut-short and foreign lines, in step order', () => {
    const text = [line(2, 2), '', line(1, 9), '{"event":"resumed"}', line(3, 4), '{"step":4,"imagesPer'].join('\n');
    const lines = parseTrainerMetrics(text);
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3]);
    expect(lines[0]).toEqual({ step: 1, imagesPerSecond: 32 / 9, seconds: 9 });
  });

  it('takes the median of the steps after the first', () => {
    const lines = parseTrainerMetrics([line(1, 20), line(2, 2), line(3, 4), line(4, 1)].join('\n'));
    const t = trainerTiming(lines, 32);
    expect(t).toEqual({ batch: 32, steps: 3, firstStepSeconds: 20, medianSeconds: 2, imagesPerSec: 16 });
    // The slow first step (start-up) must not count.
    expect(trainerTiming(parseTrainerMetrics(line(1, 20)), 32)).toBeUndefined();
    expect(trainerTiming([], 32)).toBeUndefined();
  });
});

describe('inference pool', () => {
  it('sums the processes and measures how long they ran together', () => {
    const summary = summarizePool([
      { timing: timing(10, 32, 5), window: [1000, 17_000] },
      { timing: timing(6, 32, 5), window: [3000, 21_000] },
    ]);
    expect(summary.sumImagesPerSec).toBe(16);
    // 320 images in 20 s; together from 3 s to 17 s = 14 of 20 s.
    expect(summary.pooledImagesPerSec).toBeCloseTo(16, 10);
    expect(summary.overlap).toBeCloseTo(0.7, 10);
  });

  it('releases the waiting processes once all have arrived', async () => {
    const dir = tempDir();
    const release = releaseWhenReady(dir, 2, () => false);
    const first = arriveAndWait(dir, 'a', 5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(existsSync(join(dir, 'go'))).toBe(false);
    expect(readyCount(dir)).toBe(1);
    const second = arriveAndWait(dir, 'b', 5000);
    await release;
    expect(await Promise.all([first, second])).toEqual([true, true]);
    // Nobody releases this one: it gives up.
    expect(await arriveAndWait(tempDir(), 'c', 50)).toBe(false);
  });
});

describe('synthetic CIFAR-10', () => {
  it('writes records in the binary layout: 1 label byte + 3072 pixel bytes', () => {
    const bytes = syntheticCifarBytes(12, 5);
    expect(SYNTHETIC_CIFAR_RECORD_BYTES).toBe(3073);
    expect(bytes.length).toBe(12 * 3073);
    expect(Array.from({ length: 12 }, (_, i) => bytes[i * 3073])).toEqual([5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6]);
    // Pixels vary (not a constant image) and are the same on every call.
    expect(new Set(bytes.subarray(1, 3073)).size).toBeGreaterThan(200);
    expect(syntheticCifarBytes(12, 5)).toEqual(bytes);
    expect(() => syntheticCifarBytes(0)).toThrow(RangeError);
  });

  it("writes a folder that the trainer's CIFAR-10 loader accepts", async () => {
    const dir = writeSyntheticCifarDir(tempDir(), 30);
    expect(await resolveCifarDir({ dataDir: dir, env: {} })).toBe(dir);
    const train = await loadCifarSplit(dir, 'train');
    expect(train.count).toBe(150);
    expect(new Set(train.labels)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const test = await loadCifarSplit(dir, 'test');
    expect(test.count).toBe(30);
    for (const name of SYNTHETIC_CIFAR_FILES) {
      const file = join(dir, name);
      expect(parseCifarBatch(new Uint8Array(readFileSync(file)), file, { expectedRecords: 30 }).count).toBe(30);
    }
  });
});

describe('both cores in the report', () => {
  const rows: RuntimeRow[] = [
    { model: 'unet-tiny', runtime: 'tfjs-wasm', train: timing(19, 32), infer: timing(80, 64) },
    { model: 'unet-tiny', runtime: 'torch', train: timing(100, 32), infer: timing(350, 64) },
    { model: 'unet-tiny', runtime: 'torch 1 thread', train: timing(80, 32), infer: timing(250, 64) },
    { model: 'unet-small', runtime: 'tfjs-wasm', train: timing(2, 8), infer: timing(8, 64) },
    { model: 'unet-small', runtime: 'torch', train: timing(13, 8), infer: timing(50, 64) },
    { model: 'unet-small', runtime: 'torch (train b32)', train: timing(14.5, 32), infer: timing(50, 64) },
  ];
  const trainerRun = (workers: number, imagesPerSec: number, batch: number) => ({
    workers,
    loadAverage: 1.5,
    timing: { batch, steps: 5, firstStepSeconds: 10, medianSeconds: batch / imagesPerSec, imagesPerSec },
  });
  const parallel: ParallelReport = {
    cores: 2,
    workers: 1,
    syntheticRecordsPerFile: 64,
    training: [
      { model: 'unet-tiny', preset: 'tiny', batch: 32, noWorkers: trainerRun(0, 18, 32), withWorkers: trainerRun(1, 30, 32) },
      {
        model: 'unet-small',
        preset: 'small',
        batch: 8,
        microBatch: 8,
        noWorkers: trainerRun(0, 2, 8),
        withWorkers: { workers: 1, loadAverage: 2, skipped: 'exit 1: out of memory' },
      },
    ],
    inference: [
      {
        model: 'unet-tiny',
        processes: 2,
        batchPerProcess: 32,
        perProcess: [timing(70, 32), timing(70, 32)],
        sumImagesPerSec: 140,
        pooledImagesPerSec: 135,
        overlap: 0.97,
        loadAverage: 1.6,
      },
      { model: 'unet-small', processes: 2, batchPerProcess: 32, loadAverage: 1.7, skipped: 'stopped after 300 s (time limit)' },
    ],
  };
  const report = testReport({ date: '2026-11-28 23:00 UTC', rows: rows.slice(0, 3), parallel });

  it('puts --workers 1 against --workers 0 and torch trained at the same batch', () => {
    const section = bothCoresSection(parallel, rows);
    const lines = section.split('\n');
    const tiny = lines.find((l) => l.startsWith('| unet-tiny | 32 |'));
    // 30 / 18 = 1.67×; 30 / 100 (torch at b32) = 0.30×.
    expect(tiny).toBe('| unet-tiny | 32 | 18.0 (5 steps) | 30.0 (5 steps) | 1.67× | 0.30× | load 1.5 / 1.5 |');
    const small = lines.find((l) => l.startsWith('| unet-small | 8'));
    // A missing side gives no ratio; torch's row at b8 (not "train b32") would be the reference.
    expect(small).toContain('skipped: exit 1: out of memory');
    expect(small).toContain('(micro-batch 8)');
    expect(small?.split(' | ')[4]).toBe('—');
    const pool = lines.find((l) => l.startsWith('| unet-tiny | 2 × 32 |'));
    // 140 against one process at 80 (1.75×) and torch at 350 (0.40×).
    expect(pool).toBe(
      '| unet-tiny | 2 × 32 | 70.0 (5 steps) + 70.0 (5 steps) | 140 | 1.75× (b64) | 0.40× (b64) | 135 | load 1.6; together 97% of the time |',
    );
    expect(section).toContain('| unet-small | 2 × 32 | — | — | — | — | — | skipped: stopped after 300 s (time limit) |');
    expect(section).toContain('`--workers 1` × torch (2 threads, same batch)');
    expect(bothCoresSection({ skipped: '--no-parallel' }, rows)).toBe('Skipped: --no-parallel.');
  });

  it('uses the torch row at the parallel run batch for unet-small', () => {
    const small = { ...parallel.training[1]!, withWorkers: trainerRun(1, 3.9, 8) };
    // The b32 row first, so that taking the first torch row of the model would pick the wrong one.
    const reordered = [rows[5]!, ...rows.slice(0, 5)];
    const line = bothCoresSection({ ...parallel, training: [small] }, reordered)
      .split('\n')
      .find((l) => l.startsWith('| unet-small | 8'));
    // 3.9 / 2 = 1.95×; 3.9 / 13 (torch at b8, not the b32 row's 14.5) = 0.30×.
    expect(line).toContain('| 1.95× | 0.30× |');
  });

  it('adds a "Both cores" section between Speed and Memory, and the numbers to the history line', () => {
    const markdown = renderLatest(report);
    const speed = markdown.indexOf('## Speed');
    const both = markdown.indexOf('## Both cores');
    const memory = markdown.indexOf('## Memory');
    expect(speed).toBeGreaterThan(0);
    expect(both).toBeGreaterThan(speed);
    expect(memory).toBeGreaterThan(both);
    expect(markdown).toContain('a pool of 2 workers (`GENLAB_POOL_SIZE=2`');
    expect(bothCoresHistory(report)).toBe(
      'both cores (img/s): unet-tiny trainer b32 --workers 1 30.0 (1.67× workers 0, 0.30× torch); unet-tiny infer 2×b32 140 (0.40× torch)',
    );
    expect(historyLine(report)).toMatch(/torch 1 thread\)\); both cores \(img\/s\): unet-tiny trainer b32/);
    const { parallel: _, ...without } = report;
    expect(historyLine(without)).not.toContain('both cores');
    expect(renderLatest(without)).toContain('## Both cores\n\nNot run.');
  });
});
