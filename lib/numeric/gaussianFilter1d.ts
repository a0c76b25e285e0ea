/**
 * `scipy.ndimage.gaussian_filter1d(x, sigma)` with its defaults: order 0, mode 'reflect'
 * (d c b a | a b c d | d c b a, the edge sample repeated), truncate 4.0, so the kernel radius
 * is int(4 * sigma + 0.5) and its weights exp(-x^2 / (2 sigma^2)) are normalised to sum 1.
 *
 * The arithmetic follows scipy's step for step (the kernel from numpy's polynomial evaluation and
 * pairwise sum; each output the centre term, then the symmetric pairs from the outermost in), so
 * the result matches scipy to the last bit wherever Math.exp agrees with the C library's exp.
 */
import { pairwiseSum } from './pairwiseSum.js';

export function gaussianKernel1d(sigma: number, radius: number): Float64Array {
  const w = new Float64Array(2 * radius + 1);
  const c = -0.5 / (sigma * sigma);
  for (let i = -radius; i <= radius; i++) w[i + radius] = Math.exp(0 + i * (0 + i * c));
  const sum = pairwiseSum(w);
  for (let i = 0; i < w.length; i++) w[i] /= sum;
  return w;
}

/** Index of a sample beyond either end under 'reflect', repeating for kernels longer than x. */
function reflectIndex(i: number, n: number): number {
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

export function gaussianFilter1d(x: ArrayLike<number>, sigma: number, truncate = 4.0): Float64Array {
  const n = x.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const radius = Math.trunc(truncate * sigma + 0.5);
  if (radius === 0) { for (let i = 0; i < n; i++) out[i] = x[i]; return out; }
  const w = gaussianKernel1d(sigma, radius);
  // The input extended by `radius` reflected samples on each side.
  const ext = new Float64Array(n + 2 * radius);
  for (let i = -radius; i < n + radius; i++) ext[i + radius] = x[i >= 0 && i < n ? i : reflectIndex(i, n)];
  for (let i = 0; i < n; i++) {
    const c = i + radius;
    let acc = ext[c] * w[radius];
    for (let k = radius; k >= 1; k--) acc += (ext[c - k] + ext[c + k]) * w[radius - k];
    out[i] = acc;
  }
  return out;
}
