import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { initBackend, type ModuleLoader, selectBackend } from '../../src/backend/init.js';
import { UnavailableError, ValidationError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';

function missing(specifier: string): Error {
  return Object.assign(new Error(`Cannot find package '${specifier}'`), { code: 'ERR_MODULE_NOT_FOUND' });
}

/** A Dawn stand-in whose adapter is `adapter` (null: no driver). */
function fakeWebGpu(adapter: { info: { vendor: string; description: string } } | null) {
  return { create: () => ({ requestAdapter: async () => adapter }), globals: {} };
}

/**
 * A loader simulating which optional packages are installed. Present native/webgpu
 * packages register a stand-in backend under tfjs's real name, as the real ones do.
 */
function loader(present: { native?: boolean; nativeGpu?: boolean; webgpu?: ReturnType<typeof fakeWebGpu>; wasm?: boolean }): {
  load: ModuleLoader;
  requested: string[];
} {
  const requested: string[] = [];
  const load: ModuleLoader = async (specifier) => {
    requested.push(specifier);
    switch (specifier) {
      case '@tensorflow/tfjs-node-gpu':
      case '@tensorflow/tfjs-node':
        if (!(specifier.endsWith('gpu') ? present.nativeGpu : present.native)) throw missing(specifier);
        tf.registerBackend('tensorflow', () => new MathBackendCPU());
        return {};
      case 'webgpu':
        if (!present.webgpu) throw missing(specifier);
        return present.webgpu;
      case '@tensorflow/tfjs-backend-webgpu':
        tf.registerBackend('webgpu', () => new MathBackendCPU());
        return {};
      case '@tensorflow/tfjs-backend-wasm':
        if (!present.wasm) throw missing(specifier);
        return import(specifier);
      default:
        throw missing(specifier);
    }
  };
  return { load, requested };
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const record = (m: string) => lines.push(m);
  return { lines, debug: record, info: record, warn: record, error: record };
}

afterEach(async () => {
  for (const name of ['tensorflow', 'webgpu']) if (tf.findBackendFactory(name)) tf.removeBackend(name);
  await tf.setBackend('cpu');
});

describe('selectBackend fallback order', () => {
  it('falls back to wasm when the native packages are absent and Dawn finds no adapter, logging one line', async () => {
    const { load, requested } = loader({ webgpu: fakeWebGpu(null), wasm: true });
    const logger = recordingLogger();
    const info = await selectBackend({ loader: load, env: {}, logger });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'webgpu']);
    expect(info.skipped[0]?.reason).toMatch(/not installed/);
    expect(info.skipped[2]?.reason).toMatch(/no WebGPU adapter/);
    expect(requested.slice(0, 3)).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', 'webgpu']);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatch(/tfjs backend wasm .*tensorflow-gpu: .*not installed.*webgpu: no WebGPU adapter/);
    // The training kernels come with the choice.
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('falls back to cpu when wasm is absent too', async () => {
    const info = await selectBackend({ loader: loader({}).load, env: {} });
    expect(info.name).toBe('cpu');
    expect(info.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm']);
  });

  it('prefers tfjs-node over everything below it when present', async () => {
    const { load, requested } = loader({ native: true, webgpu: fakeWebGpu(null), wasm: true });
    const info = await selectBackend({ loader: load, env: {} });
    expect(info).toMatchObject({ name: 'tensorflow', tfBackend: 'tensorflow', forced: false });
    expect(info.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu']);
    expect(requested).not.toContain('webgpu');
  });

  it('takes tfjs-node-gpu first when it loads', async () => {
    const info = await selectBackend({ loader: loader({ nativeGpu: true, native: true }).load, env: {} });
    expect(info.name).toBe('tensorflow-gpu');
    expect(info.skipped).toEqual([]);
  });

  it('skips a software WebGPU adapter unless allowed', async () => {
    const llvmpipe = fakeWebGpu({ info: { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.7, 256 bits)' } });
    const skipped = await selectBackend({ loader: loader({ webgpu: llvmpipe, wasm: true }).load, env: {} });
    expect(skipped.name).toBe('wasm');
    expect(skipped.skipped.find((s) => s.name === 'webgpu')?.reason).toMatch(/software adapter.*llvmpipe/);

    const allowed = await selectBackend({ loader: loader({ webgpu: llvmpipe, wasm: true }).load, env: {}, allowSoftwareWebgpu: true });
    expect(allowed.name).toBe('webgpu');
    expect(allowed.detail).toMatch(/llvmpipe.*software/);
  });

  it('uses a hardware WebGPU adapter before wasm', async () => {
    const nvidia = fakeWebGpu({ info: { vendor: 'nvidia', description: 'NVIDIA H200' } });
    const info = await selectBackend({ loader: loader({ webgpu: nvidia, wasm: true }).load, env: {} });
    expect(info).toMatchObject({ name: 'webgpu', tfBackend: 'webgpu' });
    expect(info.detail).toMatch(/NVIDIA H200/);
  });

  it('honours GENLAB_BACKEND, and fails loudly when the forced backend is unavailable', async () => {
    const forced = await selectBackend({ loader: loader({ native: true, wasm: true }).load, env: { GENLAB_BACKEND: 'cpu' } });
    expect(forced).toMatchObject({ name: 'cpu', forced: true, skipped: [] });
    await expect(selectBackend({ loader: loader({ wasm: true }).load, env: { GENLAB_BACKEND: 'node' } })).rejects.toBeInstanceOf(
      UnavailableError,
    );
    await expect(selectBackend({ loader: loader({}).load, env: { GENLAB_BACKEND: 'tpu' } })).rejects.toBeInstanceOf(ValidationError);
  });

  it('tries a preferred backend first and falls back in order when it fails', async () => {
    const info = await selectBackend({ loader: loader({ native: true, wasm: true }).load, env: {}, prefer: 'wasm' });
    expect(info.name).toBe('wasm');
    const fallback = await selectBackend({ loader: loader({ native: true }).load, env: {}, prefer: 'wasm' });
    expect(fallback.name).toBe('tensorflow');
    expect(fallback.skipped.map((s) => s.name)).toEqual(['wasm', 'tensorflow-gpu']);
  });
});

describe('initBackend', () => {
  it('initialises once and returns the same info on later calls', async () => {
    const first = await initBackend({ force: 'cpu' });
    const second = await initBackend({ force: 'wasm' });
    expect(second).toBe(first);
    expect(first.name).toBe('cpu');
  });
});
