/**
 * Built-in mean_waveforms (reference §1.7): per unit, the mean of up to spikes_per_epoch raw
 * snippets of every channel (mean_waveforms.npy) and the waveform metrics
 * (waveform_metrics.csv), on the same input JSON as the module.
 *
 * Kept from the module: units are 0 .. max(spike_clusters) with all-zero means for units without
 * spikes; a unit's peak channel comes from the template with the unit's id; the one epoch is
 * complete_session (spikes at sample 0 excluded); snippets running off either end of the file
 * count as missing (NaN) and are left out of means and SNR; means are baseline-corrected by their
 * first sample; the metrics keep the module's quirks (metrics.ts).
 *
 * Differences, on purpose:
 * - the spikes averaged are drawn by a seeded shuffle (select.ts), so reruns give the same files;
 * - the AP file is read once, in bounded memory, in file order (gather.ts), not memory-mapped;
 * - a cluster id with spikes but no template, a channel_map entry outside the file, or no spikes
 *   at all are errors with a message instead of an IndexError / ValueError;
 * - a unit whose every snippet is truncated gets NaN means and NaN metrics (the module crashes);
 * - the module's merge of these columns into an existing cluster_metrics file is not done: that
 *   file belongs to quality_metrics.
 */
import { StageError, type BuiltinContext, type BuiltinStage, type InputJson } from '../../lib/builtin/stage.js';
import { PartialFile, writeFileAtomic } from '../../lib/base/atomicFile.js';
import { loadKilosortFolder } from '../../lib/formats/kilosort.js';
import { npyHeaderBytes } from '../../lib/formats/npy.js';
import { Int16File } from '../../lib/formats/int16File.js';
import { inputNumber, inputPath, inputSection } from '../../lib/builtin/stageInput.js';
import { chooseSpikes, groupSpikesByUnit } from './select.js';
import { sumSnippets, type SnippetList, type UnitSums } from './gather.js';
import { snrFromSums, upsampledCount, waveformMetrics } from './metrics.js';
import { localPeakRow, metricRowCount, metricRows } from './metricRows.js';
import { metricsCsvText, type MetricsRow } from './metricsCsv.js';

function fail(message: string): never {
  throw new StageError(message);
}

export interface MeanWaveformSettings {
  apFile: string;
  kilosortDir: string;
  meanWaveformsFile: string;
  metricsFile: string;
  numChannels: number;
  bitVolts: number;
  sampleRateHz: number;
  siteSpacingM: number;
  samplesPerSpike: number;
  preSamples: number;
  spikesPerEpoch: number;
  upsamplingFactor: number;
  spreadThreshold: number;
  siteRange: number;
  /** Worker threads for the sums (tests set 0 or 2); default one per core, at most two. */
  workers?: number;
}

export function readSettings(input: InputJson): MeanWaveformSettings {
  const E = 'ephys_params', P = 'mean_waveform_params';
  const ephys = inputSection(input, E);
  const params = inputSection(input, P);
  const s: MeanWaveformSettings = {
    apFile: inputPath(ephys, E, 'ap_band_file'),
    kilosortDir: inputPath(inputSection(input, 'directories'), 'directories', 'kilosort_output_directory'),
    meanWaveformsFile: inputPath(params, P, 'mean_waveforms_file'),
    metricsFile: inputPath(inputSection(input, 'waveform_metrics'), 'waveform_metrics', 'waveform_metrics_file'),
    numChannels: inputNumber(ephys, E, 'num_channels', 384, true),
    bitVolts: inputNumber(ephys, E, 'bit_volts', 0.195),
    sampleRateHz: inputNumber(ephys, E, 'sample_rate', 30000),
    siteSpacingM: inputNumber(ephys, E, 'vertical_site_spacing', 20e-6),
    samplesPerSpike: inputNumber(params, P, 'samples_per_spike', 82, true),
    preSamples: inputNumber(params, P, 'pre_samples', 20, true),
    spikesPerEpoch: inputNumber(params, P, 'spikes_per_epoch', 100, true),
    upsamplingFactor: inputNumber(params, P, 'upsampling_factor', 200 / 82),
    spreadThreshold: inputNumber(params, P, 'spread_threshold', 0.12),
    siteRange: inputNumber(params, P, 'site_range', 16, true),
  };
  if (s.numChannels < 1) fail(`input JSON: ${E}.num_channels must be positive, got ${s.numChannels}`);
  if (!(s.sampleRateHz > 0)) fail(`input JSON: ${E}.sample_rate must be positive, got ${s.sampleRateHz}`);
  if (s.samplesPerSpike < 1) fail(`input JSON: ${P}.samples_per_spike must be positive, got ${s.samplesPerSpike}`);
  if (s.preSamples < 0) fail(`input JSON: ${P}.pre_samples must not be negative, got ${s.preSamples}`);
  if (s.spikesPerEpoch < 1) fail(`input JSON: ${P}.spikes_per_epoch must be positive, got ${s.spikesPerEpoch}`);
  if (s.siteRange < 0 || s.siteRange % 2 !== 0) fail(`input JSON: ${P}.site_range must be even (sites are sampled every other channel), got ${s.siteRange}`);
  // Trough times index the upsampled time base with original sample numbers (a module quirk),
  // which is only defined when upsampling does not shorten the waveform.
  if (upsampledCount(s.samplesPerSpike, s.upsamplingFactor) < s.samplesPerSpike) {
    fail(`input JSON: ${P}.upsampling_factor must be at least 1, got ${s.upsamplingFactor}`);
  }
  return s;
}

/** Channel of largest peak-to-peak per template, as a data channel (via channel_map). */
function templatePeakChannels(templates: Float64Array, count: number, samples: number, channels: number, channelMap: Int32Array): Int32Array {
  const out = new Int32Array(count);
  const hi = new Float64Array(channels), lo = new Float64Array(channels);
  for (let t = 0; t < count; t++) {
    hi.fill(-Infinity); lo.fill(Infinity);
    for (let s = 0; s < samples; s++) {
      const o = (t * samples + s) * channels;
      for (let c = 0; c < channels; c++) {
        const v = templates[o + c];
        if (v > hi[c]) hi[c] = v;
        if (v < lo[c]) lo[c] = v;
      }
    }
    let best = 0;
    for (let c = 1; c < channels; c++) if (hi[c] - lo[c] > hi[best] - lo[best]) best = c;
    out[t] = channelMap[best];
  }
  return out;
}

/** Snippets sorted by start; packs (start, unit) into one double when that is exact. */
function sortSnippets(starts: number[], units: number[], unitCount: number): SnippetList {
  const n = starts.length;
  const out: SnippetList = { starts: new Float64Array(n), units: new Uint32Array(n) };
  const maxStart = starts.reduce((a, b) => Math.max(a, b), 0);
  if ((maxStart + 1) * unitCount < 2 ** 53) {
    const keys = Float64Array.from(starts, (s, i) => s * unitCount + units[i]).sort();
    for (let i = 0; i < n; i++) {
      const u = keys[i] % unitCount;
      out.units[i] = u;
      out.starts[i] = (keys[i] - u) / unitCount;
    }
  } else {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => starts[a] - starts[b] || units[a] - units[b]);
    order.forEach((k, i) => { out.starts[i] = starts[k]; out.units[i] = units[k]; });
  }
  return out;
}

/** Stream mean_waveforms.npy: (units, channels, samples) float64, baseline-corrected µV. */
function writeMeanWaveforms(file: string, acc: UnitSums, unitCount: number, hasSpikes: Uint8Array, bitVolts: number): void {
  const { samples: S, channels: C, sums, counts } = acc;
  const out = new PartialFile(file);
  try {
    out.write(npyHeaderBytes('float64', [unitCount, C, S]));
    const block = new Float64Array(C * S);
    for (let u = 0; u < unitCount; u++) {
      block.fill(0);
      if (hasSpikes[u]) {
        const n = counts[u];
        const base = u * S * C;
        for (let c = 0; c < C; c++) {
          const first = n ? (sums[base + c] / n) * bitVolts : NaN;
          for (let s = 0; s < S; s++) block[c * S + s] = (n ? (sums[base + s * C + c] / n) * bitVolts : NaN) - first;
        }
      }
      out.write(new Uint8Array(block.buffer));
    }
    out.commit();
  } catch (err) {
    out.abort();
    throw err;
  }
}

export const stage: BuiltinStage = {
  version: '1',
  run: (input, ctx) => runMeanWaveforms(readSettings(input), ctx),
};

export async function runMeanWaveforms(s: MeanWaveformSettings, ctx: BuiltinContext): Promise<Record<string, unknown>> {
  const started = Date.now();
  const ks = loadKilosortFolder(s.kilosortDir, { sampleRateHz: s.sampleRateHz, convertToSeconds: false });
  if (ks.spikeCount === 0) fail(`${s.kilosortDir}: spike_times.npy holds no spikes; there is nothing to average`);
  for (let i = 0; i < ks.channelMap.length; i++) {
    if (ks.channelMap[i] >= s.numChannels) {
      fail(`${s.kilosortDir}/channel_map.npy: channel ${ks.channelMap[i]} at index ${i} is outside the AP file's ${s.numChannels} channels (ephys_params.num_channels)`);
    }
  }
  let maxCluster = 0;
  for (let i = 0; i < ks.spikeCount; i++) if (ks.spikeClusters[i] > maxCluster) maxCluster = ks.spikeClusters[i];
  const unitCount = maxCluster + 1;
  const templatePeaks = templatePeakChannels(ks.templates!, ks.templateCount, ks.templateSamples, ks.channelCount, ks.channelMap);

  const file = new Int16File(s.apFile, s.numChannels, 'AP band file');
  try {
    const S = s.samplesPerSpike;
    const group = groupSpikesByUnit(ks.spikeTimes, ks.spikeClusters, unitCount);
    const hasSpikes = new Uint8Array(unitCount);
    const peakChannels = new Int32Array(unitCount);
    const starts: number[] = [];
    const units: number[] = [];
    let truncated = 0;
    for (let u = 0; u < unitCount; u++) {
      if (group.offsets[u + 1] === group.offsets[u]) continue;
      if (u >= ks.templateCount) {
        fail(`cluster ${u} has spikes but templates.npy has only ${ks.templateCount} templates; mean_waveforms takes each unit's peak channel from the template with its id, so it needs cluster ids to be template ids (no Phy merges or splits)`);
      }
      hasSpikes[u] = 1;
      peakChannels[u] = templatePeaks[u];
      for (const spike of chooseSpikes(group, u, s.spikesPerEpoch)) {
        const start = ks.spikeTimes[spike] - s.preSamples;
        if (start >= 0 && start + S <= file.sampleCount) { starts.push(start); units.push(u); } else truncated++;
      }
    }
    const list = sortSnippets(starts, units, unitCount);
    const R = ks.channelCount;
    const M = metricRowCount(s.siteRange);
    const localPeaks = new Int32Array(unitCount);
    const rowsOf: number[][] = [];
    const metricChannels = new Int32Array(unitCount * M).fill(-1);
    for (let u = 0; u < unitCount; u++) {
      if (!hasSpikes[u]) { rowsOf.push([]); continue; }
      localPeaks[u] = localPeakRow(ks.channelMap, peakChannels[u]);
      rowsOf.push(metricRows(R, localPeaks[u], s.siteRange));
      rowsOf[u].forEach((r, m) => { metricChannels[u * M + m] = ks.channelMap[r]; });
    }
    const withSpikes = hasSpikes.reduce((a, b) => a + b, 0);
    ctx.log(`${withSpikes} of ${unitCount} units have spikes; averaging ${list.starts.length} snippets (${truncated} cut off by the file's ends left out)`);
    const acc = await sumSnippets({
      path: s.apFile, fd: file.fd, unitCount, samples: S, channels: s.numChannels,
      maxPerUnit: s.spikesPerEpoch, list, peakChannels, metricChannels, metricRowCount: M, bitVolts: s.bitVolts,
      workers: s.workers, signal: ctx.signal,
      onBytes: (done, total) => ctx.progress(done, total, 'bytes'),
    });
    ctx.log(`snippets summed in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    writeMeanWaveforms(s.meanWaveformsFile, acc, unitCount, hasSpikes, s.bitVolts);

    const rows: MetricsRow[] = [];
    // Only the metric rows are read (metricRows.ts); they hold numpy's means, the rest NaN.
    const mean2d = new Float64Array(R * S).fill(NaN);
    for (let u = 0; u < unitCount; u++) {
      if (!hasSpikes[u]) continue;
      const n = acc.counts[u];
      const base = u * S * s.numChannels;
      rowsOf[u].forEach((r, m) => {
        for (let k = 0; k < S; k++) mean2d[r * S + k] = n ? acc.metricSums[(u * M + m) * S + k] / n : NaN;
      });
      const pc = peakChannels[u];
      const localPeak = localPeaks[u];
      const peakSum = new Float64Array(S);
      for (let k = 0; k < S; k++) peakSum[k] = acc.sums[base + k * s.numChannels + pc];
      const snr = snrFromSums(peakSum, acc.peakSquares.subarray(u * S, (u + 1) * S), n, s.bitVolts);
      const m = waveformMetrics({
        mean2d, rows: R, samples: S, localPeak, snr, sampleRateHz: s.sampleRateHz,
        upsamplingFactor: s.upsamplingFactor, spreadThreshold: s.spreadThreshold,
        siteRange: s.siteRange, siteSpacingM: s.siteSpacingM,
      });
      rows.push({ cluster_id: u, epoch_name: 'complete_session', peak_channel: pc, ...m });
      rowsOf[u].forEach((r) => mean2d.fill(NaN, r * S, (r + 1) * S));
    }
    writeFileAtomic(s.metricsFile, metricsCsvText(rows));
    ctx.log(`wrote ${s.meanWaveformsFile} and ${s.metricsFile} (${rows.length} units) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // The module returns only execution_time, which the host adds.
    return {};
  } finally {
    file.close();
  }
}
