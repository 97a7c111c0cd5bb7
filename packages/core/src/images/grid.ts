import type * as tf from '@tensorflow/tfjs-core';
import { ValidationError } from '../errors.js';
import { encodePng, type PixelChannels } from './png.js';
import { tensorToUint8 } from './tensor.js';

export interface GridOptions {
  /** Images per row (default: ⌈√n⌉). */
  columns?: number;
  /** Pixels between images and around the border (default 2). */
  padding?: number;
  /** Grey level of the padding, 0–255 (default 255, white). */
  padValue?: number;
}

/** The layout `tileGrid` uses: handy for reading single images back out of a grid. */
export function gridLayout(count: number, height: number, width: number, options: GridOptions = {}) {
  const columns = Math.max(1, Math.min(count, options.columns ?? Math.ceil(Math.sqrt(count))));
  const rows = Math.ceil(count / columns);
  const padding = options.padding ?? 2;
  if (!Number.isInteger(padding) || padding < 0) throw new ValidationError(`padding must be a non-negative integer, got ${padding}`);
  return {
    columns,
    rows,
    padding,
    width: columns * width + (columns + 1) * padding,
    height: rows * height + (rows + 1) * padding,
    /** Top-left pixel of image `i`. */
    origin: (i: number) => ({ x: padding + (i % columns) * (width + padding), y: padding + Math.floor(i / columns) * (height + padding) }),
  };
}

/** Tiles a batch of uint8 NHWC images into one image, row-major, with padding. */
export function tileGrid(
  pixels: Uint8Array,
  shape: readonly [number, number, number, number],
  options: GridOptions = {},
): { pixels: Uint8Array; width: number; height: number } {
  const [count, height, width, channels] = shape;
  if (count < 1) throw new ValidationError('Cannot tile an empty batch');
  if (pixels.length !== count * height * width * channels) throw new ValidationError(`Pixel count does not match shape [${shape}]`);
  const layout = gridLayout(count, height, width, options);
  const out = new Uint8Array(layout.width * layout.height * channels).fill(options.padValue ?? 255);
  const rowBytes = width * channels;
  for (let i = 0; i < count; i++) {
    const { x, y } = layout.origin(i);
    for (let r = 0; r < height; r++) {
      const from = (i * height + r) * width * channels;
      out.set(pixels.subarray(from, from + rowBytes), ((y + r) * layout.width + x) * channels);
    }
  }
  return { pixels: out, width: layout.width, height: layout.height };
}

/** A batch in [-1, 1] (NHWC, 1/3/4 channels) → one PNG of all images on a grid. */
export async function gridPng(x: tf.Tensor4D, options: GridOptions = {}): Promise<Uint8Array> {
  if (x.rank !== 4) throw new ValidationError(`gridPng needs an NHWC batch, got shape [${x.shape}]`);
  const [n, h, w, c] = x.shape;
  if (c !== 1 && c !== 3 && c !== 4) throw new ValidationError(`gridPng needs 1, 3 or 4 channels, got ${c}`);
  const grid = tileGrid(await tensorToUint8(x), [n, h, w, c], options);
  return encodePng(grid.pixels, grid.width, grid.height, c as PixelChannels);
}
