/**
 * SpikeBandMedianSubtraction's arithmetic written out plainly, one sample at a time, for random
 * inputs no fixture covers. It is itself checked against the real program's outputs
 * (median_subtraction-allen.test.ts), so agreeing with it means agreeing with the program.
 */
export interface ReferenceProbe {
  numChannels: number;
  maxChannel: number;
  offset: ArrayLike<number>;
  scaling: ArrayLike<number>;
  mask: ArrayLike<boolean>;
}

const toInt16 = (v: number) => ((((v + 32768) % 65536) + 65536) % 65536) - 32768;

/** C's int(float): x86 gives INT_MIN where the value does not fit (or is NaN). */
function cInt(v: number): number {
  return Math.abs(v) < 2 ** 31 ? Math.trunc(v) : -(2 ** 31);
}

export function referenceMedianSubtraction(x: Int16Array, p: ReferenceProbe): { out: Int16Array; residuals: Int16Array } {
  const C = p.numChannels, samples = x.length / C;
  const maxChannel = Math.max(0, Math.min(C, 384, p.maxChannel));
  const out = new Int16Array(x.length), residuals = new Int16Array(samples * 24);
  const o = new Int32Array(C);
  for (let s = 0; s < samples; s++) {
    for (let i = 0; i < maxChannel; i++) o[i] = toInt16(x[s * C + i] - Math.trunc(p.offset[i]));
    for (let g = 0; g < 24; g++) {
      const collected: number[] = [];
      for (let ch = g; ch < maxChannel; ch += 24) if (p.mask[ch]) collected.push(o[ch]);
      const idx = collected.length - 1;
      if (idx < 0) continue; // the program crashes here; the built-in leaves the residual 0
      const buffer = [...collected.slice(0, idx).sort((a, b) => a - b), ...collected.slice(idx)];
      residuals[s * 24 + g] = buffer[Math.floor(idx / 2)];
    }
    for (let i = 0; i < C; i++) {
      const r = residuals[s * 24 + (i % 24)];
      out[s * C + i] = i < maxChannel ? toInt16(o[i] - cInt(Math.fround(r * Math.fround(p.scaling[i])))) : x[s * C + i];
    }
  }
  return { out, residuals };
}
