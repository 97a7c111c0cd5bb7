import { decodeImage, encodePng } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakePlugin } from './fixtures/fake-provider.mjs';
import { startServer, type TestServer } from './helpers.js';

let s: TestServer;
const png = (fill: number) => Buffer.from(encodePng(new Uint8Array(8 * 8 * 3).fill(fill), 8, 8, 3)).toString('base64');

beforeAll(async () => {
  await tf.setBackend('cpu');
  s = await startServer([
    fakePlugin([
      { id: 'diff' },
      { id: 'ebm', kind: 'energy' },
      { id: 'cls', kind: 'classifier' },
      { id: 'gone', fail: 'genlab.json is missing' },
    ]),
  ]);
});
afterAll(async () => {
  await s.stop();
});

describe('every route, happy path (fake models, in-process)', () => {
  it('GET /health and /ready', async () => {
    const health = await fetch(`${s.base}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    const ready = (await (await fetch(`${s.base}/ready`)).json()) as {
      status: string;
      models: Array<{ id: string; status: string; reason?: string }>;
    };
    expect(ready.status).toBe('ready');
    expect(ready.models.find((m) => m.id === 'gone')).toMatchObject({ status: 'unavailable', reason: 'genlab.json is missing' });
  });

  it('sets helmet headers and a request id', async () => {
    const res = await fetch(`${s.base}/health`, { headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('GET /v1/models and /v1/models/:id', async () => {
    const { models } = (await (await fetch(`${s.base}/v1/models`)).json()) as {
      models: Array<{ id: string; kind: string; status: string }>;
    };
    expect(models.map((m) => `${m.id}:${m.kind}:${m.status}`)).toEqual([
      'diff:diffusion:ready',
      'ebm:energy:ready',
      'cls:classifier:ready',
      'gone:diffusion:unavailable',
    ]);
    const one = (await (await fetch(`${s.base}/v1/models/ebm`)).json()) as { info: { samplers: string[] }; manifest: { step: number } };
    expect(one.info.samplers).toEqual(['langevin']);
    expect(one.manifest.step).toBe(1);
  });

  it('POST samples: grid PNG, identical bytes for the same seed', async () => {
    const a = await s.post('/v1/models/diff/samples', { count: 4, seed: 5, steps: 2 });
    const b = await s.post('/v1/models/diff/samples', { count: 4, seed: 5, steps: 2 });
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toBe('image/png');
    const [ba, bb] = [Buffer.from(await a.arrayBuffer()), Buffer.from(await b.arrayBuffer())];
    expect(ba.equals(bb)).toBe(true);
    expect(decodeImage(ba).width).toBe(2 * 8 + 3 * 2);
  });

  it('POST samples as JSON and as a server-sent event stream', async () => {
    const json = (await (
      await s.post('/v1/models/ebm/samples', { count: 2, seed: 9, steps: 2, sampler: 'langevin', format: 'json' })
    ).json()) as { seed: number; images: string[] };
    expect(json.seed).toBe(9);
    expect(json.images).toHaveLength(2);
    const stream = await s.post('/v1/models/diff/samples?stream=1', { count: 1, seed: 9, steps: 2 });
    const events = [...(await stream.text()).matchAll(/event: (\w+)/g)].map((m) => m[1]);
    expect(events).toEqual(['queued', 'progress', 'progress', 'result']);
  });

  it('POST inpaint, score and classify', async () => {
    const inpaint = await s.post('/v1/models/diff/inpaint', { image: png(100), mask: png(0), steps: 1, seed: 1, format: 'json' });
    const body = (await inpaint.json()) as { images: string[] };
    // An all-black mask keeps every pixel.
    expect(Array.from(decodeImage(Buffer.from(body.images[0] as string, 'base64')).pixels).every((v) => v === 100)).toBe(true);
    const score = (await (await s.post('/v1/models/ebm/score', { image: png(255) })).json()) as { energy: number; percentile: number };
    expect(score.energy).toBeCloseTo(1, 5);
    expect(score.percentile).toBe(90);
    const cls = (await (await s.post('/v1/classify', { image: png(0) })).json()) as {
      model: string;
      probabilities: Array<{ probability: number }>;
    };
    expect(cls.model).toBe('cls');
    expect(cls.probabilities.map((p) => p.probability)).toEqual([
      expect.closeTo(1 / 3, 5),
      expect.closeTo(1 / 3, 5),
      expect.closeTo(1 / 3, 5),
    ]);
  });

  it('POST /generate/diffusion and /generate/ebm with {num, steps}', async () => {
    const d = await s.post('/generate/diffusion', { num: 2, steps: 1 });
    expect(d.status).toBe(200);
    expect(d.headers.get('content-type')).toBe('image/png');
    const e = (await (await s.post('/generate/ebm', { num: 3, steps: 1, format: 'json' })).json()) as { model: string; images: string[] };
    expect(e.model).toBe('ebm');
    expect(e.images).toHaveLength(3);
  });

  it('GET /metrics in Prometheus format, counting the jobs above', async () => {
    const text = await (await fetch(`${s.base}/metrics`)).text();
    expect(text).toMatch(/genlab_jobs_total\{model="diff",op="sample",outcome="ok"\} \d+/);
    expect(text).toContain('genlab_model_ready{model="gone",kind="diffusion",status="unavailable"} 0');
    expect(text).toContain('genlab_http_request_duration_seconds_bucket');
  });

  it('GET /docs (Swagger UI), /openapi.json, / (playground) and their assets', async () => {
    const docs = await fetch(`${s.base}/docs`);
    expect(await docs.text()).toContain('swagger-ui-bundle.js');
    expect((await fetch(`${s.base}/docs/assets/swagger-ui-bundle.js`)).status).toBe(200);
    expect((await fetch(`${s.base}/docs/init.js`)).status).toBe(200);
    const spec = (await (await fetch(`${s.base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/v1/models/{id}/samples', '/v1/classify', '/generate/ebm', '/v1/models/{id}/training-energies']),
    );
    expect(await (await fetch(`${s.base}/`)).text()).toContain('genlab playground');
    for (const [path, type] of [
      ['/playground/main.js', 'javascript'],
      ['/playground/mask.js', 'javascript'],
      ['/playground/playground.css', 'text/css'],
      ['/cifar10/index.json', 'json'],
      ['/cifar10/cat.png', 'image/png'],
    ]) {
      expect((await fetch(`${s.base}${path}`)).headers.get('content-type'), path).toContain(type);
    }
    expect((await fetch(`${s.base}/playground/../package.json`)).status).toBe(404);
  });
});

describe('bearer token and CORS', () => {
  let guarded: TestServer;
  beforeAll(async () => {
    guarded = await startServer([fakePlugin([{ id: 'diff' }])], { token: 'sesame', corsOrigins: ['http://example.test'] });
  });
  afterAll(async () => {
    await guarded.stop();
  });

  it('needs the token on expensive routes only', async () => {
    const denied = await guarded.post('/v1/models/diff/samples', { steps: 1 });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toContain('application/problem+json');
    expect((await guarded.post('/v1/models/diff/samples', { steps: 1 }, { authorization: 'Bearer wrong!' })).status).toBe(401);
    expect((await guarded.post('/v1/models/diff/samples', { steps: 1 }, { authorization: 'Bearer sesame' })).status).toBe(200);
    expect((await fetch(`${guarded.base}/v1/models`)).status).toBe(200);
  });

  it('answers CORS for the configured origin only', async () => {
    const ok = await fetch(`${guarded.base}/v1/models`, { headers: { origin: 'http://example.test' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://example.test');
    const other = await fetch(`${guarded.base}/v1/models`, { headers: { origin: 'http://evil.test' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
