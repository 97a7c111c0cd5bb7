import { LabelEmbedding, TimeEmbedding } from '@lab/embeddings';
import * as tfl from '@tensorflow/tfjs-layers';
import { resolveUNetConfig, type UNetConfig, type UNetConfigInput, type UNetPresetName } from './config.js';
import { SelfAttention2D } from './layers/attention.js';
import { GroupNorm } from './layers/group-norm.js';
import { ResBlock } from './layers/res-block.js';
import { Downsample, Upsample } from './layers/resample.js';

/** Name of the layer whose output is the bottleneck (the middle block's output). */
export const UNET_BOTTLENECK_LAYER = 'mid_res2';

/**
 * Builds Ho et al.'s DDPM UNet as a functional `tf.LayersModel`.
 *
 * Inputs, in order: `x` `[B, H, W, inChannels]` float32; `t` timesteps `[B]` (or `[B, 1]`)
 * float32; and, when `numClasses` is set, `y` labels `[B]` (or `[B, 1]`) int32 where
 * `numClasses` is the null class. Output: `[B, H, W, outChannels]` (the predicted noise ε).
 * `model.predict([x, t, y])` and `model.apply([x, t, y], {training})` both work.
 *
 * Layout: conv_in → per level `numResBlocks` × (ResBlock [+ attention]) then a stride-2
 * Downsample (except the last level) → ResBlock, attention, ResBlock (bottleneck) → per level
 * in reverse `numResBlocks + 1` × (concat skip, ResBlock [+ attention]) then Upsample (except
 * the first level) → GroupNorm, SiLU, conv_out. The time (+ class) embedding, width
 * `4 · baseChannels`, feeds every ResBlock.
 */
export function createUNet(input: UNetPresetName | UNetConfigInput | UNetConfig): tfl.LayersModel {
  const config = resolveUNetConfig(input);
  const { baseChannels: ch, groups, normEpsilon: epsilon, dropout, numHeads } = config;
  let seedCounter = 0;
  // Each layer gets its own block of 16 seeds (layers use seed + k for their k-th weight).
  const seed = () => (config.seed === undefined ? {} : { seed: config.seed + 16 * seedCounter++ });
  const seededGlorot = () => tfl.initializers.glorotUniform(seed());

  const x = tfl.input({ shape: [config.imageSize, config.imageSize, config.inChannels], name: 'x' });
  const t = tfl.input({ shape: [1], name: 't' });
  const y = config.numClasses === undefined ? undefined : tfl.input({ shape: [1], dtype: 'int32', name: 'y' });

  const embDim = 4 * ch;
  let emb = new TimeEmbedding({ name: 'time_embedding', sinusoidDim: ch, units: embDim, ...config.timeEmbedding, ...seed() }).apply(
    t,
  ) as tfl.SymbolicTensor;
  if (y !== undefined && config.numClasses !== undefined) {
    const labelEmb = new LabelEmbedding({ name: 'label_embedding', numClasses: config.numClasses, units: embDim, ...seed() }).apply(y);
    emb = tfl.layers.add({ name: 'embedding' }).apply([emb, labelEmb as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
  }

  const resBlock = (h: tfl.SymbolicTensor, channels: number, name: string) =>
    new ResBlock({ name, channels, groups, epsilon, dropout, ...seed() }).apply([h, emb]) as tfl.SymbolicTensor;
  const attention = (h: tfl.SymbolicTensor, name: string) =>
    new SelfAttention2D({ name, numHeads, groups, epsilon, ...seed() }).apply(h) as tfl.SymbolicTensor;

  let h = tfl.layers
    .conv2d({ name: 'conv_in', filters: ch, kernelSize: 3, padding: 'same', kernelInitializer: seededGlorot() })
    .apply(x) as tfl.SymbolicTensor;
  const skips: tfl.SymbolicTensor[] = [h];
  const levels = config.channelMults.length;
  let resolution = config.imageSize;

  config.channelMults.forEach((mult, level) => {
    for (let block = 0; block < config.numResBlocks; block++) {
      h = resBlock(h, mult * ch, `down${level}_res${block}`);
      if (config.attentionResolutions.includes(resolution)) h = attention(h, `down${level}_attn${block}`);
      skips.push(h);
    }
    if (level < levels - 1) {
      h = new Downsample({ name: `down${level}_downsample`, ...seed() }).apply(h) as tfl.SymbolicTensor;
      resolution /= 2;
      skips.push(h);
    }
  });

  const midChannels = config.channelMults[levels - 1]! * ch;
  h = resBlock(h, midChannels, 'mid_res1');
  if (config.midAttention) h = attention(h, 'mid_attn');
  h = resBlock(h, midChannels, UNET_BOTTLENECK_LAYER);

  for (let level = levels - 1; level >= 0; level--) {
    const channels = config.channelMults[level]! * ch;
    for (let block = 0; block <= config.numResBlocks; block++) {
      const skip = skips.pop()!;
      h = tfl.layers.concatenate({ name: `up${level}_concat${block}`, axis: -1 }).apply([h, skip]) as tfl.SymbolicTensor;
      h = resBlock(h, channels, `up${level}_res${block}`);
      if (config.attentionResolutions.includes(resolution)) h = attention(h, `up${level}_attn${block}`);
    }
    if (level > 0) {
      h = new Upsample({ name: `up${level}_upsample`, ...seed() }).apply(h) as tfl.SymbolicTensor;
      resolution *= 2;
    }
  }

  h = new GroupNorm({ name: 'norm_out', groups, epsilon, activation: 'silu' }).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers
    .conv2d({ name: 'conv_out', filters: config.outChannels, kernelSize: 3, padding: 'same', kernelInitializer: seededGlorot() })
    .apply(h) as tfl.SymbolicTensor;

  return tfl.model({ name: 'unet', inputs: y === undefined ? [x, t] : [x, t, y], outputs: out });
}

/** Total number of weights (trainable and not) in a model. */
export function countParams(model: tfl.LayersModel): number {
  return model.weights.reduce((sum, weight) => sum + weight.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0);
}
