/**
 * The rule-based noise classifier of the Allen `noise_templates` module (`id_noise_templates`),
 * on unwhitened templates [template][sample][column] (61 samples after Kilosort's zero padding):
 *
 * - spread: channels above a fraction of the peak amplitude, on the raw and on the
 *   Gaussian-smoothed amplitude profile; too few (raw) or too many (smoothed) is noise, and a
 *   wide-but-not-too-wide template must pass the shape test;
 * - temporal: the sample of the largest peak-to-peak across channels must lie in a window;
 * - spatial peaks: spatialPeaks.ts.
 *
 * Parameter names are the input JSON's (`noise_waveform_params`).
 */
import { gaussianFilter1d } from '../../lib/numeric/gaussianFilter1d.js';
import { peakChannelIndex, peakSampleIndex } from '../../lib/numeric/templatePeaks.js';
import { cwtRickerRow } from './cwt.js';
import { spatialPeakLocations, spreadOfLocations, type ProbeGrid } from './spatialPeaks.js';

export interface NoiseWaveformParams {
  smoothed_template_amplitude_threshold: number;
  template_amplitude_threshold: number;
  smoothed_template_filter_width: number;
  min_spread_threshold: number;
  mid_spread_threshold: number;
  max_spread_threshold: number;
  channel_amplitude_thresh: number;
  peak_height_thresh: number;
  peak_prominence_thresh: number;
  peak_channel_range: number;
  peak_locs_std_thresh: number;
  min_temporal_peak_location: number;
  max_temporal_peak_location: number;
  template_shape_channel_range: number;
  wavelet_index: number;
  min_wavelet_peak_height: number;
  min_wavelet_peak_loc: number;
  max_wavelet_peak_loc: number;
}

export const defaultNoiseWaveformParams: NoiseWaveformParams = {
  smoothed_template_amplitude_threshold: 0.2,
  template_amplitude_threshold: 0.2,
  smoothed_template_filter_width: 2,
  min_spread_threshold: 2,
  mid_spread_threshold: 16,
  max_spread_threshold: 25,
  channel_amplitude_thresh: 0.25,
  peak_height_thresh: 0.2,
  peak_prominence_thresh: 0.2,
  peak_channel_range: 24,
  peak_locs_std_thresh: 3.5,
  min_temporal_peak_location: 10,
  max_temporal_peak_location: 30,
  template_shape_channel_range: 12,
  wavelet_index: 2,
  min_wavelet_peak_height: 0.0,
  min_wavelet_peak_loc: 15,
  max_wavelet_peak_loc: 25,
};

/** [template][sample][column], C order. */
export interface Templates { data: ArrayLike<number>; count: number; samples: number; channels: number }

/** One template's (samples x columns) block. */
function slab(t: Templates, k: number): ArrayLike<number> {
  const size = t.samples * t.channels;
  const d = t.data as Float64Array;
  return typeof d.subarray === 'function' ? d.subarray(k * size, (k + 1) * size) : Array.from({ length: size }, (_, i) => t.data[k * size + i]);
}

export interface SpreadResult { spreadSmoothed: number; spreadRaw: number; shape?: ShapeResult; isNoise: boolean }

export function checkSpread(t: Templates, k: number, p: NoiseWaveformParams): SpreadResult {
  const x = slab(t, k);
  const { samples, channels } = t;
  const mm = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = -Infinity;
    for (let s = 0; s < samples; s++) {
      const v = Math.abs(x[s * channels + c]);
      if (v > m || v !== v) m = v;
    }
    mm[c] = m;
  }
  let top = -Infinity;
  for (let c = 0; c < channels; c++) if (mm[c] > top || mm[c] !== mm[c]) top = mm[c];
  for (let c = 0; c < channels; c++) mm[c] /= top;
  const smoothed = gaussianFilter1d(mm, p.smoothed_template_filter_width);
  let spreadSmoothed = 0, spreadRaw = 0;
  for (let c = 0; c < channels; c++) {
    if (smoothed[c] > p.smoothed_template_amplitude_threshold) spreadSmoothed++;
    if (mm[c] > p.template_amplitude_threshold) spreadRaw++;
  }
  if (spreadSmoothed <= p.mid_spread_threshold) return { spreadSmoothed, spreadRaw, isNoise: spreadRaw < p.min_spread_threshold };
  if (spreadSmoothed <= p.max_spread_threshold) {
    const shape = checkShape(t, k, p);
    return { spreadSmoothed, spreadRaw, shape, isNoise: shape.isNoise };
  }
  return { spreadSmoothed, spreadRaw, isNoise: true };
}

export interface ShapeResult { waveletPeakLocation: number; waveletPeakHeight: number; isNoise: boolean }

/** Python's `np.arange(start, stop, step)` for integers. */
function integerRange(start: number, stop: number, step: number): number[] {
  const out: number[] = [];
  for (let v = start; v < stop; v += step) out.push(v);
  return out;
}

export class NoiseRuleError extends Error {}

/**
 * Shape test: columns every 4 around the peak column, each scaled to its own maximum, minus the
 * centre column, averaged; a Ricker transform of that must peak positive, mid-template.
 */
export function checkShape(t: Templates, k: number, p: NoiseWaveformParams): ShapeResult {
  const x = slab(t, k);
  const { samples, channels } = t;
  const offsets = integerRange(-p.template_shape_channel_range, p.template_shape_channel_range + 1, 4);
  const peak = peakChannelIndex(x, 0, { samples, channels });
  const cols: Array<Float64Array | undefined> = offsets.map((o) => {
    let c = peak + o;
    // Python indexing: a negative index counts from the end, one past either end is an IndexError
    // that the module catches (the column stays NaN).
    if (c >= channels || c < -channels) return undefined;
    if (c < 0) c += channels;
    let m = -Infinity;
    for (let s = 0; s < samples; s++) {
      const v = Math.abs(x[s * channels + c]);
      if (v > m || v !== v) m = v;
    }
    const col = new Float64Array(samples);
    for (let s = 0; s < samples; s++) col[s] = x[s * channels + c] / m;
    return col;
  });
  const centre = cols[Math.floor(offsets.length / 2)];
  const mean = new Float64Array(samples);
  for (let s = 0; s < samples; s++) {
    let sum = 0, count = 0;
    for (const col of cols) {
      const v = col && centre ? col[s] - centre[s] : NaN;
      if (v === v) { sum += v; count++; }
    }
    mean[s] = sum / count;
  }
  const widths = integerRange(1, samples, 2);
  const row = p.wavelet_index < 0 ? widths.length + p.wavelet_index : p.wavelet_index;
  if (row < 0 || row >= widths.length) {
    throw new NoiseRuleError(`noise_waveform_params.wavelet_index: ${p.wavelet_index}; the wavelet transform of ${samples}-sample templates has ${widths.length} rows (widths 1, 3, ..., ${widths[widths.length - 1]})`);
  }
  const w = cwtRickerRow(mean, widths[row]);
  let at = 0;
  for (let i = 1; i < w.length; i++) {
    if (w[at] !== w[at]) break;
    if (w[i] > w[at] || w[i] !== w[i]) at = i;
  }
  const height = w[at];
  const good = height > p.min_wavelet_peak_height && at > p.min_wavelet_peak_loc && at < p.max_wavelet_peak_loc;
  return { waveletPeakLocation: at, waveletPeakHeight: height, isNoise: !good };
}

export function checkTemporalPeak(t: Templates, k: number, p: NoiseWaveformParams): { peakSample: number; isNoise: boolean } {
  const peakSample = peakSampleIndex(slab(t, k), 0, t);
  return { peakSample, isNoise: peakSample < p.min_temporal_peak_location || peakSample > p.max_temporal_peak_location };
}

export interface SpatialResult { peakLocations: number[]; std: number; isNoise: boolean }

export function checkSpatialPeaks(t: Templates, k: number, grid: ProbeGrid, channelMap: ArrayLike<number>, p: NoiseWaveformParams): SpatialResult {
  const x = slab(t, k);
  const peakColumn = peakChannelIndex(x, 0, t);
  const peakSample = peakSampleIndex(x, 0, t);
  const frame = new Float64Array(t.channels);
  for (let c = 0; c < t.channels; c++) frame[c] = x[peakSample * t.channels + c];
  const peakLocations = spatialPeakLocations(grid, frame, channelMap[peakColumn], p);
  const std = spreadOfLocations(peakLocations);
  // An empty list gives NaN, which is not above the threshold.
  return { peakLocations, std, isNoise: std > p.peak_locs_std_thresh };
}

export interface TemplateVerdict {
  spread: SpreadResult;
  temporal: { peakSample: number; isNoise: boolean };
  spatial: SpatialResult;
  isNoise: boolean;
}

export function classifyTemplate(t: Templates, k: number, grid: ProbeGrid, channelMap: ArrayLike<number>, p: NoiseWaveformParams): TemplateVerdict {
  const spread = checkSpread(t, k, p);
  const temporal = checkTemporalPeak(t, k, p);
  const spatial = checkSpatialPeaks(t, k, grid, channelMap, p);
  return { spread, temporal, spatial, isNoise: spread.isNoise || temporal.isNoise || spatial.isNoise };
}
