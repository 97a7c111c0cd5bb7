import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

/** The folder holding the tfjs wasm binaries, as a file path with a trailing separator. */
export function wasmDistPath(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
}

/** The part of `@tensorflow/tfjs-backend-wasm` used here. */
export interface WasmModule {
  setWasmPaths(prefixOrFileMap: string, usePlatformFetch?: boolean): void;
}

/**
 * Points the wasm backend at its binaries (in Node a file path works: it reads them with fs)
 * and turns multi-threading off: the threaded build needs browser-style workers that Node's
 * tfjs-backend-wasm 4.22 does not set up.
 */
export async function prepareWasm(wasm: WasmModule): Promise<{ simd: boolean }> {
  wasm.setWasmPaths(wasmDistPath());
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  return { simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) };
}
