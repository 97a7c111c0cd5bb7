/**
 * Jobs, results and progress as they travel through Redis (JSON; bytes as base64). A worker
 * decodes every job with `decodeJob`, which validates it as strictly as the HTTP layer does:
 * it never trusts what it finds in the queue.
 */
import type { Job, JobProgress, JobResult, ModelInfo, RawImage } from '@lab/api-plugin';
import { ModelIdSchema, SAMPLER_NAMES } from '@lab/api-plugin';
import { ValidationError } from '@lab/core';
import { z } from 'zod';

const MAX_SIDE = 1024;

const RawImageWire = z
  .object({
    pixels: z
      .string()
      .max(8_000_000)
      .regex(/^[A-Za-z0-9+/=]*$/),
    width: z.number().int().min(1).max(MAX_SIDE),
    height: z.number().int().min(1).max(MAX_SIDE),
    channels: z.number().int().min(1).max(4),
  })
  .strict();

const SampleParamsWire = z
  .object({
    count: z.number().int().min(1).max(64),
    seed: z.number().int().min(0).max(4294967295),
    sampler: z.enum(SAMPLER_NAMES),
    steps: z.number().int().min(1).max(1000),
    eta: z.number().min(0).max(1).optional(),
    guidance: z.number().min(0).max(20).optional(),
    guidanceRescale: z.number().min(0).max(1).optional(),
    classLabel: z.number().int().min(0).max(999).optional(),
  })
  .strict();

const OutputWire = z.object({ grid: z.boolean(), images: z.boolean() }).strict();
const previewEvery = z.number().int().min(0).max(1000).optional();

const JobWire = z.discriminatedUnion('op', [
  z.object({ op: z.literal('sample'), model: ModelIdSchema, params: SampleParamsWire, output: OutputWire, previewEvery }).strict(),
  z
    .object({
      op: z.literal('inpaint'),
      model: ModelIdSchema,
      params: SampleParamsWire,
      image: RawImageWire,
      mask: RawImageWire,
      output: OutputWire,
      previewEvery,
    })
    .strict(),
  z.object({ op: z.literal('score'), model: ModelIdSchema, images: z.array(RawImageWire).min(1).max(16) }).strict(),
  z.object({ op: z.literal('classify'), model: ModelIdSchema, images: z.array(RawImageWire).min(1).max(16) }).strict(),
]);

export type WireJob = z.input<typeof JobWire>;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

function imageToWire(image: RawImage): z.input<typeof RawImageWire> {
  return { pixels: b64(image.pixels), width: image.width, height: image.height, channels: image.channels };
}

function imageFromWire(image: z.output<typeof RawImageWire>, field: string): RawImage {
  const pixels = bytes(image.pixels);
  if (pixels.length !== image.width * image.height * image.channels) {
    throw new ValidationError(`${field}: ${pixels.length} bytes for ${image.width}x${image.height}x${image.channels} pixels`);
  }
  return { pixels, width: image.width, height: image.height, channels: image.channels };
}

export function encodeJob(job: Job): WireJob {
  switch (job.op) {
    case 'sample':
      return job;
    case 'inpaint':
      return { ...job, image: imageToWire(job.image), mask: imageToWire(job.mask) };
    default:
      return { ...job, images: job.images.map(imageToWire) };
  }
}

/**
 * Validates a job taken from the queue: its shape, that it is for `model` (the queue it came
 * from), and its parameters against what the loaded model supports (sampler, steps, classes,
 * image size). Throws ValidationError.
 */
export function decodeJob(data: unknown, model: string, info: ModelInfo): Job {
  const parsed = JobWire.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(`Invalid job from the queue: ${issue?.path.join('.') || 'job'}: ${issue?.message}`);
  }
  const job = parsed.data;
  if (job.model !== model) throw new ValidationError(`A job for "${job.model}" arrived on the queue of "${model}"`);
  const [h, w] = info.imageShape;
  const sized = (image: RawImage, field: string) => {
    if (image.width !== w || image.height !== h) throw new ValidationError(`${field} must be ${w}x${h} pixels`);
    return image;
  };
  if (job.op === 'score' || job.op === 'classify') {
    return { op: job.op, model, images: job.images.map((image, i) => sized(imageFromWire(image, `images.${i}`), `images.${i}`)) };
  }
  const p = job.params;
  if (!info.samplers.includes(p.sampler)) throw new ValidationError(`Model "${model}" does not support sampler "${p.sampler}"`);
  if (p.steps > info.maxSteps) throw new ValidationError(`steps must be at most ${info.maxSteps} for model "${model}"`);
  if (p.classLabel !== undefined && p.classLabel >= (info.numClasses ?? 0)) {
    throw new ValidationError(`classLabel must be below ${info.numClasses ?? 0} for model "${model}"`);
  }
  const params = { ...p } as Extract<Job, { op: 'sample' }>['params'];
  const common = { model, params, output: job.output, ...(job.previewEvery === undefined ? {} : { previewEvery: job.previewEvery }) };
  if (job.op === 'sample') return { op: 'sample', ...common };
  const image = sized(imageFromWire(job.image, 'image'), 'image');
  const mask = imageFromWire(job.mask, 'mask');
  if (mask.width !== image.width || mask.height !== image.height || mask.channels !== 1) {
    throw new ValidationError('mask must be one channel of the image size');
  }
  return { op: 'inpaint', ...common, image, mask };
}

type WireResult =
  | { op: 'sample' | 'inpaint'; seed: number; count: number; grid?: string; images?: string[] }
  | Extract<JobResult, { op: 'score' | 'classify' }>;

export function encodeResult(result: JobResult): string {
  if (result.op !== 'sample' && result.op !== 'inpaint') return JSON.stringify(result);
  const wire: WireResult = {
    op: result.op,
    seed: result.seed,
    count: result.count,
    ...(result.grid ? { grid: b64(result.grid) } : {}),
    ...(result.images ? { images: result.images.map(b64) } : {}),
  };
  return JSON.stringify(wire);
}

export function decodeResult(text: string): JobResult {
  const wire = JSON.parse(text) as WireResult;
  if (wire.op === 'score' || wire.op === 'classify') return wire;
  return {
    op: wire.op,
    seed: wire.seed,
    count: wire.count,
    ...(wire.grid === undefined ? {} : { grid: bytes(wire.grid) }),
    ...(wire.images ? { images: wire.images.map(bytes) } : {}),
  };
}

export function encodeProgress(progress: JobProgress): string {
  return JSON.stringify({ step: progress.step, total: progress.total, ...(progress.preview ? { preview: b64(progress.preview) } : {}) });
}

export function decodeProgress(text: string): JobProgress {
  const p = JSON.parse(text) as { step: number; total: number; preview?: string };
  return { step: p.step, total: p.total, ...(p.preview ? { preview: bytes(p.preview) } : {}) };
}
