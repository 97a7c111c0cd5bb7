import * as tf from '@tensorflow/tfjs-core';
import {
  BroadcastTo,
  backend_util,
  FusedBatchNorm,
  type GradConfig,
  getBackend,
  getKernel,
  Mean,
  registerGradient,
  Sum,
  type Tensor,
  util,
} from '@tensorflow/tfjs-core';

/**
 * Gradients of Mean, Sum and FusedBatchNorm that make fewer full-size temporaries than tfjs
 * 4.22's own, with the same values (Mean and Sum exactly; FusedBatchNorm up to float rounding).
 *
 * - Mean and Sum: tfjs multiplies dy by `ones(x.shape)`, an array filled in JavaScript and
 *   uploaded on every backward pass (for a [128, 32, 32, 64] batch-norm input, 8 M floats). A
 *   broadcast of dy is the same tensor without the upload, and a view where the backend has
 *   views (LibTorch's expand).
 * - FusedBatchNorm: tfjs tiles rsqrt(variance) to the input's shape and makes ~12 full-size
 *   products. Here the per-channel factors are folded first, and the two reductions that the
 *   variance and scale gradients share (Σdy·(x − mean)) and that the mean and offset share (Σdy)
 *   are computed once: one full-size product for ∂x, three passes for the sums.
 *
 * Written with differentiable ops only, so gradients of these gradients stay right.
 */

/**
 * `x` broadcast to `shape`. tf.broadcastTo always tiles (a copy); a backend with its own
 * BroadcastTo kernel (LibTorch: a stride-0 view) is asked for that instead. Both are on the tape.
 */
function broadcast(x: Tensor, shape: readonly number[]): Tensor {
  if (util.arraysEqual(x.shape, [...shape])) return x.clone();
  if (getKernel(BroadcastTo, getBackend()) === undefined) return tf.broadcastTo(x, [...shape]);
  return tf.engine().runKernel(BroadcastTo, { x }, { shape: [...shape], inputShape: x.shape } as unknown as tf.NamedAttrMap) as Tensor;
}

function expandedShape(shape: readonly number[], axes: readonly number[]): number[] {
  const expanded = [...shape];
  for (const axis of axes) expanded[axis] = 1;
  return expanded;
}

const LEAN_GRADIENTS: readonly GradConfig[] = [
  {
    kernelName: Mean,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0] as Tensor;
      const axes = util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, x.shape);
      const reduceSize = util.sizeFromShape(backend_util.computeOutAndReduceShapes(x.shape, axes)[1]);
      return { x: () => broadcast(tf.div(tf.reshape(dy as Tensor, expandedShape(x.shape, axes)), reduceSize), x.shape) };
    },
  },
  {
    kernelName: Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0] as Tensor;
      const axes = util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, x.shape);
      return { x: () => broadcast(tf.reshape(dy as Tensor, expandedShape(x.shape, axes)), x.shape) };
    },
  },
  {
    kernelName: FusedBatchNorm,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dyIn, saved, attrs) => {
      const dy = dyIn as Tensor;
      const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
      const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
      // Every parameter has the mean's shape (as tfjs assumes): reduce dy-sized terms to it.
      const axes = backend_util.getReductionAxes(mean.shape, x.shape);
      const toParam = (t: Tensor) => tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, mean.shape);
      const scaleValue = scale ?? tf.scalar(1);
      const rstd = tf.rsqrt(tf.add(variance, varianceEpsilon));
      const gain = tf.mul(rstd, scaleValue);
      const sumDy = toParam(dy);
      const sumDyCentred = tf.tidy(() => toParam(tf.mul(dy, tf.sub(x, mean))));
      return {
        x: () => tf.reshape(tf.mul(dy, gain), x.shape),
        mean: () => tf.reshape(tf.neg(tf.mul(sumDy, gain)), mean.shape),
        // ∂/∂var of (x − mean)·(var + ε)^(−1/2)·scale = −½·(var + ε)^(−3/2)·scale·(x − mean).
        variance: () => tf.reshape(tf.mul(sumDyCentred, tf.mul(tf.mul(tf.square(rstd), gain), -0.5)), mean.shape),
        scale: () => tf.reshape(tf.mul(sumDyCentred, rstd), mean.shape),
        offset: () => tf.reshape(sumDy, mean.shape),
      };
    },
  },
];

let registered = false;

/** Installs the gradients above for every backend (idempotent); returns the kernels they replace. */
export function registerLeanGradients(): readonly string[] {
  if (!registered) {
    for (const config of LEAN_GRADIENTS) registerGradient(config);
    registered = true;
  }
  return LEAN_GRADIENTS.map((config) => config.kernelName);
}
