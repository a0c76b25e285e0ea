/**
 * What a synthetic recording really contains, written beside it in `ground_truth/` so that each
 * stage's output can be checked: spikes and their units in Kilosort's file shapes, templates in
 * µV, unit positions, and `info.json` with everything else (noise, bad channels, surface).
 */
import path from 'node:path';
import { writeFileAtomic } from '../base/atomicFile.js';
import { writeNpy } from '../formats/npy.js';
import { cellClasses, templates, templateSamples, troughSample, type SpikeTrains } from './units.js';
import type { RecordingModel } from './model.js';

export const groundTruthFolder = 'ground_truth';

export interface GroundTruthExtras {
  seed: number;
  seconds: number;
  refractoryMs: number;
  violators: number[];
  violationFraction: number;
}

const round = (v: number, digits = 3) => Number(v.toFixed(digits));

export function writeGroundTruth(dir: string, m: RecordingModel, spikes: SpikeTrains, x: GroundTruthExtras): void {
  const u = m.units;
  const silent = new Set(m.silent);
  writeNpy(path.join(dir, 'spike_times.npy'), { dtype: 'uint64', shape: [spikes.times.length], data: BigUint64Array.from(spikes.times, (t) => BigInt(t)) });
  writeNpy(path.join(dir, 'spike_clusters.npy'), { dtype: 'uint32', shape: [spikes.units.length], data: spikes.units });
  writeNpy(path.join(dir, 'templates.npy'), { dtype: 'float32', shape: [u.count, templateSamples, m.channels], data: templates(u, m.sites, silent, m.sampleRateHz) });
  const pos = new Float64Array(u.count * 3);
  for (let i = 0; i < u.count; i++) pos.set([u.x[i], u.y[i], u.z[i]], i * 3);
  writeNpy(path.join(dir, 'unit_positions.npy'), { dtype: 'float64', shape: [u.count, 3], data: pos });

  const counts = new Array<number>(u.count).fill(0);
  for (const c of spikes.units) counts[c]++;
  const info: Record<string, unknown> = {
    format: 'ephys-make synthetic ground truth 1',
    seed: x.seed,
    layout: m.layout,
    seconds: x.seconds,
    channel_count: m.channels,
    saved_channel_count: m.savedChannels,
    sample_rate_hz: m.sampleRateHz,
    samples: m.samples,
    lfp_sample_rate_hz: m.lfSampleRateHz,
    lfp_samples: m.lfSamples,
    bit_volts: m.ap.uvPerCount,
    lfp_bit_volts: m.lf.uvPerCount,
    site_x_um: m.sites.map((s) => s.x),
    site_y_um: m.sites.map((s) => s.y),
    site_note: 'x as in Kilosort\'s channel map (43, 11, 59, 27 by channel % 4); the SpikeGLX snsGeomMap measures x from the other shank edge (70 - x)',
    noise_rms_uv: Array.from(m.channel.noiseUv, (v) => round(v)),
    lfp_noise_rms_uv: Array.from(m.channel.lfNoiseUv, (v) => round(v)),
    common_noise: 'broadband 25 uV rms + 60 Hz hum of 8 uV amplitude, on every channel except dead and reference ones',
    bad_channels: { noisy: m.channel.noisy, dead: m.channel.dead },
    reference_channels: m.channel.reference,
    surface_channel: m.channel.surfaceChannel,
    surface_note: 'first channel above the brain: LFP fades from here up; no unit sits at or above it',
    unit_count: u.count,
    unit_positions_columns: ['x_um', 'y_um', 'z_um (distance from the probe plane)'],
    template_samples: templateSamples,
    template_trough_sample: troughSample,
    spike_times_note: 'sample of each spike\'s trough in the AP band',
    peak_channels: Array.from(u.peakChannel),
    peak_amplitudes_uv: Array.from(u.amplitudeUv, (v) => round(v, 2)),
    firing_rates_hz: Array.from(u.rateHz, (v) => round(v, 4)),
    cell_classes: Array.from(u.cellClass, (c) => cellClasses[c]),
    cell_class_note: 'regular: broad spike, slow repolarisation, wide footprint, may burst; fast: narrow spike, large quick repolarisation, compact footprint, no bursts',
    decay_lengths_um: Array.from(u.decayUm, (v) => round(v, 1)),
    burst_probabilities: Array.from(u.burstProbability, (v) => round(v, 3)),
    burst_note: 'share of a unit\'s firing events that are bursts of 2-5 spikes 3-8 ms apart, each 0.88x the one before (at least 0.6x); templates are of the first spike',
    spike_counts: counts,
    refractory_period_ms: x.refractoryMs,
    units_with_violations: x.violators,
    violation_fraction: x.violationFraction,
    drift_um: m.driftUm,
    drift_note: 'units move linearly by drift_um towards higher y from the first sample to the last; positions and templates are at time 0',
  };
  const text = '{\n' + Object.entries(info).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n') + '\n}\n';
  writeFileAtomic(path.join(dir, 'info.json'), text);
}
