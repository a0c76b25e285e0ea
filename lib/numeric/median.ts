/**
 * Medians. `median` is `numpy.median` of a list of numbers: the middle value, or the mean of the
 * two middle values for an even count; NaN if any value is NaN (numpy propagates it) or the list
 * is empty. `medianInPlace` is the fast one for long typed columns read from a recording.
 */

export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return NaN;
  const v = Float64Array.from(values as ArrayLike<number>);
  for (let i = 0; i < n; i++) if (Number.isNaN(v[i])) return NaN;
  v.sort();
  const h = n >> 1;
  // numpy takes the mean of the two middle values as (a + b) / 2 via np.mean.
  return n % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

/**
 * k-th smallest value (0-based) by quickselect; reorders `v`. A full sort of every window's
 * column was most of the time of the per-channel level estimates.
 */
export function selectInPlace(v: Int16Array | Float32Array | Float64Array, k: number): number {
  let lo = 0, hi = v.length - 1;
  while (lo < hi) {
    const pivot = v[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) { const t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else return v[k];
  }
  return v[k];
}

/** The same middle value (or mean of the middle two) as `median`, without a copy or a sort: 0 if empty, NaN not checked; reorders `v`. */
export function medianInPlace(v: Int16Array | Float32Array | Float64Array): number {
  const n = v.length;
  if (n === 0) return 0;
  const upper = selectInPlace(v, n >> 1);
  if (n % 2) return upper;
  let lower = -Infinity;
  for (let i = 0; i < n >> 1; i++) if (v[i] > lower) lower = v[i];
  return (lower + upper) / 2;
}
