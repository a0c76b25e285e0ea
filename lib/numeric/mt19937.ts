/**
 * numpy's legacy generator (`np.random.seed(n)`, `np.random.permutation(n)`): the 32-bit Mersenne
 * Twister MT19937 of Matsumoto and Nishimura, seeded from a whole-number seed as numpy 1.24's
 * RandomState does (init_genrand, not init_by_array: that is only for array seeds), with numpy's
 * bounded draw and Fisher-Yates shuffle. The Allen quality_metrics module calls
 * `np.random.seed(9999)` and then `np.random.permutation(n_spikes)` for its silhouette sample, so
 * the same spikes can only be chosen by drawing exactly these numbers.
 */

const N = 624;
const M = 397;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

export class Mt19937 {
  private readonly key = new Uint32Array(N);
  private pos = N;

  /** `np.random.seed(seed)` for a whole number 0 <= seed < 2^32. */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`internal error: MT19937 seed must be a whole number in [0, 2^32), got ${seed}`);
    }
    let s = seed >>> 0;
    for (let i = 0; i < N; i++) {
      this.key[i] = s;
      // 1812433253 * (s ^ (s >>> 30)) + i + 1, modulo 2^32.
      s = (Math.imul(1812433253, (s ^ (s >>> 30)) >>> 0) + i + 1) >>> 0;
    }
    this.pos = N;
  }

  private generate(): void {
    const k = this.key;
    let i = 0;
    for (; i < N - M; i++) {
      const y = (k[i] & UPPER) | (k[i + 1] & LOWER);
      k[i] = k[i + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; i < N - 1; i++) {
      const y = (k[i] & UPPER) | (k[i + 1] & LOWER);
      k[i] = k[i + M - N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (k[N - 1] & UPPER) | (k[0] & LOWER);
    k[N - 1] = k[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.pos = 0;
  }

  /** The next 32-bit output (genrand_int32), as an unsigned number. */
  nextUint32(): number {
    if (this.pos >= N) this.generate();
    let y = this.key[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /**
   * numpy's `random_interval(max)`: uniform in [0, max] by masking 32-bit draws to the smallest
   * all-ones mask covering max and rejecting values above it.
   */
  interval(max: number): number {
    if (max === 0) return 0;
    if (max > 0xffffffff) throw new RangeError(`internal error: interval above 2^32 - 1 (${max}) is not implemented`);
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    do value = (this.nextUint32() & mask) >>> 0; while (value > max);
    return value;
  }

  /** `np.random.shuffle(a)` of a 1-D array: Fisher-Yates from the last position down. */
  shuffle(a: Int32Array): Int32Array {
    for (let i = a.length - 1; i >= 1; i--) {
      const j = this.interval(i);
      const t = a[i]; a[i] = a[j]; a[j] = t;
    }
    return a;
  }

  /** `np.random.permutation(n)`: arange(n), shuffled. (`permutation(array)` is `shuffle` of a copy.) */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return this.shuffle(out);
  }
}
