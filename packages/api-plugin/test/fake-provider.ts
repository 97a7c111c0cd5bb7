import { Rng, throwIfAborted } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Capability, JobControl, ModelInfo, ModelKind, ModelProvider, SampleParams, ScoreResult } from '../src/index.js';

/**
 * A test double with the provider contract: seeded noise images, one progress report per step,
 * energy = mean squared pixel, class probabilities = softmax of channel means.
 */
export function fakeProvider(options: {
  id: string;
  kind?: ModelKind;
  capabilities?: Capability[];
  fail?: string;
  stepDelayMs?: number;
  size?: number;
}): ModelProvider & {
  disposed: boolean;
} {
  const size = options.size ?? 8;
  const kind = options.kind ?? 'diffusion';
  const trainingEnergies = [0.1, 0.2, 0.3, 0.4];
  const provider = {
    id: options.id,
    kind,
    disposed: false,
    async load(): Promise<ModelInfo> {
      if (options.fail) throw new Error(options.fail);
      return {
        capabilities: options.capabilities ?? ['unconditional', 'class-conditional', 'inpaint', 'score', 'classify'],
        samplers: kind === 'energy' ? ['langevin'] : ['ddpm', 'ddim'],
        defaultSteps: 3,
        maxSteps: 50,
        imageShape: [size, size, 3],
        numClasses: 3,
        classNames: ['red', 'green', 'blue'],
        manifest: { format: 1, kind, step: 7 },
      };
    },
    async sample(params: SampleParams, control: JobControl): Promise<tf.Tensor4D> {
      const rng = new Rng(params.seed);
      let x = rng.uniform([params.count, size, size, 3], -1, 1) as tf.Tensor4D;
      for (let step = 1; step <= params.steps; step++) {
        throwIfAborted(control.signal);
        if (options.stepDelayMs) await new Promise((r) => setTimeout(r, options.stepDelayMs));
        const next = tf.tidy(() => tf.mul(x, 0.9) as tf.Tensor4D);
        x.dispose();
        x = next;
        control.onProgress?.({ step, total: params.steps, ...(control.wantPreview?.(step, params.steps) ? { preview: x } : {}) });
      }
      throwIfAborted(control.signal);
      return x;
    },
    async inpaint(params: SampleParams & { image: tf.Tensor4D; mask: tf.Tensor4D }, control: JobControl): Promise<tf.Tensor4D> {
      const generated = await provider.sample({ ...params, count: 1 }, control);
      const out = tf.tidy(() => tf.add(tf.mul(generated, params.mask), tf.mul(params.image, tf.sub(1, params.mask))) as tf.Tensor4D);
      generated.dispose();
      return out;
    },
    async score(images: tf.Tensor4D): Promise<ScoreResult[]> {
      const e = tf.tidy(() => tf.mean(tf.square(images), [1, 2, 3]));
      const energies = Array.from(await e.data());
      e.dispose();
      return energies.map((energy) => ({
        energy,
        percentile: (100 * trainingEnergies.filter((t) => t < energy).length) / trainingEnergies.length,
      }));
    },
    async classify(images: tf.Tensor4D): Promise<number[][]> {
      const p = tf.tidy(() => tf.softmax(tf.mean(images, [1, 2])));
      const flat = Array.from(await p.data());
      p.dispose();
      return Array.from({ length: images.shape[0] }, (_, i) => flat.slice(i * 3, i * 3 + 3));
    },
    dispose() {
      provider.disposed = true;
    },
  };
  return provider;
}
