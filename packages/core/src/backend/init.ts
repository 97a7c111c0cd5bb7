import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { UnavailableError, ValidationError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import { installBackwardRelease } from './kernels/backward-release.js';
import { registerLeanGradients } from './kernels/lean-gradients.js';
import { installLeanSaves } from './kernels/lean-saves.js';
import { registerTrainingKernels } from './kernels/register.js';
import { registerSecondOrderGradients } from './kernels/second-order-gradients.js';
import type { BackendInfo, BackendName } from './types.js';
import { prepareWasm, type WasmModule } from './wasm-setup.js';
import { probeInChildProcess, probeNodeWebGpu, type WebGpuModule } from './webgpu-probe.js';

/** Imports a module by specifier; injected in tests to simulate optional packages present or absent. */
export type ModuleLoader = (specifier: string) => Promise<unknown>;

export interface InitBackendOptions {
  /** Try this backend first; if it is unavailable, fall back in the usual order. */
  prefer?: BackendName;
  /** Use exactly this backend or throw `UnavailableError` (default: `GENLAB_BACKEND`). */
  force?: BackendName;
  logger?: Logger;
  /** Accept a software WebGPU adapter (llvmpipe, lavapipe, SwiftShader); off because wasm beats it. */
  allowSoftwareWebgpu?: boolean;
  /** Environment to read `GENLAB_BACKEND` from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Module loader (default: dynamic `import()`). */
  loader?: ModuleLoader;
}

/**
 * Best first, by measured speed (docs/bench/latest.md): GPU backends before CPU ones, then
 * LibTorch (PyTorch's own kernels: ~4× tfjs-wasm here) before libtensorflow 2.9, wasm and
 * pure JS. `torch` stands first because a CUDA LibTorch is the fastest GPU route; a
 * CPU-only LibTorch is passed over there and tried after the GPU backends (`TORCH_CPU_AFTER`).
 */
export const BACKEND_ORDER: readonly BackendName[] = ['torch', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

/** Where a CPU-only LibTorch is tried in the automatic order: after the GPU backends. */
const TORCH_CPU_AFTER: BackendName = 'webgpu';

const ALIASES: Record<string, BackendName> = {
  torch: 'torch',
  libtorch: 'torch',
  'tensorflow-gpu': 'tensorflow-gpu',
  'node-gpu': 'tensorflow-gpu',
  'tfjs-node-gpu': 'tensorflow-gpu',
  tensorflow: 'tensorflow',
  node: 'tensorflow',
  'tfjs-node': 'tensorflow',
  webgpu: 'webgpu',
  wasm: 'wasm',
  cpu: 'cpu',
};

/** Parses a backend name as written in `GENLAB_BACKEND` (also accepts `node`, `node-gpu`). */
export function parseBackendName(value: string): BackendName {
  const name = ALIASES[value.trim().toLowerCase()];
  if (name === undefined) throw new ValidationError(`Unknown backend '${value}'; expected one of ${BACKEND_ORDER.join(', ')}`);
  return name;
}

type Attempt = { ok: true; tfBackend: string; detail: string } | { ok: false; reason: string; cpuOnlyTorch?: true };

const defaultLoader: ModuleLoader = (specifier) => import(specifier);

function isMissingModule(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

function describe(error: unknown): string {
  if (isMissingModule(error)) return 'not installed';
  const message = error instanceof Error ? error.message : String(error);
  return `failed to load: ${message.split('\n')[0]}`;
}

async function activate(tfBackend: string): Promise<boolean> {
  if (tf.findBackendFactory(tfBackend) === null) return false;
  try {
    return await tf.setBackend(tfBackend);
  } catch {
    return false;
  }
}

async function tryNative(name: 'tensorflow-gpu' | 'tensorflow', loader: ModuleLoader): Promise<Attempt> {
  const specifier = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  try {
    await loader(specifier);
  } catch (error) {
    return { ok: false, reason: `${specifier} ${describe(error)}` };
  }
  if (!(await activate('tensorflow'))) return { ok: false, reason: `${specifier} loaded but its backend did not start` };
  return { ok: true, tfBackend: 'tensorflow', detail: specifier };
}

/** The part of `@lab/backend-torch` that `initBackend` uses. */
interface TorchModule {
  torchStatus(): { available: true; detail: string; settings: { device: string } } | { available: false; reason: string };
}

async function tryTorch(loader: ModuleLoader, gpuOnly: boolean): Promise<Attempt> {
  let torch: TorchModule;
  try {
    torch = (await loader('@lab/backend-torch')) as TorchModule;
  } catch (error) {
    return { ok: false, reason: `@lab/backend-torch ${describe(error)}` };
  }
  const status = torch.torchStatus();
  if (!status.available) return { ok: false, reason: status.reason };
  if (gpuOnly && !status.settings.device.startsWith('cuda')) return { ok: false, reason: 'LibTorch has no CUDA here', cpuOnlyTorch: true };
  if (!(await activate('torch'))) return { ok: false, reason: `the torch backend did not start (${status.detail})` };
  return { ok: true, tfBackend: 'torch', detail: status.detail };
}

async function tryWebGpu(loader: ModuleLoader, allowSoftware: boolean): Promise<Attempt> {
  // With the real module loader, look for an adapter in a child process first: without a GPU
  // driver, Dawn prints its diagnostics to stderr, which belong in the skip reason instead.
  if (loader === defaultLoader) {
    let url: string | undefined;
    try {
      url = import.meta.resolve('webgpu');
    } catch (error) {
      return { ok: false, reason: `webgpu (Dawn) ${describe(error)}` };
    }
    const outside = probeInChildProcess(url);
    if (outside !== undefined && !outside.adapter) {
      return {
        ok: false,
        reason: `no WebGPU adapter (no Vulkan/Metal/D3D12 driver${outside.diagnostics ? `: ${outside.diagnostics}` : ''})`,
      };
    }
  }
  let webgpu: WebGpuModule;
  try {
    webgpu = (await loader('webgpu')) as WebGpuModule;
  } catch (error) {
    return { ok: false, reason: `webgpu (Dawn) ${describe(error)}` };
  }
  let probe: Awaited<ReturnType<typeof probeNodeWebGpu>>;
  try {
    probe = await probeNodeWebGpu(webgpu);
  } catch (error) {
    return { ok: false, reason: `Dawn failed: ${describe(error)}` };
  }
  if (probe === null) return { ok: false, reason: 'no WebGPU adapter (no Vulkan/Metal/D3D12 driver)' };
  if (probe.software && !allowSoftware) return { ok: false, reason: `only a software adapter (${probe.description}), slower than wasm` };
  probe.install();
  try {
    await loader('@tensorflow/tfjs-backend-webgpu');
  } catch (error) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-webgpu ${describe(error)}` };
  }
  if (!(await activate('webgpu'))) return { ok: false, reason: `the webgpu backend did not start on ${probe.description}` };
  return { ok: true, tfBackend: 'webgpu', detail: probe.description + (probe.software ? ' (software)' : '') };
}

async function tryWasm(loader: ModuleLoader): Promise<Attempt> {
  let simd: boolean;
  try {
    const wasm = (await loader('@tensorflow/tfjs-backend-wasm')) as WasmModule;
    ({ simd } = await prepareWasm(wasm));
  } catch (error) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-wasm ${describe(error)}` };
  }
  if (!(await activate('wasm'))) return { ok: false, reason: 'the wasm backend did not start' };
  return { ok: true, tfBackend: 'wasm', detail: `${simd ? 'SIMD' : 'no SIMD'}, single-threaded` };
}

async function tryCpu(): Promise<Attempt> {
  if (!(await activate('cpu'))) return { ok: false, reason: 'the cpu backend did not start' };
  return { ok: true, tfBackend: 'cpu', detail: 'pure JavaScript' };
}

function attempt(
  name: BackendName,
  options: { loader: ModuleLoader; allowSoftwareWebgpu: boolean },
  torchGpuOnly = false,
): Promise<Attempt> {
  switch (name) {
    case 'torch':
      return tryTorch(options.loader, torchGpuOnly);
    case 'tensorflow-gpu':
    case 'tensorflow':
      return tryNative(name, options.loader);
    case 'webgpu':
      return tryWebGpu(options.loader, options.allowSoftwareWebgpu);
    case 'wasm':
      return tryWasm(options.loader);
    case 'cpu':
      return tryCpu();
  }
}

function summary(info: BackendInfo): string {
  const skipped = info.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  const why = info.forced ? 'forced' : skipped ? `skipped ${skipped}` : 'the best available';
  return `tfjs backend ${info.name} (${info.detail}); ${why}`;
}

/**
 * Chooses and activates a tfjs backend without caching (see `initBackend`). Exposed for
 * tests, which inject `loader` to simulate the optional native packages absent or present.
 */
export async function selectBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger;
  const forcedValue = options.force ?? (env.GENLAB_BACKEND ? parseBackendName(env.GENLAB_BACKEND) : undefined);
  const allowSoftwareWebgpu = options.allowSoftwareWebgpu ?? (forcedValue === 'webgpu' || env.GENLAB_ALLOW_SOFTWARE_WEBGPU === '1');
  const context = { loader: options.loader ?? defaultLoader, allowSoftwareWebgpu };

  let info: BackendInfo;
  if (forcedValue !== undefined) {
    const result = await attempt(forcedValue, context);
    if (!result.ok) throw new UnavailableError(`Backend '${forcedValue}' was forced but is unavailable: ${result.reason}`);
    info = { name: forcedValue, tfBackend: result.tfBackend, detail: result.detail, skipped: [], forced: true };
  } else {
    const order = options.prefer ? [options.prefer, ...BACKEND_ORDER.filter((n) => n !== options.prefer)] : [...BACKEND_ORDER];
    const skipped: { name: BackendName; reason: string }[] = [];
    let chosen: BackendInfo | undefined;
    for (let i = 0; i < order.length; i++) {
      const name = order[i] as BackendName;
      // Ahead of the GPU backends, torch counts only with CUDA; a CPU-only LibTorch moves behind them.
      const torchGpuOnly = name === 'torch' && options.prefer !== 'torch' && order.includes(TORCH_CPU_AFTER, i);
      const result = await attempt(name, context, torchGpuOnly);
      if (result.ok) {
        chosen = { name, tfBackend: result.tfBackend, detail: result.detail, skipped, forced: false };
        break;
      }
      if (result.cpuOnlyTorch) {
        order.splice(order.indexOf(TORCH_CPU_AFTER) + 1, 0, 'torch');
        continue;
      }
      skipped.push({ name, reason: result.reason });
    }
    if (chosen === undefined)
      throw new UnavailableError(`No tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
    info = chosen;
  }
  registerTrainingKernels(info.tfBackend);
  registerSecondOrderGradients();
  registerLeanGradients();
  installBackwardRelease();
  installLeanSaves();
  logger.info(summary(info), { backend: info.name, detail: info.detail, skipped: info.skipped, forced: info.forced });
  return info;
}

let initialised: Promise<BackendInfo> | undefined;

/**
 * Initialises TensorFlow.js once with the best backend available: LibTorch on CUDA →
 * tfjs-node-gpu → WebGPU through Dawn (hardware adapters only unless allowed) → LibTorch on
 * CPU → tfjs-node → wasm (SIMD, single-threaded) → cpu. `GENLAB_BACKEND` (or `force`) demands one backend and throws
 * `UnavailableError` if it cannot start. Registers the training kernels the chosen backend
 * lacks, logs one line naming the backend and why better ones were skipped, and returns
 * the same `BackendInfo` on every later call (their options are ignored).
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (initialised === undefined) {
    initialised = selectBackend(options).catch((error: unknown) => {
      initialised = undefined;
      throw error;
    });
  }
  return initialised;
}
