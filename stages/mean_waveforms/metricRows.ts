/**
 * The rows of the 2-D mean (channel_map order) that the waveform metrics read: the local peak
 * row, for the 1-D metrics, and the sites local_peak - site_range ... + site_range in steps of 2
 * kept by the module's `0 < site < rows`, for amplitude, spread and velocities.
 *
 * These rows are averaged as numpy averages them (gather.ts): float64 sums of count x bit_volts,
 * snippet after snippet, divided by the count. Two samples whose exact means are equal (a trough
 * two samples wide, common in units of a few spikes) then compare as numpy compares them, so
 * argmin picks the same one. With one or two snippets numpy's sum does not depend on their order
 * and the module is deterministic; with more, the module's unseeded shuffle decides the order, so
 * such a tie may break either way from run to run; here the order is the file's.
 */

/** The local peak: the channel_map row whose channel is closest to the peak channel (first if tied). */
export function localPeakRow(channelMap: ArrayLike<number>, peakChannel: number): number {
  let best = 0;
  for (let r = 1; r < channelMap.length; r++) if (Math.abs(channelMap[r] - peakChannel) < Math.abs(channelMap[best] - peakChannel)) best = r;
  return best;
}

/** The metric rows of a unit, local peak first, then the sites in order (no repeats). */
export function metricRows(rows: number, localPeak: number, siteRange: number): number[] {
  const out = [localPeak];
  for (let d = -siteRange; d <= siteRange; d += 2) {
    const s = localPeak + d;
    if (s > 0 && s < rows && s !== localPeak) out.push(s);
  }
  return out;
}

/** Most metric rows any unit can have. */
export function metricRowCount(siteRange: number): number {
  return siteRange + 2;
}
