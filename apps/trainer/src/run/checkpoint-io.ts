import { type GenlabManifest, loadCheckpoint, saveCheckpoint } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Trainer } from '../train/trainer.js';

/** Writes the trainer's full state (both models, Adam, RNG, data cursor, task state) as one atomic checkpoint. */
export async function writeTrainerCheckpoint(
  dir: string,
  trainer: Trainer,
  extra: { backend?: string; metrics?: Record<string, number>; optimization?: unknown } = {},
): Promise<void> {
  const snapshot = await trainer.snapshot();
  try {
    const manifest: GenlabManifest = {
      format: 1,
      kind: trainer.task.kind,
      config: trainer.task.config,
      step: trainer.step,
      dataset: 'cifar10',
      ...(extra.metrics ? { metrics: extra.metrics } : {}),
      ...(extra.backend ? { backend: extra.backend } : {}),
      created: new Date().toISOString(),
    };
    await saveCheckpoint(dir, {
      manifest,
      models: { ...snapshot.models },
      tensors: snapshot.tensors,
      json: { ...snapshot.json, optimization: extra.optimization ?? trainer.optimization },
    });
  } finally {
    tf.dispose(Object.values(snapshot.tensors));
  }
}

/** Restores a trainer from a checkpoint written by `writeTrainerCheckpoint`; returns its manifest. */
export async function readTrainerCheckpoint(dir: string, trainer: Trainer): Promise<GenlabManifest> {
  const loaded = await loadCheckpoint(dir);
  try {
    await trainer.restore({ models: loaded.models, tensors: loaded.tensors, json: loaded.json });
    return loaded.manifest;
  } finally {
    for (const model of Object.values(loaded.models)) model.dispose();
    tf.dispose(Object.values(loaded.tensors));
  }
}
