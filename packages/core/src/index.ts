export {
  GROUP_NORM_GRAD_KERNEL,
  GROUP_NORM_KERNEL,
  hasFusedKernel,
  SILU_GRAD_KERNEL,
  SILU_KERNEL,
} from './backend/fused-kernels.js';
export * from './backend/init.js';
export { getStockKernel, registerTrainingKernels, type TrainingKernelReport } from './backend/kernels/register.js';
export type * from './backend/types.js';
export { prepareWasm, type WasmModule, wasmDistPath } from './backend/wasm-setup.js';
export {
  type CheckpointContents,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  loadCheckpoint,
  readManifest,
  type SaveCheckpointOptions,
  saveCheckpoint,
} from './checkpoints/checkpoint.js';
export { float16BitsToNumber, float32ToFloat16, float32ToFloat16Bits } from './checkpoints/float16.js';
export { type CheckpointWriter, fsWriter } from './checkpoints/fs-writer.js';
export { type LoadedModelCheckpoint, loadModelCheckpoint } from './checkpoints/load-model.js';
export { type GenlabManifest, MANIFEST_FILE, type ModelKind, parseManifest } from './checkpoints/manifest.js';
export { fileSystemModelHandler, type ModelIOOptions } from './checkpoints/model-io.js';
export { createGenlabContainer, type GenlabContainerOptions } from './container.js';
export * from './errors.js';
export * from './images/codec.js';
export { type DecodeImageOptions, decodeImage, imageBytesToTensor } from './images/decode.js';
export { type GridOptions, gridLayout, gridPng, tileGrid } from './images/grid.js';
export { type DecodedImage, decodePng, encodePng, type PixelChannels } from './images/png.js';
export { tensorToUint8, uint8ToTensor } from './images/tensor.js';
export * from './logger.js';
export { CIFAR10_CLASS_NAMES, FEATURES_LAYER } from './model-conventions.js';
export { ADAM_UPDATE_KERNEL, type AdamUpdateAttrs, adam, FusedAdamOptimizer } from './optim/adam.js';
export * from './rng.js';
export { readRows } from './tensor-rows.js';
export * from './tokens.js';
