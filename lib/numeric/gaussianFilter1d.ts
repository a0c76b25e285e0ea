/**
 * `scipy.ndimage.gaussian_filter1d(x, sigma)` with its defaults: order 0, mode 'reflect'
 * (d c b a | a b c d | d c b a, the edge sample repeated), truncate 4.0, so the kernel radius
 * is int(4 * sigma + 0.5) and its weights exp(-x^2 / (2 sigma^2)) are normalised to sum 1.
 */

export function gaussianKernel1d(sigma: number, radius: number): Float64Array {
  const w = new Float64Array(2 * radius + 1);
  const sigma2 = sigma * sigma;
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 / sigma2) * i * i);
    w[i + radius] = v;
    sum += v;
  }
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
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let k = -radius; k <= radius; k++) {
      const j = i + k;
      acc += w[k + radius] * x[j >= 0 && j < n ? j : reflectIndex(j, n)];
    }
    out[i] = acc;
  }
  return out;
}
