import { describe, expect, it } from 'vitest';
import { float16BitsToNumber, float32ToFloat16, float32ToFloat16Bits } from '../../src/checkpoints/float16.js';

describe('float32 → float16', () => {
  it('encodes known values bit-exactly (IEEE-754 binary16, round to nearest even)', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite half
      [65520, 0x7c00], // rounds up to infinity
      [1e6, 0x7c00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -26, 0x0000], // underflows to zero
      [1 + 2 ** -11, 0x3c00], // tie → even (down)
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
      [Number.POSITIVE_INFINITY, 0x7c00],
    ];
    for (const [value, bits] of cases) expect(float32ToFloat16Bits(value), `${value}`).toBe(bits);
    expect(Number.isNaN(float16BitsToNumber(float32ToFloat16Bits(Number.NaN)))).toBe(true);
  });

  it('round-trips within half precision (relative error ≤ 2⁻¹¹) for normal values', () => {
    const values = Float32Array.from({ length: 2000 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 9) - 4));
    const halves = float32ToFloat16(values);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (Math.abs(v) < 2 ** -14) continue;
      expect(Math.abs(float16BitsToNumber(halves[i] as number) - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11);
    }
  });
});
