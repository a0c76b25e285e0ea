/**
 * Small dense linear algebra on row-major Float64Arrays (n x n, n up to a few dozen): what the
 * PC metrics need per unit, where calling out to LAPACK is not an option.
 */

/**
 * Inverse by LU decomposition with partial pivoting (LAPACK's getrf/getri approach, as
 * `np.linalg.inv` uses). Returns undefined when a pivot is exactly zero, the case where numpy raises
 * LinAlgError('Singular matrix'); a nearly singular matrix gives a (large, inaccurate) inverse there
 * too.
 */
export function invertMatrix(a: ArrayLike<number>, n: number): Float64Array | undefined {
  const lu = Float64Array.from(a as ArrayLike<number>);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let j = 0; j < n; j++) {
    let p = j;
    let best = Math.abs(lu[j * n + j]);
    for (let i = j + 1; i < n; i++) {
      const v = Math.abs(lu[i * n + j]);
      if (v > best) { best = v; p = i; }
    }
    if (best === 0 || Number.isNaN(best)) return undefined;
    if (p !== j) {
      for (let k = 0; k < n; k++) {
        const t = lu[j * n + k]; lu[j * n + k] = lu[p * n + k]; lu[p * n + k] = t;
      }
      const t = perm[j]; perm[j] = perm[p]; perm[p] = t;
    }
    const pivot = lu[j * n + j];
    for (let i = j + 1; i < n; i++) {
      const f = (lu[i * n + j] /= pivot);
      if (f === 0) continue;
      for (let k = j + 1; k < n; k++) lu[i * n + k] -= f * lu[j * n + k];
    }
  }
  // Solve L U X = P I, one column of the identity at a time.
  const inv = new Float64Array(n * n);
  const col = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    for (let i = 0; i < n; i++) col[i] = perm[i] === c ? 1 : 0;
    for (let i = 0; i < n; i++) {
      let s = col[i];
      for (let k = 0; k < i; k++) s -= lu[i * n + k] * col[k];
      col[i] = s;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = col[i];
      for (let k = i + 1; k < n; k++) s -= lu[i * n + k] * col[k];
      col[i] = s / lu[i * n + i];
    }
    for (let i = 0; i < n; i++) inv[i * n + c] = col[i];
  }
  return inv;
}

export interface SymmetricEigen {
  /** Eigenvalues, descending. */
  values: Float64Array;
  /** Row-major n x n; column k is the unit eigenvector of values[k]. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: slow for large n but
 * accurate to a few ulps of the largest eigenvalue, which is what a rank decision needs.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  const m = Float64Array.from(a as ArrayLike<number>);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, diag = 0;
    for (let i = 0; i < n; i++) {
      diag += m[i * n + i] * m[i * n + i];
      for (let j = i + 1; j < n; j++) off += m[i * n + j] * m[i * n + j];
    }
    if (off === 0 || off < 1e-36 * diag) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p], aqq = m[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p], mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k], mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[y * n + y] - m[x * n + x]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, k) => {
    values[k] = m[src * n + src];
    for (let i = 0; i < n; i++) vectors[i * n + k] = v[i * n + src];
  });
  return { values, vectors };
}
