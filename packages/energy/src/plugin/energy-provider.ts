import type { JobControl, ModelInfo, ModelProvider, SampleParams, ScoreResult } from '@lab/api-plugin';
import { CIFAR10_CLASS_NAMES, Rng, readRows, UnavailableError } from '@lab/core';
import { LANGEVIN_DEFAULTS, langevin } from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { energyFunction, inferEnergyMode, modelEnergies } from '../energy-function.js';
import type { EnergyMode } from '../energy-net/config.js';
import { isScoreEnergyConfig, parseScoreEnergyConfig, type ScoreEnergyConfig } from '../score/config.js';
import { sampleScoreEnergy, servedEnergy } from '../score/sample.js';
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

interface EnergyManifestConfig {
  langevin?: { stepSize?: number; noiseStd?: number; gradClip?: number };
  sampleSteps?: number;
  classNames?: string[];
}

/**
 * Serves an energy network: Langevin sampling from uniform noise (class-conditional for JEM
 * models), energies with their percentile among training images, and class probabilities for
 * JEM models. A model trained by denoising score matching (`objective: 'dsm'`) is sampled by
 * annealed Langevin dynamics and scores images with its energy at the smallest noise level.
 * Built by `energyPlugin`, and by each worker thread.
 */
export function createEnergyProvider(options: EnergyProviderOptions): ModelProvider {
  let model: LayersModel | undefined;
  let mode: EnergyMode = 'energy';
  let config: EnergyManifestConfig = {};
  let trainingEnergies: Float64Array | undefined;
  let shape: [number, number, number] = [32, 32, 3];
  let scoreMatching: ScoreEnergyConfig | undefined;

  const ready = () => {
    if (!model) throw new UnavailableError(`Model "${options.id}" is not loaded`);
    return model;
  };

  return {
    id: options.id,
    kind: 'energy',
    async load(): Promise<ModelInfo> {
      const loaded = await loadEnergyCheckpoint(options.dir);
      model = loaded.model;
      mode = inferEnergyMode(model);
      config = loaded.manifest.config as EnergyManifestConfig;
      const stored = loaded.manifest.config as Record<string, unknown>;
      scoreMatching = isScoreEnergyConfig(stored) ? parseScoreEnergyConfig(stored) : undefined;
      trainingEnergies = loaded.trainingEnergies;
      const input = model.inputs[0]?.shape ?? [];
      shape = [(input[1] as number) ?? 32, (input[2] as number) ?? 32, (input[3] as number) ?? 3];
      const numClasses = mode === 'jem' ? (model.outputs[0]?.shape[1] as number) : undefined;
      const classNames = config.classNames ?? (numClasses === 10 ? [...CIFAR10_CLASS_NAMES] : undefined);
      return {
        capabilities: mode === 'jem' ? ['unconditional', 'class-conditional', 'score', 'classify'] : ['unconditional', 'score'],
        samplers: ['langevin'],
        defaultSampler: 'langevin',
        defaultSteps: scoreMatching ? scoreMatching.sampling.stepsPerLevel * scoreMatching.noise.levels : (config.sampleSteps ?? 256),
        maxSteps: options.maxSteps ?? 1000,
        imageShape: shape,
        ...(numClasses ? { numClasses } : {}),
        ...(classNames ? { classNames } : {}),
        manifest: loaded.manifest as unknown as Record<string, unknown>,
      };
    },
    async sample(params: SampleParams, control: JobControl): Promise<tf.Tensor4D> {
      const m = ready();
      const rng = new Rng(params.seed);
      const progress = (info: { step: number; total: number; x: tf.Tensor }) => {
        const preview = control.wantPreview?.(info.step, info.total) ? (info.x as tf.Tensor4D) : undefined;
        control.onProgress?.({ step: info.step, total: info.total, ...(preview ? { preview } : {}) });
      };
      if (scoreMatching) {
        return (await sampleScoreEnergy(m, scoreMatching, {
          count: params.count,
          rng,
          steps: params.steps,
          ...(control.signal ? { signal: control.signal } : {}),
          onStep: progress,
        })) as tf.Tensor4D;
      }
      const x0 = rng.uniform([params.count, ...shape], -1, 1);
      try {
        const energy = energyFunction(m, { mode, ...(params.classLabel === undefined ? {} : { classLabel: params.classLabel }) });
        const result = await langevin(energy, x0, {
          steps: params.steps,
          stepSize: config.langevin?.stepSize ?? LANGEVIN_DEFAULTS.stepSize,
          noiseStd: config.langevin?.noiseStd ?? LANGEVIN_DEFAULTS.noiseStd,
          gradClip: config.langevin?.gradClip ?? LANGEVIN_DEFAULTS.gradClip,
          clampRange: [-1, 1],
          rng,
          ...(control.signal ? { signal: control.signal } : {}),
          onStep: progress,
        });
        return result.samples as tf.Tensor4D;
      } finally {
        x0.dispose();
      }
    },
    async score(images: tf.Tensor4D): Promise<ScoreResult[]> {
      const m = ready();
      const energies = scoreMatching ? servedEnergy(m, scoreMatching)(images) : tf.tidy(() => modelEnergies(m, images, { mode }).energies);
      const values = Array.from(await energies.data());
      energies.dispose();
      return values.map((energy) => ({ energy, ...(trainingEnergies ? { percentile: percentileOf(trainingEnergies, energy) } : {}) }));
    },
    async classify(images: tf.Tensor4D): Promise<number[][]> {
      const m = ready();
      if (mode !== 'jem') throw new UnavailableError(`Model "${options.id}" is not a JEM model and cannot classify`);
      return readRows(tf.tidy(() => tf.softmax(modelEnergies(m, images, { mode }).logits as tf.Tensor2D)));
    },
    dispose() {
      model?.dispose();
      model = undefined;
    },
  };
}
