import { FEATURES_LAYER } from '@lab/core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Silu } from '../layers/silu.js';
import { SpectralConv2D, SpectralDense } from '../layers/spectral-norm.js';
import { type EnergyNetConfig, type EnergyNetOptions, type EnergyNetPreset, resolveEnergyNetConfig } from './config.js';

type Symbolic = tfl.SymbolicTensor;

const LABEL_EMBEDDING_SEED_OFFSET = 50_021;

/** Builds layers for one config: plain or spectrally normalised, with per-layer seeds when seeded. */
class LayerFactory {
  private count = 0;
  constructor(private readonly config: EnergyNetConfig) {}

  private nextSeed(): number | undefined {
    this.count += 1;
    return this.config.seed === undefined ? undefined : this.config.seed + 101 * this.count;
  }

  conv(x: Symbolic, filters: number, kernelSize: number, strides: number, name?: string): Symbolic {
    const seed = this.nextSeed();
    const layer = this.config.spectralNorm
      ? new SpectralConv2D({
          filters,
          kernelSize,
          strides,
          padding: 'same',
          ...(seed === undefined ? {} : { seed }),
          ...(name ? { name } : {}),
        })
      : tfl.layers.conv2d({
          filters,
          kernelSize,
          strides,
          padding: 'same',
          kernelInitializer: tfl.initializers.glorotUniform(seed === undefined ? {} : { seed }),
          ...(name ? { name } : {}),
        });
    return layer.apply(x) as Symbolic;
  }

  dense(x: Symbolic, units: number, name?: string): Symbolic {
    const seed = this.nextSeed();
    const layer = this.config.spectralNorm
      ? new SpectralDense({ units, ...(seed === undefined ? {} : { seed }), ...(name ? { name } : {}) })
      : tfl.layers.dense({
          units,
          kernelInitializer: tfl.initializers.glorotUniform(seed === undefined ? {} : { seed }),
          ...(name ? { name } : {}),
        });
    return layer.apply(x) as Symbolic;
  }

  /**
   * The label embedding of a conditional net, seeded apart from the counter so that adding it did
   * not move the seeds (and so the weights) of the layers built after it.
   */
  labelEmbedding(y: Symbolic, numClasses: number, width: number): Symbolic {
    const seed = this.config.seed === undefined ? undefined : this.config.seed + LABEL_EMBEDDING_SEED_OFFSET;
    return tfl.layers
      .embedding({
        inputDim: numClasses,
        outputDim: width,
        // tfjs-layers' default initializer, seeded.
        embeddingsInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, ...(seed === undefined ? {} : { seed }) }),
        name: 'label_embedding',
      })
      .apply(y) as Symbolic;
  }

  silu(x: Symbolic, name?: string): Symbolic {
    return new Silu(name ? { name } : {}).apply(x) as Symbolic;
  }
}

/** Dense layers with SiLU; the last activation is the `features` layer. */
function denseStack(f: LayerFactory, x: Symbolic, units: readonly number[]): Symbolic {
  let h = x;
  units.forEach((u, i) => {
    h = f.silu(f.dense(h, u), i === units.length - 1 ? FEATURES_LAYER : undefined);
  });
  return h;
}

/** UvA tutorial body: stride-2 convs (first 5×5, then 3×3) with SiLU, flattened. */
function smallBody(f: LayerFactory, x: Symbolic, config: EnergyNetConfig): Symbolic {
  let h = x;
  config.channels.forEach((c, i) => {
    h = f.silu(f.conv(h, c, i === 0 ? 5 : 3, 2));
  });
  return tfl.layers.flatten().apply(h) as Symbolic;
}

/** Pre-activation residual block: x + conv(silu(conv(silu(x)))), 1×1 conv on the skip when widths differ. */
function residualBlock(f: LayerFactory, x: Symbolic, filters: number): Symbolic {
  const inChannels = x.shape[x.shape.length - 1];
  const h = f.conv(f.silu(f.conv(f.silu(x), filters, 3, 1)), filters, 3, 1);
  const skip = inChannels === filters ? x : f.conv(x, filters, 1, 1);
  return tfl.layers.add().apply([skip, h]) as Symbolic;
}

/** IGEBM-style body: stem conv, residual stages with 2× average-pool between them, SiLU, global average pool. */
function resnetBody(f: LayerFactory, x: Symbolic, config: EnergyNetConfig): Symbolic {
  let h = f.conv(x, config.channels[0] as number, 3, 1);
  config.channels.forEach((c, stage) => {
    for (let b = 0; b < config.blocksPerStage; b++) h = residualBlock(f, h, c);
    if (stage < config.channels.length - 1) h = tfl.layers.averagePooling2d({ poolSize: 2, strides: 2 }).apply(h) as Symbolic;
  });
  const pooled = tfl.layers.globalAveragePooling2d({ ...(config.hiddenUnits.length === 0 ? { name: FEATURES_LAYER } : {}) });
  return pooled.apply(f.silu(h)) as Symbolic;
}

/**
 * Creates an energy network: an input in [-1, 1] of `inputShape` (default 32×32×3) mapped to
 * one energy per sample ([B, 1]), or to K logits ([B, K]) in JEM mode. In `conditional` mode the
 * model has a second input, int32 labels [B]. Lower energy = more likely.
 * Turn it into an energy function with `energyFunction(model)`.
 */
export function createEnergyNet(options: EnergyNetOptions | EnergyNetPreset = 'small'): tfl.LayersModel {
  const config = resolveEnergyNetConfig(options);
  const f = new LayerFactory(config);
  const x = tfl.input({ shape: [...config.inputShape], name: 'x' });

  let features: Symbolic;
  if (config.architecture === 'mlp') {
    const flat = config.inputShape.length > 1 ? (tfl.layers.flatten().apply(x) as Symbolic) : x;
    features = denseStack(f, flat, config.hiddenUnits);
  } else {
    const body = config.architecture === 'small' ? smallBody(f, x, config) : resnetBody(f, x, config);
    features = config.hiddenUnits.length > 0 ? denseStack(f, body, config.hiddenUnits) : body;
  }

  const name = `energy_${config.architecture}_${config.mode}`;
  if (config.mode === 'jem') {
    return tfl.model({ inputs: x, outputs: f.dense(features, config.numClasses, 'logits'), name });
  }
  if (config.mode === 'conditional') {
    // Projection head (Miyato & Koyama 2018): E(x, y) = w·φ(x) + b + embed(y)·φ(x).
    const y = tfl.input({ shape: [], dtype: 'int32', name: 'y' });
    const width = features.shape[features.shape.length - 1] as number;
    const embedded = f.labelEmbedding(y, config.numClasses, width);
    const projection = tfl.layers.dot({ axes: -1 }).apply([embedded, features]) as Symbolic;
    const energy = tfl.layers.add({ name: 'energy' }).apply([f.dense(features, 1), projection]) as Symbolic;
    return tfl.model({ inputs: [x, y], outputs: energy, name });
  }
  return tfl.model({ inputs: x, outputs: f.dense(features, 1, 'energy'), name });
}
