/**
 * Everything needed to render any stretch of one synthetic recording, as plain data: built once
 * in the main thread and copied to each worker, which then renders chunks independently.
 */
import type { ChannelModel } from './channels.js';
import type { Site } from './probe.js';
import type { Units } from './units.js';

export type SynthLayout = 'spikeglx' | 'openephys';

/** How µV become stored integers in one band. */
export interface BandScale {
  uvPerCount: number;
  minCount: number;
  maxCount: number;
}

/** The LF band's rhythms, designed once per recording (lfp.ts renders them). */
export interface LfpModel {
  rhythms: number;
  /** rhythms x partials */
  freqsHz: Float64Array;
  phases: Float64Array;
  /** Slow amplitude modulation per rhythm, so power is not constant in time. */
  modHz: Float64Array;
  modPhases: Float64Array;
  /** channels x rhythms, µV (signed: rhythms reverse across layers). */
  weightsUv: Float64Array;
}

export interface RecordingModel {
  seed: number;
  layout: SynthLayout;
  channels: number;
  /** Channels per stored sample: SpikeGLX adds the sync channel last. */
  savedChannels: number;
  samples: number;
  sampleRateHz: number;
  lfSamples: number;
  lfSampleRateHz: number;
  ap: BandScale;
  lf: BandScale;
  channel: ChannelModel;
  units: Units;
  sites: Site[];
  /** Dead and reference channels: no spikes, no LFP. */
  silent: number[];
  /** Total upward movement of every unit from the first sample to the last, µm. */
  driftUm: number;
  lfp: LfpModel;
}

export const apSampleRateHz = 30000;
export const lfSampleRateHz = 2500;
export const lfDecimation = apSampleRateHz / lfSampleRateHz;

/**
 * NP1.0 through SpikeGLX: a 10-bit ADC over ±0.6 V, so 1.2 V / gain / 1024 per count
 * (2.34375 µV at AP gain 500, 4.6875 µV at LF gain 250), values within [-512, 511].
 */
export const spikeGlxAp: BandScale = { uvPerCount: (1.2 / 500 / 1024) * 1e6, minCount: -512, maxCount: 511 };
export const spikeGlxLf: BandScale = { uvPerCount: (1.2 / 250 / 1024) * 1e6, minCount: -512, maxCount: 511 };
/** Open Ephys stores both bands rescaled to 0.195 µV per count over the full int16 range. */
export const openEphysBand: BandScale = { uvPerCount: 0.195, minCount: -32768, maxCount: 32767 };

/** SpikeGLX's imec sync line is bit 6 of the sync channel's word. */
export const syncHighValue = 64;

/** Upward shift of every unit at AP sample t, µm. */
export function driftAt(m: RecordingModel, sample: number): number {
  return m.samples > 1 ? (m.driftUm * sample) / (m.samples - 1) : 0;
}

/** 1 Hz square wave on the sync channel: high for the first half of every second. */
export function syncValue(sample: number, rateHz: number): number {
  return sample % rateHz < rateHz / 2 ? syncHighValue : 0;
}
