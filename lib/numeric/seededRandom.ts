/**
 * A small seeded generator (xoshiro128**, state from splitmix32) for reproducible subsampling:
 * the same seed and stream give the same draws on every machine and in every worker thread, so
 * results do not depend on scheduling. Not numpy's Mersenne Twister: draws differ from
 * `np.random.seed(...)`, which the Allen module cannot reproduce anyway (its joblib workers are
 * unseeded).
 */

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class SeededRandom {
  private a: number; private b: number; private c: number; private d: number;

  /** `stream` picks an independent sequence for the same seed (e.g. one per unit). */
  constructor(seed: number, stream = 0) {
    const mix = splitmix32((seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d));
    this.a = mix(); this.b = mix(); this.c = mix(); this.d = mix();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
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

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
