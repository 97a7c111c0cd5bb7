import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE, NotFoundError, ValidationError } from '@lab/core';
import type { ModelKind } from '../tasks/types.js';
import type { OptimizationConfig } from '../train/trainer.js';

/** What `run.json` records: everything needed to rebuild the trainer for `--resume`, `evaluate` and `export`. */
export interface RunInfo {
  readonly format: 1;
  readonly kind: ModelKind;
  readonly created: string;
  /** The task's resolved configuration (architecture, schedule, Langevin settings…). */
  readonly task: Record<string, unknown>;
  readonly optimization: OptimizationConfig;
  readonly seed: number;
  /** Planned number of steps (a resume may raise it). */
  readonly steps: number;
  readonly data: { readonly classes?: number[]; readonly limit?: number };
  readonly checkpointEvery: number;
  readonly sampleEvery: number;
  readonly sampleCount: number;
  readonly keepCheckpoints: number;
  /** The trained weights the run started from (`--init-from`), if any. */
  readonly initFrom?: { readonly path: string; readonly step: number };
}

const RUN_FILE = 'run.json';
const CHECKPOINTS = 'checkpoints';
const EVALUATIONS = 'evaluations';

/**
 * One training run's folder: `run.json`, `metrics.jsonl`, `samples/step-N.png` and
 * `checkpoints/step-N/` (each written atomically by saveCheckpoint).
 */
/** What sets one evaluation of a checkpoint apart from another (see `RunDirectory.evaluationPath`). */
export interface EvaluationSettings {
  readonly guidance?: number;
  readonly guidanceRescale?: number;
  /** Only when not the run's own sampler. */
  readonly sampler?: string;
  /** Only when not the run's own number of steps. */
  readonly sampleSteps?: number;
  /** Only when not the run's own Langevin step size. */
  readonly stepSize?: number;
  readonly flipAverage?: boolean;
}

export class RunDirectory {
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  /**
   * Opens `path` for training. A new run needs a missing or empty folder: a non-empty one is
   * never reused silently — with `resume` it must be a genlab run; without it, an error says
   * to pass `--resume` or choose another `--out`.
   */
  static async open(path: string, { resume }: { resume: boolean }): Promise<{ dir: RunDirectory; info: RunInfo | undefined }> {
    const dir = new RunDirectory(path);
    const entries = existsSync(dir.path) ? await readdir(dir.path) : [];
    // A new run's folder is made by its first writeInfo: a run refused before then (a bad flag,
    // missing data) leaves nothing behind.
    if (entries.length === 0) return { dir, info: undefined };
    if (!entries.includes(RUN_FILE)) {
      throw new ValidationError(`${dir.path} is not empty and is not a genlab run (no ${RUN_FILE}): choose another --out`);
    }
    if (!resume) {
      throw new ValidationError(
        `${dir.path} already holds a run: pass --resume to continue it, or choose another --out (nothing was overwritten)`,
      );
    }
    return { dir, info: await dir.readInfo() };
  }

  /** Opens an existing run for reading (evaluate, export, sample). */
  static async existing(path: string): Promise<RunDirectory> {
    const dir = new RunDirectory(path);
    if (!existsSync(join(dir.path, RUN_FILE))) throw new NotFoundError(`${dir.path} is not a genlab run (no ${RUN_FILE})`);
    return dir;
  }

  async readInfo(): Promise<RunInfo> {
    const info = JSON.parse(await readFile(join(this.path, RUN_FILE), 'utf8')) as RunInfo;
    if (info.format !== 1) throw new ValidationError(`${join(this.path, RUN_FILE)}: unknown format ${String(info.format)}`);
    return info;
  }

  async writeInfo(info: RunInfo): Promise<void> {
    await mkdir(this.path, { recursive: true });
    await writeAtomic(join(this.path, RUN_FILE), `${JSON.stringify(info, null, 2)}\n`);
  }

  checkpointPath(step: number): string {
    return join(this.path, CHECKPOINTS, stepName(step));
  }

  /** Steps of the complete checkpoints, ascending. */
  async checkpointSteps(): Promise<number[]> {
    const root = join(this.path, CHECKPOINTS);
    if (!existsSync(root)) return [];
    const steps: number[] = [];
    for (const name of await readdir(root)) {
      const match = /^step-(\d{8})$/.exec(name);
      if (match && existsSync(join(root, name, MANIFEST_FILE))) steps.push(Number(match[1]));
    }
    return steps.sort((a, b) => a - b);
  }

  /** The newest complete checkpoint, or undefined. */
  async latestCheckpoint(): Promise<{ step: number; path: string } | undefined> {
    const steps = await this.checkpointSteps();
    const step = steps.at(-1);
    return step === undefined ? undefined : { step, path: this.checkpointPath(step) };
  }

  /** Deletes all but the newest `keep` checkpoints. */
  async pruneCheckpoints(keep: number): Promise<void> {
    const steps = await this.checkpointSteps();
    for (const step of steps.slice(0, Math.max(0, steps.length - Math.max(1, keep)))) {
      await rm(this.checkpointPath(step), { recursive: true, force: true });
    }
  }

  /**
   * Where `evaluate` writes its report of the checkpoint at `step`:
   * `evaluations/step-N[-guidance-G][-rescale-R][-sampler-K][-steps-S][-step-size-E][-flip-average].json`,
   * with guidance G ≠ 1 and rescale R ≠ 0, and `sampler`, `sampleSteps`, `stepSize` and
   * `flipAverage` only when the evaluation drew samples with another sampler, number of steps or
   * Langevin step size than the run's own, or flip-averaged a classifier run, so that none of them
   * replaces the default one (which export copies into the manifest).
   */
  evaluationPath(step: number, settings: EvaluationSettings = {}): string {
    const { guidance = 1, guidanceRescale = 0, sampler, sampleSteps, stepSize, flipAverage = false } = settings;
    const suffix = [
      guidance === 1 ? '' : `-guidance-${guidance}`,
      guidanceRescale === 0 ? '' : `-rescale-${guidanceRescale}`,
      sampler === undefined ? '' : `-sampler-${sampler}`,
      sampleSteps === undefined ? '' : `-steps-${sampleSteps}`,
      stepSize === undefined ? '' : `-step-size-${stepSize}`,
      flipAverage ? '-flip-average' : '',
    ].join('');
    return join(this.path, EVALUATIONS, `${stepName(step)}${suffix}.json`);
  }

  async appendMetrics(record: Record<string, unknown>): Promise<void> {
    await appendFile(join(this.path, 'metrics.jsonl'), `${JSON.stringify(record)}\n`);
  }

  async readMetrics(): Promise<Array<Record<string, unknown>>> {
    const file = join(this.path, 'metrics.jsonl');
    if (!existsSync(file)) return [];
    return (await readFile(file, 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /**
   * Drops metric lines after `step` (a resume from an earlier checkpoint repeats those steps,
   * and their lines would otherwise appear twice).
   */
  async truncateMetricsAfter(step: number): Promise<void> {
    const kept = (await this.readMetrics()).filter((r) => typeof r.step !== 'number' || r.step <= step);
    await writeAtomic(join(this.path, 'metrics.jsonl'), kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  async writeSampleGrid(step: number, png: Uint8Array): Promise<string> {
    const dir = join(this.path, 'samples');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${stepName(step)}.png`);
    await writeAtomic(file, png);
    return file;
  }
}

/** `step-00000500`: the name of a step's checkpoint folder, sample grid and evaluation (they sort by step). */
function stepName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** Writes through a temporary file and a rename, so readers never see half a file. */
export async function writeAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}
