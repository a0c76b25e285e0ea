/**
 * `np.argsort(a)` with its default kind 'quicksort', which is numpy's introsort and is not
 * stable: equal values come out in the order its partitioning leaves them, not in input order.
 * The Allen modules decide which of two simultaneous spikes to delete by that order, so a plain
 * stable sort would pick the other spike. This follows numpy's scalar introsort (median-of-three
 * partitioning, insertion sort below 17 elements, heapsort past a depth of 2 log2 n), as numpy
 * 1.24 runs it for integer and float arrays; NaN sorts last, as numpy's comparison puts it.
 */

const smallQuicksort = 15;

/** numpy's `a < b` for sorting: NaN is larger than every number. */
function less(a: number, b: number): boolean {
  return a < b || (b !== b && a === a);
}

/** Index of the highest set bit: numpy's npy_get_msb. */
function msb(n: number): number {
  let depth = 0;
  while ((n = Math.floor(n / 2)) > 0) depth++;
  return depth;
}

/** Heapsort of tosort[lo .. lo+n-1] by v, numpy's aheapsort (1-based heap over that slice). */
function heapsortRange(v: ArrayLike<number>, tosort: Int32Array, lo: number, n: number): void {
  const a = (k: number) => lo + k - 1; // 1-based position -> array index
  for (let l = n >> 1; l > 0; --l) {
    const tmp = tosort[a(l)];
    let i = l;
    for (let j = l << 1; j <= n;) {
      if (j < n && less(v[tosort[a(j)]], v[tosort[a(j + 1)]])) j += 1;
      if (less(v[tmp], v[tosort[a(j)]])) {
        tosort[a(i)] = tosort[a(j)];
        i = j;
        j += j;
      } else break;
    }
    tosort[a(i)] = tmp;
  }
  for (let m = n; m > 1;) {
    const tmp = tosort[a(m)];
    tosort[a(m)] = tosort[a(1)];
    m -= 1;
    let i = 1;
    for (let j = 2; j <= m;) {
      if (j < m && less(v[tosort[a(j)]], v[tosort[a(j + 1)]])) j++;
      if (less(v[tmp], v[tosort[a(j)]])) {
        tosort[a(i)] = tosort[a(j)];
        i = j;
        j += j;
      } else break;
    }
    tosort[a(i)] = tmp;
  }
}

/** The permutation that sorts `v`, with ties in numpy's order. */
export function numpyArgsort(v: ArrayLike<number>): Int32Array {
  const num = v.length;
  const tosort = new Int32Array(num);
  for (let i = 0; i < num; i++) tosort[i] = i;
  if (num < 2) return tosort;
  const swap = (i: number, j: number) => { const t = tosort[i]; tosort[i] = tosort[j]; tosort[j] = t; };

  const stack: number[] = [];
  const depths: number[] = [];
  let pl = 0;
  let pr = num - 1;
  let cdepth = msb(num) * 2;
  for (;;) {
    if (cdepth < 0) {
      heapsortRange(v, tosort, pl, pr - pl + 1);
    } else {
      while (pr - pl > smallQuicksort) {
        const pm = pl + ((pr - pl) >> 1);
        if (less(v[tosort[pm]], v[tosort[pl]])) swap(pm, pl);
        if (less(v[tosort[pr]], v[tosort[pm]])) swap(pr, pm);
        if (less(v[tosort[pm]], v[tosort[pl]])) swap(pm, pl);
        const vp = v[tosort[pm]];
        let pi = pl;
        let pj = pr - 1;
        swap(pm, pj);
        for (;;) {
          do ++pi; while (less(v[tosort[pi]], vp));
          do --pj; while (less(vp, v[tosort[pj]]));
          if (pi >= pj) break;
          swap(pi, pj);
        }
        swap(pi, pr - 1);
        // Push the larger side, keep working on the smaller one.
        if (pi - pl < pr - pi) {
          stack.push(pi + 1, pr);
          pr = pi - 1;
        } else {
          stack.push(pl, pi - 1);
          pl = pi + 1;
        }
        depths.push(--cdepth);
      }
      for (let pi = pl + 1; pi <= pr; ++pi) {
        const vi = tosort[pi];
        const vp = v[vi];
        let pj = pi;
        while (pj > pl && less(vp, v[tosort[pj - 1]])) {
          tosort[pj] = tosort[pj - 1];
          pj--;
        }
        tosort[pj] = vi;
      }
    }
    if (stack.length === 0) break;
    pr = stack.pop()!;
    pl = stack.pop()!;
    cdepth = depths.pop()!;
  }
  return tosort;
}
