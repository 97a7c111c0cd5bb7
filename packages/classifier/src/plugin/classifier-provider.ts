import type { ModelInfo, ModelProvider } from '@lab/api-plugin';
import { CIFAR10_CLASS_NAMES, loadModelCheckpoint, readRows, UnavailableError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
// Saved classifiers hold GenlabDropout layers: register the class for loading through this entry alone.
import '../dropout-layer.js';
import { flipAveraged, usesFlipAverage } from '../flip-average.js';

export interface ClassifierProviderOptions {
  readonly id: string;
  readonly dir: string;
}

/** Serves the CIFAR-10 CNN classifier (`createClassifier`) for `POST /v1/classify`. */
export function createClassifierProvider(options: ClassifierProviderOptions): ModelProvider {
  let model: LayersModel | undefined;
  let logits = false;
  let flipAverage = false;
  return {
    id: options.id,
    kind: 'classifier',
    async load(): Promise<ModelInfo> {
      const loaded = await loadModelCheckpoint(options.dir, 'classifier');
      const config = loaded.manifest.config as { net?: { output?: string }; classNames?: string[] };
      try {
        flipAverage = usesFlipAverage(config);
      } catch (error) {
        loaded.model.dispose();
        throw error;
      }
      model = loaded.model;
      // The last layer's name says whether it ends in softmax (`probabilities`) or not (`logits`).
      logits = config.net?.output === 'logits' || model.layers.at(-1)?.name === 'logits';
      const input = model.inputs[0]?.shape ?? [];
      const numClasses = model.outputs[0]?.shape[1] as number;
      const classNames = config.classNames ?? (numClasses === 10 ? [...CIFAR10_CLASS_NAMES] : undefined);
      return {
        capabilities: ['classify'],
        samplers: [],
        defaultSteps: 0,
        maxSteps: 0,
        imageShape: [(input[1] as number) ?? 32, (input[2] as number) ?? 32, (input[3] as number) ?? 3],
        numClasses,
        ...(classNames ? { classNames } : {}),
        manifest: loaded.manifest as unknown as Record<string, unknown>,
      };
    },
    async classify(images: tf.Tensor4D): Promise<number[][]> {
      if (!model) throw new UnavailableError(`Model "${options.id}" is not loaded`);
      const m = model;
      return readRows(
        tf.tidy(() => {
          const probabilities = (x: tf.Tensor4D) => {
            const out = m.predict(x) as tf.Tensor2D;
            return logits ? tf.softmax(out) : out;
          };
          // A bundle exported with --flip-average answers the mean over the image and its mirror image.
          return flipAverage ? flipAveraged(images, (x) => [probabilities(x)] as [tf.Tensor2D])[0] : probabilities(images);
        }),
      );
    },
    dispose() {
      model?.dispose();
      model = undefined;
    },
  };
}
