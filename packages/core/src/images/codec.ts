import { decodeImage } from './decode.js';
import { encodePng } from './png.js';

/** Encodes and decodes images as bytes; the API and trainer receive one through DI. */
export interface ImageCodec {
  /** RGB(A) uint8 pixels, row-major, `channels` per pixel → PNG bytes. */
  encodePng(pixels: Uint8Array, width: number, height: number, channels: 3 | 4): Uint8Array;
  /** PNG or JPEG bytes → RGB uint8 pixels. Throws ValidationError for anything else. */
  decode(bytes: Uint8Array): { pixels: Uint8Array; width: number; height: number };
}

/** The default codec: pngjs for PNG, jpeg-js for JPEG decoding. */
export const pngCodec: ImageCodec = { encodePng, decode: decodeImage };
