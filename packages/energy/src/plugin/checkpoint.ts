import { type GenlabManifest, loadModelCheckpoint } from '@lab/core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

export interface LoadedEnergyModel {
  readonly model: LayersModel;
  readonly manifest: GenlabManifest;
  /** Sorted energies of training images, when the checkpoint stores them (`trainingEnergies`). */
  readonly trainingEnergies?: Float64Array;
}

/**
 * Loads an energy checkpoint. Training energies for percentiles come from the tensor or JSON
 * entry `trainingEnergies`.
 */
export async function loadEnergyCheckpoint(dir: string): Promise<LoadedEnergyModel> {
  const { model, manifest, json, tensorValues } = await loadModelCheckpoint(dir, 'energy');
  const stored = tensorValues.trainingEnergies ?? (Array.isArray(json.trainingEnergies) ? (json.trainingEnergies as number[]) : []);
  const energies = Float64Array.from(stored);
  return { model, manifest, ...(energies.length > 0 ? { trainingEnergies: energies.sort() } : {}) };
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
