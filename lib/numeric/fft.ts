/**
 * In-place discrete Fourier transform of any length, split into real and imaginary arrays:
 * X[k] = sum_n x[n] exp(-2 pi i k n / N) (forward, unnormalised); the inverse uses +i and is
 * also unnormalised, as pocketfft's backward transform is before numpy scales it by 1/N.
 *
 * Powers of two use an iterative radix-2 transform; other lengths go through Bluestein's chirp-z
 * identity on a power-of-two convolution, so every length costs O(N log N).
 */

const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array }>();

/** cos and sin of 2 pi k / n for k < n/2, computed once per size. */
function twiddles(n: number): { cos: Float64Array; sin: Float64Array } {
  let t = twiddleCache.get(n);
  if (!t) {
    const half = n >> 1;
    t = { cos: new Float64Array(half), sin: new Float64Array(half) };
    for (let k = 0; k < half; k++) {
      const a = (2 * Math.PI * k) / n;
      t.cos[k] = Math.cos(a);
      t.sin[k] = Math.sin(a);
    }
    twiddleCache.set(n, t);
  }
  return t;
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function radix2(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  const { cos, sin } = twiddles(n);
  const sign = inverse ? 1 : -1;
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const step = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * step];
        const wi = sign * sin[k * step];
        const a = start + k;
        const b = a + half;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
      }
    }
  }
}

function bluestein(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  let m = 1;
  while (m < 2 * n - 1) m <<= 1;
  const sign = inverse ? 1 : -1;
  // Chirp w[k] = exp(sign * i * pi * k^2 / n); k^2 is reduced mod 2n so the angle stays small
  // and exact for long inputs.
  const cr = new Float64Array(n);
  const ci = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const k2 = (k * k) % (2 * n);
    const a = (Math.PI * k2) / n;
    cr[k] = Math.cos(a);
    ci[k] = sign * Math.sin(a);
  }
  const ar = new Float64Array(m);
  const ai = new Float64Array(m);
  for (let k = 0; k < n; k++) {
    ar[k] = re[k] * cr[k] - im[k] * ci[k];
    ai[k] = re[k] * ci[k] + im[k] * cr[k];
  }
  const br = new Float64Array(m);
  const bi = new Float64Array(m);
  br[0] = cr[0];
  bi[0] = -ci[0];
  for (let k = 1; k < n; k++) {
    br[k] = br[m - k] = cr[k];
    bi[k] = bi[m - k] = -ci[k];
  }
  radix2(ar, ai, false);
  radix2(br, bi, false);
  for (let k = 0; k < m; k++) {
    const r = ar[k] * br[k] - ai[k] * bi[k];
    const i = ar[k] * bi[k] + ai[k] * br[k];
    ar[k] = r;
    ai[k] = i;
  }
  radix2(ar, ai, true);
  for (let k = 0; k < n; k++) {
    const r = ar[k] / m;
    const i = ai[k] / m;
    re[k] = r * cr[k] - i * ci[k];
    im[k] = r * ci[k] + i * cr[k];
  }
}

/** Transform `re` + i`im` in place. `inverse` flips the sign of the exponent (no 1/N). */
export function fftInPlace(re: Float64Array, im: Float64Array, inverse = false): void {
  if (re.length !== im.length) throw new RangeError('internal error: fft real and imaginary parts differ in length');
  const n = re.length;
  if (n <= 1) return;
  if (isPowerOfTwo(n)) radix2(re, im, inverse);
  else bluestein(re, im, inverse);
}
