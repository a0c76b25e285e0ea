/**
 * Synthetic Kilosort folders of hand-shaped templates for the noise-template rules: a spike whose
 * amplitude falls off with distance from a site, optionally wide, delayed with distance
 * (propagation), on a single channel, with a second source, or with per-site scatter. Used by the
 * noise_templates tests and, through cases.ts, by the golden fixtures of the real module.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeNpy } from '../../lib/formats/npy.js';

const padding = 21;
const samples = 61;
const channels = 384;

/** A synthetic unit: a spike waveform whose amplitude falls off with distance from a point on the probe. */
export interface Unit {
  /** Site the unit sits next to. */
  channel: number;
  /** Distance (um) over which the amplitude falls to e^-1/2. */
  widthUm: number;
  troughSample?: number;
  /** Samples of delay per um away from the centre (propagation). */
  delayPerUm?: number;
  /** A second source, as a noise template spanning two places shows. */
  second?: { channel: number; widthUm: number; amplitude: number };
  /** Only this column carries signal. */
  singleChannel?: boolean;
  /** Per-site amplitude scatter (0 none, 1 up to +-50%), from this seed. */
  roughness?: { amount: number; seed: number };
}

export const siteX = (ch: number) => [16, 48, 0, 32][ch % 4];
export const siteY = (ch: number) => Math.floor(ch / 2) * 20;

function spike(s: number, t0: number): number {
  return -Math.exp(-((s - t0) ** 2) / (2 * 1.5 ** 2)) + 0.35 * Math.exp(-((s - t0 - 7) ** 2) / (2 * 4 ** 2));
}

export function unitTemplate(u: Unit, channelMap: number[]): Float32Array {
  const c = channelMap.length;
  const out = new Float32Array((padding + samples) * c);
  const t0 = u.troughSample ?? 20;
  const blobs = [{ channel: u.channel, widthUm: u.widthUm, amplitude: 1 }, ...(u.second ? [u.second] : [])];
  const scatter = u.roughness ? seeded(u.roughness.seed) : () => 0.5;
  for (let col = 0; col < c; col++) {
    const ch = channelMap[col];
    if (u.singleChannel && ch !== u.channel) continue;
    const rough = 1 + (u.roughness?.amount ?? 0) * (scatter() - 0.5);
    for (const b of blobs) {
      const d = Math.hypot(siteX(ch) - 24, siteY(ch) - siteY(b.channel));
      const a = rough * b.amplitude * Math.exp(-(d * d) / (2 * b.widthUm ** 2));
      const delay = (u.delayPerUm ?? 0) * d;
      for (let s = 0; s < samples; s++) out[(padding + s) * c + col] += 80 * a * spike(s, t0 + delay);
    }
  }
  return out;
}

export function makeTemplateFolder(dir: string, units: Unit[], channelMap: number[] = Array.from({ length: channels }, (_, i) => i)): void {
  fs.mkdirSync(dir, { recursive: true });
  const c = channelMap.length;
  const t = units.length;
  const templates = new Float32Array(t * (padding + samples) * c);
  units.forEach((u, k) => templates.set(unitTemplate(u, channelMap), k * (padding + samples) * c));
  const identity = new Float64Array(c * c);
  for (let i = 0; i < c; i++) identity[i * c + i] = 1;
  writeNpy(path.join(dir, 'templates.npy'), { dtype: 'float32', shape: [t, padding + samples, c], data: templates });
  writeNpy(path.join(dir, 'whitening_mat_inv.npy'), { dtype: 'float64', shape: [c, c], data: identity });
  writeNpy(path.join(dir, 'channel_map.npy'), { dtype: 'int32', shape: [c, 1], data: Int32Array.from(channelMap) });
  const n = t;
  writeNpy(path.join(dir, 'spike_times.npy'), { dtype: 'uint64', shape: [n, 1], data: BigUint64Array.from({ length: n }, (_, i) => BigInt(1000 * (i + 1))) });
  writeNpy(path.join(dir, 'spike_clusters.npy'), { dtype: 'uint32', shape: [n, 1], data: Uint32Array.from({ length: n }, (_, i) => i) });
  writeNpy(path.join(dir, 'spike_templates.npy'), { dtype: 'uint32', shape: [n, 1], data: Uint32Array.from({ length: n }, (_, i) => i) });
  writeNpy(path.join(dir, 'amplitudes.npy'), { dtype: 'float64', shape: [n, 1], data: new Float64Array(n).fill(20) });
}

export const clean: Unit = { channel: 200, widthUm: 22 };

/** A small linear congruential generator (the tests' fixed shapes depend on its exact values). */
export function seeded(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
}

/** `count` random units of every kind, from `seed`. */
export function randomUnits(seed: number, count: number): Unit[] {
  const rand = seeded(seed);
  return Array.from({ length: count }, () => {
    const r = rand();
    const u: Unit = { channel: 10 + Math.floor(rand() * 360), widthUm: 8 + rand() * 70, troughSample: 5 + Math.floor(rand() * 35) };
    if (r < 0.3) u.delayPerUm = rand() * 0.08;
    if (r > 0.5 && r < 0.8) u.roughness = { amount: rand(), seed: Math.floor(rand() * 1e6) };
    if (r > 0.6) {
      const at = Math.min(373, Math.max(10, u.channel + Math.round((rand() - 0.5) * 60)));
      u.second = { channel: at, widthUm: 8 + rand() * 30, amplitude: 0.3 + rand() * 0.7 };
    }
    if (r > 0.97) u.singleChannel = true;
    return u;
  });
}
