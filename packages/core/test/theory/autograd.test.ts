/**
 * The TensorFlow.js counterparts of theory questions 6–9 (docs/theory.md): how tfjs computes,
 * blocks and accumulates gradients, checked against closed-form derivatives.
 */
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core alone registers no gradient functions (tfjs-layers and the @tensorflow/tfjs bundle
// import this file); without it tf.grad fails with "gradient function not found for Square".
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/rng.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Reads a tensor's values as plain numbers, then disposes it. */
async function values(t: tf.Tensor): Promise<number[]> {
  const data = Array.from(await t.data());
  t.dispose();
  return data;
}

/**
 * tfjs 4.22 has no `tf.stopGradient` op; this is the equivalent of PyTorch's `detach()` inside a
 * differentiated function: the forward value passes through, the backward pass sends zeros.
 */
const stopGradient = tf.customGrad((x) => ({
  value: tf.clone(x as tf.Tensor),
  gradFunc: (dy) => [tf.zerosLike(dy as tf.Tensor)],
})) as (x: tf.Tensor) => tf.Tensor;

/** f(x) = x² + 3x, the function of Q6. */
const q6 = (x: tf.Tensor) => tf.add(tf.square(x), tf.mul(x, 3));

describe('Q6: basic gradients', () => {
  it('tf.grad gives dy/dx = 2x + 3, which is 7 at x = 2', async () => {
    const xs = [-1.5, 0, 2, 5];
    const dydx = await values(tf.grad(q6)(tf.tensor1d(xs)));
    expect(dydx[2]).toBeCloseTo(7, 6);
    for (const [i, g] of dydx.entries()) expect(g).toBeCloseTo(2 * xs[i]! + 3, 5);
  });

  it('agrees with a central finite difference', async () => {
    const x = 0.7;
    const h = 1e-2;
    const [fPlus, fMinus] = await values(q6(tf.tensor1d([x + h, x - h])));
    const [dydx] = await values(tf.grad(q6)(tf.tensor1d([x])));
    expect(dydx).toBeCloseTo((fPlus! - fMinus!) / (2 * h), 3);
  });

  it('has no requires_grad flag: a function that does not use x has no gradient, and tf.grad throws', () => {
    const x = tf.tensor1d([2]);
    const unrelated = tf.tensor1d([2]);
    expect(() => tf.grad(() => q6(unrelated))(x)).toThrow(/Cannot compute gradient of y=f\(x\) with respect to x/);
    tf.dispose([x, unrelated]);
  });

  it('tracks variables by default (trainable = true), unlike torch.tensor (requires_grad = False)', () => {
    const v = tf.variable(tf.tensor1d([2]));
    const frozen = tf.variable(tf.tensor1d([2]), false);
    expect(v.trainable).toBe(true);
    expect(frozen.trainable).toBe(false);
    expect(() => tf.variableGrads(() => tf.sum(q6(frozen)) as tf.Scalar, [frozen])).toThrow(/none of the 1 variables is trainable/);
    tf.dispose([v, frozen]);
  });
});

describe('Q7: gradients with respect to the weights', () => {
  /** y = w0·x² + w1·x */
  const q7 = (x: tf.Tensor, w: tf.Tensor) => tf.add(tf.mul(tf.slice(w, 0, 1), tf.square(x)), tf.mul(tf.slice(w, 1, 1), x));

  it('tf.grads returns dy/dx = 2·w0·x + w1 = 7 and dy/dw = [x², x] = [4, 2] at x = 2, w = [1, 3]', async () => {
    const [dx, dw] = tf.grads((x, w) => q7(x!, w!))([tf.tensor1d([2]), tf.tensor1d([1, 3])]);
    expect(await values(dx!)).toEqual([7]);
    expect(await values(dw!)).toEqual([4, 2]);
  });

  it('tf.variableGrads differentiates only the trainable variables, like requires_grad on w only', async () => {
    const x = tf.tensor1d([2]);
    const w = tf.variable(tf.tensor1d([1, 3]), true, 'theory_q7_w');
    const frozen = tf.variable(tf.tensor1d([1, 3]), false, 'theory_q7_frozen');
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.add(q7(x, w), q7(x, frozen))) as tf.Scalar, [w, frozen]);
    // value = 2 · (1·4 + 3·2) = 20; the frozen copy contributes to the value but gets no gradient.
    expect(await values(value)).toEqual([20]);
    expect(await values(grads['theory_q7_w']!)).toEqual([4, 2]);
    expect(grads['theory_q7_frozen']).toBeNull();
    tf.dispose([x, w, frozen]);
  });
});

describe('Q8: breaking the graph', () => {
  it('a value computed outside the differentiated function is a constant: tf.grad throws, like w.backward() after detach()', () => {
    const x = tf.tensor1d([1]);
    const z = tf.mul(x, 3); // not recorded: tf.grad only tapes the operations inside f
    expect(() => tf.grad(() => tf.mul(z, 2))(x)).toThrow(/Cannot compute gradient of y=f\(x\) with respect to x/);
    tf.dispose([x, z]);
  });

  it('stopGradient keeps the value but sends zero gradient through its branch', async () => {
    const x = tf.tensor1d([1]);
    // w = 2·stop(3x) + x: the value counts the detached branch, the gradient only the direct one.
    const f = (t: tf.Tensor) => tf.add(tf.mul(stopGradient(tf.mul(t, 3)), 2), t);
    expect(await values(f(x))).toEqual([7]);
    expect(await values(tf.grad(f)(x))).toEqual([1]);
    expect(await values(tf.grad((t: tf.Tensor) => tf.mul(stopGradient(tf.mul(t, 3)), 2))(x))).toEqual([0]);
    x.dispose();
  });

  it('the fix, keeping z in the graph, gives dw/dx = 2 · 3 = 6', async () => {
    const x = tf.tensor1d([1]);
    const dwdx = tf.grad((t: tf.Tensor) => {
      const y = tf.mul(t, 3);
      const z = tf.clone(y);
      return tf.mul(z, 2);
    })(x);
    expect(await values(dwdx)).toEqual([6]);
    x.dispose();
  });
});

describe('Q9: gradient accumulation', () => {
  it('tf.grad returns a fresh gradient per call: 2 then 3, never 5', async () => {
    const x = tf.tensor1d([1]);
    expect(await values(tf.grad((t: tf.Tensor) => tf.mul(t, 2))(x))).toEqual([2]);
    expect(await values(tf.grad((t: tf.Tensor) => tf.mul(t, 3))(x))).toEqual([3]);
    expect(await values(tf.grad((t: tf.Tensor) => tf.mul(t, 3))(x))).toEqual([3]);
    x.dispose();
  });

  /** Mean squared error of a linear model, loss(w) = mean((Xw − y)²), and its data. */
  function regressionProblem(rows: number, cols: number) {
    const rng = new Rng(7);
    const xs = Array.from({ length: rows * cols }, () => rng.gaussian());
    const ys = Array.from({ length: rows }, () => rng.gaussian());
    const w0 = Array.from({ length: cols }, () => rng.gaussian());
    // Closed form in float64: dL/dw = (2/N) Xᵀ(Xw − y).
    const expected = new Array<number>(cols).fill(0);
    for (let r = 0; r < rows; r++) {
      let residual = -ys[r]!;
      for (let c = 0; c < cols; c++) residual += xs[r * cols + c]! * w0[c]!;
      for (let c = 0; c < cols; c++) expected[c]! += (2 / rows) * xs[r * cols + c]! * residual;
    }
    return { X: tf.tensor2d(xs, [rows, cols]), y: tf.tensor2d(ys, [rows, 1]), w0, expected };
  }

  it('summing the gradients of two micro-batches (each loss / 2) equals the full-batch gradient', async () => {
    const { X, y, w0, expected } = regressionProblem(4, 3);
    const w = tf.variable(tf.tensor2d(w0, [3, 1]), true, 'theory_q9_w');
    const loss = (xb: tf.Tensor, yb: tf.Tensor) => tf.losses.meanSquaredError(yb, tf.matMul(xb, w)) as tf.Scalar;

    const full = tf.variableGrads(() => loss(X, y), [w]);
    const halves = [0, 2].map((start) => {
      const xb = tf.slice(X, [start, 0], [2, 3]);
      const yb = tf.slice(y, [start, 0], [2, 1]);
      const g = tf.variableGrads(() => tf.div(loss(xb, yb), 2) as tf.Scalar, [w]);
      tf.dispose([xb, yb, g.value]);
      return g.grads['theory_q9_w']!;
    });
    const accumulated = tf.addN(halves);

    const fullGrad = await values(full.grads['theory_q9_w']!);
    const accumulatedGrad = await values(accumulated);
    fullGrad.forEach((g, i) => {
      expect(g).toBeCloseTo(expected[i]!, 4);
      expect(accumulatedGrad[i]).toBeCloseTo(g, 5);
    });
    tf.dispose([X, y, w, full.value, ...halves]);
  });

  it('accumulating over many steps leaks no tensors', async () => {
    const { X, y, w0 } = regressionProblem(4, 3);
    const w = tf.variable(tf.tensor2d(w0, [3, 1]), true, 'theory_q9_leak_w');
    const optimizer = tf.train.sgd(0.01);
    const step = () => {
      let sum: tf.Tensor = tf.zerosLike(w);
      for (const start of [0, 2]) {
        const next = tf.tidy(() => {
          const { grads } = tf.variableGrads(
            () =>
              tf.div(
                tf.losses.meanSquaredError(tf.slice(y, [start, 0], [2, 1]), tf.matMul(tf.slice(X, [start, 0], [2, 3]), w)),
                2,
              ) as tf.Scalar,
            [w],
          );
          return tf.add(sum, grads['theory_q9_leak_w']!);
        });
        sum.dispose();
        sum = next;
      }
      optimizer.applyGradients({ theory_q9_leak_w: sum });
      sum.dispose();
    };
    step(); // the first step creates the optimizer's state
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    tf.dispose([X, y, w]);
  });
});
