/**
 * How well a sorting found the units of a synthetic recording (lib/synth writes `ground_truth/`).
 * Each ground-truth unit is compared with every found cluster: spikes match one to one when they
 * are within 0.4 ms, and accuracy = matches / (ground-truth spikes + found spikes - matches), as
 * in SpikeForest. A unit's score is its best cluster's. Units whose peak amplitude is over 5x the
 * noise of their peak channel are the ones a sorter should find ("detectable").
 */
import fs from 'node:fs';
import path from 'node:path';
import { readNpy, toNumberArray } from '../formats/npy.js';

export interface UnitScore {
  unit: number;
  peakChannel: number;
  amplitudeUv: number;
  /** Peak amplitude over the peak channel's noise. */
  snr: number;
  spikes: number;
  /** Best matching found cluster, or -1 when no cluster shares a spike. */
  cluster: number;
  clusterSpikes: number;
  matches: number;
  accuracy: number;
  recall: number;
  precision: number;
  detectable: boolean;
}

export interface GroundTruthComparison {
  units: UnitScore[];
  detectableUnits: number;
  /** Detectable units whose accuracy reaches `goodAccuracy`. */
  wellSortedUnits: number;
  /** wellSortedUnits / detectableUnits (1 when none is detectable). */
  wellSortedFraction: number;
  meanAccuracy: number;
  foundClusters: number;
  goodAccuracy: number;
  toleranceMs: number;
  minSnr: number;
}

export interface CompareOptions {
  toleranceMs?: number;
  minSnr?: number;
  goodAccuracy?: number;
}

/** Matches between two sorted spike trains, each spike used at most once (greedy in time). */
export function countMatches(a: Float64Array, b: Float64Array, tolerance: number): number {
  let i = 0, j = 0, m = 0;
  while (i < a.length && j < b.length) {
    const d = a[i] - b[j];
    if (Math.abs(d) <= tolerance) { m++; i++; j++; }
    else if (d < 0) i++;
    else j++;
  }
  return m;
}

function trains(times: Float64Array, labels: Float64Array): Map<number, Float64Array> {
  const lists = new Map<number, number[]>();
  for (let i = 0; i < times.length; i++) {
    const l = labels[i];
    if (!lists.has(l)) lists.set(l, []);
    lists.get(l)!.push(times[i]);
  }
  const out = new Map<number, Float64Array>();
  for (const [l, v] of lists) out.set(l, Float64Array.from(v).sort());
  return out;
}

export function compareToGroundTruth(ksDir: string, gtDir: string, opts: CompareOptions = {}): GroundTruthComparison {
  const toleranceMs = opts.toleranceMs ?? 0.4;
  const minSnr = opts.minSnr ?? 5;
  const goodAccuracy = opts.goodAccuracy ?? 0.8;
  const info = JSON.parse(fs.readFileSync(path.join(gtDir, 'info.json'), 'utf8'));
  const sampleRateHz: number = info.sample_rate_hz;
  const tolerance = (toleranceMs / 1000) * sampleRateHz;
  const gt = trains(toNumberArray(readNpy(path.join(gtDir, 'spike_times.npy'))), toNumberArray(readNpy(path.join(gtDir, 'spike_clusters.npy'))));
  const found = trains(toNumberArray(readNpy(path.join(ksDir, 'spike_times.npy'))), toNumberArray(readNpy(path.join(ksDir, 'spike_clusters.npy'))));

  // Candidate pairs: clusters with a spike near one of the unit's spikes (found spikes merged in time).
  const allFound: Array<[number, number]> = [];
  for (const [c, t] of found) for (const v of t) allFound.push([v, c]);
  allFound.sort((x, y) => x[0] - y[0]);
  const foundTimes = Float64Array.from(allFound, (x) => x[0]);
  const lowerBound = (v: number) => {
    let lo = 0, hi = foundTimes.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (foundTimes[mid] < v) lo = mid + 1; else hi = mid; }
    return lo;
  };

  const units: UnitScore[] = [];
  for (let u = 0; u < info.unit_count; u++) {
    const times = gt.get(u) ?? new Float64Array(0);
    const peakChannel: number = info.peak_channels[u];
    const amplitudeUv: number = info.peak_amplitudes_uv[u];
    const snr = amplitudeUv / info.noise_rms_uv[peakChannel];
    const candidates = new Set<number>();
    for (const t of times) for (let k = lowerBound(t - tolerance); k < foundTimes.length && foundTimes[k] <= t + tolerance; k++) candidates.add(allFound[k][1]);
    let best: UnitScore = {
      unit: u, peakChannel, amplitudeUv, snr, spikes: times.length, cluster: -1, clusterSpikes: 0,
      matches: 0, accuracy: 0, recall: 0, precision: 0, detectable: snr > minSnr,
    };
    for (const c of [...candidates].sort((a, b) => a - b)) {
      const f = found.get(c)!;
      const m = countMatches(times, f, tolerance);
      const accuracy = m / (times.length + f.length - m);
      if (accuracy > best.accuracy) {
        best = { ...best, cluster: c, clusterSpikes: f.length, matches: m, accuracy, recall: m / times.length, precision: m / f.length };
      }
    }
    units.push(best);
  }
  const detectable = units.filter((u) => u.detectable);
  const well = detectable.filter((u) => u.accuracy >= goodAccuracy).length;
  return {
    units,
    detectableUnits: detectable.length,
    wellSortedUnits: well,
    wellSortedFraction: detectable.length ? well / detectable.length : 1,
    meanAccuracy: detectable.length ? detectable.reduce((s, u) => s + u.accuracy, 0) / detectable.length : 1,
    foundClusters: found.size,
    goodAccuracy,
    toleranceMs,
    minSnr,
  };
}

/** One line per detectable unit plus a summary line, for the demo and the tests. */
export function formatComparison(c: GroundTruthComparison): string {
  const lines = c.units.filter((u) => u.detectable).map((u) =>
    `unit ${String(u.unit).padStart(3)}  ch ${String(u.peakChannel).padStart(3)}  ${u.amplitudeUv.toFixed(0).padStart(4)} uV  snr ${u.snr.toFixed(1).padStart(5)}  ` +
    `spikes ${String(u.spikes).padStart(5)}  cluster ${String(u.cluster).padStart(4)} (${u.clusterSpikes})  accuracy ${u.accuracy.toFixed(2)}`);
  lines.push(`${c.wellSortedUnits} of ${c.detectableUnits} detectable units (snr > ${c.minSnr}) sorted with accuracy >= ${c.goodAccuracy} ` +
    `(${(100 * c.wellSortedFraction).toFixed(0)}%), mean accuracy ${c.meanAccuracy.toFixed(2)}, ${c.foundClusters} clusters found`);
  return lines.join('\n');
}
