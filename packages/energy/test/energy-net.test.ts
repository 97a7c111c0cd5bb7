import { FEATURES_LAYER, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEnergyNet, energyFunction, inferEnergyMode, resolveEnergyNetConfig, Silu, SpectralConv2D } from '../src/index.js';
import { maxAbsDiff, useCpuBackend } from './helpers.js';

beforeAll(useCpuBackend);

async function read(t: tf.Tensor): Promise<number[]> {
  const values = Array.from(await t.data());
  t.dispose();
  return values;
}

/** Saves to memory and loads back through the registered custom layers. */
async function roundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
}

const tinyImage = { inputShape: [8, 8, 3], channels: [4, 8] } as const;

describe('createEnergyNet', () => {
  it('small preset: the UvA tutorial CNN, 32×32×3 → one energy per image', async () => {
    const model = createEnergyNet('small');
    const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
    expect(convs.map((l) => (l.getConfig() as { filters: number }).filters)).toEqual([16, 32, 64, 64]);
    expect(model.layers.filter((l) => l instanceof Silu)).toHaveLength(5);
    const x = tf.randomUniform([3, 32, 32, 3], -1, 1, 'float32', 1);
    const e = energyFunction(model)(x);
    expect(e.shape).toEqual([3]);
    expect((await read(e)).every(Number.isFinite)).toBe(true);
    x.dispose();
    model.dispose();
  });

  it("SiLU layers save and load, and models saved with tfjs-layers' 'swish' activation (before the Silu layer) still load and agree", async () => {
    const model = createEnergyNet({ preset: 'small', ...tinyImage, seed: 5 });
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 2);
    const expected = await read(energyFunction(model)(x));
    const loaded = await roundTrip(model);
    expect(loaded.layers.filter((l) => l instanceof Silu).length).toBeGreaterThan(0);
    expect(maxAbsDiff(await read(energyFunction(loaded)(x)), expected)).toBe(0);
    // The same weights in the topology an older genlab wrote: Activation layers with 'swish'.
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const topology = JSON.stringify((artifacts as tf.io.ModelArtifacts).modelTopology).replace(
      /"class_name":"Silu","config":\{"name":"([^"]+)","trainable":true/g,
      '"class_name":"Activation","config":{"name":"$1","trainable":true,"activation":"swish"',
    );
    expect(topology).not.toContain('"Silu"');
    const old = await tfl.loadLayersModel(
      tf.io.fromMemory({ ...(artifacts as tf.io.ModelArtifacts), modelTopology: JSON.parse(topology) }),
    );
    expect(old.layers.some((l) => l.getClassName() === 'Activation')).toBe(true);
    expect(maxAbsDiff(await read(energyFunction(old)(x)), expected)).toBeLessThan(1e-6);
    tf.dispose(x);
    for (const m of [model, loaded, old]) m.dispose();
  });

  it('resnet-small preset: the residual body at 16-32-64 channels, without spectral norm', () => {
    const model = createEnergyNet({ preset: 'resnet-small', inputShape: [8, 8, 3], seed: 3 });
    expect(model.layers.some((l) => l instanceof SpectralConv2D)).toBe(false);
    expect(model.layers.some((l) => l.getClassName() === 'Add')).toBe(true);
    const widths = model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => (l.getConfig() as { filters: number }).filters);
    expect(new Set(widths)).toEqual(new Set([16, 32, 64]));
    model.dispose();
  });

  it('resnet-medium preset: the resnet body at 64-128-128 channels, without spectral norm', () => {
    const model = createEnergyNet({ preset: 'resnet-medium', inputShape: [8, 8, 3], seed: 3 });
    expect(model.layers.some((l) => l instanceof SpectralConv2D)).toBe(false);
    const widths = model.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => (l.getConfig() as { filters: number }).filters);
    expect(new Set(widths)).toEqual(new Set([64, 128]));
    expect(resolveEnergyNetConfig('resnet-medium').channels).toEqual(resolveEnergyNetConfig('resnet').channels);
    model.dispose();
  });

  it('resnet preset: spectrally normalised residual CNN that survives save/load with its power-iteration state', async () => {
    expect(resolveEnergyNetConfig('resnet').spectralNorm).toBe(true);
    const model = createEnergyNet({ preset: 'resnet', ...tinyImage, seed: 3 });
    expect(model.layers.some((l) => l instanceof SpectralConv2D)).toBe(true);
    expect(model.layers.some((l) => l.getClassName() === 'Add')).toBe(true);
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 2);
    // A few training calls move u, v away from their initial values; the copy must keep them.
    for (let i = 0; i < 3; i++)
      tf.tidy(() => {
        model.apply(x, { training: true });
      });
    const loaded = await roundTrip(model);
    const names = model.weights.map((w) => w.name);
    expect(names.some((n) => n.endsWith('sn_u'))).toBe(true);
    expect(loaded.weights.length).toBe(names.length);
    const original = model.getWeights();
    const restored = loaded.getWeights();
    for (let i = 0; i < original.length; i++) expect(maxAbsDiff(await original[i]!.data(), await restored[i]!.data())).toBe(0);
    const a = await read(energyFunction(model)(x));
    const b = await read(energyFunction(loaded)(x));
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    x.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('jem mode: E(x) = −logsumexp f(x) and E(x, y) = −f(x)[y]', async () => {
    const model = createEnergyNet({ ...tinyImage, mode: 'jem', numClasses: 5, seed: 1 });
    expect(inferEnergyMode(model)).toBe('jem');
    const x = tf.randomUniform([4, 8, 8, 3], -1, 1, 'float32', 3);
    const logits = await read(model.predict(x) as tf.Tensor);
    const unconditional = await read(energyFunction(model)(x));
    const labels = [0, 4, 2, 2];
    const conditional = await read(energyFunction(model, { classLabel: labels })(x));
    for (let i = 0; i < 4; i++) {
      const row = logits.slice(i * 5, i * 5 + 5);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      expect(unconditional[i]).toBeCloseTo(-lse, 5);
      expect(conditional[i]).toBeCloseTo(-(row[labels[i] as number] as number), 5);
    }
    x.dispose();
    model.dispose();
  });

  it('conditional mode: projection head E(x, y) = w·φ(x) + b + embed(y)·φ(x), saved and loaded', async () => {
    const model = createEnergyNet({ ...tinyImage, mode: 'conditional', numClasses: 3, hiddenUnits: [6], seed: 5 });
    expect(model.inputs.length).toBe(2);
    expect(inferEnergyMode(model)).toBe('conditional');
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 4);
    const e = await Promise.all([0, 1, 2].map((y) => read(energyFunction(model, { classLabel: y })(x))));
    // φ(x): the `features` layer, which depends on the image alone.
    const features = tfl.model({
      inputs: model.inputs[0] as tfl.SymbolicTensor,
      outputs: model.getLayer(FEATURES_LAYER).output as tfl.SymbolicTensor,
    });
    const phi = await read(features.predict(x) as tf.Tensor);
    const table = await read(model.getLayer('label_embedding').getWeights()[0]!.clone());
    // E(x, y) − E(x, 0) = (embed(y) − embed(0))·φ(x): the head's shared part cancels.
    for (let i = 0; i < 2; i++) {
      for (const y of [1, 2]) {
        let dot = 0;
        for (let k = 0; k < 6; k++) dot += ((table[y * 6 + k] as number) - (table[k] as number)) * (phi[i * 6 + k] as number);
        expect((e[y] as number[])[i]! - (e[0] as number[])[i]!).toBeCloseTo(dot, 4);
      }
    }
    const loaded = await roundTrip(model);
    expect(maxAbsDiff(await read(energyFunction(loaded, { classLabel: [2, 1] })(x)), [e[2]![0]!, e[1]![1]!])).toBeLessThan(1e-5);
    x.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('a seed fixes every weight of a conditional net, the label embedding included', async () => {
    const build = (seed: number) => createEnergyNet({ ...tinyImage, mode: 'conditional', numClasses: 3, hiddenUnits: [6], seed });
    const [a, b, c] = [build(5), build(5), build(6)];
    const weightsOf = (model: tfl.LayersModel) => Promise.all(model.getWeights().map((w) => read(w.clone())));
    const [wa, wb, wc] = await Promise.all([weightsOf(a), weightsOf(b), weightsOf(c)]);
    const embedding = a.getWeights().indexOf(a.getLayer('label_embedding').getWeights()[0]!);
    expect(embedding).toBeGreaterThanOrEqual(0);
    expect(wb).toEqual(wa);
    expect(maxAbsDiff(wc[embedding]!, wa[embedding]!)).toBeGreaterThan(0);
    for (const model of [a, b, c]) model.dispose();
  });

  it('mlp architecture: shape-agnostic energies whose input gradient matches finite differences', async () => {
    const model = createEnergyNet({ architecture: 'mlp', inputShape: [2], hiddenUnits: [16, 16], seed: 2 });
    const energy = energyFunction(model);
    const points = [0.3, -0.2, -0.7, 0.5];
    const x = tf.tensor2d(points, [2, 2]);
    const grad = await read(tf.grad((v: tf.Tensor) => tf.sum(energy(v)))(x));
    const h = 1e-2;
    for (let k = 0; k < 4; k++) {
      const shifted = (d: number) => points.map((p, j) => (j === k ? p + d : p));
      const up = await read(energy(tf.tensor2d(shifted(h), [2, 2])));
      const down = await read(energy(tf.tensor2d(shifted(-h), [2, 2])));
      const row = Math.floor(k / 2);
      expect(grad[k]).toBeCloseTo(((up[row] as number) - (down[row] as number)) / (2 * h), 3);
    }
    x.dispose();
    model.dispose();
  });

  it('rejects bad configs and labels with ValidationError', () => {
    expect(() => createEnergyNet('huge' as 'small')).toThrow(ValidationError);
    expect(() => createEnergyNet({ architecture: 'small', inputShape: [2] })).toThrow(ValidationError);
    expect(() => createEnergyNet({ channels: [16, -1] })).toThrow(ValidationError);
    expect(() => createEnergyNet({ mode: 'jem', numClasses: 1 })).toThrow(ValidationError);
    const conditional = createEnergyNet({ ...tinyImage, mode: 'conditional', numClasses: 3 });
    expect(() => energyFunction(conditional)).toThrow(ValidationError);
    const x = tf.zeros([2, 8, 8, 3]);
    expect(() => energyFunction(conditional, { classLabel: 3 })(x)).toThrow(ValidationError);
    expect(() => energyFunction(conditional, { classLabel: [0] })(x)).toThrow(ValidationError);
    x.dispose();
    conditional.dispose();
  });
});
