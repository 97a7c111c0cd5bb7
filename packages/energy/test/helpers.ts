import '@tensorflow/tfjs-backend-cpu';
import { useTestBackend } from '../../../testing/backend.js';

/** Every test file runs on the cpu backend (deterministic, always available), or on torch (`npm run test:torch`). */
export async function useCpuBackend(): Promise<void> {
  await useTestBackend();
}

/**
 * Largest singular value of a row-major matrix [rows, cols], computed independently of the
 * code under test: cyclic Jacobi eigenvalue iteration on AᵀA in float64.
 */
export function largestSingularValue(a: ArrayLike<number>, rows: number, cols: number): number {
  const m: number[][] = Array.from({ length: cols }, (_, i) =>
    Array.from({ length: cols }, (_, j) => {
      let s = 0;
      for (let r = 0; r < rows; r++) s += (a[r * cols + i] as number) * (a[r * cols + j] as number);
      return s;
    }),
  );
  const at = (i: number, j: number) => (m[i] as number[])[j] as number;
  const set = (i: number, j: number, v: number) => {
    (m[i] as number[])[j] = v;
  };
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < cols; p++) for (let q = p + 1; q < cols; q++) off += at(p, q) ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < cols; p++) {
      for (let q = p + 1; q < cols; q++) {
        if (Math.abs(at(p, q)) < 1e-300) continue;
        const theta = (at(q, q) - at(p, p)) / (2 * at(p, q));
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < cols; k++) {
          const mkp = at(k, p);
          const mkq = at(k, q);
          set(k, p, c * mkp - s * mkq);
          set(k, q, s * mkp + c * mkq);
        }
        for (let k = 0; k < cols; k++) {
          const mpk = at(p, k);
          const mqk = at(q, k);
          set(p, k, c * mpk - s * mqk);
          set(q, k, s * mpk + c * mqk);
        }
      }
    }
  }
  let maxEig = 0;
  for (let i = 0; i < cols; i++) maxEig = Math.max(maxEig, at(i, i));
  return Math.sqrt(maxEig);
}

/** Euclidean normalisation in float64. */
export function normalized(x: ArrayLike<number>): number[] {
  const values = Array.from(x);
  const n = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
  return values.map((v) => v / n);
}

/** W [rows, cols] (row-major) times x [cols], float64. */
export function matVec(w: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let s = 0;
    for (let c = 0; c < cols; c++) s += (w[r * cols + c] as number) * (x[c] as number);
    return s;
  });
}

/** Wᵀ x for W [rows, cols] and x [rows], float64. */
export function matTVec(w: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>): number[] {
  return Array.from({ length: cols }, (_, c) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += (w[r * cols + c] as number) * (x[r] as number);
    return s;
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}
