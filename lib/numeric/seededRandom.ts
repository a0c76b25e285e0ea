/**
 * A seeded generator (xoshiro128**, see xoshiro128.ts) for reproducible subsampling:
 * the same seed and stream give the same draws on every machine and in every worker thread, so
 * results do not depend on scheduling. Not numpy's Mersenne Twister: draws differ from
 * `np.random.seed(...)`, which the Allen module cannot reproduce anyway (its joblib workers are
 * unseeded).
 */

import { Xoshiro128 } from './xoshiro128.js';

export class SeededRandom extends Xoshiro128 {
  /** `stream` picks an independent sequence for the same seed (e.g. one per unit). */
  constructor(seed: number, stream = 0) {
    super((seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d));
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }

  /**
   * The first `k` entries of a uniformly random permutation of `items` (as
   * `np.random.permutation(items)[:k]` would give in distribution), by a partial Fisher-Yates
   * shuffle that touches only k positions; `items` is not modified.
   */
  sample(items: ArrayLike<number>, k: number): Int32Array {
    const n = items.length;
    k = Math.max(0, Math.min(k, n));
    const out = new Int32Array(k);
    const moved = new Map<number, number>();
    for (let i = 0; i < k; i++) {
      const j = i + this.nextInt(n - i);
      const vj = moved.has(j) ? moved.get(j)! : items[j];
      const vi = moved.has(i) ? moved.get(i)! : items[i];
      out[i] = vj;
      moved.set(j, vi);
    }
    return out;
  }

  /** `sample` of the integers 0..n-1 without materialising them. */
  sampleIndices(n: number, k: number): Int32Array {
    k = Math.max(0, Math.min(k, n));
    const out = new Int32Array(k);
    const moved = new Map<number, number>();
    for (let i = 0; i < k; i++) {
      const j = i + this.nextInt(n - i);
      out[i] = moved.get(j) ?? j;
      moved.set(j, moved.get(i) ?? i);
    }
    return out;
  }
}
