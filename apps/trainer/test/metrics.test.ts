import { Rng } from '@lab/core';
import { describe, expect, it } from 'vitest';
import { featureStats, frechetDistance, traceSqrtProduct } from '../src/metrics/frechet.js';
import { classHistogram, inceptionScore } from '../src/metrics/inception-score.js';
import { kernelDistance, mmdUnbiased } from '../src/metrics/kid.js';
import { applySpectral, matMul, type SquareMatrix, symmetricEigen } from '../src/metrics/linalg.js';

function randomSpd(n: number, rng: Rng): SquareMatrix {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) a[i] = rng.gaussian();
  const at = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) at[i * n + j] = a[j * n + i] as number;
  const m = matMul({ n, data: a }, { n, data: at });
  for (let i = 0; i < n; i++) m.data[i * n + i] = (m.data[i * n + i] as number) + 0.1;
  return m;
}

/** Draws `count` samples of N(mean, L Lᵀ) given a lower-triangular factor L. */
function sampleGaussian(mean: number[], chol: number[][], count: number, rng: Rng): Float64Array {
  const d = mean.length;
  const out = new Float64Array(count * d);
  const z = new Float64Array(d);
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < d; k++) z[k] = rng.gaussian();
    for (let r = 0; r < d; r++) {
      let v = mean[r] as number;
      for (let k = 0; k <= r; k++) v += (chol[r]?.[k] as number) * (z[k] as number);
      out[i * d + r] = v;
    }
  }
  return out;
}

describe('symmetric eigen-decomposition (Jacobi)', () => {
  it('reconstructs the matrix with orthonormal eigenvectors', () => {
    const n = 24;
    const a = randomSpd(n, new Rng(3));
    const eigen = symmetricEigen(a);
    const back = applySpectral(eigen, (x) => x);
    for (let i = 0; i < n * n; i++) expect(back.data[i]).toBeCloseTo(a.data[i] as number, 9);
    const v = eigen.vectors.data;
    for (let p = 0; p < n; p++) {
      for (let q = 0; q < n; q++) {
        let dot = 0;
        for (let k = 0; k < n; k++) dot += (v[k * n + p] as number) * (v[k * n + q] as number);
        expect(dot).toBeCloseTo(p === q ? 1 : 0, 10);
      }
    }
    // The matrix square root squares back to the matrix.
    const root = applySpectral(eigen, Math.sqrt);
    const squared = matMul(root, root);
    for (let i = 0; i < n * n; i++) expect(squared.data[i]).toBeCloseTo(a.data[i] as number, 8);
  });
});

describe('Fréchet distance', () => {
  it('is ≈ 0 for a feature set against itself', () => {
    const rng = new Rng(5);
    const dim = 16;
    const count = 200;
    const features = Float64Array.from({ length: count * dim }, () => rng.gaussian() * 2 + 1);
    const stats = featureStats(features, count, dim);
    expect(frechetDistance(stats, stats)).toBeLessThan(1e-8);
  });

  it('matches the closed form for 2×2 covariances that do not commute', () => {
    // For 2×2 PSD A: tr √A = √(tr A + 2 √det A); here A = Σ1Σ2 (its eigenvalues are real and ≥ 0).
    const s1 = { n: 2, data: Float64Array.from([2, 0.7, 0.7, 1]) };
    const s2 = { n: 2, data: Float64Array.from([0.5, -0.2, -0.2, 3]) };
    const det = (m: SquareMatrix) => (m.data[0] as number) * (m.data[3] as number) - (m.data[1] as number) * (m.data[2] as number);
    const product = matMul(s1, s2);
    const trProduct = (product.data[0] as number) + (product.data[3] as number);
    const closedTraceSqrt = Math.sqrt(trProduct + 2 * Math.sqrt(det(s1) * det(s2)));
    expect(traceSqrtProduct(s1, s2)).toBeCloseTo(closedTraceSqrt, 12);
    const mean1 = Float64Array.from([0.3, -1]);
    const mean2 = Float64Array.from([1.1, 0.5]);
    const closed = (0.3 - 1.1) ** 2 + (-1 - 0.5) ** 2 + 3 + 3.5 - 2 * closedTraceSqrt;
    expect(frechetDistance({ mean: mean1, cov: s1 }, { mean: mean2, cov: s2 })).toBeCloseTo(closed, 12);
  });

  it('matches Σ(√a − √b)² for commuting (diagonal) covariances', () => {
    const a = [1, 4, 9, 0.25, 2];
    const b = [4, 1, 1, 1, 2];
    const diag = (v: number[]) => {
      const data = new Float64Array(v.length * v.length);
      v.forEach((x, i) => {
        data[i * v.length + i] = x;
      });
      return { n: v.length, data };
    };
    const zero = new Float64Array(5);
    const closed = a.reduce((sum, x, i) => sum + (Math.sqrt(x) - Math.sqrt(b[i] as number)) ** 2, 0);
    expect(frechetDistance({ mean: zero, cov: diag(a) }, { mean: zero, cov: diag(b) })).toBeCloseTo(closed, 12);
  });

  it('estimated from samples of two Gaussians approaches the closed form', () => {
    const rng = new Rng(11);
    const count = 20_000;
    const x = sampleGaussian([0, 0, 0], [[1], [0.5, 1], [0, 0.3, 0.8]], count, rng);
    const y = sampleGaussian([0.5, 0, -0.5], [[1.5], [0, 0.7], [0.4, 0, 1]], count, rng);
    const sx = featureStats(x, count, 3);
    const sy = featureStats(y, count, 3);
    // Population parameters: Σ = L Lᵀ.
    const cov = (l: number[][]) => {
      const data = new Float64Array(9);
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++)
          for (let k = 0; k < 3; k++) data[i * 3 + j] = (data[i * 3 + j] as number) + (l[i]?.[k] ?? 0) * (l[j]?.[k] ?? 0);
      return { n: 3, data };
    };
    const exact = frechetDistance(
      { mean: Float64Array.from([0, 0, 0]), cov: cov([[1], [0.5, 1], [0, 0.3, 0.8]]) },
      { mean: Float64Array.from([0.5, 0, -0.5]), cov: cov([[1.5], [0, 0.7], [0.4, 0, 1]]) },
    );
    expect(exact).toBeGreaterThan(0.5);
    expect(Math.abs(frechetDistance(sx, sy) - exact)).toBeLessThan(0.05);
  });
});

describe('KID (unbiased polynomial-kernel MMD²)', () => {
  it('averages to 0 on sets from one distribution, where the biased estimator does not', () => {
    const rng = new Rng(21);
    const dim = 4;
    const m = 30;
    const unbiased: number[] = [];
    const biased: number[] = [];
    const kernel = (a: Float64Array, i: number, b: Float64Array, j: number) => {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += (a[i * dim + d] as number) * (b[j * dim + d] as number);
      return (dot / dim + 1) ** 3;
    };
    for (let trial = 0; trial < 150; trial++) {
      const x = Float64Array.from({ length: m * dim }, () => rng.gaussian());
      const y = Float64Array.from({ length: m * dim }, () => rng.gaussian());
      unbiased.push(mmdUnbiased(x, m, y, m, dim));
      // V-statistic: all pairs including i = j (biased upwards).
      let kxx = 0;
      let kyy = 0;
      let kxy = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < m; j++) {
          kxx += kernel(x, i, x, j);
          kyy += kernel(y, i, y, j);
          kxy += kernel(x, i, y, j);
        }
      }
      biased.push((kxx + kyy - 2 * kxy) / (m * m));
    }
    const meanAndSe = (v: number[]) => {
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
      return { mean, se: sd / Math.sqrt(v.length) };
    };
    const u = meanAndSe(unbiased);
    const b = meanAndSe(biased);
    expect(Math.abs(u.mean)).toBeLessThan(3 * u.se);
    expect(b.mean).toBeGreaterThan(5 * b.se);
  });

  it('matches the closed-form MMD² of two 1-D Gaussians', () => {
    // k(x, y) = (xy + 1)³ for d = 1; E[(xy+1)³] = m3(a)m3(b) + 3 m2(a)m2(b) + 3ab + 1 for independent
    // x ~ N(a, 1), y ~ N(b, 1), with m2(a) = 1 + a², m3(a) = a³ + 3a.
    const e = (a: number, b: number) => (a ** 3 + 3 * a) * (b ** 3 + 3 * b) + 3 * (1 + a * a) * (1 + b * b) + 3 * a * b + 1;
    const a = 0;
    const b = 0.8;
    const exact = e(a, a) + e(b, b) - 2 * e(a, b);
    const rng = new Rng(8);
    const n = 2000;
    const x = Float64Array.from({ length: n }, () => a + rng.gaussian());
    const y = Float64Array.from({ length: n }, () => b + rng.gaussian());
    const estimate = mmdUnbiased(x, n, y, n, 1);
    expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.15);
    const subsets = kernelDistance(x, n, y, n, 1, { subsets: 4, subsetSize: 500, rng: new Rng(1) });
    expect(Math.abs(subsets.mean - exact) / exact).toBeLessThan(0.25);
    expect(subsets.std).toBeGreaterThan(0);
  });
});

describe('IS-cls and class histogram', () => {
  it('is K for confident predictions spread evenly over K classes and 1 for constant predictions', () => {
    const k = 4;
    const even = new Float64Array(8 * k);
    for (let i = 0; i < 8; i++) even[i * k + (i % k)] = 1;
    expect(inceptionScore(even, 8, k)).toBeCloseTo(4, 10);
    const constant = Float64Array.from({ length: 5 * k }, (_, i) => [0.1, 0.6, 0.2, 0.1][i % k] as number);
    expect(inceptionScore(constant, 5, k)).toBeCloseTo(1, 10);
    expect(classHistogram(even, 8, k)).toEqual([2, 2, 2, 2]);
  });

  it('matches a hand-computed value', () => {
    // p1 = (0.9, 0.1), p2 = (0.2, 0.8); marginal (0.55, 0.45).
    const p = [0.9, 0.1, 0.2, 0.8];
    const kl = (q: number[]) => (q[0] as number) * Math.log((q[0] as number) / 0.55) + (q[1] as number) * Math.log((q[1] as number) / 0.45);
    expect(inceptionScore(p, 2, 2)).toBeCloseTo(Math.exp((kl([0.9, 0.1]) + kl([0.2, 0.8])) / 2), 12);
  });
});
