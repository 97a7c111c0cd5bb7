import * as tf from '@tensorflow/tfjs-core';

/** Conv configurations every conv-gradient test runs: strides 1/2, same/valid/explicit pads, odd sizes, 1×1, batch ≥ 2. */
export type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
export interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
}

export const CASES: ConvCase[] = [
  { name: '3×3 stride 1 same', x: [2, 7, 9, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { name: '3×3 stride 1 valid', x: [3, 6, 5, 2], filter: [3, 3, 2, 5], strides: [1, 1], pad: 'valid' },
  { name: '3×3 stride 2 same, odd sizes', x: [2, 9, 7, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: 'same' },
  { name: '3×3 stride 2 valid, odd sizes', x: [2, 9, 7, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: 'valid' },
  { name: '4×4 stride 2 same (asymmetric pads)', x: [2, 8, 8, 2], filter: [4, 4, 2, 3], strides: [2, 2], pad: 'same' },
  { name: 'mixed strides 2×1, 2×3 filter', x: [2, 7, 6, 3], filter: [2, 3, 3, 2], strides: [2, 1], pad: 'valid' },
  { name: '1×1 stride 1 (matmul route)', x: [3, 5, 5, 4], filter: [1, 1, 4, 6], strides: [1, 1], pad: 'same' },
  { name: '1×1 stride 2', x: [2, 7, 7, 4], filter: [1, 1, 4, 3], strides: [2, 2], pad: 'valid' },
  { name: '5×5 filter larger than input, same', x: [2, 3, 3, 2], filter: [5, 5, 2, 3], strides: [1, 1], pad: 'same' },
  {
    name: 'explicit pads, stride 2',
    x: [2, 6, 7, 2],
    filter: [3, 3, 2, 3],
    strides: [2, 2],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
];

export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Forward output shape, computed by tfjs's own shape logic via a cpu conv. */
export function dyShape(c: ConvCase): [number, number, number, number] {
  return tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad).shape);
}

/** Top/left padding of the forward conv, as TensorFlow defines 'same'. */
export function padsOf(c: ConvCase): { top: number; left: number } {
  const [, H, W] = c.x;
  const [kh, kw] = c.filter;
  const [Ho, Wo] = dyShape(c).slice(1) as [number, number];
  const [sh, sw] = c.strides;
  if (c.pad === 'valid') return { top: 0, left: 0 };
  if (c.pad === 'same') {
    return { top: Math.floor(Math.max(0, (Ho - 1) * sh + kh - H) / 2), left: Math.floor(Math.max(0, (Wo - 1) * sw + kw - W) / 2) };
  }
  return { top: c.pad[1][0], left: c.pad[2][0] };
}

/** The textbook sum, in float64, as an independent reference. */
export function naiveFilterGradient(c: ConvCase, x: Float32Array, dy: Float32Array): Float64Array {
  const [B, H, W, Ci] = c.x;
  const [kh, kw, , Co] = c.filter;
  const [Ho, Wo] = dyShape(c).slice(1) as [number, number];
  const [sh, sw] = c.strides;
  const { top, left } = padsOf(c);
  const out = new Float64Array(kh * kw * Ci * Co);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let ci = 0; ci < Ci; ci++)
        for (let co = 0; co < Co; co++) {
          let s = 0;
          for (let b = 0; b < B; b++)
            for (let ho = 0; ho < Ho; ho++) {
              const h = ho * sh + i - top;
              if (h < 0 || h >= H) continue;
              for (let wo = 0; wo < Wo; wo++) {
                const w = wo * sw + j - left;
                if (w < 0 || w >= W) continue;
                s += (x[((b * H + h) * W + w) * Ci + ci] as number) * (dy[((b * Ho + ho) * Wo + wo) * Co + co] as number);
              }
            }
          out[((i * kw + j) * Ci + ci) * Co + co] = s;
        }
  return out;
}

/** dx[b,h,w,ci] = Σ dy[b,ho,wo,co]·W[i,j,ci,co] over h = ho·s + i − top, in float64. */
export function naiveInputGradient(c: ConvCase, w: Float32Array, dy: Float32Array): Float64Array {
  const [B, H, W, Ci] = c.x;
  const [kh, kw, , Co] = c.filter;
  const [Ho, Wo] = dyShape(c).slice(1) as [number, number];
  const [sh, sw] = c.strides;
  const { top, left } = padsOf(c);
  const out = new Float64Array(B * H * W * Ci);
  for (let b = 0; b < B; b++)
    for (let ho = 0; ho < Ho; ho++)
      for (let wo = 0; wo < Wo; wo++)
        for (let i = 0; i < kh; i++) {
          const h = ho * sh + i - top;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < kw; j++) {
            const x = wo * sw + j - left;
            if (x < 0 || x >= W) continue;
            for (let ci = 0; ci < Ci; ci++) {
              let s = 0;
              for (let co = 0; co < Co; co++)
                s += (dy[((b * Ho + ho) * Wo + wo) * Co + co] as number) * (w[((i * kw + j) * Ci + ci) * Co + co] as number);
              out[((b * H + h) * W + x) * Ci + ci] = (out[((b * H + h) * W + x) * Ci + ci] as number) + s;
            }
          }
        }
  return out;
}
