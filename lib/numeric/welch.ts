/**
 * Welch power spectral density with the defaults of `scipy.signal.welch(x, fs, nfft=...)`:
 * periodic Hann window of `nperseg` (256) samples, 50% overlap, each segment's mean removed
 * ('constant' detrend), zero-padded to `nfft`, density scaling 1 / (fs * sum(w^2)), one-sided
 * (every bin but DC and an even nfft's Nyquist doubled), segments averaged by their mean. Like
 * scipy, an input shorter than nperseg shrinks the segment to the input length, and segments
 * that would run past the end are not padded in.
 *
 * `bins` limits the result to the first bins of the spectrum: callers that need only the low
 * frequencies (depth estimation looks at 0-10 Hz of 2,049 bins) get them from a direct sum,
 * which is far cheaper than a 4096-point transform per segment.
 */
import { fftInPlace } from './fft.js';

export interface WelchOptions {
  fs: number;
  nperseg?: number;
  noverlap?: number;
  nfft?: number;
  /** Compute only bins 0 .. bins-1 (default: all nfft/2 + 1). */
  bins?: number;
}

export interface WelchResult {
  /** Bin frequencies, computed like numpy's rfftfreq(nfft, 1/fs). */
  freqs: Float64Array;
  psd: Float64Array;
}

/** scipy.signal.get_window('hann', n): the periodic (fftbins) form, built the way scipy does. */
export function hannPeriodic(n: number): Float64Array {
  // scipy evaluates a symmetric window of n+1 points on linspace(-pi, pi) and drops the last.
  const w = new Float64Array(n);
  if (n === 1) { w[0] = 1; return w; }
  const step = (2 * Math.PI) / n;
  for (let i = 0; i < n; i++) w[i] = 0.5 + 0.5 * Math.cos(-Math.PI + i * step);
  return w;
}

/** numpy.fft.rfftfreq(n, d): k / (n * d), as numpy computes it. */
export function rfftFreqs(n: number, d: number, count = Math.floor(n / 2) + 1): Float64Array {
  const val = 1.0 / (n * d);
  const f = new Float64Array(count);
  for (let k = 0; k < count; k++) f[k] = k * val;
  return f;
}

export function welch(x: ArrayLike<number>, opts: WelchOptions): WelchResult {
  const n = x.length;
  let nperseg = opts.nperseg ?? 256;
  if (n < nperseg) nperseg = n;
  const noverlap = opts.noverlap ?? Math.floor(nperseg / 2);
  const nfft = opts.nfft ?? nperseg;
  if (nperseg < 1) throw new RangeError('welch: empty input');
  if (nfft < nperseg) throw new RangeError(`welch: nfft (${nfft}) must be at least nperseg (${nperseg})`);
  if (noverlap >= nperseg) throw new RangeError(`welch: noverlap (${noverlap}) must be less than nperseg (${nperseg})`);
  const allBins = Math.floor(nfft / 2) + 1;
  const bins = Math.min(opts.bins ?? allBins, allBins);
  const step = nperseg - noverlap;
  const segments = Math.floor((n - noverlap) / step);
  const win = hannPeriodic(nperseg);
  let winSq = 0;
  for (let i = 0; i < nperseg; i++) winSq += win[i] * win[i];
  const scale = 1.0 / (opts.fs * winSq);
  const psd = new Float64Array(bins);
  // Windowed, mean-removed segments, one after another.
  const segs = new Float64Array(segments * nperseg);
  for (let s = 0; s < segments; s++) {
    const off = s * step;
    let mean = 0;
    for (let i = 0; i < nperseg; i++) mean += Number(x[off + i]);
    mean /= nperseg;
    for (let i = 0; i < nperseg; i++) segs[s * nperseg + i] = (Number(x[off + i]) - mean) * win[i];
  }
  // Direct sums cost bins*nperseg multiply-adds per segment; the transform (two real segments
  // sharing one complex transform) measured about as much as 0.75*nfft*log2(nfft) of them.
  if (bins * nperseg < 0.75 * nfft * Math.log2(nfft)) {
    const { cos, sin } = dftTable(nfft, nperseg, bins);
    // Bin-major, so one bin's table row stays in cache across the segments.
    for (let k = 0, base = 0; k < bins; k++, base += nperseg) {
      let acc = 0;
      for (let s = 0; s < segments; s++) {
        const o = s * nperseg;
        let xr = 0, xi = 0;
        for (let i = 0; i < nperseg; i++) { const v = segs[o + i]; xr += v * cos[base + i]; xi += v * sin[base + i]; }
        acc += xr * xr + xi * xi;
      }
      psd[k] = acc;
    }
  } else {
    const re = new Float64Array(nfft);
    const im = new Float64Array(nfft);
    for (let s = 0; s < segments; s += 2) {
      // Segment s in the real part, s+1 (if any) in the imaginary part; their spectra separate
      // as A[k] = (Z[k] + conj Z[-k]) / 2 and B[k] = (Z[k] - conj Z[-k]) / 2i.
      re.fill(0); im.fill(0);
      re.set(segs.subarray(s * nperseg, (s + 1) * nperseg));
      if (s + 1 < segments) im.set(segs.subarray((s + 1) * nperseg, (s + 2) * nperseg));
      fftInPlace(re, im);
      for (let k = 0; k < bins; k++) {
        const j = k === 0 ? 0 : nfft - k;
        const ar = (re[k] + re[j]) / 2, ai = (im[k] - im[j]) / 2;
        const br = (im[k] + im[j]) / 2, bi = (re[j] - re[k]) / 2;
        psd[k] += ar * ar + ai * ai + br * br + bi * bi;
      }
    }
  }
  for (let k = 0; k < bins; k++) {
    let v = (psd[k] / Math.max(segments, 1)) * scale;
    const isEdge = k === 0 || (nfft % 2 === 0 && k === nfft / 2);
    if (!isEdge) v *= 2;
    psd[k] = segments > 0 ? v : NaN;
  }
  return { freqs: rfftFreqs(nfft, 1.0 / opts.fs, bins), psd };
}

const tableCache = new Map<string, { cos: Float64Array; sin: Float64Array }>();

function dftTable(nfft: number, nperseg: number, bins: number): { cos: Float64Array; sin: Float64Array } {
  const key = `${nfft}:${nperseg}:${bins}`;
  let t = tableCache.get(key);
  if (!t) {
    t = { cos: new Float64Array(bins * nperseg), sin: new Float64Array(bins * nperseg) };
    for (let k = 0; k < bins; k++) {
      for (let i = 0; i < nperseg; i++) {
        // (k*i) mod nfft keeps the angle in [0, 2 pi) so large products lose no precision.
        const a = (2 * Math.PI * ((k * i) % nfft)) / nfft;
        t.cos[k * nperseg + i] = Math.cos(a);
        t.sin[k * nperseg + i] = Math.sin(a);
      }
    }
    tableCache.set(key, t);
  }
  return t;
}
