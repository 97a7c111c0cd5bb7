import { Rng } from '@lab/core';
import type * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSampler, createSchedule, type SamplerSpec, sampleDiffusion, spacedTimesteps } from '../src/index.js';
import { columnMoments, gaussianOracle, referenceReverseLaw, useCpu } from './helpers.js';

// With the Bayes-optimal ε̂ of Gaussian data, x0 ~ N(μ, σ²) per coordinate, every update is
// affine in x, so the law of the samples is known exactly (helpers.referenceReverseLaw).
// (1) That exact law, for fine discretisations, is the data law: checks the schedules and
//     the update formulas as mathematics, without sampling.
// (2) The tfjs samplers' empirical moments match the exact law of their own discretisation
//     within sampling error: checks the implementation, including coarse step counts where
//     the law differs a lot between samplers (σ² ratio 0.63 for DDPM-small vs 1.26 for
//     DDPM-large at 50 steps), so a wrong variance or coefficient is caught.
// Verified by hand that these tests fail when: the DDPM noise term is dropped; the sign of
// the ε̂ term in x̂0 is flipped; fixed-large uses β̃; DDIM's σ omits η; ᾱ uses a cumulative
// sum of β instead of a product.
const mu = [0.5, -0.3];
const sigma = [0.2, 0.4];

beforeAll(useCpu);

async function sampleMoments(spec: SamplerSpec, kind: 'linear' | 'cosine', steps: number, n: number, seed: number) {
  const schedule = createSchedule({ kind });
  const sampler = createSampler(schedule, { ...spec, clipSample: false });
  const x: tf.Tensor = await sampleDiffusion({
    denoiser: gaussianOracle(schedule, mu, sigma),
    sampler,
    shape: [n, 1, 1, 2],
    rng: new Rng(seed),
    steps,
  });
  const values = (await x.data()) as Float32Array;
  x.dispose();
  return { schedule, timesteps: sampler.timesteps, ...columnMoments(values, 2) };
}

const updateOf = (spec: SamplerSpec) =>
  spec.kind === 'ddim'
    ? { eta: spec.eta ?? 0 }
    : spec.kind === 'ddpm' && spec.varianceType === 'fixed-large'
      ? ('ddpm-large' as const)
      : ('ddpm-small' as const);

describe('reverse process with the analytic denoiser of N(μ, σ²) data', () => {
  it('the exact law of a fine discretisation is the data law (both schedules, every sampler)', () => {
    for (const kind of ['linear', 'cosine'] as const) {
      const schedule = createSchedule({ kind });
      const all = spacedTimesteps(1000, 1000, 'leading');
      for (const update of ['ddpm-small', 'ddpm-large', { eta: 0 }, { eta: 1 }] as const) {
        for (let d = 0; d < 2; d++) {
          const law = referenceReverseLaw(schedule, all, mu[d] as number, sigma[d] as number, update);
          expect(Math.abs(law.mean - (mu[d] as number))).toBeLessThan(0.01 * (sigma[d] as number));
          expect(Math.abs(law.variance / (sigma[d] as number) ** 2 - 1)).toBeLessThan(0.04);
        }
      }
    }
  });

  it('DDPM over all 1000 linear steps draws N(μ, σ²)', async () => {
    const n = 3000;
    const m = await sampleMoments({ kind: 'ddpm' }, 'linear', 1000, n, 11);
    for (let d = 0; d < 2; d++) {
      const s = sigma[d] as number;
      // 4 standard errors: σ/√n for the mean, σ²·√(2/n) for the variance; plus the 2% bias of (1).
      expect(Math.abs((m.mean[d] as number) - (mu[d] as number))).toBeLessThan((4 * s) / Math.sqrt(n));
      expect(Math.abs((m.variance[d] as number) / s ** 2 - 1)).toBeLessThan(4 * Math.sqrt(2 / n) + 0.02);
    }
  });

  const coarse: Array<{ spec: SamplerSpec; kind: 'linear' | 'cosine'; steps: number }> = [
    { spec: { kind: 'ddpm' }, kind: 'linear', steps: 50 },
    { spec: { kind: 'ddpm', varianceType: 'fixed-large' }, kind: 'linear', steps: 50 },
    { spec: { kind: 'ddpm', timestepSpacing: 'trailing' }, kind: 'cosine', steps: 20 },
    { spec: { kind: 'ddim' }, kind: 'linear', steps: 50 },
    { spec: { kind: 'ddim', timestepSpacing: 'linspace' }, kind: 'cosine', steps: 10 },
    { spec: { kind: 'ddim', eta: 1 }, kind: 'cosine', steps: 50 },
    { spec: { kind: 'ddim', eta: 0.5, timestepSpacing: 'trailing' }, kind: 'linear', steps: 25 },
  ];
  for (const c of coarse) {
    it(`${JSON.stringify(c.spec)}, ${c.kind}, ${c.steps} steps: moments match the exact law of the chain`, async () => {
      const n = 4000;
      const m = await sampleMoments(c.spec, c.kind, c.steps, n, 5);
      for (let d = 0; d < 2; d++) {
        const law = referenceReverseLaw(m.schedule, m.timesteps, mu[d] as number, sigma[d] as number, updateOf(c.spec));
        expect(Math.abs((m.mean[d] as number) - law.mean)).toBeLessThan((4.5 * Math.sqrt(law.variance)) / Math.sqrt(n));
        expect(Math.abs((m.variance[d] as number) / law.variance - 1)).toBeLessThan(4.5 * Math.sqrt(2 / n));
      }
    });
  }
});
