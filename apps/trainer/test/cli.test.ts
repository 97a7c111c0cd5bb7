import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCheckpoint, silentLogger, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND } from '../../../testing/backend.js';
import { main } from '../src/cli.js';
import { RunDirectory } from '../src/run/run-dir.js';
import { tempDir, writeCifarDir } from './fixtures.js';

let previousBackend: string | undefined;
beforeAll(() => {
  previousBackend = process.env.GENLAB_BACKEND;
  process.env.GENLAB_BACKEND = TEST_BACKEND;
});
afterAll(() => {
  if (previousBackend === undefined) delete process.env.GENLAB_BACKEND;
  else process.env.GENLAB_BACKEND = previousBackend;
});

const classifierFlags = ['--model', 'classifier', '--batch', '4', '--sample-every', '0', '--checkpoint-every', '1000'];

describe('CLI', () => {
  it('on SIGINT finishes the step, writes a loadable checkpoint, exits 130; --resume continues', async () => {
    const dataDir = await writeCifarDir(await tempDir(), 8);
    const out = join(await tempDir(), 'run');
    const running = main(['train', ...classifierFlags, '--out', out, '--steps', '100000', '--data-dir', dataDir], silentLogger);
    while (!existsSync(join(out, 'metrics.jsonl'))) await sleep(20);
    expect(process.listenerCount('SIGINT')).toBeGreaterThan(0);
    process.emit('SIGINT');
    expect(await running).toBe(130);
    expect(process.listenerCount('SIGINT')).toBe(0);

    const latest = await new RunDirectory(out).latestCheckpoint();
    expect(latest?.step).toBeGreaterThanOrEqual(1);
    const saved = await loadCheckpoint(latest?.path as string);
    expect(saved.manifest).toMatchObject({ kind: 'classifier', step: latest?.step, backend: TEST_BACKEND });
    for (const m of Object.values(saved.models)) m.dispose();
    tf.dispose(Object.values(saved.tensors));

    const target = String((latest?.step ?? 0) + 1);
    expect(await main(['train', '--out', out, '--resume', '--steps', target, '--data-dir', dataDir], silentLogger)).toBe(0);
    expect((await new RunDirectory(out).latestCheckpoint())?.step).toBe(Number(target));
  });

  it('rejects bad flags and unknown commands with ValidationError', async () => {
    await expect(main(['train', '--model', 'gan', '--out', 'x'], silentLogger)).rejects.toThrow(/--model must be one of/);
    await expect(main(['train', '--model', 'diffusion', '--out', 'x', '--steps', '2.5'], silentLogger)).rejects.toThrow(ValidationError);
    await expect(main(['train', '--model', 'diffusion', '--out', 'x', '--workers=-1'], silentLogger)).rejects.toThrow(
      /--workers must be an integer ≥ 0, got '-1'/,
    );
    await expect(main(['train', '--model', 'diffusion', '--out', 'x', '--workers', 'two'], silentLogger)).rejects.toThrow(ValidationError);
    await expect(main(['frobnicate'], silentLogger)).rejects.toThrow(/unknown command/);
    await expect(main(['train', '--no-such-flag'], silentLogger)).rejects.toThrow();
  });
});
