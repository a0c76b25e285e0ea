/**
 * One row of `scipy.signal.cwt(data, scipy.signal.ricker, widths)` (scipy 1.10; removed in 1.15).
 * Row k uses width a = widths[k]: a Ricker ("Mexican hat") wavelet of min(10 a, len(data)) points,
 * time-reversed (it is symmetric), convolved with the data in 'same' mode: the full convolution
 * cut to len(data) samples starting at (points - 1) // 2.
 */

/** scipy.signal.ricker(points, a). */
export function ricker(points: number, a: number): Float64Array {
  const A = 2 / (Math.sqrt(3 * a) * Math.PI ** 0.25);
  const wsq = a * a;
  const out = new Float64Array(points);
  for (let i = 0; i < points; i++) {
    const v = i - (points - 1) / 2;
    const xsq = v * v;
    out[i] = A * (1 - xsq / wsq) * Math.exp(-xsq / (2 * wsq));
  }
  return out;
}

export function cwtRickerRow(data: ArrayLike<number>, width: number): Float64Array {
  const n = data.length;
  const points = Math.min(10 * width, n);
  const w = ricker(points, width);
  const kernel = w.slice().reverse();
  const out = new Float64Array(n);
  const shift = (points - 1) >> 1;
  for (let i = 0; i < n; i++) {
    // full[k] = sum_j data[j] * kernel[k - j], k = i + shift
    const k = i + shift;
    let acc = 0;
    const jLo = Math.max(0, k - points + 1), jHi = Math.min(n - 1, k);
    for (let j = jLo; j <= jHi; j++) acc += data[j] * kernel[k - j];
    out[i] = acc;
  }
  return out;
}
