import { ValidationError } from '@lab/core';

/** A dense row-major n×n matrix in Float64. */
export interface SquareMatrix {
  readonly n: number;
  readonly data: Float64Array;
}

/** Eigen-decomposition of a symmetric matrix: `A = V diag(values) Vᵀ`, eigenvectors in the columns of `vectors`. */
export interface SymmetricEigen {
  readonly values: Float64Array;
  readonly vectors: SquareMatrix;
}

/**
 * Cyclic Jacobi eigen solver for a symmetric matrix (Float64).
 *
 * Each rotation zeroes one off-diagonal pair; sweeps repeat until the off-diagonal mass is below
 * `tolerance` relative to the matrix norm. Quadratically convergent and accurate for the small
 * (≤ a few hundred) feature covariances the metrics use. The input is not modified.
 */
export function symmetricEigen(matrix: SquareMatrix, { tolerance = 1e-14, maxSweeps = 100 } = {}): SymmetricEigen {
  const { n } = matrix;
  const a = Float64Array.from(matrix.data);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let norm = 0;
  for (let i = 0; i < n * n; i++) norm += (a[i] as number) ** 2;
  const threshold = tolerance * tolerance * Math.max(norm, Number.MIN_VALUE);
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += 2 * (a[p * n + q] as number) ** 2;
    if (off <= threshold) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q] as number;
        if (apq === 0) continue;
        const app = a[p * n + p] as number;
        const aqq = a[q * n + q] as number;
        // The rotation angle that annihilates a[p][q] (Golub & Van Loan, Alg. 8.4.1; the smaller root).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p] as number;
          const akq = a[k * n + q] as number;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k] as number;
          const aqk = a[q * n + k] as number;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p] as number;
          const vkq = v[k * n + q] as number;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i] as number;
  return { values, vectors: { n, data: v } };
}

/** `V diag(f(values)) Vᵀ` for a symmetric eigen-decomposition. */
export function applySpectral(eigen: SymmetricEigen, f: (value: number) => number): SquareMatrix {
  const { n } = eigen.vectors;
  const v = eigen.vectors.data;
  const fv = Array.from(eigen.values, f);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += (v[i * n + k] as number) * (fv[k] as number) * (v[j * n + k] as number);
      out[i * n + j] = sum;
      out[j * n + i] = sum;
    }
  }
  return { n, data: out };
}

export function matMul(a: SquareMatrix, b: SquareMatrix): SquareMatrix {
  const { n } = a;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a.data[i * n + k] as number;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] = (out[i * n + j] as number) + aik * (b.data[k * n + j] as number);
    }
  }
  return { n, data: out };
}

export function trace(a: SquareMatrix): number {
  let sum = 0;
  for (let i = 0; i < a.n; i++) sum += a.data[i * a.n + i] as number;
  return sum;
}

/** Mean and (n−1)-normalised covariance of `count` row vectors of length `dim`, in Float64. */
export function meanAndCovariance(features: ArrayLike<number>, count: number, dim: number): { mean: Float64Array; cov: SquareMatrix } {
  if (count < 2) throw new ValidationError(`a covariance needs at least 2 samples, got ${count}`);
  if (features.length !== count * dim) throw new ValidationError(`expected ${count}×${dim} feature values, got ${features.length}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) + (features[i * dim + d] as number);
  for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) / count;
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let d = 0; d < dim; d++) centred[d] = (features[i * dim + d] as number) - (mean[d] as number);
    for (let r = 0; r < dim; r++) {
      const cr = centred[r] as number;
      for (let c = r; c < dim; c++) cov[r * dim + c] = (cov[r * dim + c] as number) + cr * (centred[c] as number);
    }
  }
  for (let r = 0; r < dim; r++) {
    for (let c = r; c < dim; c++) {
      const value = (cov[r * dim + c] as number) / (count - 1);
      cov[r * dim + c] = value;
      cov[c * dim + r] = value;
    }
  }
  return { mean, cov: { n: dim, data: cov } };
}
