import { ValidationError } from '@lab/core';

/**
 * The Inception-Score analogue on genlab's classifier ("IS-cls"): exp(E_x KL(p(y|x) ‖ p(y))) from
 * row-wise class probabilities. 1 when every image gets the same prediction; K when predictions are
 * confident and spread evenly over K classes.
 */
export function inceptionScore(probabilities: ArrayLike<number>, count: number, classes: number): number {
  if (count < 1 || probabilities.length !== count * classes) {
    throw new ValidationError(`expected ${count}×${classes} probabilities, got ${probabilities.length}`);
  }
  const marginal = new Float64Array(classes);
  for (let i = 0; i < count; i++)
    for (let k = 0; k < classes; k++) marginal[k] = (marginal[k] as number) + (probabilities[i * classes + k] as number) / count;
  let kl = 0;
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < classes; k++) {
      const p = probabilities[i * classes + k] as number;
      if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[k] as number));
    }
  }
  return Math.exp(kl / count);
}

/** How many rows predict each class (argmax). */
export function classHistogram(probabilities: ArrayLike<number>, count: number, classes: number): number[] {
  const histogram = new Array<number>(classes).fill(0);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++)
      if ((probabilities[i * classes + k] as number) > (probabilities[i * classes + best] as number)) best = k;
    histogram[best] = (histogram[best] as number) + 1;
  }
  return histogram;
}
