import type * as tf from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import { ValidationError } from '../errors.js';
import { type DecodedImage, decodePng, rgbaToRgb } from './png.js';
import { uint8ToTensor } from './tensor.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];
/** By default refuse to decode anything bigger (decompression bombs): 16 megapixels, 256 MB. */
const MAX_MEGAPIXELS = 16;
const MAX_MEMORY_MB = 256;

export interface DecodeImageOptions {
  /**
   * The largest image accepted, in pixels (width × height). A PNG's size is read from its
   * header before anything is decompressed, so an oversized upload costs no memory; a JPEG's
   * limit is passed to the decoder. Default: 16 megapixels.
   */
  maxPixels?: number;
}

function startsWith(bytes: Uint8Array, signature: number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

function checkPixelCount(width: number, height: number, maxPixels: number): void {
  if (width < 1 || height < 1 || width * height > maxPixels) {
    throw new ValidationError(`Image of ${width}x${height} pixels is outside the accepted size (1 to ${maxPixels} pixels)`, {
      details: { width, height, maxPixels },
    });
  }
}

/** The IHDR chunk follows the 8-byte signature: length, type, then width and height (big-endian). */
function pngHeaderSize(bytes: Uint8Array): { width: number; height: number } {
  if (bytes.length < 24) throw new ValidationError('Not a readable PNG: the file is truncated');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * PNG or JPEG bytes → RGB uint8 pixels. Anything else, a corrupt file, or an image larger than
 * `options.maxPixels` is a `ValidationError`.
 */
export function decodeImage(bytes: Uint8Array, options: DecodeImageOptions = {}): DecodedImage {
  const maxPixels = options.maxPixels ?? MAX_MEGAPIXELS * 1e6;
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new ValidationError('Expected image bytes, got nothing');
  if (startsWith(bytes, PNG_SIGNATURE)) {
    const { width, height } = pngHeaderSize(bytes);
    checkPixelCount(width, height, maxPixels);
    return decodePng(bytes);
  }
  if (startsWith(bytes, JPEG_SIGNATURE)) {
    let image: { width: number; height: number; data: Uint8Array };
    try {
      image = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: MAX_MEMORY_MB,
      });
    } catch (error) {
      throw new ValidationError(`Not a readable JPEG: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    // jpeg-js rounds its limit to megapixels: check the exact count too.
    checkPixelCount(image.width, image.height, maxPixels);
    return { pixels: rgbaToRgb(image.data, image.width * image.height), width: image.width, height: image.height };
  }
  throw new ValidationError('Not a PNG or JPEG image (unrecognised file signature)');
}

/**
 * An uploaded PNG/JPEG → a float32 [size, size, 3] tensor in [-1, 1]. Rejects non-images
 * and images of any other size with `ValidationError` (no silent resizing: a model trained
 * on 32×32 CIFAR-10 must see 32×32 inputs).
 */
export function imageBytesToTensor(bytes: Uint8Array, options: { size?: number } & DecodeImageOptions = {}): tf.Tensor3D {
  const size = options.size ?? 32;
  const image = decodeImage(bytes, options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels });
  if (image.width !== size || image.height !== size) {
    throw new ValidationError(`Expected a ${size}×${size} image, got ${image.width}×${image.height}`, {
      details: { width: image.width, height: image.height, expected: size },
    });
  }
  return uint8ToTensor(image.pixels, size, size, 3);
}
