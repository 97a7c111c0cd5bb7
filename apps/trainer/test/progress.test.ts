import { describe, expect, it } from 'vitest';
import { EtaEstimator, formatDuration } from '../src/run/progress.js';

describe('formatDuration', () => {
  it('carries seconds into minutes and minutes into hours', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(59.6)).toBe('1m00s');
    expect(formatDuration(245)).toBe('4m05s');
    expect(formatDuration(3599.6)).toBe('1h00m');
    // 46 h 59 min 50 s rounds to 47h00m, never "46h60m".
    expect(formatDuration(46 * 3600 + 59 * 60 + 50)).toBe('47h00m');
    expect(formatDuration(Number.NaN)).toBe('–');
  });
});

describe('EtaEstimator', () => {
  it('has no estimate before a step finished, then steps left × smoothed step time', () => {
    const eta = new EtaEstimator(0.5);
    eta.update(10, 0);
    expect(eta.secondsLeft(10, 100)).toBeUndefined();
    eta.update(12, 4000); // 2 s per step
    expect(eta.secondsLeft(12, 100)).toBeCloseTo(88 * 2);
    eta.update(13, 8000); // one 4 s step: smoothed to 3 s
    expect(eta.secondsLeft(13, 100)).toBeCloseTo(87 * 3);
    expect(eta.secondsLeft(150, 100)).toBe(0);
  });
});
