import { type Rng, ValidationError } from '@lab/core';

/** The KID kernel: k(x, y) = (xᵀy / d + 1)³. */
function polynomialKernel(x: ArrayLike<number>, i: number, y: ArrayLike<number>, j: number, dim: number): number {
  let dot = 0;
  for (let d = 0; d < dim; d++) dot += (x[i * dim + d] as number) * (y[j * dim + d] as number);
  return (dot / dim + 1) ** 3;
}

/**
 * The unbiased estimator of the squared MMD with the cubic polynomial kernel (Bińkowski et al. 2018):
 * mean of k over distinct pairs within X, plus the same within Y, minus twice the mean over all X×Y pairs.
 * Its expectation is exactly MMD², so it is ≈ 0 (and can be negative) for sets from one distribution.
 */
export function mmdUnbiased(x: ArrayLike<number>, m: number, y: ArrayLike<number>, n: number, dim: number): number {
  if (m < 2 || n < 2) throw new ValidationError(`KID needs at least 2 samples per set, got ${m} and ${n}`);
  let kxx = 0;
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) kxx += polynomialKernel(x, i, x, j, dim);
  let kyy = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) kyy += polynomialKernel(y, i, y, j, dim);
  let kxy = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) kxy += polynomialKernel(x, i, y, j, dim);
  return (2 * kxx) / (m * (m - 1)) + (2 * kyy) / (n * (n - 1)) - (2 * kxy) / (m * n);
}

/**
 * Kernel Inception Distance on arbitrary features ("KID-cls" on genlab's classifier features): the mean
 * and standard deviation of the unbiased MMD² over `subsets` random subsets of `subsetSize` from each set.
 */
export function kernelDistance(
  x: ArrayLike<number>,
  m: number,
  y: ArrayLike<number>,
  n: number,
  dim: number,
  options: { subsets?: number; subsetSize?: number; rng: Rng },
): { mean: number; std: number } {
  const size = Math.min(options.subsetSize ?? 1000, m, n);
  const subsets = options.subsets ?? 10;
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    const xs = pickRows(x, m, dim, size, options.rng);
    const ys = pickRows(y, n, dim, size, options.rng);
    values.push(mmdUnbiased(xs, size, ys, size, dim));
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

function pickRows(data: ArrayLike<number>, count: number, dim: number, size: number, rng: Rng): Float64Array {
  const indices = rng.shuffle(Array.from({ length: count }, (_, i) => i)).slice(0, size);
  const out = new Float64Array(size * dim);
  indices.forEach((row, k) => {
    for (let d = 0; d < dim; d++) out[k * dim + d] = data[row * dim + d] as number;
  });
  return out;
}
