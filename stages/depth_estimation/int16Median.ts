/**
 * numpy's median of int16 values by counting into a 65,536-bin histogram: exact, and linear in
 * the count where a sort of each long column is not. The histogram is the caller's, reused across
 * columns, and left zeroed.
 */

/** The median of `n` values already counted into `hist` (index value + 32768), all within lo..hi; zeroes those bins. */
export function countedMedian(hist: Uint32Array, n: number, lo: number, hi: number): number {
  // 0-based ranks of the middle value(s).
  const r1 = (n - 1) >> 1, r2 = n >> 1;
  let seen = 0, a = NaN, b = NaN;
  for (let v = lo; v <= hi; v++) {
    const c = hist[v + 32768];
    if (c === 0) continue;
    if (Number.isNaN(a) && seen + c > r1) a = v;
    if (seen + c > r2) { b = v; break; }
    seen += c;
  }
  for (let v = lo; v <= hi; v++) hist[v + 32768] = 0;
  return (a + b) / 2;
}

export function int16Median(values: Int16Array, hist: Uint32Array): number {
  const n = values.length;
  let lo = 32767, hi = -32768;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    hist[v + 32768]++;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return countedMedian(hist, n, lo, hi);
}
