/**
 * Least-squares slope and intercept of y on x, as `scipy.stats.linregress` returns them
 * (slope = cov(x, y) / var(x), both with the same normalisation). Fewer than two points, or x
 * with no spread, give NaN, where scipy gives NaN or raises.
 */

export interface LinearFit { slope: number; intercept: number }

export function linregress(x: ArrayLike<number>, y: ArrayLike<number>): LinearFit {
  const n = Math.min(x.length, y.length);
  if (n < 2) return { slope: NaN, intercept: NaN };
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
  mx /= n;
  my /= n;
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    sxx += dx * dx;
    sxy += dx * (y[i] - my);
  }
  if (sxx === 0) return { slope: NaN, intercept: NaN };
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}
