import { type Rng, ValidationError } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { CIFAR_PIXELS, CIFAR_SIZE, type CifarRecords } from './cifar10-format.js';

/** Random augmentations applied while building a batch (all drawn from the caller's Rng). */
export interface Augmentation {
  /** Mirror each image left–right with probability ½. */
  flip?: boolean;
  /** Shift by up to this many pixels in x and y, zero (black → -1) padding: the usual "pad and crop". */
  translate?: number;
  /**
   * Cutout (DeVries & Taylor, 2017): set a square of this side to 0 (mid-grey), centred on a
   * uniformly drawn pixel and clipped at the borders, after the flip and shift. 0 or absent: none.
   */
  cutout?: number;
}

/** Where a shuffled pass over the data stands; saved in checkpoints so a resumed run sees the same batches. */
export interface BatchCursor {
  readonly epoch: number;
  readonly position: number;
}

/**
 * Seeded, shuffled mini-batches over CIFAR records, as [-1, 1] NHWC float32 tensors.
 *
 * The order of epoch `e` is a Fisher–Yates shuffle seeded by (`seed`, `e`), so it depends only on the
 * cursor and can be recreated after a resume. Batches never straddle epochs with a partial batch: the
 * remainder of an epoch is carried into the next one.
 */
export class CifarBatches {
  private order: Uint32Array;
  private orderEpoch = -1;
  private epoch = 0;
  private position = 0;

  constructor(
    readonly records: CifarRecords,
    private readonly seed: number,
    cursor?: BatchCursor,
  ) {
    if (records.count === 0) throw new ValidationError('the dataset is empty (check the class filter)');
    this.order = new Uint32Array(records.count);
    if (cursor) {
      this.epoch = cursor.epoch;
      this.position = cursor.position;
    }
  }

  get cursor(): BatchCursor {
    return { epoch: this.epoch, position: this.position };
  }

  /** Indices of the next `size` records in shuffled order. */
  nextIndices(size: number): number[] {
    if (!(Number.isInteger(size) && size > 0)) throw new ValidationError(`batch size must be a positive integer, got ${size}`);
    const out: number[] = [];
    while (out.length < size) {
      if (this.position >= this.records.count) {
        this.epoch += 1;
        this.position = 0;
      }
      const order = this.epochOrder();
      out.push(order[this.position] as number);
      this.position += 1;
    }
    return out;
  }

  /** The next batch: images [B,32,32,3] in [-1,1] and int32 labels [B]. */
  next(size: number, rng: Rng, augmentation: Augmentation = {}): { images: tf.Tensor4D; labels: tf.Tensor1D } {
    return recordsToBatch(this.records, this.nextIndices(size), rng, augmentation);
  }

  private epochOrder(): Uint32Array {
    if (this.orderEpoch !== this.epoch) {
      for (let i = 0; i < this.order.length; i++) this.order[i] = i;
      // The epoch's order has its own stream seeded by (seed, epoch): independent of every other draw.
      shuffleInPlace(this.order, (this.seed ^ Math.imul(this.epoch + 1, 0x27d4eb2d)) >>> 0);
      this.orderEpoch = this.epoch;
    }
    return this.order;
  }
}

/** Fisher–Yates with a local SplitMix32 stream (so the order never depends on other random draws). */
function shuffleInPlace(items: Uint32Array, seed: number): void {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const tmp = items[i] as number;
    items[i] = items[j] as number;
    items[j] = tmp;
  }
}

/**
 * Builds one batch from record indices: planar uint8 RGB → interleaved NHWC float32 in [-1, 1]
 * (v / 127.5 − 1), with the requested random flips and shifts drawn from `rng` in index order.
 */
export function recordsToBatch(
  records: CifarRecords,
  indices: readonly number[],
  rng: Rng,
  augmentation: Augmentation = {},
): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  const plane = CIFAR_SIZE * CIFAR_SIZE;
  const data = new Float32Array(indices.length * CIFAR_PIXELS);
  const labels = new Int32Array(indices.length);
  const maxShift = augmentation.translate ?? 0;
  const cutout = augmentation.cutout ?? 0;
  if (!(Number.isInteger(cutout) && cutout >= 0)) throw new ValidationError(`cutout must be an integer ≥ 0, got ${cutout}`);
  indices.forEach((index, b) => {
    if (!(index >= 0 && index < records.count)) throw new ValidationError(`record index ${index} is outside 0…${records.count - 1}`);
    labels[b] = records.labels[index] as number;
    const flip = augmentation.flip === true && rng.float() < 0.5;
    const dx = maxShift > 0 ? rng.int(2 * maxShift + 1) - maxShift : 0;
    const dy = maxShift > 0 ? rng.int(2 * maxShift + 1) - maxShift : 0;
    const src = index * CIFAR_PIXELS;
    const dst = b * CIFAR_PIXELS;
    for (let y = 0; y < CIFAR_SIZE; y++) {
      const sy = y - dy;
      for (let x = 0; x < CIFAR_SIZE; x++) {
        const fx = flip ? CIFAR_SIZE - 1 - x : x;
        const sx = fx - dx;
        const out = dst + (y * CIFAR_SIZE + x) * 3;
        if (sy < 0 || sy >= CIFAR_SIZE || sx < 0 || sx >= CIFAR_SIZE) {
          data[out] = -1;
          data[out + 1] = -1;
          data[out + 2] = -1;
          continue;
        }
        const p = src + sy * CIFAR_SIZE + sx;
        data[out] = (records.pixels[p] as number) / 127.5 - 1;
        data[out + 1] = (records.pixels[p + plane] as number) / 127.5 - 1;
        data[out + 2] = (records.pixels[p + 2 * plane] as number) / 127.5 - 1;
      }
    }
    // Drawn only when asked for, so runs without cutout see the same random stream as before.
    if (cutout > 0) eraseSquare(data, dst, rng.int(CIFAR_SIZE), rng.int(CIFAR_SIZE), cutout);
  });
  return {
    images: tf.tensor4d(data, [indices.length, CIFAR_SIZE, CIFAR_SIZE, 3], 'float32'),
    labels: tf.tensor1d(labels, 'int32'),
  };
}

/** Zeroes the `side`×`side` square of the image at `offset` whose centre is (cx, cy), clipped at the borders. */
function eraseSquare(data: Float32Array, offset: number, cx: number, cy: number, side: number): void {
  const x0 = cx - Math.floor(side / 2);
  const y0 = cy - Math.floor(side / 2);
  for (let y = Math.max(0, y0); y < Math.min(CIFAR_SIZE, y0 + side); y++) {
    const row = offset + y * CIFAR_SIZE * 3;
    data.fill(0, row + Math.max(0, x0) * 3, row + Math.min(CIFAR_SIZE, x0 + side) * 3);
  }
}
