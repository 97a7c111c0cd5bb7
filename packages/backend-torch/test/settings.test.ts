import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without types
import { findLibTorch } from '../scripts/libtorch.mjs';
import { settingsFromEnv } from '../src/settings.js';

describe('settingsFromEnv', () => {
  it('uses every core and CUDA when LibTorch has it, unless told otherwise', () => {
    expect(settingsFromEnv({}, false).device).toBe('cpu');
    expect(settingsFromEnv({}, true).device).toBe('cuda');
    expect(settingsFromEnv({ GENLAB_TORCH_DEVICE: 'CPU' }, true).device).toBe('cpu');
    expect(settingsFromEnv({ GENLAB_TORCH_THREADS: '3' }, false).threads).toBe(3);
    expect(settingsFromEnv({}, false).threads).toBeGreaterThanOrEqual(1);
    expect(settingsFromEnv({}, false).malloc).toBe('retain');
    expect(settingsFromEnv({}, false).blasThreads).toBe(1);
    expect(settingsFromEnv({ GENLAB_TORCH_BLAS_THREADS: '2' }, false).blasThreads).toBe(2);
    expect(settingsFromEnv({ GENLAB_TORCH_MALLOC: ' System ' }, false).malloc).toBe('system');
  });

  it('rejects nonsense with the variable named', () => {
    expect(() => settingsFromEnv({ GENLAB_TORCH_THREADS: '0' }, false)).toThrow(/GENLAB_TORCH_THREADS must be a whole number ≥ 1, not '0'/);
    expect(() => settingsFromEnv({ GENLAB_TORCH_THREADS: 'two' }, false)).toThrow(/GENLAB_TORCH_THREADS/);
    expect(() => settingsFromEnv({ GENLAB_TORCH_DEVICE: 'tpu' }, false)).toThrow(/GENLAB_TORCH_DEVICE must be cpu, cuda or cuda:N/);
    expect(() => settingsFromEnv({ GENLAB_TORCH_BLAS_THREADS: '0' }, false)).toThrow(
      /GENLAB_TORCH_BLAS_THREADS must be a whole number ≥ 1, not '0'/,
    );
    expect(() => settingsFromEnv({ GENLAB_TORCH_MALLOC: 'jemalloc' }, false)).toThrow(
      /GENLAB_TORCH_MALLOC must be retain or system, not 'jemalloc'/,
    );
  });
});

describe('findLibTorch (the install script)', () => {
  it('says what is missing from a LIBTORCH folder', () => {
    const empty = mkdtempSync(join(tmpdir(), 'libtorch-'));
    const found = findLibTorch({ LIBTORCH: empty });
    expect(found.source).toBeUndefined();
    expect(found.reason).toContain(`LIBTORCH=${empty} holds no include/ATen/ATen.h and lib/libtorch_cpu.so`);
  });
});
