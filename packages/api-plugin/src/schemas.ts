import { z } from 'zod';
import { SAMPLER_NAMES } from './provider.js';

/** Base64 image (PNG or JPEG), optionally as a `data:` URL. Decoded and size-checked later. */
export const ImageInputSchema = z
  .string()
  .min(8)
  .max(4_000_000)
  .regex(/^(data:image\/(png|jpeg);base64,)?[A-Za-z0-9+/=\s]+$/, 'must be a base64 PNG or JPEG (optionally a data: URL)')
  .describe('A PNG or JPEG image as base64 or a data: URL');

export const ModelIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1–64 letters, digits, dot, dash or underscore')
  .refine((s) => !s.includes('..'), 'must not contain ".."')
  .describe('A model id as listed by GET /v1/models');

const generationFields = {
  seed: z.number().int().min(0).max(4294967295).optional().describe('Seed for all noise; random when absent (the response reports it)'),
  sampler: z
    .enum(SAMPLER_NAMES)
    .optional()
    .describe('Defaults to the model’s own sampler (its info.defaultSampler in GET /v1/models/{id})'),
  steps: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .describe('Sampling steps (at most the model’s maxSteps); defaults to the model’s own (info.defaultSteps)'),
  eta: z.number().min(0).max(1).optional().describe('DDIM stochasticity, 0 = deterministic'),
  guidance: z
    .number()
    .min(0)
    .max(20)
    .optional()
    .describe('Classifier-free guidance scale (class-conditional models); with classLabel, defaults to the model’s info.defaultGuidance'),
  guidanceRescale: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe(
      'Guidance rescale, 0–1: pulls each guided prediction’s contrast back towards the conditional prediction’s (0 = plain guidance); defaults to the model’s info.defaultGuidanceRescale',
    ),
  classLabel: z.number().int().min(0).max(999).optional().describe('Class to generate (class-conditional models)'),
  format: z.enum(['png', 'json']).default('png').describe('png: one grid image; json: base64 PNGs, the grid and the seed'),
  previewEvery: z.number().int().min(1).max(1000).optional().describe('With streaming: send a preview every k steps'),
};

export const SampleRequestSchema = z
  .object({ count: z.number().int().min(1).max(64).default(4).describe('Number of images, 1–64'), ...generationFields })
  .strict();

export const InpaintRequestSchema = z
  .object({
    image: ImageInputSchema,
    mask: ImageInputSchema.describe('Same size as image: white where pixels are generated, black where kept'),
    count: z.number().int().min(1).max(16).default(1),
    ...generationFields,
  })
  .strict();

export const ScoreRequestSchema = z.object({ image: ImageInputSchema }).strict();

export const ClassifyRequestSchema = z
  .object({ image: ImageInputSchema, model: ModelIdSchema.optional().describe('Classifier to use; the first ready one when absent') })
  .strict();

/** `POST /generate/diffusion` and `/generate/ebm`: the peers' body, `{num, steps}`. */
export const GenerateAliasSchema = z
  .object({
    num: z.number().int().min(1).max(64).default(4),
    steps: z.number().int().min(1).max(1000).optional(),
    seed: z.number().int().min(0).max(4294967295).optional(),
    format: z.enum(['png', 'json']).default('png'),
  })
  .strict();

export const ProblemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  instance: z.string().optional(),
  requestId: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export const SampleJsonResponseSchema = z.object({
  model: z.string(),
  seed: z.number().int(),
  count: z.number().int(),
  images: z.array(z.string()).describe('base64 PNGs, one per image'),
  grid: z.string().describe('base64 PNG of all images'),
});

export const ScoreResponseSchema = z.object({ model: z.string(), energy: z.number(), percentile: z.number().optional() });

export const ClassifyResponseSchema = z.object({
  model: z.string(),
  probabilities: z.array(z.object({ label: z.string(), index: z.number().int(), probability: z.number() })),
  top: z.object({ label: z.string(), index: z.number().int(), probability: z.number() }),
});

export type SampleRequest = z.infer<typeof SampleRequestSchema>;
export type InpaintRequest = z.infer<typeof InpaintRequestSchema>;
export type ScoreRequest = z.infer<typeof ScoreRequestSchema>;
export type ClassifyRequest = z.infer<typeof ClassifyRequestSchema>;
export type GenerateAlias = z.infer<typeof GenerateAliasSchema>;
