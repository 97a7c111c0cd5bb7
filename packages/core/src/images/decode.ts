import type * as tf from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import { ValidationError } from '../errors.js';
import { type DecodedImage, decodePng, rgbaToRgb } from './png.js';
import { uint8ToTensor } from './tensor.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];
/** Refuse to decode anything bigger (decompression bombs): 16 megapixels, 256 MB. */
const MAX_MEGAPIXELS = 16;
const MAX_MEMORY_MB = 256;

function startsWith(bytes: Uint8Array, signature: number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

/** PNG or JPEG bytes → RGB uint8 pixels. Anything else, or a corrupt file, is a `ValidationError`. */
export function decodeImage(bytes: Uint8Array): DecodedImage {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new ValidationError('Expected image bytes, got nothing');
  if (startsWith(bytes, PNG_SIGNATURE)) return decodePng(bytes);
  if (startsWith(bytes, JPEG_SIGNATURE)) {
    try {
      const image = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: MAX_MEGAPIXELS,
        maxMemoryUsageInMB: MAX_MEMORY_MB,
      });
      return { pixels: rgbaToRgb(image.data, image.width * image.height), width: image.width, height: image.height };
    } catch (error) {
      throw new ValidationError(`Not a readable JPEG: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  throw new ValidationError('Not a PNG or JPEG image (unrecognised file signature)');
}

/**
 * An uploaded PNG/JPEG → a float32 [size, size, 3] tensor in [-1, 1]. Rejects non-images
 * and images of any other size with `ValidationError` (no silent resizing: a model trained
 * on 32×32 CIFAR-10 must see 32×32 inputs).
 */
export function imageBytesToTensor(bytes: Uint8Array, options: { size?: number } = {}): tf.Tensor3D {
  const size = options.size ?? 32;
  const image = decodeImage(bytes);
  if (image.width !== size || image.height !== size) {
    throw new ValidationError(`Expected a ${size}×${size} image, got ${image.width}×${image.height}`, {
      details: { width: image.width, height: image.height, expected: size },
    });
  }
  return uint8ToTensor(image.pixels, size, size, 3);
}
