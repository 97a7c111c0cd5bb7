import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { initBackend, type ModuleLoader, selectBackend } from '../../src/backend/init.js';
import { probeInChildProcess } from '../../src/backend/webgpu-probe.js';
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
/** A `@lab/backend-torch` stand-in: LibTorch on `device`, or unavailable for `reason`. */
function fakeTorch(state: { device: 'cpu' | 'cuda' } | { reason: string }) {
  return {
    torchStatus: () => {
      if ('reason' in state) return { available: false, reason: state.reason };
      tf.registerBackend('torch', () => new MathBackendCPU());
      return { available: true, detail: `LibTorch 1.13.0, ${state.device}, 2 threads`, settings: { device: state.device } };
    },
  };
}

function loader(present: {
  native?: boolean;
  nativeGpu?: boolean;
  webgpu?: ReturnType<typeof fakeWebGpu>;
  wasm?: boolean;
  torch?: ReturnType<typeof fakeTorch>;
}): {
  load: ModuleLoader;
  requested: string[];
} {
  const requested: string[] = [];
  const load: ModuleLoader = async (specifier) => {
    requested.push(specifier);
    switch (specifier) {
      case '@lab/backend-torch':
        if (!present.torch) throw missing(specifier);
        return present.torch;
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
  for (const name of ['tensorflow', 'webgpu', 'torch']) if (tf.findBackendFactory(name)) tf.removeBackend(name);
  await tf.setBackend('cpu');
});

describe('selectBackend fallback order', () => {
  it('falls back to wasm when the native packages are absent and Dawn finds no adapter, logging one line', async () => {
    const { load, requested } = loader({ webgpu: fakeWebGpu(null), wasm: true });
    const logger = recordingLogger();
    const info = await selectBackend({ loader: load, env: {}, logger });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.skipped.map((s) => s.name)).toEqual(['torch', 'tensorflow-gpu', 'webgpu', 'tensorflow']);
    expect(info.skipped[0]?.reason).toMatch(/not installed/);
    expect(info.skipped[2]?.reason).toMatch(/no WebGPU adapter/);
    expect(requested.slice(0, 4)).toEqual(['@lab/backend-torch', '@tensorflow/tfjs-node-gpu', 'webgpu', '@tensorflow/tfjs-node']);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatch(
      /tfjs backend wasm .*torch: .*not installed.*tensorflow-gpu: .*not installed.*webgpu: no WebGPU adapter/,
    );
    // The training kernels come with the choice.
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('falls back to cpu when wasm is absent too', async () => {
    const info = await selectBackend({ loader: loader({}).load, env: {} });
    expect(info.name).toBe('cpu');
    expect(info.skipped.map((s) => s.name)).toEqual(['torch', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm']);
  });

  it('prefers tfjs-node over wasm when present', async () => {
    const { load, requested } = loader({ native: true, webgpu: fakeWebGpu(null), wasm: true });
    const info = await selectBackend({ loader: load, env: {} });
    expect(info).toMatchObject({ name: 'tensorflow', tfBackend: 'tensorflow', forced: false });
    expect(info.skipped.map((s) => s.name)).toEqual(['torch', 'tensorflow-gpu', 'webgpu']);
    expect(requested).not.toContain('@tensorflow/tfjs-backend-wasm');
  });

  it('takes a CUDA LibTorch before every other backend', async () => {
    const nvidia = fakeWebGpu({ info: { vendor: 'nvidia', description: 'NVIDIA H200' } });
    const { load, requested } = loader({ torch: fakeTorch({ device: 'cuda' }), nativeGpu: true, webgpu: nvidia, wasm: true });
    const info = await selectBackend({ loader: load, env: {} });
    expect(info).toMatchObject({ name: 'torch', tfBackend: 'torch', skipped: [] });
    expect(info.detail).toMatch(/cuda/);
    expect(requested).toEqual(['@lab/backend-torch']);
  });

  it('tries a CPU-only LibTorch after the GPU backends and before tfjs-node and wasm', async () => {
    const cpuTorch = () => fakeTorch({ device: 'cpu' });
    const nvidia = fakeWebGpu({ info: { vendor: 'nvidia', description: 'NVIDIA H200' } });
    const onGpu = await selectBackend({ loader: loader({ torch: cpuTorch(), webgpu: nvidia, wasm: true }).load, env: {} });
    expect(onGpu.name).toBe('webgpu');
    expect(onGpu.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu']);
    tf.removeBackend('webgpu');

    const { load, requested } = loader({ torch: cpuTorch(), native: true, webgpu: fakeWebGpu(null), wasm: true });
    const onCpu = await selectBackend({ loader: load, env: {} });
    expect(onCpu).toMatchObject({ name: 'torch', tfBackend: 'torch' });
    expect(onCpu.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'webgpu']);
    expect(requested).not.toContain('@tensorflow/tfjs-node');
  });

  it("reports why LibTorch was skipped, and fails loudly when it is forced but can't run", async () => {
    const reason = 'the LibTorch addon was not built at install: no LibTorch found';
    const info = await selectBackend({ loader: loader({ torch: fakeTorch({ reason }), wasm: true }).load, env: {} });
    expect(info.name).toBe('wasm');
    expect(info.skipped.find((s) => s.name === 'torch')?.reason).toBe(reason);
    await expect(
      selectBackend({ loader: loader({ torch: fakeTorch({ reason }), wasm: true }).load, env: { GENLAB_BACKEND: 'torch' } }),
    ).rejects.toThrow(/'torch' was forced but is unavailable: the LibTorch addon was not built/);
  });

  it('takes tfjs-node-gpu when it loads and no CUDA LibTorch does', async () => {
    const info = await selectBackend({
      loader: loader({ nativeGpu: true, native: true, torch: fakeTorch({ device: 'cpu' }) }).load,
      env: {},
    });
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
    expect(fallback.skipped.map((s) => s.name)).toEqual(['wasm', 'torch', 'tensorflow-gpu', 'webgpu']);
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

describe('probeInChildProcess', () => {
  it("reports Dawn's adapter and diagnostics from a child process, and undefined when the child fails", () => {
    let url: string | undefined;
    try {
      url = import.meta.resolve('webgpu');
    } catch {
      url = undefined;
    }
    if (url !== undefined) {
      const probe = probeInChildProcess(url);
      expect(typeof probe?.adapter).toBe('boolean');
      // Without a GPU driver Dawn says why (this machine and CI: no libvulkan).
      if (probe?.adapter === false) expect(probe.diagnostics).toMatch(/Vulkan/);
    }
    expect(probeInChildProcess('file:///no/such/module.js')).toBeUndefined();
  });
});
