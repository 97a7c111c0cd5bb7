import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage, encodePng, loadCheckpoint } from '@lab/core';
import { energyFunction } from '@lab/energy';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlugins } from '../src/plugins.js';
import { TEST_SIZE, writeTinyModels } from './fixtures/tiny-models.js';
import { startServer, type TestServer } from './helpers.js';

let root = '';
let s: TestServer;
const image = (fill: number, size = TEST_SIZE) =>
  Buffer.from(encodePng(new Uint8Array(size * size * 3).fill(fill), size, size, 3)).toString('base64');
const events = (text: string) =>
  [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1] as string, data: JSON.parse(m[2] as string) }));

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'genlab-api-models-'));
  await writeTinyModels(root);
  s = await startServer(defaultPlugins(root), { previewEvery: 2 });
}, 120_000);

afterAll(async () => {
  await s?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('real tiny models through the plugins', () => {
  it('lists ready models with manifests, and the broken one unavailable with the reason', async () => {
    const { models } = (await (await fetch(`${s.base}/v1/models`)).json()) as {
      models: Array<{ id: string; kind: string; status: string; reason?: string; capabilities: string[]; manifest?: { step: number } }>;
    };
    const byId = Object.fromEntries(models.map((m) => [m.id, m]));
    expect(byId['ddpm-cifar10']).toMatchObject({
      kind: 'diffusion',
      status: 'ready',
      capabilities: ['unconditional', 'class-conditional', 'inpaint'],
      manifest: { step: 3 },
    });
    expect(byId['ebm-cifar10']).toMatchObject({ kind: 'energy', status: 'ready', capabilities: ['unconditional', 'score'] });
    expect(byId['classifier-cifar10']).toMatchObject({ kind: 'classifier', status: 'ready', capabilities: ['classify'] });
    expect(byId['ddpm-broken']?.status).toBe('unavailable');
    expect(byId['ddpm-broken']?.reason).toMatch(/state\.json|tensors|model/);
  });

  it('DDIM and DDPM samples: same seed → identical PNG bytes, another seed → different', async () => {
    const body = { count: 2, seed: 42, steps: 2 };
    const [a, b, c, d] = await Promise.all([
      s.post('/v1/models/ddpm-cifar10/samples', body),
      s.post('/v1/models/ddpm-cifar10/samples', body),
      s.post('/v1/models/ddpm-cifar10/samples', { ...body, seed: 43 }),
      s.post('/v1/models/ddpm-cifar10/samples', { ...body, sampler: 'ddpm' }),
    ]);
    const [ba, bb, bc, bd] = (await Promise.all([a, b, c, d].map(async (r) => Buffer.from(await r.arrayBuffer())))) as [
      Buffer,
      Buffer,
      Buffer,
      Buffer,
    ];
    expect(a.status).toBe(200);
    expect(ba.equals(bb as Buffer)).toBe(true);
    expect(ba.equals(bc as Buffer)).toBe(false);
    expect(ba.equals(bd as Buffer)).toBe(false);
    expect(decodeImage(ba as Buffer).width).toBe(2 * TEST_SIZE + 3 * 2);
  });

  it('class-conditional sampling with guidance, as JSON', async () => {
    const res = await s.post('/v1/models/ddpm-cifar10/samples', {
      count: 2,
      seed: 1,
      steps: 2,
      classLabel: 2,
      guidance: 3,
      format: 'json',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { images: string[]; seed: number };
    expect(body.images).toHaveLength(2);
    expect(decodeImage(Buffer.from(body.images[0] as string, 'base64')).width).toBe(TEST_SIZE);
  });

  it('refuses guidance without a classLabel (it would sample unguided) with a 400 that says so', async () => {
    const res = await s.post('/v1/models/ddpm-cifar10/samples', { count: 1, seed: 1, steps: 2, guidance: 4 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/guidance steers samples towards a class: give classLabel too/);
  });

  it('guidanceRescale: φ 0 is plain guidance, φ 1 changes the samples; without a classLabel it is a 400 that says so', async () => {
    const body = { count: 2, seed: 4, steps: 2, classLabel: 1, guidance: 3 };
    const png = async (extra: Record<string, unknown>) => {
      const res = await s.post('/v1/models/ddpm-cifar10/samples', { ...body, ...extra });
      expect(res.status).toBe(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const plain = await png({});
    expect((await png({ guidanceRescale: 0 })).equals(plain)).toBe(true);
    expect((await png({ guidanceRescale: 1 })).equals(plain)).toBe(false);
    const res = await s.post('/v1/models/ddpm-cifar10/samples', { count: 1, seed: 1, steps: 2, guidanceRescale: 0.5 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(
      /guidanceRescale rescales guidance: it needs a class-conditional model and classLabel/,
    );
  });

  it('streams the denoising with previews every 2 steps', async () => {
    const res = await s.post('/v1/models/ddpm-cifar10/samples?stream=1', { count: 1, seed: 5, steps: 4 });
    const list = events(await res.text());
    expect(list.map((e) => e.event)).toEqual(['queued', 'progress', 'progress', 'progress', 'progress', 'result']);
    expect(list.filter((e) => e.data.preview).map((e) => e.data.step)).toEqual([2, 4]);
  });

  it('inpaints: pixels outside the mask keep the input image', async () => {
    const mask = new Uint8Array(TEST_SIZE * TEST_SIZE * 3);
    mask.fill(255, 0, (TEST_SIZE * TEST_SIZE * 3) / 2); // generate the top half
    const maskB64 = Buffer.from(encodePng(mask, TEST_SIZE, TEST_SIZE, 3)).toString('base64');
    const res = await s.post('/v1/models/ddpm-cifar10/inpaint', { image: image(200), mask: maskB64, steps: 2, seed: 3, format: 'json' });
    expect(res.status).toBe(200);
    const out = decodeImage(Buffer.from(((await res.json()) as { images: string[] }).images[0] as string, 'base64'));
    const bottom = Array.from(out.pixels.slice((TEST_SIZE * TEST_SIZE * 3) / 2));
    expect(bottom.every((v) => Math.abs(v - 200) <= 1)).toBe(true);
  });

  it('samples the energy model with Langevin dynamics (and via the /generate/ebm alias)', async () => {
    const res = await s.post('/v1/models/ebm-cifar10/samples', { count: 2, steps: 3, seed: 8, format: 'json' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { images: string[] }).images).toHaveLength(2);
    const alias = await s.post('/generate/ebm', { num: 2, steps: 2 });
    expect(alias.headers.get('content-type')).toBe('image/png');
    const diffusionAlias = await s.post('/generate/diffusion', { num: 1, steps: 1 });
    expect(diffusionAlias.status).toBe(200);
  });

  it('scores an image: energy matches the model, percentile among the stored training energies', async () => {
    const res = (await (await s.post('/v1/models/ebm-cifar10/score', { image: image(128) })).json()) as {
      energy: number;
      percentile: number;
    };
    // Independent reference: the checkpoint's model evaluated directly on the same pixels.
    const { models } = await loadCheckpoint(join(root, 'ebm-cifar10'));
    const x = tf.fill([1, TEST_SIZE, TEST_SIZE, 3], 128 / 127.5 - 1);
    const e = energyFunction(models.model as LayersModel)(x);
    expect(res.energy).toBeCloseTo((await e.data())[0] as number, 4);
    tf.dispose([x, e]);
    models.model?.dispose();
    const below = [-2, -1, 0, 1, 2, 3, 4, 5].filter((e) => e < res.energy).length;
    expect(res.percentile).toBeCloseTo((100 * below) / 8, 10);
  });

  it('classifies with probabilities summing to 1 over the CIFAR-10 names', async () => {
    const res = (await (await s.post('/v1/classify', { image: image(30) })).json()) as {
      model: string;
      probabilities: Array<{ label: string; probability: number }>;
      top: { label: string; probability: number };
    };
    expect(res.model).toBe('classifier-cifar10');
    expect(res.probabilities.map((p) => p.label)).toEqual([
      'airplane',
      'automobile',
      'bird',
      'cat',
      'deer',
      'dog',
      'frog',
      'horse',
      'ship',
      'truck',
    ]);
    expect(res.probabilities.reduce((a, p) => a + p.probability, 0)).toBeCloseTo(1, 5);
    expect(res.top.probability).toBe(Math.max(...res.probabilities.map((p) => p.probability)));
  });

  it('rejects an image of the wrong size for the model', async () => {
    const res = await s.post('/v1/classify', { image: image(30, 32) });
    expect(res.status).toBe(400);
  });

  it('keeps tf.memory().numTensors flat over 200 requests (in-process executor)', async () => {
    const requests = [
      () => s.post('/v1/models/ddpm-cifar10/samples', { count: 1, steps: 1, seed: 1 }),
      () => s.post('/v1/models/ddpm-cifar10/samples?stream=1', { count: 1, steps: 1, seed: 2, classLabel: 1, guidance: 2 }),
      () => s.post('/v1/models/ebm-cifar10/samples', { count: 1, steps: 1, seed: 3 }),
      () => s.post('/v1/models/ebm-cifar10/score', { image: image(90) }),
      () => s.post('/v1/classify', { image: image(90) }),
      () => s.post('/v1/models/ddpm-cifar10/samples', { count: 0 }), // a rejected one
    ];
    for (const r of requests) await (await r()).arrayBuffer(); // warm-up
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) {
      const res = await (requests[i % requests.length] as () => Promise<Response>)();
      await res.arrayBuffer();
      expect(res.status).toBe(i % requests.length === 5 ? 400 : 200);
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});
