import { ValidationError } from '@lab/core';
import type { ClassifierOutputs } from './features.js';

/** How often a classifier's most probable class is the true label, overall and per true class. */
export interface AccuracyReport {
  readonly count: number;
  readonly correct: number;
  readonly accuracy: number;
  /** Accuracy among the images of each true class (NaN for a class with no images). */
  readonly perClass: number[];
}

/** Top-1 accuracy of classifier outputs against the first `outputs.count` labels (ties go to the lower class). */
export function classifierAccuracy(outputs: ClassifierOutputs, labels: ArrayLike<number>): AccuracyReport {
  const { probabilities, classes, count } = outputs;
  if (labels.length < count) throw new ValidationError(`${count} predictions but only ${labels.length} labels`);
  if (count === 0) throw new ValidationError('no images to measure the accuracy on');
  const seen = new Array<number>(classes).fill(0);
  const hits = new Array<number>(classes).fill(0);
  let correct = 0;
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++)
      if ((probabilities[i * classes + k] as number) > (probabilities[i * classes + best] as number)) best = k;
    const label = labels[i] as number;
    if (label >= 0 && label < classes) seen[label] = (seen[label] as number) + 1;
    if (best === label) {
      correct += 1;
      hits[label] = (hits[label] as number) + 1;
    }
  }
  return { count, correct, accuracy: correct / count, perClass: seen.map((n, k) => (n === 0 ? Number.NaN : (hits[k] as number) / n)) };
}

/** One line per class: `name  accuracy (correct/n)`, then the total. */
export function formatAccuracy(report: AccuracyReport, classNames: readonly string[]): string {
  const lines = report.perClass.map(
    (a, k) => `${(classNames[k] ?? String(k)).padEnd(11)} ${Number.isNaN(a) ? '   –' : `${(a * 100).toFixed(1).padStart(5)} %`}`,
  );
  lines.push(`${'all'.padEnd(11)} ${(report.accuracy * 100).toFixed(2).padStart(5)} % (${report.correct}/${report.count} test images)`);
  return lines.join('\n');
}
