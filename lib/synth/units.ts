/**
 * Synthetic single units: where each sits next to the probe, what its extracellular waveform
 * looks like, how its amplitude spreads over neighbouring sites, and when it fires.
 */
import { Rng, mixSeed } from './random.js';
import type { Site } from './probe.js';

/** Template window as Kilosort 2 cuts it (nt0 = 61, trough at nt0min = 20). */
export const templateSamples = 61;
export const troughSample = 20;
/** Sites where a unit is below this fraction of its peak get nothing (keeps rendering sparse). */
const footprintCutoff = 0.02;

/**
 * The two cell classes extracellular recordings show most: regular-spiking (pyramidal) cells with
 * broad spikes, slow repolarisation, a wide footprint and bursts; fast-spiking (interneuron) cells
 * with narrow spikes, a large quick repolarisation peak, a compact footprint and higher rates.
 */
export type CellClass = 'regular' | 'fast';
export const cellClasses: CellClass[] = ['regular', 'fast'];

/** Per-unit shape parameters (ms, µm), in this order in `Units.shapes`. */
const shapeKeys = ['troughOffsetMs', 'troughWidthMs', 'peakDelayMs', 'peakWidthMs', 'peakRatio', 'preRatio', 'delayMsPerUm', 'broadeningPerUm', 'repolarisationPerUm'] as const;
type Shape = Record<(typeof shapeKeys)[number], number>;
const shapeSize = shapeKeys.length;

export interface Units {
  model: UnitModel;
  count: number;
  /** Positions at time 0, µm: x and y in the probe plane, z away from it. */
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
  /** Trough depth on the peak site at time 0, µV. */
  amplitudeUv: Float64Array;
  /** Scale of exp(-d/decayUm) that gives amplitudeUv at the nearest site. */
  gainUv: Float64Array;
  /** Amplitude falls by e every this many µm of distance from the unit. */
  decayUm: Float64Array;
  peakChannel: Int32Array;
  rateHz: Float64Array;
  /** Index into cellClasses. */
  cellClass: Uint8Array;
  /** Share of a unit's firing events that are bursts (0 for fast-spiking cells). */
  burstProbability: Float64Array;
  /** units x shapeKeys. */
  shapes: Float64Array;
  /** units x templateSamples: the waveform at the peak site, trough normalised to -1. */
  waveforms: Float32Array;
}

/**
 * `varied`: the cell classes above, each unit its own shape and spread (the default). `uniform`:
 * the earlier model, kept so that recordings made with it (the golden fixtures' inputs) can be
 * made again byte for byte: one shape family, the same spread for every unit, no bursts.
 */
export type UnitModel = 'varied' | 'uniform';

export interface UnitPlacement {
  model: UnitModel;
  count: number;
  /** Units live below this y (the brain surface), µm. */
  maxYUm: number;
  sites: Site[];
  /** Sites that record nothing (dead and reference): never a unit's peak. */
  silent: Set<number>;
}

/**
 * The peaks pull the sum's minimum slightly off the trough Gaussian's centre; found at the soma,
 * so that the sampled trough falls exactly on troughSample, where the spike time points.
 */
function troughOffsetMs(sh: Shape): number {
  const g = (x: number) => -Math.exp(-0.5 * (x / sh.troughWidthMs) ** 2) + sh.peakRatio * Math.exp(-0.5 * ((x - sh.peakDelayMs) / sh.peakWidthMs) ** 2)
    + sh.preRatio * Math.exp(-0.5 * ((x + 2.2 * sh.troughWidthMs) / sh.troughWidthMs) ** 2);
  let tMin = 0;
  for (let t = -0.1; t <= 0.1; t += 0.0005) if (g(t) < g(tMin)) tMin = t;
  return tMin;
}

function drawShape(rng: Rng, cls: CellClass): Shape {
  const sh = drawShapeParams(rng, cls);
  sh.troughOffsetMs = troughOffsetMs(sh);
  return sh;
}

function drawShapeParams(rng: Rng, cls: CellClass): Shape {
  if (cls === 'fast') {
    return {
      troughOffsetMs: 0,
      troughWidthMs: rng.uniform(0.055, 0.09), peakDelayMs: rng.uniform(0.2, 0.32), peakWidthMs: rng.uniform(0.09, 0.16),
      peakRatio: rng.uniform(0.45, 0.85), preRatio: rng.float() < 0.3 ? rng.uniform(0.05, 0.2) : 0,
      delayMsPerUm: rng.uniform(0, 0.0008), broadeningPerUm: rng.uniform(0.001, 0.004), repolarisationPerUm: rng.uniform(0, 0.006),
    };
  }
  return {
    troughOffsetMs: 0,
    troughWidthMs: rng.uniform(0.1, 0.19), peakDelayMs: rng.uniform(0.45, 0.85), peakWidthMs: rng.uniform(0.22, 0.45),
    peakRatio: rng.uniform(0.12, 0.4), preRatio: rng.float() < 0.3 ? rng.uniform(0.05, 0.25) : 0,
    // Back-propagation along the dendrite: later and broader, with a relatively larger positive
    // phase, on sites above and below the soma.
    delayMsPerUm: rng.uniform(0.0005, 0.003), broadeningPerUm: rng.uniform(0.002, 0.007), repolarisationPerUm: rng.uniform(0.003, 0.015),
  };
}

function shapeOf(u: Units, i: number): Shape {
  const o = {} as Shape;
  shapeKeys.forEach((k, j) => { o[k] = u.shapes[i * shapeSize + j]; });
  return o;
}

/**
 * A small positive bump before the trough (when preRatio > 0), the trough, then a slower positive
 * repolarisation peak: Gaussians in time, tapered at the window's ends so that a spike adds nothing
 * outside its window. `extraUm`: how much farther this site is than the nearest; `alongUm`: its
 * distance along the probe from the soma, which delays the waveform. Trough normalised to -1, on
 * troughSample at the soma (troughOffsetMs).
 */
function waveformAt(sh: Shape, sampleRateHz: number, extraUm: number, alongUm: number, out: Float32Array, at: number): void {
  const msPerSample = 1000 / sampleRateHz;
  const broad = 1 + sh.broadeningPerUm * extraUm;
  const tw = sh.troughWidthMs * broad, pw = sh.peakWidthMs * broad;
  const ratio = sh.peakRatio * (1 + sh.repolarisationPerUm * extraUm);
  const shape = (t: number) => -Math.exp(-0.5 * (t / tw) ** 2) + ratio * Math.exp(-0.5 * ((t - sh.peakDelayMs * broad) / pw) ** 2)
    + sh.preRatio * Math.exp(-0.5 * ((t + 2.2 * tw) / tw) ** 2);
  const tMin = sh.troughOffsetMs;
  const delayMs = sh.delayMsPerUm * Math.min(alongUm, 150);
  let depth = 0;
  for (let k = 0; k < templateSamples; k++) {
    const edge = Math.min(k, templateSamples - 1 - k);
    const taper = edge >= 6 ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * edge) / 6);
    const v = shape((k - troughSample) * msPerSample + tMin - delayMs) * taper;
    out[at + k] = v;
    if (-v > depth) depth = -v;
  }
  for (let k = 0; k < templateSamples; k++) out[at + k] /= depth;
}


/**
 * The `uniform` model's waveform: trough then a slower, smaller positive peak: two Gaussians in time, tapered at the window's
 * ends so that a spike adds nothing outside its window.
 */
function uniformWaveform(rng: Rng, sampleRateHz: number): Float32Array {
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

/** Units closer than this (µm) share most of their sites. */
const nearbyUm = 40;
/** Largest cosine between the peak-site waveforms of two nearby units. */
const maxShapeCosine = 0.9;

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let k = 0; k < a.length; k++) { ab += a[k] * b[k]; aa += a[k] * a[k]; bb += b[k] * b[k]; }
  return ab / Math.sqrt(aa * bb);
}

export function placeUnits(seed: number, p: UnitPlacement, sampleRateHz: number): Units {
  const n = p.count;
  const u: Units = {
    model: p.model, count: n,
    x: new Float64Array(n), y: new Float64Array(n), z: new Float64Array(n),
    amplitudeUv: new Float64Array(n), gainUv: new Float64Array(n), decayUm: new Float64Array(n), peakChannel: new Int32Array(n),
    rateHz: new Float64Array(n), cellClass: new Uint8Array(n), burstProbability: new Float64Array(n),
    shapes: new Float64Array(n * shapeSize), waveforms: new Float32Array(n * templateSamples),
  };
  for (let i = 0; i < n; i++) {
    const rng = new Rng(mixSeed(seed, 0x756e6974, i));
    u.x[i] = rng.uniform(-10, 80);
    u.y[i] = rng.uniform(0, Math.max(0, p.maxYUm - 10));
    u.z[i] = rng.uniform(12, 40);
    // Log-uniform: many small units, a few large ones, as sorted data shows.
    u.amplitudeUv[i] = 50 * Math.exp(rng.float() * Math.log(300 / 50));
    if (p.model === 'uniform') {
      u.rateHz[i] = Math.min(40, Math.max(0.5, 3 * Math.exp(0.9 * rng.normal())));
      u.waveforms.set(uniformWaveform(rng, sampleRateHz), i * templateSamples);
      u.decayUm[i] = 25;
      placePeak(u, i, p);
      continue;
    }
    const fast = rng.float() < 0.25;
    u.cellClass[i] = fast ? 1 : 0;
    // Lognormal rates (medians 2.5 Hz and 8 Hz); the caps keep a few spikes in short recordings
    // and keep every unit's mean interval well above its refractory period.
    u.rateHz[i] = Math.min(40, Math.max(0.5, (fast ? 8 : 2.5) * Math.exp(0.8 * rng.normal())));
    u.burstProbability[i] = fast ? 0 : (rng.float() < 0.6 ? rng.uniform(0.05, 0.3) : 0);
    u.decayUm[i] = fast ? rng.uniform(16, 26) : rng.uniform(22, 40);
    // Neighbouring cells differ in shape: a shape too like that of an earlier unit nearby is
    // drawn again (a sorter tells such units apart only by amplitude, which drift blurs).
    const nearby: number[] = [];
    for (let j = 0; j < i; j++) if (Math.hypot(u.x[j] - u.x[i], u.y[j] - u.y[i], u.z[j] - u.z[i]) < nearbyUm) nearby.push(j);
    const w = new Float32Array(templateSamples);
    let chosen: Shape | undefined, bestCosine = Infinity;
    for (let attempt = 0; attempt < 40 && bestCosine >= maxShapeCosine; attempt++) {
      const sh = drawShape(rng, fast ? 'fast' : 'regular');
      waveformAt(sh, sampleRateHz, 0, 0, w, 0);
      let worst = -Infinity;
      for (const j of nearby) worst = Math.max(worst, cosine(w, u.waveforms.subarray(j * templateSamples, (j + 1) * templateSamples)));
      if (worst < bestCosine) { chosen = sh; bestCosine = worst; }
    }
    shapeKeys.forEach((k, j) => { u.shapes[i * shapeSize + j] = chosen![k]; });
    waveformAt(chosen!, sampleRateHz, 0, 0, u.waveforms, i * templateSamples);
    placePeak(u, i, p);
  }
  return u;
}

/** The unit's nearest site and the gain that gives its amplitude there. */
function placePeak(u: Units, i: number, p: UnitPlacement): void {
  let best = -1, bestD = Infinity;
  for (let c = 0; c < p.sites.length; c++) {
    if (p.silent.has(c)) continue;
    const d = distance(u, i, p.sites[c], 0);
    if (d < bestD) { bestD = d; best = c; }
  }
  u.peakChannel[i] = best;
  u.gainUv[i] = u.amplitudeUv[i] / Math.exp(-bestD / u.decayUm[i]);
}

export function distance(u: Units, i: number, site: Site, yShiftUm: number): number {
  const dx = u.x[i] - site.x, dy = u.y[i] + yShiftUm - site.y;
  return Math.sqrt(dx * dx + dy * dy + u.z[i] * u.z[i]);
}

export interface Footprint {
  channels: Int32Array;
  gainsUv: Float32Array;
  /** channels x templateSamples: the waveform on each channel, trough -1. */
  waveforms: Float32Array;
}

/** The sites unit `i` reaches when it has drifted by yShiftUm, its amplitude and waveform on each. */
export function footprint(u: Units, i: number, sites: Site[], silent: Set<number>, yShiftUm: number, sampleRateHz = 30000): Footprint {
  const channels: number[] = [];
  const gains: number[] = [];
  const reach = u.amplitudeUv[i] * footprintCutoff;
  const nearest = Math.sqrt(u.z[i] * u.z[i]);
  const dists: number[] = [];
  for (let c = 0; c < sites.length; c++) {
    if (silent.has(c)) continue;
    const d = distance(u, i, sites[c], yShiftUm);
    const g = u.gainUv[i] * Math.exp(-d / u.decayUm[i]);
    if (g < reach) continue;
    channels.push(c);
    gains.push(g);
    dists.push(d);
  }
  const waveforms = new Float32Array(channels.length * templateSamples);
  if (u.model === 'uniform') {
    const w = u.waveforms.subarray(i * templateSamples, (i + 1) * templateSamples);
    for (let j = 0; j < channels.length; j++) waveforms.set(w, j * templateSamples);
    return { channels: Int32Array.from(channels), gainsUv: Float32Array.from(gains), waveforms };
  }
  const sh = shapeOf(u, i);
  channels.forEach((c, j) => {
    waveformAt(sh, sampleRateHz, Math.max(0, dists[j] - nearest - 15), Math.max(0, Math.abs(sites[c].y - u.y[i] - yShiftUm) - 20), waveforms, j * templateSamples);
  });
  return { channels: Int32Array.from(channels), gainsUv: Float32Array.from(gains), waveforms };
}

/** units x templateSamples x channels in µV, at time-0 positions: what templates.npy holds. */
export function templates(u: Units, sites: Site[], silent: Set<number>, sampleRateHz = 30000): Float32Array {
  const C = sites.length;
  const out = new Float32Array(u.count * templateSamples * C);
  for (let i = 0; i < u.count; i++) {
    const f = footprint(u, i, sites, silent, 0, sampleRateHz);
    for (let j = 0; j < f.channels.length; j++) {
      for (let k = 0; k < templateSamples; k++) out[(i * templateSamples + k) * C + f.channels[j]] = f.waveforms[j * templateSamples + k] * f.gainsUv[j];
    }
  }
  return out;
}

export interface SpikeTrains {
  /** Sample of each spike's trough, ascending (ties by unit). */
  times: Float64Array;
  units: Uint32Array;
  /** Each spike's amplitude relative to the unit's template (below 1 late in a burst). */
  scales: Float32Array;
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

/** Intervals within a burst, ms (complex spikes of pyramidal cells), and its size. */
const burstIntervalMs: [number, number] = [3, 8];
const burstSpikes: [number, number] = [2, 5];
/** Each spike of a burst is this much smaller than the one before, down to burstFloor. */
const burstDecay = 0.88;
const burstFloor = 0.6;

/**
 * Poisson firing with a dead time: each interval between firing events is the refractory period
 * plus an exponential wait. An event of a bursting unit is, with its burstProbability, a burst of
 * 2-5 spikes 3-8 ms apart, each smaller than the one before; the waits are lengthened so that the
 * mean rate is still rateHz. No interval is below the refractory period, except that a violator
 * gets companions 0.4-1.2 ms after some of its spikes: inside the refractory period, yet beyond
 * Kilosort postprocessing's duplicate window.
 */
export function fireUnits(seed: number, u: Units, plan: FiringPlan): SpikeTrains {
  const ms = plan.sampleRateHz / 1000;
  const refractory = Math.ceil((plan.refractoryMs / 1000) * plan.sampleRateHz);
  const first = troughSample;
  const last = plan.samples - (templateSamples - troughSample);
  const all: Array<[number, number, number]> = [];
  for (let i = 0; i < u.count; i++) {
    const rng = new Rng(mixSeed(seed, 0x66697265, i));
    const pb = u.burstProbability[i];
    const meanSpikes = 1 + pb * ((burstSpikes[0] + burstSpikes[1]) / 2 - 1);
    const meanBurstSamples = pb * ((burstSpikes[0] + burstSpikes[1]) / 2 - 1) * ((burstIntervalMs[0] + burstIntervalMs[1]) / 2) * ms;
    const meanWait = pb > 0 ? Math.max(refractory, (plan.sampleRateHz * meanSpikes) / u.rateHz[i] - refractory - meanBurstSamples) : plan.sampleRateHz / u.rateHz[i] - refractory;
    let t = first + Math.round(rng.exponential(meanWait + refractory));
    while (t <= last) {
      const spikes = pb > 0 && rng.float() < pb ? burstSpikes[0] + rng.below(burstSpikes[1] - burstSpikes[0] + 1) : 1;
      let scale = 1;
      for (let s = 0; s < spikes && t <= last; s++) {
        if (s > 0) {
          t += Math.max(refractory, Math.round(rng.uniform(burstIntervalMs[0], burstIntervalMs[1]) * ms));
          scale = Math.max(burstFloor, scale * burstDecay);
          if (t > last) break;
        }
        all.push([t, i, scale]);
        if (plan.violators.has(i) && rng.float() < plan.violationFraction) {
          const early = t + Math.round(rng.uniform(0.4, 1.2) * plan.sampleRateHz / 1000);
          if (early <= last) all.push([early, i, scale]);
        }
      }
      t += refractory + Math.round(rng.exponential(meanWait));
    }
  }
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return { times: Float64Array.from(all, (s) => s[0]), units: Uint32Array.from(all, (s) => s[1]), scales: Float32Array.from(all, (s) => s[2]) };
}
