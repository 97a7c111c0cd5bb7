import { spawnSync } from 'node:child_process';

/** What the `webgpu` (Dawn) package reports about the adapter it would use. */
export interface WebGpuAdapterReport {
  readonly description: string;
  readonly software: boolean;
}

/** The parts of the `webgpu` npm package used here. */
export interface WebGpuModule {
  create(flags: string[]): { requestAdapter(options?: unknown): Promise<WebGpuAdapterLike | null> };
  globals?: Record<string, unknown>;
}

interface WebGpuAdapterLike {
  readonly info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render/i;

/** A found adapter, and how to expose its GPU to tfjs. */
export interface WebGpuProbe extends WebGpuAdapterReport {
  /**
   * Installs `navigator.gpu` and the WebGPU globals (`GPUBufferUsage`, …). Must run before
   * `@tensorflow/tfjs-backend-webgpu` is first imported: it registers itself only when it
   * sees `navigator.gpu` then.
   */
  install(): void;
}

/** What `probeInChildProcess` learned: whether Dawn found an adapter, and what it printed. */
export interface OutOfProcessProbe {
  readonly adapter: boolean;
  /** Dawn's own diagnostics (stderr), e.g. why it could not load Vulkan. */
  readonly diagnostics: string;
}

const CHILD_PROBE = `
const webgpu = await import(process.argv[1]);
const adapter = await webgpu.create([]).requestAdapter({ powerPreference: 'high-performance' });
process.stdout.write(JSON.stringify({ adapter: adapter !== null }));
process.exit(0);`;

/**
 * Asks Dawn for an adapter in a child process, so that what Dawn prints when it finds no
 * driver ("Warning: Couldn't load Vulkan … BackendVk.cpp:368") goes into the skip reason
 * instead of this process's stderr. Undefined when the child itself fails.
 */
export function probeInChildProcess(webgpuUrl: string, timeoutMs = 20_000): OutOfProcessProbe | undefined {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD_PROBE, webgpuUrl], {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.status !== 0) return undefined;
  try {
    const { adapter } = JSON.parse(child.stdout) as { adapter: boolean };
    const diagnostics = (child.stderr ?? '')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('at '))
      .map((line) => line.replace(/^Warning: /, ''))
      .join('; ');
    return { adapter, diagnostics };
  } catch {
    return undefined;
  }
}

/**
 * Creates a Dawn GPU and asks it for a high-performance adapter. Returns null when there is
 * none (no Vulkan/Metal/D3D driver); flags software rasterisers (llvmpipe, lavapipe,
 * SwiftShader), which run tfjs slower than wasm.
 */
export async function probeNodeWebGpu(webgpu: WebGpuModule): Promise<WebGpuProbe | null> {
  const gpu = webgpu.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) return null;
  const info = adapter.info ?? {};
  const description =
    [info.vendor, info.architecture, info.device, info.description].filter((s) => s !== undefined && s !== '').join(' ') ||
    'unknown adapter';
  const software = Boolean(adapter.isFallbackAdapter || info.isFallbackAdapter) || SOFTWARE_ADAPTER.test(description);
  const install = () => {
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (webgpu.globals) Object.assign(globalThis, webgpu.globals);
    if (g.navigator === undefined) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    else if (g.navigator.gpu === undefined) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  };
  return { description, software, install };
}
