/**
 * numpy's summation order for float64 (`np.sum`, `np.mean` along a contiguous axis): blocks of up to
 * 128 values summed with eight interleaved accumulators, larger runs split in halves (multiples of
 * 8). Reproducing the order, not just the value, keeps results bit-identical to numpy where a
 * later step is discontinuous (an argmin, a threshold).
 */

const blockSize = 128;

function sumRange(a: ArrayLike<number>, lo: number, n: number): number {
  if (n < 8) {
    let res = -0;
    for (let i = 0; i < n; i++) res += a[lo + i];
    return res;
  }
  if (n <= blockSize) {
    let r0 = a[lo], r1 = a[lo + 1], r2 = a[lo + 2], r3 = a[lo + 3];
    let r4 = a[lo + 4], r5 = a[lo + 5], r6 = a[lo + 6], r7 = a[lo + 7];
    const end = n - (n % 8);
    let i = 8;
    for (; i < end; i += 8) {
      r0 += a[lo + i]; r1 += a[lo + i + 1]; r2 += a[lo + i + 2]; r3 += a[lo + i + 3];
      r4 += a[lo + i + 4]; r5 += a[lo + i + 5]; r6 += a[lo + i + 6]; r7 += a[lo + i + 7];
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[lo + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return sumRange(a, lo, n2) + sumRange(a, lo + n2, n - n2);
}

/** `np.sum(a[start:start+n])` for a float64 array, in numpy's order. */
export function pairwiseSum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  return n <= 0 ? 0 : sumRange(a, start, n);
}

/** The same order with float32 accumulators, as numpy sums float32 arrays. */
export function pairwiseSumFloat32(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  const f = Math.fround;
  const rec = (lo: number, m: number): number => {
    if (m < 8) {
      let res = -0;
      for (let i = 0; i < m; i++) res = f(res + a[lo + i]);
      return res;
    }
    if (m <= blockSize) {
      const r = [a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]].map(f);
      const end = m - (m % 8);
      let i = 8;
      for (; i < end; i += 8) for (let j = 0; j < 8; j++) r[j] = f(r[j] + a[lo + i + j]);
      let res = f(f(f(r[0] + r[1]) + f(r[2] + r[3])) + f(f(r[4] + r[5]) + f(r[6] + r[7])));
      for (; i < m; i++) res = f(res + a[lo + i]);
      return res;
    }
    let m2 = Math.floor(m / 2);
    m2 -= m2 % 8;
    return f(rec(lo, m2) + rec(lo + m2, m - m2));
  };
  return n <= 0 ? 0 : rec(start, n);
}
