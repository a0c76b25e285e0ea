/**
 * Snippets and their features. A temporal basis (the leading principal components of peak-channel
 * snippets, like Kilosort's temporal PCs) is learnt once; every snippet is then described by its
 * projection on that basis, channel by channel, in units of the channel's noise.
 */
import { symmetricEigen } from '../../lib/numeric/linalg.js';
import type { Block } from './block.js';

export interface Window {
  /** Samples before the trough. */
  pre: number;
  /** Samples in the window. */
  length: number;
}

/** Copies channel c of `signal` over [t - pre, t - pre + length) / scale into out[at..]; outside the block reads 0. */
export function copySnippet(signal: Float32Array, block: Block, c: number, t: number, w: Window, scale: number, out: Float32Array, at: number): void {
  const L = block.length, C = block.channels;
  const t0 = t - w.pre - block.first;
  for (let k = 0; k < w.length; k++) {
    const u = t0 + k;
    out[at + k] = u >= 0 && u < L ? signal[u * C + c] / scale : 0;
  }
}

/** Peak-channel snippets of events, in noise units: what the basis is learnt from. */
export function peakSnippets(block: Block, times: Float64Array, channels: Int32Array, w: Window, noise: Float32Array): Float32Array {
  const out = new Float32Array(times.length * w.length);
  for (let i = 0; i < times.length; i++) copySnippet(block.smooth, block, channels[i], times[i], w, noise[channels[i]], out, i * w.length);
  return out;
}

/**
 * The `components` leading eigenvectors of the snippets' second-moment matrix (not centred, so
 * the first one follows the mean spike shape), each signed to correlate positively with the mean.
 */
export function temporalBasis(snippets: Float32Array, count: number, w: Window, components: number): Float32Array {
  const W = w.length;
  const m = new Float64Array(W * W);
  const mean = new Float64Array(W);
  for (let i = 0; i < count; i++) {
    const s = snippets.subarray(i * W, (i + 1) * W);
    for (let a = 0; a < W; a++) {
      mean[a] += s[a] / count;
      for (let b = a; b < W; b++) m[a * W + b] += s[a] * s[b];
    }
  }
  for (let a = 0; a < W; a++) for (let b = 0; b < a; b++) m[a * W + b] = m[b * W + a];
  const eig = symmetricEigen(m, W);
  const basis = new Float32Array(components * W);
  for (let k = 0; k < components; k++) {
    let dot = 0;
    for (let a = 0; a < W; a++) dot += eig.vectors[a * W + k] * mean[a];
    // Ties (a component orthogonal to the mean) are signed by the trough sample instead.
    const sign = Math.abs(dot) > 1e-9 ? Math.sign(dot) : eig.vectors[w.pre * W + k] <= 0 ? 1 : -1;
    for (let a = 0; a < W; a++) basis[k * W + a] = sign * eig.vectors[a * W + k];
  }
  return basis;
}

/**
 * The basis as seen by a snippet whose trough lies `offset` samples after its integer time:
 * each component read `offset` samples earlier, by linear interpolation (components are smooth).
 */
export function shiftBasis(basis: Float32Array, components: number, w: Window, offset: number, out: Float32Array): void {
  const W = w.length;
  for (let k = 0; k < components; k++) {
    for (let j = 0; j < W; j++) {
      const u = j - offset;
      const j0 = Math.floor(u), f = u - j0;
      const a = j0 >= 0 && j0 < W ? basis[k * W + j0] : 0;
      const b = j0 + 1 >= 0 && j0 + 1 < W ? basis[k * W + j0 + 1] : 0;
      out[k * W + j] = a + f * (b - a);
    }
  }
}

/** A spike time window projected on the basis: `components` values into out[at..]. */
export function project(signal: Float32Array, block: Block, c: number, t: number, w: Window, scale: number, basis: Float32Array, components: number, out: Float32Array, at: number): void {
  const L = block.length, C = block.channels;
  const t0 = t - w.pre - block.first;
  for (let k = 0; k < components; k++) {
    let s = 0;
    const b = k * w.length;
    for (let j = 0; j < w.length; j++) {
      const u = t0 + j;
      if (u >= 0 && u < L) s += basis[b + j] * signal[u * C + c];
    }
    out[at + k] = s / scale;
  }
}

export interface NeighbourhoodOptions {
  window: Window;
  basis: Float32Array;
  components: number;
  radius: number;
  numChannels: number;
  /** Channels taking part in sorting; others give zero features. */
  sortable: Uint8Array;
  noise: Float32Array;
}

/** Features on the 2 * radius + 1 channel slots around each event's peak channel: [event][slot][component]. */
export function neighbourhoodFeatures(block: Block, times: Float64Array, channels: Int32Array, offsets: Float32Array, o: NeighbourhoodOptions): Float32Array {
  const slots = 2 * o.radius + 1;
  const per = slots * o.components;
  const out = new Float32Array(times.length * per);
  const shifted = new Float32Array(o.basis.length);
  for (let i = 0; i < times.length; i++) {
    shiftBasis(o.basis, o.components, o.window, offsets[i], shifted);
    for (let s = 0; s < slots; s++) {
      const c = channels[i] - o.radius + s;
      if (c < 0 || c >= o.numChannels || !o.sortable[c]) continue;
      project(block.smooth, block, c, times[i], o.window, o.noise[c], shifted, o.components, out, i * per + s * o.components);
    }
  }
  return out;
}
