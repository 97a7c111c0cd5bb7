import type { Job, ModelInfo } from '@lab/api-plugin';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createRedis, redactUrl } from '../src/queue/connection.js';
import { decodeJob, decodeProgress, decodeResult, encodeJob, encodeProgress, encodeResult } from '../src/queue/wire.js';

const INFO: ModelInfo = {
  capabilities: ['unconditional', 'class-conditional', 'inpaint', 'score'],
  samplers: ['ddpm', 'ddim'],
  defaultSteps: 3,
  maxSteps: 50,
  imageShape: [2, 2, 3],
  numClasses: 3,
};

const sample: Job = {
  op: 'sample',
  model: 'm',
  params: { count: 2, seed: 5, sampler: 'ddim', steps: 10, classLabel: 1, guidance: 4, guidanceRescale: 0.7 },
  output: { grid: true, images: false },
  previewEvery: 2,
};

const image = (channels: number, fill: number) => ({ pixels: new Uint8Array(4 * channels).fill(fill), width: 2, height: 2, channels });

describe('queue wire format', () => {
  it('round-trips every job kind through JSON', () => {
    const inpaint: Job = { ...sample, op: 'inpaint', image: image(3, 7), mask: image(1, 255) };
    const score: Job = { op: 'score', model: 'm', images: [image(3, 9)] };
    for (const job of [sample, inpaint, score]) {
      expect(decodeJob(JSON.parse(JSON.stringify(encodeJob(job))), 'm', INFO)).toEqual(job);
    }
  });

  it('never trusts the queue: a job for another model, outside the model limits, or with bad pixels is refused', () => {
    const wire = (job: Job) => JSON.parse(JSON.stringify(encodeJob(job)));
    expect(() => decodeJob(wire(sample), 'other', INFO)).toThrow(/arrived on the queue of "other"/);
    expect(() => decodeJob(wire({ ...sample, params: { ...sample.params, steps: 51 } }), 'm', INFO)).toThrow(/at most 50/);
    expect(() => decodeJob(wire({ ...sample, params: { ...sample.params, sampler: 'langevin' } }), 'm', INFO)).toThrow(/sampler/);
    expect(() => decodeJob(wire({ ...sample, params: { ...sample.params, classLabel: 3 } }), 'm', INFO)).toThrow(/classLabel/);
    expect(() => decodeJob(wire({ ...sample, params: { ...sample.params, guidanceRescale: 2 } }), 'm', INFO)).toThrow(/Invalid job/);
    expect(() => decodeJob({ ...wire(sample), extra: 1 }, 'm', INFO)).toThrow(/Invalid job/);
    expect(() => decodeJob({ ...wire(sample), model: '../etc' }, 'm', INFO)).toThrow(/Invalid job/);
    const short = { op: 'score', model: 'm', images: [{ pixels: 'AAAA', width: 2, height: 2, channels: 3 }] };
    expect(() => decodeJob(short, 'm', INFO)).toThrow(/3 bytes for 2x2x3/);
    const tall = wire({ op: 'score', model: 'm', images: [{ ...image(3, 1), width: 1, height: 4 }] });
    expect(() => decodeJob(tall, 'm', INFO)).toThrow(/must be 2x2 pixels/);
  });

  it('round-trips results and progress, bytes included', () => {
    const result = {
      op: 'sample' as const,
      seed: 3,
      count: 2,
      grid: new Uint8Array([1, 2, 3]),
      images: [new Uint8Array([4]), new Uint8Array([5, 6])],
    };
    expect(decodeResult(encodeResult(result))).toEqual(result);
    const classify = { op: 'classify' as const, probabilities: [[0.25, 0.75]] };
    expect(decodeResult(encodeResult(classify))).toEqual(classify);
    const progress = { step: 2, total: 9, preview: new Uint8Array([137, 80]) };
    expect(decodeProgress(encodeProgress(progress))).toEqual(progress);
  });
});

describe('queue settings', () => {
  it('keeps the embedded pool as the default and samples nothing on an API node with a queue unless asked', () => {
    expect(loadConfig({}).poolSize).toBe(1);
    expect(loadConfig({}).queue).toBeUndefined();
    const queued = loadConfig({ GENLAB_QUEUE_URL: 'redis://:secret@redis:6379/2' });
    expect(queued.poolSize).toBe(0);
    expect(queued.queue).toMatchObject({
      url: 'redis://:secret@redis:6379/2',
      prefix: 'genlab',
      resultTtlSeconds: 600,
      lockMs: 30_000,
      maxStalls: 1,
    });
    expect(loadConfig({ GENLAB_QUEUE_URL: 'redis://redis', GENLAB_POOL_SIZE: '2' }).poolSize).toBe(2);
    expect(() => loadConfig({ GENLAB_QUEUE_URL: 'http://redis' })).toThrow(/GENLAB_QUEUE_URL/);
    expect(() => loadConfig({ GENLAB_QUEUE_URL: 'redis://r', GENLAB_QUEUE_PREFIX: 'a:b' })).toThrow(/GENLAB_QUEUE_PREFIX/);
  });

  it('passes the password and rediss:// TLS options to the client, and masks the password in logs', () => {
    const client = createRedis(
      {
        url: 'rediss://user:s3cret@127.0.0.1:1/3',
        prefix: 'genlab',
        resultTtlSeconds: 1,
        lockMs: 1000,
        maxStalls: 1,
        tls: { ca: 'CA PEM', rejectUnauthorized: false },
      },
      'request',
    );
    client.on('error', () => undefined);
    try {
      expect(client.options).toMatchObject({
        username: 'user',
        password: 's3cret',
        db: 3,
        tls: { ca: 'CA PEM', rejectUnauthorized: false },
        enableOfflineQueue: false,
      });
    } finally {
      client.disconnect();
    }
    expect(redactUrl('rediss://user:s3cret@host:6380')).toBe('rediss://user:***@host:6380');
  });
});
