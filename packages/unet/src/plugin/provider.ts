import type { InpaintParams, JobControl, ModelInfo, ModelProvider, SampleParams } from '@lab/api-plugin';
import { CheckpointError, loadModelCheckpoint, Rng, UnavailableError } from '@lab/core';
import type { SamplerSpec } from '@lab/samplers';
import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { type DiffusionModelConfig, parseDiffusionConfig } from '../diffusion-config.js';
import { DiffusionPipeline } from '../pipeline/diffusion-pipeline.js';
// Registers the UNet's custom layers so the checkpoint's model can be rebuilt.
import '../unet.js';

export interface DiffusionProviderOptions {
  /** Model id in the API. */
  readonly id: string;
  /** Checkpoint folder (`genlab.json` + `models/<name>/`), as written by the trainer's export. */
  readonly dir: string;
  /** Upper bound on steps a request may ask for (default: the schedule's T). */
  readonly maxSteps?: number;
}

/** The request's sampler as data. */
function samplerSpec(params: SampleParams): SamplerSpec {
  if (params.sampler === 'ddpm') return { kind: 'ddpm' };
  if (params.sampler === 'dpm-solver++') return { kind: 'dpm-solver++' };
  return { kind: 'ddim', eta: params.eta ?? 0 };
}

/** The manifest's config, parsed; an invalid or unknown one is a CheckpointError naming the field. */
function configOf(dir: string, config: unknown): DiffusionModelConfig {
  try {
    return parseDiffusionConfig(config);
  } catch (error) {
    throw new CheckpointError(dir, `Invalid diffusion config in the manifest: ${(error as Error).message}`, { cause: error });
  }
}

/** Checks that the stored weights are the UNet the config describes (image shape, labels input). */
function checkModel(dir: string, model: LayersModel, config: DiffusionModelConfig): void {
  const [, h, w, c] = model.inputs[0]?.shape ?? [];
  const { imageSize, inChannels, numClasses } = config.unet;
  if (h !== imageSize || w !== imageSize || c !== inChannels)
    throw new CheckpointError(
      dir,
      `The model takes [${h}, ${w}, ${c}] images, but config.unet says ${imageSize}×${imageSize}×${inChannels}`,
    );
  const conditional = model.inputs.length > 2;
  if (conditional !== (numClasses !== undefined))
    throw new CheckpointError(
      dir,
      conditional
        ? 'The model takes class labels, but config.unet.numClasses is missing'
        : `config.unet.numClasses is ${numClasses}, but the model takes no labels`,
    );
}

/**
 * Serves a UNet ε-model from a checkpoint through a {@link DiffusionPipeline}: DDPM, DDIM or
 * DPM-Solver++ sampling, classifier-free guidance for class-conditional models, inpainting.
 * Built by `diffusionPlugin`, and by each worker thread.
 */
export function createDiffusionProvider(options: DiffusionProviderOptions): ModelProvider {
  let pipeline: DiffusionPipeline | undefined;

  const run = async (params: SampleParams, control: JobControl, inpaint?: { image: tf.Tensor4D; mask: tf.Tensor4D }) => {
    if (!pipeline) throw new UnavailableError(`Model "${options.id}" is not loaded`);
    return pipeline.sample({
      count: params.count,
      rng: new Rng(params.seed),
      sampler: samplerSpec(params),
      steps: params.steps,
      ...(params.classLabel === undefined ? {} : { labels: params.classLabel }),
      ...(params.guidance === undefined ? {} : { guidance: params.guidance }),
      ...(params.guidanceRescale === undefined ? {} : { guidanceRescale: params.guidanceRescale }),
      // The API's mask and the library's mean the same: 1 = generate.
      ...(inpaint ? { inpaint } : {}),
      ...(control.signal ? { signal: control.signal } : {}),
      onStep: (info) => {
        const preview = control.wantPreview?.(info.step, info.total) ? info.predictedX0 : undefined;
        control.onProgress?.({ step: info.step, total: info.total, ...(preview ? { preview } : {}) });
      },
    });
  };

  return {
    id: options.id,
    kind: 'diffusion',
    async load(): Promise<ModelInfo> {
      // Keeps the `model` entry; the optimizer's tensors, if any, are disposed unread.
      const { model: loaded, manifest } = await loadModelCheckpoint(options.dir, 'diffusion', { readTensors: false });
      let config: DiffusionModelConfig;
      try {
        config = configOf(options.dir, manifest.config);
        checkModel(options.dir, loaded, config);
      } catch (error) {
        loaded.dispose();
        throw error;
      }
      pipeline = new DiffusionPipeline(loaded, config);
      const { numClasses } = pipeline;
      const { classNames } = config;
      const T = pipeline.schedule.timesteps;
      return {
        capabilities: numClasses ? ['unconditional', 'class-conditional', 'inpaint'] : ['unconditional', 'inpaint'],
        samplers: ['ddim', 'ddpm', 'dpm-solver++'],
        // The manifest's: what a request without `sampler` and `steps` gets.
        defaultSampler: pipeline.defaultSampler.kind,
        defaultSteps: pipeline.defaultSteps,
        maxSteps: Math.min(options.maxSteps ?? T, T),
        imageShape: pipeline.imageShape,
        ...(numClasses
          ? { numClasses, defaultGuidance: pipeline.defaultGuidance, defaultGuidanceRescale: pipeline.defaultGuidanceRescale }
          : {}),
        ...(classNames ? { classNames: [...classNames] } : {}),
        manifest: manifest as unknown as Record<string, unknown>,
      };
    },
    sample: (params, control) => run(params, control),
    inpaint: (params: InpaintParams, control) => run(params, control, { image: params.image, mask: params.mask }),
    dispose() {
      pipeline?.model.dispose();
      pipeline = undefined;
    },
  };
}
