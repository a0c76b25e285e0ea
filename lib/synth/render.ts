/**
 * The AP band (30 kHz) of one chunk: spikes of every unit near the probe, each channel's own
 * Gaussian noise, the noise common to all channels (broadband plus 60 Hz hum) and a DC offset per
 * channel, rounded to the stored integer scale and clipped to the ADC's range.
 */
import { Rng, gaussianTable } from './random.js';
import { Scratch } from './scratch.js';
import { commonNoiseUv, humAmplitudeUv, humHz } from './channels.js';
import { footprint, templateSamples, troughSample, type Footprint } from './units.js';
import { type RecordingModel, driftAt, syncValue } from './model.js';

const scratch = new Scratch();

/** Spikes whose window overlaps a chunk (times are trough samples). */
export interface ChunkSpikes {
  times: Float64Array;
  units: Uint32Array;
  /** Amplitude of each spike relative to its unit's template. */
  scales: Float32Array;
}

/** Indices [from, to) of the spikes whose window touches AP samples [t0, t0+n). */
export function spikesTouching(times: Float64Array, t0: number, n: number): [number, number] {
  const lo = t0 - (templateSamples - troughSample) + 1;
  const hi = t0 + n + troughSample;
  return [lowerBound(times, lo), lowerBound(times, hi)];
}

function lowerBound(a: Float64Array, v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** Add every spike's waveform, in counts, to `acc` (n x channels). */
function addSpikes(m: RecordingModel, silent: Set<number>, t0: number, n: number, spikes: ChunkSpikes, acc: Float32Array): void {
  const C = m.channels;
  const perCount = 1 / m.ap.uvPerCount;
  // Drift is slow, so one footprint per unit per chunk (at its middle) is enough.
  const shift = driftAt(m, t0 + n / 2);
  const prints = new Map<number, Footprint>();
  const T = templateSamples;
  for (let i = 0; i < spikes.times.length; i++) {
    const u = spikes.units[i];
    let f = prints.get(u);
    if (!f) {
      f = footprint(m.units, u, m.sites, silent, shift, m.sampleRateHz);
      prints.set(u, f);
    }
    const start = spikes.times[i] - troughSample - t0;
    const k0 = Math.max(0, -start), k1 = Math.min(T, n - start);
    const chans = f.channels, gains = f.gainsUv, waves = f.waveforms, scale = spikes.scales[i];
    for (let k = k0; k < k1; k++) {
      const row = (start + k) * C;
      // In this order, so that a uniform-model recording is the same to the last bit as before.
      for (let j = 0, at = k; j < chans.length; j++, at += T) acc[row + chans[j]] += waves[at] * perCount * gains[j] * scale;
    }
  }
}

/**
 * AP samples [t0, t0+n) of all saved channels, interleaved int16, into `into` when it is the
 * right size (a recycled buffer) or a new array.
 */
export function renderApChunk(m: RecordingModel, noiseSeed: number, t0: number, n: number, spikes: ChunkSpikes, into?: Int16Array): Int16Array {
  const C = m.channels, S = m.savedChannels;
  const { uvPerCount, minCount, maxCount } = m.ap;
  const perCount = 1 / uvPerCount;
  const acc = scratch.floats(n * C);
  acc.fill(0);
  addSpikes(m, new Set(m.silent), t0, n, spikes, acc);

  const table = gaussianTable();
  const noise = Float64Array.from(m.channel.noiseUv, (v) => v * perCount);
  const gain = Float64Array.from(m.channel.commonGain);
  // Rounding as truncation of a positive number: v + offset + 0.5, then |0, is several times
  // faster than Math.round, and clipping stays in integers.
  const offset = -minCount;
  const dc = Float64Array.from(m.channel.dcUv, (v) => v * perCount + offset + 0.5);
  const hi = maxCount + offset;
  const out = into && into.length === n * S ? into : new Int16Array(n * S);
  const cmScale = commonNoiseUv * perCount;
  const humScale = humAmplitudeUv * perCount;
  const humStep = (2 * Math.PI * humHz) / m.sampleRateHz;
  // This loop is most of the generator's time. The noise comes from Marsaglia's xorshift128
  // kept in locals, each 32-bit word giving two 16-bit indices into the Gaussian table; that
  // is a quarter faster than filling an index array first.
  const g = new Rng(noiseSeed);
  let x = g.nextUint32() | 1, y = g.nextUint32() | 0, z = g.nextUint32() | 0, w = g.nextUint32() | 0, t = 0;
  for (let s = 0; s < n; s++) {
    t = x ^ (x << 11); x = y; y = z; z = w; w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    const common = cmScale * table[w & 0xffff] + humScale * Math.sin(humStep * (t0 + s));
    const spare = w >>> 16;
    const row = s * S, arow = s * C;
    let c = 0;
    for (; c + 1 < C; c += 2) {
      t = x ^ (x << 11); x = y; y = z; z = w; w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
      let q = (acc[arow + c] + dc[c] + common * gain[c] + noise[c] * table[w & 0xffff]) | 0;
      if (q > hi) q = hi; else if (q < 0) q = 0;
      out[row + c] = q - offset;
      q = (acc[arow + c + 1] + dc[c + 1] + common * gain[c + 1] + noise[c + 1] * table[w >>> 16]) | 0;
      if (q > hi) q = hi; else if (q < 0) q = 0;
      out[row + c + 1] = q - offset;
    }
    if (c < C) {
      let q = (acc[arow + c] + dc[c] + common * gain[c] + noise[c] * table[spare]) | 0;
      if (q > hi) q = hi; else if (q < 0) q = 0;
      out[row + c] = q - offset;
    }
    if (S > C) out[row + C] = syncValue(t0 + s, m.sampleRateHz);
  }
  return out;
}
