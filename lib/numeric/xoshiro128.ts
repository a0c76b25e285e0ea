/**
 * xoshiro128** with its state filled by splitmix32, so nearby seeds give unrelated streams: the
 * one seeded generator behind the stages' subsampling (SeededRandom) and the synthetic recordings
 * (Rng). Small, fast, and the same draws on every machine and in every worker thread.
 */

export class Xoshiro128 {
  protected a: number; protected b: number; protected c: number; protected d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const splitmix32 = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix32(); this.b = splitmix32(); this.c = splitmix32(); this.d = splitmix32();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
