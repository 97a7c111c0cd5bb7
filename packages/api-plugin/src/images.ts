import { ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** Raw row-major uint8 pixels, `channels` per pixel. Structured-cloneable, so it crosses worker threads. */
export interface RawImage {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

/** The largest upload we decode (pixels); checked from the header before decoding. */
export const MAX_DECODE_PIXELS = 1024 * 1024;

/** [-1, 1] NHWC tensor → uint8 pixels (rounded, clipped), read asynchronously. */
export async function tensorToPixels(x: tf.Tensor): Promise<Uint8Array> {
  const scaled = tf.tidy(() => tf.cast(tf.clipByValue(tf.round(tf.mul(tf.add(x, 1), 127.5)), 0, 255), 'int32'));
  try {
    return Uint8Array.from(await scaled.data());
  } finally {
    scaled.dispose();
  }
}

/** Uint8 pixels → float tensor in [-1, 1] with shape [1, H, W, C]. */
export function pixelsToTensor(image: RawImage): tf.Tensor4D {
  return tf.tidy(() =>
    tf.sub(tf.div(tf.tensor4d(Float32Array.from(image.pixels), [1, image.height, image.width, image.channels]), 127.5), 1),
  );
}

/** Encodes RGB or grayscale pixels as a PNG (deterministic: same pixels, same bytes). */
export function encodePng(image: RawImage): Uint8Array {
  const png = new PNG({ width: image.width, height: image.height, colorType: 6 });
  const n = image.width * image.height;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) png.data[i * 4 + c] = image.pixels[i * image.channels + (image.channels === 1 ? 0 : c)] ?? 0;
    png.data[i * 4 + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(png, { colorType: 2 }));
}

/**
 * Decodes PNG or JPEG bytes to RGB pixels. Throws ValidationError for anything else,
 * for truncated files, and for images larger than MAX_DECODE_PIXELS.
 */
export function decodeImage(bytes: Uint8Array): RawImage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isPng(buffer)) {
    if (buffer.length < 24) throw new ValidationError('The PNG is truncated');
    const width = buffer.readUInt32BE(16);
    const height = buffer.readUInt32BE(20);
    checkSize(width, height);
    let png: PNG;
    try {
      png = PNG.sync.read(buffer);
    } catch (error) {
      throw new ValidationError(`The PNG cannot be decoded: ${(error as Error).message}`, { cause: error });
    }
    return { pixels: dropAlpha(png.data, png.width * png.height), width: png.width, height: png.height, channels: 3 };
  }
  if (buffer.length > 3 && buffer[0] === 0xff && buffer[1] === 0xd8 && buffer[2] === 0xff) {
    let decoded: { width: number; height: number; data: Uint8Array };
    try {
      decoded = jpeg.decode(buffer, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_DECODE_PIXELS / 1e6,
        maxMemoryUsageInMB: 64,
      });
    } catch (error) {
      throw new ValidationError(`The JPEG cannot be decoded: ${(error as Error).message}`, { cause: error });
    }
    checkSize(decoded.width, decoded.height);
    return { pixels: dropAlpha(decoded.data, decoded.width * decoded.height), width: decoded.width, height: decoded.height, channels: 3 };
  }
  throw new ValidationError('The upload is not a PNG or JPEG image');
}

/**
 * Tiles N images ([N, H, W, C] uint8) into one grid image with `padding` pixels of white between cells.
 */
export function tileGrid(
  pixels: Uint8Array,
  n: number,
  height: number,
  width: number,
  channels: number,
  options: { columns?: number; padding?: number } = {},
): RawImage {
  const columns = Math.max(1, Math.min(n, options.columns ?? Math.ceil(Math.sqrt(n))));
  const rows = Math.ceil(n / columns);
  const pad = options.padding ?? 2;
  const gridW = columns * width + (columns + 1) * pad;
  const gridH = rows * height + (rows + 1) * pad;
  const out = new Uint8Array(gridW * gridH * channels).fill(255);
  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % columns) * (width + pad);
    const y0 = pad + Math.floor(k / columns) * (height + pad);
    for (let y = 0; y < height; y++) {
      const src = (k * height + y) * width * channels;
      out.set(pixels.subarray(src, src + width * channels), ((y0 + y) * gridW + x0) * channels);
    }
  }
  return { pixels: out, width: gridW, height: gridH, channels };
}

/** Each image of an [N, H, W, C] uint8 buffer as its own RawImage. */
export function splitImages(pixels: Uint8Array, n: number, height: number, width: number, channels: number): RawImage[] {
  const size = height * width * channels;
  return Array.from({ length: n }, (_, k) => ({ pixels: pixels.slice(k * size, (k + 1) * size), width, height, channels }));
}

function isPng(buffer: Buffer): boolean {
  return buffer.length >= 8 && buffer.readUInt32BE(0) === 0x89504e47 && buffer.readUInt32BE(4) === 0x0d0a1a0a;
}

function checkSize(width: number, height: number): void {
  if (width < 1 || height < 1 || width * height > MAX_DECODE_PIXELS) {
    throw new ValidationError(`Image of ${width}x${height} pixels is outside the accepted size (1 to ${MAX_DECODE_PIXELS} pixels)`);
  }
}

function dropAlpha(rgba: Uint8Array, n: number): Uint8Array {
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = rgba[i * 4] ?? 0;
    rgb[i * 3 + 1] = rgba[i * 4 + 1] ?? 0;
    rgb[i * 3 + 2] = rgba[i * 4 + 2] ?? 0;
  }
  return rgb;
}
