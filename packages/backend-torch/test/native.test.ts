import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { TorchBackend } from '../src/backend.js';
import { configureTorch, loadedBlasLibraries, loadNative } from '../src/index.js';
import { missingNativeFunctions, NATIVE_FUNCTIONS } from '../src/native.js';
import { randn, torchReason } from './helpers.js';

const suite = torchReason === undefined ? describe : describe.skip;

describe('an addon from an older build', () => {
  it('is named by the functions it lacks, so that loading it can say "rebuild" instead of failing later', () => {
    const current = Object.fromEntries(NATIVE_FUNCTIONS.map((name) => [name, () => 0]));
    expect(missingNativeFunctions(current)).toEqual([]);
    const { aleaNormal: _dropped, ...older } = current;
    expect(missingNativeFunctions({ ...older, setBlasThreads: 1 })).toEqual(['aleaNormal', 'setBlasThreads']);
  });
});

suite('the addon', () => {
  it('group-normalises NHWC tensors as the closed form says, and refuses channels that do not split into the groups', () => {
    const native = loadNative();
    // One sample, 2×1 pixels, 4 channels in 2 groups: group 0 holds 1, 2, 5, 6; group 1 holds 3, 4, 7, 8.
    const x = native.fromArray(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 1, 4], 'float32');
    const gamma = native.fromArray(Float32Array.from([1, 2, 1, 2]), [4], 'float32');
    const beta = native.fromArray(Float32Array.from([0, 0, 1, 1]), [4], 'float32');
    const [y, mean, rstd] = native.groupNormNhwc(x, gamma, beta, 2, 0);
    const xs = Array.from(native.toArray(x) as Float32Array);
    const groupOf = (c: number) => (c < 2 ? 0 : 1);
    const stats = [0, 1].map((g) => {
      const values = xs.filter((_, i) => groupOf(i % 4) === g);
      const m = values.reduce((a, v) => a + v, 0) / values.length;
      const variance = values.reduce((a, v) => a + (v - m) ** 2, 0) / values.length;
      return { m, r: 1 / Math.sqrt(variance) };
    });
    expect(Array.from(native.toArray(mean!) as Float32Array)).toEqual(stats.map((s) => Math.fround(s.m)));
    const rstdValues = Array.from(native.toArray(rstd!) as Float32Array);
    for (const g of [0, 1]) expect(rstdValues[g]).toBeCloseTo(stats[g]!.r, 6);
    const ys = Array.from(native.toArray(y!) as Float32Array);
    for (const [i, v] of ys.entries()) {
      const c = i % 4;
      const { m, r } = stats[groupOf(c)]!;
      expect(v).toBeCloseTo((xs[i]! - m) * r * [1, 2, 1, 2][c]! + [0, 0, 1, 1][c]!, 5);
    }
    expect(() => native.groupNormNhwc(x, gamma, beta, 3, 1e-5)).toThrow('channels must divide into groups');
    native.dispose(x, gamma, beta, y!, mean!, rstd!);
  });

  it('pads NHWC tensors with zero rows and columns where asked, values in place, and refuses what it cannot pad', () => {
    const native = loadNative();
    const [n, h, w, c] = [2, 3, 2, 3];
    const values = Float32Array.from({ length: n * h * w * c }, (_, i) => i + 1);
    const x = native.fromArray(values, [n, h, w, c], 'float32');
    const [top, bottom, left, right] = [1, 2, 2, 1];
    const padded = native.padNhwc(x, [top, bottom, left, right]);
    const [H, W] = [h + top + bottom, w + left + right];
    expect(native.meta(padded)).toEqual([0, n, H, W, c]);
    const out = native.toArray(padded) as Float32Array;
    for (let b = 0; b < n; b++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++)
          for (let k = 0; k < c; k++) {
            const [si, sj] = [i - top, j - left];
            const inside = si >= 0 && si < h && sj >= 0 && sj < w;
            const expected = inside ? values[((b * h + si) * w + sj) * c + k]! : 0;
            expect(out[((b * H + i) * W + j) * c + k], `[${b}, ${i}, ${j}, ${k}]`).toBe(expected);
          }
    expect(() => native.padNhwc(x, [0, 1, 0] as unknown as [number, number, number, number])).toThrow('non-negative padding');
    expect(() => native.padNhwc(x, [0, -1, 0, 1])).toThrow('non-negative padding');
    const ints = native.fromArray(Int32Array.from([1, 2]), [1, 1, 1, 2], 'int32');
    expect(() => native.padNhwc(ints, [0, 1, 0, 1])).toThrow('CPU float32 NHWC');
    native.dispose(x, padded, ints);
  });

  it('updates Adam in one call as the closed form says, and refuses lists that do not line up', () => {
    const native = loadNative();
    const [w, g, m, v] = [
      [1, -2],
      [0.5, 0.25],
      [0.1, 0],
      [0.01, 0],
    ].map((values) => native.fromArray(Float32Array.from(values), [2], 'float32')) as [number, number, number, number];
    const [lr, beta1, beta2, epsilon] = [0.1, 0.9, 0.999, 1e-8];
    // β₁ᵗ and β₂ᵗ at t = 3, as float32 tensors; the bias corrections come from their float32 values.
    const powers = [beta1 ** 3, beta2 ** 3].map((p) => native.fromArray(Float32Array.of(p), [], 'float32')) as [number, number];
    const [bc1, bc2] = [1 - Math.fround(beta1 ** 3), 1 - Math.fround(beta2 ** 3)];
    const out = native.adamUpdate([w], [g], [m], [v], [lr, beta1, beta2, epsilon], ...powers);
    const [mOut, vOut, wOut] = out.map((id) => Array.from(native.toArray(id) as Float32Array));
    const expected = [0, 1].map((i) => {
      const [wi, gi, mi, vi] = [[1, -2][i]!, [0.5, 0.25][i]!, [0.1, 0][i]!, [0.01, 0][i]!];
      const m1 = beta1 * mi + (1 - beta1) * gi;
      const v1 = beta2 * vi + (1 - beta2) * gi * gi;
      return { m1, v1, w1: wi - ((lr / bc1) * m1) / (Math.sqrt(v1 / bc2) + epsilon) };
    });
    for (const i of [0, 1]) {
      expect(mOut![i]).toBeCloseTo(expected[i]!.m1, 6);
      expect(vOut![i]).toBeCloseTo(expected[i]!.v1, 7);
      expect(wOut![i]).toBeCloseTo(expected[i]!.w1, 5);
    }
    expect(() => native.adamUpdate([w], [g, g], [m], [v], [lr, beta1, beta2, epsilon], ...powers)).toThrow(
      'the four lists differ in length',
    );
    expect(() => native.adamUpdate([w], [g], [m], [v], [lr, beta1, beta2, epsilon], w, powers[1])).toThrow('float32 scalars');
    native.dispose(w, g, m, v, ...powers, ...out);
  });

  it('round-trips float32, int32 and bool values through LibTorch', () => {
    const native = loadNative();
    const cases = [
      [new Float32Array([1.5, -2, 3e-8, Number.POSITIVE_INFINITY]), 'float32'],
      [new Int32Array([7, -8, 2 ** 31 - 1, 0]), 'int32'],
      [new Uint8Array([1, 0, 0, 1]), 'bool'],
    ] as const;
    for (const [values, dtype] of cases) {
      const id = native.fromArray(values, [2, 2], dtype);
      expect(native.toArray(id)).toEqual(values);
      expect(native.meta(id)).toEqual([{ float32: 0, int32: 1, bool: 2 }[dtype], 2, 2]);
      native.dispose(id);
    }
  });

  it('calls operators by schema, fills defaults, and names the operator and argument in errors', () => {
    const native = loadNative();
    const x = native.fromArray(new Float32Array([1, 2, 3, 4]), [2, 2], 'float32');
    const sum = native.call(native.op('aten::sum', 'dim_IntList'), [x, [1]]) as number; // keepdim, dtype defaulted
    expect(native.toArray(sum)).toEqual(new Float32Array([3, 7]));
    const add = native.op('aten::add', 'Tensor');
    expect(() => native.call(add, [x])).toThrow("aten::add.Tensor argument 'other' (Tensor): missing, and the schema has no default");
    expect(() => native.call(add, [x, 'two'])).toThrow(/argument 'other'/);
    expect(() => native.op('aten::no_such_op', '')).toThrow('LibTorch has no operator aten::no_such_op');
    const bad = native.fromArray(new Float32Array(3), [3], 'float32');
    expect(() => native.call(native.op('aten::matmul', ''), [x, bad])).toThrow(/aten::matmul: .*(size|shape)/i);
    expect(() => native.fromArray(new Float32Array(3), [2, 2], 'float32')).toThrow('fromArray: 12 bytes given for a tensor of 16 bytes');
    native.dispose(x, sum, bad);
    expect(() => native.dispose(x)).toThrow(/is not live/);
  });

  it('frees LibTorch tensors when tfjs disposes them, views included', async () => {
    await tf.setBackend('torch');
    const native = loadNative();
    const before = native.liveTensors();
    const x = randn([2, 3, 4], 1);
    const views = [tf.transpose(x), tf.slice(x, [0, 1, 0], [2, 2, 4]), tf.reshape(x, [6, 4])];
    expect(native.liveTensors()).toBe(before + 4);
    tf.dispose([x, ...views]);
    expect(native.liveTensors()).toBe(before);
  });

  it('clones, same-dtype casts and same-shape reshapes share the LibTorch tensor, which lives until its last holder is disposed', async () => {
    await tf.setBackend('torch');
    const native = loadNative();
    const before = native.liveTensors();
    const x = randn([2, 3], 4);
    const expected = Array.from(x.dataSync());
    const copies = [tf.clone(x), tf.cast(x, 'float32'), tf.reshape(x, [2, 3]), tf.reshape(x, [-1, 3])];
    expect(native.liveTensors()).toBe(before + 1);
    x.dispose();
    expect(native.liveTensors()).toBe(before + 1);
    for (const copy of copies) expect(Array.from(copy.dataSync())).toEqual(expected);
    tf.dispose(copies);
    expect(native.liveTensors()).toBe(before);
  });
});

suite('the backend', () => {
  it("reads a call's result shape from the addon's description, and never a stale one", async () => {
    await tf.setBackend('torch');
    const native = loadNative();
    const backend = tf.backend() as unknown as TorchBackend;
    const a = randn([2, 3], 6);
    const meta = native.meta.bind(native);
    let metaCalls = 0;
    native.meta = (id: number) => {
      metaCalls++;
      return meta(id);
    };
    try {
      const sum = tf.add(a, a);
      expect(sum.shape).toEqual([2, 3]);
      expect(metaCalls).toBe(0);
      sum.dispose();
      // A tensor made outside `call` reuses the freed id: its shape must come from `meta`.
      const described = backend.callTensor('aten::alias', [backend.id(a)]);
      backend.free(described);
      const reused = native.fromArray(new Float32Array(5), [5], 'float32');
      expect(reused).toBe(described);
      const info = backend.output(reused);
      expect(info.shape).toEqual([5]);
      expect(metaCalls).toBe(1);
      backend.disposeIntermediateTensorInfo(info);
    } finally {
      native.meta = meta;
    }
    a.dispose();
  });

  it('keeps tfjs tensors and LibTorch tensors in step over repeated training steps (no leaks)', async () => {
    await tf.setBackend('torch');
    const native = loadNative();
    const w = tf.variable(randn([3, 3, 2, 4], 2));
    const optimizer = tf.train.adam(1e-2);
    const x = randn([2, 6, 6, 2], 3);
    const step = () =>
      optimizer
        .minimize(
          () => tf.mean(tf.square(tf.relu(tf.conv2d(x as tf.Tensor4D, w as tf.Variable<tf.Rank.R4>, 1, 'same')))) as tf.Scalar,
          true,
        )
        ?.dispose();
    step();
    const tensors = tf.memory().numTensors;
    const live = native.liveTensors();
    const dataIds = tf.engine().backend.numDataIds();
    for (let i = 0; i < 20; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(native.liveTensors()).toBe(live);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
    optimizer.dispose();
    tf.dispose([w, x]);
  });

  it('keeps freed memory for the next allocation under malloc retain (glibc), and gives it back under the defaults', () => {
    const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
    if (glibc === undefined) return; // musl, macOS: mallopt is glibc's
    const native = loadNative();
    const ones = native.op('aten::ones', '');
    /** Minor page faults while allocating, filling and freeing a 16 MiB tensor `times` times. */
    const faults = (times: number): number => {
      // Warm-up: while the heap grows to hold the block, glibc still faults pages in (~10 rounds).
      for (let i = 0; i < 20; i++) native.dispose(native.call(ones, [[4 * 1024 * 1024]]) as number);
      const before = process.resourceUsage().minorPageFault;
      for (let i = 0; i < times; i++) native.dispose(native.call(ones, [[4 * 1024 * 1024]]) as number);
      return process.resourceUsage().minorPageFault - before;
    };
    try {
      // glibc's default thresholds, fixed: a 16 MiB block is mmap'd and unmapped each time (4,096 pages).
      expect(native.retainFreedMemory(128 * 1024, 128 * 1024)).toBe(true);
      expect(faults(10)).toBeGreaterThan(10 * 2000);
      expect(native.retainFreedMemory(32 * 1024 * 1024, 2 ** 31 - 1)).toBe(true);
      expect(faults(10)).toBeLessThan(10 * 200);
    } finally {
      native.retainFreedMemory(32 * 1024 * 1024, 2 ** 31 - 1); // what configureTorch set
    }
  });

  it("sets OpenBLAS's own thread count exactly when LibTorch loaded OpenBLAS", () => {
    const native = loadNative();
    const openBlas = loadedBlasLibraries().some((name) => name.includes('openblas'));
    expect(native.setBlasThreads(1)).toBe(openBlas);
    const { detail } = configureTorch();
    expect(/BLAS .*openblas[^,]*\(1 thread\)/.test(detail)).toBe(openBlas);
  });

  it('refuses string tensors with a clear error', async () => {
    await tf.setBackend('torch');
    expect(() => tf.tensor(['a'])).toThrow('@lab/backend-torch: string tensors are not supported');
  });
});

suite('deferred results', () => {
  /** Runs `f` counting the torch backend's calls of one ATen operator. */
  function countCalls(operatorName: string, f: () => void): number {
    const backend = tf.backend() as unknown as { call: (operator: string, args: readonly unknown[]) => unknown };
    const call = backend.call;
    let count = 0;
    backend.call = (operator, args) => {
      if (operator === operatorName) count++;
      return call.call(backend, operator, args);
    };
    try {
      f();
    } finally {
      backend.call = call;
    }
    return count;
  }
  const countConvolutionBackward = (f: () => void) => countCalls('aten::convolution_backward', f);

  /** How many asymmetric paddings of an NHWC input (the addon's `padNhwc`, on the CPU) `f` makes. */
  function countPads(f: () => void): number {
    const native = loadNative();
    const padNhwc = native.padNhwc;
    let count = 0;
    native.padNhwc = (...args) => {
      count++;
      return padNhwc.apply(native, args);
    };
    try {
      f();
    } finally {
      native.padNhwc = padNhwc;
    }
    return count;
  }

  it("computes a fused convolution's input and filter gradients only when something reads them, and frees what they held", async () => {
    const loss = (input: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D) =>
      tf.sum(tf.square(tf.fused.conv2d({ x: input, filter, bias, strides: 2, pad: 'same' })));
    const inputs = () => [randn([2, 6, 6, 3], 1), randn([3, 3, 3, 4], 2), randn([4], 3)] as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D];
    const bothGradients = (x: tf.Tensor4D, w: tf.Tensor4D, bias: tf.Tensor1D) =>
      tf.grads((a: tf.Tensor, f: tf.Tensor) => loss(a as tf.Tensor4D, f as tf.Tensor4D, bias))([x, w]);
    // The reference: both gradients on tfjs-backend-cpu.
    await tf.setBackend('cpu');
    const [cx, cw, cb] = inputs();
    const cpuGrads = bothGradients(cx, cw, cb);
    const expected = await Promise.all(cpuGrads.map(async (g) => Array.from(await g.data())));
    tf.dispose([cx, cw, cb, ...cpuGrads]);

    await tf.setBackend('torch');
    const native = loadNative();
    const [x, w, bias] = inputs();
    const live = native.liveTensors();
    // One gradient asked for: tfjs's fused gradient makes both, and neither is computed until read.
    for (const [which, gradient] of [
      ['input', () => tf.grad((a: tf.Tensor) => loss(a as tf.Tensor4D, w, bias))(x)],
      ['filter', () => tf.grad((f: tf.Tensor) => loss(x, f as tf.Tensor4D, bias))(w)],
    ] as const) {
      let g: tf.Tensor | undefined;
      expect(
        countConvolutionBackward(() => (g = gradient())),
        `${which}: computing`,
      ).toBe(0);
      expect(
        countConvolutionBackward(() => g!.dataSync()),
        `${which}: reading`,
      ).toBe(1);
      g!.dispose();
    }
    // Both asked for and read: one call each, values as on cpu.
    let grads: tf.Tensor[] = [];
    expect(
      countConvolutionBackward(() => {
        grads = bothGradients(x, w, bias);
        for (const g of grads) g.dataSync();
      }),
    ).toBe(2);
    for (const [i, g] of grads.entries()) {
      const values = Array.from(await g.data());
      expect(values.length).toBe(expected[i]!.length);
      for (const [j, v] of values.entries()) expect(v).toBeCloseTo(expected[i]![j]!, 3);
    }
    tf.dispose(grads);
    expect(native.liveTensors()).toBe(live);
    tf.dispose([x, w, bias]);
  });

  it("pads a stride-2 'same' convolution's input once for its forward pass and filter gradient, and frees the copy with the input", async () => {
    // tfjs's 'same' pads (0, 1) here, which ATen's symmetric padding cannot express.
    const loss = (input: tf.Tensor4D, filter: tf.Tensor4D) => tf.sum(tf.square(tf.conv2d(input, filter, 2, 'same')));
    const filterGradient = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.grad((f: tf.Tensor) => loss(x, f as tf.Tensor4D))(w);
    await tf.setBackend('cpu');
    const [cx, cw] = [randn([2, 6, 6, 3], 4) as tf.Tensor4D, randn([3, 3, 3, 4], 5) as tf.Tensor4D];
    const cpuGradient = filterGradient(cx, cw);
    const expected = Array.from(await cpuGradient.data());
    tf.dispose([cx, cw, cpuGradient]);

    await tf.setBackend('torch');
    const native = loadNative();
    const live = native.liveTensors();
    const [x, w] = [randn([2, 6, 6, 3], 4) as tf.Tensor4D, randn([3, 3, 3, 4], 5) as tf.Tensor4D];
    let g: tf.Tensor | undefined;
    const pads = countPads(() => {
      g = filterGradient(x, w);
      g.dataSync();
    });
    expect(pads).toBe(1);
    // The filter gradient took the copy: x, w and g are all that is left.
    expect(native.liveTensors()).toBe(live + 3);
    const values = Array.from(await g!.data());
    for (const [j, v] of values.entries()) expect(v).toBeCloseTo(expected[j]!, 3);
    // Without a gradient tape nothing is kept: the forward pass pads, and frees the copy at once.
    const before = native.liveTensors();
    const y = tf.conv2d(x, w, 2, 'same');
    expect(native.liveTensors()).toBe(before + 1);
    tf.dispose([g!, y, x, w]);
    expect(native.liveTensors()).toBe(live);
  });
});
