/**
 * Seeded randomness for synthetic recordings. Every draw comes from a seed, never from
 * Math.random, so the same options give byte-identical files; each chunk of samples has its own
 * stream derived from (seed, recording, chunk), so the result does not depend on which worker
 * thread rendered which chunk.
 */
import { Xoshiro128 } from '../numeric/xoshiro128.js';

/** A 32-bit hash of several integers (murmur3's finalizer after each word): seeds from indices. */
export function mixSeed(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) {
    h = Math.imul(h ^ (w >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export class Rng extends Xoshiro128 {
  private spare: number | undefined;

  /** Uniform in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Standard normal by Box-Muller: for model parameters, not per sample (see fillUint32). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }

  /**
   * Fill `out` with random words in one tight loop: the per-sample noise path. Two 16-bit halves
   * of each word index the Gaussian table, so one step gives two samples.
   */
  fillUint32(out: Uint32Array): void {
    let a = this.a, b = this.b, c = this.c, d = this.d;
    for (let i = 0; i < out.length; i++) {
      const m = Math.imul(b, 5);
      out[i] = Math.imul((m << 7) | (m >>> 25), 9);
      const t = b << 9;
      c ^= a; d ^= b; b ^= c; a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
    }
    this.a = a; this.b = b; this.c = c; this.d = d;
  }
}

/**
 * Inverse of the standard normal CDF (Acklam's rational approximation, relative error about
 * 1e-9): turns evenly spaced probabilities into an exact-quantile Gaussian table.
 */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
  const b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
  const c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
  const d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

let table: Float32Array | undefined;

/**
 * 65,536 standard-normal quantiles at (i + 0.5) / 65536: a uniform 16-bit index into it is a
 * Gaussian draw (tails cut at 4.3 sigma), at the cost of one table load instead of a log and a
 * square root per sample.
 */
export function gaussianTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = normalQuantile((i + 0.5) / 65536);
  }
  return table;
}
