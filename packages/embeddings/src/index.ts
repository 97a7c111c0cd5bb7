export { dropLabels, LabelEmbedding, type LabelEmbeddingArgs } from './label-embedding.js';
export type { BaseLayerArgs, LayerConfig, LayerKwargs } from './layer-types.js';
export {
  type SinusoidalConvention,
  type SinusoidalOptions,
  type SinusoidalOrder,
  sinusoidalEmbedding,
  sinusoidalFrequencies,
} from './sinusoidal.js';
export { TimeEmbedding, type TimeEmbeddingArgs } from './time-embedding.js';
