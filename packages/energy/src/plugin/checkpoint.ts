import { CheckpointError, type GenlabManifest, loadCheckpoint, type ModelKind } from '@lab/core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** The CIFAR-10 class names, used when a 10-class model's manifest names none. */
export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export interface LoadedModel {
  readonly model: LayersModel;
  readonly manifest: GenlabManifest;
  /** Sorted energies of training images, when the checkpoint stores them (`trainingEnergies`). */
  readonly trainingEnergies?: Float64Array;
}

/**
 * Loads `<dir>` and checks it holds a model of `kind` (the `model` entry, or the only one).
 * Training energies for percentiles come from the tensor or JSON entry `trainingEnergies`.
 */
export async function loadModelCheckpoint(dir: string, kind: ModelKind): Promise<LoadedModel> {
  const checkpoint = await loadCheckpoint(dir);
  const model = checkpoint.models.model ?? Object.values(checkpoint.models)[0];
  const fromTensor = checkpoint.tensors.trainingEnergies;
  let energies: Float64Array | undefined;
  try {
    if (checkpoint.manifest.kind !== kind)
      throw new CheckpointError(dir, `Expected a checkpoint of kind "${kind}", found kind "${checkpoint.manifest.kind}"`);
    if (!model) throw new CheckpointError(dir, 'The checkpoint holds no model');
    if (fromTensor) energies = Float64Array.from(await fromTensor.data());
    else if (Array.isArray(checkpoint.json.trainingEnergies)) energies = Float64Array.from(checkpoint.json.trainingEnergies as number[]);
  } catch (error) {
    for (const m of Object.values(checkpoint.models)) m.dispose();
    throw error;
  } finally {
    for (const t of Object.values(checkpoint.tensors)) t.dispose();
  }
  for (const m of Object.values(checkpoint.models)) if (m !== model) m.dispose();
  return { model, manifest: checkpoint.manifest, ...(energies && energies.length > 0 ? { trainingEnergies: energies.sort() } : {}) };
}

/** Percent of `sorted` strictly below `value` (0–100), by binary search. */
export function percentileOf(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return (100 * lo) / sorted.length;
}
