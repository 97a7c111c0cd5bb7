import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { BaseLayerArgs, LayerConfig, LayerKwargs } from './layer-types.js';

/** Power iterations run when a layer is built, so an untrained model already has a sensible σ. */
const INITIAL_POWER_ITERATIONS = 15;
const NORM_EPSILON = 1e-12;

/**
 * Identity in the forward pass, zero gradient in the backward pass. The power-iteration
 * vectors u, v are treated as constants when differentiating σ = vᵀWu (Miyato et al. 2018).
 */
const stopGradient = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const x = args[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as (x: tf.Tensor) => tf.Tensor;

function normalize(x: tf.Tensor1D): tf.Tensor1D {
  return tf.div(x, tf.maximum(tf.norm(x), NORM_EPSILON));
}

/** W [m, n] times a vector [n] → [m]. */
function matVec(w: tf.Tensor2D, x: tf.Tensor1D): tf.Tensor1D {
  return tf.reshape(tf.matMul(w, tf.reshape(x, [-1, 1])), [-1]);
}

/** Wᵀ [n, m] times a vector [m] → [n]. */
function matTVec(w: tf.Tensor2D, x: tf.Tensor1D): tf.Tensor1D {
  return tf.reshape(tf.matMul(w, tf.reshape(x, [-1, 1]), true, false), [-1]);
}

/**
 * One power iteration on a kernel viewed as a matrix W [fanIn, units]:
 * v ← normalize(W u), u ← normalize(Wᵀ v). Returns the new (u, v); no gradient flows through them.
 */
export function powerIteration(w: tf.Tensor2D, u: tf.Tensor1D): { u: tf.Tensor1D; v: tf.Tensor1D } {
  return tf.tidy(() => {
    const constW = stopGradient(w) as tf.Tensor2D;
    const v = normalize(matVec(constW, u));
    const uNext = normalize(matTVec(constW, v));
    return { u: stopGradient(uNext) as tf.Tensor1D, v: stopGradient(v) as tf.Tensor1D };
  });
}

/** σ ≈ vᵀ W u, the largest singular value of W estimated from the power-iteration vectors. Differentiable in W. */
export function spectralNormEstimate(w: tf.Tensor2D, u: tf.Tensor1D, v: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.mul(v, matVec(w, u))) as tf.Scalar);
}

/**
 * State shared by the spectrally normalised layers: the raw trainable kernel, and the
 * power-iteration vectors u [units] and v [fanIn] kept in non-trainable weights (so they are
 * saved with the model). Every call with `training: true` runs exactly one power iteration
 * and stores the new u, v; inference reuses the stored ones, so it reproduces the σ of the
 * last training call.
 */
abstract class SpectralNormalized extends tfl.layers.Layer {
  protected kernel!: tfl.LayerVariable;
  protected bias: tfl.LayerVariable | null = null;
  private u!: tfl.LayerVariable;
  private v!: tfl.LayerVariable;

  /** The kernel's shape as stored (Dense: [fanIn, units]; Conv2D: [kh, kw, cin, filters]). */
  protected abstract kernelShape(inputShape: tfl.Shape): number[];

  protected buildSpectralWeights(inputShape: tfl.Shape, useBias: boolean, seed: number | undefined): void {
    const shape = this.kernelShape(inputShape);
    const units = shape[shape.length - 1] as number;
    const fanIn = shape.reduce((a, b) => a * b, 1) / units;
    const withSeed = (offset: number) => (seed === undefined ? {} : { seed: seed + offset });
    this.kernel = this.addWeight('kernel', shape, 'float32', tfl.initializers.glorotUniform(withSeed(0)));
    if (useBias) this.bias = this.addWeight('bias', [units], 'float32', tfl.initializers.zeros());
    this.u = this.addWeight(
      'sn_u',
      [units],
      'float32',
      tfl.initializers.randomNormal({ mean: 0, stddev: 1, ...withSeed(1) }),
      undefined,
      false,
    );
    this.v = this.addWeight('sn_v', [fanIn], 'float32', tfl.initializers.zeros(), undefined, false);
    tf.tidy(() => {
      const w = this.kernelMatrix();
      let u = normalize(this.u.read() as tf.Tensor1D);
      let v = this.v.read() as tf.Tensor1D;
      for (let i = 0; i < INITIAL_POWER_ITERATIONS; i++) ({ u, v } = powerIteration(w, u));
      this.u.write(u);
      this.v.write(v);
    });
  }

  /** The raw kernel reshaped to a matrix [fanIn, units]. */
  protected kernelMatrix(): tf.Tensor2D {
    const k = this.kernel.read();
    const units = k.shape[k.rank - 1] as number;
    return tf.reshape(k, [-1, units]);
  }

  /**
   * The kernel divided by its estimated spectral norm, in its stored shape. With
   * `training`, runs one power iteration first and saves the updated u, v.
   */
  normalizedKernel(training = false): tf.Tensor {
    return tf.tidy(() => {
      const w = this.kernelMatrix();
      let u = this.u.read() as tf.Tensor1D;
      let v = this.v.read() as tf.Tensor1D;
      if (training) {
        ({ u, v } = powerIteration(w, u));
        this.u.write(u);
        this.v.write(v);
      }
      const sigma = spectralNormEstimate(w, u, v);
      return tf.reshape(tf.div(w, sigma), this.kernel.shape as number[]);
    });
  }

  /** The stored power-iteration vectors (copies; the caller disposes them). */
  powerIterationState(): { u: tf.Tensor1D; v: tf.Tensor1D } {
    return { u: tf.clone(this.u.read()) as tf.Tensor1D, v: tf.clone(this.v.read()) as tf.Tensor1D };
  }

  protected isTraining(kwargs: LayerKwargs): boolean {
    return kwargs?.['training'] === true;
  }
}

function singleInput(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
}

function singleShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new ValidationError(`${name} must be a positive integer, got ${value}`);
  return value;
}

export interface SpectralDenseArgs extends BaseLayerArgs {
  units: number;
  useBias?: boolean;
  seed?: number;
}

/** A Dense layer (no activation) whose kernel is divided by its spectral norm. Input [B, fanIn] → [B, units]. */
export class SpectralDense extends SpectralNormalized {
  static readonly className = 'GenlabSpectralDense';
  readonly units: number;
  readonly useBias: boolean;
  readonly seed: number | undefined;

  constructor(args: SpectralDenseArgs) {
    super(args);
    this.units = positiveInteger('units', args.units);
    this.useBias = args.useBias ?? true;
    this.seed = args.seed;
  }

  protected override kernelShape(inputShape: tfl.Shape): number[] {
    const fanIn = inputShape[inputShape.length - 1];
    if (inputShape.length !== 2 || typeof fanIn !== 'number') {
      throw new ValidationError(`SpectralDense needs input [batch, features], got [${inputShape}]`);
    }
    return [fanIn, this.units];
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    this.buildSpectralWeights(singleShape(inputShape), this.useBias, this.seed);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return [singleShape(inputShape)[0] ?? null, this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: LayerKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs) as tf.Tensor2D;
      const kernel = this.normalizedKernel(this.isTraining(kwargs)) as tf.Tensor2D;
      const bias = this.bias?.read();
      return bias ? tf.fused.matMul({ a: x, b: kernel, bias }) : tf.matMul(x, kernel);
    });
  }

  override getConfig(): LayerConfig {
    const config: LayerConfig = { ...super.getConfig(), units: this.units, useBias: this.useBias };
    if (this.seed !== undefined) config['seed'] = this.seed;
    return config;
  }
}

export interface SpectralConv2DArgs extends BaseLayerArgs {
  filters: number;
  kernelSize: number;
  strides?: number;
  padding?: 'same' | 'valid';
  useBias?: boolean;
  seed?: number;
}

/** A Conv2D layer (NHWC, no activation) whose kernel, viewed as [kh·kw·cin, filters], is divided by its spectral norm. */
export class SpectralConv2D extends SpectralNormalized {
  static readonly className = 'GenlabSpectralConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: 'same' | 'valid';
  readonly useBias: boolean;
  readonly seed: number | undefined;

  constructor(args: SpectralConv2DArgs) {
    super(args);
    this.filters = positiveInteger('filters', args.filters);
    this.kernelSize = positiveInteger('kernelSize', args.kernelSize);
    this.strides = positiveInteger('strides', args.strides ?? 1);
    this.padding = args.padding ?? 'same';
    this.useBias = args.useBias ?? true;
    this.seed = args.seed;
  }

  protected override kernelShape(inputShape: tfl.Shape): number[] {
    const channels = inputShape[3];
    if (inputShape.length !== 4 || typeof channels !== 'number') {
      throw new ValidationError(`SpectralConv2D needs input [batch, height, width, channels], got [${inputShape}]`);
    }
    return [this.kernelSize, this.kernelSize, channels, this.filters];
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    this.buildSpectralWeights(singleShape(inputShape), this.useBias, this.seed);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const [batch, height, width] = singleShape(inputShape);
    const out = (size: number | null | undefined) => {
      if (size == null) return null;
      return this.padding === 'same' ? Math.ceil(size / this.strides) : Math.ceil((size - this.kernelSize + 1) / this.strides);
    };
    return [batch ?? null, out(height), out(width), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: LayerKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs) as tf.Tensor4D;
      const kernel = this.normalizedKernel(this.isTraining(kwargs)) as tf.Tensor4D;
      const bias = this.bias?.read();
      const y = tf.conv2d(x, kernel, this.strides, this.padding);
      return bias ? tf.add(y, bias) : y;
    });
  }

  override getConfig(): LayerConfig {
    const config: LayerConfig = {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      useBias: this.useBias,
    };
    if (this.seed !== undefined) config['seed'] = this.seed;
    return config;
  }
}

tf.serialization.registerClass(SpectralDense);
tf.serialization.registerClass(SpectralConv2D);
