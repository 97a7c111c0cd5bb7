import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError } from '../errors.js';
import { loadCheckpoint } from './checkpoint.js';
import type { GenlabManifest, ModelKind } from './manifest.js';

/** One model of a checkpoint, with what else the checkpoint stored (tensors read into arrays). */
export interface LoadedModelCheckpoint {
  readonly model: LayersModel;
  readonly manifest: GenlabManifest;
  readonly json: Record<string, unknown>;
  /** The checkpoint's tensors as flat arrays; the tensors themselves are already disposed. */
  readonly tensorValues: Record<string, tf.TypedArray>;
}

export interface LoadModelCheckpointOptions {
  /** The model entry to keep (a training checkpoint's `ema`); default: `model`, else the first one. */
  readonly entry?: string;
  /** Read the checkpoint's tensors into `tensorValues` (default true); false only disposes them (an optimizer's state). */
  readonly readTensors?: boolean;
}

/**
 * Loads `<dir>`, checks it holds a model of `kind` (a CheckpointError otherwise) and keeps one
 * model (`options.entry`, else its `model` entry, else its first): every other model and every
 * tensor is disposed, also when it fails.
 */
export async function loadModelCheckpoint(
  dir: string,
  kind: ModelKind,
  options: LoadModelCheckpointOptions = {},
): Promise<LoadedModelCheckpoint> {
  const checkpoint = await loadCheckpoint(dir);
  const model =
    options.entry === undefined ? (checkpoint.models.model ?? Object.values(checkpoint.models)[0]) : checkpoint.models[options.entry];
  const tensorValues: Record<string, tf.TypedArray> = {};
  try {
    if (checkpoint.manifest.kind !== kind)
      throw new CheckpointError(dir, `Expected a checkpoint of kind "${kind}", found kind "${checkpoint.manifest.kind}"`);
    if (!model) {
      throw new CheckpointError(
        dir,
        options.entry === undefined ? 'The checkpoint holds no model' : `The checkpoint has no \`${options.entry}\` model`,
      );
    }
    if (options.readTensors !== false) {
      for (const [name, t] of Object.entries(checkpoint.tensors)) tensorValues[name] = (await t.data()) as tf.TypedArray;
    }
  } catch (error) {
    for (const m of Object.values(checkpoint.models)) m.dispose();
    throw error;
  } finally {
    for (const t of Object.values(checkpoint.tensors)) t.dispose();
  }
  for (const m of Object.values(checkpoint.models)) if (m !== model) m.dispose();
  return { model, manifest: checkpoint.manifest, json: checkpoint.json, tensorValues };
}
