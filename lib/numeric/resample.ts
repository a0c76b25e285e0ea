/**
 * Fourier-method resampling with the semantics of `scipy.signal.resample(x, num)` for real input
 * (no window): keep the spectrum up to the smaller Nyquist frequency, split or join the Nyquist
 * bin of an even length, and scale by num / N. The result is periodic: the waveform's two ends
 * are treated as neighbours, exactly as scipy does.
 */
import { fftInPlace } from './fft.js';

export function resampleFft(x: ArrayLike<number>, num: number): Float64Array {
  const nx = x.length;
  if (!Number.isInteger(num) || num < 1) throw new RangeError(`resample: target length must be a positive integer, got ${num}`);
  if (nx === 0) throw new RangeError('resample: empty input');
  const re = Float64Array.from(x as ArrayLike<number>);
  const im = new Float64Array(nx);
  fftInPlace(re, im);
  // Y holds the one-sided spectrum of the output (num/2 + 1 bins), as irfft expects.
  const outBins = Math.floor(num / 2) + 1;
  const yr = new Float64Array(outBins);
  const yi = new Float64Array(outBins);
  const n = Math.min(num, nx);
  const nyq = Math.floor(n / 2) + 1;
  for (let k = 0; k < nyq && k < outBins; k++) {
    yr[k] = re[k];
    yi[k] = im[k];
  }
  if (n % 2 === 0) {
    const k = n / 2;
    if (num < nx) { yr[k] *= 2; yi[k] *= 2; } else if (nx < num) { yr[k] *= 0.5; yi[k] *= 0.5; }
  }
  // irfft: rebuild the Hermitian full spectrum; the imaginary parts of DC and (for even num) the
  // Nyquist bin cannot be represented in a real signal and are dropped, as pocketfft's c2r does.
  const fr = new Float64Array(num);
  const fi = new Float64Array(num);
  fr[0] = yr[0];
  for (let k = 1; k < outBins; k++) {
    if (num % 2 === 0 && k === num / 2) { fr[k] = yr[k]; continue; }
    fr[k] = yr[k];
    fi[k] = yi[k];
    fr[num - k] = yr[k];
    fi[num - k] = -yi[k];
  }
  fftInPlace(fr, fi, true);
  // Same two steps as scipy (irfft's 1/num, then num/N), so rounding matches closely.
  const gain = num / nx;
  for (let i = 0; i < num; i++) fr[i] = (fr[i] / num) * gain;
  return fr;
}
