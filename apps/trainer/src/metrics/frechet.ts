import { ValidationError } from '@lab/core';
import { applySpectral, matMul, meanAndCovariance, type SquareMatrix, symmetricEigen, trace } from './linalg.js';

/** Gaussian statistics of a feature set. */
export interface FeatureStats {
  readonly mean: Float64Array;
  readonly cov: SquareMatrix;
  readonly count: number;
}

export function featureStats(features: ArrayLike<number>, count: number, dim: number): FeatureStats {
  return { ...meanAndCovariance(features, count, dim), count };
}

/**
 * Trace of the principal square root of Σ1·Σ2 for symmetric PSD Σ1, Σ2.
 *
 * Σ1Σ2 is similar to the symmetric PSD matrix M = Σ1^½ Σ2 Σ1^½ (same eigenvalues), so
 * tr √(Σ1Σ2) = Σ √λ(M): two symmetric eigen-decompositions, no general (complex) matrix square root.
 * Tiny negative eigenvalues from round-off are clamped to 0.
 */
export function traceSqrtProduct(a: SquareMatrix, b: SquareMatrix): number {
  const sqrtA = applySpectral(symmetricEigen(a), (x) => Math.sqrt(Math.max(x, 0)));
  const m = matMul(matMul(sqrtA, b), sqrtA);
  // Symmetrise against round-off before the second decomposition.
  const { n } = m;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const avg = ((m.data[i * n + j] as number) + (m.data[j * n + i] as number)) / 2;
      m.data[i * n + j] = avg;
      m.data[j * n + i] = avg;
    }
  }
  let sum = 0;
  for (const value of symmetricEigen(m).values) sum += Math.sqrt(Math.max(value, 0));
  return sum;
}

/**
 * Fréchet distance between the Gaussians N(μ1, Σ1) and N(μ2, Σ2):
 * ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1Σ2)^½). On Inception features this is FID; genlab computes it on
 * its own classifier's features and calls it "FD-cls".
 */
export function frechetDistance(s1: Pick<FeatureStats, 'mean' | 'cov'>, s2: Pick<FeatureStats, 'mean' | 'cov'>): number {
  if (s1.mean.length !== s2.mean.length) throw new ValidationError(`feature dimensions differ: ${s1.mean.length} vs ${s2.mean.length}`);
  let meanTerm = 0;
  for (let i = 0; i < s1.mean.length; i++) meanTerm += ((s1.mean[i] as number) - (s2.mean[i] as number)) ** 2;
  const value = meanTerm + trace(s1.cov) + trace(s2.cov) - 2 * traceSqrtProduct(s1.cov, s2.cov);
  // Round-off can push an exact 0 slightly negative.
  return Math.max(value, 0);
}
