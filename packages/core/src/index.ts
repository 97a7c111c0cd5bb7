export { dropout } from './backend/dropout.js';
export {
  CONV2D_BIAS_ACTIVATION_GRAD_KERNEL,
  CONV2D_BIAS_ACTIVATION_KERNEL,
  DENSE_BIAS_ACTIVATION_GRAD_KERNEL,
  DENSE_BIAS_ACTIVATION_KERNEL,
  DROPOUT_MASK_KERNEL,
  GROUP_NORM_GRAD_KERNEL,
  GROUP_NORM_KERNEL,
  hasFusedKernel,
  SEEDED_NORMAL_KERNEL,
  SILU_GRAD_KERNEL,
  SILU_KERNEL,
} from './backend/fused-kernels.js';
export {
  type Conv2DBiasActivationOptions,
  conv2dBiasActivation,
  denseBiasActivation,
  type LayerActivation,
} from './backend/fused-layers.js';
export { type InitBackendOptions, initBackend, type ModuleLoader, parseBackendName, selectBackend } from './backend/init.js';
export { installBackwardRelease } from './backend/kernels/backward-release.js';
export { installLeanSaves } from './backend/kernels/lean-saves.js';
export { getStockKernel, registerTrainingKernels, type TrainingKernelReport } from './backend/kernels/register.js';
export { silu, siluGrad } from './backend/silu.js';
export type { BackendInfo, BackendName } from './backend/types.js';
export {
  CapturedStep,
  CaptureRefusedError,
  type CaptureState,
  type CaptureStepOptions,
  type RecordedStep,
  type StepRecordingBackend,
  setStepCapture,
  stepRecorder,
} from './capture/step-capture.js';
export { type CaptureTrainingStepOptions, captureTrainingStep } from './capture/training-step.js';
export {
  type CheckpointContents,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  loadCheckpoint,
  readManifest,
  type SaveCheckpointOptions,
  saveCheckpoint,
} from './checkpoints/checkpoint.js';
export type { CheckpointWriter } from './checkpoints/fs-writer.js';
export { type LoadedModelCheckpoint, type LoadModelCheckpointOptions, loadModelCheckpoint } from './checkpoints/load-model.js';
export { type GenlabManifest, MANIFEST_FILE, type ModelKind } from './checkpoints/manifest.js';
export { fileSystemModelHandler, type ModelIOOptions } from './checkpoints/model-io.js';
export {
  CancelledError,
  CheckpointError,
  GenlabError,
  type GenlabErrorCode,
  isGenlabError,
  NotFoundError,
  OverloadedError,
  throwIfAborted,
  UnavailableError,
  ValidationError,
} from './errors.js';
export { type ImageCodec, pngCodec } from './images/codec.js';
export { type DecodeImageOptions, decodeImage, imageBytesToTensor } from './images/decode.js';
export { type GridOptions, gridLayout, gridPng, tileGrid } from './images/grid.js';
export { type DecodedImage, encodePng, type PixelChannels } from './images/png.js';
export { tensorToUint8, uint8ToTensor } from './images/tensor.js';
export { createLogger, type Logger, type LogLevel, silentLogger } from './logger.js';
export { CIFAR10_CLASS_NAMES, FEATURES_LAYER } from './model-conventions.js';
export { ADAM_UPDATE_KERNEL, type AdamUpdateAttrs, adam, FusedAdamOptimizer } from './optim/adam.js';
export { Rng, type RngState } from './rng.js';
export { readRows } from './tensor-rows.js';
