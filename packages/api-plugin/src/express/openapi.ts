import { z } from 'zod';
import {
  ClassifyRequestSchema,
  ClassifyResponseSchema,
  GenerateAliasSchema,
  InpaintRequestSchema,
  ProblemSchema,
  SampleJsonResponseSchema,
  SampleRequestSchema,
  ScoreRequestSchema,
  ScoreResponseSchema,
} from '../schemas.js';

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const problems = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      { description: 'Problem details (RFC 9457)', content: { 'application/problem+json': { schema: ref('Problem') } } },
    ]),
  );
const json = (id: string) => ({ content: { 'application/json': { schema: ref(id) } } });
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } };
const streamParam = {
  name: 'stream',
  in: 'query',
  required: false,
  schema: { type: 'string', enum: ['1'] },
  description: 'Stream progress as server-sent events',
};
const generation = {
  description:
    'A PNG grid (format png), JSON (format json), or an event stream (stream=1): events queued, progress {step,total,preview?}, result, error',
  headers: { 'X-Seed': { schema: { type: 'integer' }, description: 'The seed used' } },
  content: {
    'image/png': { schema: { type: 'string', format: 'binary' } },
    'application/json': { schema: ref('SampleResponse') },
    'text/event-stream': { schema: { type: 'string' } },
  },
};

/** The OpenAPI 3.1 document of the genlab API, generated from the same zod schemas the routes validate with. */
export function buildOpenApiDocument(info: { title?: string; version?: string; bearer?: boolean } = {}): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  const input = {
    SampleRequest: SampleRequestSchema,
    InpaintRequest: InpaintRequestSchema,
    ScoreRequest: ScoreRequestSchema,
    ClassifyRequest: ClassifyRequestSchema,
    GenerateAlias: GenerateAliasSchema,
  };
  const output = {
    Problem: ProblemSchema,
    SampleResponse: SampleJsonResponseSchema,
    ScoreResponse: ScoreResponseSchema,
    ClassifyResponse: ClassifyResponseSchema,
  };
  const schemas: Record<string, unknown> = {};
  for (const [set, io] of [
    [input, 'input'],
    [output, 'output'],
  ] as const) {
    for (const [id, schema] of Object.entries(set)) registry.add(schema, { id });
    const generated = z.toJSONSchema(registry, { io, uri: (id) => `#/components/schemas/${id}` }).schemas;
    for (const id of Object.keys(set)) {
      const { $schema: _s, $id: _i, ...rest } = generated[id] as Record<string, unknown>;
      schemas[id] = rest;
    }
    registry.clear();
  }
  const security = info.bearer ? [{ bearer: [] }] : undefined;
  const post = (summary: string, requestId: string, responses: Record<string, unknown>, params: unknown[] = []) => ({
    summary,
    ...(params.length ? { parameters: params } : {}),
    ...(security ? { security } : {}),
    requestBody: { required: true, ...json(requestId) },
    responses: { ...responses, ...problems(400, 401, 404, 413, 429, 503) },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: info.title ?? 'genlab API',
      version: info.version ?? '0.1.0',
      description: 'Diffusion and energy-based image models served by plugins.',
    },
    components: { schemas, ...(info.bearer ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } : {}) },
    paths: {
      '/health': { get: { summary: 'Liveness', responses: { '200': { description: 'The process is up' } } } },
      '/ready': {
        get: {
          summary: 'Readiness: every model finished loading',
          responses: { '200': { description: 'Ready' }, '503': { description: 'Still loading' } },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text/plain exposition format' } } } },
      '/v1/models': {
        get: { summary: 'List models with status, capabilities and manifest', responses: { '200': { description: 'The models' } } },
      },
      '/v1/models/{id}': {
        get: { summary: 'One model', parameters: [idParam], responses: { '200': { description: 'The model' }, ...problems(400, 404) } },
      },
      '/v1/models/{id}/samples': { post: post('Generate images', 'SampleRequest', { '200': generation }, [idParam, streamParam]) },
      '/v1/models/{id}/inpaint': {
        post: post('Fill the masked part of an image', 'InpaintRequest', { '200': generation }, [idParam, streamParam]),
      },
      '/v1/models/{id}/score': {
        post: post(
          'Energy of an image and its percentile among training images',
          'ScoreRequest',
          { '200': { description: 'Score', ...json('ScoreResponse') } },
          [idParam],
        ),
      },
      '/v1/classify': {
        post: post('Class probabilities of an image', 'ClassifyRequest', {
          '200': { description: 'Probabilities', ...json('ClassifyResponse') },
        }),
      },
      '/generate/diffusion': { post: post('Alias: sample the diffusion model ({num, steps})', 'GenerateAlias', { '200': generation }) },
      '/generate/ebm': {
        post: post('Alias: sample the energy model with Langevin dynamics ({num, steps})', 'GenerateAlias', { '200': generation }),
      },
    },
  };
}
