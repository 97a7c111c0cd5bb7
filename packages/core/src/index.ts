export * from './backend/init.js';
export { getStockKernel, registerTrainingKernels, type TrainingKernelReport } from './backend/kernels/register.js';
export type * from './backend/types.js';
export { prepareWasm, type WasmModule, wasmDistPath } from './backend/wasm-setup.js';
export * from './errors.js';
export type * from './images/codec.js';
export * from './logger.js';
export * from './rng.js';
export * from './tokens.js';
