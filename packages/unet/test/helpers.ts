import { Rng, selectBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'vitest';
import { TEST_BACKEND, useTestBackend } from '../../../testing/backend.js';
import type { UNetConfigInput } from '../src/index.js';

/** Seeded standard-normal values as a plain array. */
export function randomArray(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.gaussian());
}

/** Seeded standard-normal tensor. */
export function randomTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    randomArray(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

/** Largest |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Saves a model to memory and loads it back (exercises the registered custom layers). */
export async function roundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tfl.loadLayersModel(tf.io.fromMemory(saved!));
}

/** Under `GENLAB_BACKEND=torch`, torch; else wasm when it can start (forward passes are ~5× faster than cpu), else cpu. */
export async function useFastBackend(): Promise<string> {
  if (TEST_BACKEND === 'torch') return useTestBackend();
  const info = await selectBackend({ force: 'wasm' }).catch(() => selectBackend({ force: 'cpu' }));
  return info.tfBackend;
}

/** A micro unconditional UNet for fast tests: 8×8, two levels, attention at 4×4, dropout. */
export const MICRO_UNCONDITIONAL: UNetConfigInput = {
  imageSize: 8,
  inChannels: 3,
  baseChannels: 8,
  channelMults: [1, 2],
  numResBlocks: 1,
  attentionResolutions: [4],
  numHeads: 2,
  groups: 4,
  dropout: 0.1,
};

/** The same, class-conditional (3 classes) with a fixed seed. */
export const MICRO: UNetConfigInput = { ...MICRO_UNCONDITIONAL, numClasses: 3, seed: 7 };

/** Runs `step` once to warm up, then `repeats` more times, and expects the same live tensor count. */
export function expectTensorCountFlat(step: () => void, repeats = 3): void {
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < repeats; i++) step();
  expect(tf.memory().numTensors).toBe(before);
}
