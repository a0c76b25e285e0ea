/**
 * What each channel of a synthetic probe records apart from spikes: its own noise, its DC
 * offset, how strongly it picks up the noise common to all channels, and which channels are
 * broken. Bad channels are the kinds depth_estimation's noise thresholds exist for: "noisy"
 * above hi_noise_thresh (50 µV), "dead" below lo_noise_thresh (3 µV).
 */
import { Rng, mixSeed } from './random.js';
import { referenceChannels } from './probe.js';

export interface ChannelModel {
  count: number;
  /** AP-band noise of each channel alone, µV rms. */
  noiseUv: Float64Array;
  /** LF-band noise of each channel alone, µV rms. */
  lfNoiseUv: Float64Array;
  dcUv: Float64Array;
  lfDcUv: Float64Array;
  /** Pick-up of the common-mode noise; 0 on dead and reference channels. */
  commonGain: Float64Array;
  noisy: number[];
  dead: number[];
  reference: number[];
  /** First channel above the brain: LFP power drops from here up, and no units live here. */
  surfaceChannel: number;
}

/** Shared by every channel: what median subtraction removes. */
export const commonNoiseUv = 25;
export const humAmplitudeUv = 8;
export const humHz = 60;

export function chooseChannels(seed: number, count: number): ChannelModel {
  const rng = new Rng(mixSeed(seed, 0x6368616e));
  const reference = referenceChannels(count);
  // Bad channels are picked from the brain part, so the surface and the saline reference
  // range at the top stay clean; one of each kind per 128 channels.
  const surfaceChannel = Math.max(1, Math.round(count * 0.8));
  const perKind = count >= 8 ? Math.max(1, Math.round(count / 128)) : 0;
  const taken = new Set(reference);
  const pick = (): number => {
    for (;;) {
      const c = rng.below(surfaceChannel);
      if (!taken.has(c)) { taken.add(c); return c; }
    }
  };
  const noisy = Array.from({ length: perKind }, pick).sort((a, b) => a - b);
  const dead = Array.from({ length: perKind }, pick).sort((a, b) => a - b);
  const m: ChannelModel = {
    count,
    noiseUv: new Float64Array(count), lfNoiseUv: new Float64Array(count),
    dcUv: new Float64Array(count), lfDcUv: new Float64Array(count), commonGain: new Float64Array(count),
    noisy, dead, reference, surfaceChannel,
  };
  for (let c = 0; c < count; c++) {
    m.noiseUv[c] = rng.uniform(8, 12);
    m.lfNoiseUv[c] = rng.uniform(6, 9);
    m.dcUv[c] = 30 * rng.normal();
    m.lfDcUv[c] = 40 * rng.normal();
    // Slightly unequal pick-up: median subtraction helps a lot but not perfectly, as in real data.
    m.commonGain[c] = rng.uniform(0.95, 1.05);
  }
  for (const c of noisy) {
    m.noiseUv[c] = rng.uniform(120, 200);
    m.lfNoiseUv[c] = rng.uniform(60, 100);
  }
  for (const c of [...dead, ...reference]) {
    m.noiseUv[c] = 0.8;
    m.lfNoiseUv[c] = 0.8;
    m.commonGain[c] = 0;
  }
  return m;
}

/** Channels that carry no neural signal: a unit's spike and the LFP never reach them. */
export function silentChannels(m: ChannelModel): Set<number> {
  return new Set([...m.dead, ...m.reference]);
}
