/**
 * Synthetic single units: where each sits next to the probe, what its extracellular waveform
 * looks like, how its amplitude spreads over neighbouring sites, and when it fires.
 */
import { Rng, mixSeed } from './random.js';
import type { Site } from './probe.js';

/** Template window as Kilosort 2 cuts it (nt0 = 61, trough at nt0min = 20). */
export const templateSamples = 61;
export const troughSample = 20;
/** Amplitude falls by e every this many µm of distance from the unit. */
export const decayLengthUm = 25;
/** Sites where a unit is below this fraction of its peak get nothing (keeps rendering sparse). */
const footprintCutoff = 0.02;

export interface Units {
  count: number;
  /** Positions at time 0, µm: x and y in the probe plane, z away from it. */
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
  /** Trough depth on the peak site at time 0, µV. */
  amplitudeUv: Float64Array;
  /** Scale of exp(-d/decayLengthUm) that gives amplitudeUv at the nearest site. */
  gainUv: Float64Array;
  peakChannel: Int32Array;
  rateHz: Float64Array;
  /** units x templateSamples, trough normalised to -1. */
  waveforms: Float32Array;
}

export interface UnitPlacement {
  count: number;
  /** Units live below this y (the brain surface), µm. */
  maxYUm: number;
  sites: Site[];
  /** Sites that record nothing (dead and reference): never a unit's peak. */
  silent: Set<number>;
}

/**
 * Trough then a slower, smaller positive peak: two Gaussians in time, tapered at the window's
 * ends so that a spike adds nothing outside its window.
 */
function waveform(rng: Rng, sampleRateHz: number): Float32Array {
  const msPerSample = 1000 / sampleRateHz;
  const troughWidthMs = rng.uniform(0.08, 0.16);
  const peakDelayMs = rng.uniform(0.3, 0.55);
  const peakWidthMs = rng.uniform(0.14, 0.28);
  const peakRatio = rng.uniform(0.2, 0.45);
  const shape = (t: number) => -Math.exp(-0.5 * (t / troughWidthMs) ** 2) + peakRatio * Math.exp(-0.5 * ((t - peakDelayMs) / peakWidthMs) ** 2);
  // The rising peak pulls the sum's minimum slightly before the trough Gaussian's centre; find
  // it, so that the sampled trough falls exactly on troughSample, where the spike time points.
  let tMin = 0;
  for (let t = -0.1; t <= 0.01; t += 0.0005) if (shape(t) < shape(tMin)) tMin = t;
  const w = new Float32Array(templateSamples);
  for (let k = 0; k < templateSamples; k++) {
    const edge = Math.min(k, templateSamples - 1 - k);
    const taper = edge >= 6 ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * edge) / 6);
    w[k] = shape((k - troughSample) * msPerSample + tMin) * taper;
  }
  const depth = -w[troughSample];
  for (let k = 0; k < templateSamples; k++) w[k] /= depth;
  return w;
}

export function placeUnits(seed: number, p: UnitPlacement, sampleRateHz: number): Units {
  const n = p.count;
  const u: Units = {
    count: n,
    x: new Float64Array(n), y: new Float64Array(n), z: new Float64Array(n),
    amplitudeUv: new Float64Array(n), gainUv: new Float64Array(n), peakChannel: new Int32Array(n),
    rateHz: new Float64Array(n), waveforms: new Float32Array(n * templateSamples),
  };
  for (let i = 0; i < n; i++) {
    const rng = new Rng(mixSeed(seed, 0x756e6974, i));
    u.x[i] = rng.uniform(-10, 80);
    u.y[i] = rng.uniform(0, Math.max(0, p.maxYUm - 10));
    u.z[i] = rng.uniform(12, 40);
    // Log-uniform: many small units, a few large ones, as sorted data shows.
    u.amplitudeUv[i] = 50 * Math.exp(rng.float() * Math.log(300 / 50));
    // Lognormal rates with a median of 3 Hz; the caps keep a few spikes in short recordings
    // and keep every unit's mean interval well above its refractory period.
    u.rateHz[i] = Math.min(40, Math.max(0.5, 3 * Math.exp(0.9 * rng.normal())));
    u.waveforms.set(waveform(rng, sampleRateHz), i * templateSamples);
    let best = -1, bestD = Infinity;
    for (let c = 0; c < p.sites.length; c++) {
      if (p.silent.has(c)) continue;
      const d = distance(u, i, p.sites[c], 0);
      if (d < bestD) { bestD = d; best = c; }
    }
    u.peakChannel[i] = best;
    u.gainUv[i] = u.amplitudeUv[i] / Math.exp(-bestD / decayLengthUm);
  }
  return u;
}

export function distance(u: Units, i: number, site: Site, yShiftUm: number): number {
  const dx = u.x[i] - site.x, dy = u.y[i] + yShiftUm - site.y;
  return Math.sqrt(dx * dx + dy * dy + u.z[i] * u.z[i]);
}

export interface Footprint { channels: Int32Array; gainsUv: Float32Array }

/** The sites unit `i` reaches when it has drifted by yShiftUm, and its amplitude on each. */
export function footprint(u: Units, i: number, sites: Site[], silent: Set<number>, yShiftUm: number): Footprint {
  const channels: number[] = [];
  const gains: number[] = [];
  const reach = u.amplitudeUv[i] * footprintCutoff;
  for (let c = 0; c < sites.length; c++) {
    if (silent.has(c)) continue;
    const g = u.gainUv[i] * Math.exp(-distance(u, i, sites[c], yShiftUm) / decayLengthUm);
    if (g < reach) continue;
    channels.push(c);
    gains.push(g);
  }
  return { channels: Int32Array.from(channels), gainsUv: Float32Array.from(gains) };
}

/** units x templateSamples x channels in µV, at time-0 positions: what templates.npy holds. */
export function templates(u: Units, sites: Site[], silent: Set<number>): Float32Array {
  const C = sites.length;
  const out = new Float32Array(u.count * templateSamples * C);
  for (let i = 0; i < u.count; i++) {
    const f = footprint(u, i, sites, silent, 0);
    for (let k = 0; k < templateSamples; k++) {
      const w = u.waveforms[i * templateSamples + k];
      const row = (i * templateSamples + k) * C;
      for (let j = 0; j < f.channels.length; j++) out[row + f.channels[j]] = w * f.gainsUv[j];
    }
  }
  return out;
}

export interface SpikeTrains {
  /** Sample of each spike's trough, ascending (ties by unit). */
  times: Float64Array;
  units: Uint32Array;
}

export interface FiringPlan {
  samples: number;
  sampleRateHz: number;
  refractoryMs: number;
  /** Units given extra spikes inside their refractory period. */
  violators: ReadonlySet<number>;
  /** Share of a violator's spikes that get a too-early companion. */
  violationFraction: number;
}

/**
 * Poisson firing with a dead time: each interval is the refractory period plus an exponential
 * wait, so the mean rate is still rateHz. A violator gets companions 0.4-1.2 ms after some of its
 * spikes: inside the refractory period, yet beyond Kilosort postprocessing's duplicate window.
 */
export function fireUnits(seed: number, u: Units, plan: FiringPlan): SpikeTrains {
  const refractory = Math.ceil((plan.refractoryMs / 1000) * plan.sampleRateHz);
  const first = troughSample;
  const last = plan.samples - (templateSamples - troughSample);
  const all: Array<[number, number]> = [];
  for (let i = 0; i < u.count; i++) {
    const rng = new Rng(mixSeed(seed, 0x66697265, i));
    const meanWait = plan.sampleRateHz / u.rateHz[i] - refractory;
    let t = first + Math.round(rng.exponential(meanWait + refractory));
    while (t <= last) {
      all.push([t, i]);
      if (plan.violators.has(i) && rng.float() < plan.violationFraction) {
        const early = t + Math.round(rng.uniform(0.4, 1.2) * plan.sampleRateHz / 1000);
        if (early <= last) all.push([early, i]);
      }
      t += refractory + Math.round(rng.exponential(meanWait));
    }
  }
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return { times: Float64Array.from(all, (s) => s[0]), units: Uint32Array.from(all, (s) => s[1]) };
}
