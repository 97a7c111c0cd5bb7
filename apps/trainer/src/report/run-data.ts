import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MANIFEST_FILE, ValidationError } from '@lab/core';
import { RunDirectory, type RunInfo } from '../run/run-dir.js';

/** One line of `metrics.jsonl`, as far as the report reads it. */
export interface MetricsPoint {
  readonly step: number;
  readonly loss: number;
  readonly lr?: number;
  readonly gradNorm?: number;
  readonly imagesPerSecond?: number;
}

/** The numbers of one image set in an evaluation file. */
export interface EvaluatedSet {
  readonly fd: number;
  readonly kid: number;
  readonly is: number;
}

/** One `evaluations/step-N[-settings].json`. */
export interface Evaluation {
  readonly file: string;
  readonly step: number;
  readonly guidance: number;
  /**
   * The settings that differ from the run's own, in words, from the file name (`guidance 4`,
   * `sampler ancestral steps 49`, …); empty for an evaluation at the run's defaults.
   */
  readonly settings: string;
  readonly count: number;
  readonly generated: EvaluatedSet;
  /** Real test images: the best a generator can score (the floor of FD and KID). */
  readonly test: EvaluatedSet;
  /** Uniform noise: what a useless generator scores (the ceiling). */
  readonly noise: EvaluatedSet;
}

export interface SampleGrid {
  readonly step: number;
  readonly png: Uint8Array;
}

export interface RunData {
  readonly path: string;
  readonly info: RunInfo;
  /** The backend of the newest checkpoint's manifest, when there is one. */
  readonly backend: string | undefined;
  readonly metrics: MetricsPoint[];
  readonly evaluations: Evaluation[];
  readonly samples: SampleGrid[];
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * Parses `metrics.jsonl`. A broken last line is skipped (training may be appending it right now);
 * a broken line anywhere else is an error naming the file and line.
 */
export function parseMetrics(text: string, file: string): MetricsPoint[] {
  const lines = text.split('\n');
  const points: MetricsPoint[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      const isLast = lines.slice(index + 1).every((rest) => rest.trim() === '');
      if (isLast) return;
      throw new ValidationError(`${file}:${index + 1} is not a JSON line`);
    }
    const step = finite(record.step);
    const loss = finite(record.loss);
    if (step === undefined || loss === undefined) throw new ValidationError(`${file}:${index + 1} has no numeric step and loss`);
    const optional = (name: 'lr' | 'gradNorm' | 'imagesPerSecond') => {
      const value = finite(record[name]);
      return value === undefined ? {} : { [name]: value };
    };
    points.push({ step, loss, ...optional('lr'), ...optional('gradNorm'), ...optional('imagesPerSecond') });
  });
  return points;
}

function evaluatedSet(value: unknown, file: string, name: string): EvaluatedSet {
  const set = value as Record<string, unknown> | undefined;
  const fd = finite(set?.['FD-cls']);
  const kid = finite((set?.['KID-cls'] as Record<string, unknown> | undefined)?.mean);
  const is = finite(set?.['IS-cls']);
  if (fd === undefined || kid === undefined || is === undefined) {
    throw new ValidationError(`${file}: sets.${name} lacks FD-cls, KID-cls.mean or IS-cls`);
  }
  return { fd, kid, is };
}

/** Reads one evaluation file; undefined for a file without generated samples (not a generator's evaluation). */
export async function readEvaluation(file: string): Promise<Evaluation | undefined> {
  const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const sets = json.sets as Record<string, unknown> | undefined;
  if (!sets?.generated) return undefined;
  const step = finite(json.step);
  if (step === undefined) throw new ValidationError(`${file}: no numeric step`);
  return {
    file: basename(file),
    step,
    guidance: finite(json.guidance) ?? 1,
    settings: settingsOf(basename(file)),
    count: finite((sets.generated as Record<string, unknown>).count) ?? 0,
    generated: evaluatedSet(sets.generated, file, 'generated'),
    test: evaluatedSet(sets.test, file, 'test'),
    noise: evaluatedSet(sets.noise, file, 'noise'),
  };
}

/** `step-00006000-sampler-ancestral-steps-49.json` → `sampler ancestral steps 49` (evaluate names its files so). */
function settingsOf(file: string): string {
  return file
    .replace(/^step-\d+-?/, '')
    .replace(/\.json$/, '')
    .replace(/step-size/g, 'step size')
    .replace(/-(?=[a-z])|(?<=[a-z])-/g, ' ');
}

async function filesIn(dir: string, pattern: RegExp): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir)).filter((name) => pattern.test(name)).sort();
}

async function readBackend(run: RunDirectory): Promise<string | undefined> {
  const latest = await run.latestCheckpoint();
  if (!latest) return undefined;
  try {
    const manifest = JSON.parse(await readFile(join(latest.path, MANIFEST_FILE), 'utf8')) as { backend?: unknown };
    return typeof manifest.backend === 'string' ? manifest.backend : undefined;
  } catch {
    return undefined; // pruned while we read it: the report just omits the backend
  }
}

/** Everything the report shows, read from a run folder (an error if it is not a genlab run); the newest `maxSamples` grids. */
export async function loadRunData(path: string, { maxSamples = 6 }: { maxSamples?: number } = {}): Promise<RunData> {
  const run = await RunDirectory.existing(path);
  const info = await run.readInfo();
  const metricsFile = join(run.path, 'metrics.jsonl');
  const metrics = existsSync(metricsFile) ? parseMetrics(await readFile(metricsFile, 'utf8'), metricsFile) : [];
  const evaluationDir = join(run.path, 'evaluations');
  const evaluations: Evaluation[] = [];
  // Every evaluation of the run: at its own settings, guided, or with another sampler, steps or step size.
  for (const name of await filesIn(evaluationDir, /^step-\d+(-[\w.-]+)?\.json$/)) {
    const evaluation = await readEvaluation(join(evaluationDir, name));
    if (evaluation) evaluations.push(evaluation);
  }
  const sampleDir = join(run.path, 'samples');
  const samples: SampleGrid[] = [];
  // Only the newest grids: a long run keeps hundreds, and each is embedded in the page.
  for (const name of (await filesIn(sampleDir, /^step-\d+\.png$/)).slice(-maxSamples)) {
    samples.push({ step: Number(name.slice(5, -4)), png: new Uint8Array(await readFile(join(sampleDir, name))) });
  }
  return { path: run.path, info, backend: await readBackend(run), metrics, evaluations, samples };
}
