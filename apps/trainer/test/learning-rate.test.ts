import { ValidationError } from '@lab/core';
import { describe, expect, it } from 'vitest';
import { resolveDecay, type TrainCommandOptions, withResumeOverrides } from '../src/commands/train.js';
import type { RunInfo } from '../src/run/run-dir.js';
import { learningRateAt, parseDecayKind, validateDecay } from '../src/train/learning-rate.js';

describe('learning-rate schedule', () => {
  it('warms the learning rate up linearly, then holds it', () => {
    expect([0, 1, 2, 3, 10].map((s) => learningRateAt(s, { lr: 0.4, warmupSteps: 4 }))).toEqual([
      0.1,
      0.2,
      expect.closeTo(0.3, 12),
      0.4,
      0.4,
    ]);
    expect(learningRateAt(0, { lr: 0.4 })).toBe(0.4);
  });

  it('follows half a cosine from lr to minLr between the decay steps', () => {
    const decay = { kind: 'cosine', startStep: 100, endStep: 300, minLr: 0.01 } as const;
    const at = (step: number) => learningRateAt(step, { lr: 0.5, lrDecay: decay });
    expect(at(0)).toBe(0.5);
    expect(at(100)).toBe(0.5);
    // Halfway the cosine term is 1/2; a quarter of the way it is (1 + cos(π/4)) / 2.
    expect(at(200)).toBeCloseTo(0.01 + 0.49 * 0.5, 12);
    expect(at(150)).toBeCloseTo(0.01 + 0.49 * 0.5 * (1 + Math.SQRT1_2), 12);
    expect(at(300)).toBeCloseTo(0.01, 12);
    expect(at(1000)).toBeCloseTo(0.01, 12);
    for (let s = 100; s < 300; s += 7) expect(at(s + 1)).toBeLessThan(at(s));
  });

  it('falls on a straight line with linear decay', () => {
    const decay = { kind: 'linear', startStep: 0, endStep: 10, minLr: 0 } as const;
    expect([0, 5, 9, 10].map((s) => learningRateAt(s, { lr: 1, lrDecay: decay }))).toEqual([1, 0.5, expect.closeTo(0.1, 12), 0]);
  });

  it('scales the decayed rate by the warm-up when the two overlap', () => {
    const decay = { kind: 'linear', startStep: 0, endStep: 10, minLr: 0 } as const;
    expect(learningRateAt(4, { lr: 1, warmupSteps: 10, lrDecay: decay })).toBeCloseTo(0.6 * 0.5, 12);
  });

  it('rejects unknown kinds, empty phases and floors above the rate', () => {
    expect(parseDecayKind('none')).toBeUndefined();
    expect(parseDecayKind('cosine')).toBe('cosine');
    expect(() => parseDecayKind('step')).toThrow(ValidationError);
    expect(() => validateDecay({ kind: 'cosine', startStep: 50, endStep: 50, minLr: 0 }, 1)).toThrow(/must end after it starts/);
    expect(() => validateDecay({ kind: 'cosine', startStep: 0, endStep: 50, minLr: 2 }, 1)).toThrow(/--min-lr/);
    expect(() => validateDecay({ kind: 'cosine', startStep: 0, endStep: 50, minLr: 0.5 }, 1)).not.toThrow();
  });
});

describe('--lr-decay on a new run and on --resume', () => {
  const existing: RunInfo = {
    format: 1,
    kind: 'classifier',
    created: '2026-11-29T00:00:00.000Z',
    task: {},
    optimization: { batchSize: 64, lr: 1e-3, warmupSteps: 200, emaDecay: 0.99 },
    seed: 1,
    steps: 2000,
    data: {},
    checkpointEvery: 200,
    sampleEvery: 0,
    sampleCount: 16,
    keepCheckpoints: 2,
  };
  const resume = (options: Partial<TrainCommandOptions>, step = 1800) => withResumeOverrides(existing, { out: 'x', ...options }, step);

  it('starts a new run’s decay at the end of warm-up', () => {
    expect(resolveDecay({ lrDecay: 'cosine' }, undefined, { startStep: 200, endStep: 5000, lr: 1e-3 })).toEqual({
      kind: 'cosine',
      startStep: 200,
      endStep: 5000,
      minLr: 0,
    });
    expect(resolveDecay({}, undefined, { startStep: 200, endStep: 5000, lr: 1e-3 })).toBeUndefined();
  });

  it('on --resume, starts an added decay where the run is, and ends it at the (new) last step', () => {
    expect(resume({ lrDecay: 'cosine', steps: 6000, minLr: 1e-5 }).optimization.lrDecay).toEqual({
      kind: 'cosine',
      startStep: 1800,
      endStep: 6000,
      minLr: 1e-5,
    });
    expect(resume({ lrDecay: 'linear', lrDecayStart: 1000 }).optimization.lrDecay).toMatchObject({ startStep: 1000, endStep: 2000 });
    expect(resume({})).toBe(existing);
  });

  it('stretches an existing decay with --steps, keeps its start, and removes it with none', () => {
    const decayed = resume({ lrDecay: 'cosine' });
    const stretched = withResumeOverrides(decayed, { out: 'x', steps: 4000 }, 2000);
    expect(stretched.optimization.lrDecay).toEqual({ kind: 'cosine', startStep: 1800, endStep: 4000, minLr: 0 });
    expect(withResumeOverrides(decayed, { out: 'x', lrDecay: 'none' }, 1900).optimization).not.toHaveProperty('lrDecay');
  });

  it('refuses decay options without a decay, and a decay that would end before it starts', () => {
    expect(() => resume({ minLr: 1e-5 })).toThrow(/need --lr-decay/);
    expect(() => resume({ lrDecay: 'none', lrDecayStart: 10 })).toThrow(/no effect/);
    expect(() => resume({ lrDecay: 'cosine' }, 2000)).toThrow(/must end after it starts/);
  });
});
