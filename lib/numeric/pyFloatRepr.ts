/**
 * A float written the way Python's repr() and numpy's str() write it (and so the way pandas'
 * to_csv writes float columns): the shortest digits that read back to the same double,
 * positional with a trailing '.0' for integers, exponential ('1e-05', '1.5e+16') when the
 * decimal exponent is below -4 or 16 and above; 'nan', 'inf', '-inf'.
 */

export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() without an argument gives the shortest round-trip digits.
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(x.toExponential());
  if (!m) throw new Error(`internal error: unexpected exponential form of ${x}`);
  const [, sign, first, rest = '', expText] = m;
  const digits = first + rest;
  const exp = Number(expText); // x = d.ddd * 10^exp
  const decpt = exp + 1; // Python's convention: x = 0.dddd * 10^decpt
  if (decpt > -4 && decpt <= 16) {
    let s: string;
    if (decpt <= 0) s = '0.' + '0'.repeat(-decpt) + digits;
    else if (decpt >= digits.length) s = digits + '0'.repeat(decpt - digits.length) + '.0';
    else s = digits.slice(0, decpt) + '.' + digits.slice(decpt);
    return sign + s;
  }
  const mant = rest ? `${first}.${rest}` : first;
  const e = Math.abs(exp);
  return `${sign}${mant}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
}
