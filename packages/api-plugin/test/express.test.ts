import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { decodeImage, encodePng } from '@lab/core';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument, createGenlabRouter, type GenlabRouter, requestId, useProblemHandlers } from '../src/express/index.js';
import type { GenlabPlugin } from '../src/index.js';
import { fakeProvider } from './fake-provider.js';

let base = '';
let genlab: GenlabRouter;
let server: ReturnType<express.Express['listen']>;

const fakePlugin = (id: string, extra: Parameters<typeof fakeProvider>[0] = { id }): GenlabPlugin => ({
  name: `fake-${id}`,
  version: '1.0.0',
  register: (ctx) => {
    ctx.registry.add(fakeProvider({ ...extra, id }));
  },
});

beforeAll(async () => {
  await tf.setBackend('cpu');
  genlab = await createGenlabRouter({
    plugins: [
      fakePlugin('fake'),
      fakePlugin('broken', { id: 'broken', fail: 'checkpoint missing' }),
      fakePlugin('ebm', { id: 'ebm', kind: 'energy' }),
    ],
    previewEvery: 1,
  });
  await genlab.loaded;
  const app = express();
  app.use(requestId());
  app.use(genlab.router);
  useProblemHandlers(app);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await genlab.close();
});

const post = (path: string, body: unknown) =>
  fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('express adapter on a fake provider', () => {
  it('lists models with status, capabilities and the failure reason', async () => {
    const res = await fetch(`${base}/v1/models`);
    const { models } = (await res.json()) as { models: Array<{ id: string; status: string; reason?: string; capabilities: string[] }> };
    expect(models.map((m) => [m.id, m.status])).toEqual([
      ['fake', 'ready'],
      ['broken', 'unavailable'],
      ['ebm', 'ready'],
    ]);
    expect(models[1]?.reason).toBe('checkpoint missing');
    expect(models[0]?.capabilities).toContain('inpaint');
  });

  it('returns a grid PNG whose bytes depend only on the seed', async () => {
    const a = await post('/v1/models/fake/samples', { count: 4, seed: 11, steps: 2 });
    const b = await post('/v1/models/fake/samples', { count: 4, seed: 11, steps: 2 });
    const c = await post('/v1/models/fake/samples', { count: 4, seed: 12, steps: 2 });
    expect(a.headers.get('content-type')).toBe('image/png');
    expect(a.headers.get('x-seed')).toBe('11');
    const [ba, bb, bc] = await Promise.all([a, b, c].map(async (r) => new Uint8Array(await r.arrayBuffer())));
    expect(Buffer.compare(Buffer.from(ba as Uint8Array), Buffer.from(bb as Uint8Array))).toBe(0);
    expect(Buffer.compare(Buffer.from(ba as Uint8Array), Buffer.from(bc as Uint8Array))).not.toBe(0);
    const grid = decodeImage(ba as Uint8Array);
    expect([grid.width, grid.height]).toEqual([2 * 8 + 3 * 2, 2 * 8 + 3 * 2]);
  });

  it('returns JSON with one PNG per image and the seed', async () => {
    const res = await post('/v1/models/fake/samples', { count: 3, steps: 1, format: 'json' });
    const body = (await res.json()) as { seed: number; images: string[]; grid: string };
    expect(Number.isInteger(body.seed)).toBe(true);
    expect(body.images).toHaveLength(3);
    expect(decodeImage(Buffer.from(body.images[0] as string, 'base64')).width).toBe(8);
  });

  it('streams progress with previews, then the result, as server-sent events', async () => {
    const res = await post('/v1/models/fake/samples?stream=1', { count: 1, seed: 3, steps: 3 });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2] as string) }));
    expect(events.map((e) => e.event)).toEqual(['queued', 'progress', 'progress', 'progress', 'result']);
    expect(events[1]?.data).toMatchObject({ step: 1, total: 3 });
    expect(events[1]?.data.preview).toMatch(/^data:image\/png;base64,/);
    expect(events[4]?.data.seed).toBe(3);
  });

  it('inpaints: kept pixels equal the input image', async () => {
    const img = new Uint8Array(8 * 8 * 3).fill(200);
    const mask = new Uint8Array(8 * 8 * 3);
    mask.fill(255, 0, 8 * 4 * 3); // generate the top half
    const b64 = (p: Uint8Array) => Buffer.from(encodePng(p, 8, 8, 3)).toString('base64');
    const res = await post('/v1/models/fake/inpaint', { image: b64(img), mask: b64(mask), seed: 1, steps: 1, format: 'json' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { images: string[] };
    const out = decodeImage(Buffer.from(body.images[0] as string, 'base64'));
    expect(Array.from(out.pixels.slice(8 * 4 * 3))).toEqual(Array.from(img.slice(8 * 4 * 3)));
    expect(Array.from(out.pixels.slice(0, 8 * 4 * 3))).not.toEqual(Array.from(img.slice(0, 8 * 4 * 3)));
  });

  it('scores and classifies an image', async () => {
    const gray = Buffer.from(encodePng(new Uint8Array(8 * 8 * 3).fill(255), 8, 8, 3)).toString('base64');
    const score = (await (await post('/v1/models/fake/score', { image: gray })).json()) as { energy: number; percentile: number };
    expect(score.energy).toBeCloseTo(1, 5); // all pixels at +1
    expect(score.percentile).toBe(100);
    const cls = (await (await post('/v1/classify', { image: `data:image/png;base64,${gray}` })).json()) as {
      probabilities: Array<{ probability: number }>;
      top: { label: string };
    };
    expect(cls.probabilities.map((p) => p.probability).reduce((a, b) => a + b)).toBeCloseTo(1, 5);
    expect(cls.top.label).toBe('red');
  });

  it('answers problem+json for bad input, unknown and unavailable models', async () => {
    const cases: Array<[Promise<Response>, number]> = [
      [post('/v1/models/fake/samples', { count: 0 }), 400],
      [post('/v1/models/nope/samples', {}), 404],
      [post('/v1/models/broken/samples', {}), 503],
      [post('/v1/models/ebm/samples', { sampler: 'ddpm' }), 400],
      [post('/v1/models/fake/samples', { classLabel: 3 }), 400],
    ];
    for (const [pending, status] of cases) {
      const res = await pending;
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await res.json()) as { status: number; title: string; requestId: string };
      expect(problem.status).toBe(status);
      expect(problem.requestId).toBeTruthy();
    }
  });

  it('routes the peers’ aliases to the first model of each kind', async () => {
    const res = await post('/generate/ebm', { num: 2, steps: 1, format: 'json' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model: string }).model).toBe('ebm');
  });

  it('builds an OpenAPI document from the zod schemas', () => {
    const doc = buildOpenApiDocument() as {
      openapi: string;
      components: { schemas: Record<string, { properties: Record<string, { maximum?: number }> }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.schemas.SampleRequest?.properties.count?.maximum).toBe(64);
    expect(Object.keys(doc.components.schemas)).toContain('Problem');
  });
});
