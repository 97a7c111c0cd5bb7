import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, encodePng, pixelsToTensor, tensorToPixels, tileGrid } from '../src/index.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('images', () => {
  it('round-trips pixels through PNG exactly', () => {
    const pixels = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) % 256);
    const png = encodePng({ pixels, width: 5, height: 3, channels: 3 });
    const back = decodeImage(png);
    expect([back.width, back.height]).toEqual([5, 3]);
    expect(Array.from(back.pixels)).toEqual(Array.from(pixels));
  });

  it('maps [-1, 1] to [0, 255] and back within rounding', async () => {
    const x = tf.tensor4d([-1, -0.5, 0, 0.5, 1, 2], [1, 1, 2, 3]);
    const pixels = await tensorToPixels(x);
    expect(Array.from(pixels)).toEqual([0, 64, 128, 191, 255, 255]);
    const y = pixelsToTensor({ pixels, width: 2, height: 1, channels: 3 });
    const values = Array.from(await y.data());
    expect(values[0]).toBeCloseTo(-1, 6);
    expect(values[4]).toBeCloseTo(1, 6);
    tf.dispose([x, y]);
  });

  it('tiles images row-major with padding', () => {
    // three 1x1 images coloured 10, 20, 30 → 2 columns, 2 rows, padding 1
    const grid = tileGrid(Uint8Array.from([10, 20, 30]), 3, 1, 1, 1, { padding: 1 });
    expect([grid.width, grid.height]).toEqual([5, 5]);
    const at = (x: number, y: number) => grid.pixels[y * grid.width + x];
    expect([at(1, 1), at(3, 1), at(1, 3), at(3, 3), at(0, 0)]).toEqual([10, 20, 30, 255, 255]);
  });

  it('rejects bytes that are not an image, a truncated PNG and a huge header', () => {
    expect(() => decodeImage(new TextEncoder().encode('hello world'))).toThrow(ValidationError);
    const png = encodePng({ pixels: new Uint8Array(12), width: 2, height: 2, channels: 3 });
    expect(() => decodeImage(png.slice(0, 40))).toThrow(ValidationError);
    const huge = png.slice();
    new DataView(huge.buffer).setUint32(16, 100_000);
    new DataView(huge.buffer).setUint32(20, 100_000);
    expect(() => decodeImage(huge)).toThrow(/outside the accepted size/);
  });
});
