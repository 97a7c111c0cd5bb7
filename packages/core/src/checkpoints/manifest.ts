import { CheckpointError } from '../errors.js';
import { isRecord } from './read.js';

export type ModelKind = 'diffusion' | 'energy' | 'classifier';
const KINDS: readonly ModelKind[] = ['diffusion', 'energy', 'classifier'];

/** `genlab.json`: what a checkpoint holds and how it was made. */
export interface GenlabManifest {
  /** Layout version of the checkpoint folder; only 1 exists. */
  format: 1;
  kind: ModelKind;
  /** The model/training configuration needed to rebuild the model. */
  config: Record<string, unknown>;
  /** Training steps done when saved. */
  step: number;
  /** The data it was trained on, e.g. `{ name: 'cifar10', split: 'train', size: 50000 }`. */
  dataset?: Record<string, unknown> | string;
  /** Evaluation figures at save time (loss, FID, …). */
  metrics?: Record<string, number>;
  /** The tfjs backend that trained it (`BackendInfo.name`). */
  backend?: string;
  /** ISO-8601 time of the save. */
  created: string;
}

export const MANIFEST_FILE = 'genlab.json';

/** Checks a parsed `genlab.json`; anything else is a CheckpointError naming `file`. */
export function parseManifest(value: unknown, file: string): GenlabManifest {
  if (!isRecord(value)) throw new CheckpointError(file, 'Manifest is not a JSON object');
  if (value.format !== 1)
    throw new CheckpointError(file, `Unsupported checkpoint format ${JSON.stringify(value.format)} (this version reads format 1)`);
  if (!KINDS.includes(value.kind as ModelKind)) throw new CheckpointError(file, `Unknown model kind ${JSON.stringify(value.kind)}`);
  if (!isRecord(value.config)) throw new CheckpointError(file, 'Manifest has no config object');
  if (typeof value.step !== 'number' || !Number.isInteger(value.step) || value.step < 0)
    throw new CheckpointError(file, 'Manifest step must be a non-negative integer');
  if (typeof value.created !== 'string' || Number.isNaN(Date.parse(value.created)))
    throw new CheckpointError(file, 'Manifest created must be an ISO date');
  if (value.metrics !== undefined && (!isRecord(value.metrics) || Object.values(value.metrics).some((m) => typeof m !== 'number'))) {
    throw new CheckpointError(file, 'Manifest metrics must map names to numbers');
  }
  return value as unknown as GenlabManifest;
}
