/**
 * `scipy.signal.find_peaks(x, height=h, prominence=p)` for one-dimensional data.
 *
 * A peak is a sample larger than its left neighbour and larger than the first different sample on
 * its right; a flat top reports its middle sample (the left one of two). The ends are never peaks.
 * Height keeps peaks with x >= h. Prominence: from the peak, walk each way while samples do not
 * exceed the peak's height, remember the lowest sample seen on each side; the prominence is the
 * peak's height minus the higher of the two minima; keep peaks with prominence >= p.
 */

/** Local maxima, including the middle of flat tops (scipy's _local_maxima_1d). */
export function localMaxima(x: ArrayLike<number>): number[] {
  const peaks: number[] = [];
  const last = x.length - 1;
  let i = 1;
  while (i < last) {
    if (x[i - 1] < x[i]) {
      let ahead = i + 1;
      while (ahead < last && x[ahead] === x[i]) ahead++;
      if (x[ahead] < x[i]) {
        peaks.push((i + ahead - 1) >> 1);
        i = ahead;
      }
    }
    i++;
  }
  return peaks;
}

/** Prominence of one peak over the whole signal (no window), as scipy's peak_prominences. */
export function peakProminence(x: ArrayLike<number>, peak: number): number {
  const top = x[peak];
  let leftMin = top;
  for (let i = peak; i >= 0 && x[i] <= top; i--) if (x[i] < leftMin) leftMin = x[i];
  let rightMin = top;
  for (let i = peak; i < x.length && x[i] <= top; i++) if (x[i] < rightMin) rightMin = x[i];
  return top - Math.max(leftMin, rightMin);
}

export function findPeaks(x: ArrayLike<number>, height: number, prominence: number): number[] {
  return localMaxima(x).filter((p) => x[p] >= height && peakProminence(x, p) >= prominence);
}
