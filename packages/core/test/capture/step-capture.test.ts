import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CapturedStep, CaptureRefusedError, setStepCapture, stepRecorder } from '../../src/capture/step-capture.js';
import { captureTrainingStep } from '../../src/capture/training-step.js';
import { adam } from '../../src/optim/adam.js';
import { seededValues } from '../helpers/numeric.js';

/** The torch backend, when its addon is built here (an optional dependency of this package). */
const torch = await import('@lab/backend-torch')
  .then((m) => m.torchStatus())
  .catch((error: Error) => ({ available: false as const, reason: error.message }));
const suite = torch.available ? describe : describe.skip;
if (!torch.available) console.warn(`step capture tests on torch skipped: ${torch.reason}`);

/** Seeded values in [-1, 1) shaped as given. */
const randn = (shape: number[], seed: number) =>
  tf.tensor(
    seededValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );

/** A small conv net's weights and loss: a stride-2 'same' convolution (padded), ReLU, a dense layer. */
function makeNet(seed: number) {
  const w1 = tf.variable(randn([3, 3, 2, 4], seed), true);
  const w2 = tf.variable(randn([4 * 3 * 3, 3], seed + 1), true);
  const loss = ([x, target]: readonly tf.Tensor[]) => {
    const h = tf.relu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Variable<tf.Rank.R4>, 2, 'same'));
    const y = tf.matMul(tf.reshape(h, [x!.shape[0] as number, -1]), w2);
    return tf.mean(tf.square(tf.sub(y, target as tf.Tensor))) as tf.Scalar;
  };
  return { variables: [w1, w2], loss, dispose: () => tf.dispose([w1, w2]) };
}

/** A batch for step `i`: each step trains on other data. */
const batch = (i: number, n = 3) => [randn([n, 5, 5, 2], 100 + i), randn([n, 3], 200 + i)];

describe('CapturedStep on a backend that cannot record', () => {
  beforeEach(() => tf.setBackend('cpu'));

  it('runs every call as it is and says why', () => {
    expect(stepRecorder()).toBeUndefined();
    const step = new CapturedStep(([x]) => [tf.mul(x as tf.Tensor, 2)]);
    const x = tf.tensor([1, 2]);
    for (let i = 0; i < 4; i++) {
      const [y] = step.run([x]);
      expect(Array.from(y!.dataSync())).toEqual([2, 4]);
      y!.dispose();
    }
    expect(step.state).toBe('eager');
    expect(step.refusal).toBe('the cpu backend cannot record steps');
    expect(() => new CapturedStep(() => [], { onRefused: 'throw' }).run([])).toThrow(CaptureRefusedError);
    x.dispose();
  });
});

describe.each([
  ['cpu', true],
  ['torch', torch.available],
])('a CapturedStep on %s', (backend, available) => {
  it.skipIf(!available)('leaves nothing but its results, from its first call on (the step needs no tf.tidy)', async () => {
    await tf.setBackend(backend);
    const x = tf.tensor([1, 2, 3]);
    const before = tf.memory().numTensors;
    const step = new CapturedStep(([t]) => [tf.add(tf.mul(t as tf.Tensor, 2), tf.square(t as tf.Tensor))]);
    for (let i = 0; i < 5; i++) {
      const [y] = step.run([x]);
      expect(Array.from(y!.dataSync())).toEqual([3, 8, 15]);
      y!.dispose();
      expect(tf.memory().numTensors, `after call ${i + 1}`).toBe(before);
    }
    step.dispose();
    x.dispose();
  });
});

suite('CapturedStep on torch', () => {
  beforeEach(() => tf.setBackend('torch'));
  afterEach(() => tf.engine().disposeVariables());

  it('trains as the plain step does, value for value, on new data every step', async () => {
    const plain = makeNet(1);
    const captured = makeNet(1);
    const plainOptimizer = adam(0.05);
    const capturedOptimizer = adam(0.05);
    const step = captureTrainingStep(capturedOptimizer, captured.loss, { variables: captured.variables, onRefused: 'throw' });
    const states: string[] = [];
    for (let i = 0; i < 7; i++) {
      const inputs = batch(i);
      states.push(step.state);
      const expected = plainOptimizer.minimize(() => plain.loss(inputs), true, plain.variables) as tf.Scalar;
      const [loss] = step.run(inputs);
      expect(loss!.dataSync()[0]).toBe(expected.dataSync()[0]);
      tf.dispose([expected, loss!, ...inputs]);
    }
    // One plain call (Adam makes its moments), two recordings, then replays.
    expect(states).toEqual(['warming-up', 'recording', 'recording', 'replaying', 'replaying', 'replaying', 'replaying']);
    expect(step.nativeCalls).toBeGreaterThan(10);
    for (const [i, v] of plain.variables.entries()) expect(Array.from(captured.variables[i]!.dataSync())).toEqual(Array.from(v.dataSync()));
    expect(capturedOptimizer.iterations).toBe(plainOptimizer.iterations);
    const [plainState, capturedState] = [await plainOptimizer.getWeights(), await capturedOptimizer.getWeights()];
    for (const [i, s] of capturedState.entries())
      expect(Array.from(s.tensor.dataSync())).toEqual(Array.from(plainState[i]!.tensor.dataSync()));
    step.dispose();
    plain.dispose();
    captured.dispose();
  });

  it('keeps tfjs’s tensor count and LibTorch’s live tensors flat over replays', async () => {
    const net = makeNet(2);
    const inputs = batch(0);
    const step = captureTrainingStep(adam(0.01), net.loss, { variables: net.variables, onRefused: 'throw' });
    for (let i = 0; i < 4; i++) tf.dispose(step.run(inputs));
    const native = (tf.backend() as unknown as { native: { liveTensors(): number } }).native;
    const [tensors, live] = [tf.memory().numTensors, native.liveTensors()];
    for (let i = 0; i < 20; i++) tf.dispose(step.run(inputs));
    expect(step.state).toBe('replaying');
    expect([tf.memory().numTensors, native.liveTensors()]).toEqual([tensors, live]);
    step.dispose();
    tf.dispose(inputs);
    net.dispose();
  });

  it('records again when the learning rate changes, and follows it', () => {
    const plain = makeNet(3);
    const captured = makeNet(3);
    const [plainOptimizer, capturedOptimizer] = [adam(0.05), adam(0.05)];
    const step = captureTrainingStep(capturedOptimizer, captured.loss, { variables: captured.variables, onRefused: 'throw' });
    const states: string[] = [];
    for (let i = 0; i < 8; i++) {
      if (i === 5) for (const o of [plainOptimizer, capturedOptimizer]) (o as unknown as { learningRate: number }).learningRate = 0.01;
      const inputs = batch(i);
      tf.dispose([plainOptimizer.minimize(() => plain.loss(inputs), true, plain.variables) as tf.Scalar, ...step.run(inputs), ...inputs]);
      states.push(step.state); // how the next call runs
    }
    // Call 6 (i = 5) sees the new rate: it and the next are recorded, then replays resume.
    expect(states).toEqual(['recording', 'recording', 'replaying', 'replaying', 'replaying', 'recording', 'replaying', 'replaying']);
    for (const [i, v] of plain.variables.entries()) expect(Array.from(captured.variables[i]!.dataSync())).toEqual(Array.from(v.dataSync()));
    step.dispose();
  });

  it('runs a call whose inputs have other shapes as it is (a smaller last batch)', () => {
    const plain = makeNet(4);
    const captured = makeNet(4);
    const [plainOptimizer, capturedOptimizer] = [adam(0.05), adam(0.05)];
    const step = captureTrainingStep(capturedOptimizer, captured.loss, { variables: captured.variables, onRefused: 'throw' });
    for (let i = 0; i < 6; i++) {
      const inputs = batch(i, i === 4 ? 2 : 3);
      const expected = plainOptimizer.minimize(() => plain.loss(inputs), true, plain.variables) as tf.Scalar;
      const [loss] = step.run(inputs);
      expect(loss!.dataSync()[0]).toBe(expected.dataSync()[0]);
      tf.dispose([expected, loss!, ...inputs]);
    }
    expect(step.state).toBe('replaying');
    step.dispose();
  });

  it('compares recordings made on inputs of the same shapes only', () => {
    const step = new CapturedStep(([t]) => [tf.mul(t as tf.Tensor, 3)], { onRefused: 'throw' });
    const states: string[] = [];
    for (const n of [2, 2, 3, 3, 3]) {
      const t = tf.ones([n]);
      const [y] = step.run([t]);
      expect(Array.from(y!.dataSync())).toEqual(new Array(n).fill(3));
      tf.dispose([t, y!]);
      states.push(step.state);
    }
    // Calls 2 (two elements) and 3 (three) are not compared: call 3's recording waits for call 4's.
    expect(states).toEqual(['recording', 'recording', 'recording', 'replaying', 'replaying']);
    step.dispose();
  });

  it('runs as it is once the backend is another than the one it recorded on', async () => {
    const x = tf.tensor([1, 2]);
    const step = new CapturedStep(([t]) => [tf.add(t as tf.Tensor, 1)]);
    for (let i = 0; i < 4; i++) tf.dispose(step.run([x]));
    expect(step.state).toBe('replaying');
    await tf.setBackend('cpu');
    const y = tf.tensor([5, 6]);
    const [z] = step.run([y]);
    expect(Array.from(z!.dataSync())).toEqual([6, 7]);
    expect(step.state).toBe('eager');
    expect(step.refusal).toBe('the backend changed to cpu after the step was made');
    tf.dispose([y, z!]);
    await tf.setBackend('torch');
    x.dispose();
  });

  it('records with a variable still held by another backend, and refuses once the step moved it', async () => {
    await tf.setBackend('cpu');
    const w = tf.variable(tf.tensor([1, 2, 3]));
    await tf.setBackend('torch');
    const x = tf.tensor([1, 1, 1]);
    const step = new CapturedStep(([t]) => [tf.mul(t as tf.Tensor, w)], { warmupCalls: 0 });
    for (let i = 0; i < 3; i++) {
      const [y] = step.run([x]);
      expect(Array.from(y!.dataSync())).toEqual([1, 2, 3]);
      y!.dispose();
    }
    // The first recording moved w here (an upload), the second did not: they differ.
    expect(step.state).toBe('eager');
    expect(step.refusal).toContain('two recordings of the step differ');
    tf.dispose([w, x]);
  });

  it('leaves a clone of a variable as it was when a replay updates the variable', () => {
    const net = makeNet(5);
    const inputs = batch(0);
    const step = captureTrainingStep(adam(0.05), net.loss, { variables: net.variables, onRefused: 'throw' });
    for (let i = 0; i < 3; i++) tf.dispose(step.run(inputs));
    const w = net.variables[0]!;
    const snapshot = tf.clone(w);
    const before = Array.from(snapshot.dataSync());
    tf.dispose(step.run(inputs));
    expect(step.state).toBe('replaying');
    expect(Array.from(snapshot.dataSync())).toEqual(before);
    expect(Array.from(w.dataSync())).not.toEqual(before);
    tf.dispose([snapshot, ...inputs]);
    step.dispose();
  });

  it('refuses a step whose uploads, random draws or outside tensors change, and says which', () => {
    const x = tf.tensor([1, 2, 3]);
    let call = 0;
    let outside = tf.fill([3], 0);
    const cases: Array<[string, (inputs: readonly tf.Tensor[]) => tf.Tensor[], string]> = [
      ['a JavaScript number', ([t]) => [tf.mul(t as tf.Tensor, ++call)], 'uploads or draws different values'],
      [
        'a seeded draw',
        ([t]) => [tf.add(t as tf.Tensor, tf.randomNormal([3], 0, 1, 'float32', ++call))],
        'uploads or draws different values',
      ],
      ['a tensor made outside the step', ([t]) => [tf.add(t as tf.Tensor, outside)], 'neither an input nor a variable'],
    ];
    const run = (step: CapturedStep) => {
      for (let i = 0; i < 4; i++) {
        outside.dispose();
        outside = tf.fill([3], i); // made anew before each call
        tf.dispose(step.run([x]));
      }
    };
    for (const [name, fn, reason] of cases) {
      const eager = new CapturedStep(fn);
      run(eager);
      expect(eager.state, name).toBe('eager');
      expect(eager.refusal, name).toContain(reason);
      expect(() => run(new CapturedStep(fn, { onRefused: 'throw' })), name).toThrow(CaptureRefusedError);
    }
    // The same steps with what changes passed in as inputs replay.
    const declared = new CapturedStep(([t, u]) => [tf.add(t as tf.Tensor, u as tf.Tensor)], { onRefused: 'throw' });
    for (let i = 0; i < 4; i++) {
      const u = tf.fill([3], i);
      const [y] = declared.run([x, u]);
      expect(Array.from(y!.dataSync())).toEqual([1 + i, 2 + i, 3 + i]);
      tf.dispose([u, y!]);
    }
    expect(declared.state).toBe('replaying');
    tf.dispose([x, outside]);
  });

  it('runs every call as it is while capture is switched off', () => {
    const x = tf.tensor([1, 2, 3]);
    setStepCapture(false);
    try {
      const off = new CapturedStep(([t]) => [tf.mul(t as tf.Tensor, 2)]);
      for (let i = 0; i < 4; i++) tf.dispose(off.run([x]));
      expect(off.state).toBe('eager');
      expect(off.refusal).toContain('step capture is off');
      expect(() => new CapturedStep(() => [], { onRefused: 'throw' }).run([])).toThrow(CaptureRefusedError);
    } finally {
      setStepCapture(true);
    }
    const on = new CapturedStep(([t]) => [tf.mul(t as tf.Tensor, 2)]);
    for (let i = 0; i < 4; i++) tf.dispose(on.run([x]));
    expect(on.state).toBe('replaying');
    on.dispose();
    x.dispose();
  });

  it('refuses to read values inside a recorded step, and the backend records again afterwards', () => {
    const x = tf.tensor([1, 2, 3]);
    const reading = new CapturedStep(([t]) => [tf.mul(t as tf.Tensor, (t as tf.Tensor).dataSync()[0] as number)]);
    tf.dispose(reading.run([x]));
    expect(() => reading.run([x])).toThrow('cannot read tensor values');
    const fine = new CapturedStep(([t]) => [tf.mul(t as tf.Tensor, 2)], { onRefused: 'throw' });
    for (let i = 0; i < 4; i++) {
      const [y] = fine.run([x]);
      expect(Array.from(y!.dataSync())).toEqual([2, 4, 6]);
      y!.dispose();
    }
    expect(fine.state).toBe('replaying');
    tf.dispose(x);
    fine.dispose();
  });
});
