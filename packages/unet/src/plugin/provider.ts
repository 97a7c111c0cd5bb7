import type { InpaintParams, JobControl, ModelInfo, ModelProvider, SampleParams } from '@lab/api-plugin';
import { CheckpointError, CIFAR10_CLASS_NAMES, loadCheckpoint, Rng, UnavailableError } from '@lab/core';
import {
  createSchedule,
  DDIMSampler,
  DDPMSampler,
  type Denoiser,
  DPMSolverMultistepSampler,
  type NoiseSchedule,
  type Sampler,
  type ScheduleKind,
  sampleDiffusion,
} from '@lab/samplers';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
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

/** The fields of a diffusion manifest's `config` this provider reads (the trainer's DiffusionTask config). */
interface DiffusionManifestConfig {
  unet?: { imageSize?: number; inChannels?: number; numClasses?: number };
  schedule?: { kind?: ScheduleKind; timesteps?: number };
  sampleSteps?: number;
  classNames?: string[];
}

/**
 * Serves a UNet ε-model from a checkpoint: DDPM or DDIM sampling, classifier-free guidance
 * for class-conditional models, inpainting. Built by `diffusionPlugin`, and by each worker thread.
 */
export function createDiffusionProvider(options: DiffusionProviderOptions): ModelProvider {
  let model: LayersModel | undefined;
  let schedule: NoiseSchedule | undefined;
  let numClasses: number | undefined;
  let shape: [number, number, number] = [32, 32, 3];

  const ready = () => {
    if (!model || !schedule) throw new UnavailableError(`Model "${options.id}" is not loaded`);
    return { model, schedule };
  };

  const denoiserOf =
    (m: LayersModel): Denoiser =>
    (x, t, y) =>
      m.apply(y ? [x, tf.cast(t, 'float32'), y] : [x, tf.cast(t, 'float32')], { training: false }) as tf.Tensor4D;

  const samplerFor = (params: SampleParams, s: NoiseSchedule): Sampler => {
    if (params.sampler === 'ddpm') return new DDPMSampler(s);
    if (params.sampler === 'dpm-solver++') return new DPMSolverMultistepSampler(s);
    return new DDIMSampler(s, { eta: params.eta ?? 0 });
  };

  const run = async (params: SampleParams, control: JobControl, inpaint?: { image: tf.Tensor4D; mask: tf.Tensor4D }) => {
    const { model: m, schedule: s } = ready();
    const labels =
      numClasses === undefined ? undefined : new Array<number>(params.count).fill(params.classLabel ?? numClasses /* the null class */);
    const known = inpaint ? (tf.tidy(() => tf.sub(1, inpaint.mask)) as tf.Tensor4D) : undefined;
    try {
      return await sampleDiffusion({
        denoiser: denoiserOf(m),
        sampler: samplerFor(params, s),
        shape: [params.count, ...shape],
        rng: new Rng(params.seed),
        steps: params.steps,
        ...(labels ? { classLabels: labels, nullClass: numClasses } : {}),
        ...(labels && params.classLabel !== undefined && params.guidance !== undefined ? { guidanceScale: params.guidance } : {}),
        ...(inpaint && known ? { inpaint: { image: inpaint.image, mask: known } } : {}),
        ...(control.signal ? { signal: control.signal } : {}),
        onStep: (info) => {
          const preview = control.wantPreview?.(info.step, info.total) ? info.predictedX0 : undefined;
          control.onProgress?.({ step: info.step, total: info.total, ...(preview ? { preview } : {}) });
        },
      });
    } finally {
      known?.dispose();
    }
  };

  return {
    id: options.id,
    kind: 'diffusion',
    async load(): Promise<ModelInfo> {
      const checkpoint = await loadCheckpoint(options.dir);
      for (const t of Object.values(checkpoint.tensors)) t.dispose();
      const { manifest } = checkpoint;
      const loaded = checkpoint.models.model ?? Object.values(checkpoint.models)[0];
      if (manifest.kind !== 'diffusion' || !loaded) {
        for (const m of Object.values(checkpoint.models)) m.dispose();
        throw new CheckpointError(
          options.dir,
          manifest.kind !== 'diffusion'
            ? `Expected a diffusion checkpoint, found kind "${manifest.kind}"`
            : 'The checkpoint holds no model',
        );
      }
      const config = manifest.config as DiffusionManifestConfig;
      const input = loaded.inputs[0]?.shape ?? [];
      shape = [
        (input[1] as number) ?? config.unet?.imageSize ?? 32,
        (input[2] as number) ?? config.unet?.imageSize ?? 32,
        (input[3] as number) ?? config.unet?.inChannels ?? 3,
      ];
      numClasses = loaded.inputs.length > 2 ? (config.unet?.numClasses ?? undefined) : undefined;
      schedule = createSchedule({ kind: config.schedule?.kind ?? 'linear', timesteps: config.schedule?.timesteps ?? 1000 });
      model = loaded;
      const classNames = config.classNames ?? (numClasses === 10 ? [...CIFAR10_CLASS_NAMES] : undefined);
      return {
        capabilities: numClasses ? ['unconditional', 'class-conditional', 'inpaint'] : ['unconditional', 'inpaint'],
        samplers: ['ddim', 'ddpm', 'dpm-solver++'],
        defaultSampler: 'ddim',
        defaultSteps: Math.min(config.sampleSteps ?? 50, schedule.timesteps),
        maxSteps: Math.min(options.maxSteps ?? schedule.timesteps, schedule.timesteps),
        imageShape: shape,
        ...(numClasses ? { numClasses } : {}),
        ...(classNames ? { classNames } : {}),
        manifest: manifest as unknown as Record<string, unknown>,
      };
    },
    sample: (params, control) => run(params, control),
    inpaint: (params: InpaintParams, control) => run(params, control, { image: params.image, mask: params.mask }),
    dispose() {
      model?.dispose();
      model = undefined;
    },
  };
}
