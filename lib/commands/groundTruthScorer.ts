/** The page's ground-truth comparison: lib/synth's scoring of a sorting, in the page's terms. */
import { compareToGroundTruth } from '../synth/groundTruthMatch.js';
import type { GroundTruthSummary } from '../report/results.js';

export function scoreGroundTruth(sortedDir: string, groundTruthDir: string): GroundTruthSummary {
  const c = compareToGroundTruth(sortedDir, groundTruthDir);
  return {
    detectableUnits: c.detectableUnits,
    wellSortedUnits: c.wellSortedUnits,
    meanAccuracy: c.meanAccuracy,
    goodAccuracy: c.goodAccuracy,
    minSnr: c.minSnr,
    foundClusters: c.foundClusters,
    units: c.units.map((u) => ({ unit: u.unit, snr: Math.round(u.snr * 100) / 100, accuracy: Math.round(u.accuracy * 1000) / 1000, cluster: u.cluster, detectable: u.detectable })),
  };
}
