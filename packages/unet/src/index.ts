export {
  describeUNet,
  resolveUNetConfig,
  UNET_PRESETS,
  type UNetConfig,
  type UNetConfigInput,
  type UNetLayout,
  type UNetPresetName,
} from './config.js';
export {
  DIFFUSION_CONFIG_DEFAULTS,
  DIFFUSION_CONFIG_VERSION,
  type DiffusionModelConfig,
  type DiffusionModelConfigOptions,
  type DiffusionSamplerKind,
  type DiffusionScheduleConfig,
  parseDiffusionConfig,
  resolveDiffusionConfig,
} from './diffusion-config.js';
export { SelfAttention2D, type SelfAttention2DArgs } from './layers/attention.js';
export { GroupNorm, type GroupNormArgs } from './layers/group-norm.js';
export {
  type AttentionStrategy,
  addKeepingNothing,
  conv2dSame,
  dense,
  groupNorm,
  matMul2d,
  scaledDotProductAttention,
  silu,
  upsampleNearest2x,
} from './layers/ops.js';
export { ResBlock, type ResBlockArgs } from './layers/res-block.js';
export { Downsample, Upsample } from './layers/resample.js';
export { unetDenoiser } from './pipeline/denoiser.js';
export { DiffusionPipeline, type DiffusionPipelineSampleOptions } from './pipeline/diffusion-pipeline.js';
export { type ClassLabelSpec, type Conditioning, resolveConditioning } from './pipeline/labels.js';
export { countParams, createUNet, UNET_BOTTLENECK_LAYER } from './unet.js';
export { unconditionalUNet } from './without-classes.js';
