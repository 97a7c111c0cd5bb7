import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import jpeg from 'jpeg-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import { pngCodec } from '../../src/images/codec.js';
import { decodeImage, imageBytesToTensor } from '../../src/images/decode.js';
import { gridLayout, gridPng, tileGrid } from '../../src/images/grid.js';
import { encodePng } from '../../src/images/png.js';
import { tensorToUint8, uint8ToTensor } from '../../src/images/tensor.js';

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed * 101 + ((i * i) % 13)) & 255);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('tensor ↔ uint8', () => {
  it('maps -1 → 0, 0 → 128, 1 → 255 and clamps outside [-1, 1]', async () => {
    const x = tf.tensor3d([-1, 0, 1, -3, 3, 0.5], [1, 2, 3]);
    expect(Array.from(await tensorToUint8(x))).toEqual([0, 128, 255, 0, 255, 191]);
    x.dispose();
  });

  it('round-trips every byte value exactly', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const t = uint8ToTensor(bytes, 16, 16, 1);
    expect(Array.from(await tensorToUint8(t))).toEqual(Array.from(bytes));
    const values = await t.data();
    expect(Math.min(...values)).toBe(-1);
    expect(Math.max(...values)).toBe(1);
    t.dispose();
  });

  it('rejects pixel arrays of the wrong length', () => {
    expect(() => uint8ToTensor(new Uint8Array(5), 2, 2, 1)).toThrow(ValidationError);
  });
});

describe('PNG', () => {
  it('round-trips RGB pixels exactly', () => {
    const pixels = pattern(7 * 5 * 3, 1);
    const png = encodePng(pixels, 7, 5, 3);
    expect(Array.from(png.subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const decoded = decodeImage(png);
    expect(decoded).toMatchObject({ width: 7, height: 5 });
    expect(Array.from(decoded.pixels)).toEqual(Array.from(pixels));
  });

  it('expands grey and drops alpha on decode', () => {
    const grey = pattern(4 * 3, 2);
    const decoded = decodeImage(encodePng(grey, 4, 3, 1));
    expect(Array.from(decoded.pixels)).toEqual(Array.from(grey).flatMap((v) => [v, v, v]));
    const rgba = pattern(2 * 2 * 4, 3);
    const fromRgba = decodeImage(encodePng(rgba, 2, 2, 4));
    expect(Array.from(fromRgba.pixels)).toEqual(Array.from(rgba).filter((_, i) => i % 4 !== 3));
  });

  it('is what pngCodec exposes', () => {
    const pixels = pattern(3 * 3 * 3, 4);
    expect(Array.from(pngCodec.decode(pngCodec.encodePng(pixels, 3, 3, 3)).pixels)).toEqual(Array.from(pixels));
  });
});

describe('decoding uploads', () => {
  it('decodes a JPEG to approximately its colours', () => {
    const rgba = new Uint8Array(8 * 8 * 4);
    for (let i = 0; i < 64; i++) rgba.set([200, 40, 90, 255], i * 4);
    const encoded = jpeg.encode({ data: rgba, width: 8, height: 8 }, 100).data;
    const decoded = decodeImage(new Uint8Array(encoded));
    expect(decoded).toMatchObject({ width: 8, height: 8 });
    for (const [i, expected] of [200, 40, 90].entries()) expect(Math.abs((decoded.pixels[i] as number) - expected)).toBeLessThanOrEqual(3);
  });

  it('rejects what is not an image, and corrupt PNG/JPEG files, with ValidationError', () => {
    const png = encodePng(pattern(32 * 32 * 3, 5), 32, 32, 3);
    const jpg = new Uint8Array(jpeg.encode({ data: new Uint8Array(16 * 16 * 4).fill(100), width: 16, height: 16 }, 90).data);
    const bad = [
      new Uint8Array(0),
      new TextEncoder().encode('hello, I am not an image'),
      Uint8Array.from({ length: 200 }, (_, i) => (i * 7) & 255),
      png.subarray(0, png.length >> 1),
      jpg.subarray(0, 20),
    ];
    for (const bytes of bad) expect(() => decodeImage(bytes)).toThrow(ValidationError);
  });

  it('refuses images over maxPixels, a PNG from its header before decoding', () => {
    const png = encodePng(pattern(4 * 3 * 3, 8), 4, 3, 3);
    expect(decodeImage(png, { maxPixels: 12 })).toMatchObject({ width: 4, height: 3 });
    expect(() => decodeImage(png, { maxPixels: 11 })).toThrow(/4x3 pixels is outside the accepted size \(1 to 11 pixels\)/);
    // A header claiming 100 000 × 100 000 pixels on an otherwise tiny file: refused with the size
    // error (not a decode error), so nothing was inflated.
    const huge = png.slice();
    new DataView(huge.buffer).setUint32(16, 100_000);
    new DataView(huge.buffer).setUint32(20, 100_000);
    expect(() => decodeImage(huge)).toThrow(/100000x100000 pixels is outside the accepted size/);
    expect(() => decodeImage(png.slice(0, 20))).toThrow(ValidationError);
    const jpg = new Uint8Array(jpeg.encode({ data: new Uint8Array(40 * 30 * 4).fill(90), width: 40, height: 30 }, 90).data);
    expect(decodeImage(jpg, { maxPixels: 1200 })).toMatchObject({ width: 40, height: 30 });
    expect(() => decodeImage(jpg, { maxPixels: 1199 })).toThrow(ValidationError);
    expect(() => imageBytesToTensor(png, { size: 4, maxPixels: 11 })).toThrow(/outside the accepted size/);
  });

  it('turns a 32×32 upload into a [32, 32, 3] tensor in [-1, 1] and rejects other sizes', async () => {
    const pixels = pattern(32 * 32 * 3, 6);
    const t = imageBytesToTensor(encodePng(pixels, 32, 32, 3));
    expect(t.shape).toEqual([32, 32, 3]);
    expect(Array.from(await tensorToUint8(t))).toEqual(Array.from(pixels));
    t.dispose();
    expect(() => imageBytesToTensor(encodePng(pattern(31 * 32 * 3, 7), 31, 32, 3))).toThrow(/32×32 image, got 31×32/);
    expect(() => imageBytesToTensor(encodePng(pattern(64 * 64 * 3, 7), 64, 64, 3), { size: 32 })).toThrow(ValidationError);
    expect(imageBytesToTensor(encodePng(pattern(8 * 8 * 3, 7), 8, 8, 3), { size: 8 }).shape).toEqual([8, 8, 3]);
  });
});

describe('grid', () => {
  it('places each image at its row-major slot with padding between', () => {
    // Five 2×3 single-channel images, each filled with its index + 10; 3 columns, padding 1.
    const shape = [5, 2, 3, 1] as const;
    const pixels = Uint8Array.from({ length: 5 * 6 }, (_, i) => 10 + Math.floor(i / 6));
    const grid = tileGrid(pixels, shape, { columns: 3, padding: 1, padValue: 0 });
    expect(grid.width).toBe(3 * 3 + 4);
    expect(grid.height).toBe(2 * 2 + 3);
    const at = (x: number, y: number) => grid.pixels[y * grid.width + x];
    expect(at(0, 0)).toBe(0); // border
    expect(at(1, 1)).toBe(10); // image 0 top-left
    expect(at(3, 2)).toBe(10); // image 0 bottom-right
    expect(at(4, 1)).toBe(0); // gap between image 0 and 1
    expect(at(5, 1)).toBe(11);
    expect(at(9, 2)).toBe(12); // image 2, first column
    expect(at(1, 4)).toBe(13); // second row: image 3
    expect(at(7, 5)).toBe(14); // image 4, bottom-right
    expect(at(11, 4)).toBe(0); // empty sixth slot
    expect(gridLayout(5, 2, 3, { columns: 3, padding: 1 }).origin(4)).toEqual({ x: 5, y: 4 });
  });

  it('encodes a [-1, 1] batch as a PNG of the tiled pixels', async () => {
    const batch = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(pattern(4 * 5 * 5 * 3, 8), [4, 5, 5, 3], 'float32'), 127.5), 1)) as tf.Tensor4D;
    const png = await gridPng(batch, { padding: 2 });
    const decoded = decodeImage(png);
    const expected = tileGrid(await tensorToUint8(batch), [4, 5, 5, 3], { padding: 2 });
    expect(decoded.width).toBe(expected.width);
    expect(decoded.height).toBe(expected.height);
    expect(Array.from(decoded.pixels)).toEqual(Array.from(expected.pixels));
    expect(decoded.width).toBe(2 * 5 + 3 * 2);
    batch.dispose();
  });
});
