import * as tf from '@tensorflow/tfjs-core';
import { ValidationError } from '../errors.js';
import {
  CONV2D_BIAS_ACTIVATION_GRAD_KERNEL,
  CONV2D_BIAS_ACTIVATION_KERNEL,
  DENSE_BIAS_ACTIVATION_GRAD_KERNEL,
  DENSE_BIAS_ACTIVATION_KERNEL,
  hasFusedKernel,
} from './fused-kernels.js';
import { silu, siluGrad } from './silu.js';

/** The activations a fused layer applies after its bias. */
export type LayerActivation = 'linear' | 'silu';

export interface Conv2DBiasActivationOptions {
  readonly strides: number | readonly [number, number];
  readonly pad: 'same' | 'valid';
  readonly activation: LayerActivation;
}

interface ConvAttrs {
  strides: [number, number];
  pad: 'same' | 'valid';
  activation: LayerActivation;
}

/**
 * act(conv2d(x, filter) + bias) for an NHWC `x`: one backend kernel forward and one backward
 * where the backend registers `CONV2D_BIAS_ACTIVATION_KERNEL` (LibTorch), instead of the eight
 * tfjs kernels of `tf.fused.conv2d` and a SiLU with their gradients; tfjs ops otherwise.
 * Differentiable to every order either way.
 */
export function conv2dBiasActivation(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  options: Conv2DBiasActivationOptions,
): tf.Tensor4D {
  const attrs: ConvAttrs = {
    strides: typeof options.strides === 'number' ? [options.strides, options.strides] : [options.strides[0], options.strides[1]],
    pad: options.pad,
    activation: checkedActivation(options.activation),
  };
  if (!hasFusedKernel(CONV2D_BIAS_ACTIVATION_KERNEL)) return tf.tidy(() => compositeConv(x, filter, bias, attrs));
  registerFusedLayerGradients();
  return tf.engine().runKernel(CONV2D_BIAS_ACTIVATION_KERNEL, { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** act(x·kernel + bias) for `x` [B, F]: one backend kernel each way where registered, tfjs ops otherwise. */
export function denseBiasActivation(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, activation: LayerActivation): tf.Tensor2D {
  const attrs = { activation: checkedActivation(activation) };
  if (!hasFusedKernel(DENSE_BIAS_ACTIVATION_KERNEL)) return tf.tidy(() => compositeDense(x, kernel, bias, attrs.activation));
  registerFusedLayerGradients();
  return tf.engine().runKernel(DENSE_BIAS_ACTIVATION_KERNEL, { x, kernel, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

function checkedActivation(activation: LayerActivation): LayerActivation {
  if (activation !== 'linear' && activation !== 'silu')
    throw new ValidationError(`a fused layer's activation must be 'linear' or 'silu', got '${String(activation)}'`);
  return activation;
}

const activate = (t: tf.Tensor, activation: LayerActivation) => (activation === 'silu' ? silu(t) : t);

function compositeConv(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, { strides, pad, activation }: ConvAttrs): tf.Tensor4D {
  return activate(tf.fused.conv2d({ x, filter, bias, strides, pad }), activation) as tf.Tensor4D;
}

function compositeDense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, activation: LayerActivation): tf.Tensor2D {
  return activate(tf.fused.matMul({ a: x, b: kernel, bias }), activation) as tf.Tensor2D;
}

/**
 * True while the backward pass itself is recorded (a gradient of a gradient: score matching). The
 * gradient is then written in tfjs ops from the inputs, the pre-activation recomputed, so that the
 * outer tape sees every dependence; the fused gradient kernel would be a constant to it.
 */
function differentiatingTwice(): boolean {
  return (tf.engine().state as { gradientDepth: number }).gradientDepth > 0;
}

/**
 * The fused gradient kernel's outputs. Computed here, in the gradient function, rather than in the
 * per-input closures: tfjs runs each of those in its own `tidy`, which would dispose the outputs
 * the others return. Nothing is wasted: the backend defers each gradient until it is read.
 */
function fusedGradients(kernelName: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): tf.Tensor[] {
  return tf.engine().runKernel(kernelName, inputs, attrs) as tf.Tensor[];
}

/** The gradients of the two fused layer kernels. */
export const FUSED_LAYER_GRADIENTS: readonly tf.GradConfig[] = [
  {
    kernelName: CONV2D_BIAS_ACTIVATION_KERNEL,
    inputsToSave: ['x', 'filter', 'bias'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, bias, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor4D];
      const conv = attrs as unknown as ConvAttrs;
      if (differentiatingTwice()) {
        // Made here for the same reason as `fusedGradients`'s outputs.
        const dPre = (
          conv.activation === 'silu' ? siluGrad(dy as tf.Tensor, compositeConv(x, filter, bias, { ...conv, activation: 'linear' })) : dy
        ) as tf.Tensor4D;
        const filterAttrs = { strides: conv.strides, pad: conv.pad, dataFormat: 'NHWC', filterShape: filter.shape };
        return {
          x: () => tf.conv2dTranspose(dPre, filter, x.shape, conv.strides, conv.pad),
          filter: () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy: dPre }, filterAttrs) as tf.Tensor,
          bias: () => tf.sum(dPre, [0, 1, 2]),
        };
      }
      const [dx, dFilter, dBias] = fusedGradients(CONV2D_BIAS_ACTIVATION_GRAD_KERNEL, { dy: dy as tf.Tensor, x, filter, y }, attrs);
      return { x: () => dx as tf.Tensor, filter: () => dFilter as tf.Tensor, bias: () => dBias as tf.Tensor };
    },
  },
  {
    kernelName: DENSE_BIAS_ACTIVATION_KERNEL,
    inputsToSave: ['x', 'kernel', 'bias'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, kernel, bias, y] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
      const { activation } = attrs as unknown as { activation: LayerActivation };
      if (differentiatingTwice()) {
        const dPre = (activation === 'silu' ? siluGrad(dy as tf.Tensor, compositeDense(x, kernel, bias, 'linear')) : dy) as tf.Tensor2D;
        return {
          x: () => tf.matMul(dPre, kernel, false, true),
          kernel: () => tf.matMul(x, dPre, true, false),
          bias: () => tf.sum(dPre, 0),
        };
      }
      const [dx, dKernel, dBias] = fusedGradients(DENSE_BIAS_ACTIVATION_GRAD_KERNEL, { dy: dy as tf.Tensor, x, kernel, y }, attrs);
      return { x: () => dx as tf.Tensor, kernel: () => dKernel as tf.Tensor, bias: () => dBias as tf.Tensor };
    },
  },
];

/** Registers the gradients above once (a backend set without `initBackend` must still train). */
function registerFusedLayerGradients(): void {
  if (tf.getGradient(CONV2D_BIAS_ACTIVATION_KERNEL) !== undefined) return;
  for (const config of FUSED_LAYER_GRADIENTS) tf.registerGradient(config);
}
