import { randomInt } from 'node:crypto';
import { CancelledError, decodeImage, UnavailableError, ValidationError } from '@lab/core';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import type { z } from 'zod';
import type { JobExecutor } from '../executor.js';
import type { Job, JobResult, RawImage } from '../job.js';
import type { Capability, ModelInfo, ModelKind, SampleParams } from '../provider.js';
import type { ModelRegistry } from '../registry.js';
import {
  ClassifyRequestSchema,
  GenerateAliasSchema,
  InpaintRequestSchema,
  ModelIdSchema,
  SampleRequestSchema,
  ScoreRequestSchema,
} from '../schemas.js';
import { bearerAuth } from './middleware.js';
import { JobTimeoutError, problemFromError, zodToValidationError } from './problem.js';

/** Reported for every finished job (metrics). */
export interface JobEvent {
  readonly model: string;
  readonly op: Job['op'];
  readonly outcome: 'ok' | 'error' | 'cancelled' | 'overloaded';
  readonly durationMs: number;
}

export interface ModelRoutesOptions {
  readonly registry: ModelRegistry;
  readonly executor: JobExecutor;
  /** Per-request limit on job time (queue + run), ms. Default 120 000. */
  readonly timeoutMs?: number;
  /** When set, POST routes need `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Default preview interval for streamed jobs (steps). Default 10. */
  readonly previewEvery?: number;
  readonly onJob?: (event: JobEvent) => void;
}

/**
 * The model routes generated from capabilities:
 * `GET /v1/models[/:id]`, `POST /v1/models/:id/{samples,inpaint,score}`, `POST /v1/classify`,
 * and the aliases `POST /generate/{diffusion,ebm}`. Sampling routes stream server-sent
 * events when called with `?stream=1` or `Accept: text/event-stream`.
 */
export function createModelRoutes(options: ModelRoutesOptions): Router {
  const { registry, executor } = options;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const auth = bearerAuth(options.token);
  const router = Router();

  router.get('/v1/models', (_req, res) => {
    res.json({ models: registry.list() });
  });

  router.get('/v1/models/:id', (req, res) => {
    res.json(registry.describe(modelId(req)));
  });

  router.post('/v1/models/:id/samples', auth, async (req, res) => {
    const id = modelId(req);
    const body = parse(SampleRequestSchema, req.body, 'body');
    const capability: Capability = body.classLabel === undefined ? 'unconditional' : 'class-conditional';
    const { info } = registry.require(id, capability);
    const params = sampleParams(id, info, { ...body, count: body.count });
    const output = { grid: true, images: body.format === 'json' };
    const previewEvery = body.previewEvery ?? options.previewEvery ?? 10;
    await respondWithGeneration(req, res, { op: 'sample', model: id, params, output, previewEvery }, body.format);
  });

  router.post('/v1/models/:id/inpaint', auth, async (req, res) => {
    const id = modelId(req);
    const body = parse(InpaintRequestSchema, req.body, 'body');
    const { info } = registry.require(id, 'inpaint');
    const params = sampleParams(id, info, body);
    const image = imageFor(info, body.image, 'image');
    const maskRgb = imageFor(info, body.mask, 'mask');
    const mask = toMask(maskRgb);
    const output = { grid: true, images: body.format === 'json' };
    const previewEvery = body.previewEvery ?? options.previewEvery ?? 10;
    await respondWithGeneration(req, res, { op: 'inpaint', model: id, params, image, mask, output, previewEvery }, body.format);
  });

  router.post('/v1/models/:id/score', auth, async (req, res) => {
    const id = modelId(req);
    const body = parse(ScoreRequestSchema, req.body, 'body');
    const { info } = registry.require(id, 'score');
    const result = await runTracked(res, { op: 'score', model: id, images: [imageFor(info, body.image, 'image')] });
    if (result.op !== 'score') throw new Error('score job returned the wrong result');
    const score = result.scores[0];
    res.json({ model: id, energy: score?.energy, ...(score?.percentile === undefined ? {} : { percentile: score.percentile }) });
  });

  router.post('/v1/classify', auth, async (req, res) => {
    const body = parse(ClassifyRequestSchema, req.body, 'body');
    const id = body.model ?? registry.findReady('classify');
    if (!id) throw new UnavailableError('No classifier is ready');
    const { info } = registry.require(id, 'classify');
    const result = await runTracked(res, { op: 'classify', model: id, images: [imageFor(info, body.image, 'image')] });
    if (result.op !== 'classify') throw new Error('classify job returned the wrong result');
    const probs = result.probabilities[0] ?? [];
    const probabilities = probs.map((probability, index) => ({ label: info.classNames?.[index] ?? `class ${index}`, index, probability }));
    const top = probabilities.reduce(
      (best, p) => (p.probability > best.probability ? p : best),
      probabilities[0] ?? { label: '', index: -1, probability: 0 },
    );
    res.json({ model: id, probabilities, top });
  });

  const alias =
    (kind: ModelKind): RequestHandler =>
    async (req, res) => {
      const body = parse(GenerateAliasSchema, req.body ?? {}, 'body');
      const id = registry.findReady('unconditional', kind) ?? registry.findByKind(kind);
      if (!id) throw new UnavailableError(`No ${kind} model is configured`);
      const { info } = registry.require(id, 'unconditional');
      const params = sampleParams(id, info, { count: body.num, steps: body.steps, seed: body.seed });
      const output = { grid: true, images: body.format === 'json' };
      await respondWithGeneration(
        req,
        res,
        { op: 'sample', model: id, params, output, previewEvery: options.previewEvery ?? 10 },
        body.format,
      );
    };
  router.post('/generate/diffusion', auth, alias('diffusion'));
  router.post('/generate/ebm', auth, alias('energy'));

  /** Runs a job bound to the request: timeout, client disconnect → cancel, metrics. */
  async function runTracked(res: Response, job: Job, onProgress?: Parameters<JobExecutor['submit']>[1]): Promise<JobResult> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new JobTimeoutError(timeoutMs)), timeoutMs);
    const onClose = () => {
      if (!res.writableEnded) controller.abort(new CancelledError('The client disconnected'));
    };
    res.on('close', onClose);
    const start = performance.now();
    const report = (outcome: JobEvent['outcome']) =>
      options.onJob?.({ model: job.model, op: job.op, outcome, durationMs: performance.now() - start });
    try {
      // submit throws OverloadedError synchronously when the queue is full.
      const result = await executor.submit(job, { signal: controller.signal, ...(onProgress ?? {}) });
      report('ok');
      return result;
    } catch (error) {
      const outcome = (error as { code?: string }).code;
      report(outcome === 'overloaded' ? 'overloaded' : outcome === 'cancelled' ? 'cancelled' : 'error');
      throw markTimeout(error, controller.signal);
    } finally {
      clearTimeout(timer);
      res.off('close', onClose);
    }
  }

  async function respondWithGeneration(
    req: Request,
    res: Response,
    job: Extract<Job, { op: 'sample' | 'inpaint' }>,
    format: 'png' | 'json',
  ): Promise<void> {
    if (!wantsStream(req)) {
      const result = await runTracked(res, { ...job, previewEvery: 0 });
      sendGeneration(res, job.model, result, format);
      return;
    }
    // Check admission first so a full queue still answers 429 rather than an event stream.
    const stats = executor.stats();
    if (stats.running >= stats.concurrency && stats.queued >= stats.maxQueue) {
      await runTracked(res, job); // throws OverloadedError
      return;
    }
    res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive' });
    res.flushHeaders();
    sendEvent(res, 'queued', { model: job.model, seed: job.params.seed, steps: job.params.steps });
    try {
      const result = await runTracked(res, job, {
        onProgress: (p) =>
          sendEvent(res, 'progress', {
            step: p.step,
            total: p.total,
            ...(p.preview ? { preview: `data:image/png;base64,${Buffer.from(p.preview).toString('base64')}` } : {}),
          }),
      });
      if (result.op !== 'sample' && result.op !== 'inpaint') throw new Error('generation returned the wrong result');
      sendEvent(res, 'result', generationJson(job.model, result));
    } catch (error) {
      sendEvent(res, 'error', { ...problemFromError(error).problem, instance: req.originalUrl });
    }
    res.end();
  }

  return router;
}

function sendGeneration(res: Response, model: string, result: JobResult, format: 'png' | 'json'): void {
  if (result.op !== 'sample' && result.op !== 'inpaint') throw new Error('generation returned the wrong result');
  res.set('X-Seed', String(result.seed));
  if (format === 'json') {
    res.json(generationJson(model, result));
    return;
  }
  res.type('image/png').send(Buffer.from(result.grid ?? new Uint8Array()));
}

function generationJson(model: string, result: Extract<JobResult, { op: 'sample' | 'inpaint' }>) {
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return {
    model,
    seed: result.seed,
    count: result.count,
    images: (result.images ?? []).map(b64),
    grid: result.grid ? b64(result.grid) : '',
  };
}

function sendEvent(res: Response, event: string, data: unknown): void {
  if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function wantsStream(req: Request): boolean {
  const q = req.query.stream;
  return q === '1' || q === 'true' || (req.get('accept') ?? '').includes('text/event-stream');
}

/** When the request's own timer fired, report the timeout whatever error the job ended with. */
function markTimeout(error: unknown, signal: AbortSignal): unknown {
  return signal.reason instanceof JobTimeoutError ? signal.reason : error;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw zodToValidationError(result.error, where);
  return result.data;
}

function modelId(req: Request): string {
  return parse(ModelIdSchema, req.params.id, 'model id');
}

/** Fills defaults from the model and checks what the schema cannot know (sampler, steps, classes). */
function sampleParams(
  id: string,
  info: ModelInfo,
  body: {
    count: number;
    seed?: number | undefined;
    sampler?: SampleParams['sampler'] | undefined;
    steps?: number | undefined;
    eta?: number | undefined;
    guidance?: number | undefined;
    guidanceRescale?: number | undefined;
    classLabel?: number | undefined;
  },
): SampleParams {
  const sampler = body.sampler ?? info.defaultSampler ?? info.samplers[0];
  if (!sampler || !info.samplers.includes(sampler)) {
    throw new ValidationError(
      `Model "${id}" does not support sampler "${body.sampler}" (supported: ${info.samplers.join(', ') || 'none'})`,
    );
  }
  const steps = body.steps ?? info.defaultSteps;
  if (steps > info.maxSteps) throw new ValidationError(`steps must be at most ${info.maxSteps} for model "${id}"`);
  if (body.classLabel !== undefined) {
    if (!info.capabilities.includes('class-conditional')) throw new ValidationError(`Model "${id}" is not class-conditional`);
    if (body.classLabel >= (info.numClasses ?? 0))
      throw new ValidationError(`classLabel must be below ${info.numClasses ?? 0} for model "${id}"`);
  }
  if (body.guidance !== undefined && !info.capabilities.includes('class-conditional')) {
    throw new ValidationError(`guidance needs a class-conditional model; "${id}" is not`);
  }
  // Guidance steers towards a class: without one it would silently sample unguided.
  if (body.guidance !== undefined && body.classLabel === undefined) {
    throw new ValidationError('guidance steers samples towards a class: give classLabel too');
  }
  if (body.guidanceRescale !== undefined && (!info.capabilities.includes('class-conditional') || body.classLabel === undefined)) {
    throw new ValidationError('guidanceRescale rescales guidance: it needs a class-conditional model and classLabel');
  }
  if (body.eta !== undefined && sampler !== 'ddim') throw new ValidationError('eta applies only to the ddim sampler');
  return {
    count: body.count,
    seed: body.seed ?? randomInt(0, 2 ** 32 - 1),
    sampler,
    steps,
    ...(body.eta === undefined ? {} : { eta: body.eta }),
    ...(body.guidance === undefined ? {} : { guidance: body.guidance }),
    ...(body.guidanceRescale === undefined ? {} : { guidanceRescale: body.guidanceRescale }),
    ...(body.classLabel === undefined ? {} : { classLabel: body.classLabel }),
  };
}

/** The largest upload decoded (pixels); core checks it from the header before decoding. */
const MAX_UPLOAD_PIXELS = 1024 * 1024;

/** Decodes an uploaded image and checks it has the model's size. */
function imageFor(info: ModelInfo, base64: string, field: string): RawImage {
  const payload = base64.replace(/^data:image\/(png|jpeg);base64,/, '');
  const bytes = Buffer.from(payload, 'base64');
  let image: RawImage;
  try {
    image = { ...decodeImage(bytes, { maxPixels: MAX_UPLOAD_PIXELS }), channels: 3 };
  } catch (error) {
    throw new ValidationError(`${field}: ${(error as Error).message}`, { cause: error });
  }
  const [h, w] = info.imageShape;
  if (image.width !== w || image.height !== h) {
    throw new ValidationError(`${field} must be ${w}x${h} pixels, got ${image.width}x${image.height}`);
  }
  return image;
}

/** RGB mask → one channel, 255 where the mean brightness is above half. */
function toMask(image: RawImage): RawImage {
  const n = image.width * image.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const sum = (image.pixels[i * 3] ?? 0) + (image.pixels[i * 3 + 1] ?? 0) + (image.pixels[i * 3 + 2] ?? 0);
    out[i] = sum > 382 ? 255 : 0;
  }
  return { pixels: out, width: image.width, height: image.height, channels: 1 };
}
