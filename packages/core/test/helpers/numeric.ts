import * as tf from '@tensorflow/tfjs-core';

/** Runs `body` with `backend` active; returns plain numbers so results can cross backends. */
export async function onBackend<T>(backend: string, body: () => Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return await body();
  } finally {
    await tf.setBackend(previous);
  }
}

/** max |a − b| / max |b|: one number for "agrees to 1e-4". */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / Math.max(scale, 1e-30);
}

/** ‖a − b‖₂ / ‖b‖₂: the relative error of a whole gradient or update, robust to a few tiny entries. */
export function relativeL2Error(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff += ((a[i] as number) - (b[i] as number)) ** 2;
    scale += (b[i] as number) ** 2;
  }
  return Math.sqrt(diff / Math.max(scale, 1e-30));
}

/** Deterministic pseudo-random floats in [-1, 1), independent of any tfjs backend. */
export function seededValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Largest |value − expected(input)| over a tensor's values and the inputs they came from (a closed form). */
export async function maxErrorFromClosedForm(
  values: { data(): Promise<ArrayLike<number>> },
  inputs: ArrayLike<number>,
  expected: (x: number) => number,
): Promise<number> {
  const got = await values.data();
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected(inputs[i]!)));
  return worst;
}
