import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectSameAsCpu, randn, torchReason } from './helpers.js';

const suite = torchReason === undefined ? describe : describe.skip;
if (torchReason !== undefined) console.warn(`backend-torch kernel tests skipped: ${torchReason}`);

/** d(Σ f(inputs) · w)/d inputs, with a fixed random weighting so that every output element matters. */
function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: () => tf.Tensor[]): () => tf.Tensor[] {
  return () => {
    const xs = inputs();
    const probe = tf.tidy(() => f(...xs));
    const weights = randn(probe.shape, 99);
    probe.dispose();
    const { value, grads } = tf.valueAndGrads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(...args), weights)) as tf.Scalar)(xs);
    return [value, ...grads];
  };
}

suite('element-wise kernels match tfjs-backend-cpu', () => {
  const unary: Array<[string, (x: tf.Tensor) => tf.Tensor]> = [
    ['abs', tf.abs],
    ['exp', tf.exp],
    ['log of |x|+0.1', (x) => tf.log(tf.add(tf.abs(x), 0.1))],
    ['log1p', (x) => tf.log1p(tf.abs(x))],
    ['neg', tf.neg],
    ['relu', tf.relu],
    ['relu6', (x) => tf.relu6(tf.mul(x, 8))],
    ['elu', tf.elu],
    ['selu', tf.selu],
    ['leakyRelu', (x) => tf.leakyRelu(x, 0.3)],
    ['prelu', (x) => tf.prelu(x, tf.fill([x.shape.at(-1) as number], 0.25))],
    ['sigmoid', tf.sigmoid],
    ['tanh', tf.tanh],
    ['softplus', (x) => tf.softplus(tf.mul(x, 30))],
    ['sqrt', (x) => tf.sqrt(tf.abs(x))],
    ['rsqrt', (x) => tf.rsqrt(tf.add(tf.abs(x), 0.5))],
    ['square', tf.square],
    ['reciprocal', (x) => tf.reciprocal(tf.add(tf.abs(x), 0.5))],
    ['sin, cos', (x) => tf.add(tf.sin(x), tf.cos(x))],
    ['erf', tf.erf],
    ['floor, ceil, round', (x) => tf.stack([tf.floor(tf.mul(x, 4)), tf.ceil(tf.mul(x, 4)), tf.round(tf.mul(x, 4))])],
    ['sign', tf.sign],
    ['step', (x) => tf.step(x, 0.2)],
    ['clipByValue', (x) => tf.clipByValue(x, -0.3, 0.4)],
    ['zerosLike, onesLike', (x) => tf.add(tf.zerosLike(x), tf.onesLike(x))],
  ];
  it.each(unary)('%s (values and gradient)', async (_name, f) => {
    await expectSameAsCpu(
      gradsOf(f, () => [randn([2, 3, 4, 5], 1)]),
      2e-5,
    );
  });

  const binary: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
    ['add', tf.add],
    ['sub', tf.sub],
    ['mul', tf.mul],
    ['div', (a, b) => tf.div(a, tf.add(tf.abs(b), 0.5))],
    ['maximum, minimum', (a, b) => tf.add(tf.maximum(a, tf.broadcastTo(b, a.shape)), tf.minimum(a, tf.broadcastTo(b, a.shape)))],
    ['pow', (a, b) => tf.pow(tf.add(tf.abs(a), 0.5), b)],
    ['squaredDifference', (a, b) => tf.squaredDifference(a, tf.broadcastTo(b, a.shape))],
    ['atan2', tf.atan2],
  ];
  // (tfjs's own gradients of maximum, minimum and squaredDifference do not reduce broadcast inputs.)
  it.each(binary)('%s with broadcasting (values and gradients)', async (_name, f) => {
    await expectSameAsCpu(
      gradsOf(f, () => [randn([2, 3, 4], 2), randn([3, 1], 3)]),
      2e-5,
    );
  });

  it('comparisons, logical ops, where, floorDiv and mod of int32', async () => {
    await expectSameAsCpu(() => {
      const a = randn([2, 6], 4);
      const b = randn([2, 6], 5);
      const i = tf.cast(tf.mul(a, 10), 'int32');
      const j = tf.add(tf.cast(tf.abs(tf.mul(b, 5)), 'int32'), 1);
      return [
        tf.equal(a, a),
        tf.notEqual(a, b),
        tf.less(a, b),
        tf.lessEqual(a, b),
        tf.greater(a, b),
        tf.greaterEqual(a, b),
        tf.logicalOr(tf.less(a, 0), tf.less(b, 0)),
        tf.logicalXor(tf.less(a, 0), tf.less(b, 0)),
        tf.where(tf.less(a, b), a, b),
        tf.cast(tf.logicalAnd(tf.logicalNot(tf.isNaN(a)), tf.isFinite(tf.div(a, tf.sub(a, a)))), 'float32'),
        tf.floorDiv(i, j),
        tf.mod(i, j),
        tf.mod(a, tf.add(tf.abs(b), 0.5)),
        tf.add(i, j),
        tf.mul(i, j),
        tf.cast(a, 'int32'),
        tf.cast(tf.less(a, 0), 'float32'),
        tf.cast(a, 'bool'),
      ];
    });
  });

  it('addN of many tensors', async () => {
    await expectSameAsCpu(
      gradsOf(
        (...xs) => tf.addN(xs),
        () => Array.from({ length: 9 }, (_, i) => randn([2, 3], 10 + i)),
      ),
    );
  });
});

suite('reductions, shapes and indexing match tfjs-backend-cpu', () => {
  it('sum, mean, max, min, prod, argMax, argMin over axes, with and without keepDims', async () => {
    await expectSameAsCpu(() => {
      const x = randn([2, 3, 4], 6);
      const i = tf.cast(tf.mul(x, 5), 'int32');
      return [
        tf.sum(x),
        tf.sum(x, [0, 2]),
        tf.sum(x, -1, true),
        tf.sum(i, 1),
        tf.sum(x, []),
        tf.mean(x, [1, 2]),
        tf.mean(x, 0, true),
        tf.max(x, [0, 1]),
        tf.min(x, 2, true),
        tf.prod(tf.add(x, 1.5), [1, 2]),
        tf.argMax(x, 1),
        tf.argMin(x, -1),
        tf.any(tf.greater(x, 0.8), 1),
        tf.all(tf.greater(x, -0.9), [0, 2]),
        tf.logSumExp(x, 1),
        tf.cumsum(x, 1),
        tf.cumsum(x, 2, true, true),
      ];
    });
  });

  it('reductions differentiate (moments, logSumExp, max)', async () => {
    await expectSameAsCpu(
      gradsOf(
        (x) => {
          const { mean, variance } = tf.moments(x, [1, 2], true);
          return tf.concat([
            tf.reshape(mean, [-1]),
            tf.reshape(variance, [-1]),
            tf.reshape(tf.logSumExp(x, [0, 3]), [-1]),
            tf.reshape(tf.max(x, 2), [-1]),
          ]);
        },
        () => [randn([2, 3, 4, 5], 7)],
      ),
      2e-5,
    );
  });

  it('reshape, transpose, concat, stack, unstack, split, slice, stridedSlice, tile, pad, reverse, gather', async () => {
    await expectSameAsCpu(
      gradsOf(
        (x, y) => {
          const parts = tf.split(x, [1, 3], 3);
          const pieces = [
            tf.transpose(x, [0, 3, 1, 2]),
            tf.concat([x, y], 3),
            tf.stack([x, y], 1),
            ...tf.unstack(x, 1),
            ...parts,
            tf.slice(x, [1, 0, 1, 0], [1, -1, 2, 3]),
            tf.tile(y, [1, 2, 1, 1]),
            tf.pad(x, [
              [0, 0],
              [1, 2],
              [0, 1],
              [0, 0],
            ]),
            tf.reverse(x, [1, 2]),
            tf.gather(x, tf.tensor1d([2, 0, 2], 'int32'), 1),
            tf.broadcastTo(tf.slice(y, [0, 0, 0, 0], [1, 3, 4, 4]), [2, 3, 4, 4]),
            tf.expandDims(tf.squeeze(tf.slice(x, [0, 0, 0, 0], [1, 3, 4, 4])), 0),
          ];
          return tf.concat(pieces.map((p) => tf.reshape(p, [-1])));
        },
        () => [randn([2, 3, 4, 4], 8), randn([2, 3, 4, 4], 9)],
      ),
    );
  });

  it('stridedSlice with negative strides, masks and new/shrunk axes', async () => {
    await expectSameAsCpu(() => {
      const x = randn([2, 3, 4, 4], 23);
      return [
        tf.stridedSlice(x, [0, 2, 0, 1], [2, 0, 4, 4], [1, -1, 2, 1]),
        tf.stridedSlice(x, [1, 0, 3, 0], [0, 3, 0, 4], [1, 1, -2, 1], 0b0010, 0b0010),
        tf.stridedSlice(x, [0, 1], [2, 2], [1, 1], 0, 0, 0, 0, 0b10),
        tf.stridedSlice(x, [0, 0, 1], [1, 3, 3], [1, 1, 1], 0, 0, 0, 0b010, 0),
      ];
    });
  });

  it('gather of a label embedding and its gradient (UnsortedSegmentSum), oneHot, range, fill, linspace, topk', async () => {
    await expectSameAsCpu(() => {
      const table = randn([5, 3], 10);
      const ids = tf.tensor1d([4, 0, 4, 2], 'int32');
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), randn([4, 3], 11))))(table);
      const { values, indices } = tf.topk(randn([2, 7], 12), 3);
      return [
        g,
        tf.oneHot(tf.tensor1d([0, 3, -1, 7], 'int32'), 5),
        tf.oneHot(tf.tensor2d([[1, 2]], [1, 2], 'int32'), 3, 2, -1),
        tf.range(0, 10, 3),
        tf.range(5, -3, -2.5),
        tf.range(2, 9, 2, 'int32'),
        tf.fill([2, 3], 1.5),
        tf.fill([2], 7, 'int32'),
        tf.linspace(-1, 1, 7),
        values,
        indices,
      ];
    });
  });
});

suite('network kernels match tfjs-backend-cpu (values and gradients, batch 2)', () => {
  const convCases: Array<
    [string, number, 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]], number[]]
  > = [
    ['3×3 stride 1 same', 1, 'same', [3, 3, 3, 4]],
    ['3×3 stride 2 same (asymmetric pad)', 2, 'same', [3, 3, 3, 4]],
    ['3×3 stride 2 valid', 2, 'valid', [3, 3, 3, 4]],
    [
      '3×3 explicit pad',
      1,
      [
        [0, 0],
        [2, 0],
        [1, 1],
        [0, 0],
      ],
      [3, 3, 3, 4],
    ],
    ['1×1', 1, 'valid', [1, 1, 3, 5]],
    ['2×2 stride 2 (downsample)', 2, 'same', [2, 2, 3, 2]],
  ];
  it.each(convCases)('conv2d %s', async (_name, stride, pad, filterShape) => {
    await expectSameAsCpu(
      gradsOf(
        (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
        () => [randn([2, 7, 6, 3], 13), randn(filterShape, 14)],
      ),
      2e-5,
    );
  });

  it('fused conv2d with bias and relu, and conv2dTranspose (the UNet upsampler)', async () => {
    await expectSameAsCpu(
      gradsOf(
        (x, w, b, wt) => {
          const y = tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter: w as tf.Tensor4D,
            strides: 1,
            pad: 'same',
            bias: b,
            activation: 'relu',
          });
          return tf.conv2dTranspose(y, wt as tf.Tensor4D, [2, 10, 10, 3], 2, 'same');
        },
        () => [randn([2, 5, 5, 3], 15), randn([3, 3, 3, 4], 16), randn([4], 17), randn([2, 2, 3, 4], 18)],
      ),
      2e-5,
    );
  });

  it('pooling and bilinear resizing: values and gradients (maxPool, 2×2 avgPool, align-corners bilinear)', async () => {
    // Square images: tfjs-backend-cpu's ResizeBilinearGrad swaps height and width otherwise.
    await expectSameAsCpu(
      gradsOf(
        (x) =>
          tf.concat([
            tf.reshape(tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'), [-1]),
            tf.reshape(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), [-1]),
            tf.reshape(tf.image.resizeBilinear(x as tf.Tensor4D, [9, 9], true), [-1]),
          ]),
        () => [randn([2, 5, 5, 3], 19)],
      ),
      2e-5,
    );
    await expectSameAsCpu(() => {
      const x = randn([2, 5, 5, 3], 19) as tf.Tensor4D;
      return [tf.avgPool(x, 3, 1, 'same'), tf.image.resizeBilinear(x, [7, 7], false, true)];
    });
  });

  // tfjs-backend-cpu's gradients of these two are wrong (found while writing this backend), so
  // the reference is exact: each op is linear in x, so ∂/∂xᵢ Σ w·f(x) = Σ w·f(eᵢ).
  it.each([
    ["avgPool 3×3 'same' (padding not counted)", (x: tf.Tensor4D) => tf.avgPool(x, 3, 1, 'same')],
    ['resizeBilinear with half-pixel centres', (x: tf.Tensor4D) => tf.image.resizeBilinear(x, [7, 9], false, true)],
  ])('%s: the gradient at batch 2 is exact', async (_name, f) => {
    await tf.setBackend('torch');
    const shape: [number, number, number, number] = [2, 4, 5, 2];
    const size = shape.reduce((a, b) => a * b, 1);
    const weights = tf.tidy(() => randn(f(tf.zeros(shape)).shape, 26));
    const loss = (x: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor4D), weights)) as tf.Scalar;
    const gradient = tf.tidy(() =>
      tf
        .grad(loss)(randn(shape, 27) as tf.Tensor4D)
        .dataSync(),
    );
    for (let i = 0; i < size; i++) {
      const exact = tf.tidy(
        () => loss(tf.reshape(tf.oneHot(tf.tensor1d([i], 'int32'), size, 1, 0, 'float32'), shape) as tf.Tensor4D).dataSync()[0] as number,
      );
      expect(Math.abs((gradient[i] as number) - exact), `element ${i}`).toBeLessThan(1e-5);
    }
    weights.dispose();
  });

  it('nearest-neighbour resizing, and its gradient at batch 2 against the block-sum it must equal', async () => {
    // tfjs-backend-cpu's ResizeNearestNeighborGrad is wrong for batch > 1, so the reference
    // for 2× upsampling is a broadcasting copy, whose gradient sums each 2×2 block.
    const upsample = (x: tf.Tensor4D): tf.Tensor4D => {
      const [b, h, w, c] = x.shape;
      if (tf.getBackend() === 'torch') return tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w]);
      return tf.reshape(tf.mul(tf.reshape(x, [b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])), [b, 2 * h, 2 * w, c]);
    };
    await expectSameAsCpu(
      gradsOf(
        (x) => upsample(x as tf.Tensor4D),
        () => [randn([2, 3, 5, 4], 24)],
      ),
    );
    await expectSameAsCpu(() => tf.image.resizeNearestNeighbor(randn([2, 4, 6, 3], 25) as tf.Tensor4D, [7, 5], false, true));
  });

  it("step at 0 (ReLU's gradient) and at −1 on NaN, ±∞, ±0, denormals and around 0", async () => {
    const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1e-45, -1e-45, 0.5, -0.5, -1, 1, 3.5, -2.5];
    await expectSameAsCpu(() => {
      const x = tf.tensor1d(special);
      return [tf.step(x), tf.step(x, -1), tf.step(randn([2, 3, 4, 5], 6))];
    }, 0);
  });

  it('batchNorm with per-channel statistics (the one-pass path) on NHWC, 2-D and 3-D inputs, with and without scale and offset', async () => {
    const perChannel = (x: tf.Tensor, seed: number, withAffine: boolean) => {
      const c = x.shape.at(-1) as number;
      const mean = randn([c], seed);
      const variance = tf.add(tf.abs(randn([c], seed + 1)), 0.1);
      return withAffine
        ? tf.batchNorm(x, mean, variance, randn([c], seed + 2), randn([c], seed + 3), 1e-3)
        : tf.batchNorm(x, mean, variance, undefined, undefined, 1e-3);
    };
    await expectSameAsCpu(
      gradsOf(
        (x4, x2, x3) =>
          tf.concat([
            tf.reshape(perChannel(x4, 40, true), [-1]),
            tf.reshape(perChannel(x2, 48, true), [-1]),
            tf.reshape(perChannel(x3, 52, true), [-1]),
          ]),
        () => [randn([2, 3, 4, 5], 36), randn([3, 5], 37), randn([2, 4, 3], 38)],
      ),
      2e-5,
    );
    // Without scale and offset: values only (tfjs cannot take this kernel's gradient without a scale).
    await expectSameAsCpu(() => perChannel(randn([2, 3, 4, 5], 39), 44, false), 2e-5);
  });

  it('matMul with transposes and batch broadcasting, fused matMul, softmax, logSoftmax, batchNorm', async () => {
    await expectSameAsCpu(
      gradsOf(
        (a, b, bias) =>
          tf.concat([
            tf.reshape(tf.matMul(a, b, false, true), [-1]),
            tf.reshape(tf.matMul(a, b, true, false), [-1]),
            tf.reshape(tf.fused.matMul({ a: tf.reshape(a, [-1, 4]), b: tf.reshape(b, [4, -1]), bias, activation: 'relu' }), [-1]),
            tf.reshape(tf.softmax(a), [-1]),
            tf.reshape(tf.logSoftmax(a), [-1]),
            tf.reshape(tf.batchNorm(a, tf.scalar(0.1), tf.scalar(2), tf.scalar(0.3), tf.scalar(1.5), 1e-3), [-1]),
          ]),
        () => [randn([2, 4, 4], 20), randn([2, 4, 4], 21), randn([8], 22)],
      ),
      2e-5,
    );
  });
});

suite("genlab's fused kernels match their tfjs compositions on tfjs-backend-cpu", () => {
  it('GenlabSilu and GenlabSiluGrad: x·σ(x) and its derivative', async () => {
    await expectSameAsCpu(() => {
      const x = tf.mul(randn([2, 3, 4, 5], 30), 4);
      const dy = randn([2, 3, 4, 5], 31);
      if (tf.getBackend() !== 'torch') {
        const silu = (t: tf.Tensor) => tf.mul(t, tf.sigmoid(t));
        return [silu(x), tf.grad(silu)(x, dy)];
      }
      return [tf.engine().runKernel('GenlabSilu', { x }) as tf.Tensor, tf.engine().runKernel('GenlabSiluGrad', { dy, x }) as tf.Tensor];
    }, 2e-6);
  });

  it.each([
    ['[2, 8, 8, 64], 32 groups, inputs of mean 10 and σ 3 (the one-pass variance at its weakest)', [2, 8, 8, 64], 32, 10],
    ['[3, 5, 4, 6], 2 groups, centred inputs', [3, 5, 4, 6], 2, 0],
  ] as const)('GenlabGroupNorm and GenlabGroupNormGrad: values, statistics and gradients, %s', async (_name, shape, groups, offset) => {
    const [batch, height, width, channels] = shape;
    await expectSameAsCpu(() => {
      const x = tf.add(tf.mul(randn([...shape], 40), 3 * Math.sqrt(3)), offset); // randn is uniform on [-1, 1): σ 1/√3
      const gamma = tf.add(randn([channels], 41), 1);
      const beta = randn([channels], 42);
      const dy = randn([...shape], 43);
      if (tf.getBackend() !== 'torch') {
        const grouped = (t: tf.Tensor) => tf.reshape(t, [batch, height, width, groups, channels / groups]);
        const { mean, variance } = tf.moments(grouped(x), [1, 2, 4]);
        const norm = (t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const moments = tf.moments(grouped(t), [1, 2, 4], true);
          const normalised = tf.div(tf.sub(grouped(t), moments.mean), tf.sqrt(tf.add(moments.variance, 1e-5)));
          return tf.add(tf.mul(tf.reshape(normalised, [...shape]), g), b);
        };
        const grads = tf.grads((t: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(norm(t, g, b), dy)))([x, gamma, beta]);
        return [norm(x, gamma, beta), mean, tf.rsqrt(tf.add(variance, 1e-5)), ...grads];
      }
      const [y, mean, rstd] = tf.engine().runKernel('GenlabGroupNorm', { x, gamma, beta }, { groups, epsilon: 1e-5 }) as tf.Tensor[];
      const grads = tf.engine().runKernel('GenlabGroupNormGrad', { dy, x, mean: mean!, rstd: rstd!, gamma }, { groups }) as tf.Tensor[];
      return [y!, mean!, rstd!, ...grads];
    }, 2e-5);
  });
});

suite('random draws on the device', () => {
  it('GenlabDropoutMask: each element 0 or 1/keepProb, kept at the asked rate, a fresh draw each call, nothing left behind', async () => {
    await tf.setBackend('torch');
    const before = tf.memory().numTensors;
    const shape = [4, 50, 50, 20];
    const n = 4 * 50 * 50 * 20;
    for (const keepProb of [0.9, 0.5]) {
      const draw = async () => {
        const mask = tf.engine().runKernel('GenlabDropoutMask', {}, { shape, keepProb }) as tf.Tensor;
        expect([mask.shape, mask.dtype]).toEqual([shape, 'float32']);
        const values = await mask.data();
        mask.dispose();
        return values;
      };
      const [first, second] = [await draw(), await draw()];
      let kept = 0;
      let differ = 0;
      for (let i = 0; i < n; i++) {
        if (first[i] !== 0) {
          expect(first[i]).toBeCloseTo(1 / keepProb, 6);
          kept++;
        }
        if (first[i] !== second[i]) differ++;
      }
      // Binomial(n, keepProb): within 6 standard deviations of its mean.
      expect(Math.abs(kept - n * keepProb)).toBeLessThan(6 * Math.sqrt(n * keepProb * (1 - keepProb)));
      expect(differ).toBeGreaterThan(n * keepProb * (1 - keepProb));
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

suite('seeded normal draws', () => {
  // seedrandom's alea takes the seed's decimal string, so odd keys (a float, 2^32 − 1) exercise Mash.
  const cases: Array<[string, number[], number, number, number]> = [
    ['one value', [1], 0, 1, 1],
    ['an odd count (the last pair keeps one value)', [3, 7], -2, 3, 7],
    ['mean and std applied in double before rounding', [1001], 0.5, 0.005, 123456789],
    ['the largest seed', [64, 32, 32, 3], 0, 1, 4294967295],
    ['a fractional seed', [257], 0, 2, 0.25],
    ['an empty shape', [0, 3], 0, 1, 5],
  ];
  it.each(cases)('GenlabSeededNormal equals tf.randomNormal bit for bit: %s', async (_name, shape, mean, stdDev, seed) => {
    await tf.setBackend('cpu');
    const expected = tf.randomNormal(shape, mean, stdDev, 'float32', seed);
    const reference = await expected.data();
    expected.dispose();
    await tf.setBackend('torch');
    const before = tf.memory().numTensors;
    const drawn = tf.engine().runKernel('GenlabSeededNormal', {}, { shape, mean, stdDev, seed }) as tf.Tensor;
    expect([drawn.shape, drawn.dtype]).toEqual([shape, 'float32']);
    const values = await drawn.data();
    drawn.dispose();
    expect(tf.memory().numTensors).toBe(before);
    let differ = 0;
    for (let i = 0; i < reference.length; i++) if (!Object.is(values[i], reference[i])) differ++;
    expect(differ).toBe(0);
    expect(values.length).toBe(reference.length);
  });

  it('draws a standard normal sample: its moments within sampling error', async () => {
    await tf.setBackend('torch');
    const n = 1 << 20;
    const drawn = tf.engine().runKernel('GenlabSeededNormal', {}, { shape: [n], mean: 0, stdDev: 1, seed: 42 }) as tf.Tensor;
    const values = await drawn.data();
    drawn.dispose();
    let sum = 0;
    let squares = 0;
    let beyondTwo = 0;
    for (const v of values) {
      sum += v;
      squares += v * v;
      if (Math.abs(v) > 2) beyondTwo++;
    }
    // Standard errors: mean 1/√n, second moment √(2/n), a tail fraction √(p(1 − p)/n).
    expect(Math.abs(sum / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(squares / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    const tail = 0.0455; // P(|z| > 2)
    expect(Math.abs(beyondTwo / n - tail)).toBeLessThan(5 * Math.sqrt((tail * (1 - tail)) / n));
  });
});

suite('failures are loud', () => {
  it('a kernel the backend lacks fails with an error that names it', async () => {
    await tf.setBackend('torch');
    const before = tf.memory().numTensors;
    expect(() => tf.tidy(() => tf.complex([1, 2], [3, 4]))).toThrow("Kernel 'Complex' not registered for backend 'torch'");
    const y = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    expect(() => tf.linalg.bandPart(y, 0, 0).dispose()).not.toThrow(); // composed of registered kernels
    expect(() => tf.tidy(() => tf.einsum('ij,jk->ik', y, y))).toThrow("Kernel 'Einsum' not registered for backend 'torch'");
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an unsupported variant names the kernel and its attributes', async () => {
    await tf.setBackend('torch');
    const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    expect(() => tf.image.resizeBilinear(x, [8, 8], false, false)).toThrow(
      /ResizeBilinear with alignCorners=false, halfPixelCenters=false/,
    );
    x.dispose();
  });
});
