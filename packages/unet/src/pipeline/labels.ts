import { ValidationError } from '@lab/core';

/**
 * The class labels of a batch: one class for every sample, one label per sample, or `'cycle'`
 * (sample i gets class i mod numClasses, as in the trainer's grids).
 */
export type ClassLabelSpec = number | readonly number[] | 'cycle';

/** What the denoiser gets: the labels (absent for an unconditional UNet) and the guidance scale. */
export interface Conditioning {
  readonly labels?: Int32Array;
  /** 1 = no guidance (one pass); any other value batches a conditional and an unconditional pass. */
  readonly guidanceScale: number;
  /** The null class (= numClasses) of a class-conditional UNet. */
  readonly nullClass?: number;
}

/**
 * The one place that checks labels and guidance against a model. Rules:
 * - an unconditional model (`numClasses` undefined) takes neither labels nor guidance ≠ 1;
 * - a class-conditional model without labels draws unconditional samples (every label the null
 *   class), and refuses guidance ≠ 1, which steers towards a class and would otherwise be
 *   silently dropped;
 * - labels are integers in [0, numClasses), one per sample when a list is given;
 * - guidance is a finite number (default 1).
 */
export function resolveConditioning(
  numClasses: number | undefined,
  count: number,
  labels?: ClassLabelSpec,
  guidance?: number,
): Conditioning {
  const scale = guidance ?? 1;
  if (!Number.isFinite(scale)) throw new ValidationError(`guidance must be a finite number, got ${scale}`);
  if (numClasses === undefined) {
    if (labels !== undefined) throw new ValidationError('class labels need a class-conditional model; this one is unconditional');
    if (scale !== 1) throw new ValidationError('guidance needs a class-conditional model; this one is unconditional');
    return { guidanceScale: 1 };
  }
  if (labels === undefined) {
    if (scale !== 1) throw new ValidationError('guidance steers samples towards a class: give class labels too');
    return { labels: new Int32Array(count).fill(numClasses), guidanceScale: 1, nullClass: numClasses };
  }
  const values =
    labels === 'cycle'
      ? Int32Array.from({ length: count }, (_, i) => i % numClasses)
      : typeof labels === 'number'
        ? new Int32Array(count).fill(checkLabel(labels, numClasses))
        : Int32Array.from(labels, (label) => checkLabel(label, numClasses));
  if (values.length !== count) throw new ValidationError(`${values.length} class labels for ${count} samples`);
  return { labels: values, guidanceScale: scale, nullClass: numClasses };
}

function checkLabel(label: number, numClasses: number): number {
  if (!(Number.isInteger(label) && label >= 0 && label < numClasses))
    throw new ValidationError(`class label must be an integer in [0, ${numClasses}), got ${label}`);
  return label;
}
