import type { JobControl, ModelInfo, ModelProvider, SampleParams, ScoreResult } from '@lab/api-plugin';
import { CheckpointError, CIFAR10_CLASS_NAMES, Rng, readRows, UnavailableError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { sampleContrastiveEnergy } from '../contrastive/sample.js';
import { inferEnergyMode, modelEnergies } from '../energy-function.js';
import type { EnergyMode } from '../energy-net/config.js';
import { type EnergyModelConfig, parseEnergyConfig } from '../model-config.js';
import { defaultSamplingSteps, SCORE_ENERGY_SAMPLERS, type ScoreEnergySampler } from '../score/config.js';
import { servedEnergy } from '../score/model.js';
import { sampleScoreEnergy } from '../score/sample.js';
// Registers the energy nets' custom layers so checkpoints can be rebuilt.
import '../energy-net/create.js';
import { loadEnergyCheckpoint, percentileOf } from './checkpoint.js';

export interface EnergyProviderOptions {
  readonly id: string;
  /** Checkpoint folder (`genlab.json` + `models/<name>/`). */
  readonly dir: string;
  /** Upper bound on Langevin steps per request (default 1000). */
  readonly maxSteps?: number;
}

interface Loaded {
  readonly model: LayersModel;
  readonly mode: EnergyMode;
  readonly config: EnergyModelConfig;
  readonly trainingEnergies: Float64Array | undefined;
}

/** The manifest's config, parsed; an invalid or unknown one is a CheckpointError naming the field. */
function configOf(dir: string, config: unknown): EnergyModelConfig {
  try {
    return parseEnergyConfig(config);
  } catch (error) {
    throw new CheckpointError(dir, `Invalid energy config in the manifest: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Serves an energy network: Langevin sampling from uniform noise (class-conditional for JEM
 * models), energies with their percentile among training images, and class probabilities for
 * JEM models. A model trained by denoising score matching (`objective: 'dsm'`) is sampled by
 * annealed Langevin dynamics and scores images with its energy at the smallest noise level.
 * Built by `energyPlugin`, and by each worker thread.
 */
export function createEnergyProvider(options: EnergyProviderOptions): ModelProvider {
  let loaded: Loaded | undefined;

  const ready = (): Loaded => {
    if (!loaded) throw new UnavailableError(`Model "${options.id}" is not loaded`);
    return loaded;
  };

  return {
    id: options.id,
    kind: 'energy',
    async load(): Promise<ModelInfo> {
      const checkpoint = await loadEnergyCheckpoint(options.dir);
      const { model, manifest } = checkpoint;
      let config: EnergyModelConfig;
      try {
        config = configOf(options.dir, manifest.config);
        const input = model.inputs[0]?.shape.slice(1) ?? [];
        if (input.join() !== config.net.inputShape.join())
          throw new CheckpointError(
            options.dir,
            `The model takes [${input}] inputs, but config.net.inputShape is [${config.net.inputShape}]`,
          );
      } catch (error) {
        model.dispose();
        throw error;
      }
      const mode = inferEnergyMode(model);
      loaded = { model, mode, config, trainingEnergies: checkpoint.trainingEnergies };
      const shape = [...config.net.inputShape] as [number, number, number];
      const numClasses = mode === 'jem' ? (model.outputs[0]?.shape[1] as number) : undefined;
      const stored = 'classNames' in config ? config.classNames : undefined;
      const classNames = stored ?? (numClasses === 10 ? [...CIFAR10_CLASS_NAMES] : undefined);
      return {
        capabilities: mode === 'jem' ? ['unconditional', 'class-conditional', 'score', 'classify'] : ['unconditional', 'score'],
        ...('objective' in config
          ? { samplers: [...SCORE_ENERGY_SAMPLERS], defaultSampler: config.sampling.sampler, defaultSteps: defaultSamplingSteps(config) }
          : { samplers: ['langevin' as const], defaultSampler: 'langevin' as const, defaultSteps: config.sampleSteps }),
        maxSteps: options.maxSteps ?? 1000,
        imageShape: shape,
        ...(numClasses ? { numClasses } : {}),
        ...(classNames ? { classNames: [...classNames] } : {}),
        manifest: manifest as unknown as Record<string, unknown>,
      };
    },
    async sample(params: SampleParams, control: JobControl): Promise<tf.Tensor4D> {
      const { model, config } = ready();
      const onStep = (info: { step: number; total: number; x: tf.Tensor }) => {
        const preview = control.wantPreview?.(info.step, info.total) ? (info.x as tf.Tensor4D) : undefined;
        control.onProgress?.({ step: info.step, total: info.total, ...(preview ? { preview } : {}) });
      };
      const common = {
        count: params.count,
        rng: new Rng(params.seed),
        steps: params.steps,
        ...(params.guidance === undefined ? {} : { guidance: params.guidance }),
        ...(control.signal ? { signal: control.signal } : {}),
        onStep,
      };
      const samples =
        'objective' in config
          ? await sampleScoreEnergy(model, config, { ...common, sampler: params.sampler as ScoreEnergySampler })
          : await sampleContrastiveEnergy(model, config, {
              ...common,
              ...(params.classLabel === undefined ? {} : { classLabel: params.classLabel }),
            });
      return samples as tf.Tensor4D;
    },
    async score(images: tf.Tensor4D): Promise<ScoreResult[]> {
      const { model, mode, config, trainingEnergies } = ready();
      const energies =
        'objective' in config ? servedEnergy(model, config)(images) : tf.tidy(() => modelEnergies(model, images, { mode }).energies);
      const values = Array.from(await energies.data());
      energies.dispose();
      return values.map((energy) => ({ energy, ...(trainingEnergies ? { percentile: percentileOf(trainingEnergies, energy) } : {}) }));
    },
    async classify(images: tf.Tensor4D): Promise<number[][]> {
      const { model, mode } = ready();
      if (mode !== 'jem') throw new UnavailableError(`Model "${options.id}" is not a JEM model and cannot classify`);
      return readRows(tf.tidy(() => tf.softmax(modelEnergies(model, images, { mode }).logits as tf.Tensor2D)));
    },
    dispose() {
      loaded?.model.dispose();
      loaded = undefined;
    },
  };
}
