/**
 * Where a spike template peaks, as the Allen modules find it on [templates][samples][channels]
 * arrays: the column (channel) with the largest peak-to-peak over time, and the sample with the
 * largest peak-to-peak across channels. Ties go to the first index, as numpy's argmax does; a NaN
 * wins, as in numpy.
 */

export interface TemplateShape { samples: number; channels: number }

/** argmax over channels of (max over time - min over time) for template `t`. */
export function peakChannelIndex(templates: ArrayLike<number>, t: number, shape: TemplateShape): number {
  const { samples, channels } = shape;
  const base = t * samples * channels;
  let best = -Infinity, bestAt = 0;
  for (let c = 0; c < channels; c++) {
    let hi = -Infinity, lo = Infinity;
    for (let s = 0; s < samples; s++) {
      const v = templates[base + s * channels + c];
      if (v > hi || v !== v) hi = v;
      if (v < lo || v !== v) lo = v;
    }
    const ptp = hi - lo;
    if (ptp !== ptp) return c;
    if (ptp > best) { best = ptp; bestAt = c; }
  }
  return bestAt;
}

/** argmax over time of (max over channels - min over channels) for template `t`. */
export function peakSampleIndex(templates: ArrayLike<number>, t: number, shape: TemplateShape): number {
  const { samples, channels } = shape;
  const base = t * samples * channels;
  let best = -Infinity, bestAt = 0;
  for (let s = 0; s < samples; s++) {
    let hi = -Infinity, lo = Infinity;
    const row = base + s * channels;
    for (let c = 0; c < channels; c++) {
      const v = templates[row + c];
      if (v > hi || v !== v) hi = v;
      if (v < lo || v !== v) lo = v;
    }
    const ptp = hi - lo;
    if (ptp !== ptp) return s;
    if (ptp > best) { best = ptp; bestAt = s; }
  }
  return bestAt;
}
