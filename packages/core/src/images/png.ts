import { PNG } from 'pngjs';
import { ValidationError } from '../errors.js';

export type PixelChannels = 1 | 3 | 4;

/** Decoded pixels: row-major, `channels` bytes per pixel. */
export interface DecodedImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

function checkSize(pixels: Uint8Array, width: number, height: number, channels: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ValidationError(`Image size must be positive integers, got ${width}×${height}`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new ValidationError(`channels must be 1, 3 or 4, got ${channels}`);
  if (pixels.length !== width * height * channels) {
    throw new ValidationError(`Expected ${width}×${height}×${channels} = ${width * height * channels} bytes, got ${pixels.length}`);
  }
}

/** Grey, RGB or RGBA uint8 pixels → PNG bytes (lossless; pngjs, 8-bit). */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: PixelChannels): Uint8Array {
  checkSize(pixels, width, height, channels);
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += channels) {
    const r = pixels[j] as number;
    rgba[i * 4] = r;
    rgba[i * 4 + 1] = channels === 1 ? r : (pixels[j + 1] as number);
    rgba[i * 4 + 2] = channels === 1 ? r : (pixels[j + 2] as number);
    rgba[i * 4 + 3] = channels === 4 ? (pixels[j + 3] as number) : 255;
  }
  const png = new PNG({ width, height });
  png.data = rgba;
  // colorType 2 (RGB) or 6 (RGBA): no alpha channel in the file when the image has none.
  const bytes = PNG.sync.write(png, { colorType: channels === 4 ? 6 : 2, inputColorType: 6, inputHasAlpha: true });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** PNG bytes → RGB pixels (alpha dropped, grey expanded). */
export function decodePng(bytes: Uint8Array): DecodedImage {
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new ValidationError(`Not a readable PNG: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return { pixels: rgbaToRgb(png.data, png.width * png.height), width: png.width, height: png.height };
}

export function rgbaToRgb(rgba: Uint8Array, pixelCount: number): Uint8Array {
  const rgb = new Uint8Array(pixelCount * 3);
  for (let i = 0; i < pixelCount; i++) {
    rgb[i * 3] = rgba[i * 4] as number;
    rgb[i * 3 + 1] = rgba[i * 4 + 1] as number;
    rgb[i * 3 + 2] = rgba[i * 4 + 2] as number;
  }
  return rgb;
}
