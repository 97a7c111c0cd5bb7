import type { Rng } from '@lab/core';
import { featureStats, frechetDistance } from '../metrics/frechet.js';
import { classHistogram, inceptionScore } from '../metrics/inception-score.js';
import { kernelDistance } from '../metrics/kid.js';
import type { ClassifierOutputs } from './features.js';

/** Metrics of one image set against the real training set, on the classifier's features. */
export interface SetMetrics {
  readonly count: number;
  /** Fréchet distance on classifier features (not Inception: not comparable with published FID). */
  readonly 'FD-cls': number;
  /** KID on classifier features: mean and std over subsets of the unbiased MMD². */
  readonly 'KID-cls': { readonly mean: number; readonly std: number };
  /** Inception-Score analogue with the classifier's probabilities. */
  readonly 'IS-cls': number;
  /** How many images the classifier puts in each class. */
  readonly classHistogram: number[];
}

/** Compares a set of classifier outputs with the reference (real training) outputs. */
export function compareWithReference(set: ClassifierOutputs, reference: ClassifierOutputs, rng: Rng, kidSubsetSize = 1000): SetMetrics {
  const refStats = featureStats(reference.features, reference.count, reference.dim);
  const stats = featureStats(set.features, set.count, set.dim);
  return {
    count: set.count,
    'FD-cls': frechetDistance(stats, refStats),
    'KID-cls': kernelDistance(set.features, set.count, reference.features, reference.count, set.dim, {
      subsets: 10,
      subsetSize: kidSubsetSize,
      rng,
    }),
    'IS-cls': inceptionScore(set.probabilities, set.count, set.classes),
    classHistogram: classHistogram(set.probabilities, set.count, set.classes),
  };
}

/** A plain-text table of evaluation results, one row per set. */
export function formatReport(rows: Record<string, SetMetrics>, classNames: readonly string[]): string {
  const lines = ['set        n      FD-cls      KID-cls (×1e3)       IS-cls   predicted classes'];
  for (const [name, m] of Object.entries(rows)) {
    const kid = `${(m['KID-cls'].mean * 1e3).toFixed(2)} ± ${(m['KID-cls'].std * 1e3).toFixed(2)}`;
    const hist = m.classHistogram.map((c, i) => `${classNames[i] ?? i}:${c}`).join(' ');
    lines.push(
      `${name.padEnd(10)} ${String(m.count).padEnd(6)} ${m['FD-cls'].toFixed(3).padStart(9)}   ${kid.padEnd(20)} ${m['IS-cls'].toFixed(3).padStart(7)}   ${hist}`,
    );
  }
  return lines.join('\n');
}
