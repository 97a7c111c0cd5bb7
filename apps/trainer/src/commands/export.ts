import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type GenlabManifest, type Logger, saveCheckpoint, silentLogger, ValidationError } from '@lab/core';
import { loadRunModel } from '../run/load-run.js';
import { RunDirectory } from '../run/run-dir.js';

export interface ExportCommandOptions {
  run: string;
  to: string;
  force?: boolean;
  step?: number;
  logger?: Logger;
}

/** The model key of an exported folder (`models/<key>/model.json`). */
export const EXPORTED_MODEL_KEY = 'model';

/**
 * `export`: the run's EMA weights and a manifest, in the layout the API loads
 * (`<to>/genlab.json` plus the model written by saveCheckpoint). Refuses to replace a
 * non-empty folder unless `force`.
 */
export async function exportCommand(options: ExportCommandOptions): Promise<{ path: string; step: number; manifest: GenlabManifest }> {
  const logger = options.logger ?? silentLogger;
  const to = resolve(options.to);
  if (existsSync(to) && (await readdir(to)).length > 0) {
    if (!options.force) throw new ValidationError(`${to} is not empty: pass --force to replace it`);
  }
  const loaded = await loadRunModel(options.run, options.step !== undefined ? { step: options.step } : {});
  try {
    const metrics = await lastMetrics(options.run);
    const manifest: GenlabManifest = {
      format: 1,
      kind: loaded.info.kind,
      config: loaded.task.config,
      step: loaded.step,
      dataset: 'cifar10',
      ...(metrics ? { metrics } : {}),
      ...(loaded.manifest.backend ? { backend: loaded.manifest.backend } : {}),
      created: new Date().toISOString(),
    };
    await saveCheckpoint(to, { manifest, models: { [EXPORTED_MODEL_KEY]: loaded.model } });
    logger.info('exported', { run: options.run, step: loaded.step, to });
    return { path: to, step: loaded.step, manifest };
  } finally {
    loaded.model.dispose();
  }
}

/** The loss of the last metrics line (and any evaluation results), for the manifest. */
async function lastMetrics(run: string): Promise<Record<string, number> | undefined> {
  const lines = await new RunDirectory(run).readMetrics();
  const last = lines.at(-1);
  if (!last) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(last)) if (typeof v === 'number' && k !== 'step') out[k] = v;
  return out;
}
