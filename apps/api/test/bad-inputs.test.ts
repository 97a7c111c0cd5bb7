import { encodePng } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakePlugin } from './fixtures/fake-provider.mjs';
import { startServer, type TestServer } from './helpers.js';

let s: TestServer;
const b64 = (w: number, h: number) => Buffer.from(encodePng(new Uint8Array(w * h * 3).fill(80), w, h, 3)).toString('base64');
const good = b64(8, 8);
const jpegHeaderOnly = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0, 1]).toString('base64');

beforeAll(async () => {
  await tf.setBackend('cpu');
  s = await startServer(
    [
      fakePlugin([
        { id: 'diff' },
        { id: 'ebm', kind: 'energy' },
        { id: 'cls', kind: 'classifier' },
        { id: 'gone', fail: 'corrupt weights' },
      ]),
    ],
    {
      bodyLimit: '64kb',
    },
  );
});
afterAll(async () => {
  await s.stop();
});

type Case = [name: string, request: () => Promise<Response>, status: number];
const samples = (body: unknown) => () => s.post('/v1/models/diff/samples', body);
const raw =
  (path: string, body: string, type = 'application/json') =>
  () =>
    fetch(s.base + path, { method: 'POST', headers: { 'content-type': type }, body });

const cases: Case[] = [
  ['count 0', samples({ count: 0 }), 400],
  ['count 65', samples({ count: 65 }), 400],
  ['count negative', samples({ count: -3 }), 400],
  ['count fractional', samples({ count: 1.5 }), 400],
  ['count as string', samples({ count: '4' }), 400],
  ['count null', samples({ count: null }), 400],
  ['steps 0', samples({ steps: 0 }), 400],
  ['steps 1001', samples({ steps: 1001 }), 400],
  ['steps above the model maximum', samples({ steps: 500 }), 400],
  ['steps as bool', samples({ steps: true }), 400],
  ['seed negative', samples({ seed: -1 }), 400],
  ['seed above 2^32', samples({ seed: 2 ** 33 }), 400],
  ['seed fractional', samples({ seed: 0.5 }), 400],
  ['unknown sampler', samples({ sampler: 'euler' }), 400],
  ['sampler the model lacks', samples({ sampler: 'langevin' }), 400],
  ['langevin model with ddim', () => s.post('/v1/models/ebm/samples', { sampler: 'ddim' }), 400],
  ['eta above 1', samples({ sampler: 'ddim', eta: 2 }), 400],
  ['eta with ddpm', samples({ sampler: 'ddpm', eta: 0.5 }), 400],
  ['guidance negative', samples({ guidance: -1 }), 400],
  ['guidanceRescale above 1', samples({ guidanceRescale: 1.5 }), 400],
  ['guidanceRescale negative', samples({ guidanceRescale: -0.1 }), 400],
  ['classLabel out of range', samples({ classLabel: 3 }), 400],
  ['classLabel negative', samples({ classLabel: -1 }), 400],
  ['unknown format', samples({ format: 'gif' }), 400],
  ['unknown field', samples({ count: 1, evil: true }), 400],
  ['body is an array', samples([1, 2]), 400],
  ['body is a number', samples(42), 400],
  ['malformed JSON', raw('/v1/models/diff/samples', '{"count": 4'), 400],
  ['JSON with trailing garbage', raw('/v1/models/diff/samples', '{"count": 4}}'), 400],
  ['text body', raw('/v1/models/diff/samples', 'count=4', 'text/plain'), 400],
  ['oversized body', raw('/v1/models/diff/samples', JSON.stringify({ pad: 'x'.repeat(100_000) })), 413],
  ['unknown model', () => s.post('/v1/models/nope/samples', {}), 404],
  ['unavailable model', () => s.post('/v1/models/gone/samples', {}), 503],
  ['path trick ..', () => s.post('/v1/models/..%2F..%2Fetc/samples', {}), 400],
  ['path trick encoded slash', () => s.post('/v1/models/a%2Fb/samples', {}), 400],
  ['path trick leading dot', () => s.post('/v1/models/.hidden/samples', {}), 400],
  ['id too long', () => s.post(`/v1/models/${'a'.repeat(80)}/samples`, {}), 400],
  ['id with space', () => s.post('/v1/models/a%20b/samples', {}), 400],
  ['unknown route', () => fetch(`${s.base}/v1/nothing`), 404],
  ['GET on a POST route', () => fetch(`${s.base}/v1/models/diff/samples`), 404],
  ['model without the capability', () => s.post('/v1/models/cls/samples', {}), 400],
  ['score: not base64', () => s.post('/v1/models/ebm/score', { image: '%%%%not-base64%%%%' }), 400],
  ['score: not an image', () => s.post('/v1/models/ebm/score', { image: Buffer.from('hello, not an image').toString('base64') }), 400],
  ['score: truncated JPEG', () => s.post('/v1/models/ebm/score', { image: jpegHeaderOnly }), 400],
  ['score: wrong image size', () => s.post('/v1/models/ebm/score', { image: b64(16, 16) }), 400],
  ['score: missing image', () => s.post('/v1/models/ebm/score', {}), 400],
  ['score: image is a number', () => s.post('/v1/models/ebm/score', { image: 12345678 }), 400],
  ['score on a model that cannot', () => s.post('/v1/models/cls/score', { image: good }), 400],
  ['classify: wrong size', () => s.post('/v1/classify', { image: b64(4, 4) }), 400],
  ['classify: unknown model', () => s.post('/v1/classify', { image: good, model: 'nope' }), 404],
  ['classify: bad model id', () => s.post('/v1/classify', { image: good, model: '../x' }), 400],
  ['inpaint: missing mask', () => s.post('/v1/models/diff/inpaint', { image: good }), 400],
  ['inpaint: mask of another size', () => s.post('/v1/models/diff/inpaint', { image: good, mask: b64(8, 4) }), 400],
  ['inpaint: on an energy model without inpaint sampler', () => s.post('/v1/models/cls/inpaint', { image: good, mask: good }), 400],
  ['alias: num 0', () => s.post('/generate/diffusion', { num: 0 }), 400],
  ['alias: num as string', () => s.post('/generate/ebm', { num: 'many' }), 400],
  ['alias: unknown field', () => s.post('/generate/ebm', { n: 2 }), 400],
];

describe('bad inputs → 4xx problem+json, server stays healthy', () => {
  it(`has at least 40 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('%s', async (_name, request, status) => {
    const res = await request();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as { type: string; title: string; status: number; detail?: string };
    expect(problem.status).toBe(status);
    expect(problem.type).toMatch(/^urn:genlab:problem:/);
    expect(problem.title.length).toBeGreaterThan(0);
    const health = await fetch(`${s.base}/health`);
    expect(health.status).toBe(200);
  });

  it('still serves a valid request afterwards, with no job left running', async () => {
    expect((await s.post('/v1/models/diff/samples', { count: 1, steps: 1 })).status).toBe(200);
    expect(s.api.genlab.executor.stats()).toMatchObject({ running: 0, queued: 0 });
  });
});
