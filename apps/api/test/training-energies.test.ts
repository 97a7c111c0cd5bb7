import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlugins } from '../src/plugins.js';
import { histogram } from '../src/web/training-energies.js';
import { writeTinyModels } from './fixtures/tiny-models.js';
import { startServer, type TestServer } from './helpers.js';

describe('GET /v1/models/:id/training-energies', () => {
  let root = '';
  let s: TestServer;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    root = await mkdtemp(join(tmpdir(), 'genlab-api-energies-'));
    await writeTinyModels(root);
    s = await startServer(defaultPlugins(root), {}, { modelsDir: root });
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('answers the histogram of the energies /score ranks against', async () => {
    const res = await fetch(`${s.base}/v1/models/ebm-cifar10/training-energies`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { count: number; min: number; max: number; edges: number[]; counts: number[] };
    expect(body).toMatchObject({ model: 'ebm-cifar10', count: 8, min: -2, max: 5 });
    expect(body.edges).toHaveLength(31);
    expect(body.counts.reduce((a, b) => a + b, 0)).toBe(8);
    expect(body.counts.at(-1)).toBe(1); // the maximum lands in the last bin
    // The documented schema names exactly the fields the route answers.
    const spec = (await (await fetch(`${s.base}/openapi.json`)).json()) as {
      paths: Record<string, { get: { responses: { '200': { content: { 'application/json': { schema: { required: string[] } } } } } } }>;
    };
    const schema = spec.paths['/v1/models/{id}/training-energies']?.get.responses['200'].content['application/json'].schema;
    expect(schema?.required.slice().sort()).toEqual(Object.keys(body).sort());
  });

  it('is 404 (problem+json) for other kinds and unknown models', async () => {
    for (const id of ['ddpm-cifar10', 'nope']) {
      const res = await fetch(`${s.base}/v1/models/${id}/training-energies`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  it('bins values evenly, a constant set into one bin', () => {
    expect(histogram('m', [0, 1, 2, 3], 2).counts).toEqual([2, 2]);
    expect(histogram('m', [7, 7, 7], 3).counts).toEqual([3, 0, 0]);
  });
});
