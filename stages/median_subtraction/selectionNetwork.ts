/**
 * Comparator networks that pick one order statistic: branch-free, so eight ADC groups can be
 * ranked at once in the lanes of a SIMD vector.
 */

/** One compare-exchange: afterwards `low` holds the smaller value, `high` the larger. */
export interface Comparator {
  low: number;
  high: number;
  /** Whether the smaller / larger result is read later; an unread side need not be computed. */
  needLow: boolean;
  needHigh: boolean;
}

/**
 * Batcher's odd-even merge sort on `n` wires. For n that is not a power of two the comparators
 * touching the missing top wires are dropped, which is the same as padding with +infinity.
 */
export function sortingNetwork(n: number): Array<[number, number]> {
  let size = 1;
  while (size < n) size *= 2;
  const pairs: Array<[number, number]> = [];
  for (let p = 1; p < size; p *= 2) {
    for (let k = p; k >= 1; k = Math.floor(k / 2)) {
      for (let j = k % p; j <= size - 1 - k; j += 2 * k) {
        for (let i = 0; i < Math.min(k, size - j - k); i++) {
          if (Math.floor((i + j) / (p * 2)) !== Math.floor((i + j + k) / (p * 2))) continue;
          const a = i + j, b = i + j + k;
          if (b < n) pairs.push([a, b]);
        }
      }
    }
  }
  return pairs;
}

/** The comparators of a sorting network on `n` wires that influence wire `rank` (0 = smallest). */
export function selectionNetwork(n: number, rank: number): Comparator[] {
  if (rank < 0 || rank >= n) throw new Error(`internal error: rank ${rank} outside 0..${n - 1}`);
  const needed = new Set<number>([rank]);
  const kept: Comparator[] = [];
  const all = sortingNetwork(n);
  for (let i = all.length - 1; i >= 0; i--) {
    const [low, high] = all[i];
    const needLow = needed.has(low), needHigh = needed.has(high);
    if (!needLow && !needHigh) continue;
    kept.push({ low, high, needLow, needHigh });
    needed.add(low);
    needed.add(high);
  }
  return kept.reverse();
}
