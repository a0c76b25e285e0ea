/**
 * `np.linspace` and `np.arange` for floats, reproducing numpy's arithmetic so that bin edges and
 * interval starts are the same doubles numpy would produce: spikes on an edge land in the same bin.
 */

/** `np.linspace(start, stop, num)` (endpoint included): k * step + start, the last value exactly stop. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 0) return out;
  const div = num - 1;
  const delta = stop - start;
  const step = div > 0 ? delta / div : NaN;
  for (let k = 0; k < num; k++) {
    // numpy falls back to (k / div) * delta when the step underflows to zero.
    out[k] = (step === 0 ? (k / div) * delta : k * step) + start;
  }
  if (num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `np.arange(start, stop, step)` for floats: length ceil((stop - start) / step), values
 * start + k * d where d = (start + step) - start, as numpy's fill function computes them.
 */
export function arange(start: number, stop: number, step: number): Float64Array {
  const len = (stop - start) / step;
  const n = len === 0 && stop - start !== 0 ? (len < 0 || Object.is(len, -0) ? 0 : 1) : Math.max(0, Math.ceil(len));
  const out = new Float64Array(n);
  if (n === 0) return out;
  out[0] = start;
  if (n > 1) out[1] = start + step;
  const d = (start + step) - start;
  for (let k = 2; k < n; k++) out[k] = start + k * d;
  return out;
}
