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

function sumRangeFloat32(a: ArrayLike<number>, lo: number, n: number): number {
  const f = Math.fround;
  if (n < 8) {
    let res = -0;
    for (let i = 0; i < n; i++) res = f(res + a[lo + i]);
    return res;
  }
  if (n <= blockSize) {
    let r0 = f(a[lo]), r1 = f(a[lo + 1]), r2 = f(a[lo + 2]), r3 = f(a[lo + 3]);
    let r4 = f(a[lo + 4]), r5 = f(a[lo + 5]), r6 = f(a[lo + 6]), r7 = f(a[lo + 7]);
    const end = n - (n % 8);
    let i = 8;
    for (; i < end; i += 8) {
      r0 = f(r0 + a[lo + i]); r1 = f(r1 + a[lo + i + 1]); r2 = f(r2 + a[lo + i + 2]); r3 = f(r3 + a[lo + i + 3]);
      r4 = f(r4 + a[lo + i + 4]); r5 = f(r5 + a[lo + i + 5]); r6 = f(r6 + a[lo + i + 6]); r7 = f(r7 + a[lo + i + 7]);
    }
    let res = f(f(f(r0 + r1) + f(r2 + r3)) + f(f(r4 + r5) + f(r6 + r7)));
    for (; i < n; i++) res = f(res + a[lo + i]);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return f(sumRangeFloat32(a, lo, n2) + sumRangeFloat32(a, lo + n2, n - n2));
}

/** The same order with float32 accumulators, as numpy sums float32 arrays. */
export function pairwiseSumFloat32(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  return n <= 0 ? 0 : sumRangeFloat32(a, start, n);
}
