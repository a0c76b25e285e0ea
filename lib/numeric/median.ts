/**
 * `numpy.median` of a list of numbers: the middle value, or the mean of the two middle values
 * for an even count; NaN if any value is NaN (numpy propagates it) or the list is empty.
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
