/**
 * `np.around(x, decimals)` for decimals >= 0: x * 10^decimals rounded half to even, divided back.
 * Math.round rounds halves up, which differs at exact halves (0.125 -> 0.12 in numpy).
 */
export function roundHalfEven(x: number, decimals = 0): number {
  const scale = 10 ** decimals;
  const y = x * scale;
  if (!Number.isFinite(y)) return x;
  let r = Math.round(y);
  if (r - y === 0.5 && r % 2 !== 0) r -= 1;
  return r / scale;
}
