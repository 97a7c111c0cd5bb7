import { encodePng, gridPng, type PixelChannels, tensorToUint8, throwIfAborted, tileGrid, uint8ToTensor, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type { JobControl, ProgressInfo, SampleParams, ScoreResult } from './provider.js';
import type { ModelRegistry } from './registry.js';

/** Raw row-major uint8 pixels, `channels` per pixel. Structured-cloneable, so it crosses worker threads. */
export interface RawImage {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/**
 * One unit of work for an executor. Plain data only (structured-cloneable), so the same job
 * runs in-process or in a worker thread.
 */
export type Job =
  | {
      readonly op: 'sample';
      readonly model: string;
      readonly params: SampleParams;
      readonly output: JobOutput;
      readonly previewEvery?: number;
    }
  | {
      readonly op: 'inpaint';
      readonly model: string;
      readonly params: SampleParams;
      readonly image: RawImage;
      /** One channel: 255 where pixels are generated. */
      readonly mask: RawImage;
      readonly output: JobOutput;
      readonly previewEvery?: number;
    }
  | { readonly op: 'score'; readonly model: string; readonly images: readonly RawImage[] }
  | { readonly op: 'classify'; readonly model: string; readonly images: readonly RawImage[] };

/** Which encodings of generated images to return. */
export interface JobOutput {
  readonly grid: boolean;
  readonly images: boolean;
}

export type JobResult =
  | {
      readonly op: 'sample' | 'inpaint';
      readonly seed: number;
      readonly count: number;
      readonly grid?: Uint8Array;
      readonly images?: Uint8Array[];
    }
  | { readonly op: 'score'; readonly scores: ScoreResult[] }
  | { readonly op: 'classify'; readonly probabilities: number[][] };

/** Progress of a running job; `preview` is a PNG grid of the current estimate. */
export interface JobProgress {
  readonly step: number;
  readonly total: number;
  readonly preview?: Uint8Array;
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: JobProgress) => void;
}

/**
 * Runs a job against the registry's providers and encodes the result as PNG bytes.
 * Leaves no tensors behind, also when it fails or is cancelled.
 */
export async function runJob(registry: ModelRegistry, job: Job, options: RunOptions = {}): Promise<JobResult> {
  throwIfAborted(options.signal);
  switch (job.op) {
    case 'sample':
    case 'inpaint':
      return generate(registry, job, options);
    case 'score': {
      const { provider } = registry.require(job.model, 'score');
      const batch = stackImages(job.images);
      try {
        return { op: 'score', scores: await (provider.score as NonNullable<typeof provider.score>)(batch, control(options)) };
      } finally {
        batch.dispose();
      }
    }
    case 'classify': {
      const { provider } = registry.require(job.model, 'classify');
      const batch = stackImages(job.images);
      try {
        return {
          op: 'classify',
          probabilities: await (provider.classify as NonNullable<typeof provider.classify>)(batch, control(options)),
        };
      } finally {
        batch.dispose();
      }
    }
    default:
      throw new ValidationError(`Unknown job op "${(job as { op: string }).op}"`);
  }
}

async function generate(registry: ModelRegistry, job: Extract<Job, { op: 'sample' | 'inpaint' }>, options: RunOptions): Promise<JobResult> {
  const capability = job.op === 'inpaint' ? 'inpaint' : job.params.classLabel === undefined ? 'unconditional' : 'class-conditional';
  const { provider } = registry.require(job.model, capability);
  const pending: Promise<void>[] = [];
  const every = job.previewEvery ?? 0;
  const ctl: JobControl = {
    ...control(options),
    wantPreview: (step, total) => every > 0 && options.onProgress !== undefined && (step % every === 0 || step === total),
    onProgress: (info: ProgressInfo) => {
      if (!options.onProgress) return;
      if (!info.preview) {
        options.onProgress({ step: info.step, total: info.total });
        return;
      }
      // The provider may dispose the preview after this call: copy it, encode asynchronously.
      const copy = tf.clone(info.preview);
      const report = options.onProgress;
      pending.push(
        gridPng(copy as tf.Tensor4D)
          .then((png) => report({ step: info.step, total: info.total, preview: png }))
          .finally(() => copy.dispose()),
      );
    },
  };
  let images: tf.Tensor4D;
  if (job.op === 'inpaint') {
    const image = rawToTensor(job.image);
    const mask = tf.tidy(() => tf.cast(tf.greater(rawToTensor(job.mask), 0), 'float32')) as tf.Tensor4D;
    try {
      images = await (provider.inpaint as NonNullable<typeof provider.inpaint>)({ ...job.params, image, mask }, ctl);
    } finally {
      tf.dispose([image, mask]);
    }
  } else {
    images = await (provider.sample as NonNullable<typeof provider.sample>)(job.params, ctl);
  }
  try {
    await Promise.all(pending);
    const [n, h, w, c] = images.shape;
    const pixels = await tensorToUint8(images);
    return {
      op: job.op,
      seed: job.params.seed,
      count: n,
      ...(job.output.grid ? { grid: encodeRaw({ ...tileGrid(pixels, [n, h, w, c]), channels: c }) } : {}),
      ...(job.output.images ? { images: splitImages(pixels, n, h, w, c).map(encodeRaw) } : {}),
    };
  } finally {
    images.dispose();
  }
}

function encodeRaw(image: RawImage): Uint8Array {
  return encodePng(image.pixels, image.width, image.height, image.channels as PixelChannels);
}

/** A raw image → a float32 [1, H, W, C] tensor in [-1, 1]. */
function rawToTensor(image: RawImage): tf.Tensor4D {
  return tf.tidy(() => tf.expandDims(uint8ToTensor(image.pixels, image.height, image.width, image.channels), 0));
}

/** Each image of an [N, H, W, C] uint8 buffer as its own RawImage. */
function splitImages(pixels: Uint8Array, n: number, height: number, width: number, channels: number): RawImage[] {
  const size = height * width * channels;
  return Array.from({ length: n }, (_, k) => ({ pixels: pixels.slice(k * size, (k + 1) * size), width, height, channels }));
}

function stackImages(images: readonly RawImage[]): tf.Tensor4D {
  if (images.length === 0) throw new ValidationError('No images given');
  const tensors = images.map(rawToTensor);
  try {
    return tf.concat(tensors, 0);
  } finally {
    tf.dispose(tensors);
  }
}

function control(options: RunOptions): JobControl {
  return options.signal ? { signal: options.signal } : {};
}
