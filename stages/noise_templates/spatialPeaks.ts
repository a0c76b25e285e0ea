/**
 * The spatial-peaks test of the noise classifier: the template's frame at its peak sample is
 * interpolated (griddata 'cubic', fill 0) from the Neuropixels 1.0 site positions onto a virtual
 * grid of 7 columns (x = 0, 8, ..., 48 um) and one row per 10 um; in each of the 5 inner columns
 * that is strong enough, peaks along the probe are found; a unit whose peaks scatter is noise.
 *
 * Site positions are the module's fixed Neuropixels 1.0 layout whatever the probe: x =
 * [16, 48, 0, 32][channel % 4], y = floor(channel / 2) * 20. The triangulation and where each grid
 * point falls depend only on the channel map, so they are computed once for all templates.
 */
import { pairwiseSum } from '../../lib/numeric/pairwiseSum.js';
import { delaunay, type Triangulation } from './delaunay.js';
import { cloughTocherAt, estimateGradients, gradientSystem, locatePoints, type GradientSystem, type PointLocations } from './cloughTocher.js';
import { findPeaks } from './findPeaks.js';

const siteX = [16, 48, 0, 32];
const gridX = [0, 8, 16, 24, 32, 40, 48];
/** Columns 1..5 of the virtual grid are the ones searched. */
const innerColumns = 5;

export interface ProbeGrid {
  tri: Triangulation;
  system: GradientSystem;
  /** Rows of the virtual grid: max(channel_map) + 1, row r at y = 10 r. */
  rows: number;
  /** Inner grid points, row-major (rows x 5). */
  points: PointLocations;
}

export function probeGrid(channelMap: ArrayLike<number>): ProbeGrid {
  const n = channelMap.length;
  const xs = new Float64Array(n), ys = new Float64Array(n);
  let maxChannel = 0;
  for (let i = 0; i < n; i++) {
    const ch = channelMap[i];
    xs[i] = siteX[ch % 4];
    ys[i] = Math.floor(ch / 2) * 20;
    if (ch > maxChannel) maxChannel = ch;
  }
  const tri = delaunay(xs, ys);
  const rows = maxChannel + 1;
  const qx = new Float64Array(rows * innerColumns), qy = new Float64Array(rows * innerColumns);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < innerColumns; c++) {
      qx[r * innerColumns + c] = gridX[c + 1];
      qy[r * innerColumns + c] = r * 10;
    }
  }
  return { tri, system: gradientSystem(tri), rows, points: locatePoints(tri, qx, qy) };
}

/** The frame on the inner grid columns, rows x 5 row-major; 0 outside the sites' hull. */
export function interpolateFrame(grid: ProbeGrid, frame: ArrayLike<number>): Float64Array {
  const grad = estimateGradients(grid.system, frame);
  const out = new Float64Array(grid.rows * innerColumns);
  const { simplex, bary } = grid.points;
  for (let i = 0; i < out.length; i++) {
    if (simplex[i] >= 0) out[i] = cloughTocherAt(grid.tri, simplex[i], bary.subarray(3 * i, 3 * i + 3), frame, grad);
  }
  return out;
}

export interface SpatialPeakParams {
  channel_amplitude_thresh: number;
  peak_height_thresh: number;
  peak_prominence_thresh: number;
  peak_channel_range: number;
}

/**
 * Row indices of the peaks kept in all inner columns, column by column. A row index is compared
 * with the peak's channel number directly (rows are 10 um, channels 20 um per pair: the module's
 * own approximation).
 */
export function spatialPeakLocations(grid: ProbeGrid, frame: ArrayLike<number>, peakProbeChannel: number, p: SpatialPeakParams): number[] {
  const w = interpolateFrame(grid, frame);
  // Sign of the largest magnitude (first one on a tie), so the main deflection points up.
  let at = 0, top = -Infinity;
  for (let i = 0; i < w.length; i++) {
    const a = Math.abs(w[i]);
    if (a > top) { top = a; at = i; }
  }
  const sign = Math.sign(w[at]);
  const locations: number[] = [];
  const column = new Float64Array(grid.rows);
  for (let c = 0; c < innerColumns; c++) {
    let colMax = -Infinity;
    for (let r = 0; r < grid.rows; r++) colMax = Math.max(colMax, Math.abs(w[r * innerColumns + c]));
    if (!(colMax >= top * p.channel_amplitude_thresh)) continue;
    for (let r = 0; r < grid.rows; r++) column[r] = w[r * innerColumns + c] * sign;
    let scale = -Infinity;
    for (let r = 0; r < grid.rows; r++) scale = Math.max(scale, Math.abs(column[r]));
    for (let r = 0; r < grid.rows; r++) column[r] = column[r] / scale;
    for (const peak of findPeaks(column, p.peak_height_thresh, p.peak_prominence_thresh)) {
      if (peak > peakProbeChannel - p.peak_channel_range && peak < peakProbeChannel + p.peak_channel_range) locations.push(peak);
    }
  }
  return locations;
}

/** numpy's std (ddof 0) of integer locations, with numpy's summation order; NaN when empty. */
export function spreadOfLocations(locations: number[]): number {
  const n = locations.length;
  if (n === 0) return NaN;
  const mean = pairwiseSum(locations) / n;
  const sq = locations.map((v) => (v - mean) * (v - mean));
  return Math.sqrt(pairwiseSum(sq) / n);
}
