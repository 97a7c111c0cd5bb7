import type { StepTiming } from '../lib/measure.js';
import type { BenchReport } from '../lib/report.js';

/** A step timing whose medians give `imagesPerSec` at `batch` (CPU time = wall time). */
export function timing(imagesPerSec: number, batch = 32, steps = 3): StepTiming {
  const ms = (batch * 1000) / imagesPerSec;
  return { batch, steps, medianMs: ms, medianCpuMs: ms, imagesPerSec };
}

/** A report with fixed metadata and no rows; tests override what they check. */
export function testReport(overrides: Partial<BenchReport> = {}): BenchReport {
  return {
    date: '2026-11-28 20:00 UTC',
    commit: 'abc1234',
    node: 'v20',
    tfjs: '4.22.0',
    cpuModel: 'test CPU',
    cores: 2,
    loadAverage: [1, 2],
    seconds: 10,
    command: 'npm run bench',
    rows: [],
    profiles: [],
    notes: [],
    ...overrides,
  };
}
